"""Charts you can trust, round 2: EMA smoothing with the raw line behind it (and the raw
extremes still in range), a log scale refused for series at or below zero, series shown
and hidden, Enter maximising a chart of the run view, C to clone, and all of it with
NO_COLOR=1. Assertions are on the data the charts hold, not on pixels."""

from __future__ import annotations

import json
import math

import pytest
from textual.app import App

from genbench.tui.app import GenbenchApp
from genbench.tui.screens.chart import ChartScreen
from genbench.tui.screens.run import RunScreen
from genbench.tui.widgets.loss_chart import LossChart, Series, _Smoother, ema, log_ticks
from tests.tui.test_chart_axes import open_run, wgan_gp_run
from tests.tui_support import wait_for


def told(app) -> list[str]:
    return [n.message for n in app._notifications]


# -- EMA --------------------------------------------------------------------------------


def test_ema_is_tensorboards_debiased_average():
    w = 0.6
    # By hand: the running average starts at 0 and is divided by 1 - w^n, so the
    # first smoothed value is the first value itself, not 40% of it.
    a1 = (1 - w) * 1.0
    a2 = w * a1 + (1 - w) * 2.0
    a3 = w * a2 + (1 - w) * 3.0
    expected = [a1 / (1 - w), a2 / (1 - w**2), a3 / (1 - w**3)]
    assert ema([1.0, 2.0, 3.0], w) == pytest.approx(expected)
    assert expected[0] == pytest.approx(1.0) and expected[1] == pytest.approx(1.625)
    assert ema([4.0, 5.0], 0.0) == [4.0, 5.0], "weight 0 is the raw series"
    # A NaN is passed through and does not count: the next value is debiased by n=2.
    out = ema([1.0, float("nan"), 2.0], w)
    assert math.isnan(out[1]) and out[2] == pytest.approx(1.625)


def test_smoothing_again_after_new_points_gives_the_same_as_from_scratch():
    values = [math.sin(i / 3) + (i % 7) * 0.1 for i in range(300)]
    steps = list(range(300))
    smoother = _Smoother()
    smoother.update(steps[:100], values[:100], 0.9)
    assert smoother.update(steps[:250], values[:250], 0.9) == pytest.approx(ema(values[:250], 0.9))
    # The last point rewritten (a min/max history's open bucket) and more added.
    changed = values[:249] + [5.0] + values[250:]
    assert smoother.update(steps, changed, 0.9) == pytest.approx(ema(changed, 0.9))
    # Merged buckets: a shorter series than before is smoothed from the start.
    halved = values[::2]
    assert smoother.update(steps[::2], halved, 0.9) == pytest.approx(ema(halved, 0.9))
    assert smoother.update(steps[::2], halved, 0.6) == pytest.approx(ema(halved, 0.6))


class OneChart(App):
    def __init__(self, **options):
        super().__init__()
        self.options = options

    def compose(self):
        yield LossChart(legend=True, focusable=True, **self.options)


async def test_smoothing_keeps_the_raw_extremes_in_range_and_the_raw_line_behind():
    steps = list(range(0, 2000, 10))
    values = [1.0 + 0.1 * math.sin(i) for i in range(len(steps))]
    values[50] = 9.0  # one spike, which an EMA of 0.9 flattens to about 1.8
    values[120] = -3.0
    app = OneChart(smoothing=0.9)
    async with app.run_test(size=(80, 16)) as pilot:
        chart = app.query_one(LossChart)
        chart.draw([Series("g", steps, values, "#4fc3f7")])
        await pilot.pause()
        assert max(ema(values, 0.9)) < 3, "the smoothed line alone would hide the spike"
        lo, hi = chart.y_limits
        assert lo < -3.0 and 9.0 < hi, "the raw extremes stay in range"
        raw_only = LossChart()
        assert "EMA 0.9" in str(chart.border_subtitle)
        raw_points = chart.points
        assert raw_points and chart.smoothed_points, "the raw and the smoothed line"
        chart.set_smoothing(0)
        await pilot.pause()
        assert chart.points == raw_points and chart.smoothed_points == 0
        assert not chart.border_subtitle
        assert raw_only.smoothing == 0, "a chart is raw unless asked (compare's default)"


async def test_e_cycles_the_smoothing_of_the_focused_chart():
    app = OneChart()
    async with app.run_test(size=(80, 16)) as pilot:
        chart = app.query_one(LossChart)
        chart.draw([Series("g", list(range(50)), [float(i % 5) for i in range(50)], "red")])
        chart.focus()
        seen = []
        for _ in range(5):
            await pilot.press("e")
            seen.append(chart.smoothing)
        assert seen == [0.6, 0.9, 0.99, 0.0, 0.6]
        await pilot.press("minus")
        assert chart.smoothing == 0.5
        await pilot.press("plus", "plus", "plus", "plus", "plus", "plus")
        assert chart.smoothing == 0.99


# -- log scale --------------------------------------------------------------------------


async def test_log_scale_has_power_of_ten_ticks_in_the_values_units():
    steps = list(range(100))
    values = [100.0 * 10 ** (-i / 20) for i in steps]  # 100 down to about 1.1e-3
    app = OneChart()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(LossChart)
        chart.draw([Series("gp", steps, values, "#4fc3f7")])
        await pilot.pause()
        linear_ticks = chart.y_ticks
        assert chart.set_log(True)
        await pilot.press("l", "l")  # the key toggles it off and on again
        await pilot.pause()
        assert chart.log_scale
        ticks = chart.y_ticks
        assert len(ticks) >= 3 and ticks != linear_ticks
        for t in ticks:
            mantissa = t / 10 ** math.floor(math.log10(t) + 1e-9)
            assert round(mantissa, 6) in (1, 2, 5), ticks
        powers = [t for t in ticks if math.log10(t) == round(math.log10(t))]
        assert len(powers) >= 3, f"powers of ten among {ticks}"
        lo, hi = chart.y_limits
        assert lo < min(values) and max(values) < hi
        assert "log" in str(chart.border_subtitle)


def test_log_ticks_within_a_decade_are_plain_values_and_whole_for_counts():
    # 0.3 to 0.45 holds no 1, 2 or 5 x 10^k: evenly spaced values instead.
    ticks = [round(10**t, 6) for t in log_ticks(math.log10(0.3), math.log10(0.45), 4)]
    assert ticks == [0.3, 0.35, 0.4, 0.45]
    counts = [round(10**t, 6) for t in log_ticks(math.log10(4.8), math.log10(7.2), 5, True)]
    assert counts == [5, 6, 7], "modes covered on a log axis: whole numbers"


async def test_log_scale_is_refused_for_a_series_with_a_negative_value():
    steps = list(range(0, 1100, 50))
    values = [-0.5 - 0.07 * i for i in range(len(steps))]  # a WGAN generator loss
    app = OneChart()
    async with app.run_test(size=(80, 16)) as pilot:
        chart = app.query_one(LossChart)
        chart.draw([Series("g", steps, values, "#4fc3f7")])
        chart.focus()
        await pilot.pause()
        before = (chart.y_limits, chart.y_ticks, chart.points)
        await pilot.press("l")
        await pilot.pause()
        assert not chart.log_scale
        assert (chart.y_limits, chart.y_ticks, chart.points) == before, "chart unchanged"
        assert any("above zero" in m and "g goes down to -1.97" in m for m in told(app))


async def test_a_live_chart_on_a_log_scale_falls_back_when_a_value_drops_to_zero():
    app = OneChart(log_scale=True)
    async with app.run_test(size=(80, 16)) as pilot:
        chart = app.query_one(LossChart)
        chart.draw([Series("d", [1, 2, 3], [0.5, 0.2, 0.1], "red")])
        await pilot.pause()
        assert chart.log_scale
        chart.draw([Series("d", [1, 2, 3, 4], [0.5, 0.2, 0.1, 0.0], "red")])
        await pilot.pause()
        assert not chart.log_scale and any("above zero" in m for m in told(app))
        assert chart.y_limits[0] < 0.0 < chart.y_limits[1]


# -- series shown and hidden ------------------------------------------------------------


async def test_hiding_a_series_removes_its_points_and_showing_it_restores_them():
    steps = list(range(0, 500, 10))
    a = Series("#1 g", steps, [1.0 + 0.01 * i for i in range(len(steps))], "red")
    b = Series("#2 g", steps, [30.0 - 0.1 * i for i in range(len(steps))], "blue")
    app = OneChart()
    async with app.run_test(size=(80, 16)) as pilot:
        chart = app.query_one(LossChart)
        chart.draw([a, b])
        chart.focus()
        await pilot.pause()
        both = chart.points
        assert chart.y_limits[1] > 30
        await pilot.press("2")
        await pilot.pause()
        assert chart.hidden == {"#2 g"}
        assert 0 < chart.points < both
        assert chart.y_limits[1] < 5, "the range is the shown series' own"
        assert chart.x_limits == (0, 490), "the step range stays"
        assert "1 hidden" in str(chart.border_subtitle)
        await pilot.press("1")  # the last series shown stays shown
        await pilot.pause()
        assert chart.hidden == {"#2 g"} and any("stays shown" in m for m in told(app))
        await pilot.press("2")
        await pilot.pause()
        assert chart.points == both and not chart.hidden
        chart.toggle_series(1)
        chart.show_all()
        await pilot.pause()
        assert chart.points == both


# -- the run view -----------------------------------------------------------------------


async def test_enter_maximises_the_focused_chart_with_its_series_and_options(tmp_path):
    run = wgan_gp_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_run(pilot, app)
        gp = view.charts["gp"]
        assert gp.smoothing == 0.6 and view.charts["modes covered"].smoothing == 0
        gp.focus()
        await wait_for(pilot, lambda: app.focused is gp, what="gp focused")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ChartScreen) and app.screen.chart.points >= gp.points,
            what="gp maximised and drawn",
        )
        screen = app.screen
        assert isinstance(screen, ChartScreen)
        big = screen.chart
        assert [(s.label, s.steps, s.values) for s in big.series] == [
            (s.label, s.steps, s.values) for s in gp.series
        ]
        assert big.x_range == gp.x_range and big.smoothing == 0.6
        assert big.size.height > gp.size.height and big.size.width > gp.size.width
        assert big.points >= gp.points
        await pilot.press("l", "e")  # set here, kept when back
        await wait_for(pilot, lambda: big.log_scale and big.smoothing == 0.9, what="log, EMA 0.9")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is view, what="back to the run")
        assert gp.log_scale and gp.smoothing == 0.9


async def test_shift_c_clones_the_run_or_says_it_cannot(tmp_path, monkeypatch):
    run = wgan_gp_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_run(pilot, app)
        if hasattr(app, "clone_run"):
            monkeypatch.delattr(type(app), "clone_run")
        await pilot.press("C")
        await wait_for(pilot, lambda: any("not available" in m for m in told(app)), what="told")
        asked = []
        monkeypatch.setattr(type(app), "clone_run", lambda self, d: asked.append(d), raising=False)
        await pilot.press("C")
        await wait_for(pilot, lambda: asked == [run], what="asked to clone the run")


async def test_no_color_five_metric_run_view_smooths_logs_and_maximises(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    run = wgan_gp_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run, run_choices_loader=None)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_run(pilot, app)
        assert isinstance(view, RunScreen)
        for name, chart in view.charts.items():
            chart.focus()
            await wait_for(pilot, lambda c=chart: app.focused is c, what=f"{name} focused")
            before = chart.smoothing
            await pilot.press("e", "l")
            # A log axis where every value is above zero; refused (a warning) elsewhere.
            logged = name in ("gp", "wasserstein", "modes covered")
            await wait_for(
                pilot,
                lambda c=chart, b=before, g=logged: c.smoothing != b and c.log_scale == g,
                what=f"{name}: smoothing cycled, log scale {logged}",
            )
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen), what="maximised")
            await pilot.press("e", "l", "1", "escape")
            await wait_for(pilot, lambda: app.screen is view, what="back to the run")
        assert app.is_running and app._exception is None


async def test_the_maximised_chart_follows_the_run(tmp_path):
    run = wgan_gp_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run, run_choices_loader=None)
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_run(pilot, app)
        view.charts["g"].focus()
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ChartScreen) and app.screen.chart.points > 0,
            what="the maximised chart",
        )
        big = app.screen.chart
        with open(run / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps({"step": 1150, "time": 3.0, "losses": {"g": -2.5}}) + "\n")
        await wait_for(
            pilot, lambda: big.series and big.series[0].steps[-1] == 1150, what="the new step drawn"
        )
        assert big.x_limits[1] == 1150 and big.y_limits[0] < -2.5


async def test_the_maximised_chart_keeps_a_title_with_brackets_as_text():
    from rich.text import Text

    app = OneChart()
    async with app.run_test(size=(80, 20)) as pilot:
        chart = app.query_one(LossChart)
        chart.set_title(Text("[bold]gp[/] \\"))  # a loss name from metrics.jsonl
        chart.draw([Series("gp", [1, 2, 3], [3.0, 2.0, 1.0], "red")])
        await pilot.pause()
        app.push_screen(ChartScreen(chart))
        await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen), what="maximised")
        screen = app.screen
        assert isinstance(screen, ChartScreen)
        await wait_for(pilot, lambda: screen.sub_title, what="its title")
        assert screen.chart.border_title == chart.border_title
        assert screen.sub_title == "[bold]gp[/] \\"


@pytest.mark.parametrize("size, together", [((120, 40), 3), ((200, 60), 5), ((80, 24), 1)])
async def test_as_many_charts_as_fit_readably_share_the_pane(tmp_path, size, together):
    """Five metrics: three charts of ten rows or more in view at 120x40, all five at
    200x60, one at 80x24 (the pane scrolls to the rest); a plain 1fr gave one chart
    the whole pane at 120x40."""
    run = wgan_gp_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run, run_choices_loader=None)
    async with app.run_test(size=size) as pilot:
        view = await open_run(pilot, app)
        pane = view.query_one("#charts")
        seen = pane.content_region
        inside = [
            c for c in view.charts.values() if c.region.height and seen.contains_region(c.region)
        ]
        assert len(inside) == together
        assert all(c.region.height >= 10 for c in view.charts.values())
