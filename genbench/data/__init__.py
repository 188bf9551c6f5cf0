"""Datasets by name: the built-in catalogue, and the lookup the CLI and trainer use."""

from __future__ import annotations

from typing import Callable

from genbench.data.base import Availability, BatchSampler, Dataset
from genbench.data.toys import grid25, ring8
from genbench.errors import UsageError

__all__ = ["Availability", "BatchSampler", "Dataset", "CATALOGUE", "get_dataset"]

# name -> factory; factories are cheap and import nothing heavy.
CATALOGUE: dict[str, Callable[[], Dataset]] = {
    "ring8": ring8,
    "grid25": grid25,
}


def get_dataset(name: str) -> Dataset:
    """The dataset called ``name``, or a UsageError naming the valid ones."""
    factory = CATALOGUE.get(name)
    if factory is None:
        raise UsageError(f"unknown dataset {name!r}; valid datasets: {', '.join(CATALOGUE)}")
    return factory()
