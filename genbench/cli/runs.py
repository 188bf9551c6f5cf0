"""genbench runs: a table of the runs in a runs folder."""

from __future__ import annotations

from genbench.cli.common import RUNS_DIR_HELP, print_json, runs_dir

NAME = "runs"

COLUMNS = ("id", "model", "dataset", "status", "step", "losses", "img/s", "FD", "coverage")
NARROW = 110    # below this many columns the losses and speed give way


def add_parser(sub) -> None:
    ls = sub.add_parser(NAME, help="table of runs in the runs folder")
    ls.add_argument("--runs-dir", help=f"runs folder {RUNS_DIR_HELP}")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args) -> int:
    from genbench.runs import list_runs

    root = runs_dir(args.runs_dir)
    runs = list_runs(root)
    if args.json:
        print_json([{**r.describe(), **_note(r.path)} for r in runs])
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from genbench.presentation import (format_losses, plain, quality_cells, speed_text,
                                       status_text, step_text)

    console = Console()
    if not runs:
        console.print(Text(f"no runs in {plain(root, 1000)}; start one with "
                           "`genbench run --headless --model gan --dataset ring8`"))
        return 0
    # Every string from a run folder (its name too) goes in as Text, cleaned of
    # control characters: never as markup, never as raw escapes.
    table = Table(title=Text(f"Runs in {plain(root, 1000)}"), title_justify="left",
                  box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    # One line a run: on a narrow terminal the losses and speed give way (`genbench
    # show RUN` has them) rather than every column wrapping into a tower.
    narrow = console.width < NARROW
    shown = [c for c in COLUMNS if not (narrow and c in ("losses", "img/s"))]
    ids = {r.path: plain(r.id) for r in runs}
    longest_id = max(len(i) for i in ids.values())
    for col in shown:
        table.add_column(col, no_wrap=col != "losses", justify="right" if col in (
            "step", "img/s", "FD") else "left",
            # the id is what every other command takes: never cut it short
            min_width=min(longest_id, console.width // 2) if col == "id" else None)
    live = False
    unreadable = []
    for r in runs:
        if r.error:
            # The start of the reason in the row, the whole line under the table.
            unreadable.append(r)
            table.add_row(*_pick(shown, [
                Text(ids[r.path]), "", "", Text("unreadable", "red"), "",
                Text(plain(r.error, 300), no_wrap=True, overflow="ellipsis"),
                "", "", ""]))
            continue
        fd, coverage, marked = quality_cells(r)
        live = live or marked
        table.add_row(*_pick(shown, [
            Text(ids[r.path]), Text(plain(r.model)), Text(plain(r.dataset)),
            status_text(r.status, bold=False, default="red"), Text(step_text(r.step, r.steps)),
            Text(format_losses(r.losses)), Text(speed_text(r.img_per_s)), fd, coverage]))
    console.print(table)
    for r in unreadable:
        console.print(Text.assemble((ids[r.path], "red"), f": {plain(r.error, 500)}"),
                      highlight=False)
    if narrow:
        console.print("losses and img/s: a wider terminal, or `genbench show RUN`",
                      style="dim", highlight=False)
    if live:
        console.print("* live estimate from the trainer's last check (few samples); "
                      "`genbench eval RUN` measures 10,000", highlight=False)
    return 0


def _pick(shown: list[str], cells: list) -> list:
    """The cells of the columns shown, from one cell per column of COLUMNS."""
    return [cell for col, cell in zip(COLUMNS, cells, strict=True) if col in shown]


def _note(run_dir) -> dict:
    """The run's note for --json: its text ('' when none; JSON escapes any control
    character), or null and note_error saying why note.txt cannot be read."""
    from genbench.run_notes import read_note
    from genbench.untrusted import UnreadableFile

    try:
        return {"note": read_note(run_dir).strip()}
    except UnreadableFile as exc:
        return {"note": None, "note_error": str(exc)}
