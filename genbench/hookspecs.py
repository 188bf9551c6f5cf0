"""pluggy hook specifications: what a genbench plugin may implement."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from genbench.dataset import Dataset
    from genbench.executor import Executor
    from genbench.logger import Logger

PROJECT = "genbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def genbench_models() -> list[type]:  # type: ignore[empty-body]  # a spec, never called
    """Return the GenerativeModel subclasses this plugin provides."""


@hookspec
def genbench_datasets() -> list[Dataset | Callable[..., Dataset]]:  # type: ignore[empty-body]  # a spec, never called
    """Return the datasets this plugin provides: ``genbench.Dataset`` instances, or
    callables returning one (called with no arguments, or with the keywords
    ``data_dir`` and ``image_size`` when they accept them). Building a dataset must
    read no data: that happens in ``prepare()`` and ``sampler()``."""


@hookspec
def genbench_executors() -> list[type[Executor]]:  # type: ignore[empty-body]  # a spec, never called
    """Return the ``genbench.Executor`` subclasses this plugin provides: where a
    sweep's members may run (``genbench sweep --executor NAME``)."""


@hookspec
def genbench_loggers() -> list[type[Logger]]:  # type: ignore[empty-body]  # a spec, never called
    """Return the ``genbench.Logger`` subclasses this plugin provides: where a run's
    metrics, sample grids and evaluations are sent (``genbench run --log NAME``)."""
