"""What a dataset is to the trainer: a spec, and a sampler of batches on the device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from genbench.api import DataSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch


class BatchSampler(Protocol):
    """Draws training batches; its state is checkpointed so resume is exact."""

    def next(self) -> tuple["torch.Tensor", "torch.Tensor | None"]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Availability:
    ok: bool
    where: str           # where it was found, or where genbench looked
    how: str = ""        # how to get it when it is missing


class Dataset:
    """A named dataset. Subclasses set the fields and implement ``sampler``."""

    name: str
    title: str
    spec: DataSpec
    size: int | None         # examples per epoch; None when generated on the fly

    def availability(self) -> Availability:
        return Availability(True, "generated on the fly")

    def sampler(self, batch_size: int, device: "torch.device", seed: int) -> BatchSampler:
        raise NotImplementedError

    def describe(self) -> dict:
        a = self.availability()
        return {"name": self.name, "title": self.title, "kind": self.spec.kind,
                "shape": list(self.spec.shape), "classes": self.spec.num_classes,
                "size": self.size, "available": a.ok, "where": a.where, "how": a.how}
