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

import hashlib
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genbench.errors import UsageError
from genbench.options import TRUNCATION_MIN
from genbench.registry import Registry, load_registry
from genbench.runfolder.record import RunRecord
from genbench.runfolder.runs import (
    CHECKPOINT,
    CHECKPOINTS_DIR,
    EVAL_FILE,
    METRICS_FILE,
    kept_checkpoint,
    read_metrics,
)
from genbench.runfolder.untrusted import EVAL_JSON_MAX, read_json

if TYPE_CHECKING:
    import torch

    from genbench.api import GenerativeModel
    from genbench.dataset import Dataset

# `genbench sample`'s stream: sample i's noise (and, for a conditional model not given
# labels, its label) is row i % STREAM_BLOCK of a block drawn from a generator of its own,
# seeded from (seed, i // STREAM_BLOCK). So the images do not depend on the batch size,
# and the first N samples of a seed are the same whatever -n is.
STREAM_BLOCK = 256


def block_seed(seed: int, block: int) -> int:
    """The seed of block ``block`` of seed ``seed``'s stream: well mixed (blocks of
    neighbouring seeds share nothing) and below 2**63, which every generator takes."""
    digest = hashlib.blake2b(f"genbench-stream:{seed}:{block}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little") >> 1


# Checkpoints kept besides last.pt (`genbench run --keep-every K`): step-NNNNNNN.pt.
KEPT_CHECKPOINT = re.compile(r"step-(\d{7,})\.pt")


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

    @cached_property
    def has_latent(self) -> bool:
        """Whether the model offers its noise (walks, truncation, export)."""
        import torch

        with torch.no_grad():
            return self.model.latent(1, generator=self._rng(0)) is not None

    def class_index(self, label: str | int) -> int:
        """A class given by its index or its name (any case), checked; UsageError
        naming the classes otherwise."""
        if not self.conditional:
            raise UsageError(f"model {self.record.model!r} is not conditional: it takes no labels")
        names = self.classes
        text = str(label).strip()
        if text.isdigit() and int(text) < len(names):
            return int(text)
        folded = [n.casefold() for n in names]
        if text.casefold() in folded:
            return folded.index(text.casefold())
        listed = ", ".join(f"{i} {n}" if n != str(i) else n for i, n in enumerate(names))
        raise UsageError(f"no class {text[:40]!r}; {self.record.dataset}'s classes are {listed}")

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
        if truncation is not None:
            self._check_truncation(truncation)
        return self._noise(n, self._rng(seed), truncation)

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

    def stream(
        self,
        n: int,
        seed: int = 0,
        labels: torch.Tensor | Sequence[int] | None = None,
        truncation: float | None = None,
        batch_size: int = 256,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """``n`` samples for ``seed`` in batches of ``batch_size``: (images in [-1, 1],
        their labels or None) per batch, so any number of samples takes the memory of
        one batch. Sample i comes from block i // STREAM_BLOCK (see STREAM_BLOCK): the
        same images for any batch size. A conditional model given no ``labels`` (one
        per sample) draws them from the blocks too. A model that offers no latent is
        sampled a batch at a time instead, so its images depend on the batch size."""
        import torch

        if n < 1 or batch_size < 1:
            raise UsageError(f"{n} samples in batches of {batch_size}: both must be 1 or more")
        if truncation is not None:
            self._check_truncation(truncation)
        given = None if labels is None else self._labels(labels, n)
        blocks = _Blocks(self, seed, truncation)
        for index, start in enumerate(range(0, n, batch_size)):
            stop = min(n, start + batch_size)
            if not self.has_latent:
                want = None if given is None else given[start:stop]
                with torch.no_grad():
                    rng = self._rng(block_seed(seed, index))
                    yield self.model.sample(stop - start, labels=want, generator=rng), want
                continue
            z, drawn = blocks.rows(start, stop)
            want = drawn if given is None else given[start:stop]
            yield self.generator(z, want), want

    def walk(
        self,
        keys: int,
        seed: int = 0,
        between: int = 8,
        rows: Sequence[int | None] = (None,),
        truncation: float | None = None,
    ) -> torch.Tensor:
        """A latent walk: ``keys`` noise vectors of ``seed`` (what ``latent`` draws),
        slerped with ``between`` frames between each two, drawn once per entry of
        ``rows`` (a label each for a conditional model, None for others); straight
        lines instead of slerp for a latent that is not standard normal. Images in
        [-1, 1] of shape (len(rows), frames, C, H, W), frames = (keys - 1) *
        (between + 1) + 1; the key frames are the samples of the keys themselves."""
        import torch

        from genbench.sampling.walks import walk_path

        if keys < 2:
            raise UsageError(f"a walk needs 2 or more noise vectors, got {keys}")
        # slerp keeps standard normal noise at its usual norm; other noise: lines
        spherical = bool(self.model.normal_latent)
        path = walk_path(self.latent(keys, seed, truncation), between, spherical)
        drawn = []
        for label in rows:
            labels = None if label is None else [label] * len(path)
            drawn.append(self.generator(path, labels))
        return torch.stack(drawn)

    # -- helpers -------------------------------------------------------------

    def _noise(self, n: int, rng: torch.Generator, truncation: float | None) -> torch.Tensor:
        import torch

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
        if not (math.isfinite(t) and t >= TRUNCATION_MIN):
            raise UsageError(
                f"truncation {t!r} must be a number of at least {TRUNCATION_MIN} (e.g. 0.7)"
            )


class _Blocks:
    """A stream's blocks of noise (and drawn labels), each drawn once, in order."""

    def __init__(self, run: TrainedRun, seed: int, truncation: float | None):
        self.run, self.seed, self.truncation = run, seed, truncation
        self.index = -1
        self.z: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None

    def block(self, b: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        import torch

        if b != self.index:
            run = self.run
            rng = run._rng(block_seed(self.seed, b))
            self.z = run._noise(STREAM_BLOCK, rng, self.truncation)
            # drawn after the noise from the same generator: the noise is the same
            # whether or not labels are drawn
            self.labels = (
                torch.randint(len(run.classes), (STREAM_BLOCK,), generator=rng, device=run.device)
                if run.conditional
                else None
            )
            self.index = b
        assert self.z is not None
        return self.z, self.labels

    def rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The noise and drawn labels of samples start..stop-1."""
        import torch

        zs, labels = [], []
        for b in range(start // STREAM_BLOCK, (stop - 1) // STREAM_BLOCK + 1):
            z, drawn = self.block(b)
            lo = max(start, b * STREAM_BLOCK) - b * STREAM_BLOCK
            hi = min(stop, (b + 1) * STREAM_BLOCK) - b * STREAM_BLOCK
            zs.append(z[lo:hi])
            if drawn is not None:
                labels.append(drawn[lo:hi])
        return torch.cat(zs), (torch.cat(labels) if labels else None)


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
    if os.path.lexists(path / kept_checkpoint(step)):
        # even a link or a FIFO: the checkpoint reader says in one line what it is
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
