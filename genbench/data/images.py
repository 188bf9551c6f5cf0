"""The shared shape of image datasets that fit in device memory.

A subclass says where its files are (``folders``, ``holds_data``) and how to
read them (``read``: uint8 (N, C, H, W) and int64 labels as numpy arrays), for
the training split and the test split. This class turns that into a spec, an
availability, a DeviceBatchSampler, and ``load_split`` for the sample-quality
metrics. Nothing heavy is imported until data is actually read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from genbench.api import DataSpec
from genbench.data.locate import looked_in
from genbench.data.resize import resize_chunk
from genbench.dataset import Availability, Dataset, where_looked
from genbench.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 4, 1024
SPLITS = ("train", "test")


def check_image_size(value: int | None) -> int | None:
    """``--image-size`` as given, or a UsageError saying what is allowed."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_IMAGE_SIZE <= value <= MAX_IMAGE_SIZE
    ):
        raise UsageError(
            f"--image-size must be an integer from {MIN_IMAGE_SIZE} to "
            f"{MAX_IMAGE_SIZE} (e.g. 28, 32 or 64), got {value!r}"
        )
    return value


class InMemoryImages(Dataset):
    """An image dataset read once into host memory, then uploaded to the device."""

    channels: int
    native_size: int  # side of the images as stored
    nominal_size: int  # number of training examples of the real dataset
    how: str  # how to get the files when they are missing

    def __init__(self, data_dir: Path | None = None, image_size: int | None = None):
        self.data_dir = data_dir
        self.image_size = check_image_size(image_size) or self.native_size
        self.spec = DataSpec(
            kind="image",
            shape=(self.channels, self.image_size, self.image_size),
            num_classes=len(self.class_names) if self.class_names else None,
        )
        self._found: Path | None | bool = False  # False: not searched yet
        self._loaded: tuple[np.ndarray, np.ndarray | None] | None = None

    # -- to be provided by subclasses ---------------------------------------------

    def folders(self) -> list[Path]:
        """Every folder searched, in order."""
        raise NotImplementedError

    def holds_data(self, folder: Path, split: str = "train") -> bool:
        """Whether ``folder`` has every file of ``split`` (train or test)."""
        raise NotImplementedError

    def count(self, folder: Path) -> int:
        """Number of training examples in ``folder``, read cheaply (headers only)."""
        raise NotImplementedError

    def read(self, folder: Path, split: str = "train") -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 images (N, C, H, W) and labels (N,) of ``split``, checked; UsageError
        if bad."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------

    @property
    def found(self) -> Path | None:
        """The folder the files are in, or None; searched once per instance."""
        if self._found is False:
            self._found = next((f for f in self.folders() if self.holds_data(f)), None)
        return self._found  # type: ignore[return-value]

    @property
    def size(self) -> int:  # type: ignore[override]
        if self.found is None:
            return self.nominal_size
        try:
            return self.count(self.found)
        except UsageError:
            # A damaged file must not break a listing; prepare() reports it in full.
            return self.nominal_size

    def availability(self) -> Availability:
        if self.found is not None:
            return Availability(True, str(self.found))
        return Availability(False, looked_in(self.folders()), self.how)

    def _require(self) -> Path:
        if self.found is None:
            a = self.availability()
            raise UsageError(f"dataset {self.name!r} not found ({where_looked(a.where)}); {a.how}")
        return self.found

    def prepare(self) -> None:
        if self._loaded is None:
            self._loaded = self.read(self._require())

    def load(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The whole dataset as numpy arrays (read on first use, then kept)."""
        self.prepare()
        return self._loaded  # type: ignore[return-value]

    def load_split(self, split: str) -> tuple[np.ndarray, np.ndarray | None]:
        """``train``: what :meth:`load` gives. ``test``: the held-out images that
        generated samples are measured against (genbench.metrics.reference), from the
        training files' folder or else the first searched folder that has them."""
        if split not in SPLITS:
            raise UsageError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        if split == "train":
            return self.load()
        folders = [self.found] if self.found is not None else []
        folders += [f for f in self.folders() if f != self.found]
        for folder in folders:
            if self.holds_data(folder, split):
                return self.read(folder, split)
        where = looked_in(folders) if folders else "nowhere (the dataset names no folders)"
        raise UsageError(
            f"the {split} split of {self.name!r} was not found (looked in "
            f"{where}); it is what generated samples are measured against"
        )

    def device_bytes(self, device_type: str = "cpu") -> int:
        """What :func:`genbench.data.sampler.upload` adds: the uint8 images at
        ``image_size`` and int64 labels, plus one chunk's float32 working memory when
        it resizes. On the CPU the images read by ``prepare`` become the tensor
        without a copy, so only a resize adds images there."""
        n, c, native = self.size, self.channels, self.native_size
        side = self.image_size or native
        labels = 8 * n if self.class_names else 0
        stored = n * c * native * native
        if side == native:
            return labels + (0 if device_type == "cpu" else stored)
        chunk = min(n, resize_chunk(c, side)) * c
        working = chunk * (4 * native * native + 5 * side * side)
        return labels + n * c * side * side + working + (0 if device_type == "cpu" else stored)

    def sampler(self, batch_size, device, seed):
        from genbench.data.sampler import DeviceBatchSampler, upload

        images, labels = self.load()
        x, y = upload(images, labels, device, self.image_size)
        self._loaded = None  # the device copy is the one used from now on
        return DeviceBatchSampler(x, y, batch_size, seed)
