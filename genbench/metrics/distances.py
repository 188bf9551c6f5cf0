"""Distances between two sets of features: Fréchet distance and KID.

Both are computed in float64 on the CPU: feature sets are a few thousand rows
of 128 numbers, and float32 covariances lose the small differences that
separate good generators from very good ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Gaussian:
    """Mean and covariance of a feature set: all that FD needs of it."""

    mu: np.ndarray  # (d,)
    sigma: np.ndarray  # (d, d)
    n: int

    @classmethod
    def fit(cls, features: torch.Tensor | np.ndarray) -> Gaussian:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"need at least 2 feature vectors, got shape {x.shape}")
        # rowvar=False: rows are samples. np.cov divides by n - 1 (unbiased), as
        # the reference FID implementations do.
        return cls(mu=x.mean(0), sigma=np.cov(x, rowvar=False), n=len(x))


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition.

    Eigenvalues that rounding pushed slightly below zero are clipped to zero.
    """
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """Tr((S1 S2)^{1/2}) for symmetric PSD S1, S2.

    S1 S2 is not symmetric, so the usual route (scipy.linalg.sqrtm, a Schur
    decomposition) can return complex values from rounding and is a dependency
    genbench does not otherwise need. But S1 S2 is similar to the symmetric
    PSD matrix M = S1^{1/2} S2 S1^{1/2} (conjugate by S1^{1/2}), so both have
    the same non-negative eigenvalues, and Tr((S1 S2)^{1/2}) = sum_i sqrt(l_i(M)).
    Two symmetric eigendecompositions (numpy's eigh, LAPACK syevd) give that
    stably, in real arithmetic, even when S1 or S2 is singular, which happens
    whenever there are fewer samples than feature dimensions.
    """
    r = _sqrt_psd(s1)
    m = r @ s2 @ r
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0, None)).sum())


def frechet_distance(a: Gaussian, b: Gaussian) -> float:
    """Fréchet (2-Wasserstein) distance between two Gaussians (Dowson & Landau 1982),
    the quantity FID reports (Heusel et al. 2017):

        FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})
    """
    diff = a.mu - b.mu
    fd = (
        float(diff @ diff)
        + float(np.trace(a.sigma) + np.trace(b.sigma))
        - 2.0 * trace_sqrt_product(a.sigma, b.sigma)
    )
    return max(fd, 0.0)  # a distance; tiny negatives are rounding


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3, the kernel of Binkowski et al. 2018 (KID)."""
    k = x @ y.T / x.shape[1] + 1.0
    return k * k * k  # two multiplies; numpy's ** 3 goes through pow()


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimator of MMD^2 (Gretton et al. 2012, eq. 3):

        1/(m(m-1)) sum_{i!=j} k(x_i,x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i,y_j)
          - 2/(mn) sum_{i,j} k(x_i,y_j)

    It is zero in expectation when both sets come from one distribution, so it
    can come out slightly negative.
    """
    m, n = len(x), len(y)
    kxx, kyy, kxy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2.0 * kxy.mean()
    )


@dataclass(frozen=True)
class KID:
    mean: float
    std: float
    subsets: int
    subset_size: int


def kernel_inception_distance(
    real: torch.Tensor | np.ndarray,
    fake: torch.Tensor | np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> KID:
    """KID (Binkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial
    kernel, averaged over random subsets of each set (as in their reference code,
    subsets of 1000 drawn without replacement within a subset). The spread over
    subsets is reported beside the mean. Subsets shrink to the smaller set when
    a set has fewer than ``subset_size`` rows.
    """
    x, y = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError("KID needs at least 2 feature vectors in each set")
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            mmd2_unbiased(
                x[rng.choice(len(x), size, replace=False)],
                y[rng.choice(len(y), size, replace=False)],
            )
            for _ in range(subsets)
        ]
    )
    return KID(float(values.mean()), float(values.std()), subsets, size)
