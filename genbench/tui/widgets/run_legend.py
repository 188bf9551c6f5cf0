"""The legend of a comparison, outside the charts: one row per run with its colour,
number, name, model, dataset, status, step and latest quality.

Each run's colour is the one its lines, sample panel and hyperparameter column use;
the number (#1, #2, ...) and the glyph drawn along its lines (●, ▲, ...) name the
run where colour does not show (NO_COLOR). The run drawn in front is marked ▶.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from genbench.presentation import count_text, significant_text
from genbench.tui.format import plain, status_text, step_text
from genbench.tui.run_tail import RunTail

SWATCH = "━━"


@dataclass(frozen=True)
class LegendRow:
    number: int  # 1-based, as the charts' and panels' titles say it
    colour: str
    name: str
    model: str
    dataset: str
    status: str
    step: str
    quality: str
    error: str = ""  # why the run cannot be read, one line
    glyph: str = ""  # drawn along the run's lines
    front: bool = False  # its lines are drawn over the others'


def _number(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value == value
        and abs(value) != float("inf")
    )


def quality_cell(tail: RunTail) -> str:
    """FD and coverage: `genbench eval`'s when eval.json has them, else the trainer's
    live check marked '*' (as the CLI marks it: fewer samples)."""
    final = tail.final_quality
    if final:
        fd, coverage, mark = final.get("fd"), final.get("coverage"), ""
    else:
        ev = tail.history.evaluation or {}
        fd, mark = ev.get("fd"), "*"
        covered = ev.get("classes_covered", ev.get("modes_covered"))
        total = ev.get("classes", ev.get("modes"))
        coverage = (covered, total) if _number(covered) and _number(total) else None
    parts = []
    # Written as presentation writes them: an FD of 10**400 from a received eval.json
    # is "1e400", not an OverflowError.
    if _number(fd):
        parts.append(f"FD {significant_text(fd, 3)}")
    if coverage and all(_number(c) for c in coverage):
        parts.append(f"{count_text(coverage[0])}/{count_text(coverage[1])}")
    return plain(" ".join(parts) + (mark if parts else ""), 40)


def legend_row(
    number: int, colour: str, tail: RunTail, glyph: str = "", front: bool = False
) -> LegendRow:
    meta = tail.meta
    return LegendRow(
        number,
        colour,
        plain(tail.path.name, 60),
        plain(meta.model if meta else "?", 40),
        plain(meta.dataset if meta else "?", 40),
        tail.status,
        step_text(tail.step, tail.steps),
        quality_cell(tail),
        plain(tail.error or "", 200),
        glyph,
        front,
    )


class RunLegend(Static):
    """A small table, one row per run. :meth:`show` takes the rows; :attr:`rows`
    holds what is shown (for tests and callers)."""

    DEFAULT_CSS = """
    RunLegend { height: auto; max-height: 8; padding: 0 1; overflow-y: auto; }
    """

    def __init__(self, **kwargs):
        super().__init__("", markup=False, **kwargs)
        self.rows: list[LegendRow] = []

    def show(self, rows: Sequence[LegendRow]) -> None:
        if list(rows) == self.rows:
            return
        self.rows = list(rows)
        table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False, header_style="dim")
        # The swatch, status and step keep their width; where the row is too long for
        # the terminal, the name and the quality (or error) column give way first, cut
        # with an ellipsis on their one line.
        table.add_column("", no_wrap=True, min_width=7)
        table.add_column("run", min_width=8, max_width=32)
        table.add_column("model", no_wrap=True, max_width=16)
        table.add_column("dataset", no_wrap=True, max_width=16)
        table.add_column("status", no_wrap=True)
        table.add_column("step", justify="right", no_wrap=True)
        table.add_column("quality", min_width=8)

        def cut(text: str, style: str = "") -> Text:
            return Text(text, style=style, no_wrap=True, overflow="ellipsis")

        for r in self.rows:
            # Names and values come from run folders: Text, never markup.
            table.add_row(
                Text.assemble(
                    ("▶" if r.front else " ", "bold"),
                    (f"{SWATCH[0]}{r.glyph}{SWATCH[1]}" if r.glyph else SWATCH, f"bold {r.colour}"),
                    f" #{r.number}",
                ),
                cut(r.name, f"bold {r.colour}"),
                cut(r.model),
                cut(r.dataset),
                status_text(r.status),
                Text(r.step),
                cut(r.error, "red") if r.error else cut(r.quality),
            )
        self.update(table)
