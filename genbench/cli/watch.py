"""genbench watch RUN_DIR: the workbench on one run; and `genbench` alone: the workbench.

Textual loads only when the app opens, never for ``--help``.
"""

from __future__ import annotations

from pathlib import Path

from genbench.cli.common import runs_dir

NAME = "watch"


def add_parser(sub) -> None:
    w = sub.add_parser(NAME, help="open the workbench on one run (live chart and samples)")
    w.add_argument("run_dir", metavar="RUN_DIR")


def run(args) -> int:
    from genbench.runfolder.runs import read_run_json

    run_dir = Path(args.run_dir)
    read_run_json(run_dir)  # a clear one-line error before the screen takes over
    from genbench.tui.app import run_app

    return run_app(run_dir.parent, watch=run_dir)


def open_app(args) -> int:
    """`genbench` with no command: the workbench on the runs folder (--runs-dir)."""
    from genbench.tui.app import run_app

    return run_app(runs_dir(args.app_runs_dir))
