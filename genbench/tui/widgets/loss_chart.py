"""A loss chart: textual-plot's PlotWidget, fed whole series and redrawn on demand.

textual-plot's own autoscaling fits the range tight to the data, and a value at the
bottom of the range (or a step at its right end) lands on the axis line, which is
drawn over it: the lowest point of a falling loss, the newest and best value, was
never seen. So the chart frames itself: a padded y range, an x range that callers can
share between charts (one step range for all charts of a run), and evenly spaced
1/2/5 x 10^k ticks, as many as the chart's rows and columns hold without collisions.

Per chart, on its keys: EMA smoothing with the raw line faint behind (TensorBoard's
debiased EMA), a log10 y axis for positive series, series shown or hidden by number,
and Enter to ask for the chart maximised (the screen that owns it decides).

The sweep screen also charts against named categories (``set_categories``: the
values of a swept parameter) and draws series as faint lines or markers
(``Series.kind``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil, floor, isfinite, log10

from rich.text import Text
from textual.binding import Binding
from textual.content import Content
from textual.css.query import NoMatches
from textual.geometry import Region
from textual.message import Message
from textual_plot import HiResMode, LegendLocation, PlotWidget
from textual_plot.axis_formatter import AxisFormatter

from genbench.tui.run_tail import downsample

# Distinct on dark and light themes; runs in Compare take them in turn.
PALETTE = [
    "#4fc3f7",
    "#ffb74d",
    "#81c784",
    "#e57373",
    "#ba68c8",
    "#fff176",
    "#4db6ac",
    "#f06292",
    "#a1887f",
    "#90a4ae",
]

MARKER = "●"  # a series of one point: a line needs two

# What `e` steps through; TensorBoard's default weight is 0.6.
SMOOTHING_PRESETS = (0.0, 0.6, 0.9, 0.99)
SMOOTHING_MAX = 0.99  # 1 would be a flat line at the first value
LOSS_SMOOTHING = 0.6  # the run view's default for losses (quality/counts: 0)
CHECK_TAIL = 8  # trailing points compared before smoothing only what is new


# How a series is drawn: a line; a faint line, never smoothed (the edges of a
# sweep configuration's min-max band); a marker a value (a sweep's seeds).
LINE, FAINT, POINTS = "line", "faint", "points"


@dataclass
class Series:
    label: str
    steps: list[int]
    values: list[float]
    colour: str
    kind: str = LINE
    marker: str = MARKER  # of POINTS: a shape a series tells them apart without colour


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
            step = m * 10.0**power
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
        ticks.append(round(k * step, decimals) + 0.0)  # + 0.0: no "-0"
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


def ema(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: s_t = w*s_{t-1} + (1-w)*x_t, divided by 1 - w^n (n the
    finite values so far), so the start is not pulled towards zero. A value that is
    not finite is passed through and leaves the average as it was."""
    smoother = _Smoother()
    return list(smoother.update([0] * len(values), values, weight))


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)  # NaN equals NaN here


class _Smoother:
    """The EMA of one series, kept between draws so a poll that adds k points costs
    k steps, not the whole history: what was smoothed before is reused while the
    series still starts the same way and its last few points are unchanged (a
    history that keeps min/max buckets rewrites its last bucket and sometimes
    merges all of them; either is seen here and smoothed again from the start)."""

    def __init__(self) -> None:
        self.weight = -1.0
        self.steps: list[float] = []
        self.values: list[float] = []
        self.out: list[float] = []
        self.state: list[tuple[float, int]] = []  # (running average, finite count)

    def _reusable(self, steps: Sequence[float], values: Sequence[float], weight: float) -> int:
        """How many of the points smoothed before still hold."""
        n = len(self.values)
        if (
            weight != self.weight
            or not n
            or len(values) < n - CHECK_TAIL
            or not _same(steps[0], self.steps[0])
            or not _same(values[0], self.values[0])
        ):
            return 0
        start = max(0, n - CHECK_TAIL)
        for i in range(start, min(n, len(values))):
            if not (_same(steps[i], self.steps[i]) and _same(values[i], self.values[i])):
                return i
        return min(n, len(values))

    def update(self, steps: Sequence[float], values: Sequence[float], weight: float) -> list[float]:
        keep = self._reusable(steps, values, weight)
        self.weight = weight
        del self.steps[keep:], self.values[keep:], self.out[keep:], self.state[keep:]
        last, count = self.state[-1] if self.state else (0.0, 0)
        for x, v in zip(steps[keep:], values[keep:], strict=True):
            v = float(v)
            if isfinite(v):
                last = last * weight + (1 - weight) * v
                count += 1
                self.out.append(last / (1 - weight**count))
            else:
                self.out.append(v)
            self.steps.append(x)
            self.values.append(v)
            self.state.append((last, count))
        return self.out


def log_ticks(lo: float, hi: float, max_ticks: int, integer: bool = False) -> list[float]:
    """Ticks for a log10 axis from 10**lo to 10**hi, as positions (log10 of the
    value): powers of ten, with 2 and 5 between them where there is room, every
    k-th power when there are too many; within a decade or so, where powers of ten
    give fewer than two ticks, evenly spaced values as on a linear axis."""
    max_ticks = max(2, max_ticks)
    k0, k1 = ceil(lo - 1e-9), floor(hi + 1e-9)
    decades = [float(k) for k in range(k0, k1 + 1)]
    if len(decades) > max_ticks:
        stride = ceil(len(decades) / max_ticks)
        picked = [k for k in decades if int(k) % stride == 0]
        if len(picked) > max_ticks:  # the multiples of stride can be one too many
            picked = picked[::2]
        return picked
    with_2_5 = sorted(
        k + log10(m)
        for k in range(k0 - 1, k1 + 1)
        for m in (1, 2, 5)
        if lo - 1e-9 <= k + log10(m) <= hi + 1e-9
    )
    if 2 <= len(with_2_5) <= max_ticks:
        return with_2_5
    if len(decades) >= 2:
        return decades
    linear = [t for t in nice_ticks(10**lo, 10**hi, max_ticks, integer) if t > 0]
    return [log10(t) for t in linear]


def short_number(v: float, width: int) -> str:
    """A tick value in its own units, short: 0.5, 20, 1000, 1e-5."""
    text = f"{v:.3g}"
    if "e" in text:
        text = f"{v:.6f}".rstrip("0").rstrip(".")
    if len(text) > width or text in ("0", "-0"):
        mantissa, exponent = f"{v:.1e}".split("e")
        text = f"{mantissa.removesuffix('.0')}e{int(exponent)}"
    return text


class LogTickLabels(AxisFormatter):
    """Labels for a log10 axis: the tick's value in the series' own units."""

    def __init__(self, width: int = 6):
        self.width = width

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return log_ticks(min_, max_, max_ticks)

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return [short_number(10**t, self.width) for t in ticks]


class CategoryLabels(AxisFormatter):
    """Labels for an x axis of categories at 0, 1, 2, ...: each one's name (a sweep's
    values of one parameter), cut to what a tick's share of the width holds."""

    def __init__(self, names: Sequence[str], width: int = 12):
        self.names = list(names)
        self.width = width

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return [float(i) for i in range(len(self.names)) if min_ <= i <= max_]

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        out = []
        for t in ticks:
            i = round(t)
            out.append(self.names[i][: self.width] if 0 <= i < len(self.names) else "")
        return out


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


def _lowest(
    series: Sequence[Series], values: Sequence[Sequence[float]]
) -> tuple[str, float] | None:
    """The first series with a finite value at or below zero, and its lowest value
    (what a log axis cannot show); None when every series is above zero."""
    for s, vs in zip(series, values, strict=True):
        finite = [float(v) for v in vs if isfinite(float(v))]
        if finite and min(finite) <= 0:
            return s.label, min(finite)
    return None


CHART_ROWS = 10  # rows a chart needs to be read well: as many as fit are shown at once
CHART_ROWS_MIN = 8  # three plot rows at least; a pane of charts scrolls to the others


def chart_height(n: int, rows: int) -> int:
    """Each chart's height when ``n`` charts one below the other share a pane ``rows``
    high: as many as fit at a readable height are seen at once (three at 120x40),
    one at a time on a small terminal."""
    per_screen = max(1, min(n, rows // CHART_ROWS))
    return max(CHART_ROWS_MIN, rows // per_screen)


class LossChart(PlotWidget, inherit_bindings=False):
    """Line chart of one or more series against the step.

    Without pan/zoom (a live chart rescales itself). Focusable when asked (the run
    view's chart pane): arrows, PageUp/PageDown and Tab move between charts and the
    pane scrolls to the focused one; the other keys act on the focused chart.

    ``smoothing``: the EMA weight to start with (0: none); ``log_scale``: a log10 y
    axis to start with; ``maximisable``: Enter posts ``LossChart.Maximise`` for the
    screen to show this chart alone (off by default: a screen that does not handle
    it would leave the key doing nothing).
    """

    BINDINGS = [
        Binding("down,pagedown,right", "next_chart", "Next chart", show=False),
        Binding("up,pageup,left", "previous_chart", "Previous chart", show=False),
        Binding(
            "enter",
            "maximise",
            "Maximise",
            show=False,
            tooltip="show the focused chart alone, at full size (esc comes back)",
        ),
        Binding(
            "e",
            "cycle_smoothing",
            "Smoothing",
            show=False,
            tooltip="smooth the focused chart: EMA weight 0, 0.6, 0.9, 0.99 "
            "(the raw line stays faint behind)",
        ),
        Binding(
            "plus,equals_sign",
            "smoothing(1)",
            "Smoother",
            show=False,
            key_display="+",
            tooltip="smooth the focused chart more (EMA weight +0.1)",
        ),
        Binding(
            "minus",
            "smoothing(-1)",
            "Rougher",
            show=False,
            key_display="-",
            tooltip="smooth the focused chart less (EMA weight -0.1)",
        ),
        Binding(
            "l",
            "toggle_log",
            "Log scale",
            show=False,
            tooltip="log scale on the focused chart's y axis (values above zero only)",
        ),
        Binding(
            "1",
            "toggle_series(1)",
            "Show/hide series",
            show=False,
            key_display="1-9",
            tooltip="show or hide series 1-9 of the focused chart (in the legend's order)",
        ),
        *[Binding(str(i), f"toggle_series({i})", show=False) for i in range(2, 10)],
        Binding(
            "0",
            "show_all",
            "Show all series",
            show=False,
            tooltip="show every series of the focused chart again",
        ),
    ]

    can_focus = False

    DEFAULT_CSS = """
    LossChart { height: 1fr; min-height: 6; }
    """

    class Maximise(Message):
        """Enter on a maximisable chart: show it alone."""

        def __init__(self, chart: LossChart) -> None:
            super().__init__()
            self.chart = chart

    def __init__(
        self,
        legend: bool = False,
        integer: bool = False,
        focusable: bool = False,
        smoothing: float = 0.0,
        log_scale: bool = False,
        maximisable: bool = False,
        **kwargs,
    ):
        super().__init__(allow_pan_and_zoom=False, **kwargs)
        self._legend = legend
        self.integer = integer  # a count: whole-number ticks
        self.can_focus = focusable
        self.maximisable = maximisable
        self.smoothing = min(SMOOTHING_MAX, max(0.0, smoothing))
        self.log_scale = log_scale
        self.hidden: set[str] = set()  # labels of the series not drawn
        self.generation = 0  # counts draws: a maximised copy follows them
        self._series: list[Series] = []
        self._x_range: tuple[float, float] | None = None
        self._smoothers: dict[str, _Smoother] = {}
        self._points = 0
        self._smoothed_points = 0
        self._limits: tuple[float, float, float, float] | None = None
        self._bounds: tuple[float, float, float, float] | None = None
        self._markers: list[tuple[float, float]] = []
        self._y_tick_values: list[float] = []
        self._x_tick_values: list[float] = []
        self._title: Text | Content | str | None = None
        self._caption: Text | Content | str | None = None
        self._categories: list[str] | None = None  # x is 0..n-1, named by these
        self._category_labels: CategoryLabels | None = None

    def on_mount(self) -> None:
        super().on_mount()
        # Small margins: at 80x24 every row counts.
        self.margin_top = 0
        self.margin_bottom = 1  # tick labels only; the x axis is always the step
        self.margin_left = 7
        self._set_x_formatter()
        self._set_y_formatter()
        self._show_options()

    def set_categories(self, names: Sequence[str] | None) -> None:
        """An x axis of named categories at 0, 1, ... n-1 (None: steps again)."""
        self._categories = None if names is None else [str(n) for n in names]
        if self.is_mounted:
            self._set_x_formatter()

    def _set_x_formatter(self) -> None:
        if self._categories is None:
            self.set_x_formatter(TickLabels(self.margin_left - 1))
        else:
            self._category_labels = CategoryLabels(self._categories)
            self.set_x_formatter(self._category_labels)

    def _set_y_formatter(self) -> None:
        width = self.margin_left - 1
        self.set_y_formatter(LogTickLabels(width) if self.log_scale else TickLabels(width))

    # The border is the chart's to compose: screens give it a title and a caption
    # through these, never through border_title/border_subtitle (which would wipe
    # the options shown there).

    @property
    def title(self) -> Text | Content | str | None:
        """The border title as it was set (a str is markup, as Textual reads it).
        Kept as given: Textual hands a title back as markup, which does not always
        read back as the same text (a trailing backslash doubles), and a maximised
        copy of the chart needs the same title."""
        return self._title

    def set_title(self, title: Text | Content | str | None) -> None:
        self._title = title
        self.border_title = title

    @property
    def caption(self) -> Text | Content | str | None:
        """What the screen shows after the chart's options in the border's subtitle
        (Compare names its runs there)."""
        return self._caption

    def set_caption(self, caption: Text | Content | str | None) -> None:
        self._caption = caption
        self._show_options()

    @property
    def has_legend(self) -> bool:
        return self._legend

    @property
    def series(self) -> list[Series]:
        """What was last given to draw (all of it, hidden series too)."""
        return list(self._series)

    @property
    def x_range(self) -> tuple[float, float] | None:
        return self._x_range

    def draw(self, series: list[Series], x_range: tuple[float, float] | None = None) -> None:
        """Replace what is drawn. Long histories are reduced to the width, keeping
        each bucket's lowest and highest value. ``x_range``: the step range to show
        (shared by the charts of a run); by default the series' own."""
        several = len(self._series) > 1
        self._series = list(series)
        self._x_range = x_range
        self.generation += 1
        if several != (len(self._series) > 1):
            self.refresh_bindings()  # the series keys come or go (check_action)
        self._redraw()

    def _redraw(self) -> None:
        if not self.is_mounted:
            # Mounting is asynchronous and the plot's legend is not there until it
            # is done; a live view can ask to draw before that. Try again then.
            self.call_after_refresh(self._redraw)
            return
        try:
            self._draw(self._series, self._x_range)
        except NoMatches:
            pass  # the chart is being taken down (its screen closed mid-refresh)

    def _plot_size(self) -> tuple[int, int]:
        """Columns and rows inside the plot's frame."""
        cols = self.size.width - self.margin_left - 2
        rows = self.size.height - self.margin_top - self.margin_bottom - 2
        return max(1, cols), max(1, rows)

    def _draw(self, series: list[Series], x_range: tuple[float, float] | None) -> None:
        import numpy as np  # here, not at the top, as run_tail's downsample does

        self.clear()
        cols, rows = self._plot_size()
        limit = max(16, 2 * cols)  # braille: two dots a cell
        self._points = 0
        self._smoothed_points = 0
        self._markers = []
        shown = [s for s in series if s.label not in self.hidden and s.steps]
        raw = [downsample(s.steps, s.values, limit) for s in shown]
        if self.log_scale:
            # Downsampling keeps each bucket's lowest value, so this is the lowest of all.
            lowest = _lowest(shown, [y for _, y in raw])
            if lowest is not None:
                self.log_scale = False
                self._set_y_formatter()
                self._show_options()
                self._refuse_log(*lowest)
        ys: list[float] = []
        smoothers: dict[str, _Smoother] = {}
        for s, (x, y) in zip(shown, raw, strict=True):
            self._points += len(x)
            y = self._scaled(np, y)
            ys.extend(float(v) for v in y)
            finite = [
                (float(a), float(b))
                for a, b in zip(x, y, strict=True)
                if isfinite(float(a)) and isfinite(float(b))
            ]
            if s.kind == POINTS:
                # Unlabelled: the legend names the line these points are the seeds of.
                self.scatter(x, y, marker=s.marker, marker_style=s.colour)
                continue
            if s.kind == FAINT:
                self.plot(x, y, line_style=f"dim {s.colour}", hires_mode=HiResMode.BRAILLE)
                continue
            if len(finite) == 1:
                at = finite[0]
                self.scatter([at[0]], [at[1]], marker=MARKER, marker_style=s.colour, label=s.label)
                self._markers.append((at[0], 10 ** at[1] if self.log_scale else at[1]))
                continue
            if not self.smoothing:
                self.plot(x, y, line_style=s.colour, hires_mode=HiResMode.BRAILLE, label=s.label)
                continue
            # TensorBoard's way: the raw line faint behind, the smoothed one over it.
            # The smoothing runs on the series as given (the run view's history is at
            # most SERIES_MAX points however long the run, as TensorBoard smooths its
            # sampled points), incrementally, and is then downsampled like the raw
            # line; the y range is the raw line's, so its extremes stay in view.
            smoother = smoothers[s.label] = self._smoothers.get(s.label) or _Smoother()
            smooth = smoother.update(s.steps, s.values, self.smoothing)
            sx, sy = downsample(s.steps, smooth, limit)
            self._smoothed_points += len(sx)
            self.plot(x, y, line_style=f"dim {s.colour}", hires_mode=HiResMode.BRAILLE)
            self.plot(
                sx,
                self._scaled(np, sy),
                line_style=s.colour,
                hires_mode=HiResMode.BRAILLE,
                label=s.label,
            )
        self._smoothers = smoothers  # series no longer drawn are forgotten
        self._frame(x_range or step_range([s.steps for s in series]), ys, cols, rows)
        if self._legend and shown:
            self.show_legend(LegendLocation.TOPRIGHT)

    def _scaled(self, np, y):
        """The values as plotted: log10 of them on a log axis."""
        if not self.log_scale:
            return y
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(np.asarray(y, dtype=float))

    def _refuse_log(self, label: str, value: float) -> None:
        self.notify(
            f"{label} goes down to {value:.4g}: a log scale shows only values above "
            "zero (a WGAN's losses are negative).",
            title="No log scale",
            severity="warning",
            markup=False,
        )

    def _frame(
        self, x_range: tuple[float, float] | None, ys: list[float], cols: int, rows: int
    ) -> None:
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
        # On a log axis the range is in decades: a count's half-step pad is not.
        y0, y1 = padded_range(lo, hi, rows, self.integer and not self.log_scale)
        self._limits = (x0, x1, y0, y1)
        self._x_min, self._x_max, self._y_min, self._y_max = self._limits
        # One tick every other row at most, so labels never overwrite each other;
        # x labels a few characters apart.
        if self.log_scale:  # positions are log10 of the values; labels say the values
            self._y_tick_values = log_ticks(y0, y1, max(2, (rows + 1) // 2), self.integer)
        else:
            self._y_tick_values = nice_ticks(y0, y1, max(2, (rows + 1) // 2), self.integer)
        label_width = max(len(f"{x0:.0f}"), len(f"{x1:.0f}")) + 3
        if self._categories is not None:
            n = len(self._categories)
            self._x_tick_values = [float(i) for i in range(n)]
            # Each name gets its share of the width (what ticks n apart leave between them).
            if self._category_labels is not None:
                self._category_labels.width = max(3, cols // max(1, n) - 1)
        else:
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

    # -- options: smoothing, log scale, series shown --------------------------------

    def _show_options(self) -> None:
        """The options in force, in the border's subtitle (none: no subtitle)."""
        parts = []
        if self.smoothing:
            parts.append(f"EMA {self.smoothing:g}")
        if self.log_scale:
            parts.append("log")
        if self.hidden:
            parts.append(f"{len(self.hidden)} hidden")
        caption = self._caption
        if isinstance(caption, Text):
            caption = Content.from_rich_text(caption)
        elif isinstance(caption, str):
            caption = Content.from_markup(caption)  # as Textual reads a str subtitle
        pieces = [p for p in (Content(" · ".join(parts)), caption) if p]
        self.border_subtitle = Content("  ").join(pieces) if pieces else None

    def set_smoothing(self, weight: float) -> None:
        """The EMA weight, from 0 (raw only) to 0.99."""
        self.smoothing = round(min(SMOOTHING_MAX, max(0.0, weight)), 2)
        self._show_options()
        self._redraw()

    def set_log(self, on: bool) -> bool:
        """A log10 y axis, refused (with a notification) unless every value shown is
        above zero. True when the axis is now as asked."""
        if on and not self.log_scale:
            shown = [s for s in self._series if s.label not in self.hidden and s.steps]
            lowest = _lowest(shown, [s.values for s in shown])
            if lowest is not None:
                self._refuse_log(*lowest)
                return False
        self.log_scale = on
        self._set_y_formatter()
        self._show_options()
        self._redraw()
        return True

    def toggle_series(self, number: int) -> bool:
        """Hide series ``number`` (1 is the first) or show it again. The last one
        shown stays: an empty chart says nothing. True when something changed."""
        if not 1 <= number <= len(self._series):
            self.notify(f"This chart has {len(self._series)} series.", severity="warning")
            return False
        label = self._series[number - 1].label
        if label in self.hidden:
            self.hidden.discard(label)
        elif len({s.label for s in self._series} - self.hidden) <= 1:
            self.notify("The last series shown stays shown.", severity="warning")
            return False
        else:
            self.hidden.add(label)
        self._show_options()
        self._redraw()
        return True

    def show_all(self) -> None:
        self.hidden.clear()
        self._show_options()
        self._redraw()

    def copy_options(self, other: LossChart) -> None:
        """Take another chart's smoothing, scale and hidden series (a maximised copy
        and the chart it came from share them)."""
        self.smoothing, self.log_scale = other.smoothing, other.log_scale
        self.hidden = set(other.hidden)
        if self.is_mounted:
            self._set_y_formatter()
            self._show_options()
            self._redraw()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Keys that would do nothing here are left out of the footer and of `?`:
        # Enter where no screen shows the chart alone, 0-9 on a chart of one series.
        if action == "maximise":
            return self.maximisable
        if action in ("toggle_series", "show_all"):
            return len(self._series) > 1
        return True

    def action_cycle_smoothing(self) -> None:
        later = [w for w in SMOOTHING_PRESETS if w > self.smoothing + 1e-9]
        self.set_smoothing(later[0] if later else SMOOTHING_PRESETS[0])

    def action_smoothing(self, direction: int) -> None:
        self.set_smoothing(self.smoothing + 0.1 * direction)

    def action_toggle_log(self) -> None:
        self.set_log(not self.log_scale)

    def action_toggle_series(self, number: int) -> None:
        self.toggle_series(number)

    def action_show_all(self) -> None:
        self.show_all()

    def action_maximise(self) -> None:
        if self.maximisable:
            self.post_message(self.Maximise(self))

    # -- what is drawn (for tests and callers) ------------------------------------

    @property
    def points(self) -> int:
        """How many data points the chart currently draws (for tests)."""
        return self._points

    @property
    def smoothed_points(self) -> int:
        """How many points its smoothed lines have (0: not smoothed)."""
        return self._smoothed_points

    @property
    def x_limits(self) -> tuple[float, float]:
        return self._x_min, self._x_max

    @property
    def y_limits(self) -> tuple[float, float]:
        """The y range shown, in the series' units (on a log axis too)."""
        if self.log_scale:
            return 10**self._y_min, 10**self._y_max
        return self._y_min, self._y_max

    @property
    def y_ticks(self) -> list[float]:
        """The y ticks, in the series' units (on a log axis too)."""
        if self.log_scale:
            return [float(f"{10**t:.6g}") for t in self._y_tick_values]
        return list(self._y_tick_values)

    @property
    def x_ticks(self) -> list[float]:
        return list(self._x_tick_values)

    @property
    def markers(self) -> list[tuple[float, float]]:
        """Points drawn as markers (a series of a single point)."""
        return list(self._markers)
