"""Datasets by name: the built-in catalogue, and the lookup the CLI and trainer use.

Importing this package is cheap (no torch, no numpy): the CLI and the TUI list
datasets through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from genbench.data.cifar import CIFAR10
from genbench.data.folder import PREFIX as FOLDER_PREFIX
from genbench.data.folder import ImageFolder
from genbench.data.images import check_image_size
from genbench.data.locate import explicit_dir, recorded_folder
from genbench.data.mnist import MNIST, FashionMNIST
from genbench.data.subset import Subset, check_subset
from genbench.data.toys import grid25, ring8
from genbench.dataset import BUILTIN_DATASETS, Availability, BatchSampler, Dataset
from genbench.errors import UsageError

__all__ = [
    "Availability",
    "BatchSampler",
    "Dataset",
    "CATALOGUE",
    "FOLDER_PREFIX",
    "Subset",
    "check_subset",
    "dataset_builders",
    "get_dataset",
    "list_datasets",
    "run_dataset",
]

# Building a dataset reads no data. Points are generated: factory().
POINTS: dict[str, Callable[[], Dataset]] = {"ring8": ring8, "grid25": grid25}
# Images come from files: factory(data_dir=None, image_size=None).
IMAGES: dict[str, Callable[..., Dataset]] = {
    "fashion-mnist": FashionMNIST,
    "mnist": MNIST,
    "cifar10": CIFAR10,
}
CATALOGUE: dict[str, Callable[..., Dataset]] = {**POINTS, **IMAGES}
assert set(CATALOGUE) == BUILTIN_DATASETS, "genbench.dataset.BUILTIN_DATASETS is stale"


def get_dataset(
    name: str, *, data_dir: str | Path | None = None, image_size: int | None = None
) -> Dataset:
    """The dataset called ``name`` (a catalogue name or ``folder:PATH``).

    ``data_dir`` (else ``$GENBENCH_DATA``) is searched first for dataset files;
    ``image_size`` resizes images to that square side (default: native size, 64
    for folders). Unknown names, a missing --data-dir and sizes for point data
    are UsageErrors saying what would be valid.
    """
    image_size = check_image_size(image_size)
    if name.startswith(FOLDER_PREFIX):
        return ImageFolder(name[len(FOLDER_PREFIX) :], image_size=image_size)
    if name not in CATALOGUE:
        # Datasets shipped by plugins (genbench_datasets hook). Looking them up
        # imports the plugins, so only for names the catalogue lacks.
        from genbench.registry import find_plugin_dataset, plugin_datasets, why_unknown_dataset

        entry = find_plugin_dataset(name)
        if entry is not None:
            return entry.build(data_dir=data_dir, image_size=image_size)
        valid = ", ".join([*CATALOGUE, *plugin_datasets()])
        raise UsageError(
            f"unknown dataset {name!r}{why_unknown_dataset(name)}; valid "
            f"datasets: {valid}, or {FOLDER_PREFIX}PATH for a folder of images"
        )
    if data_dir not in (None, "") and not Path(data_dir).expanduser().is_dir():
        raise UsageError(f"--data-dir {data_dir} is not a folder")
    if name in POINTS:
        if image_size is not None:
            raise UsageError(f"--image-size applies to image datasets; {name!r} is 2D points")
        return POINTS[name]()
    return IMAGES[name](data_dir=explicit_dir(data_dir), image_size=image_size)


def run_dataset(
    name: str, *, data_dir: str | Path | None, image_size: int | None, run_dir: Path
) -> Dataset:
    """The dataset a run's run.json names, for resuming or evaluating it: as
    :func:`get_dataset`, after refusing a data folder (``data.dir``, or a
    ``folder:PATH``) that lies inside the run folder, which is untrusted."""
    recorded_folder(data_dir, run_dir, "data.dir")
    if name.startswith(FOLDER_PREFIX):
        recorded_folder(name[len(FOLDER_PREFIX) :], run_dir, "dataset")
    return get_dataset(name, data_dir=data_dir, image_size=image_size)


def dataset_builders(
    data_dir: str | Path | None = None, plugins: Mapping[str, Any] | None = None
) -> list[tuple[str, Callable[[], Dataset]]]:
    """(name, build) for every catalogue dataset, then every plugin dataset, as
    listings build them: ``data_dir`` (else ``$GENBENCH_DATA``) searched first.
    ``plugins`` are the registry's DatasetEntry objects by name (default: loaded
    here, importing plugins only when a third-party one is installed). Calling
    ``build`` may raise; callers listing many catch it per dataset."""
    if plugins is None:
        from genbench.registry import plugin_datasets

        plugins = plugin_datasets()
    builtin = [(name, partial(get_dataset, name, data_dir=data_dir)) for name in CATALOGUE]
    return builtin + [
        (name, partial(entry.build, data_dir=data_dir, lenient=True))
        for name, entry in plugins.items()
    ]


def list_datasets(data_dir: str | Path | None = None) -> list[Dataset]:
    """Every catalogue dataset, then every plugin dataset, built for listing
    (``describe()`` each for a row). Plugins are imported only when a third-party
    one is installed."""
    return [build() for _, build in dataset_builders(data_dir)]
