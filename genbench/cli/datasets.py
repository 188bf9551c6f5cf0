"""genbench datasets: the datasets and whether they are available here; download one."""

from __future__ import annotations

from pathlib import Path

from genbench.cli.common import print_json

NAME = "datasets"


def add_parser(sub) -> None:
    d = sub.add_parser(NAME, help="list datasets and whether they are available here")
    d.add_argument("--json", action="store_true", help="print JSON instead of a table")
    d.add_argument("--data-dir", help="folder searched first (default $GENBENCH_DATA)")
    d.add_argument("--download", metavar="NAME",
                   help="download NAME with torchvision into --data-dir or the user data "
                        "folder (needs a network)")


def run(args) -> int:
    # genbench.data reads file headers only: no torch for a listing.
    from genbench.data import FOLDER_PREFIX, list_datasets

    if args.download:
        return _download(args)

    rows = [d.describe() for d in list_datasets(data_dir=args.data_dir)]
    if args.json:
        print_json({"datasets": rows})
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title="Datasets", title_justify="left")
    for col in ("name", "kind", "shape", "classes", "size", "here"):
        table.add_column(col, no_wrap=True)
    table.add_column("where", overflow="fold", ratio=1)
    for d in rows:
        table.add_row(d["name"], d["kind"], "x".join(map(str, d["shape"])),
                      str(d["classes"] or ""), f"{d['size']:,}" if d["size"] else "-",
                      "[green]yes[/]" if d["available"] else "[red]no[/]",
                      escape(d["where"]) if d["available"] else "[red]not found[/] (below)")
    console.print(table)
    for d in rows:   # long paths and hints read better as lines than in a cell
        if not d["available"]:
            console.print(f"[bold]{d['name']}[/]: looked in {escape(d['where'])}; "
                          f"{escape(d['how'])}", highlight=False)
    console.print(f"Also {FOLDER_PREFIX}PATH: any folder of images (one sub-folder per class "
                  "gives labels), resized and centre-cropped to --image-size (default 64).",
                  highlight=False)
    return 0


def _download(args) -> int:
    from genbench.data import get_dataset
    from genbench.data.download import download

    root = download(args.download, Path(args.data_dir) if args.data_dir else None)
    found = get_dataset(args.download, data_dir=args.data_dir).availability()
    print(f"{args.download}: downloaded into {root}; "
          + (f"found in {found.where}" if found.ok else "but not found there afterwards"))
    return 0 if found.ok else 1
