"""Real images to measure against: a dataset's test split (or its training split).

Metrics compare generated samples with the *test* split, which neither the
generator nor the feature classifier was trained on. The data layer
(:mod:`genbench.data`) knows where a dataset's files are and reads them: this
module asks a dataset for a split through its ``load_split(split)`` (genbench's
image datasets have one: MNIST-family ``t10k-*`` files, CIFAR-10's ``test_batch``).
A dataset without one offers its training data (``load()``) and no test split.
"""

from __future__ import annotations

import numpy as np

from genbench.data.images import SPLITS
# Scaling to [-1, 1] is the trainer's own (one function); re-exported for scripts
# that import it from here (benchmarks/quality_study.py).
from genbench.data.sampler import to_unit_range  # noqa: F401
from genbench.errors import UsageError


def load_split(dataset, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, C, H, W) at the dataset's stored size, and int64 labels."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    own = getattr(dataset, "load_split", None)
    if callable(own):
        images, labels = own(split)
    elif split == "train" and hasattr(dataset, "load"):
        images, labels = dataset.load()
    else:
        raise UsageError(f"dataset {dataset.name!r} has no {split} split to measure "
                         "generated samples against")
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[:, None]
    if labels is None:
        raise UsageError(f"dataset {dataset.name!r} has no labels for its {split} split")
    return images, np.asarray(labels, dtype=np.int64)
