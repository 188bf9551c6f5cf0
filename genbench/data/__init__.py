"""Datasets by name: the built-in catalogue, and the lookup the CLI and trainer use.

Importing this package is cheap (no torch, no numpy): the CLI and the TUI list
datasets through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # the registry imports pluggy: listing datasets need not
    from genbench.registry import DatasetEntry, Registry
    from genbench.runfolder.record import RunRecord

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
BUILTIN_PREFIX = "genbench:"  # the built-in datasets' distribution (genbench.registry)
assert set(CATALOGUE) == BUILTIN_DATASETS, "genbench.dataset.BUILTIN_DATASETS is stale"


def get_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    image_size: int | None = None,
    registry: Registry | None = None,
) -> Dataset:
    """The dataset called ``name`` (a catalogue name, ``folder:PATH``, or one the
    ``registry``'s plugins ship).

    ``data_dir`` (else ``$GENBENCH_DATA``) is searched first for dataset files;
    ``image_size`` resizes images to that square side (default: native size, 64
    for folders). ``registry`` is the one the command loaded (None: the built-in
    datasets only). Unknown names, a missing --data-dir and sizes for point data
    are UsageErrors saying what would be valid.
    """
    image_size = check_image_size(image_size)
    if name.startswith(BUILTIN_PREFIX) and name[len(BUILTIN_PREFIX) :] in CATALOGUE:
        name = name[len(BUILTIN_PREFIX) :]  # genbench:mnist, the qualified built-in name
    if name.startswith(FOLDER_PREFIX):
        return ImageFolder(name[len(FOLDER_PREFIX) :], image_size=image_size)
    if name not in CATALOGUE:
        entry = registry.dataset(name) if registry is not None else None
        if entry is not None:
            return entry.build(data_dir=_plugin_dir(entry, data_dir), image_size=image_size)
        plugins = list(registry.datasets) if registry is not None else []
        why = registry.why_unknown(name, "dataset") if registry is not None else ""
        raise UsageError(
            f"unknown dataset {name!r}{why}; valid datasets: "
            f"{', '.join([*CATALOGUE, *plugins])}, or {FOLDER_PREFIX}PATH for a folder of images"
        )
    if data_dir not in (None, "") and not Path(data_dir).expanduser().is_dir():
        raise UsageError(f"--data-dir {data_dir} is not a folder")
    if name in POINTS:
        if image_size is not None:
            raise UsageError(f"--image-size applies to image datasets; {name!r} is 2D points")
        return POINTS[name]()
    return IMAGES[name](data_dir=explicit_dir(data_dir), image_size=image_size)


def _plugin_dir(entry: DatasetEntry, data_dir: str | Path | None) -> str | Path | None:
    """The data folder a plugin's factory gets: --data-dir, else $GENBENCH_DATA as for
    the built-in datasets, when it takes ``data_dir``; else only an explicit
    --data-dir, which ``build`` refuses in one line."""
    if "data_dir" in entry.accepts():
        return explicit_dir(data_dir)
    return data_dir


def _listed(entry: DatasetEntry, data_dir: str | Path | None) -> Dataset:
    return entry.build(data_dir=_plugin_dir(entry, data_dir), lenient=True)


def run_dataset(meta: RunRecord, run_dir: Path, registry: Registry | None = None) -> Dataset:
    """The dataset a run's run.json names, for resuming or evaluating it: as
    :func:`get_dataset` with the recorded data folder and image size, after refusing
    a data folder (``data.dir``, or a ``folder:PATH``) that lies inside the run
    folder, which is untrusted."""
    name, data_dir = meta.dataset, meta.data.dir
    recorded_folder(data_dir, run_dir, "data.dir")
    if name.startswith(FOLDER_PREFIX):
        recorded_folder(name[len(FOLDER_PREFIX) :], run_dir, "dataset")
    if registry is not None:  # by the recorded provider, whatever else provides its name now
        from genbench.registry import recorded_dataset

        name = recorded_dataset(registry, meta)
    return get_dataset(name, data_dir=data_dir, image_size=meta.data.image_size, registry=registry)


def dataset_builders(
    data_dir: str | Path | None = None, plugins: Mapping[str, DatasetEntry] | None = None
) -> list[tuple[str, Callable[[], Dataset]]]:
    """(name, build) for every catalogue dataset, then every plugin dataset, as
    listings build them: ``data_dir`` (else ``$GENBENCH_DATA``) searched first.
    ``plugins`` are the loaded registry's DatasetEntry objects by name (None: the
    built-in datasets only). Calling ``build`` may raise; callers listing many
    catch it per dataset."""
    builtin: list[tuple[str, Callable[[], Dataset]]] = [
        (name, partial(get_dataset, name, data_dir=data_dir)) for name in CATALOGUE
    ]
    return builtin + [
        (name, partial(_listed, entry, data_dir)) for name, entry in (plugins or {}).items()
    ]


def list_datasets(
    data_dir: str | Path | None = None, plugins: Mapping[str, DatasetEntry] | None = None
) -> list[Dataset]:
    """Every catalogue dataset, then every one of ``plugins`` (the registry's), built
    for listing (``describe()`` each for a row)."""
    return [build() for _, build in dataset_builders(data_dir, plugins)]
