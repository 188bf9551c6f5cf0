"""Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision
and Recall Metric for Assessing Generative Models").

Each set of feature vectors approximates its manifold by the union of balls
centred on its points, each ball's radius the distance to that point's k-th
nearest neighbour within the set (k = 3 in the paper):

    f(phi, Phi) = 1  if  ||phi - phi'|| <= ||phi' - NN_k(phi', Phi)||  for some phi' in Phi

    precision = mean over generated phi_g of f(phi_g, Phi_real)
    recall    = mean over real phi_r      of f(phi_r, Phi_generated)

Precision is the share of samples that look real; recall the share of real
images the generator can produce. Distances are Euclidean, computed in blocks
so 10,000 x 10,000 pairs never sit in memory at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

BLOCK = 2048


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # ||a||^2 + ||b||^2 - 2 a.b, in float64 so near-duplicates give ~0, not noise
    d2 = (a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2.0 * a @ b.T
    return d2.clamp_min_(0).sqrt_()


def knn_radii(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Distance from each row of ``x`` to its k-th nearest other row."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} feature vectors, got {len(x)}")
    radii = []
    for i in range(0, len(x), BLOCK):
        d = _distances(x[i : i + BLOCK], x)
        # k + 1 smallest: the first is the point itself (distance 0). A duplicate
        # point also has distance 0 and stands in for it, which is what the paper
        # means: identical samples shrink each other's balls to nothing.
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def inside_manifold(
    query: torch.Tensor, support: torch.Tensor, radii: torch.Tensor
) -> torch.Tensor:
    """For each query row, whether it lies in some ball (support_j, radii_j)."""
    hits = []
    for i in range(0, len(query), BLOCK):
        d = _distances(query[i : i + BLOCK], support)
        hits.append((d <= radii.unsqueeze(0)).any(1))
    return torch.cat(hits)


@dataclass(frozen=True)
class PrecisionRecall:
    precision: float
    recall: float
    k: int


def precision_recall(
    real: torch.Tensor, fake: torch.Tensor, k: int = 3, real_radii: torch.Tensor | None = None
) -> PrecisionRecall:
    """``real_radii``: knn_radii(real, k) when already known (one real set, many fakes)."""
    real = torch.as_tensor(real, dtype=torch.float64)
    fake = torch.as_tensor(fake, dtype=torch.float64)
    radii = knn_radii(real, k) if real_radii is None else real_radii
    precision = inside_manifold(fake, real, radii).double().mean().item()
    recall = inside_manifold(real, fake, knn_radii(fake, k)).double().mean().item()
    return PrecisionRecall(precision, recall, k)


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance over the pairs of distinct rows of ``x`` (i != j).

    The diagonal is left out so the figure does not depend on how many rows there
    are: 50 samples of a class and 1,000 real images of it are comparable, which is
    what the within-class diversity ratio (coverage.within_class) relies on."""
    x = torch.as_tensor(x, dtype=torch.float64)
    n = len(x)
    if n < 2:
        raise ValueError(f"need at least 2 feature vectors, got {n}")
    total = 0.0
    for i in range(0, n, BLOCK):
        total += float(_distances(x[i : i + BLOCK], x).sum())
    return total / (n * (n - 1))
