"""One chart alone, at the terminal's full size: Enter on a chart of the run view.

It shows what the chart it came from shows (the same series, step range and
options), follows that chart's redraws while the run goes on, and hands its options
(smoothing, log scale, hidden series) back on the way out, so what was set here
stays set there. Its x axis, zoom and cursor go back too, to every chart of the
screen it came from; here left and right move the cursor (there is no other chart
to move to), and the readout line under the chart says the values at it.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from genbench.tui.format import plain
from genbench.tui.widgets.header import Header
from genbench.tui.widgets.loss_chart import X_WALL, LossChart, readout_text

FOLLOW_S = 0.5  # as often as the run view polls


class ChartScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="back to all the charts"),
        Binding("q", "app.quit", "Quit", tooltip="quit (runs keep training)"),
    ]

    DEFAULT_CSS = """
    ChartScreen LossChart { height: 1fr; border: round $accent; }
    ChartScreen #chart-readout { height: auto; padding: 0 1; }
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
        chart = LossChart(
            legend=self.source.has_legend,
            integer=self.source.integer,
            focusable=True,
            id="chart-max",
        )
        chart.copy_options(self.source)
        chart.arrows_move_cursor = True  # no other chart here to move to
        chart.set_title(self._title())
        yield chart
        yield Static(id="chart-readout")
        yield Footer()

    def _title(self) -> Content:
        """The source chart's title as it was set (a loss name from metrics.jsonl,
        which the run view sets as Text: never read as markup)."""
        title = self.source.title
        if isinstance(title, Text):
            return Content.from_rich_text(title)
        if isinstance(title, str):
            return Content.from_markup(title)  # a str title is markup to Textual too
        return title or Content("")

    def on_mount(self) -> None:
        self.sub_title = plain(self._title().plain, 60)
        self.chart.focus()
        # Draw once the chart knows its size, then follow the source's redraws.
        self.call_after_refresh(self._follow)
        self.set_interval(FOLLOW_S, self._follow)

    def _follow(self) -> None:
        if self.source.generation != self._seen:
            self._seen = self.source.generation
            self.chart.draw(self.source.series, self.source.x_range, self.source.marks)
            self._show_readout()

    def on_loss_chart_view_changed(self, event: LossChart.ViewChanged) -> None:
        event.stop()
        self._show_readout()

    def _show_readout(self) -> None:
        chart = self.chart
        readout = self.query_one("#chart-readout", Static)
        cursor = chart.view.cursor
        readout.display = cursor is not None
        if cursor is not None:
            origins = [s.origin for s in chart.series if s.origin is not None]
            readout.update(
                readout_text(
                    cursor,
                    chart.readings(),
                    chart.marks_at(cursor),
                    origins[0] if len(set(origins)) == 1 else None,
                    chart.view.x_mode == X_WALL,
                )
            )

    def action_back(self) -> None:
        view_changed = self.source.view != self.chart.view
        self.source.copy_options(self.chart)
        if view_changed:
            # The screen it came from shares the view among its charts.
            self.source.post_message(LossChart.ViewChanged(self.source))
        self.app.pop_screen()
