"""Two or more runs side by side: loss curves overlaid, latest sample grids in a row."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.content import Content
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header

from genbench.tui.format import plain, status_text, step_text
from genbench.tui.run_tail import RunTail
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
                    box.border_title = Text(f"#{i + 1} {plain(tail.path.name, 60)}")
                    yield SamplePreview(tail.sample_path)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"comparing {len(self.tails)} runs"
        # Draw once the chart has its size, then keep polling.
        self.call_after_refresh(self.refresh_runs, True)
        self.set_interval(POLL_S, self.refresh_runs)

    def series(self) -> list[Series]:
        """Every loss of every run, each its own colour, labelled '#run loss'."""
        out: list[Series] = []
        for i, tail in enumerate(self.tails):
            for name, (steps, values) in tail.history.losses.items():
                out.append(Series(f"#{i + 1} {plain(name, 40)}", steps, values,
                                  PALETTE[len(out) % len(PALETTE)]))
        return out

    def refresh_runs(self, force: bool = False) -> None:
        any_changed = force
        boxes = list(self.query(".compare-run"))
        for tail, box in zip(self.tails, boxes, strict=False):
            changed, sample_changed = tail.poll()
            any_changed |= changed
            if changed or force:
                # Text, not markup: the model name comes from the run folder.
                status = status_text(tail.status)
                box.border_subtitle = Content.assemble(
                    plain(tail.meta.model if tail.meta else "?", 40), " ",
                    (status.plain, str(status.style)), f" {step_text(tail.step, tail.steps)}")
            if sample_changed:
                box.query_one(SamplePreview).reload()
        if any_changed:
            self.query_one(LossChart).draw(self.series())

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_ascii(self) -> None:
        for preview in self.query(SamplePreview):
            preview.set_colour(not preview.colour)
