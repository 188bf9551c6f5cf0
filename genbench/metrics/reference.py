"""Real images to measure against: a dataset's test split (or its training split).

Metrics compare generated samples with the *test* split, which neither the
generator nor the feature classifier was trained on. The data layer
(:mod:`genbench.data`) knows where a dataset's files are; this module asks it
for a split through ``Dataset.load_split(split)`` when the dataset has one, and
otherwise reads the IDX test files (``t10k-*``) that MNIST-family datasets keep
beside their training files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genbench.errors import UsageError

SPLITS = ("train", "test")
IDX_STEMS = {
    "train": (("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
              ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte")),
    "test": (("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
             ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte")),
}


def _find(folder: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    return None


def load_split(dataset, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, C, H, W) at the dataset's stored size, and int64 labels."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    own = getattr(dataset, "load_split", None)
    if callable(own):
        images, labels = own(split)
    elif split == "train" and hasattr(dataset, "load"):
        images, labels = dataset.load()
    elif _cifar_folder(dataset) is not None:
        images, labels = _cifar_split(_cifar_folder(dataset), split)
    else:
        images, labels = _idx_split(dataset, split)
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[:, None]
    if labels is None:
        raise UsageError(f"dataset {dataset.name!r} has no labels for its {split} split")
    return images, np.asarray(labels, dtype=np.int64)


def _idx_split(dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    from genbench.data.idx import read_idx

    folders = [dataset.found] if getattr(dataset, "found", None) else []
    folders += list(dataset.folders()) if hasattr(dataset, "folders") else []
    image_stems, label_stems = IDX_STEMS[split]
    for folder in folders:
        images, labels = _find(folder, image_stems), _find(folder, label_stems)
        if images and labels:
            x, y = read_idx(images), read_idx(labels)
            if x.ndim != 3 or len(x) != len(y):
                raise UsageError(f"{images} and {labels} do not hold one label per image")
            return x, y
    where = ", ".join(str(f) for f in folders) or "nowhere (the dataset names no folders)"
    raise UsageError(f"the {split} split of {dataset.name!r} was not found (looked in {where}); "
                     f"it is what generated samples are measured against")


def _cifar_folder(dataset) -> Path | None:
    found = getattr(dataset, "found", None)
    return found if found is not None and (Path(found) / "test_batch").is_file() else None


def _cifar_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's python batches: data_batch_1..5 for training, test_batch for test."""
    from genbench.data.cifar import load_pickle

    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    for name in names:
        batch = load_pickle(Path(folder) / name)
        data, y = np.asarray(batch["data"], dtype=np.uint8), np.asarray(batch["labels"])
        images.append(data.reshape(-1, 3, 32, 32))   # red plane, green, blue; row-major
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def to_unit_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1], the range models generate in."""
    x = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    return x.float().div(127.5).sub(1.0)
