"""``--subset N``: train on the first N training images of a dataset.

The small-data experiments (does augmentation help when data is scarce?) need the
same few images whatever the seed, so the subset is the first N in the files'
order, not a random draw. Only the training batches are restricted: the held-out
split that samples are measured against stays whole, so a run on 1,000 images is
scored exactly like one on all of them.
"""

from __future__ import annotations

from typing import Any

from genbench.dataset import Dataset
from genbench.errors import UsageError


def check_subset(dataset: Dataset, n: int | None, batch_size: int) -> None:
    """One line when ``--subset n`` cannot be honoured for this dataset and batch."""
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise UsageError(f"--subset must be a positive integer, got {n!r}")
    if dataset.size is None:
        raise UsageError(
            f"--subset applies to datasets of fixed size; {dataset.name!r} is generated on the fly"
        )
    if n > dataset.size:
        raise UsageError(
            f"--subset {n} is more than the {dataset.size} training examples of {dataset.name!r}"
        )
    if n < batch_size:
        # Every batch has the same shape (the last partial one of an epoch is dropped),
        # so fewer examples than a batch would never make one.
        raise UsageError(
            f"--subset {n} is smaller than --batch-size {batch_size}; "
            "give at least one batch of examples"
        )


class Subset(Dataset):
    """``base`` with its training batches drawn from its first ``n`` examples only.

    Everything else (name, spec, the test split, a toy's modes) is the base
    dataset's, so evaluation and run listings treat the run as one on ``base``."""

    def __init__(self, base: Dataset, n: int):
        self.base, self.n = base, n
        # Copied, not looked up: Dataset's class defaults (None) would shadow them.
        self.name, self.title, self.spec = base.name, base.title, base.spec
        self.data_dir, self.image_size = base.data_dir, base.image_size
        self.class_names = base.class_names

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this class lacks: name, title, spec, found, ...
        if name == "base":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.base, name)

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.n

    def availability(self):
        return self.base.availability()

    def prepare(self) -> None:
        self.base.prepare()

    def load(self):
        images, labels = self.base.load()  # type: ignore[attr-defined]
        return images[: self.n], None if labels is None else labels[: self.n]

    def load_split(self, split: str):
        if split == "train":
            return self.load()
        return self.base.load_split(split)

    def device_bytes(self, device_type: str = "cpu") -> int:
        # The base's whole upload, then a copy of the first n examples.
        per_example = 8  # its label
        values = 1
        for side in self.spec.shape:
            values *= int(side)
        return self.base.device_bytes(device_type) + self.n * (per_example + values)

    def sampler(self, batch_size, device, seed):
        from genbench.data.sampler import DeviceBatchSampler

        if getattr(self.base, "streaming", False):
            raise UsageError(
                f"--subset needs a dataset held in memory; {self.base.name!r} "
                "is read from disk while training"
            )
        full = self.base.sampler(batch_size=batch_size, device=device, seed=seed)
        images = getattr(full, "images", None)
        if images is None:
            raise UsageError(
                f"--subset needs a dataset held in memory; {self.base.name!r} "
                "is read from disk while training"
            )
        labels = getattr(full, "labels", None)
        # Copies, so the rest of the dataset is freed from the device.
        return DeviceBatchSampler(
            images[: self.n].clone(),
            None if labels is None else labels[: self.n].clone(),
            batch_size,
            seed,
        )

    def describe(self) -> dict:
        return {**self.base.describe(), "size": self.n}
