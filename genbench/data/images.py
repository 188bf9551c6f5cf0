"""The shared shape of image datasets that fit in device memory.

A subclass says where its files are (``locate``) and how to read them
(``read``: uint8 (N, C, H, W) and int64 labels as numpy arrays). This class
turns that into a spec, an availability, and a DeviceBatchSampler. Nothing
heavy is imported until data is actually read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from genbench.api import DataSpec
from genbench.dataset import Availability, Dataset
from genbench.data.locate import looked_in
from genbench.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 4, 1024


def check_image_size(value: int | None) -> int | None:
    """``--image-size`` as given, or a UsageError saying what is allowed."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) \
            or not MIN_IMAGE_SIZE <= value <= MAX_IMAGE_SIZE:
        raise UsageError(f"--image-size must be an integer from {MIN_IMAGE_SIZE} to "
                         f"{MAX_IMAGE_SIZE} (e.g. 28, 32 or 64), got {value!r}")
    return value


class InMemoryImages(Dataset):
    """An image dataset read once into host memory, then uploaded to the device."""

    channels: int
    native_size: int            # side of the images as stored
    nominal_size: int           # number of training examples of the real dataset
    how: str                    # how to get the files when they are missing

    def __init__(self, data_dir: Path | None = None, image_size: int | None = None):
        self.data_dir = data_dir
        self.image_size = check_image_size(image_size) or self.native_size
        self.spec = DataSpec(kind="image", shape=(self.channels, self.image_size,
                                                  self.image_size),
                             num_classes=len(self.class_names) if self.class_names else None)
        self._found: Path | None | bool = False     # False: not searched yet
        self._loaded: tuple[np.ndarray, np.ndarray | None] | None = None

    # -- to be provided by subclasses ---------------------------------------------

    def folders(self) -> list[Path]:
        """Every folder searched, in order."""
        raise NotImplementedError

    def holds_data(self, folder: Path) -> bool:
        """Whether ``folder`` has every file this dataset needs."""
        raise NotImplementedError

    def count(self, folder: Path) -> int:
        """Number of training examples in ``folder``, read cheaply (headers only)."""
        raise NotImplementedError

    def read(self, folder: Path) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 images (N, C, H, W) and labels (N,), checked; UsageError if bad."""
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
            raise UsageError(f"dataset {self.name!r} not found (looked in {a.where}); {a.how}")
        return self.found

    def prepare(self) -> None:
        if self._loaded is None:
            self._loaded = self.read(self._require())

    def load(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The whole dataset as numpy arrays (read on first use, then kept)."""
        self.prepare()
        return self._loaded  # type: ignore[return-value]

    def sampler(self, batch_size, device, seed):
        from genbench.data.sampler import DeviceBatchSampler, upload

        images, labels = self.load()
        x, y = upload(images, labels, device, self.image_size)
        self._loaded = None   # the device copy is the one used from now on
        return DeviceBatchSampler(x, y, batch_size, seed)
