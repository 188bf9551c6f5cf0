"""The dataset contract: what a dataset is to the trainer (a spec, and a sampler of
batches on the device). Part of the API plugins import, like genbench.api; the
built-in datasets in genbench.data implement it."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from genbench.api import DataSpec
from genbench.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

# The names of genbench's own datasets (genbench.data.CATALOGUE, which checks it
# matches): a plugin's dataset cannot take one.
BUILTIN_DATASETS = frozenset({"ring8", "grid25", "fashion-mnist", "mnist", "cifar10"})


class BatchSampler(Protocol):
    """Draws training batches; its state is checkpointed so resume is exact.

    ``state_dict`` holds only tensors, ints, floats, strings, lists and dicts, so
    a checkpoint holding it loads with ``torch.load(weights_only=True)``.
    """

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class DatasetUnavailable(UsageError):
    """Raise from a dataset's ``prepare()`` or its sampler when the data cannot be
    used and the user can fix it (files missing, damaged, or of the wrong kind);
    the message says what to fix, e.g. ``DatasetUnavailable("no spiral.npz in
    /data; run `make-spiral /data`")``. genbench shows it as one line naming the
    dataset and its plugin (exit 2 before a run starts, the run's end message
    during one), with no traceback. Any other exception is reported as the
    dataset's bug: its type, message and the line of the plugin that raised it."""


@dataclass(frozen=True)
class Availability:
    ok: bool
    # Where it was found; when missing, the folders looked in ("/a, /b"): genbench
    # writes "looked in" before them (where_looked).
    where: str
    how: str = ""  # how to get it when it is missing


def where_looked(where: str) -> str:
    """A missing dataset's ``Availability.where`` as a phrase: ``looked in WHERE``,
    or ``where`` as it is when it already says so (a plugin that wrote
    ``"looked in /data/x"`` is not told twice)."""
    text = where.strip()
    return text if text.lower().startswith("looked ") else f"looked in {text}"


class Dataset:
    """A named dataset. Subclasses set the fields and implement ``sampler``.

    Building a Dataset is cheap (no data is read); ``availability`` and ``size``
    look at file headers at most, so a listing of every dataset is instant.
    """

    name: str
    title: str
    spec: DataSpec
    size: int | None  # examples per epoch; None when generated on the fly
    data_dir: Path | None = None  # the folder given by --data-dir or $GENBENCH_DATA
    image_size: int | None = None  # side of the square images (None for points)
    class_names: tuple[str, ...] | None = None

    def availability(self) -> Availability:
        return Availability(True, "generated on the fly")

    def prepare(self) -> None:
        """Read and check the data before a run folder exists (bad files are a
        UsageError then, not a failed run). Default: nothing to read."""

    def sampler(self, batch_size: int, device: torch.device, seed: int) -> BatchSampler:
        raise NotImplementedError

    def device_bytes(self, device_type: str = "cpu") -> int:
        """Bytes that building the sampler adds on a device of ``device_type``
        ("cpu", "cuda", ...): the data it keeps there and the most it needs while
        putting them there (a resize's working memory). Counted in `genbench run`'s
        memory estimate before anything is built, so data that cannot fit is one
        line, not an out-of-memory kill. Called after :meth:`prepare` (what that read
        is already in host memory). Default 0: generated on the fly, or read while
        training."""
        return 0

    def load_split(self, split: str) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Optional, for image datasets: the real images of ``split`` as stored, so
        generated samples can be measured (FD, class coverage, the collapse alarm).

        ``split`` is ``"test"``, the reference split: held-out images that neither a
        generator nor the feature classifier trains on, which ``genbench eval`` and the
        live checks measure samples against; or ``"train"``, what ``genbench
        train-classifier`` trains the dataset's feature classifier on (when None,
        ``load()`` is used if the dataset has one). Return ``(images, labels)``:
        uint8 images ``(N, C, H, W)`` (or ``(N, H, W)``), C as in ``spec``, at the
        stored size, and integer labels ``(N,)`` in ``0..num_classes-1``.
        Default: None, "this dataset has no such split" (then ``genbench eval``
        says so in one line)."""
        return None

    def describe(self) -> dict[str, Any]:
        a = self.availability()
        return {
            "name": self.name,
            "title": self.title,
            "kind": self.spec.kind,
            "shape": list(self.spec.shape),
            "classes": self.spec.num_classes,
            "class_names": list(self.class_names) if self.class_names else None,
            "size": self.size,
            "available": a.ok,
            "where": a.where,
            "how": a.how,
        }


def dataset_problem(obj: object) -> str | None:
    """Why ``obj`` is not a usable dataset, or None."""
    if not isinstance(obj, Dataset):
        return f"returned {obj!r}, which is not a genbench.Dataset"
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name or any(ch.isspace() for ch in name) or ":" in name:
        return f"{type(obj).__name__} has no valid `name` (a non-empty word without ':')"
    spec = getattr(obj, "spec", None)
    if not isinstance(spec, DataSpec) or spec.kind not in ("image", "points"):
        return f"dataset {name!r} has no valid `spec` (a DataSpec of kind image or points)"
    return modes_problem(obj) if spec.kind == "points" else None


def modes_problem(dataset: Any) -> str | None:
    """What is wrong with a points dataset's modes, or None. ``means`` (K x D, one row
    per mode) and ``std`` (their spread) are optional; given, they are what
    ``genbench eval``, the live quality checks, the collapse alarm and the scatter's
    mode markers measure against, so a wrong shape is refused when the plugin loads,
    not met as a broadcasting error in the middle of a run."""
    means = getattr(dataset, "means", None)
    if means is None:
        return None
    import numpy as np

    where = f"dataset {dataset.name!r}"
    d = dataset.spec.dim
    # A list, as the built-in toys keep it: the preview's scatter tests `means` for
    # truth, which an array or tensor of several modes refuses.
    if not isinstance(means, (list, tuple)):
        return (
            f"{where}: `means` is a {type(means).__name__}; give a list of K tuples of "
            f"{d} numbers, one per mode (an array's .tolist())"
        )
    try:
        modes = np.asarray(means, dtype=np.float64)
    except Exception:  # noqa: BLE001 - anything that is not an array of numbers
        return (
            f"{where}: `means` is a {type(means).__name__} that is not an array of "
            f"numbers; give a list of K tuples of {d} numbers, one per mode"
        )
    if modes.ndim != 2 or len(modes) < 1 or modes.shape[1] != d:
        return (
            f"{where}: `means` has shape {tuple(modes.shape)}; give K x {d}, one row of "
            f"{d} coordinates per mode"
        )
    if not np.isfinite(modes).all():
        return f"{where}: `means` holds a non-finite number"
    std = getattr(dataset, "std", None)
    if (
        isinstance(std, bool)
        or not isinstance(std, numbers.Real)
        or not (math.isfinite(std) and float(std) > 0)
    ):
        return (
            f"{where}: `std` is {std!r:.40}; with `means`, give the modes' standard "
            "deviation as a positive number (a sample within 3 std of a mode covers it)"
        )
    return None
