"""Charts read as a TensorBoard user reads them: the x axis by wall or relative time,
a zoomed step range, a cursor whose readout says each series' value, marks where a
run was resumed, the chart exported as CSV and SVG, and Compare's runs told apart by
a glyph where colour does not show."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest
from textual.events import MouseScrollDown, MouseScrollUp

from genbench.tui.app import GenbenchApp
from genbench.tui.screens.chart import ChartScreen
from genbench.tui.screens.run import RunScreen
from genbench.tui.widgets.loss_chart import X_RELATIVE, X_WALL, LossChart, ema
from genbench.tui.widgets.run_legend import RunLegend
from tests.tui.test_compare import make_run, open_compare
from tests.tui_support import text_of, wait_for, write_run

T0 = 1_700_000_000.0  # when the run was created
RESUMED = T0 + 1000.0  # when its second trainer started, after a resume at step 300
# Logged every 50 steps with metrics.jsonl's training time, uneven: a 100 s step after
# 300, so a time axis is not the step axis rescaled. On the clock the first part
# counts from T0, the part after the resume from RESUMED: 400 s stopped between.
STEPS = list(range(50, 601, 50))
ELAPSED = [2.0 * s + (100.0 if s > 300 else 0.0) for s in STEPS]
TIMES = [T0 + e if s <= 300 else RESUMED + e - 600.0 for s, e in zip(STEPS, ELAPSED, strict=True)]


def d_loss(step: int) -> float:
    return 1.0 + ((step * 37) % 11) / 10  # jagged, so smoothing differs from raw


def timed_run(runs: Path, name: str = "timed", resume_at: int | None = 350) -> Path:
    run = runs / name
    created = datetime.fromtimestamp(T0).isoformat(timespec="seconds")  # local, as run.json
    write_run(run, status="completed", step=600, steps=600, created=created, started=RESUMED)
    lines: list[dict] = []
    for step, t in zip(STEPS, ELAPSED, strict=True):
        if resume_at is not None and step == resume_at:
            changes = [{"key": "lr", "old": 0.0002, "new": 0.0001}]
            resume = {"changes": changes}
            lines.append({"step": 300, "time": t - 1, "kind": "resume", "resume": resume})
        lines.append(
            {"step": step, "time": t, "img_per_s": 100.0, "losses": {"d": d_loss(step), "g": 0.5}}
        )
    lines.append({"step": 400, "time": ELAPSED[7], "kind": "eval", "eval": {"fd": 12.5}})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return run


async def open_run(pilot, app: GenbenchApp) -> RunScreen:
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, RunScreen)
            and len(app.screen.charts) == 3
            and all(c.points for c in app.screen.charts.values())
        ),
        what="the run's charts drawn",
    )
    screen = app.screen
    assert isinstance(screen, RunScreen)
    return screen


def d_chart(screen: RunScreen) -> LossChart:
    chart = screen.charts["d"]
    chart.focus()
    return chart


async def test_a_wall_time_axis_places_points_at_their_logged_times(tmp_path):
    run = timed_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run(pilot, app)
        chart = d_chart(screen)
        await pilot.press("x")
        await wait_for(pilot, lambda: chart.view.x_mode == X_WALL, what="wall time")
        assert chart.plotted_steps("d") == STEPS
        assert chart.plotted_xs("d") == TIMES
        assert chart.x_limits == (TIMES[0], TIMES[-1])
        # Every chart of the run follows, the eval's point at its step's logged time.
        fd = screen.charts["FD (live)"]
        assert fd.view.x_mode == X_WALL and fd.plotted_xs("FD (live)") == [TIMES[7]]
        # Ticks at round times inside the range, labelled as a clock.
        assert chart.x_ticks and all(TIMES[0] <= t <= TIMES[-1] for t in chart.x_ticks)
        assert all(t % 60 == 0 or t % 15 == 0 for t in chart.x_ticks)
        assert all(len(label) in (5, 8) and label[2] == ":" for label in chart.x_tick_labels())
        await pilot.press("x")
        await wait_for(pilot, lambda: chart.view.x_mode == X_RELATIVE, what="relative time")
        # Time since the run began (its creation), the 400 s it stood stopped included.
        assert chart.plotted_xs("d") == [t - T0 for t in TIMES]
        assert "x: relative time" in str(chart.border_subtitle)
        await pilot.press("x")
        await wait_for(pilot, lambda: chart.plotted_xs("d") == STEPS, what="steps again")


async def test_a_zoomed_range_shows_only_its_steps_and_every_point_in_it(tmp_path):
    run = timed_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run(pilot, app)
        chart = d_chart(screen)
        assert chart.x_limits == (50, 600)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: chart.view.zoom is not None, what="zoomed in")
        lo, hi = chart.view.zoom
        assert (lo, hi) == (187, 463)  # half of 50..600 around its middle (outwards)
        assert chart.x_limits == (lo, hi)
        assert chart.plotted_steps("d") == [s for s in STEPS if lo <= s <= hi]
        # The other charts show the same steps.
        g = screen.charts["g"]
        assert g.view.zoom == (lo, hi) and g.plotted_steps("g") == chart.plotted_steps("d")
        assert "steps 187-463" in str(chart.border_subtitle)
        # Out again, and back to every step.
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: chart.view.zoom is None, what="zoomed out")
        assert chart.plotted_steps("d") == STEPS
        await pilot.press("right_square_bracket", "right_square_bracket", "z")
        await wait_for(pilot, lambda: chart.view.zoom is None, what="z: every step")
        assert chart.x_limits == (50, 600)


async def test_a_drag_zooms_and_a_click_puts_the_cursor_under_the_mouse(tmp_path):
    run = timed_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run(pilot, app)
        chart = d_chart(screen)
        r = chart._data_region()
        y = 2
        # Where the plot's canvas starts, from the chart's left edge (border, margin).
        left = chart.content_region.x - chart.region.x + chart.margin_left + r.x

        def col(step: float) -> int:  # the chart's column of a step (inside the plot)
            return left + int((step - 50) / 550 * r.width)

        await pilot.mouse_down(chart, offset=(col(200), y))
        await pilot.mouse_up(chart, offset=(col(400), y))
        await wait_for(pilot, lambda: chart.view.zoom is not None, what="the drag's zoom")
        lo, hi = chart.view.zoom
        assert abs(lo - 200) <= 10 and abs(hi - 400) <= 10
        r = chart._data_region()
        x0, x1 = chart.x_limits
        column = left + int((300 - x0) / (x1 - x0) * r.width)
        await pilot.click(chart, offset=(column, y))
        await wait_for(pilot, lambda: chart.view.cursor == 300, what="the cursor at 300")
        # The wheel: out (twice the range), then, from every step, in around 300.
        zoomed = chart.view.zoom
        await pilot._post_mouse_events([MouseScrollDown], widget=chart, offset=(column, y))
        await wait_for(pilot, lambda: chart.view.zoom != zoomed, what="zoomed out")
        lo2, hi2 = chart.view.zoom or (50, 600)
        assert hi2 - lo2 >= 2 * (zoomed[1] - zoomed[0]) - 2
        await pilot.press("z")
        await wait_for(pilot, lambda: chart.view.zoom is None, what="every step")
        r = chart._data_region()
        column = left + int((300 - 50) / 550 * r.width)
        await pilot._post_mouse_events([MouseScrollUp], widget=chart, offset=(column, y))
        await wait_for(pilot, lambda: chart.view.zoom is not None, what="zoomed in")
        lo, hi = chart.view.zoom
        assert hi - lo <= 276 and lo < 300 < hi  # half of 50..600, around the pointer


async def test_the_cursor_readout_equals_each_series_value_at_its_step(tmp_path):
    run = timed_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run(pilot, app)
        chart = d_chart(screen)
        readout = screen.query_one("#run-readout")
        assert not readout.display
        await pilot.press("full_stop")  # the cursor appears at the newest step
        await wait_for(pilot, lambda: chart.view.cursor == 600, what="the cursor")
        # 600 -> 550 -> 500 -> 10 back: the first step -> 10 on: 550 -> 600
        await pilot.press("comma", "comma", "less_than_sign")
        await wait_for(pilot, lambda: chart.view.cursor == 50, what="the cursor at 50")
        await pilot.press("greater_than_sign", "full_stop")
        await wait_for(pilot, lambda: chart.view.cursor == 600, what="the cursor at 600")
        await pilot.press("comma", "comma", "comma", "comma", "comma", "comma")
        await wait_for(pilot, lambda: chart.view.cursor == 300, what="the cursor at 300")
        i = STEPS.index(300)
        readings = {r.label: r for c in screen.charts.values() for r in c.readings()}
        assert readings["d"].value == d_loss(300) and readings["d"].step == 300
        assert readings["d"].smoothed == ema([d_loss(s) for s in STEPS], 0.6)[i]
        assert readings["g"].value == 0.5
        assert readings["d"].time == TIMES[i]
        assert "FD (live)" not in readings  # the first evaluation is at step 400
        text = text_of(readout)
        assert readout.display and "step 300" in text
        assert f"d {d_loss(300):.4g} ~{readings['d'].smoothed:.4g}" in text
        assert "g 0.5" in text
        # Every chart draws the cursor at that step; `c` hides it.
        assert all(300 in c.drawn_lines for c in screen.charts.values() if c is not chart)
        await pilot.press("c")
        await wait_for(pilot, lambda: not readout.display, what="the cursor hidden")


async def test_a_resume_mark_sits_at_the_resumed_step(tmp_path):
    run = timed_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run(pilot, app)
        chart = d_chart(screen)
        await wait_for(pilot, lambda: chart.marks, what="the mark")
        assert [step for step, _ in chart.marks] == [300]
        assert "resumed" in chart.marks[0][1] and "lr" in chart.marks[0][1]
        assert chart.drawn_lines == [300.0]
        # On a time axis it sits at the time step 300 was logged.
        await pilot.press("x")
        await wait_for(pilot, lambda: chart.view.x_mode == X_WALL, what="wall time")
        assert chart.drawn_lines == [TIMES[STEPS.index(300)]]
        # The readout names it when the cursor stands on it.
        await pilot.press("x", "x")
        await wait_for(pilot, lambda: chart.view.x_mode == "step", what="steps")
        for _ in range(7):  # the first puts the cursor on 600, then 6 back
            await pilot.press("comma")
        await wait_for(pilot, lambda: chart.view.cursor == 300, what="the cursor at 300")
        assert "mark: resumed" in text_of(screen.query_one("#run-readout"))


async def test_the_exported_csv_equals_the_plotted_series(tmp_path, monkeypatch):
    run = timed_run(tmp_path / "runs")
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    app = GenbenchApp(tmp_path / "runs", watch=run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run(pilot, app)
        chart = d_chart(screen)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: chart.view.zoom is not None, what="zoomed")
        await pilot.press("w")
        await wait_for(pilot, lambda: len(list(out.iterdir())) == 2, what="the files")
        (csv_path,) = out.glob("*.csv")
        (svg_path,) = out.glob("*.svg")
        assert csv_path.name.startswith("timed-loss-d-")
        rows = list(csv.reader(csv_path.open()))
        assert rows[0] == ["series", "step", "time", "value", "smoothed_ema_0.6"]
        plotted = chart.plotted_steps("d")
        smooth = ema([d_loss(s) for s in STEPS], 0.6)
        assert [(int(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in rows[1:]] == [
            (s, TIMES[STEPS.index(s)], d_loss(s), smooth[STEPS.index(s)]) for s in plotted
        ]
        assert {r[0] for r in rows[1:]} == {"d"}
        svg = svg_path.read_text()
        assert svg.startswith("<svg") and svg.count("<polyline") == 2  # raw and smoothed
        assert "loss d" in svg
        # Started inside a run folder: nothing is written there.
        monkeypatch.chdir(run)
        before = sorted(run.iterdir())
        await pilot.press("w")
        await wait_for(
            pilot,
            lambda: any("inside the run folder" in n.message for n in app._notifications),
            what="the toast saying why",
        )
        assert sorted(run.iterdir()) == before


async def test_a_chart_alone_shares_its_view_and_its_arrows_move_the_cursor(tmp_path):
    run = timed_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run(pilot, app)
        d_chart(screen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen), what="the chart alone")
        alone = app.screen.chart
        await wait_for(pilot, lambda: alone.points > 0, what="drawn")
        await pilot.press("full_stop", "left", "left", "right_square_bracket")
        await wait_for(pilot, lambda: alone.view.cursor == 500, what="the cursor moved")
        await wait_for(pilot, lambda: alone.view.zoom is not None, what="zoomed")
        assert "step 500" in text_of(app.screen.query_one("#chart-readout"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back")
        await wait_for(
            pilot,
            lambda: all(c.view == alone.view for c in screen.charts.values()),
            what="every chart with the view set alone",
        )


async def test_compare_under_no_color_gives_every_run_a_distinct_glyph(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    runs = [make_run(tmp_path, f"run-{k}", {"d": 1.0 + k / 100}, steps=500) for k in range(4)]
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app, runs, 1)
        chart = screen.charts["loss d"]
        # The four lines nearly overlap; each carries its own glyph.
        glyphs = [s.glyph for s in chart.series]
        assert len(set(glyphs)) == 4 and all(glyphs)
        assert all(chart.glyphs[s.label] >= 2 for s in chart.series)
        legend = screen.query_one(RunLegend)
        assert [r.glyph for r in legend.rows] == glyphs
        assert all(g in text_of(legend) for g in glyphs)
        caption = screen.subtitles["loss d"].plain
        assert all(f"{g}#{k + 1}" in caption for k, g in enumerate(glyphs)), caption
        screen_text = app.export_screenshot()
        assert all(g in screen_text for g in glyphs)
        # `f`: run #2 in front, drawn last (over the others), and marked in the legend.
        await pilot.press("f", "f")
        await wait_for(pilot, lambda: screen.front == 1, what="run #2 in front")
        assert chart.drawn_order[-1] == chart.series[1].label
        assert [r.front for r in legend.rows] == [False, True, False, False]


async def test_compare_zooms_every_chart_to_one_step_range(tmp_path):
    runs = [
        make_run(tmp_path, "short", {"d": 1.0}, steps=150),
        make_run(tmp_path, "long", {"d": 1.0, "g": 2.0}, steps=3000),
    ]
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app, runs, 2)
        chart = screen.charts["loss d"]
        chart.focus()
        for _ in range(4):
            await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: chart.view.zoom is not None, what="zoomed")
        await pilot.press("z", "full_stop")
        await wait_for(pilot, lambda: chart.view.cursor == 3000, what="cursor")
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: chart.view.zoom is not None, what="zoomed")
        lo, hi = chart.view.zoom
        assert hi - lo <= 3000 / 16 and hi == 3000  # around the cursor at the end
        assert all(c.view == chart.view for c in screen.charts.values())
        assert chart.plotted_steps(chart.series[1].label) == [
            s for s in range(50, 3001, 50) if lo <= s <= hi
        ]
        readout = screen.query_one("#compare-readout")
        assert readout.display and "#2 long" in text_of(readout)


async def test_a_chart_is_repainted_once_per_render_not_once_per_pixel(tmp_path, monkeypatch):
    """The plot library draws pixel by pixel and asks for a repaint at each; a render is
    on the event loop between a key and its answer, so LossChart batches them into one."""
    from textual.widget import Widget
    from textual_hires_canvas import Canvas

    run = timed_run(tmp_path)
    app = GenbenchApp(tmp_path, watch=run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run(pilot, app)
        chart = d_chart(screen)
        canvas = chart.query_one("#plot", Canvas)
        repaints: list[Widget] = []
        real = Widget.refresh

        def counted(self, *args, **kwargs):
            if self is canvas:
                repaints.append(self)
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Widget, "refresh", counted)
        chart._render_plot()
        assert len(repaints) == 1


async def test_the_lr_chart_of_a_linearly_decayed_run_falls_to_zero(runs_dir):
    """gan's default lr_decay=linear, trained for real: the run view charts each
    optimiser's rate, and the cursor reads 1e-3 falling by a quarter a logged step to 0."""
    from genbench.registry import load_registry
    from genbench.training.launch import RunRequest, new_run

    request = RunRequest(
        model="gan", dataset="ring8", steps=8, runs_dir=runs_dir, name="decay", log_every=2
    )
    assert new_run(request, load_registry(), lambda event: None).run().status == "completed"
    app = GenbenchApp(runs_dir, watch=runs_dir / "decay")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, RunScreen) and "lr g" in app.screen.charts,
            what="the lr chart",
        )
        lr = app.screen.charts["lr g"]
        lr.focus()
        await wait_for(pilot, lambda: lr.plotted_steps("lr g") == [2, 4, 6, 8], what="4 points")
        await pilot.press("full_stop")  # the cursor at the newest step
        rates = []
        for step in (8, 6, 4, 2):
            await wait_for(pilot, lambda s=step: lr.view.cursor == s, what=f"the cursor at {step}")
            (reading,) = [r for r in lr.readings() if r.label == "lr g"]
            rates.append(reading.value)
            await pilot.press("comma")
        assert rates == pytest.approx([0.0, 2.5e-4, 5e-4, 7.5e-4])
