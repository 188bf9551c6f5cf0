"""Mode coverage: which classes (image datasets) or which mixture components
(the 2D toys) a generator's samples land in.

Class coverage uses the feature classifier's predictions. The class histogram
p of n samples over K classes is reported as

    classes covered = #{k : p_k >= 1 / (4K)}      (at least a quarter of a uniform share)
    KL(p || uniform) = sum_k p_k log(K p_k)       (0 for a balanced generator, log K
                                                   when every sample is one class)

Toy mode coverage follows VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al.
2018): a sample is high quality when it lies within 3 standard deviations of
its nearest mode; a mode is covered when it is the nearest mode of at least one
high-quality sample.

A run is flagged as collapsing when fewer than 70% of classes or modes are
covered, rounded up: below 7 of 10 classes, 6 of 8 ring modes, 18 of 25 grid modes.

Coverage across classes misses a conditional generator that draws every class
but one nearly identical sample per class (within-class collapse). For
conditional models each class's spread is compared with the real data's:

    diversity_k = spread of the samples generated for label k / spread of real class k

where the spread of image features is their mean pairwise distance and the
spread of 2D points their standard deviation around their own centre (the real
one is the mixture's sigma). Real data gives about 1; a class is flagged as
collapsed below WITHIN_CLASS_MIN (docs/metrics.md has the calibration).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

COLLAPSE_FRACTION = 0.7
SHARE_OF_UNIFORM = 0.25
# Calibrated on Fashion-MNIST in the classifier's features (docs/metrics.md): real
# images of each class score 0.95-1.08 at 50 samples per class and 0.97-1.02 at 1,000;
# one image repeated per class scores 0, and one image plus pixel noise of std 0.05
# (nearly identical samples, the cgan failure) 0.09-0.16. Three distinct images per
# class score 0.55 or more: low diversity, but not a collapse.
WITHIN_CLASS_MIN = 0.3


def collapse_threshold(k: int) -> int:
    """Fewest classes or modes that count as healthy coverage."""
    return math.ceil(COLLAPSE_FRACTION * k - 1e-9)


@dataclass(frozen=True)
class ClassCoverage:
    covered: int
    classes: int
    kl_uniform: float
    histogram: list[float]  # share of samples per predicted class

    @property
    def collapsed(self) -> bool:
        return self.covered < collapse_threshold(self.classes)


def class_coverage(predicted: torch.Tensor | np.ndarray, classes: int) -> ClassCoverage:
    pred = np.asarray(predicted, dtype=np.int64)
    if pred.size == 0:
        raise ValueError("class coverage needs at least one sample")
    p = np.bincount(pred, minlength=classes)[:classes] / pred.size
    covered = int((p >= SHARE_OF_UNIFORM / classes).sum())
    nz = p > 0  # 0 log 0 = 0
    kl = float((p[nz] * np.log(classes * p[nz])).sum())
    return ClassCoverage(covered, classes, max(kl, 0.0), [float(v) for v in p])


def class_consistency(
    predicted: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray
) -> float:
    """Share of samples generated for label k that the classifier calls k."""
    pred, want = np.asarray(predicted), np.asarray(labels)
    if pred.shape != want.shape or pred.size == 0:
        raise ValueError("need one prediction per requested label")
    return float((pred == want).mean())


@dataclass(frozen=True)
class ModeCoverage:
    covered: int
    modes: int
    high_quality: float  # share of samples within 3 sigma of their nearest mode
    per_mode: list[int]  # high-quality samples nearest to each mode

    @property
    def collapsed(self) -> bool:
        return self.covered < collapse_threshold(self.modes)


def mode_coverage(
    points: torch.Tensor | np.ndarray, means: np.ndarray | list, std: float, sigmas: float = 3.0
) -> ModeCoverage:
    x = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    mu = np.asarray(means, dtype=np.float64)
    if len(x) == 0:
        raise ValueError("mode coverage needs at least one sample")
    d = np.linalg.norm(x[:, None, :] - mu[None, :, :], axis=2)  # (n, modes)
    nearest = d.argmin(1)
    # A non-finite sample is nowhere near any mode: never high quality.
    good = np.isfinite(x).all(1) & (d[np.arange(len(x)), nearest] <= sigmas * std)
    per_mode = np.bincount(nearest[good], minlength=len(mu))
    return ModeCoverage(
        int((per_mode > 0).sum()), len(mu), float(good.mean()), [int(c) for c in per_mode]
    )


@dataclass(frozen=True)
class WithinClass:
    """Per-class spread of a conditional model's samples relative to the real data's."""

    diversity: list[float | None]  # per class; None: fewer than 2 samples asked for it
    measure: str  # what the spread is

    @property
    def measured(self) -> list[tuple[int, float]]:
        return [(k, v) for k, v in enumerate(self.diversity) if v is not None]

    @property
    def worst(self) -> tuple[int, float] | None:
        """(class, diversity) of the least diverse class."""
        return min(self.measured, key=lambda kv: kv[1], default=None)

    @property
    def collapsed(self) -> list[int]:
        """Classes whose samples are nearly identical."""
        return [k for k, v in self.measured if v < WITHIN_CLASS_MIN]


def within_class(spread: list[float | None], real: list[float | None], measure: str) -> WithinClass:
    """Diversity per class from the samples' spread and the real classes' spread
    (either None where there is too little to measure it)."""
    out: list[float | None] = []
    for s, r in zip(spread, real, strict=True):
        out.append(None if s is None or r is None or not r > 0 else float(s / r))
    return WithinClass(out, measure)


def point_spread(points: torch.Tensor | np.ndarray) -> float | None:
    """Standard deviation of 2D points around their own centre, per axis (RMS over
    the axes), comparable with an isotropic Gaussian's sigma; None for fewer than 2
    finite points."""
    x = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    x = x[np.isfinite(x).all(1)]
    if len(x) < 2:
        return None
    return float(np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean() / x.shape[1]))


def within_mode(
    points: torch.Tensor | np.ndarray, asked: torch.Tensor | np.ndarray, modes: int, std: float
) -> WithinClass:
    """For a conditional model on a 2D mixture whose labels are its modes: each
    label's samples' spread against the mixture's sigma."""
    x, y = np.asarray(points, dtype=np.float64), np.asarray(asked)
    spread = [point_spread(x[y == k]) for k in range(modes)]
    return within_class(spread, [std] * modes, "std of the samples of a mode / the data's std")
