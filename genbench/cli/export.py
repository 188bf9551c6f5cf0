"""genbench export: a run's generator for code without genbench (--format pt2, onnx,
safetensors), or, through genbench.cli.export_metrics, a run's metrics for other
tools (--tensorboard, --csv).

This module owns the command, RUN, --out and --force. export_metrics adds its own
flags with ``add_arguments(parser)`` (never RUN, --out or --force: it reads
``args.out`` and ``args.force``) and handles a call without --format in
``run(args)``. --format takes no metrics flag in the same call: one thing written
per call, so --out names one file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from genbench.cli import export_metrics
from genbench.errors import UsageError
from genbench.runfolder.untrusted import clean_text

NAME = "export"

FORMATS = ("pt2", "onnx", "safetensors")
EXTENSIONS = {"pt2": ".pt2", "onnx": ".onnx", "safetensors": ".safetensors"}


def add_parser(sub) -> None:
    e = sub.add_parser(
        NAME,
        help="the generator for your own code (pt2, onnx, safetensors), or the "
        "metrics for TensorBoard and CSV",
        description="Write a run's generator as a self-contained torch.export program "
        "(pt2), an ONNX model (needs genbench[onnx]) or safetensors weights with a config "
        "(needs genbench[safetensors]), plus OUT.json saying how to call it (the noise's "
        "shape, the labels, the output's range). The export is then loaded back in a "
        "fresh Python process that cannot import genbench, fed the same noise, and "
        "compared with genbench's generator: the largest difference is printed. "
        "docs/export.md shows how to load each in plain Python. --tensorboard and "
        "--csv export the run's metrics instead, one of the three per call.",
    )
    e.add_argument("run_dir", metavar="RUN", help="a run folder")
    e.add_argument("--format", choices=FORMATS, help="what to write: pt2, onnx or safetensors")
    e.add_argument(
        "--out",
        metavar="PATH",
        help="the file to write (default: the run's name with the format's extension, "
        "in the current folder; never inside the run folder)",
    )
    e.add_argument("--force", action="store_true", help="replace files already there")
    e.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="do not load the export back in a fresh process to compare it",
    )
    e.add_argument(
        "--step",
        type=int,
        metavar="K",
        help="export the checkpoint kept at step K (default: the last)",
    )
    e.add_argument(
        "--device",
        default="cpu",
        help="the device the program is traced on and runs on (default cpu: a pt2 "
        "program keeps the device it was made on)",
    )
    before = {a.dest for a in e._actions}
    export_metrics.add_arguments(e)
    # Their flags, to refuse them beside --format.
    e.set_defaults(_metrics_dests=sorted({a.dest for a in e._actions} - before))


def _metrics_flags_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, d, None) not in (None, False) for d in args._metrics_dests)


def run(args: argparse.Namespace) -> int:
    if args.format is None:
        if _metrics_flags_given(args):
            return export_metrics.run(args)
        raise UsageError(
            f"say what to export: --format {'|'.join(FORMATS)} (or --tensorboard / --csv "
            "for its metrics)"
        )
    if _metrics_flags_given(args):
        raise UsageError("--format exports the generator; export metrics in a separate call")
    return export_generator(args)


def export_generator(args: argparse.Namespace) -> int:
    from genbench.exporting import missing_packages

    if problem := missing_packages(args.format, args.check):
        raise UsageError(problem)
    run_dir = Path(args.run_dir)
    out = Path(args.out) if args.out else Path(run_dir.resolve().name + EXTENSIONS[args.format])
    _refuse_early(out, run_dir, args.force)

    from genbench.exporting import export
    from genbench.trained import load

    trained = load(run_dir, device=args.device, step=args.step)
    result = export(trained, args.format, out, force=args.force, check=args.check)
    for path in result.files:
        print(f"wrote {clean_text(path, 400)}")
    if result.max_abs_diff is None:
        print("not checked (--no-check)")
    else:
        print(
            f"max abs diff {result.max_abs_diff:.3g} ({args.format}: loaded back without "
            "genbench, "
            + (
                "weights against the model's"
                if args.format == "safetensors"
                else f"{result.check['shape'][0]} samples against the in-process generator"
            )
            + ")"
        )
    return 0


def _refuse_early(out: Path, run_dir: Path, force: bool) -> None:
    """The destination's problems before torch and the checkpoint are loaded."""
    from genbench.exporting import check_destination

    if not os.path.isdir(run_dir):
        return  # load() says what is wrong with RUN
    check_destination(out, run_dir, force)
