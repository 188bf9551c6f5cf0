"""genbench export RUN --tensorboard [DIR] | --csv [FILE]: a run's metrics for the
tools people already use, for runs made without ``--log`` (genbench.cli.export
owns the command, RUN, --out and --force, and calls these two functions).

``--tensorboard`` replays metrics.jsonl, the sample grids and eval.json through
the built-in TensorBoard logger into DIR (default: ``RUN/tensorboard/``, so
``tensorboard --logdir runs/`` shows it beside runs logged live); ``--csv``
writes one row per logged step and a column per metric to FILE (default: stdout).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genbench.errors import UsageError
from genbench.runfolder.untrusted import clean_text

UNSET = ""  # the flag given without its value: the default destination


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tensorboard",
        nargs="?",
        const=UNSET,
        metavar="DIR",
        help="the run's losses, images/s, live quality, sample grids and eval.json as "
        "TensorBoard event files in DIR (default: RUN/tensorboard/, which "
        "`tensorboard --logdir runs/` finds; needs genbench[tensorboard])",
    )
    parser.add_argument(
        "--csv",
        nargs="?",
        const=UNSET,
        metavar="FILE",
        help="the run's metrics as CSV, one row per logged step and a column per "
        "metric, into FILE outside the run folder (default: stdout)",
    )


def run(args: argparse.Namespace) -> int:
    tensorboard, table = args.tensorboard, args.csv
    if tensorboard is not None and table is not None:
        raise UsageError("give --tensorboard or --csv: one export per call")
    out = getattr(args, "out", None)
    if tensorboard is not None:
        return _tensorboard(Path(args.run_dir), tensorboard or out)
    return _csv(Path(args.run_dir), table or out, bool(getattr(args, "force", False)))


def _tensorboard(run_dir: Path, out: str | None) -> int:
    from genbench.registry import load_registry
    from genbench.runfolder.export_metrics import TENSORBOARD, export_tensorboard

    logger = load_registry().logger(TENSORBOARD)  # with its library, or one line
    written = export_tensorboard(run_dir, Path(out) if out else None, logger.cls)
    print(f"wrote {clean_text(written, 400)} (tensorboard --logdir {clean_text(written, 400)})")
    return 0


def _csv(run_dir: Path, out: str | None, force: bool) -> int:
    from genbench.runfolder.export_metrics import STDOUT, export_csv

    target = out or STDOUT
    if target != STDOUT and Path(target).resolve().is_relative_to(run_dir.resolve()):
        # as for --format: --force there would replace run.json or metrics.jsonl
        raise UsageError(
            f"{clean_text(target, 300)} is inside the run folder, which is the trainer's; "
            "write the CSV elsewhere (or to stdout: --csv without FILE)"
        )
    if target != STDOUT and Path(target).exists() and not force:
        raise UsageError(f"{target} exists; give another FILE or --force to replace it")
    rows = export_csv(run_dir, target)
    if target != STDOUT:
        print(f"wrote {clean_text(target, 400)} ({rows} rows)")
    return 0
