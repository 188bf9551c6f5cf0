"""A loss chart: textual-plot's PlotWidget, fed whole series and redrawn on demand.

textual-plot's own autoscaling fits the range tight to the data, and a value at the
bottom of the range (or a step at its right end) lands on the axis line, which is
drawn over it: the lowest point of a falling loss, the newest and best value, was
never seen. So the chart frames itself: a padded y range, an x range that callers can
share between charts (one step range for all charts of a run), and evenly spaced
1/2/5 x 10^k ticks, as many as the chart's rows and columns hold without collisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil, floor, isfinite, log10

from textual.binding import Binding
from textual.css.query import NoMatches
from textual.geometry import Region
from textual_plot import HiResMode, LegendLocation, PlotWidget
from textual_plot.axis_formatter import AxisFormatter

from genbench.tui.run_tail import downsample

# Distinct on dark and light themes; runs in Compare take them in turn.
PALETTE = ["#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176",
           "#4db6ac", "#f06292", "#a1887f", "#90a4ae"]

MARKER = "●"    # a series of one point: a line needs two


@dataclass
class Series:
    label: str
    steps: list[int]
    values: list[float]
    colour: str


def _count(lo: float, hi: float, step: float) -> int:
    return floor(hi / step + 1e-9) - ceil(lo / step - 1e-9) + 1


def nice_step(lo: float, hi: float, max_ticks: int, integer: bool = False) -> float:
    """The smallest 1/2/5 x 10^k step with at most ``max_ticks`` multiples in [lo, hi]."""
    span = hi - lo
    max_ticks = max(1, max_ticks)
    if not span > 0 or not isfinite(span):
        return 1.0
    power = floor(log10(span / max_ticks)) - 1
    while True:
        for m in (1, 2, 5):
            step = m * 10.0 ** power
            if integer and step < 1:
                continue
            if _count(lo, hi, step) <= max_ticks:
                return step
        power += 1


def nice_ticks(lo: float, hi: float, max_ticks: int, integer: bool = False) -> list[float]:
    """Evenly spaced ticks (multiples of a 1/2/5 x 10^k step) inside [lo, hi]."""
    step = nice_step(lo, hi, max_ticks, integer)
    decimals = max(0, -floor(log10(step)))
    first = ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + 1e-9 * step:
        ticks.append(round(k * step, decimals) + 0.0)   # + 0.0: no "-0"
        k += 1
    return ticks


def padded_range(lo: float, hi: float, rows: int, integer: bool = False) -> tuple[float, float]:
    """A y range with room above and below the data, so the extremes are drawn
    inside the plot and never on its frame. A flat series gets a range around it."""
    if lo == hi:
        pad = 1.0 if integer else (abs(lo) * 0.1 or 1.0)
        return lo - pad, hi + pad
    span = hi - lo
    # At least 5% a side, and at least half a row: a braille row is a quarter cell.
    pad = span * max(0.05, 0.5 / max(1, rows))
    if integer:
        pad = max(pad, 0.5)
    return lo - pad, hi + pad


def step_range(all_steps: Sequence[Sequence[float]]) -> tuple[float, float] | None:
    """The step range that covers every series (for charts that share one x axis);
    around a single step, from 0 to it."""
    finite = [float(s) for steps in all_steps for s in steps if isfinite(float(s))]
    if not finite:
        return None
    lo, hi = min(finite), max(finite)
    if lo == hi:
        return 0.0, hi or 1.0
    return lo, hi


class TickLabels(AxisFormatter):
    """Labels for ticks that are multiples of one step: as many decimals as the step
    needs, and a short exponent form when the label would not fit the margin."""

    def __init__(self, width: int = 6):
        self.width = width

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return nice_ticks(min_, max_, max_ticks)

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        if not ticks:
            return []
        if len(ticks) == 1:
            return [f"{ticks[0]:.4g}"[: self.width]]
        step = ticks[1] - ticks[0]
        decimals = max(0, -floor(log10(step))) if step > 0 else 0
        labels = [f"{t:.{decimals}f}" for t in ticks]
        if any(len(label) > self.width for label in labels):
            labels = [f"{t:.2g}" for t in ticks]
        return labels


class LossChart(PlotWidget, inherit_bindings=False):
    """Line chart of one or more series against the step.

    Without pan/zoom (a live chart rescales itself). Focusable when asked (the run
    view's chart pane): arrows, PageUp/PageDown and Tab move between charts and the
    pane scrolls to the focused one.
    """

    BINDINGS = [
        Binding("down,pagedown,right", "next_chart", "Next chart", show=False),
        Binding("up,pageup,left", "previous_chart", "Previous chart", show=False),
    ]

    can_focus = False

    DEFAULT_CSS = """
    LossChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, legend: bool = False, integer: bool = False, focusable: bool = False,
                 **kwargs):
        super().__init__(allow_pan_and_zoom=False, **kwargs)
        self._legend = legend
        self.integer = integer          # a count: whole-number ticks
        self.can_focus = focusable
        self._points = 0
        self._limits: tuple[float, float, float, float] | None = None
        self._bounds: tuple[float, float, float, float] | None = None
        self._markers: list[tuple[float, float]] = []
        self._y_tick_values: list[float] = []
        self._x_tick_values: list[float] = []

    def on_mount(self) -> None:
        super().on_mount()
        # Small margins: at 80x24 every row counts.
        self.margin_top = 0
        self.margin_bottom = 1   # tick labels only; the x axis is always the step
        self.margin_left = 7
        labels = TickLabels(self.margin_left - 1)
        self.set_x_formatter(labels)
        self.set_y_formatter(labels)

    def draw(self, series: list[Series], x_range: tuple[float, float] | None = None) -> None:
        """Replace what is drawn. Long histories are reduced to the width, keeping
        each bucket's lowest and highest value. ``x_range``: the step range to show
        (shared by the charts of a run); by default the series' own."""
        if not self.is_mounted:
            # Mounting is asynchronous and the plot's legend is not there until it
            # is done; a live view can ask to draw before that. Try again then.
            self.call_after_refresh(self.draw, series, x_range)
            return
        try:
            self._draw(series, x_range)
        except NoMatches:
            pass    # the chart is being taken down (its screen closed mid-refresh)

    def _plot_size(self) -> tuple[int, int]:
        """Columns and rows inside the plot's frame."""
        cols = self.size.width - self.margin_left - 2
        rows = self.size.height - self.margin_top - self.margin_bottom - 2
        return max(1, cols), max(1, rows)

    def _draw(self, series: list[Series], x_range: tuple[float, float] | None) -> None:
        self.clear()
        cols, rows = self._plot_size()
        limit = max(16, 2 * cols)    # braille: two dots a cell
        self._points = 0
        self._markers = []
        ys: list[float] = []
        for s in series:
            if not s.steps:
                continue
            x, y = downsample(s.steps, s.values, limit)
            self._points += len(x)
            ys.extend(float(v) for v in y)
            finite = [(float(a), float(b)) for a, b in zip(x, y, strict=True)
                      if isfinite(float(a)) and isfinite(float(b))]
            if len(finite) == 1:
                self.scatter([finite[0][0]], [finite[0][1]], marker=MARKER,
                             marker_style=s.colour, label=s.label)
                self._markers.append(finite[0])
            else:
                self.plot(x, y, line_style=s.colour, hires_mode=HiResMode.BRAILLE,
                          label=s.label)
        self._frame(x_range or step_range([s.steps for s in series]), ys, cols, rows)
        if self._legend and series:
            self.show_legend(LegendLocation.TOPRIGHT)

    def _frame(self, x_range: tuple[float, float] | None, ys: list[float],
               cols: int, rows: int) -> None:
        finite = [v for v in ys if isfinite(v)]
        if x_range is None or not finite:
            self._bounds = None
            self._limits = None
            self.set_xticks(None)
            self.set_yticks(None)
            return
        x0, x1 = x_range
        if x0 == x1:
            x0, x1 = 0.0, x1 or 1.0
        self._bounds = (x0, x1, min(finite), max(finite))
        # The chart reports itself as autoscaled (it is, by the rules above); the
        # library's own fit is bypassed in _render_plot.
        self.set_xlimits(None, None)
        self.set_ylimits(None, None)
        self._fit(cols, rows)

    def _fit(self, cols: int, rows: int) -> None:
        """Limits and ticks for a plot of ``cols`` x ``rows`` cells (again at each
        render, so a resized chart gets as many ticks as it now holds)."""
        if self._bounds is None:
            return
        x0, x1, lo, hi = self._bounds
        y0, y1 = padded_range(lo, hi, rows, self.integer)
        self._limits = (x0, x1, y0, y1)
        self._x_min, self._x_max, self._y_min, self._y_max = self._limits
        # One tick every other row at most, so labels never overwrite each other;
        # x labels a few characters apart.
        self._y_tick_values = nice_ticks(y0, y1, max(2, (rows + 1) // 2), self.integer)
        label_width = max(len(f"{x0:.0f}"), len(f"{x1:.0f}")) + 3
        self._x_tick_values = nice_ticks(x0, x1, max(2, cols // label_width), integer=True)
        self.set_yticks(self._y_tick_values)
        self.set_xticks(self._x_tick_values)

    def _render_plot(self) -> None:
        if self._limits is None:
            super()._render_plot()
            return
        r = self._scale_rectangle
        if r.width > 1 and r.height > 0:
            self._fit(r.width - 1, r.height)
        flags = (self._auto_x_min, self._auto_x_max, self._auto_y_min, self._auto_y_max)
        self._auto_x_min = self._auto_x_max = self._auto_y_min = self._auto_y_max = False
        self._x_min, self._x_max, self._y_min, self._y_max = self._limits
        try:
            super()._render_plot()
        finally:
            self._auto_x_min, self._auto_x_max, self._auto_y_min, self._auto_y_max = flags

    def _data_region(self) -> Region:
        """Where data goes: inside the frame. The library maps the largest step onto
        the right-hand axis line, which hides the newest point; one column less."""
        r = self._scale_rectangle
        return Region(r.x, r.y, max(1, r.width - 1), r.height)

    def get_pixel_from_coordinate(self, x, y) -> tuple[int, int]:
        saved, self._scale_rectangle = self._scale_rectangle, self._data_region()
        try:
            return super().get_pixel_from_coordinate(x, y)
        finally:
            self._scale_rectangle = saved

    def get_hires_pixel_from_coordinate(self, x, y):
        saved, self._scale_rectangle = self._scale_rectangle, self._data_region()
        try:
            return super().get_hires_pixel_from_coordinate(x, y)
        finally:
            self._scale_rectangle = saved

    # -- moving between charts ---------------------------------------------------

    def action_next_chart(self) -> None:
        self.screen.focus_next(LossChart)

    def action_previous_chart(self) -> None:
        self.screen.focus_previous(LossChart)

    # -- what is drawn (for tests and callers) ------------------------------------

    @property
    def points(self) -> int:
        """How many points the chart currently holds (for tests)."""
        return self._points

    @property
    def x_limits(self) -> tuple[float, float]:
        return self._x_min, self._x_max

    @property
    def y_limits(self) -> tuple[float, float]:
        return self._y_min, self._y_max

    @property
    def y_ticks(self) -> list[float]:
        return list(self._y_tick_values)

    @property
    def x_ticks(self) -> list[float]:
        return list(self._x_tick_values)

    @property
    def markers(self) -> list[tuple[float, float]]:
        """Points drawn as markers (a series of a single point)."""
        return list(self._markers)
