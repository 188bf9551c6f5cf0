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

As TensorBoard reads a chart (``ChartView``, shared by the charts of a screen
through ``ViewChanged``): the x axis by step, wall time or time since the run began
(`x`; a series' ``times`` say when each point was logged); a step range zoomed in
and out (`]`, `[`, `z`; the mouse wheel, a drag) that the cursor pans; a cursor
(`,` `.`, `<` `>`, `c`, a click) whose ``readings`` are every shown series' values
at its step; vertical marks at steps the run names (``draw(..., marks=)``: a
resume); and `w`, which writes what is plotted as CSV and SVG (``chart_export``).
A series may carry a glyph drawn along its line, so lines are told apart without
colour (Compare under NO_COLOR), and one series may be drawn last, on top.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from math import ceil, floor, isfinite, log10
from pathlib import Path

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.css.query import NoMatches
from textual.geometry import Region
from textual.message import Message
from textual_hires_canvas import Canvas
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


# A glyph per run along its line (Compare): told apart where colour does not show.
RUN_GLYPHS = "●▲■◆▼○△□◇▽"
GLYPHS_PER_LINE = 12  # columns between two glyphs on a line, about

# The x axis: the step, the wall-clock time of the log line, the time since the run's
# first log line (TensorBoard's STEP, WALL and RELATIVE).
X_STEP, X_WALL, X_RELATIVE = "step", "wall", "relative"
X_MODES = (X_STEP, X_WALL, X_RELATIVE)
X_CAPTIONS = {X_STEP: "", X_WALL: "x: wall time", X_RELATIVE: "x: relative time"}
CURSOR_JUMP = 10  # logged points `<` and `>` move the cursor
# The keys that read the x axis as steps or times (not on an axis of categories).
VIEW_ACTIONS = frozenset({"cycle_x", "zoom", "zoom_reset", "cursor", "toggle_cursor"})
ZOOM_MIN_POINTS = 3  # zooming in stops with this many logged steps in the range


@dataclass
class Series:
    label: str
    steps: list[int]
    values: list[float]
    colour: str
    kind: str = LINE
    marker: str = MARKER  # of POINTS: a shape a series tells them apart without colour
    # When each point was logged (seconds since the epoch, as metrics.jsonl's
    # "time"), for the time axes; None: the series is charted by step only.
    times: list[float] | None = None
    origin: float | None = None  # the run's first logged time (relative time's zero)
    glyph: str = ""  # of a LINE: drawn along it every few columns (Compare's runs)
    glyph_phase: float = 0.0  # where along the line the glyphs start, 0..1


@dataclass(frozen=True)
class ChartView:
    """How a chart is read, shared by the charts of a screen: the x axis, the step
    range zoomed to (both ends included; None: everything) and the cursor's step."""

    x_mode: str = X_STEP
    zoom: tuple[int, int] | None = None
    cursor: int | None = None


@dataclass(frozen=True)
class Reading:
    """A series' value at the cursor: the point at the cursor's step or the last one
    before it (``step`` says which), raw, and smoothed as drawn when smoothing is on."""

    label: str
    step: int
    value: float
    smoothed: float | None = None
    time: float | None = None


@dataclass
class _Part:
    """The points of one series inside the step range shown, and where they go on x."""

    steps: list[float]
    values: list[float]
    xs: list[float]
    index: list[int] = field(default_factory=list)  # their positions in the series


def value_text(v: float) -> str:
    return f"{v:.4g}" if isfinite(v) else ("nan" if v != v else f"{v}")


def readout_text(
    step: int | None,
    readings: Sequence[Reading],
    marks: Sequence[str] = (),
    origin: float | None = None,
    clock: bool = False,
) -> Text:
    """The cursor's line: its step (and when it was logged: the time since ``origin``,
    the clock too with ``clock``), each series' value there (``@step`` where it was
    read at an earlier step; ``~`` the smoothed value as drawn), and the marks at that
    step. Labels come from run folders: plain Text, never markup."""
    if step is None:
        return Text("")
    out = Text.assemble(("cursor ", "dim"), (f"step {step}", "bold"))
    t = next((r.time for r in readings if r.step == step and r.time is not None), None)
    if t is not None and isfinite(t):
        if clock:
            out.append(f" {clock_label(t, True)}", "dim")
        if origin is not None and isfinite(origin):
            out.append(f" +{duration_label(t - origin)}", "dim")
    for r in readings:
        out.append(" │ ", "dim")
        out.append(r.label)
        out.append(f" {value_text(r.value)}", "bold")
        if r.smoothed is not None:
            out.append(f" ~{value_text(r.smoothed)}", "dim")
        if r.step != step:
            out.append(f" @{r.step}", "dim")
    for label in marks:
        out.append(f" │ mark: {label}", "bold")
    return out


def run_clock(
    log_steps: Sequence[float],
    log_times: Sequence[float],
    created: str,
    started: float,
    resumed_at: int | None,
):
    """metrics.jsonl's "time" is the run's training time (seconds, counted on across
    resumes), not the clock: a function from it to the wall clock (epoch seconds).
    The part trained since the last resume (``resumed_at``, a step; None: never
    resumed) is anchored at run.json's ``started`` (when the current trainer began);
    earlier parts at its ``created`` (the first trainer's start, local time), so the
    time the run stood stopped shows as a gap. None where run.json tells neither."""
    from datetime import datetime

    try:
        first = datetime.fromisoformat(created).timestamp() if created else None
    except ValueError:
        first = None
    now_from = 0.0
    if resumed_at is not None:
        at = times_at([resumed_at], log_steps, log_times)
        now_from = at[0] if at else 0.0
    if not (isfinite(started) and started > 0):
        return None if first is None else (lambda t: first + t)
    if first is None or resumed_at is None:
        first = started - now_from

    def clock(t: float) -> float:
        return started + (t - now_from) if t > now_from else first + t

    return clock


def clock_times(tail, steps: Sequence[float]) -> tuple[list[float] | None, float | None]:
    """When each of ``steps`` of a followed run (a RunTail) was logged on the wall
    clock, and when the run began (relative time's zero): (None, None) where the
    log or run.json cannot tell."""
    history, meta = tail.history, tail.meta
    if meta is None:
        return None, None
    resumes = [step for step, _ in tail.marks]
    clock = run_clock(
        history.steps, history.times, meta.created, meta.started, max(resumes, default=None)
    )
    elapsed = times_at(steps, history.steps, history.times)
    if clock is None or elapsed is None:
        return None, None
    return [clock(t) for t in elapsed], clock(0.0)


def times_at(steps: Sequence[float], log_steps: Sequence[float], log_times: Sequence[float]):
    """When each step was logged: the log's times, read at ``steps`` (exactly at a
    logged step, interpolated between two). None when the log has no time."""
    import numpy as np

    xs = np.asarray(log_steps, dtype=float)
    ts = np.asarray(log_times, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ts)
    if not ok.any():
        return None
    xs, ts = xs[ok], ts[ok]
    order = np.argsort(xs, kind="stable")
    return [float(t) for t in np.interp(np.asarray(steps, dtype=float), xs[order], ts[order])]


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


# Seconds between time ticks: round minutes and hours, as a clock reads.
TIME_STEPS: tuple[float, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
TIME_STEPS += (7200, 10800, 21600, 43200, 86400, 172800, 604800)


def time_ticks(lo: float, hi: float, max_ticks: int, offset: float = 0.0) -> list[float]:
    """Ticks at round times (every 15 s, 5 min, 1 h, ...) inside [lo, hi], at most
    ``max_ticks``; ``offset``: seconds added before rounding (the local time zone, so
    a wall-time tick falls on the local hour)."""
    max_ticks = max(1, max_ticks)
    if not (hi > lo and isfinite(lo) and isfinite(hi)):
        return [lo] if isfinite(lo) else []
    fits = [t for t in TIME_STEPS if _count(lo + offset, hi + offset, t) <= max_ticks]
    step = fits[0] if fits else nice_step(lo, hi, max_ticks)
    first = ceil((lo + offset) / step - 1e-9)
    last = floor((hi + offset) / step + 1e-9)
    return [k * step - offset for k in range(first, last + 1)]


def duration_label(seconds: float) -> str:
    """A time since the run began, short: 45s, 12m, 1h30, 2d4h."""
    s = round(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{sign}{m}m{r:02d}" if r else f"{sign}{m}m"
    if s < 86400:
        h, r = divmod(s, 3600)
        return f"{sign}{h}h{r // 60:02d}" if r // 60 else f"{sign}{h}h"
    d, r = divmod(s, 86400)
    return f"{sign}{d}d{r // 3600}h" if r // 3600 else f"{sign}{d}d"


def clock_label(t: float, seconds: bool) -> str:
    """A wall time as the local clock says it: 14:05, or 14:05:30."""
    return time.strftime("%H:%M:%S" if seconds else "%H:%M", time.localtime(t))


def utc_offset(t: float) -> float:
    """The local time zone's offset from UTC at ``t``, in seconds."""
    return float(time.localtime(t).tm_gmtoff)


class TimeLabels(AxisFormatter):
    """Labels for a time axis: the local clock (wall time) or a duration (relative)."""

    def __init__(self, mode: str):
        self.mode = mode

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        offset = utc_offset(min_) if self.mode == X_WALL and isfinite(min_) else 0.0
        return time_ticks(min_, max_, max_ticks, offset)

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        if self.mode == X_RELATIVE:
            return [duration_label(t) for t in ticks]
        seconds = any(round(t) % 60 for t in ticks)
        return [clock_label(t, seconds) for t in ticks]


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

    Not textual-plot's free pan and zoom (a live chart rescales itself): a zoomed
    step range (ChartView) instead, the y axis always fitted to what is shown.
    Focusable when asked (the run view's chart pane): arrows, PageUp/PageDown and Tab
    move between charts and the pane scrolls to the focused one; the other keys act on
    the focused chart (and, through ViewChanged, the x axis, zoom and cursor on every
    chart of the screen).

    ``smoothing``: the EMA weight to start with (0: none); ``log_scale``: a log10 y
    axis to start with; ``maximisable``: Enter posts ``LossChart.Maximise`` for the
    screen to show this chart alone (off by default: a screen that does not handle
    it would leave the key doing nothing).
    """

    BINDINGS = [
        Binding("down,pagedown", "next_chart", "Next chart", show=False),
        Binding("up,pageup", "previous_chart", "Previous chart", show=False),
        # The next and previous chart too, or the cursor on a chart shown alone.
        Binding("right", "right", "Next chart", show=False),
        Binding("left", "left", "Previous chart", show=False),
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
        Binding(
            "x",
            "cycle_x",
            "X axis",
            show=False,
            tooltip="the x axis of every chart: step, wall time, time since the run began",
        ),
        Binding(
            "right_square_bracket",
            "zoom(1)",
            "Zoom in",
            show=False,
            key_display="]",
            tooltip="zoom every chart in to half the step range, around the cursor "
            "(the mouse: wheel up, or drag across a range)",
        ),
        Binding(
            "left_square_bracket",
            "zoom(-1)",
            "Zoom out",
            show=False,
            key_display="[",
            tooltip="zoom every chart out to twice the step range (wheel down)",
        ),
        Binding("z", "zoom_reset", "All steps", show=False, tooltip="zoom out to every step again"),
        Binding(
            "full_stop",
            "cursor(1)",
            "Cursor right",
            show=False,
            key_display=".",
            tooltip="move the cursor to the next logged step; the readout says every "
            "series' value there (a click puts it under the mouse)",
        ),
        Binding(
            "comma",
            "cursor(-1)",
            "Cursor left",
            show=False,
            key_display=",",
            tooltip="move the cursor to the previous logged step",
        ),
        Binding(
            "greater_than_sign",
            f"cursor({CURSOR_JUMP})",
            "Cursor 10 right",
            show=False,
            key_display=">",
            tooltip="move the cursor 10 logged steps right (a zoomed range follows it)",
        ),
        Binding(
            "less_than_sign",
            f"cursor(-{CURSOR_JUMP})",
            "Cursor 10 left",
            show=False,
            key_display="<",
            tooltip="move the cursor 10 logged steps left",
        ),
        Binding("c", "toggle_cursor", "Cursor", show=False, tooltip="show or hide the cursor"),
        Binding(
            "w",
            "export",
            "Export chart",
            show=False,
            tooltip="write the focused chart as plotted to a CSV and an SVG file in the "
            "current folder",
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

    class ViewChanged(Message):
        """The chart's x axis, zoom or cursor changed by the user: the screen gives
        its other charts the same view and shows the readout."""

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
        self.view = ChartView()
        self.marks: list[tuple[int, str]] = []  # (step, label): vertical marks
        self.front: str | None = None  # the label of the series drawn last, on top
        self.export_name = "chart"  # the start of an exported file's name
        self.export_dir: Path | None = None  # None: the current folder
        self.arrows_move_cursor = False  # a chart alone: arrows move the cursor
        self._base: tuple[float, float] | None = None  # every step, unzoomed
        self._plotted: dict[str, list[float]] = {}  # label -> the steps plotted
        self._plotted_xs: dict[str, list[float]] = {}  # label -> where they went on x
        self._glyphs: dict[str, int] = {}  # label -> glyphs drawn along its line
        self._lines: list[float] = []  # x of the marks and cursor drawn
        self._drag_from: int | None = None  # the step a mouse drag began at
        self._dragged = False

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
        if self._categories is None and self.view.x_mode != X_STEP:
            self.set_x_formatter(TimeLabels(self.view.x_mode))
        elif self._categories is None:
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

    def draw(
        self,
        series: list[Series],
        x_range: tuple[float, float] | None = None,
        marks: Sequence[tuple[int, str]] | None = None,
    ) -> None:
        """Replace what is drawn. Long histories are reduced to the width, keeping
        each bucket's lowest and highest value. ``x_range``: the step range to show
        (shared by the charts of a run); by default the series' own. ``marks``:
        (step, label) pairs drawn as vertical lines (a resume); None keeps them."""
        several = len(self._series) > 1
        self._series = list(series)
        self._x_range = x_range
        if marks is not None:
            self.marks = list(marks)
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
        self._plotted = {}
        self._plotted_xs = {}
        self._glyphs = {}
        self._base = x_range or step_range([s.steps for s in series])
        window = self.window
        shown = self._shown(series)
        parts = [self._part(np, s, window) for s in shown]
        raw = [downsample(p.xs, p.values, limit) for p in parts]  # type: ignore[arg-type]
        if self.log_scale:
            # Downsampling keeps each bucket's lowest value, so this is the lowest of all.
            lowest = _lowest(shown, [y for _, y in raw])
            if lowest is not None:
                self.log_scale = False
                self._set_y_formatter()
                self._show_options()
                self._refuse_log(*lowest)
        ys: list[float] = []
        xs: list[float] = []
        smoothers: dict[str, _Smoother] = {}
        glyph_lines: list = []
        for s, part, (x, y) in zip(shown, parts, raw, strict=True):
            self._points += len(x)
            self._plotted[s.label] = [float(v) for v in part.steps]
            self._plotted_xs[s.label] = [float(v) for v in part.xs]
            y = self._scaled(np, y)
            ys.extend(float(v) for v in y)
            xs.extend(float(v) for v in x)
            self._plot_one(np, s, part, x, y, limit, smoothers, glyph_lines)
        self._smoothers = smoothers  # series no longer drawn are forgotten
        self._frame(self._x_span(window, xs), ys, cols, rows)
        # Glyphs after every line, so no line covers another's glyphs.
        for s, x, y in glyph_lines:
            self._plot_glyphs(np, s, x, y)
        self._draw_lines(shown)
        if self._legend and shown:
            self.show_legend(LegendLocation.TOPRIGHT)

    def _shown(self, series: list[Series]) -> list[Series]:
        """The series drawn, in order, the one in front last (drawn over the others)."""
        shown = [s for s in series if s.label not in self.hidden and s.steps]
        return sorted(shown, key=lambda s: s.label == self.front)

    @property
    def window(self) -> tuple[float, float] | None:
        """The step range shown: the zoom inside every step, or every step."""
        base = self._base
        zoom = self.view.zoom
        if base is None or zoom is None or self._categories is not None:
            return base
        lo, hi = max(base[0], zoom[0]), min(base[1], zoom[1])
        return (lo, hi) if lo < hi else base

    def _part(self, np, s: Series, window: tuple[float, float] | None) -> _Part:
        steps = np.asarray(s.steps, dtype=float)
        values = np.asarray(s.values, dtype=float)
        if window is None or self.view.zoom is None:
            keep = np.arange(len(steps))
        else:
            keep = np.flatnonzero((steps >= window[0]) & (steps <= window[1]))
        xs = self._xs(np, s)
        return _Part(steps[keep], values[keep], xs[keep], keep)

    def _xs(self, np, s: Series):
        """Where a series' points go on the x axis (NaN: not drawn, no time logged)."""
        steps = np.asarray(s.steps, dtype=float)
        mode = self.view.x_mode
        if mode == X_STEP or self._categories is not None:
            return steps
        if s.times is None or len(s.times) != len(s.steps):
            return np.full(len(steps), np.nan)
        times = np.asarray(s.times, dtype=float)
        if mode == X_WALL:
            return times
        origin = s.origin
        if origin is None or not isfinite(origin):
            finite = times[np.isfinite(times)]
            origin = float(finite.min()) if len(finite) else 0.0
        return times - origin

    def _plot_one(
        self, np, s: Series, part: _Part, x, y, limit: int, smoothers, glyph_lines: list
    ) -> None:
        """One series onto the canvas: as points, a faint line, a marker, a line, or
        smoothed over its raw line (the line its glyphs go on, into ``glyph_lines``)."""
        finite = [
            (float(a), float(b))
            for a, b in zip(x, y, strict=True)
            if isfinite(float(a)) and isfinite(float(b))
        ]
        if s.kind == POINTS:
            # Unlabelled: the legend names the line these points are the seeds of.
            self.scatter(x, y, marker=s.marker, marker_style=s.colour)
            return
        if s.kind == FAINT:
            self.plot(x, y, line_style=f"dim {s.colour}", hires_mode=HiResMode.BRAILLE)
            return
        if len(finite) == 1:
            at = finite[0]
            marker = s.glyph or MARKER
            self.scatter([at[0]], [at[1]], marker=marker, marker_style=s.colour, label=s.label)
            self._markers.append((at[0], 10 ** at[1] if self.log_scale else at[1]))
            return
        if not self.smoothing:
            self.plot(x, y, line_style=s.colour, hires_mode=HiResMode.BRAILLE, label=s.label)
            glyph_lines.append((s, x, y))
            return
        # TensorBoard's way: the raw line faint behind, the smoothed one over it.
        # The smoothing runs on the series as given (the run view's history is at
        # most SERIES_MAX points however long the run, as TensorBoard smooths its
        # sampled points), incrementally, and is then downsampled like the raw
        # line; the y range is the raw line's, so its extremes stay in view.
        smoother = smoothers[s.label] = self._smoothers.get(s.label) or _Smoother()
        smooth = np.asarray(smoother.update(s.steps, s.values, self.smoothing), dtype=float)
        sx, sy = downsample(part.xs, smooth[part.index], limit)  # type: ignore[arg-type]
        self._smoothed_points += len(sx)
        sy = self._scaled(np, sy)
        self.plot(x, y, line_style=f"dim {s.colour}", hires_mode=HiResMode.BRAILLE)
        self.plot(sx, sy, line_style=s.colour, hires_mode=HiResMode.BRAILLE, label=s.label)
        glyph_lines.append((s, sx, sy))

    def _plot_glyphs(self, np, s: Series, x, y) -> None:
        """The series' glyph about every GLYPHS_PER_LINE columns along its line: at
        evenly spaced places across the x axis, shifted by the series' phase so that
        where lines overlap their glyphs fall side by side, each on the line's point
        nearest to the place."""
        if not s.glyph or self._limits is None:
            return
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if not len(ok):
            return
        cols, _ = self._plot_size()
        n = max(2, cols // GLYPHS_PER_LINE)
        x0, x1 = self._limits[0], self._limits[1]
        places = x0 + (np.arange(n) + s.glyph_phase) * (x1 - x0) / n
        places = places[(places >= x[ok].min()) & (places <= x[ok].max())]
        if not len(places):
            places = np.asarray([x[ok][0]])
        nearest = np.abs(x[ok][None, :] - places[:, None]).argmin(axis=1)
        at = sorted({int(ok[i]) for i in nearest})
        self.scatter(x[at], y[at], marker=s.glyph, marker_style=f"bold {s.colour}")
        self._glyphs[s.label] = len(at)

    def _x_span(
        self, window: tuple[float, float] | None, xs: list[float]
    ) -> tuple[float, float] | None:
        """The x range: the step range, or on a time axis the times of the points shown."""
        if self.view.x_mode == X_STEP or self._categories is not None:
            return window
        finite = [v for v in xs if isfinite(v)]
        if not finite:
            return None
        lo, hi = min(finite), max(finite)
        return (lo, hi) if lo < hi else (lo - 1, hi + 1)

    def step_to_x(self, step: float) -> float | None:
        """Where a step goes on the x axis: itself, or when it was logged (read off
        the first shown series with times)."""
        import numpy as np

        if self.view.x_mode == X_STEP or self._categories is not None:
            return float(step)
        for s in self._shown(self._series):
            xs = self._xs(np, s)
            steps = np.asarray(s.steps, dtype=float)
            ok = np.isfinite(xs) & np.isfinite(steps)
            if ok.sum() >= 1:
                return float(np.interp(step, steps[ok], xs[ok]))
        return None

    def x_to_step(self, x: float) -> float | None:
        """The step at a place on the x axis (the inverse of step_to_x)."""
        import numpy as np

        if self.view.x_mode == X_STEP or self._categories is not None:
            return float(x)
        for s in self._shown(self._series):
            xs = self._xs(np, s)
            steps = np.asarray(s.steps, dtype=float)
            ok = np.isfinite(xs) & np.isfinite(steps)
            if ok.sum() >= 1:
                order = np.argsort(xs[ok], kind="stable")
                return float(np.interp(x, xs[ok][order], steps[ok][order]))
        return None

    def _draw_lines(self, shown: list[Series]) -> None:
        """The marks (dim) and the cursor (bold) as vertical lines, where shown."""
        self._lines = []
        window = self.window
        if window is None or self._limits is None:
            return
        for step, _label in self.marks:
            if window[0] <= step <= window[1]:
                x = self.step_to_x(step)
                if x is not None:
                    self.add_v_line(x, line_style="dim")
                    self._lines.append(x)
        cursor = self.view.cursor
        if cursor is not None and shown and window[0] <= cursor <= window[1]:
            x = self.step_to_x(cursor)
            if x is not None:
                self.add_v_line(x, line_style="bold")
                self._lines.append(x)

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
        elif self.view.x_mode != X_STEP:
            # Clock labels are 5 characters (8 with seconds), durations up to 6.
            width = 11 if self.view.x_mode == X_WALL and x1 - x0 < 600 else 8
            offset = utc_offset(x0) if self.view.x_mode == X_WALL else 0.0
            self._x_tick_values = time_ticks(x0, x1, max(2, cols // width), offset)
        else:
            self._x_tick_values = nice_ticks(x0, x1, max(2, cols // label_width), integer=True)
        self.set_yticks(self._y_tick_values)
        self.set_xticks(self._x_tick_values)

    def _render_plot(self) -> None:
        # The library draws pixel by pixel and each pixel asks the canvas for a
        # repaint: one repaint for the whole chart halves the render (4.8 -> 2.4 ms of
        # CPU a chart at 200x60; it is on the event loop, between a key and its answer).
        try:
            canvas = self.query_one("#plot", Canvas)
        except NoMatches:  # not composed yet: the library's own early return
            super()._render_plot()
            return
        with canvas.batch_refresh():
            self._render_plot_now()

    def _render_plot_now(self) -> None:
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

    def action_right(self) -> None:
        if self.arrows_move_cursor:
            self.move_cursor(1)
        else:
            self.action_next_chart()

    def action_left(self) -> None:
        if self.arrows_move_cursor:
            self.move_cursor(-1)
        else:
            self.action_previous_chart()

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
        if self.view.x_mode != X_STEP:
            parts.append(X_CAPTIONS[self.view.x_mode])
        if self.view.zoom is not None:
            lo, hi = self.view.zoom
            parts.append(f"steps {lo}-{hi}")
        if self.view.cursor is not None:
            parts.append(f"cursor {self.view.cursor}")
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
        self.view = other.view
        self.marks = list(other.marks)
        self.front = other.front
        self.export_name, self.export_dir = other.export_name, other.export_dir
        if self.is_mounted:
            self._set_x_formatter()
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
        if action in VIEW_ACTIONS:
            return self._categories is None  # an axis of named values has no steps
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

    # -- the view: x axis, zoom, cursor -----------------------------------------------

    def set_view(self, view: ChartView) -> None:
        """Read the chart this way (the screen shares one view among its charts)."""
        if view == self.view:
            return
        mode_changed = view.x_mode != self.view.x_mode
        self.view = view
        if mode_changed and self.is_mounted:
            self._set_x_formatter()
        if self.is_mounted:
            self._show_options()
        self._redraw()

    def _change_view(self, view: ChartView) -> None:
        """The user changed the view here: redraw and tell the screen."""
        if view != self.view:
            self.set_view(view)
            self.post_message(self.ViewChanged(self))

    def logged_steps(self) -> list[int]:
        """The steps of the shown series, in order (where the cursor can stand)."""
        steps = {int(x) for s in self._shown(self._series) for x in s.steps if isfinite(float(x))}
        return sorted(steps)

    def move_cursor(self, delta: int) -> None:
        """The cursor ``delta`` logged steps on (from the newest step in view when
        there is none yet); a zoomed range moves along to keep it in view."""
        steps = self.logged_steps()
        if not steps:
            return
        window = self.window or (steps[0], steps[-1])
        cursor = self.view.cursor
        if cursor is None:
            inside = [x for x in steps if window[0] <= x <= window[1]] or steps
            at = steps.index(inside[-1])
        else:
            # From the cursor's own step, or from between the two it sits between.
            i = bisect_right(steps, cursor) - 1 if delta >= 0 else bisect_left(steps, cursor)
            at = max(0, min(len(steps) - 1, i + delta))
        self._change_view(self._panned(replace(self.view, cursor=steps[at])))

    def _panned(self, view: ChartView) -> ChartView:
        """The zoomed range moved (not resized) so that the cursor is inside it."""
        if view.zoom is None or view.cursor is None:
            return view
        lo, hi = view.zoom
        width = hi - lo
        if view.cursor < lo:
            lo, hi = view.cursor, view.cursor + width
        elif view.cursor > hi:
            lo, hi = view.cursor - width, view.cursor
        return replace(view, zoom=(lo, hi))

    def zoom(self, direction: int, around: float | None = None) -> None:
        """Half the step range (direction > 0) or twice it, keeping ``around`` (the
        cursor by default, else the middle) where it is on the axis."""
        base = self._base
        if base is None or self._categories is not None:
            return
        lo, hi = self.window or base
        centre = around if around is not None else self.view.cursor
        if centre is None or not lo <= centre <= hi:
            centre = (lo + hi) / 2
        factor = 0.5 if direction > 0 else 2.0
        new_lo = centre - (centre - lo) * factor
        new_hi = centre + (hi - centre) * factor
        self.zoom_to(new_lo, new_hi)

    def zoom_to(self, lo: float, hi: float) -> None:
        """Show the steps from ``lo`` to ``hi`` (whole steps, inside every step); all
        of them again when that is everything. Refused below ZOOM_MIN_POINTS steps."""
        base = self._base
        if base is None:
            return
        lo, hi = max(base[0], floor(min(lo, hi))), min(base[1], ceil(max(lo, hi)))
        if lo <= base[0] and hi >= base[1]:
            self._change_view(replace(self.view, zoom=None))
            return
        inside = [x for x in self.logged_steps() if lo <= x <= hi]
        if len(inside) < ZOOM_MIN_POINTS:
            self.notify(
                f"Zoomed in as far as it goes ({ZOOM_MIN_POINTS} logged steps).",
                severity="information",
            )
            return
        self._change_view(replace(self.view, zoom=(int(lo), int(hi))))

    def readings(self) -> list[Reading]:
        """Each shown series' value at the cursor's step, or at its last step before
        it; none before a series' first step, none without a cursor."""
        cursor = self.view.cursor
        if cursor is None:
            return []
        out = []
        for s in self._series:
            if s.label in self.hidden or not s.steps:
                continue
            i = bisect_right(s.steps, cursor) - 1
            if i < 0:
                continue
            smoother = self._smoothers.get(s.label) if self.smoothing else None
            smoothed = smoother.out[i] if smoother and i < len(smoother.out) else None
            t = s.times[i] if s.times is not None and i < len(s.times) else None
            out.append(Reading(s.label, int(s.steps[i]), float(s.values[i]), smoothed, t))
        return out

    def marks_at(self, step: int) -> list[str]:
        return [label for at, label in self.marks if at == step]

    def action_cycle_x(self) -> None:
        i = X_MODES.index(self.view.x_mode)
        self._change_view(replace(self.view, x_mode=X_MODES[(i + 1) % len(X_MODES)]))

    def action_zoom(self, direction: int) -> None:
        self.zoom(direction)

    def action_zoom_reset(self) -> None:
        self._change_view(replace(self.view, zoom=None))

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(delta)

    def action_toggle_cursor(self) -> None:
        if self.view.cursor is None:
            self.move_cursor(0)
        else:
            self._change_view(replace(self.view, cursor=None))

    def action_export(self) -> None:
        from genbench.tui.widgets.chart_export import export_chart

        folder = self.export_dir or Path.cwd()
        try:
            paths = export_chart(self, folder)
        except OSError as exc:
            message = exc.args[0] if isinstance(exc, FileExistsError) and exc.args else exc
            self.notify(f"The chart was not written: {message}", severity="error", markup=False)
            return
        self.notify(
            "\n".join(str(p) for p in paths), title="Chart written", markup=False, timeout=8
        )

    # -- the mouse: a click sets the cursor, a drag zooms to its range, the wheel zooms

    def _step_under(self, event: events.MouseEvent) -> float | None:
        """The step under the mouse, or None off the plot or with nothing drawn."""
        if self._limits is None:
            return None
        r = self._data_region()
        # From the screen: the event's own offsets are the inner canvas's.
        px = event.screen_x - self.content_region.x - self.margin_left
        if not r.x <= px < r.x + r.width or r.width < 1:
            return None
        x0, x1 = self._limits[0], self._limits[1]
        return self.x_to_step(x0 + (px + 0.5 - r.x) / r.width * (x1 - x0))

    def _nearest_step(self, step: float) -> int | None:
        steps = self.logged_steps()
        if not steps:
            return None
        i = bisect_left(steps, step)
        near = [steps[j] for j in (i - 1, i) if 0 <= j < len(steps)]
        return min(near, key=lambda x: abs(x - step))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        step = self._step_under(event) if event.button == 1 else None
        self._drag_from = None if step is None else round(step)
        self._dragged = False

    def on_mouse_up(self, event: events.MouseUp) -> None:
        start, self._drag_from = self._drag_from, None
        step = self._step_under(event)
        if start is None or step is None:
            return
        lo, hi = sorted((start, round(step)))
        window = self.window
        # A drag across at least two columns' worth of steps: zoom to it.
        cols, _ = self._plot_size()
        if window is not None and hi - lo >= 2 * (window[1] - window[0]) / max(1, cols):
            self._dragged = True
            self.zoom_to(lo, hi)

    def on_click(self, event: events.Click) -> None:
        if self._dragged:
            self._dragged = False
            return
        step = self._step_under(event)
        near = None if step is None else self._nearest_step(step)
        if near is not None:
            self._change_view(self._panned(replace(self.view, cursor=near)))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.zoom(1, self._step_under(event))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.zoom(-1, self._step_under(event))

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
    def plot_y_limits(self) -> tuple[float, float]:
        """The y range as plotted (log10 of the values on a log axis)."""
        return self._y_min, self._y_max

    @property
    def plot_y_ticks(self) -> list[float]:
        """The y ticks as plotted (log10 of the values on a log axis)."""
        return list(self._y_tick_values)

    def x_tick_labels(self) -> list[str]:
        if self._categories is not None and self._category_labels is not None:
            return self._category_labels.get_labels_for_ticks(self._x_tick_values)
        if self.view.x_mode != X_STEP:
            return TimeLabels(self.view.x_mode).get_labels_for_ticks(self._x_tick_values)
        return TickLabels(10).get_labels_for_ticks(self._x_tick_values)

    def y_tick_labels(self) -> list[str]:
        labels = LogTickLabels(10) if self.log_scale else TickLabels(10)
        return labels.get_labels_for_ticks(self._y_tick_values)

    def series_xs(self, series: Series):
        """Where each point of ``series`` goes on the x axis (numpy; NaN: nowhere)."""
        import numpy as np

        return self._xs(np, series)

    def smoothed_values(self, series: Series) -> list[float]:
        """The series smoothed as the chart smooths it (its EMA weight; raw at 0)."""
        if not self.smoothing:
            return list(series.values)
        return ema(series.values, self.smoothing)

    def plotted_steps(self, label: str) -> list[float]:
        """The steps of a series' points the last draw plotted (before thinning to
        the chart's width): every point inside the step range shown."""
        return list(self._plotted.get(label, []))

    def plotted_xs(self, label: str) -> list[float]:
        """Where the last draw put those points on the x axis (a step, a time)."""
        return list(self._plotted_xs.get(label, []))

    @property
    def drawn_order(self) -> list[str]:
        """The labels of the series drawn, in the order drawn (the last on top)."""
        return list(self._plotted)

    @property
    def drawn_lines(self) -> list[float]:
        """Where the vertical lines (marks, then the cursor) were drawn on x."""
        return list(self._lines)

    @property
    def glyphs(self) -> dict[str, int]:
        """How many glyphs each series' line carries (label -> count)."""
        return dict(self._glyphs)

    @property
    def markers(self) -> list[tuple[float, float]]:
        """Points drawn as markers (a series of a single point)."""
        return list(self._markers)
