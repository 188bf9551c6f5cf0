"""genbench eval: measure the sample quality of a run's last checkpoint, or of samples
that came from elsewhere (an .npy or .npz array or a folder of PNGs, with --dataset)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from genbench.cli.common import print_json
from genbench.errors import UsageError
from genbench.options import THREADS_HELP
from genbench.options import parse_seed as seed
from genbench.runfolder.untrusted import clean_text

NAME = "eval"


def add_parser(sub) -> None:
    e = sub.add_parser(
        NAME,
        help="measure sample quality of a run, or of samples from elsewhere",
        description="Draw samples from the run's last checkpoint and measure "
        "them against the dataset's test split in the feature space "
        "of genbench's own classifier (FD, KID, precision, recall, "
        "class coverage; on 2D toys, modes covered and high-quality "
        "share). For a run, writes PATH/eval.json. PATH that is "
        "not a run folder is samples from elsewhere, measured the "
        "same way "
        "against --dataset: an .npy array of images (N,C,H,W), "
        "(N,H,W,C) or (N,H,W), uint8 0-255 or floats in [-1,1] or "
        "[0,1], at the dataset's own size (nothing is resized); an "
        ".npz holding such an array as arr_0 (and as labels the class "
        "of each, used as --labels: what genbench sample writes); a "
        "folder of PNG files, one sample each, read in name order; "
        "or an .npy of points (N,2) for ring8 and grid25.",
    )
    e.add_argument("run_dir", metavar="PATH", help="a run folder, or samples (see above)")
    e.add_argument(
        "-n",
        "--samples",
        type=sample_count,
        help="samples to measure (default 10000 for images, 2500 for 2D toys); "
        "for a file of samples, its first N, which it must hold",
    )
    e.add_argument(
        "--dataset",
        metavar="NAME",
        help="samples from elsewhere: the dataset they are measured against "
        "(its test split, or its modes)",
    )
    e.add_argument(
        "--data-dir",
        help="samples from elsewhere: where the dataset's files are "
        "(default: genbench's usual places, $GENBENCH_DATA)",
    )
    e.add_argument(
        "--range",
        dest="value_range",
        default="auto",
        choices=["auto", "signed", "unit", "bytes"],
        help="values of an .npy of images: signed [-1,1], unit [0,1], bytes 0-255; "
        "auto (default): uint8 is bytes, floats with values below 0 signed, "
        "else unit",
    )
    e.add_argument(
        "--labels",
        metavar="FILE",
        help="samples from elsewhere: an .npy of the class each sample was "
        "generated for, (N,) whole numbers in the samples' order (or an .npz's "
        "labels); adds class consistency and within-class diversity",
    )
    e.add_argument(
        "--out",
        metavar="FILE",
        help="samples from elsewhere: write the eval.json record to FILE (there is "
        "no run folder; nothing is written otherwise)",
    )
    e.add_argument("--seed", type=seed, default=0, help="seed of the samples (default 0)")
    e.add_argument("--device", help="auto (default: the run's device if here), cpu, cuda, ...")
    e.add_argument("--threads", metavar="N|auto", help=THREADS_HELP)
    e.add_argument(
        "--inception",
        action="store_true",
        help="add Inception FID (needs pytorch-fid or torch-fidelity with its "
        "weights already downloaded)",
    )
    e.add_argument(
        "--no-log",
        action="store_true",
        help="a run: do not send the results to the loggers it was trained with "
        "(run.json's --log: TensorBoard, W&B, MLflow, ...), which otherwise get them "
        "at the checkpoint's step",
    )
    out = e.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print eval.json instead of a table")
    out.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no table: print only where eval.json went",
    )


def sample_count(text: str) -> int:
    """-n: a whole number of samples within genbench.metrics.run_eval's bounds,
    refused while the arguments are read, before torch or a checkpoint is loaded."""
    import argparse

    from genbench.metrics.run_eval import check_sample_count

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text[:40]!r}") from None
    try:
        check_sample_count(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("-n ")) from None
    return value


# What each phase of genbench.metrics.run_eval's progress is, for the bar.
PHASES = {
    "restore": "restoring the checkpoint",
    "load": "reading the samples",
    "reference": "features of the real images",
    "samples": "drawing samples",
    "metrics": "features and metrics of the samples",
    "write": "writing eval.json",
}


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced by something odd
        return False


@contextmanager
def progress_bar(
    show: bool, console=None, first: str = "restore"
) -> Iterator[Callable[[str, int, int | None], None] | None]:
    """A rich progress bar on stderr (or ``console``), fed by evaluate_run's progress
    callback; None (nothing drawn) when ``show`` is false. Transient: the table
    replaces it."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class Count(ProgressColumn):
        """done/total where the phase can count its work; nothing where it cannot."""

        def render(self, task) -> Text:
            return Text(f"{int(task.completed):,}/{int(task.total):,}" if task.total else "")

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        Count(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def tell(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                # One line per phase in turn: each with its own count (or none) and clock.
                for earlier in tasks.values():
                    bar.update(earlier, visible=False)
                tasks[phase] = bar.add_task(PHASES.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done)

        tell(first, 0, None)
        yield tell


def is_run_folder(path: Path) -> bool:
    """PATH is a run (its eval goes to PATH/eval.json) when it holds a run.json."""
    from genbench.runfolder.record import RUN_FILE

    return os.path.lexists(path / RUN_FILE)


def run(args) -> int:
    path = Path(args.run_dir)
    if args.dataset is not None and not is_run_folder(path):
        _take_threads(args)
        return run_external(args, path)
    extras = [
        flag
        for flag, value in (
            ("--dataset", args.dataset),
            ("--out", args.out),
            ("--data-dir", args.data_dir),
            ("--labels", args.labels),
        )
        if value is not None
    ] + (["--range"] if args.value_range != "auto" else [])
    if extras and is_run_folder(path):
        raise UsageError(
            f"{' and '.join(extras)} apply to samples from elsewhere; "
            f"{clean_text(path, 120)} is a run folder (its dataset is recorded, "
            "its eval goes to eval.json in it)"
        )
    if extras:
        raise UsageError(
            f"{' and '.join(extras)} need --dataset NAME: the dataset the "
            "samples are measured against"
        )
    _take_threads(args)
    return run_run(args, path)


def _take_threads(args) -> None:
    """Evaluating beside running trainers takes a share of the CPUs, as they do
    (--threads N fixes it); torch's default of every core made them thrash."""
    from genbench.host.threads import ThreadShare, parse_threads

    ThreadShare(parse_threads(args.threads)).apply(force=True)


def run_run(args, path: Path) -> int:
    # The CLI wires the pieces: evaluation gets the trainer's restore from here.
    from genbench.metrics.run_eval import evaluate_run
    from genbench.registry import load_registry
    from genbench.training.launch import restore_model

    registry = load_registry()
    if not is_run_folder(path):
        from genbench.runfolder.runs import read_run_json

        try:
            read_run_json(path)  # the usual line: not a folder, not a run, ...
        except UsageError as exc:
            raise UsageError(
                f"{exc}; to measure samples from elsewhere (an .npy array or "
                "a folder of PNGs) give --dataset NAME"
            ) from None
    # Progress only for a person watching: never into a pipe, a log, or --json output.
    show = stderr_is_terminal() and not (args.json or args.quiet)
    with progress_bar(show) as tell:
        record = evaluate_run(
            path,
            lambda run_dir: restore_model(run_dir, registry, args.device),
            n=args.samples,
            seed=args.seed,
            inception=args.inception,
            progress=tell,
            registry=registry,
        )
    where = path / "eval.json"
    if args.json:
        print_json(record)
    elif args.quiet:
        print(f"wrote {where}")
    else:
        title = (
            f"{record['run']}: {record['model']} on {record['dataset']} at step {record['step']}"
        )
        print_table(record, title, where)
    if not args.no_log:
        _send_to_loggers(path, record, registry, say=not (args.json or args.quiet))
    return 0


def _send_to_loggers(path: Path, record: dict, registry, say: bool) -> None:
    """The run's loggers (its --log) get the results too; eval.json is written."""
    from genbench.cli.eval_loggers import send_evaluation

    sent = send_evaluation(path, record, registry)
    if sent and say:
        print(f"sent to {', '.join(sent)} at step {record['step']}", flush=True)


def run_external(args, path: Path) -> int:
    # Samples from elsewhere: no model to restore; PNGs decode through the same
    # hardened reader as a run's sample grids (metrics sits below terminal_image).
    from genbench.metrics.external import evaluate_external
    from genbench.registry import load_dataset_registry
    from genbench.terminal_image import load_png
    from genbench.training.device import resolve_device

    device = resolve_device(args.device)
    out = Path(args.out) if args.out else None
    show = stderr_is_terminal() and not (args.json or args.quiet)
    with progress_bar(show, first="load") as tell:
        record = evaluate_external(
            path,
            args.dataset,
            lambda png, folder: load_png(png, run_dir=folder),
            device,
            n=args.samples,
            seed=args.seed,
            inception=args.inception,
            data_dir=args.data_dir,
            wanted=args.value_range,
            out=out,
            progress=tell,
            labels=Path(args.labels) if args.labels else None,
            registry=load_dataset_registry(),
        )
    if args.json:
        print_json(record)
        return 0
    if args.quiet:
        if out is not None:
            print(f"wrote {out}")
        return 0
    src = record["source"]
    how = ", ".join(
        str(part) for part in (src.get("dtype"), src.get("layout"), src.get("range")) if part
    )
    title = (
        f"{path}: {record['samples']:,} samples ({src['format']}{', ' + how if how else ''})"
        f" against {record['dataset']}"
    )
    print_table(record, title, out)
    return 0


def print_table(record: dict, title: str, where: Path | None) -> None:
    """The metrics as a table, the classifier, any warning and where the record went.
    Every string is shown as plain Text with control characters removed (a run
    folder's names, a path, a plugin's class names), never as markup."""
    from rich.table import Table
    from rich.text import Text

    from genbench.metrics.run_eval import table_rows
    from genbench.presentation import console as terminal_console

    console = terminal_console()
    clf = record.get("classifier")
    table = Table(title=Text(clean_text(title, 240)), title_justify="left")
    for col in ("metric", "value", "measured on"):
        table.add_column(col)
    for row in table_rows(record):
        table.add_row(*(Text(clean_text(cell, 160)) for cell in row))
    console.print(table)
    if clf:
        console.print(
            Text(
                f"features: classifier {clean_text(clf['id'])} (test accuracy "
                f"{clf['test_accuracy']:.2%}); not comparable with Inception FID"
            )
        )
    if record["summary"].get("warning"):
        console.print(Text(clean_text(record["summary"]["warning"], 400), style="red"))
    if where is not None:
        console.print(Text(f"wrote {clean_text(where, 240)}"), soft_wrap=True)
