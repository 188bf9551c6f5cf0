"""CIFAR-10: 50,000 32x32 colour training images in ten classes.

Read from the "python version" of the dataset (Krizhevsky 2009): the folder
``cifar-10-batches-py`` with ``data_batch_1`` .. ``data_batch_5`` and
``batches.meta``, as extracted from cifar-10-python.tar.gz (torchvision's layout
is the same folder under its root); ``test_batch`` beside them is the test split.

Those files are Python pickles. Unpickling can run arbitrary code, so they are
read with an unpickler that accepts nothing but what a numpy array and the
strings in these dicts need: a file that asks for anything else is refused.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

from genbench.data.images import InMemoryImages
from genbench.data.locate import search_folders
from genbench.errors import UsageError

FOLDER = "cifar-10-batches-py"
BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
META = "batches.meta"
SPLIT_BATCHES = {"train": BATCHES, "test": ("test_batch",)}


def _numpy_globals() -> dict[tuple[str, str], Any]:
    import numpy as np

    try:  # numpy 2 moved numpy.core to numpy._core
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer  # type: ignore[attr-defined]  # no stub
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
        from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]
    allowed = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 pickles of bytes at protocol 2 go through codecs.encode.
        ("_codecs", "encode"): codecs.encode,
    }
    for core in ("numpy.core", "numpy._core"):  # the name the file was written under
        allowed[(f"{core}.multiarray", "_reconstruct")] = _reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = _frombuffer
    return allowed


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        found = _numpy_globals().get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return found


def load_pickle(path: Path) -> dict:
    """One CIFAR pickle as a dict with str keys; UsageError if unreadable or unsafe."""
    try:
        with open(path, "rb") as f:
            # encoding="bytes": the files were written by Python 2, whose str is bytes.
            data = NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (
        OSError,
        EOFError,
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
    ) as exc:
        raise UsageError(f"{path} is not a readable CIFAR-10 batch: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(
            f"{path} is not a readable CIFAR-10 batch: holds a {type(data).__name__}, not a dict"
        )
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in data.items()}


class CIFAR10(InMemoryImages):
    name = "cifar10"
    title = "CIFAR-10 (32x32 colour photos)"
    channels = 3
    native_size = 32
    nominal_size = 50_000
    class_names = (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )
    how = (
        "extract cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) so "
        f"that {FOLDER}/ lies in one of those folders, or, online, run "
        "`genbench datasets --download cifar10`"
    )

    def folders(self) -> list[Path]:
        return search_folders(
            self.name, [FOLDER, f"{self.name}/{FOLDER}", self.name], self.data_dir
        )

    def holds_data(self, folder: Path, split: str = "train") -> bool:
        needed = (*BATCHES, META) if split == "train" else SPLIT_BATCHES[split]
        return all((folder / f).is_file() for f in needed)

    def count(self, folder: Path) -> int:
        # batches.meta is a few hundred bytes; the batches are 30 MB each.
        per_batch = load_pickle(folder / META).get("num_cases_per_batch")
        if not isinstance(per_batch, int):
            raise UsageError(f"{folder / META} has no num_cases_per_batch")
        return per_batch * len(BATCHES)

    def read(self, folder: Path, split: str = "train"):
        import numpy as np

        images, labels = [], []
        for name in SPLIT_BATCHES[split]:
            path = folder / name
            batch = load_pickle(path)
            data, y = batch.get("data"), batch.get("labels")
            if (
                not isinstance(data, np.ndarray)
                or data.dtype != np.uint8
                or data.ndim != 2
                or data.shape[1] != 3 * 32 * 32
            ):
                raise UsageError(
                    f"{path}: 'data' must be a uint8 array (N, 3072), got "
                    f"{getattr(data, 'dtype', type(data).__name__)} "
                    f"{getattr(data, 'shape', '')}"
                )
            y = np.asarray(y, dtype=np.int64) if y is not None else None
            if y is None or y.shape != (data.shape[0],):
                raise UsageError(
                    f"{path}: 'labels' must list one label per image ({data.shape[0]})"
                )
            if y.size and not (0 <= y.min() and y.max() < len(self.class_names)):
                raise UsageError(f"{path}: labels must be 0-9, found {y.min()}..{y.max()}")
            # Each row is the red plane, then green, then blue, each row-major 32x32.
            images.append(data.reshape(-1, 3, 32, 32))
            labels.append(y)
        return np.concatenate(images), np.concatenate(labels)
