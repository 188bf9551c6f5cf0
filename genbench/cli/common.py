"""What the commands share: the one-line argparse, argument types, help texts, JSON out.

Light on purpose: every command module imports this while ``genbench --help``
builds the parser, so nothing heavy is imported at the top.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import NoReturn

from genbench.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line (no usage dump) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


RUNS_DIR_HELP = "(default ./runs or $GENBENCH_RUNS)"


def runs_dir(value: str | None) -> Path:
    """--runs-dir, or the default runs folder ($GENBENCH_RUNS, else ./runs).
    Something that is there but not a folder (GENBENCH_RUNS=/etc/passwd) is one
    line, exit 2: "no runs in /etc/passwd" would pass for an empty runs folder."""
    import os
    import stat

    from genbench.runfolder.runs import default_runs_dir
    from genbench.runfolder.untrusted import clean_text

    root = Path(value) if value else default_runs_dir()
    try:
        mode = os.stat(root).st_mode
    except OSError:
        return root  # not there yet: `run` makes it, `runs` says it holds none
    if not stat.S_ISDIR(mode):
        given = (
            "--runs-dir"
            if value
            else "GENBENCH_RUNS"
            if os.environ.get("GENBENCH_RUNS")
            else "the default runs folder"
        )
        raise UsageError(
            f"{given} {clean_text(root, 300)} is {_kind(mode)}, not a folder; "
            "name a folder of runs (or one to be made)"
        )
    return root


def _kind(mode: int) -> str:
    import stat

    return (
        "a file"
        if stat.S_ISREG(mode)
        else "a named pipe"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a special file"
    )


def print_json(obj) -> None:
    """Every --json output: strict JSON (no NaN or Infinity, which parsers reject)."""
    from genbench.runfolder.runs import finite

    print(json.dumps(finite(obj), indent=2, allow_nan=False))
