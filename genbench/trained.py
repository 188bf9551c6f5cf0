"""A trained run as a library object: its record, its metrics and its generator.

    from genbench.trained import load

    run = load("runs/20261207-dcgan-fashion-mnist", device="cpu")
    run.record.model, run.step            # what it is, the checkpoint's step
    run.metrics()                         # metrics.jsonl as plain dicts
    z = run.latent(16, seed=0)            # the noise sample() draws, (16, latent_dim)
    images = run.generator(z)             # (16, C, H, W) in [-1, 1], no grad
    images = run.sample(16, seed=0)       # the same, in one call

``genbench sample`` and ``genbench export`` are thin layers over this module. It
reads the run folder as untrusted input (one UsageError naming what is wrong) and
writes nothing, so a run still training can be used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genbench.errors import UsageError
from genbench.registry import Registry, load_registry
from genbench.runfolder.record import RunRecord
from genbench.runfolder.runs import (
    CHECKPOINT,
    CHECKPOINTS_DIR,
    EVAL_FILE,
    METRICS_FILE,
    read_metrics,
)
from genbench.runfolder.untrusted import EVAL_JSON_MAX, read_json

if TYPE_CHECKING:
    import torch

    from genbench.api import GenerativeModel
    from genbench.dataset import Dataset

# Checkpoints kept besides last.pt (`genbench run --keep-every K`): step-NNNNNNN.pt.
KEPT_CHECKPOINT = re.compile(r"step-(\d{7,})\.pt")


def kept_checkpoint(step: int) -> str:
    """The run-folder path of the checkpoint kept at ``step``."""
    return f"{CHECKPOINTS_DIR}/step-{step:07d}.pt"


def kept_steps(run_dir: Path) -> list[int]:
    """The steps of the checkpoints a run kept besides its last, in order."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    try:
        names = [p.name for p in folder.iterdir()]
    except OSError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := KEPT_CHECKPOINT.fullmatch(n)))


@dataclass
class TrainedRun:
    """A run folder's model restored from one checkpoint, on one device."""

    path: Path
    record: RunRecord
    model: GenerativeModel
    dataset: Dataset
    step: int  # the step of the checkpoint the model was restored from
    device: torch.device

    # -- what it is ----------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's shape, (C, H, W) for images."""
        return tuple(self.dataset.spec.shape)

    @property
    def conditional(self) -> bool:
        return bool(self.model.conditional)

    @property
    def classes(self) -> list[str]:
        """The class names a conditional model takes labels of (index = label)."""
        names = list(self.dataset.class_names or [])
        return names or [str(i) for i in range(self.dataset.spec.num_classes or 0)]

    @property
    def has_latent(self) -> bool:
        """Whether the model offers its noise (walks, truncation, export)."""
        import torch

        with torch.no_grad():
            return self.model.latent(1, generator=self._rng(0)) is not None

    def metrics(self, kind: str | None = None) -> list[dict[str, Any]]:
        """metrics.jsonl as plain dicts: the training lines (kind None) or the live
        evaluations (kind "eval")."""
        return read_metrics(self.path / METRICS_FILE, kind=kind)

    def evaluation(self) -> dict[str, Any] | None:
        """eval.json (`genbench eval`'s last measurement), or None before one."""
        path = self.path / EVAL_FILE
        if not path.exists():
            return None
        data = read_json(path, EVAL_JSON_MAX)
        if not isinstance(data, dict):
            raise UsageError(f"{path} is not a JSON object; `genbench eval` writes one")
        return data

    # -- drawing -------------------------------------------------------------

    def latent(self, n: int, seed: int = 0, truncation: float | None = None) -> torch.Tensor:
        """The noise of ``n`` samples for ``seed`` (what ``sample`` draws), on the
        run's device. ``truncation`` t redraws entries beyond +-t (models whose
        latent is N(0, I) only)."""
        import torch

        if truncation is not None:
            self._check_truncation(truncation)
        rng = self._rng(seed)
        with torch.no_grad():
            z = self.model.latent(n, generator=rng)
            if z is None:
                raise UsageError(
                    f"model {self.record.model!r} offers no latent (its latent() returns "
                    "None): it can be sampled, not walked, truncated or exported"
                )
            if truncation is not None:
                z = truncate(z, truncation, rng)
        return z

    def generator(
        self, z: torch.Tensor, labels: torch.Tensor | Sequence[int] | None = None
    ) -> torch.Tensor:
        """The samples of noise ``z`` (labels, one per row, for a conditional model):
        images in [-1, 1] on the run's device, without gradients."""
        import torch

        with torch.no_grad():
            return self.model.sample_from(z.to(self.device), self._labels(labels, len(z)))

    def sample(
        self,
        n: int,
        seed: int = 0,
        labels: torch.Tensor | Sequence[int] | None = None,
        truncation: float | None = None,
    ) -> torch.Tensor:
        """``n`` samples for ``seed``: the same images every time for the same seed,
        labels and device. A conditional model given no labels draws them."""
        import torch

        if truncation is None:
            with torch.no_grad():
                return self.model.sample(
                    n, labels=self._labels(labels, n), generator=self._rng(seed)
                )
        z = self.latent(n, seed, truncation)
        if labels is None and self.conditional:
            labels = torch.randint(len(self.classes), (n,), generator=self._rng(seed + 1))
        return self.generator(z, labels)

    # -- helpers -------------------------------------------------------------

    def _rng(self, seed: int) -> torch.Generator:
        import torch

        return torch.Generator(device=self.device).manual_seed(seed)

    def _labels(self, labels: torch.Tensor | Sequence[int] | None, n: int) -> torch.Tensor | None:
        import torch

        if labels is None:
            return None
        if not self.conditional:
            raise UsageError(f"model {self.record.model!r} is not conditional: it takes no labels")
        t = torch.as_tensor(labels, dtype=torch.long, device=self.device).reshape(-1)
        if len(t) != n:
            raise UsageError(f"{len(t)} labels for {n} samples; give one label per sample")
        k = len(self.classes)
        if len(t) and (int(t.min()) < 0 or int(t.max()) >= k):
            raise UsageError(f"labels must lie in 0..{k - 1} ({', '.join(self.classes)})")
        return t

    def _check_truncation(self, t: float) -> None:
        if not self.model.normal_latent:
            raise UsageError(
                f"model {self.record.model!r} does not support truncation: its latent is "
                "not declared standard normal (normal_latent)"
            )
        if not (math.isfinite(t) and t > 0):
            raise UsageError(f"truncation {t!r} must be a number above 0 (e.g. 0.7)")


def truncate(z: torch.Tensor, t: float, rng: torch.Generator) -> torch.Tensor:
    """The truncation trick (Brock et al., 2019): redraw every entry of a standard
    normal ``z`` whose magnitude exceeds ``t`` until none does, from ``rng``."""
    import torch

    z = z.clone()
    outside = z.abs() > t
    while bool(outside.any()):
        fresh = torch.randn(z.shape, generator=rng, device=z.device, dtype=z.dtype)
        z = torch.where(outside, fresh, z)
        outside = z.abs() > t
    return z


def load(
    run: str | Path,
    device: str | None = None,
    step: int | None = None,
    registry: Registry | None = None,
) -> TrainedRun:
    """Open run folder ``run`` with its model restored from the last checkpoint (or
    the one kept at ``step``) on ``device`` ("cpu", "cuda", ...; default: the one it
    trained on where it exists here, else the best available). Raises UsageError
    naming the problem for a folder that is not a usable run."""
    from genbench.training.launch import restore_model

    path = Path(run)
    checkpoint = CHECKPOINT if step is None else _kept(path, step)
    model, dataset, record, at = restore_model(
        path, registry or load_registry(), device, checkpoint=checkpoint
    )
    if step is not None and at != step:
        raise UsageError(f"checkpoint {path / checkpoint} holds step {at}, not {step}")
    return TrainedRun(path, record, model, dataset, at, model.device)


def _kept(path: Path, step: int) -> str:
    if (path / kept_checkpoint(step)).is_file():
        return kept_checkpoint(step)
    kept = kept_steps(path)
    last = _last_step(path)
    if last == step:
        return CHECKPOINT
    have = ", ".join(str(s) for s in sorted({*kept, *([last] if last is not None else [])}))
    raise UsageError(
        f"run {path.name} has no checkpoint at step {step}; it has "
        + (f"steps {have}" if have else "none")
        + " (keep more with `genbench run --keep-every K`)"
    )


def _last_step(path: Path) -> int | None:
    try:
        return RunRecord.read(path).checkpoint_step
    except UsageError:
        return None
