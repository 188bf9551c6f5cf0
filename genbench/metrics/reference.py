"""Real images to measure against: a dataset's test split (or its training split).

Metrics compare generated samples with the *test* split (the reference split),
which neither the generator nor the feature classifier was trained on. The data
layer (:mod:`genbench.data`) knows where a dataset's files are and reads them:
this module asks a dataset for a split through its ``load_split(split)``, part
of the dataset contract (:class:`genbench.dataset.Dataset`). genbench's image
datasets have one (MNIST-family ``t10k-*`` files, CIFAR-10's ``test_batch``); a
plugin's image dataset gives one to be evaluated (docs/plugins.md). The
default answers None, "no such split"; for the training split a dataset's
``load()`` (its whole data, as the scaffolded image plugin has) stands in.

What a plugin returns is its author's code, so it is checked here, once, with
one line for each way it can be wrong, before any of it reaches a classifier.
"""

from __future__ import annotations

import numpy as np

from genbench.data.images import SPLITS

# Scaling to [-1, 1] is the trainer's own (one function); re-exported for scripts
# that import it from here (benchmarks/quality_study.py).
from genbench.data.sampler import to_unit_range  # noqa: F401
from genbench.errors import UsageError

USE = {"test": "to measure generated samples against", "train": "to train a feature classifier on"}


def load_split(dataset, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, C, H, W) at the dataset's stored size, and int64 labels."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    own = getattr(dataset, "load_split", None)
    got = own(split) if callable(own) else None
    load = getattr(dataset, "load", None)
    if got is None and split == "train" and callable(load):
        got = load()
    if got is None:
        raise UsageError(
            f"dataset {dataset.name!r} has no {split} split {USE[split]}; "
            f"its `load_split({split!r})` returns None (docs/plugins.md: "
            "the reference split of an image dataset)"
        )
    return check_split(dataset, split, got)


def check_split(dataset, split: str, got) -> tuple[np.ndarray, np.ndarray]:
    """``got`` (what a dataset's load_split returned) as arrays, or a UsageError
    naming what is wrong with it."""
    where = f"dataset {dataset.name!r}: `load_split({split!r})`"
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise UsageError(
            f"{where} returned {type(got).__name__}; give a pair "
            "(uint8 images (N, C, H, W), int labels (N,))"
        )
    images, labels = got
    try:
        images = np.asarray(images)
    except Exception:  # noqa: BLE001 - whatever the plugin returned, one line
        raise UsageError(f"{where}: its images are not an array") from None
    if images.ndim == 3:
        images = images[:, None]
    if images.dtype != np.uint8:
        raise UsageError(
            f"{where}: images are {images.dtype}; give uint8 (0..255), as "
            "stored (genbench scales them to [-1, 1] itself)"
        )
    if images.ndim != 4 or len(images) == 0 or min(images.shape[1:]) == 0:
        raise UsageError(
            f"{where}: images have shape {tuple(images.shape)}; give "
            "(N, C, H, W) (or (N, H, W) for one channel), N at least 1"
        )
    spec = getattr(dataset, "spec", None)
    channels = spec.shape[0] if spec is not None and spec.kind == "image" else None
    if channels is not None and images.shape[1] != channels:
        raise UsageError(
            f"{where}: images have {images.shape[1]} channels; the dataset's spec says {channels}"
        )
    if labels is None:
        raise UsageError(f"dataset {dataset.name!r} has no labels for its {split} split")
    try:
        raw = np.asarray(labels)
    except Exception:  # noqa: BLE001
        raise UsageError(f"{where}: its labels are not an array") from None
    if raw.shape != (len(images),) or raw.dtype.kind not in "iu":
        raise UsageError(
            f"{where}: labels are {raw.dtype} of shape {tuple(raw.shape)}; give "
            f"integers of shape ({len(images)},), one per image"
        )
    classes = spec.num_classes if spec is not None else None
    if classes is not None and len(raw) and (raw.min() < 0 or raw.max() >= classes):
        raise UsageError(
            f"{where}: labels run from {raw.min()} to {raw.max()}; the dataset "
            f"has {classes} classes, labelled 0 to {classes - 1}"
        )
    return images, raw.astype(np.int64, copy=False)
