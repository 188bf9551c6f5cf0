"""The command line: parse, call, print.

One module a command, each with ``add_parser(sub)`` and ``run(args) -> int``:
models, new_plugin, run, eval, sample, train_classifier, runs, show, watch (and the workbench
when no command is given), bench, datasets. genbench.cli.parser builds the top-level parser and
asks each to add its own; genbench.cli.common holds what they share. How losses,
quality, steps and statuses are written is genbench.presentation's, shared with
the workbench; a run's options and their defaults are genbench.options'.

Heavy imports (torch, the plugins, Textual) happen inside the commands that need
them, so ``genbench --help`` answers at once.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence

from genbench.cli.parser import COMMANDS, build_parser
from genbench.cli.sweep import NAME as SWEEP
from genbench.cli.watch import open_app
from genbench.errors import UsageError

__all__ = ["main", "build_parser", "COMMANDS"]

# Writing standard output failed for want of room (ENOSPC: /dev/full, a full disk;
# EDQUOT: a quota) or of the device (EIO: a terminal that went away mid-write).
OUTPUT_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EIO}


def reopen_closed_stdio() -> None:
    """Put /dev/null where stdin, stdout or stderr was closed (`genbench run >&-`).

    Python leaves sys.stdout None for a closed descriptor (printing to it then
    raised AttributeError mid-run), and the next file genbench opened would take
    descriptor 1 or 2, so a stray write would land in a run's file. Writing to
    /dev/null is what a broken pipe already gets: printing stops, the work goes on."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: fd itself
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if getattr(sys, name) is None:
            setattr(
                sys,
                name,
                open(
                    fd, "r" if fd == 0 else "w", encoding="utf-8", errors="replace", closefd=False
                ),
            )


def gone_cwd() -> str | None:
    """The current folder's path when it has been removed (None while it exists).

    Asked before anything else: torch's import (and every relative path) fails
    there, with "Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so" and
    nothing naming the cause."""
    try:
        os.getcwd()
        return None
    except FileNotFoundError:
        pass
    try:  # Linux says where it was: "/tmp/x (deleted)"
        where = os.readlink("/proc/self/cwd").removesuffix(" (deleted)")
    except OSError:
        where = os.environ.get("PWD", "")
    return where or "?"


def main(argv: Sequence[str] | None = None) -> int:
    reopen_closed_stdio()
    if (gone := gone_cwd()) is not None:
        from genbench.runfolder.untrusted import clean_text

        print(
            f"genbench: error: the current folder {clean_text(gone, 1000)} no longer "
            "exists; cd somewhere that does",
            file=sys.stderr,
        )
        return 2
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == [SWEEP]:  # its flags depend on the executor: it parses its own
            from genbench.cli.sweep import main as sweep_main

            return sweep_main(argv[1:])
        args = parser.parse_args(argv)
        if args.command is None:
            return open_app(args)
        return COMMANDS[args.command].run(args)
    except UsageError as exc:
        from genbench.runfolder.untrusted import clean_text

        # The message may quote a run folder's contents or a path: no escapes reach
        # the terminal, and it stays one line.
        print(f"genbench: error: {clean_text(str(exc), 2000)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `genbench runs | head -1`: the reader has what it wanted, which is not a
        # failure. Rich's consoles raise this too (genbench.presentation.console);
        # what is still buffered goes to /dev/null at exit, not to a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.errno not in OUTPUT_FULL:
            raise
        # `genbench runs > /dev/full`, or a disk that filled: the output is not
        # there, so this is a failure (exit 1), said in one line, not a traceback.
        # Commands wrap their own file errors in UsageError: what reaches here is
        # the printing. (`run` keeps training and only stops printing.)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        try:
            print(f"genbench: error: cannot write the output: {exc.strerror}", file=sys.stderr)
        except OSError:
            pass  # stderr is full too: the exit code says it
        return 1
