"""genbench eval: measure the sample quality of a run's last checkpoint."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from genbench.cli.common import print_json, seed

NAME = "eval"


def add_parser(sub) -> None:
    e = sub.add_parser(NAME, help="measure sample quality of a run's last checkpoint",
                       description="Draw samples from the run's last checkpoint and measure "
                                   "them against the dataset's test split in the feature space "
                                   "of genbench's own classifier (FD, KID, precision, recall, "
                                   "class coverage; on 2D toys, modes covered and high-quality "
                                   "share). Writes RUN_DIR/eval.json.")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("-n", "--samples", type=int,
                   help="samples to draw (default 10000 for images, 2500 for 2D toys)")
    e.add_argument("--seed", type=seed, default=0, help="seed of the samples (default 0)")
    e.add_argument("--device", help="auto (default: the run's device if here), cpu, cuda, ...")
    e.add_argument("--inception", action="store_true",
                   help="add Inception FID (needs pytorch-fid or torch-fidelity with its "
                        "weights already downloaded)")
    out = e.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print eval.json instead of a table")
    out.add_argument("--quiet", action="store_true",
                     help="no progress bar and no table: print only where eval.json went")


# What each phase of genbench.metrics.run_eval's progress is, for the bar.
PHASES = {
    "restore": "restoring the checkpoint",
    "reference": "features of the real images",
    "samples": "drawing samples",
    "metrics": "features and metrics of the samples",
    "write": "writing eval.json",
}


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):      # closed or replaced by something odd
        return False


@contextmanager
def progress_bar(show: bool, console=None) -> Iterator[Callable[[str, int, int | None], None]
                                                         | None]:
    """A rich progress bar on stderr (or ``console``), fed by evaluate_run's progress
    callback; None (nothing drawn) when ``show`` is false. Transient: the table
    replaces it."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, Progress, ProgressColumn, SpinnerColumn, TaskID,
                               TextColumn, TimeElapsedColumn)
    from rich.text import Text

    class Count(ProgressColumn):
        """done/total where the phase can count its work; nothing where it cannot."""

        def render(self, task) -> Text:
            return Text(f"{int(task.completed):,}/{int(task.total):,}" if task.total else "")

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  Count(), TimeElapsedColumn(),
                  console=console or Console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def tell(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                # One line per phase in turn: each with its own count (or none) and clock.
                for earlier in tasks.values():
                    bar.update(earlier, visible=False)
                tasks[phase] = bar.add_task(PHASES.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done)

        tell("restore", 0, None)
        yield tell


def run(args) -> int:
    # The CLI wires the pieces: evaluation gets the trainer's restore from here.
    from genbench.metrics.run_eval import evaluate_run, table_rows
    from genbench.registry import load_registry
    from genbench.training.launch import restore_model

    registry = load_registry()
    # Progress only for a person watching: never into a pipe, a log, or --json output.
    show = stderr_is_terminal() and not (args.json or args.quiet)
    with progress_bar(show) as tell:
        record = evaluate_run(Path(args.run_dir),
                              lambda run_dir: restore_model(run_dir, registry, args.device),
                              n=args.samples, seed=args.seed, inception=args.inception,
                              progress=tell)
    if args.json:
        print_json(record)
        return 0
    if args.quiet:
        print(f"wrote {Path(args.run_dir) / 'eval.json'}")
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    clf = record.get("classifier")
    title = f"{record['run']}: {record['model']} on {record['dataset']} at step {record['step']}"
    table = Table(title=title, title_justify="left")
    for col in ("metric", "value", "measured on"):
        table.add_column(col)
    for row in table_rows(record):
        table.add_row(*row)
    console.print(table)
    if clf:
        console.print(f"features: classifier {clf['id']} (test accuracy "
                      f"{clf['test_accuracy']:.2%}); not comparable with Inception FID",
                      highlight=False)
    if record["summary"].get("warning"):
        console.print(f"[red]{record['summary']['warning']}[/]", highlight=False)
    console.print(f"wrote {Path(args.run_dir) / 'eval.json'}", highlight=False, soft_wrap=True)
    return 0
