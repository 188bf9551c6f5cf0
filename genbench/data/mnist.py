"""MNIST and Fashion-MNIST: 60,000 28x28 grayscale training images in IDX files.

Found as ``train-images-idx3-ubyte[.gz]`` and ``train-labels-idx1-ubyte[.gz]``
(or the ``train-images.idx3-ubyte`` spelling of some mirrors) in one of the
folders of :mod:`genbench.data.locate`, in a folder of their own (``mnist/``,
``fashion-mnist/``) or in torchvision's layout (``MNIST/raw/``,
``FashionMNIST/raw/``). The 10,000-image test split (``t10k-*``, what generated
samples are measured against) lies beside them.
"""

from __future__ import annotations

from pathlib import Path

from genbench.data.idx import read_idx, read_idx_header
from genbench.data.images import InMemoryImages
from genbench.data.locate import search_folders
from genbench.errors import UsageError

# Each split's images and labels, under either spelling (some mirrors use a dot).
FILES = {
    "train": (
        ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
        ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ),
    "test": (
        ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
        ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
    ),
}


def find_file(folder: Path, stems: tuple[str, ...]) -> Path | None:
    """The first of ``stem.gz``, ``stem`` for each stem that is a file in ``folder``."""
    for stem in stems:
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    return None


def split_files(folder: Path, split: str = "train") -> tuple[Path, Path] | None:
    """(images, labels) of ``split`` in ``folder``, or None unless both are there."""
    image_stems, label_stems = FILES[split]
    images, labels = find_file(folder, image_stems), find_file(folder, label_stems)
    return (images, labels) if images and labels else None


class IdxImages(InMemoryImages):
    channels = 1
    native_size = 28
    nominal_size = 60_000
    torchvision_name: str  # the class name torchvision stores it under
    class_names: tuple[str, ...]  # every IDX dataset names its classes

    def folders(self) -> list[Path]:
        return search_folders(self.name, [self.name, f"{self.torchvision_name}/raw"], self.data_dir)

    def holds_data(self, folder: Path, split: str = "train") -> bool:
        return split_files(folder, split) is not None

    def _files(self, folder: Path, split: str = "train") -> tuple[Path, Path]:
        files = split_files(folder, split)
        if files is None:  # callers pass only folders holds_data accepted
            raise UsageError(f"{folder} holds no {self.name} {split} files")
        return files

    def count(self, folder: Path) -> int:
        return read_idx_header(self._files(folder)[0]).shape[0]

    def read(self, folder: Path, split: str = "train"):
        images_path, labels_path = self._files(folder, split)
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.dtype.name != "uint8":
            raise UsageError(
                f"{images_path} holds {images.dtype.name} data of shape "
                f"{images.shape}; expected uint8 images (N, H, W)"
            )
        if labels.shape != images.shape[:1]:
            raise UsageError(
                f"{labels_path} holds {labels.shape} labels for "
                f"{images.shape[0]} images in {images_path}"
            )
        if labels.size and int(labels.max()) >= len(self.class_names):
            raise UsageError(
                f"{labels_path} has label {int(labels.max())}; {self.name} "
                f"has {len(self.class_names)} classes (0-{len(self.class_names) - 1})"
            )
        return images[:, None], labels


class FashionMNIST(IdxImages):
    name = "fashion-mnist"
    title = "Fashion-MNIST (Zalando, 28x28 garments)"
    torchvision_name = "FashionMNIST"
    class_names = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    how = (
        "install Debian's package (apt-get install dataset-fashion-mnist), copy "
        "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz into one of those "
        "folders, or, online, run `genbench datasets --download fashion-mnist`"
    )


class MNIST(IdxImages):
    name = "mnist"
    title = "MNIST (handwritten digits, 28x28)"
    torchvision_name = "MNIST"
    class_names = tuple(str(d) for d in range(10))
    how = (
        "copy train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz into one of "
        "those folders, or, online, run `genbench datasets --download mnist`"
    )
