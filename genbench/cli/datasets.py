"""genbench datasets: the datasets and whether they are available here; download one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from genbench.cli.common import print_json

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from genbench.registry import DatasetEntry, Registry

NAME = "datasets"


def add_parser(sub) -> None:
    d = sub.add_parser(NAME, help="list datasets and whether they are available here")
    d.add_argument("--json", action="store_true", help="print JSON instead of a table")
    d.add_argument("--data-dir", help="folder searched first (default $GENBENCH_DATA)")
    d.add_argument(
        "--download",
        metavar="NAME",
        help="download NAME with torchvision into --data-dir or the user data "
        "folder (needs a network)",
    )


def run(args) -> int:
    # genbench.data reads file headers only: no torch for a listing (plugins, and
    # with them torch, are imported only when a third-party one is installed).
    from genbench.registry import load_dataset_registry

    if args.download:
        return _download(args)

    registry = load_dataset_registry()
    rows = _describe_datasets(registry, args.data_dir)
    if args.json:
        print_json(
            {
                "datasets": rows,
                # A name two plugins claim loads for neither: say so, or it silently vanishes.
                "conflicts": [
                    {"name": name, "plugin": e.plugin.record()}
                    for name, group in registry.dataset_conflicts.items()
                    for e in group
                ],
                "broken": [b.describe() for b in registry.broken],
                "warnings": list(registry.warnings),
            }
        )
        return 0
    from genbench.presentation import console as terminal_console

    console = terminal_console()
    console.print(_table(rows, console.width))
    _print_problems(console, rows, registry)
    return 0


def _describe_datasets(registry: Registry, data_dir: str | None) -> list[dict[str, Any]]:
    """Each dataset's description, with the plugin that provides it (None when built
    in), so a user can tell a plugin's dataset from ours."""
    from genbench.data import dataset_builders

    rows = []
    for name, build in dataset_builders(data_dir, plugins=registry.datasets):
        row = build().describe()
        entry = registry.datasets.get(name)
        row["plugin"] = entry.plugin.record() if entry else None
        row["provider"] = _provider(registry, entry)
        row["use"] = name  # DIST:NAME where another plugin provides its name too
        rows.append(row)
    return rows


def _table(rows: list[dict[str, Any]], width: int) -> Table:
    """The datasets on a terminal ``width`` wide: one line each where it fits, else
    the cells fold (a path is never cut)."""
    from rich.table import Table
    from rich.text import Text

    from genbench.runfolder.untrusted import clean_text

    table = Table(title="Datasets", title_justify="left")
    # Which plugin provides each dataset; with none installed every one is built in,
    # and the column would only narrow the paths.
    sources = any(d["plugin"] for d in rows)
    table.add_column("name", overflow="fold")
    for col in ("kind", "shape", "classes", "size", "here"):  # a few characters each
        table.add_column(col, no_wrap=True)
    if sources:
        table.add_column("from", overflow="fold", max_width=16)
    # The whole path, folded onto more lines where the terminal is narrow: a cut one
    # ('…/fashion-mnist') could not be copied or told from another folder's.
    table.add_column("where", overflow="fold", ratio=1)
    for d in rows:
        cells = _fixed_cells(d, sources)
        where = clean_text(d["where"], 1000)
        cells.append(Text(where) if d["available"] else Text("see below", "red"))
        table.add_row(*cells)
    return table


def _fixed_cells(d: dict[str, Any], sources: bool) -> list[Text]:
    """A dataset's cells before "where"; names and paths of a plugin's dataset are its
    author's strings: plain text."""
    from rich.text import Text

    from genbench.runfolder.untrusted import clean_text

    cells = [
        Text(clean_text(d.get("use", d["name"]))),
        Text(d["kind"]),
        Text("x".join(map(str, d["shape"]))),
        Text(str(d["classes"] or "")),
        Text(f"{d['size']:,}" if d["size"] else "-"),
        Text("yes", "green") if d["available"] else Text("no", "red"),
    ]
    if sources:
        cells.append(Text(clean_text(d["provider"])))
    return cells


def _print_problems(console: Console, rows: list[dict[str, Any]], registry: Registry) -> None:
    """Under the table: where each missing dataset was looked for, names claimed
    twice, broken plugins, and the folder datasets."""
    from rich.text import Text

    from genbench.data import FOLDER_PREFIX
    from genbench.dataset import where_looked
    from genbench.runfolder.untrusted import clean_text

    for d in rows:  # long paths and hints read better as lines than in a cell
        if not d["available"]:
            console.print(
                Text.assemble(
                    (clean_text(d["name"]), "bold"),
                    f": {clean_text(where_looked(d['where']), 1000)}; {clean_text(d['how'], 1000)}",
                ),
                highlight=False,
            )
    for line in registry.clash_lines("dataset"):  # both usable by DIST:NAME
        console.print(
            Text.assemble(("name clash ", "yellow"), clean_text(line, 1000)), highlight=False
        )
    for b in registry.broken:
        console.print(
            Text.assemble(
                ("broken plugin", "red"),
                clean_text(
                    f" {b.plugin.name} ({b.plugin.distribution} {b.plugin.version}): {b.error}"
                ),
            ),
            highlight=False,
        )
    console.print(
        f"Also {FOLDER_PREFIX}PATH: any folder of images (one sub-folder per class "
        "gives labels), resized and centre-cropped to --image-size (default 64).",
        highlight=False,
    )


def _provider(registry: Registry, entry: DatasetEntry | None) -> str:
    if entry is None:
        return "built-in"
    origin = f"{entry.plugin.distribution} {entry.plugin.version}"
    return f"{origin} (partly broken, below)" if registry.partly_broken(entry.plugin) else origin


def _download(args) -> int:
    from genbench.data import get_dataset
    from genbench.data.download import download

    root = download(args.download, Path(args.data_dir) if args.data_dir else None)
    found = get_dataset(args.download, data_dir=args.data_dir).availability()
    print(
        f"{args.download}: downloaded into {root}; "
        + (f"found in {found.where}" if found.ok else "but not found there afterwards")
    )
    return 0 if found.ok else 1
