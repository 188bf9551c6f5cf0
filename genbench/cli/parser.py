"""The top-level parser: global options, then each command adds its own subparser.

Importing the command modules is cheap (their heavy imports are inside ``run``),
so building the parser never loads torch or Textual.
"""

from __future__ import annotations

from types import ModuleType

from genbench import __version__
from genbench.cli import (
    bench,
    datasets,
    models,
    new_plugin,
    runs,
    sample,
    show,
    sweep,
    sweeps,
    train_classifier,
    watch,
)
from genbench.cli import eval as eval_command
from genbench.cli import export as export_command
from genbench.cli import run as run_command
from genbench.cli.common import RUNS_DIR_HELP, Parser

# In the order `genbench --help` lists them.
COMMANDS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (
        models,
        new_plugin,
        run_command,
        sweep,
        sweeps,
        eval_command,
        export_command,
        sample,
        train_classifier,
        runs,
        show,
        watch,
        bench,
        datasets,
    )
}


def build_parser() -> Parser:
    p = Parser(prog="genbench", description="A terminal workbench for generative image models.")
    p.add_argument("--version", action="version", version=f"genbench {__version__}")
    # Its own dest: a subcommand's --runs-dir default would overwrite a shared one.
    p.add_argument(
        "--runs-dir",
        dest="app_runs_dir",
        metavar="DIR",
        help=f"runs folder the workbench opens {RUNS_DIR_HELP}; "
        "`genbench` with no command opens the workbench",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return p
