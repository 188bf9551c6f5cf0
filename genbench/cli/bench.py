"""genbench bench: training speed (images/s) per model."""

from __future__ import annotations

import sys

from genbench import options
from genbench.cli.common import print_json
from genbench.cli.machine import machine_help
from genbench.errors import UsageError

NAME = "bench"


def add_parser(sub) -> None:
    b = sub.add_parser(
        NAME,
        help="measure training speed (images/s) per model",
        description="Time training steps after a warm-up and print images/s "
        "per model, with device, torch version and precision.",
    )
    b.add_argument(
        "--model",
        dest="models",
        action="append",
        metavar="M",
        help="model to measure (repeatable; default: every installed model)",
    )
    b.add_argument(
        "--dataset",
        help="dataset (default: fashion-mnist for image models, ring8 for points-only ones)",
    )
    b.add_argument("--steps", type=int, default=50, help="timed steps (default 50)")
    b.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    # What bench shares with `genbench run` (batch size, device, precision, threads,
    # data folder and image size): the run options' own flags, help and defaults.
    options.add_arguments(b, NAME, machine_help())
    b.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a hyperparameter of the model(s) measured, as genbench run takes it "
        "(repeatable; a key a model lacks is refused)",
    )
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args) -> int:
    from genbench.host.threads import ThreadShare, parse_threads
    from genbench.registry import load_registry
    from genbench.training.bench import run_bench

    shared = options.RunOptions.from_args(args, command=NAME)
    for flag, value in (
        ("--batch-size", shared.batch_size),
        ("--steps", args.steps),
        ("--image-size", shared.image_size),
    ):
        options.positive(value, flag)
    if args.warmup < 0:
        raise UsageError(f"--warmup must be 0 or more, got {args.warmup}")

    ThreadShare(parse_threads(shared.threads)).apply(force=True)
    report = run_bench(
        load_registry(),
        args.models,
        args.dataset,
        shared.batch_size,
        args.steps,
        args.warmup,
        shared.device,
        shared.precision,
        shared.image_size,
        None if shared.data_dir is None else str(shared.data_dir),
        sets=args.sets,
    )
    if report["precision_warning"]:
        print(f"genbench: warning: {report['precision_warning']}", file=sys.stderr, flush=True)
    if args.json:
        print_json(report)
        return 0
    from rich.table import Table
    from rich.text import Text

    from genbench.presentation import console as terminal_console

    console = terminal_console()
    table = Table(
        title=f"Training speed on {report['device_name']} ({report['device']}), "
        f"torch {report['torch']}, {report['precision']}, "
        f"fast path {'on' if report['fast_path'] else 'off (eager)'}",
        title_justify="left",
    )
    numbers = ("batch", "img/s", "ms/step", "samples/s")
    for col in ("model", "dataset", "shape", *numbers):
        table.add_column(col, justify="right" if col in numbers else "left")
    for r in report["results"]:
        shape = "x".join(map(str, r["shape"]))
        # Names and reasons come from plugins: text, never markup.
        if r["skipped"]:
            table.add_row(
                Text(r["model"]),
                Text(r["dataset"]),
                shape,
                str(r["batch_size"]),
                "-",
                Text(r["skipped"], style="dim"),
                "",
            )
        else:
            table.add_row(
                Text(r["model"]),
                Text(r["dataset"]),
                shape,
                str(r["batch_size"]),
                f"{r['img_per_s']:,.0f}",
                f"{r['ms_per_step']:.2f}",
                f"{r['samples_per_s']:,.0f}",
            )
    console.print(table)
    console.print(Text(f"precision: {report['precision_why']}"), highlight=False)
    return 0
