"""The dataset contract: what a dataset is to the trainer (a spec, and a sampler of
batches on the device). Part of the API plugins import, like genbench.api; the
built-in datasets in genbench.data implement it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from genbench.api import DataSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch

# The names of genbench's own datasets (genbench.data.CATALOGUE, which checks it
# matches): a plugin's dataset cannot take one.
BUILTIN_DATASETS = frozenset({"ring8", "grid25", "fashion-mnist", "mnist", "cifar10"})


class BatchSampler(Protocol):
    """Draws training batches; its state is checkpointed so resume is exact.

    ``state_dict`` holds only tensors, ints, floats, strings, lists and dicts, so
    a checkpoint holding it loads with ``torch.load(weights_only=True)``.
    """

    def next(self) -> tuple["torch.Tensor", "torch.Tensor | None"]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Availability:
    ok: bool
    where: str           # where it was found, or every folder genbench looked in
    how: str = ""        # how to get it when it is missing


class Dataset:
    """A named dataset. Subclasses set the fields and implement ``sampler``.

    Building a Dataset is cheap (no data is read); ``availability`` and ``size``
    look at file headers at most, so a listing of every dataset is instant.
    """

    name: str
    title: str
    spec: DataSpec
    size: int | None         # examples per epoch; None when generated on the fly
    data_dir: Path | None = None      # the folder given by --data-dir or $GENBENCH_DATA
    image_size: int | None = None     # side of the square images (None for points)
    class_names: tuple[str, ...] | None = None

    def availability(self) -> Availability:
        return Availability(True, "generated on the fly")

    def prepare(self) -> None:
        """Read and check the data before a run folder exists (bad files are a
        UsageError then, not a failed run). Default: nothing to read."""

    def sampler(self, batch_size: int, device: "torch.device", seed: int) -> BatchSampler:
        raise NotImplementedError

    def describe(self) -> dict:
        a = self.availability()
        return {"name": self.name, "title": self.title, "kind": self.spec.kind,
                "shape": list(self.spec.shape), "classes": self.spec.num_classes,
                "class_names": list(self.class_names) if self.class_names else None,
                "size": self.size, "available": a.ok, "where": a.where, "how": a.how}
