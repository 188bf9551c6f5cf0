"""The last full listing of the installed models, kept while nothing it came from changed.

Listing the models means importing every plugin, and the built-in models import torch
(seconds on a busy machine) for what is a few lines of text. ``genbench models``
keeps the listing it printed in the user's cache folder, with a fingerprint of what
it came from: the Python and its import path, GENBENCH_PLUGINS, every entry point of
the genbench group with its distribution's version, and the size and modification
time of every source file of genbench and of each plugin's package. While that
fingerprint holds, the listing is printed from the cache without importing a
plugin; anything changed (a plugin installed, upgraded or edited) lists afresh. A
listing with broken plugins or warnings is never kept: what broke may be fixed
outside the files watched (a missing library installed). No torch here.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from genbench import hookspecs
from genbench.runfolder.runs import write_atomic
from genbench.runfolder.untrusted import UnreadableFile, read_json

CACHE_FILE = "models.json"
MAX_BYTES = 4 * 1024 * 1024  # a listing of hundreds of models is well under this
MAX_FILES = 5000  # a plugin inside a package larger than this is listed afresh each time


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/genbench, else ~/.cache/genbench."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genbench"


def _sources(top: Path) -> Iterator[Path]:
    yield from sorted(top.rglob("*.py")) if top.is_dir() else [top]


def _package_of(module: str) -> Path | None:
    """The folder of a plugin module's top-level package (or its file), found
    without importing anything."""
    try:
        spec = find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin else None


def fingerprint() -> str | None:
    """What the listing depends on, hashed; None where it cannot be told (a plugin's
    package not found, or too large to watch)."""
    h = hashlib.sha256()
    h.update(repr((sys.version, sys.path, os.environ.get("GENBENCH_PLUGINS"))).encode())
    tops = {Path(__file__).parent}
    for ep in sorted(entry_points(group=hookspecs.PROJECT), key=lambda e: (e.name, e.value)):
        dist = getattr(ep, "dist", None)
        version = (dist.metadata["Name"], dist.version) if dist else None
        h.update(repr((ep.name, ep.value, version)).encode())
        top = _package_of(ep.module)
        if top is None:
            return None
        tops.add(top)
    files = 0
    for top in sorted(tops):
        for path in _sources(top):
            files += 1
            if files > MAX_FILES:
                return None
            try:
                st = path.stat()
            except OSError:
                return None
            h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def read(key: str | None) -> dict[str, Any] | None:
    """The cached listing for ``key``, or None (none, another key, or unreadable: a
    cache is never trusted further than its shape)."""
    if key is None:
        return None
    try:
        data = read_json(cache_dir() / CACHE_FILE, MAX_BYTES)
    except (OSError, UnreadableFile, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    listing = data.get("listing")
    return listing if _well_formed(listing) else None


def write(key: str | None, listing: dict[str, Any]) -> None:
    """Keep ``listing`` for ``key`` where it is clean (no broken plugin, no warning);
    a cache that cannot be written is no error."""
    if key is None or listing["broken"] or listing["warnings"] or listing["clashes"]:
        return
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / CACHE_FILE, json.dumps({"key": key, "listing": listing}).encode())
    except OSError:
        pass


MODEL_TEXT = ("use", "name", "title", "summary", "paper", "distribution", "version")


def _well_formed(listing: Any) -> bool:
    if not isinstance(listing, dict) or not isinstance(listing.get("models"), list):
        return False
    for m in listing["models"]:
        if not isinstance(m, dict) or not all(isinstance(m.get(k), str) for k in MODEL_TEXT):
            return False
        if not isinstance(m.get("kinds"), list) or not all(isinstance(k, str) for k in m["kinds"]):
            return False
        if not all(isinstance(m.get(k), bool) for k in ("conditional", "builtin")):
            return False
    return all(listing.get(k) == [] for k in ("broken", "warnings", "clashes", "conflicts"))
