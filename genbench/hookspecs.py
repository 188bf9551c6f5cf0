"""pluggy hook specifications: what a genbench plugin may implement."""

from __future__ import annotations

import pluggy

PROJECT = "genbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def genbench_models() -> list[type]:
    """Return the GenerativeModel subclasses this plugin provides."""
