"""A loss chart: textual-plot's PlotWidget, fed whole series and redrawn on demand."""

from __future__ import annotations

from dataclasses import dataclass

from textual.css.query import NoMatches
from textual_plot import HiResMode, LegendLocation, PlotWidget

from genbench.tui.run_tail import downsample

# Distinct on dark and light themes; runs in Compare take them in turn.
PALETTE = ["#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176",
           "#4db6ac", "#f06292", "#a1887f", "#90a4ae"]


@dataclass
class Series:
    label: str
    steps: list[int]
    values: list[float]
    colour: str


class LossChart(PlotWidget):
    """Line chart of one or more loss series against the step.

    Not focusable and without pan/zoom: its keys would crowd the screen's own
    keys out of the footer, and a live chart rescales itself anyway.
    """

    can_focus = False

    DEFAULT_CSS = """
    LossChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, legend: bool = False, **kwargs):
        super().__init__(allow_pan_and_zoom=False, **kwargs)
        self._legend = legend
        self._points = 0

    def on_mount(self) -> None:
        super().on_mount()
        # Small margins: at 80x24 every row counts.
        self.margin_top = 0
        self.margin_bottom = 1   # tick labels only; the x axis is always the step
        self.margin_left = 7

    def draw(self, series: list[Series]) -> None:
        """Replace what is drawn. Long histories are bucket-averaged to the width."""
        if not self.is_mounted:
            # Mounting is asynchronous and the plot's legend is not there until it
            # is done; a live view can ask to draw before that. Try again then.
            self.call_after_refresh(self.draw, series)
            return
        try:
            self._draw(series)
        except NoMatches:
            pass    # the chart is being taken down (its screen closed mid-refresh)

    def _draw(self, series: list[Series]) -> None:
        self.clear()
        limit = max(16, 2 * self.size.width)    # braille: two dots a cell
        self._points = 0
        xs: list[float] = []
        ys: list[float] = []
        for s in series:
            if not s.steps:
                continue
            x, y = downsample(s.steps, s.values, limit)
            self._points += len(x)
            xs.extend(float(v) for v in x)      # x, y may be numpy arrays
            ys.extend(float(v) for v in y)
            self.plot(x, y, line_style=s.colour, hires_mode=HiResMode.BRAILLE, label=s.label)
        self._frame(xs, ys)
        if self._legend and series:
            self.show_legend(LegendLocation.TOPRIGHT)

    def _frame(self, xs: list[float], ys: list[float]) -> None:
        """Autoscale, except around a single point (the first log line of a run),
        where autoscaling would stretch a zero-width range into ticks like
        49.9999995 50.0000000: show steps from 0 and the value with some room."""
        finite = [v for v in ys if v == v and abs(v) != float("inf")]
        if xs and min(xs) == max(xs):
            self.set_xlimits(0, max(xs) or 1)
        else:
            self.set_xlimits(None, None)
        if finite and min(finite) == max(finite):
            pad = abs(finite[0]) * 0.1 or 1.0
            self.set_ylimits(finite[0] - pad, finite[0] + pad)
        else:
            self.set_ylimits(None, None)

    @property
    def points(self) -> int:
        """How many points the chart currently holds (for tests)."""
        return self._points
