"""Charts you can trust: every point drawn (the extremes too), padded ranges with
evenly spaced 1/2/5 x 10^k ticks, whole-number ticks for counts, a single point as a
marker, one step range for all charts of a run, and every chart reachable at 80x24."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from textual.app import App
from textual.widget import Widget

from genbench.tui.app import GenbenchApp
from genbench.tui.run_tail import downsample
from genbench.tui.screens.run import RunScreen
from genbench.tui.widgets.loss_chart import LossChart, Series, chart_height, nice_ticks
from tests.tui_support import FIXTURE_RUNS, wait_for


def wgan_gp_run(runs: Path, name: str = "wgan", evals: int = 3, steps: int = 1100) -> Path:
    """A five-metric run: four losses and one count (modes covered)."""
    run = runs / name
    shutil.copytree(FIXTURE_RUNS / "ring8-gan", run)
    meta = json.loads((run / "run.json").read_text())
    meta.update(id=name, model="wgan_gp", steps=steps, step=steps)
    (run / "run.json").write_text(json.dumps(meta))
    lines = []
    for i, step in enumerate(range(50, steps + 1, 50)):
        g = -0.5 - 1.476 * i / (steps // 50 - 1)  # falls to -1.976 at the last step
        lines.append(
            {
                "step": step,
                "time": step / 400,
                "img_per_s": 1000.0,
                "losses": {
                    "critic": -2.0 + math.sin(i) * 0.3,
                    "wasserstein": 1.5 + math.cos(i) * 0.2,
                    "gp": 10.0 / (i + 1),
                    "g": g,
                },
            }
        )
    for k in range(evals):
        step = 350 * (k + 1)
        lines.append(
            {
                "step": step,
                "time": step / 400,
                "kind": "eval",
                "eval": {"samples": 2500, "modes_covered": 5 + k, "modes": 8},
            }
        )
    lines.sort(key=lambda r: r["step"])
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return run


def inside(chart: LossChart, x: float, y: float) -> bool:
    """The data point (x, y) lands strictly inside the plot's frame (not on an axis)."""
    px, py = chart.get_hires_pixel_from_coordinate(x, y)
    r = chart._scale_rectangle
    assert r.width > 0 and r.height > 0, "the chart has been laid out and drawn"
    return r.x <= px < r.right and r.y <= py < r.bottom


async def into_view(pilot, chart: LossChart) -> None:
    """Charts off screen are not rendered: bring one in (as the user would, by focus)."""
    chart.focus()
    pane = chart.parent
    assert isinstance(pane, Widget)
    await wait_for(
        pilot,
        lambda: (
            pane.region.contains_region(chart.region)
            and chart._scale_rectangle.width > 0
            and chart._scale_rectangle.height > 0
        ),
        what="the chart scrolled into view and rendered",
    )


def fitted(view: RunScreen) -> bool:
    """Every chart as high as the pane, as it is now, gives it (keys land on the
    layout the user sees, not on one about to change)."""
    rows = view.query_one("#charts").scrollable_content_region.height
    height = chart_height(len(view.charts), rows)
    return all(c.outer_size.height == height for c in view.charts.values())


async def open_run(pilot, app) -> RunScreen:
    view = app.screen
    assert isinstance(view, RunScreen)
    await wait_for(
        pilot,
        lambda: (
            len(view.charts) == 5 and all(c.points for c in view.charts.values()) and fitted(view)
        ),
        what="five charts drawn, each sized to the pane",
    )
    return view


# -- the pieces -----------------------------------------------------------------------


def test_ticks_are_evenly_spaced_nice_steps():
    for lo, hi, n in [
        (-2.1, -0.4, 4),
        (0.27, 0.48, 3),
        (1.0, 10.0, 5),
        (0, 1100, 6),
        (-1e-3, 3e-3, 5),
        (250.0, 251.0, 2),
    ]:
        ticks = nice_ticks(lo, hi, n)
        assert 1 <= len(ticks) <= n and lo <= ticks[0] and ticks[-1] <= hi
        gaps = {round(b - a, 12) for a, b in zip(ticks, ticks[1:], strict=False)}
        assert len(gaps) <= 1, ticks
        if gaps:
            step = gaps.pop()
            mantissa = step / 10 ** math.floor(math.log10(step))
            assert round(mantissa, 6) in (1, 2, 5), (step, ticks)
    assert nice_ticks(3.5, 8.5, 3, integer=True) == [4, 6, 8]
    assert all(t == int(t) for t in nice_ticks(4.2, 4.9 + 1, 8, integer=True))


def test_downsampling_keeps_the_extremes():
    xs = list(range(10_000))
    ys = [math.sin(i / 50) for i in xs]
    ys[7777] = -5.0
    ys[1234] = 9.0
    x, y = downsample(xs, ys, 200)
    assert len(x) <= 200
    assert min(y) == -5.0 and max(y) == 9.0
    assert list(x) == sorted(x)


class OneChart(App):
    def compose(self):
        yield LossChart()


async def test_the_lowest_and_highest_points_are_drawn_inside_a_padded_range():
    steps = list(range(0, 1200, 100))
    values = [1.0 - 0.25 * i for i in range(len(steps))]  # falls to its lowest at the end
    app = OneChart()
    async with app.run_test(size=(60, 10)) as pilot:
        chart = app.query_one(LossChart)
        chart.draw([Series("g", steps, values, "#4fc3f7")])
        await pilot.pause()
        lo, hi = chart.y_limits
        assert lo < min(values) and max(values) < hi, "padded around the data"
        assert inside(chart, steps[-1], min(values)), "the newest, lowest point is drawn"
        assert inside(chart, steps[0], max(values))
        assert chart.x_limits == (0, 1100)
        ticks = chart.y_ticks
        assert len(ticks) >= 2 and all(lo <= t <= hi for t in ticks)
        assert len({round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}) == 1


async def test_a_single_point_is_drawn_as_a_marker():
    app = OneChart()
    async with app.run_test(size=(60, 10)) as pilot:
        chart = app.query_one(LossChart)
        chart.draw([Series("FD", [500], [12.5], "#4fc3f7")], x_range=(0, 1000))
        await pilot.pause()
        assert chart.markers == [(500.0, 12.5)]
        x, y = chart.get_pixel_from_coordinate(500, 12.5)
        canvas = chart.query_one("#plot")
        assert canvas.get_pixel(x, y)[0] == "●", "the marker is on the canvas"
        assert chart.y_limits[0] < 12.5 < chart.y_limits[1]


# -- the run view ---------------------------------------------------------------------


async def test_the_run_view_shares_one_step_range_and_counts_get_whole_ticks(tmp_path):
    run = wgan_gp_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_run(pilot, app)
        charts = view.charts
        assert set(charts) == {"critic", "wasserstein", "gp", "g", "modes covered"}
        ranges = {c.x_limits for c in charts.values()}
        assert ranges == {(50, 1100)}, "eval chart and loss charts share one step range"
        modes = charts["modes covered"]
        assert modes.integer and modes.y_ticks
        assert all(t == int(t) for t in modes.y_ticks), modes.y_ticks
        assert modes.y_limits[0] < 5 and modes.y_limits[1] > 7
        g = charts["g"]
        await into_view(pilot, g)
        steps, values = view.tail.history.losses["g"]
        assert g.y_limits[0] < min(values) and g.y_limits[1] > max(values)
        assert inside(g, steps[values.index(min(values))], min(values)), (
            "the lowest g (-1.976 at step 1100) is drawn"
        )
        assert not charts["critic"].integer


async def test_a_single_evaluation_is_charted_as_a_marker(tmp_path):
    run = wgan_gp_run(tmp_path, evals=1)
    app = GenbenchApp(tmp_path, watch=run, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_run(pilot, app)
        modes = view.charts["modes covered"]
        await into_view(pilot, modes)
        assert modes.markers == [(350.0, 5.0)]
        assert inside(modes, 350, 5)
        assert modes.x_limits == view.charts["g"].x_limits


async def test_every_chart_of_a_five_metric_run_is_reachable_at_80x24(tmp_path):
    run = wgan_gp_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run, run_choices_loader=None)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_run(pilot, app)
        charts = list(view.charts.values())
        screen_region = view.region
        pane = view.query_one("#charts")

        def shown(chart) -> bool:
            r = chart.region
            return (
                r.height > 0 and screen_region.contains_region(r) and pane.region.contains_region(r)
            )

        assert not all(shown(c) for c in charts), "five charts do not fit at 80x24"
        assert app.focused is charts[0], "the first chart has focus"

        def reached(chart) -> bool:
            return app.focused is chart and shown(chart)

        for chart in charts[1:]:  # down arrow: the next chart
            await pilot.press("down")
            await wait_for(pilot, lambda c=chart: reached(c), what=f"{chart.border_title} in view")
        for chart in reversed(charts[:-1]):  # PageUp: back up
            await pilot.press("pageup")
            await wait_for(pilot, lambda c=chart: reached(c), what=f"{chart.border_title} in view")
        await pilot.press("tab")  # Tab moves on as well
        await wait_for(pilot, lambda: reached(charts[1]), what="the second chart in view")
        assert all(c.size.height >= 8 for c in charts), "three plot rows at least"


def test_the_workbench_charts_every_step_run_json_may_hold():
    """The tail takes the steps run.json takes (0 to STEP_MAX, both ends), and no more."""
    from genbench.options import STEP_MAX
    from genbench.tui.run_tail import History

    history = History()
    for step in (0, STEP_MAX, STEP_MAX + 1, -1):
        history.add({"step": step, "time": 1.0, "losses": {"d": 0.5}})
    assert history.steps == [0, STEP_MAX]
