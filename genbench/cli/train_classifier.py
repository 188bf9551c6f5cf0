"""genbench train-classifier: train the feature classifier FD and class coverage use.

genbench ships a classifier for the datasets it measures (Fashion-MNIST); any
other image dataset with labels and a reference split, a plugin's included,
gets its own here, written to the user's classifiers folder where `genbench
eval`, the live quality checks and the collapse alarm find it by the dataset's
name (genbench.metrics.classifier).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "train-classifier"


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text[:40]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return value


def add_parser(sub) -> None:
    from genbench.options import parse_seed as seed

    t = sub.add_parser(
        NAME,
        help="train the feature classifier that evaluation uses, for one image dataset",
        description="Train the small classifier whose features genbench's FD, KID, "
        "precision/recall and class coverage use, for an image dataset with "
        "labels (a plugin's, or a built-in one), on its training split; measure "
        "its accuracy on the test (reference) split; write the weights and a "
        "card to the classifiers folder ($GENBENCH_CLASSIFIERS, else "
        "classifiers/ in the user data folder), where `genbench eval` finds it "
        "by the dataset's name.",
    )
    t.add_argument("dataset", metavar="DATASET", help="dataset name (see `genbench datasets`)")
    t.add_argument(
        "--epochs",
        type=positive,
        default=6,
        help="passes over the training split (default 6, the shipped classifiers' recipe)",
    )
    t.add_argument(
        "--threads",
        default="auto",
        help="CPU threads: a number, or auto (default: the CPUs this process may "
        "use); the same seed and threads give the same weights",
    )
    t.add_argument("--seed", type=seed, default=0, help="seed (default 0)")
    t.add_argument(
        "--data-dir", help="folder searched first for the dataset's files (default $GENBENCH_DATA)"
    )
    t.add_argument(
        "--out",
        metavar="DIR",
        help="classifiers folder to write into, as "
        "DIR/DATASET/ (default $GENBENCH_CLASSIFIERS, else the user data folder's); "
        "eval looks in $GENBENCH_CLASSIFIERS",
    )


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def run(args) -> int:
    from genbench.errors import UsageError
    from genbench.host.threads import cpu_budget, parse_threads
    from genbench.metrics.classifier import _plain, locate, train_command, user_dir
    from genbench.runfolder.untrusted import clean_text

    name = args.dataset
    if not _plain(name):
        raise UsageError(
            f"{name!r} is not a dataset name a classifier can be kept under; "
            "give a named image dataset with labels (see `genbench datasets`)"
        )
    threads = parse_threads(args.threads) or cpu_budget().cpus
    root = Path(args.out).expanduser().absolute() if args.out else user_dir()
    if root.exists() and not root.is_dir():
        raise UsageError(f"--out {root} is a file; give a folder")
    out = root / name

    from genbench.metrics.train_classifier import train
    from genbench.registry import load_dataset_registry

    registry = load_dataset_registry()  # a dataset a plugin ships can be trained on too
    show = stderr_is_terminal()
    with _progress(show) as (log, progress):
        card = train(
            name,
            args.epochs,
            args.seed,
            batch_size=128,
            lr=3e-3,
            out_dir=out,
            threads=threads,
            log=log,
            stem="classifier",
            command=f"{train_command(name)} --epochs {args.epochs} "
            f"--seed {args.seed} --threads {threads}",
            data_dir=args.data_dir,
            progress=progress,
            registry=registry,
        )
    shown = clean_text(name)
    print(
        f"classifier for {shown!r}: {card['test_accuracy']:.2%} accuracy on "
        f"{card['test_size']:,} test images; wrote {out / 'classifier.pt'} and "
        f"classifier.json"
    )
    found = locate(name)
    if found is not None and found.source == "shipped":
        # Shipped weights win the lookup, so every user's figures stay comparable.
        print(
            f"note: genbench ships a classifier for {shown!r}, which `genbench eval` "
            "keeps using; this one is for your own comparisons"
        )
    elif root != user_dir():
        print(f"`genbench eval` finds it with GENBENCH_CLASSIFIERS={root}")
    return 0


class _progress:
    """(log, progress) for train(): a bar and epoch lines on a terminal's stderr,
    nothing when stderr is a pipe or a file."""

    def __init__(self, show: bool):
        self.show = show

    def __enter__(self):
        if not self.show:
            return (lambda *a, **k: None), None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("training"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task("train", total=None)

        def progress(done: int, total: int) -> None:
            self.bar.update(task, completed=done, total=total)

        def log(line: str) -> None:
            self.bar.console.print(line, markup=False, highlight=False)

        return log, progress

    def __exit__(self, *exc) -> None:
        if self.show:
            self.bar.stop()
