"""genbench eval: measure the sample quality of a run's last checkpoint."""

from __future__ import annotations

from pathlib import Path

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
    e.add_argument("--json", action="store_true", help="print eval.json instead of a table")


def run(args) -> int:
    # The CLI wires the pieces: evaluation gets the trainer's restore from here.
    from genbench.metrics.run_eval import evaluate_run, table_rows
    from genbench.registry import load_registry
    from genbench.training.launch import restore_model

    registry = load_registry()
    record = evaluate_run(Path(args.run_dir),
                          lambda run_dir: restore_model(run_dir, registry, args.device),
                          n=args.samples, seed=args.seed, inception=args.inception)
    if args.json:
        print_json(record)
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
