"""The seeds' evaluation criteria beside realism and diversity: how well the
discriminator still tells real from generated, how stable training was, and how
fast the generator draws.

* ``d_accuracy``: the model's discriminator (GenerativeModel.discriminator_scores,
  optional) on held-out real data and fresh samples, balanced accuracy at its own
  threshold (score > 0 is "real"): 0.5 when it cannot tell them apart, 1.0 when it
  always can. A GAN in equilibrium sits near 0.5; a discriminator at 1.0 gives the
  generator no useful gradient. Held-out: the reference split of an image dataset
  (never trained on), fresh draws from the true modes on the 2D toys.
* ``stability``: over the last third of the logged run, each loss's spread (its
  standard deviation there, over the mean absolute loss of the whole run: 0 is
  flat) and the live FD's (its standard deviation there over its mean there).
  Oscillating losses and a see-sawing FD are how an unstable GAN looks.
* ``samples_per_s``: the generator's ``sample()`` throughput while evaluating
  (batches of 500, on the evaluation's device, including the host copy).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from genbench.api import GenerativeModel
from genbench.runfolder.record import STEP_MAX

CHUNK = 512  # examples per discriminator pass: a batch as in training, for batch norm


def held_out_real(
    dataset, n: int, seed: int, shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """``n`` real examples the model never trained on, in its range and shape, on the
    CPU, with their labels; None when the dataset has no such data."""
    if dataset.spec.kind == "points":
        means = getattr(dataset, "means", None)
        if means is None:
            return None
        rng = np.random.default_rng(seed)
        centres = np.asarray(means, dtype=np.float32)
        labels = rng.integers(0, len(centres), n)
        points = centres[labels] + float(dataset.std) * rng.standard_normal((n, 2))
        return torch.from_numpy(points.astype(np.float32)), torch.from_numpy(labels).long()
    from genbench.data.sampler import to_unit_range
    from genbench.errors import UsageError
    from genbench.metrics.reference import load_split

    try:
        images, labels = load_split(dataset, "test")
    except UsageError:
        return None
    x: torch.Tensor = to_unit_range(images[:n])
    if tuple(x.shape[1:]) != tuple(shape):  # trained at --image-size: as the model saw it
        x = torch.nn.functional.interpolate(
            x, size=tuple(shape[1:]), mode="bilinear", antialias=True, align_corners=False
        )
    y = torch.as_tensor(labels[:n]).long() if labels is not None else None
    return x, y


def has_discriminator(model: object) -> bool:
    """Whether the model overrides GenerativeModel.discriminator_scores (a model
    object that is not a GenerativeModel at all, such as a test's stand-in, has none)."""
    own = getattr(type(model), "discriminator_scores", None)
    return own is not None and own is not GenerativeModel.discriminator_scores


def _buffers(model: GenerativeModel) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for obj in model.checkpointed().values():
        if isinstance(obj, torch.nn.Module):
            out += [(b, b.detach().clone()) for b in obj.buffers()]
    return out


@torch.no_grad()
def discriminator_accuracy(
    model: GenerativeModel,
    real: torch.Tensor,
    real_labels: torch.Tensor | None,
    fake: torch.Tensor,
    fake_labels: torch.Tensor | None,
) -> float | None:
    """Balanced accuracy of the model's discriminator on ``real`` vs ``fake``; None
    when the model has no discriminator with a threshold. Nothing of the model's
    state changes: its RNG and buffers (batch norm statistics) are put back."""
    if not has_discriminator(model):
        return None
    device = model.device
    saved = _buffers(model)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            right = []
            for x, y, want_real in ((real, real_labels, True), (fake, fake_labels, False)):
                hits = 0
                for i in range(0, len(x), CHUNK):
                    labels = None if y is None else y[i : i + CHUNK].to(device)
                    scores = model.discriminator_scores(x[i : i + CHUNK].to(device), labels)
                    if scores is None:
                        return None
                    said_real = scores.reshape(-1).float() > 0
                    hits += int((said_real if want_real else ~said_real).sum())
                right.append(hits / max(1, len(x)))
        finally:
            for buffer, value in saved:
                buffer.copy_(value)
    return round(sum(right) / 2, 4)


def d_accuracy_for(
    model: GenerativeModel,
    dataset,
    samples: torch.Tensor,
    asked: torch.Tensor | None,
    seed: int,
    real: tuple[torch.Tensor, torch.Tensor | None] | None = None,
) -> float | None:
    """d_accuracy of ``model`` on as many held-out real examples as ``samples``;
    ``real`` (held_out_real's answer) when the caller keeps one across calls."""
    if not has_discriminator(model):
        return None
    if real is None:
        real = held_out_real(dataset, len(samples), seed, tuple(model.spec.shape))
    if real is None:
        return None
    x, y = real
    n = min(len(x), len(samples))
    if not model.conditional:
        return discriminator_accuracy(model, x[:n], None, samples[:n], None)
    if y is None or asked is None:
        return None
    return discriminator_accuracy(model, x[:n], y[:n], samples[:n], asked[:n])


def stability(
    records: Iterable[dict[str, Any]], max_step: int | None = None
) -> dict[str, Any] | None:
    """The spread of each loss, and of the live FD, over the last third of the
    logged run (see the module's docstring); None with fewer than 6 loss records.

    The records come from a run folder (untrusted): a record whose step is not a
    step of the run (negative, a bool, beyond ``max_step``, the run's planned end,
    or beyond STEP_MAX) is skipped; one line with step 10**400 would otherwise be
    an OverflowError, and one with step 10**15 would stretch "the last third" over
    steps never trained."""
    hi = STEP_MAX if max_step is None else min(max_step, STEP_MAX)
    losses: dict[str, list[tuple[int, float]]] = {}
    fds: list[tuple[int, float]] = []
    for r in records:
        step = r.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= hi:
            continue
        if r.get("kind") == "eval":
            fd = _finite(
                (r.get("eval") or {}).get("fd") if isinstance(r.get("eval"), dict) else None
            )
            if fd is not None:
                fds.append((step, fd))
            continue
        raw = r.get("losses")
        for name, value in raw.items() if isinstance(raw, dict) else ():
            if (v := _finite(value)) is not None:
                losses.setdefault(str(name), []).append((step, v))
    longest = max((len(v) for v in losses.values()), default=0)
    if longest < 6:
        return None
    last = max(s for v in losses.values() for s, _ in v)
    first = min(s for v in losses.values() for s, _ in v)
    start = last - (last - first) / 3
    spread = {}
    for name, points in losses.items():
        values = np.array([v for _, v in points])
        tail = np.array([v for s, v in points if s >= start])
        if len(tail) >= 2:
            spread[name] = _ratio(tail, values)
    fd_tail = np.array([v for s, v in fds if s >= start])
    fd_spread = _ratio(fd_tail, fd_tail, signed=True) if len(fd_tail) >= 2 else None
    return {
        "from_step": int(start),
        "to_step": int(last),
        "loss_spread": spread,
        "fd_spread": fd_spread,
    }


def _finite(value: Any) -> float | None:
    """A finite number as a float; None for anything else, an int too large for a
    float (10**400, which math.isfinite cannot even take) included."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        v = float(value)
    except OverflowError:
        return None
    return v if math.isfinite(v) else None


def _ratio(tail: np.ndarray, whole: np.ndarray, signed: bool = False) -> float | None:
    """std(tail) over mean(|whole|) (over mean(whole) when ``signed``; None when it
    is not positive), rounded. Both are divided by the largest magnitude first, so
    values near 1e308 from a hostile metrics line cannot overflow to inf or NaN,
    which eval.json (strict JSON) could not hold."""
    top = float(np.max(np.abs(np.concatenate([tail, whole]))))
    if top == 0:
        return 0.0 if not signed else None
    scale = float(np.mean(whole / top)) if signed else float(np.mean(np.abs(whole / top)))
    if signed and scale <= 0:
        return None
    ratio = float(np.std(tail / top)) / (scale or 1.0)
    return round(ratio, 4) if math.isfinite(ratio) else None
