"""genbench runs: a table of the runs in a runs folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from genbench.cli.common import RUNS_DIR_HELP, print_json, runs_dir

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from genbench.runfolder.runs import RunSummary

NAME = "runs"

COLUMNS = ("id", "model", "dataset", "status", "step", "losses", "img/s", "FD", "coverage", "tags")
# The workbench's names of these columns, for presentation.fit_columns' priority.
PRIORITY_NAMES = {"id": "run", "img/s": "speed", "FD": "quality", "coverage": "quality"}
# Left out when no run fills them (FD on the 2D toys, tags nobody set).
WHEN_FILLED = ("FD", "coverage", "tags")


def add_parser(sub) -> None:
    ls = sub.add_parser(NAME, help="table of runs in the runs folder")
    ls.add_argument("--runs-dir", help=f"runs folder {RUNS_DIR_HELP}")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="TAG",
        help="only the runs with this tag (repeat: runs with every one); "
        "the workbench's t sets tags",
    )


def run(args) -> int:
    from genbench.presentation import short_ids
    from genbench.runfolder.notes import parse_tags
    from genbench.runfolder.runs import list_runs

    wanted = parse_tags(" ".join(args.tag))  # a tag that cannot be one: one line, exit 2
    root = runs_dir(args.runs_dir)
    runs = list_runs(root)
    tags = {r.path: _tags(r.path) for r in runs}
    # Unique among every run of the folder, so a short id still completes in a shell.
    short = short_ids([r.id for r in runs])
    if wanted:
        runs = [r for r in runs if set(wanted) <= set(tags[r.path].get("tags") or [])]
    if args.json:
        print_json([{**r.describe(), **_note(r.path), **tags[r.path]} for r in runs])
        return 0
    from rich.text import Text

    from genbench.presentation import console as terminal_console
    from genbench.presentation import plain, quality_cells

    console = terminal_console()
    if not runs:
        with_tags = f" tagged {' '.join(wanted)}" if wanted else ""
        console.print(
            Text(
                f"no runs{with_tags} in {plain(root, 1000)}; start one with "
                "`genbench run --headless --model gan --dataset ring8`"
            )
        )
        return 0
    ids = {r.path: plain(r.id) for r in runs}
    rows, shown, widths, cut = _layout(runs, ids, short, tags, console.width)
    console.print(_table(root, [c for c in shown if c in widths], widths, rows))
    _print_notes(console, runs, ids, tags)
    said = []
    if dropped := [c for c in shown if c not in widths]:
        said.append(f"{', '.join(dropped)}: a wider terminal, or `genbench show RUN`")
    if cut:
        said.append("whole ids: --json")
    if said:
        console.print("; ".join(said), style="dim", highlight=False)
    if any(quality_cells(r)[2] for r in runs if not r.error):
        console.print(
            "* live estimate from the trainer's last check (few samples); "
            "`genbench eval RUN` measures 10,000",
            highlight=False,
        )
    return 0


def _layout(
    runs: list[RunSummary],
    ids: dict[Path, str],
    short: dict[str, str],
    tags: dict[Path, dict],
    width: int,
) -> tuple[list[list[Text]], list[str], dict[str, int], bool]:
    """The rows, the columns worth a place, the width of each that fits, and whether
    the ids were shortened: one line a run. Whole ids where every column fits beside
    them; else the short ids (presentation.short_ids) and the columns that fit, in
    the workbench's order of priority (`genbench show RUN` has them all), rather
    than every column wrapping into a tower."""
    from genbench.presentation import plain

    for cut in (False, True):
        named = {r.path: plain(short[r.id]) if cut else ids[r.path] for r in runs}
        rows = [
            _error_row(named[r.path], r) if r.error else _row(named[r.path], r, tags[r.path])
            for r in runs
        ]
        shown = _columns_shown(rows)
        if cut or sum(_widest(rows, c) + 2 for c in shown) <= width:
            break
    return rows, shown, _fit(shown, rows, width), cut


def _widest(rows: list[list[Text]], column: str) -> int:
    i = COLUMNS.index(column)
    return max([len(column)] + [row[i].cell_len for row in rows])


# Every string from a run folder (its name too) goes in as Text, cleaned of control
# characters: never as markup, never as raw escapes.


def _row(run_id: str, r: RunSummary, tags: dict) -> list[Text]:
    """One cell per column of COLUMNS for a readable run."""
    from rich.text import Text

    from genbench.presentation import (
        format_losses,
        plain,
        quality_cells,
        speed_text,
        status_text,
        step_text,
    )

    fd, coverage, _ = quality_cells(r)
    return [
        Text(run_id),
        Text(plain(r.model)),
        Text(plain(r.dataset)),
        status_text(r.status, bold=False, default="red"),
        Text(step_text(r.step, r.steps)),
        Text(format_losses(r.losses)),
        Text(speed_text(r.img_per_s)),
        fd,
        coverage,
        Text("unreadable", "red") if "tags_error" in tags else Text(" ".join(tags["tags"])),
    ]


def _error_row(run_id: str, r: RunSummary) -> list[Text]:
    """A run that cannot be read: the start of the reason in the row (the whole line
    is printed under the table)."""
    from rich.text import Text

    from genbench.presentation import plain, status_text

    cells = [Text("") for _ in COLUMNS]
    cells[0] = Text(run_id)
    cells[COLUMNS.index("status")] = status_text(r.status, bold=False, default="red")
    cells[COLUMNS.index("losses")] = Text(plain(r.error, 300))
    return cells


def _columns_shown(rows: list[list[Text]]) -> list[str]:
    """The columns worth a place: none that no run fills (FD on the 2D toys, tags
    nobody set)."""
    return [
        c
        for i, c in enumerate(COLUMNS)
        if c not in WHEN_FILLED or any(row[i].plain for row in rows)
    ]


def _table(root: Path, shown: list[str], widths: dict[str, int], rows: list[list[Text]]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from genbench.presentation import plain

    table = Table(
        title=Text(f"Runs in {plain(root, 1000)}"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in shown:
        table.add_column(
            col,
            no_wrap=True,
            overflow="ellipsis",
            width=widths[col],
            justify="right" if col in ("step", "img/s", "FD") else "left",
        )
    for row in rows:
        table.add_row(*_pick(shown, row))
    return table


def _print_notes(
    console: Console, runs: list[RunSummary], ids: dict[Path, str], tags: dict[Path, dict]
) -> None:
    """Under the table, one line for each run or side file that cannot be read: the
    unreadable runs first, then the side files (a run's status stands; the file
    that cannot be read is named)."""
    from rich.text import Text

    from genbench.presentation import plain

    reasons = [(r, r.error) for r in runs if r.error]
    reasons += [(r, r.side_error) for r in runs if r.side_error]
    reasons += [(r, tags[r.path]["tags_error"]) for r in runs if "tags_error" in tags[r.path]]
    for r, reason in reasons:
        console.print(
            Text.assemble((ids[r.path], "red"), f": {plain(reason, 500)}"), highlight=False
        )


def _fit(shown: list[str], rows: list[list[Text]], width: int) -> dict[str, int]:
    """Each column's width on a terminal ``width`` wide (columns left out do not
    fit): the columns in the workbench's order of priority
    (presentation.fit_columns); the losses cut to what room is left rather than
    left out (one run's metrics.jsonl may name sixty losses, and `genbench show
    RUN` has them all); the id cut last, never below 12 characters, with an
    ellipsis (`genbench runs --json` has it whole)."""
    from genbench.presentation import fit_columns

    widest = {c: _widest(rows, c) for c in shown}
    kept = fit_columns(widest, width, alias=PRIORITY_NAMES)  # a space each side of a column
    if "losses" not in kept and "losses" in widest:
        spare = width - sum(widest[c] + 2 for c in kept) - 2
        if spare >= len("losses"):
            widest["losses"] = spare
            kept.add("losses")
    widths = {c: widest[c] for c in shown if c in kept}
    over = sum(widths.values()) + 2 * len(widths) - width
    if over > 0:
        widths["id"] = max(12, widths["id"] - over)
    return widths


def _pick(shown: list[str], cells: list[Text]) -> list[Text]:
    """The cells of the columns shown, from one cell per column of COLUMNS."""
    return [cell for col, cell in zip(COLUMNS, cells, strict=True) if col in shown]


def _tags(run_dir: Path) -> dict[str, list[str] | str | None]:
    """The run's tags for --json and the table: [] when none, or null and tags_error
    saying why tags.txt cannot be read."""
    from genbench.runfolder.notes import read_tags
    from genbench.runfolder.untrusted import UnreadableFile

    try:
        return {"tags": read_tags(run_dir)}
    except UnreadableFile as exc:
        return {"tags": None, "tags_error": str(exc)}


def _note(run_dir: Path) -> dict[str, str | None]:
    """The run's note for --json: its text ('' when none; JSON escapes any control
    character), or null and note_error saying why note.txt cannot be read."""
    from genbench.runfolder.notes import read_note
    from genbench.runfolder.untrusted import UnreadableFile

    try:
        return {"note": read_note(run_dir).strip()}
    except UnreadableFile as exc:
        return {"note": None, "note_error": str(exc)}
