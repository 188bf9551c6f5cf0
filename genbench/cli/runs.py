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

COLUMNS = ("id", "model", "dataset", "status", "step", "losses", "img/s", "FD", "coverage")
NARROW = 110  # below this many columns the losses and speed give way


def add_parser(sub) -> None:
    ls = sub.add_parser(NAME, help="table of runs in the runs folder")
    ls.add_argument("--runs-dir", help=f"runs folder {RUNS_DIR_HELP}")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args) -> int:
    from genbench.runfolder.runs import list_runs

    root = runs_dir(args.runs_dir)
    runs = list_runs(root)
    if args.json:
        print_json([{**r.describe(), **_note(r.path)} for r in runs])
        return 0
    from rich.text import Text

    from genbench.presentation import console as terminal_console
    from genbench.presentation import plain, quality_cells

    console = terminal_console()
    if not runs:
        console.print(
            Text(
                f"no runs in {plain(root, 1000)}; start one with "
                "`genbench run --headless --model gan --dataset ring8`"
            )
        )
        return 0
    # One line a run: on a narrow terminal the losses and speed give way (`genbench
    # show RUN` has them) rather than every column wrapping into a tower.
    narrow = console.width < NARROW
    ids = {r.path: plain(r.id) for r in runs}
    rows = [_error_row(ids[r.path], r) if r.error else _row(ids[r.path], r) for r in runs]
    shown = _columns_shown(rows, narrow)
    widths = _fit(shown, rows, console.width)
    dropped = [c for c in shown if c not in widths]
    console.print(_table(root, [c for c in shown if c in widths], widths, rows))
    _print_notes(console, runs, ids)
    hidden = (["losses", "img/s"] if narrow else []) + dropped
    if hidden:
        console.print(
            f"{', '.join(hidden)}: a wider terminal, or `genbench show RUN`",
            style="dim",
            highlight=False,
        )
    if any(quality_cells(r)[2] for r in runs if not r.error):
        console.print(
            "* live estimate from the trainer's last check (few samples); "
            "`genbench eval RUN` measures 10,000",
            highlight=False,
        )
    return 0


# Every string from a run folder (its name too) goes in as Text, cleaned of control
# characters: never as markup, never as raw escapes.


def _row(run_id: str, r: RunSummary) -> list[Text]:
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


def _columns_shown(rows: list[list[Text]], narrow: bool) -> list[str]:
    """The columns worth a place: no losses or speed on a narrow terminal, and no
    quality column that no run fills (FD on the 2D toys)."""
    return [
        c
        for i, c in enumerate(COLUMNS)
        if not (narrow and c in ("losses", "img/s"))
        and (c not in ("FD", "coverage") or any(row[i].plain for row in rows))
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


def _print_notes(console: Console, runs: list[RunSummary], ids: dict[Path, str]) -> None:
    """Under the table, one line for each run or side file that cannot be read: the
    unreadable runs first, then the side files (a run's status stands; the file
    that cannot be read is named)."""
    from rich.text import Text

    from genbench.presentation import plain

    reasons = [(r, r.error) for r in runs if r.error]
    reasons += [(r, r.side_error) for r in runs if r.side_error]
    for r, reason in reasons:
        console.print(
            Text.assemble((ids[r.path], "red"), f": {plain(reason, 500)}"), highlight=False
        )


def _fit(shown: list[str], rows: list[list[Text]], width: int) -> dict[str, int]:
    """Each column's width on a terminal ``width`` wide (columns left out do not
    fit). What identifies a run and where it stands is cut last: the losses go
    first (to the width of their heading: one run's metrics.jsonl may name sixty
    losses, and `genbench show RUN` has them all), then a coverage's
    'collapse' word, then the model's and dataset's names (to four
    characters, then the columns), then the id (never below 12 characters, with an
    ellipsis: `genbench runs --json` has it whole)."""
    widest = {c: max([len(c)] + [row[COLUMNS.index(c)].cell_len for row in rows]) for c in shown}
    room = width - 2 * len(shown)  # a space each side of a column

    def over() -> int:
        return sum(widest.values()) + 2 * (len(widest) - len(shown)) - room

    if "losses" in widest and over() > 0:
        widest["losses"] = max(len("losses"), widest["losses"] - over())
    if "coverage" in widest and over() > 0:
        i = COLUMNS.index("coverage")
        short = max([len("coverage")] + [len(row[i].plain.split(" ")[0]) for row in rows])
        widest["coverage"] = max(short, widest["coverage"] - over())
    for col in ("dataset", "model"):
        if col in widest and over() > 0:
            widest[col] = max(4, widest[col] - over())
    for col in ("dataset", "model"):
        if col in widest and over() > 0:
            del widest[col]
    if over() > 0:
        widest["id"] = max(12, widest["id"] - over())
    return widest


def _pick(shown: list[str], cells: list[Text]) -> list[Text]:
    """The cells of the columns shown, from one cell per column of COLUMNS."""
    return [cell for col, cell in zip(COLUMNS, cells, strict=True) if col in shown]


def _note(run_dir: Path) -> dict[str, str | None]:
    """The run's note for --json: its text ('' when none; JSON escapes any control
    character), or null and note_error saying why note.txt cannot be read."""
    from genbench.runfolder.notes import read_note
    from genbench.runfolder.untrusted import UnreadableFile

    try:
        return {"note": read_note(run_dir).strip()}
    except UnreadableFile as exc:
        return {"note": None, "note_error": str(exc)}
