"""A dataset's failure told as the dataset's: which dataset, which plugin, what it
raised and the line of the plugin's code that raised it, in one line.

A plugin's ``prepare()`` or sampler can raise anything; left to the callers, an
OSError read as the run folder's disk failing and a RuntimeError as the model's
bug. What a dataset runs is told through here instead (``prepared`` before a run
folder exists, ``failure_line`` for the trainer's draws).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from genbench.errors import UsageError, one_line
from genbench.runfolder.untrusted import clean_text

if TYPE_CHECKING:
    from genbench.dataset import Dataset
    from genbench.registry import Registry

MESSAGE_MAX = 300  # characters of a plugin's own message kept in the line


def provider(name: str, registry: Registry | None) -> str | None:
    """``plugin DIST VERSION`` for a plugin's dataset, None for a built-in one."""
    entry = registry.dataset(name) if registry is not None else None
    if entry is None:
        return None
    return f"plugin {entry.plugin.distribution} {entry.plugin.version}"


def failure_line(
    name: str, plugin: str | None, exc: BaseException, doing: str, code: object
) -> str:
    """The one line for ``exc`` raised by dataset ``name`` (from ``plugin``, None for a
    built-in) while ``doing`` (``prepare()``, ``its sampler``). ``code``: an object of
    the dataset's own code (the dataset, its sampler), whose package's frames are the
    ones the line points at."""
    who = f"dataset {name!r}" + (f" ({plugin})" if plugin else "")
    if isinstance(exc, UsageError):  # DatasetUnavailable: the plugin says what to fix
        text = clean_text(" ".join(str(exc).split()), MESSAGE_MAX) or type(exc).__name__
        return f"{who}: {text}"
    text = clean_text(" ".join(one_line(exc).split()), MESSAGE_MAX)
    where = raised_at(exc, code)
    at = f" (at {where})" if where else ""
    # Not genbench's, nor the model's: its data, or a bug for the plugin's author.
    fix = "; the dataset's own error (bad data, or a bug for its author)" if plugin else ""
    return f"{who}: {doing} raised {text}{at}{fix}"


def raised_at(exc: BaseException, code: object) -> str | None:
    """``file:line`` of the innermost frame of ``exc``'s traceback in the package
    that defines ``code``'s class (the plugin's code, not numpy's or torch's under
    it); the file relative to the folder that holds the package. None when no frame
    is there (or the class is genbench's own: no plugin to point at)."""
    root = _package_root(type(getattr(code, "base", code)))
    if root is None:
        return None
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if path == root or root in path.parents:
            found = f"{path.relative_to(root.parent)}:{frame.lineno}"
    return found


def _package_root(cls: type) -> Path | None:
    top = cls.__module__.split(".")[0]
    if top == "genbench":
        return None
    module = sys.modules.get(top)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file)
    return path.parent if path.name == "__init__.py" else path


def prepared(dataset: Dataset, registry: Registry | None, name: str | None = None) -> None:
    """``dataset.prepare()``, whatever it raises told as the dataset's one line (a
    UsageError: exit 2, no traceback). ``name``: as the user gave it, DIST:NAME where
    two plugins provide the dataset's own name (default: that name)."""
    try:
        dataset.prepare()
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's prepare() may raise anything
        plugin = provider(name or dataset.name, registry)
        if plugin is None and isinstance(exc, UsageError):
            raise  # a built-in dataset's own words already name it
        raise UsageError(failure_line(dataset.name, plugin, exc, "prepare()", dataset)) from None
