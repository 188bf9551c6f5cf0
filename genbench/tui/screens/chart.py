"""One chart alone, at the terminal's full size: Enter on a chart of the run view.

It shows what the chart it came from shows (the same series, step range and
options), follows that chart's redraws while the run goes on, and hands its options
(smoothing, log scale, hidden series) back on the way out, so what was set here
stays set there.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header

from genbench.tui.format import plain
from genbench.tui.widgets.loss_chart import LossChart

FOLLOW_S = 0.5   # as often as the run view polls


class ChartScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="back to all the charts"),
        Binding("q", "app.quit", "Quit", tooltip="quit (runs keep training)"),
    ]

    DEFAULT_CSS = """
    ChartScreen LossChart { height: 1fr; border: round $accent; }
    """

    def __init__(self, source: LossChart) -> None:
        super().__init__()
        self.source = source
        self._seen = -1

    @property
    def chart(self) -> LossChart:
        return self.query_one("#chart-max", LossChart)

    def compose(self) -> ComposeResult:
        yield Header()
        chart = LossChart(legend=self.source.has_legend, integer=self.source.integer,
                          focusable=True, id="chart-max")
        chart.copy_options(self.source)
        # The title is the run view's (a loss name from metrics.jsonl): text, not markup.
        title = self.source.border_title
        chart.border_title = title if isinstance(title, Text) else Text(plain(str(title or "")))
        yield chart
        yield Footer()

    def on_mount(self) -> None:
        title = self.source.border_title
        self.sub_title = plain(title.plain if isinstance(title, Text) else str(title or ""), 60)
        self.chart.focus()
        # Draw once the chart knows its size, then follow the source's redraws.
        self.call_after_refresh(self._follow)
        self.set_interval(FOLLOW_S, self._follow)

    def _follow(self) -> None:
        if self.source.generation != self._seen:
            self._seen = self.source.generation
            self.chart.draw(self.source.series, self.source.x_range)

    def action_back(self) -> None:
        self.source.copy_options(self.chart)
        self.app.pop_screen()
