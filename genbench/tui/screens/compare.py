"""Two or more runs side by side: loss curves overlaid, latest sample grids in a row."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header

from genbench.tui.format import status_text, step_text
from genbench.tui.watch import RunTail
from genbench.tui.widgets.loss_chart import PALETTE, LossChart, Series
from genbench.tui.widgets.sample_preview import SamplePreview

POLL_S = 0.5


class CompareScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("a", "toggle_ascii", "ASCII"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, run_dirs: list[Path]) -> None:
        super().__init__()
        self.tails = [RunTail(Path(d)) for d in run_dirs]

    def compose(self) -> ComposeResult:
        yield Header()
        chart = LossChart(legend=True, id="compare-chart")
        chart.border_title = "losses"
        yield chart
        with Horizontal(id="compare-samples"):
            for i, tail in enumerate(self.tails):
                with Vertical(classes="compare-run") as box:
                    box.border_title = f"[{PALETTE[i % len(PALETTE)]}]■[/] {tail.path.name}"
                    yield SamplePreview(tail.sample_path)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"comparing {len(self.tails)} runs"
        # Draw once the chart has its size, then keep polling.
        self.call_after_refresh(self.refresh_runs, True)
        self.set_interval(POLL_S, self.refresh_runs)

    def series(self) -> list[Series]:
        """Every loss of every run; a run keeps its colour, its losses get shades."""
        out = []
        for i, tail in enumerate(self.tails):
            for j, (name, (steps, values)) in enumerate(tail.history.losses.items()):
                colour = PALETTE[i % len(PALETTE)] + ("" if j == 0 else f" {'dim' if j == 1 else 'italic'}")
                out.append(Series(f"{self._short(i)} {name}", steps, values, colour))
        return out

    def _short(self, i: int) -> str:
        return f"#{i + 1}"

    def refresh_runs(self, force: bool = False) -> None:
        any_changed = force
        boxes = list(self.query(".compare-run"))
        for tail, box in zip(self.tails, boxes):
            changed, sample_changed = tail.poll()
            any_changed |= changed
            if changed or force:
                box.border_subtitle = (f"#{self.tails.index(tail) + 1} {tail.meta.get('model', '?')} "
                                       f"{status_text(tail.status).markup} "
                                       f"{step_text(tail.step, tail.steps)}")
            if sample_changed:
                box.query_one(SamplePreview).reload()
        if any_changed:
            self.query_one(LossChart).draw(self.series())

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_ascii(self) -> None:
        for preview in self.query(SamplePreview):
            preview.set_colour(not preview.colour)
