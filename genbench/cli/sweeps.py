"""genbench sweeps: the sweeps of a runs folder, with their progress."""

from __future__ import annotations

from typing import Any

from genbench.cli.common import RUNS_DIR_HELP, print_json, runs_dir
from genbench.cli.sweep_show import counts_text
from genbench.errors import UsageError

NAME = "sweeps"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="list the sweeps of a runs folder with their progress")
    p.add_argument("--runs-dir", help=f"runs folder {RUNS_DIR_HELP}")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args) -> int:
    from genbench.sweep.record import iter_sweeps
    from genbench.sweep.results import member_results, shown_progress, shown_state

    root = runs_dir(args.runs_dir)
    rows: list[dict[str, Any]] = []
    for item in iter_sweeps(root):
        if isinstance(item, UsageError):
            rows.append({"error": str(item)})
            continue
        counts = shown_progress(item, member_results(root, item))
        rows.append(
            {
                "id": item.id,
                "state": shown_state(item, counts),
                "executor": item.executor,
                "shape": item.spec.shape(),
                "members": len(item.members),
                "progress": counts,
                "created": item.created,
            }
        )
    if args.json:
        print_json(rows)
        return 0
    from rich.table import Table
    from rich.text import Text

    from genbench.presentation import console, plain

    out = console()
    if not rows:
        out.print(Text(f"no sweeps in {plain(root, 1000)}; start one with `genbench sweep --help`"))
        return 0
    table = Table(box=None, pad_edge=False)
    for col in ("id", "state", "executor", "members", "progress"):
        table.add_column(col)
    for r in rows:
        if "error" in r:
            continue  # said in full below the table
        done = r["progress"].get("completed", 0)
        table.add_row(
            Text(plain(r["id"])),
            Text(r["state"]),
            Text(plain(r["executor"], 40)),
            Text(f"{done}/{r['members']} ({r['shape']})"),
            Text(counts_text(r["progress"])),
        )
    if any("error" not in r for r in rows):
        out.print(table)
    for r in rows:
        if "error" in r:  # a sweep whose record cannot be read: the others still list
            out.print(Text(plain(r["error"], 1000), style="red"), soft_wrap=True)
    return 0
