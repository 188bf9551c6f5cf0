"""Compare that compares: a chart per metric with the runs overlaid, one colour per
run everywhere (legend, charts, sample panels, hyperparameter columns), quality
charts overlaid, the differing hyperparameters marked, every chart reachable at
80x24, sample grids at a readable size, and all of it under NO_COLOR."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from textual.color import Color
from textual.content import Content
from textual.geometry import Region

from genbench.tui.app import GenbenchApp
from genbench.tui.screens.compare import CompareScreen, chart_grid
from genbench.tui.widgets.config_diff import ConfigDiff
from genbench.tui.widgets.loss_chart import PALETTE, LossChart
from genbench.tui.widgets.run_legend import RunLegend
from genbench.tui.widgets.sample_preview import SamplePreview
from tests.tui_support import FIXTURE_RUNS, metric, text_of, wait_for, write_run


def make_run(
    runs: Path,
    name: str,
    losses: dict[str, float],
    evals: dict | None = None,
    steps: int = 500,
    **meta,
) -> Path:
    """A finished run logging ``losses`` every 50 steps (and ``evals`` every 250)."""
    run = runs / name
    write_run(run, status="completed", step=steps, steps=steps, **meta)
    lines = []
    for step in range(50, steps + 1, 50):
        lines.append(
            {
                "step": step,
                "time": step / 100,
                "img_per_s": 1000.0,
                "losses": {k: v + step / 1000 for k, v in losses.items()},
            }
        )
        if evals and step % 250 == 0:
            lines.append({"step": step, "time": step / 100, "kind": "eval", "eval": evals})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return run


def gan_and_vae(runs: Path, **vae_meta) -> list[Path]:
    gan = make_run(
        runs,
        "a-gan",
        {"d": 1.2, "g": 0.7},
        model="gan",
        dataset="ring8",
        seed=1,
        config={"lr": 0.0002, "hidden": 256, "d_steps": 1},
    )
    vae = make_run(
        runs,
        "b-vae",
        {"loss": 250.0, "recon": 240.0, "kl": 10.0},
        model="vae",
        dataset="ring8",
        seed=2,
        config={"lr": 0.001, "hidden": 256, "beta": 1.0},
        **vae_meta,
    )
    return [gan, vae]


def laid_out(screen: CompareScreen, runs: int, charts: int) -> bool:
    """The runs read and shown in the legend, every chart drawn and sized to the pane
    (what a user sees once the screen has settled; keys and clicks land as they would)."""
    legend = screen.query(RunLegend)
    if not legend or len(legend.first().rows) != runs or legend.first().size.height <= runs:
        return False
    if len(screen.charts) != charts:
        return False
    if not charts:
        return True
    _, height = chart_grid(charts, screen.query_one("#compare-charts").scrollable_content_region)
    return all(c.points and c.outer_size.height == height for c in screen.charts.values())


async def open_compare(pilot, app: GenbenchApp, runs: list[Path], charts: int) -> CompareScreen:
    await pilot.pause()
    app.open_compare(runs)
    await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    await wait_for(
        pilot, lambda: laid_out(screen, len(runs), charts), what="the runs and charts laid out"
    )
    return screen


async def test_one_chart_per_metric_and_one_colour_per_run(tmp_path):
    runs = gan_and_vae(tmp_path)
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app, runs, 5)
        # The union of the runs' losses, a chart each (not one axis for gp and a VAE's 250).
        assert list(screen.charts) == ["loss d", "loss g", "loss", "loss recon", "loss kl"]
        gan_colour, vae_colour = PALETTE[0], PALETTE[1]
        assert [[s.colour for s in screen.drawn[t]] for t in screen.charts] == [
            [gan_colour]
        ] * 2 + [[vae_colour]] * 3
        # The legend, outside the charts, has the same colour per run.
        legend = screen.query_one(RunLegend)
        assert [(r.number, r.colour, r.name, r.model) for r in legend.rows] == [
            (1, gan_colour, "a-gan", "gan"),
            (2, vae_colour, "b-vae", "vae"),
        ]
        assert not any(c._legend for c in screen.charts.values()), "no legend over the data"
        # Each chart names the runs it holds, below the plot, in their colours.
        assert str(screen.charts["loss d"].border_subtitle).strip().endswith("#1")
        # The sample panels carry the run's colour too.
        boxes = list(screen.query(".compare-run"))
        assert [b.styles.border_top[1] for b in boxes] == [
            Color.parse(gan_colour),
            Color.parse(vae_colour),
        ]
        # All charts share one step range.
        assert len({c.x_limits for c in screen.charts.values()}) == 1


async def test_quality_charts_are_overlaid(tmp_path):
    a = make_run(
        tmp_path, "a", {"d": 1.0, "g": 0.5}, evals={"samples": 2500, "modes_covered": 6, "modes": 8}
    )
    b = make_run(
        tmp_path, "b", {"d": 1.1, "g": 0.6}, evals={"samples": 2500, "modes_covered": 8, "modes": 8}
    )
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app, [a, b], 3)
        modes = screen.charts["modes covered"]
        assert [s.colour for s in screen.drawn["modes covered"]] == PALETTE[:2]
        assert modes.integer, "a count is ticked in whole numbers"
        assert modes.y_limits[0] < 6 and modes.y_limits[1] > 8, "both runs' values are in range"
        assert modes.x_limits == screen.charts["loss d"].x_limits


async def test_the_hyperparameter_table_marks_exactly_the_differing_values(tmp_path):
    runs = gan_and_vae(tmp_path, device="cuda")
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app, runs, 5)
        table = screen.query_one(ConfigDiff)
        # d_steps and beta: a key one run has and the other lacks differs as well.
        assert table.differing == ["model", "seed", "device", "lr", "d_steps", "beta"]
        marks = {
            str(table.get_row_at(i)[1]): str(table.get_row_at(i)[0]).strip()
            for i in range(table.row_count)
        }
        assert marks["seed"] == "≠" and marks["hidden"] == "" and marks["dataset"] == ""
        await pilot.press("v", "v")
        assert screen.view == "hyperparameters" and table.display
        await pilot.press("d")  # only the differences
        await pilot.pause()
        assert [str(table.get_row_at(i)[1]) for i in range(table.row_count)] == [
            "model",
            "seed",
            "device",
            "lr",
            "d_steps",
            "beta",
        ]


async def test_every_chart_is_reachable_at_80x24(tmp_path):
    runs = gan_and_vae(tmp_path)
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compare(pilot, app, runs, 5)
        charts = list(screen.charts.values())
        pane = screen.query_one("#compare-charts")

        def shown(chart) -> bool:
            r = chart.region
            return r.height > 0 and pane.region.contains_region(r)

        assert not all(shown(c) for c in charts), "five charts do not fit at 80x24"
        assert app.focused is charts[0]
        for chart in charts[1:]:
            await pilot.press("down")
            await wait_for(
                pilot,
                lambda c=chart: app.focused is c and shown(c),
                what=f"{chart.border_title} focused and scrolled into view",
            )
        assert all(c.size.height >= 8 for c in charts), "three plot rows at least"


async def test_sample_grids_get_most_of_the_screen(tmp_path):
    runs = []
    for name in ("ring8-gan", "grid25-gan"):
        shutil.copytree(FIXTURE_RUNS / name, tmp_path / name)
        runs.append(tmp_path / name)
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app, runs, 4)  # d, g, modes covered, high quality
        await pilot.press("v")
        await wait_for(
            pilot,
            lambda: (
                screen.view == "samples"
                and all(p.region.height >= 20 for p in screen.query(SamplePreview))
            ),
            what="the sample grids, 20 rows high at least",
        )
        previews = list(screen.query(SamplePreview))
        assert previews[0].region.x + previews[0].region.width <= previews[1].region.x, (
            "side by side"
        )
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compare(pilot, app, runs, 4)  # d, g, modes covered, high quality
        await pilot.press("down", "down")  # the charts first, as a user would
        third = list(screen.charts.values())[2]
        await wait_for(pilot, lambda: app.focused is third, what="the third chart focused")
        await pilot.press("v")
        previews = list(screen.query(SamplePreview))
        await wait_for(
            pilot,
            lambda: all(text_of(p).strip() for p in previews),
            what="both grids drawn once shown",
        )
        assert not any("no samples" in text_of(p) for p in previews)


async def test_compare_works_with_no_color(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    runs = gan_and_vae(tmp_path)
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app, runs, 5)
        await pilot.press("v")
        await wait_for(pilot, lambda: screen.view == "samples", what="the samples view")
        await pilot.press("v")
        table = screen.query_one(ConfigDiff)
        await wait_for(
            pilot,
            lambda: screen.view == "hyperparameters" and table.size.height > 0,
            what="the hyperparameters shown",
        )
        lines = [
            strip.text
            for strip in table.render_lines(Region(0, 0, table.size.width, table.size.height))
        ]
        by_key = {
            line.split()[1] if line.lstrip().startswith("≠") else line.split()[0]: line
            for line in lines
            if line.strip()
        }
        # Without colour or styles, the differing rows still read as different.
        assert by_key["seed"].lstrip().startswith("≠")
        assert not by_key["dataset"].lstrip().startswith("≠")
        assert "[hyperparameters]" in str(screen.query_one("#compare-views").render())


async def test_charts_share_the_pane_when_there_is_room(tmp_path):
    runs = gan_and_vae(tmp_path)

    def in_view(screen) -> list:
        pane = screen.query_one("#compare-charts")
        return [
            c
            for c in screen.charts.values()
            if c.region.height > 0 and pane.region.contains_region(c.region)
        ]

    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app, runs, 5)
        # Not one chart stretched over the whole pane.
        await wait_for(pilot, lambda: len(in_view(screen)) >= 3, what="three charts in view")
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(200, 60)) as pilot:
        screen = await open_compare(pilot, app, runs, 5)

        def two_a_row() -> bool:
            d, g = screen.charts["loss d"].region, screen.charts["loss g"].region
            return d.y == g.y and d.right <= g.x

        await wait_for(pilot, two_a_row, what="two charts a row on a wide terminal")
        await wait_for(pilot, lambda: len(in_view(screen)) == 5, what="all five charts in view")


async def test_a_hostile_or_unreadable_run_is_shown_as_text(tmp_path):
    evil = make_run(
        tmp_path, "[b]evil[i", {"d": 1.0}, model="gan", config={"[red]k": "\x1b]0;pwn\x07v"}
    )
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compare(pilot, app, [evil, broken], 1)
        legend = screen.query_one(RunLegend)
        assert [r.name for r in legend.rows] == ["[b]evil[i", "broken"]
        assert legend.rows[1].status == "unreadable"
        # Shown literally, and the long error gives way to the run's number and name.
        lines = [
            strip.text
            for strip in legend.render_lines(Region(0, 0, legend.size.width, legend.size.height))
        ]
        assert "#1  [b]evil[i" in lines[1] and "#2  broken" in lines[2], lines
        assert str(broken)[:12] in lines[2], "the error, cut to the width"
        table = screen.query_one(ConfigDiff)
        rows = {
            str(table.get_row_at(i)[1]): [str(c) for c in table.get_row_at(i)[2:]]
            for i in range(table.row_count)
        }
        assert rows["[red]k"] == ["]0;pwnv", "?"], "escapes removed, the unread run is '?'"
        # A run that cannot be read does not make every row differ.
        assert table.differing == []


async def test_enter_shows_a_chart_alone_with_its_runs(tmp_path):
    a = make_run(
        tmp_path, "a", {"d": 1.0, "g": 0.5}, evals={"samples": 2500, "modes_covered": 6, "modes": 8}
    )
    b = make_run(tmp_path, "b", {"d": 1.1, "g": 0.6})
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app, [a, b], 3)
        # Losses smoothed as in the run view (TensorBoard's default); counts raw.
        assert screen.charts["loss d"].smoothing > 0
        assert not screen.charts["modes covered"].smoothing
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is not screen, what="the chart alone")
        alone = app.screen.query_one("#chart-max", LossChart)
        await wait_for(pilot, lambda: alone.points > 0, what="the chart drawn")
        assert [s.colour for s in alone.series if s.steps] == PALETTE[:2]
        subtitle = Content.from_markup(str(alone.border_subtitle)).plain
        # In their colours and glyphs (the glyph drawn along each run's line).
        assert subtitle.endswith("━●#1 ━▲#2"), "the runs it holds, under the chart"
        await pilot.press("escape")
        assert app.screen is screen


async def test_a_click_on_a_view_name_shows_that_view(tmp_path):
    runs = gan_and_vae(tmp_path)
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compare(pilot, app, runs, 5)
        bar = screen.query_one("#compare-views")
        line = "".join(s.text for s in bar.render_lines(Region(0, 0, bar.size.width, 1)))
        await pilot.click(bar, offset=(line.index("hyperparameters"), 0))
        table = screen.query_one(ConfigDiff)
        await wait_for(
            pilot,
            lambda: screen.view == "hyperparameters" and app.focused is table,
            what="the hyperparameters, focused",
        )
        await pilot.click(bar, offset=(line.index("samples"), 0))
        await wait_for(pilot, lambda: screen.view == "samples", what="the samples view")


async def test_sample_grids_step_through_training_together(tmp_path):
    from genbench.tui.screens.samples import SamplesScreen

    runs = []
    for name, steps in (("ring8-gan", (200, 400)), ("grid25-gan", (400,))):
        run = tmp_path / name
        shutil.copytree(FIXTURE_RUNS / name, run)
        for step in steps:
            shutil.copy(run / "samples" / "latest.png", run / "samples" / f"step-{step:07d}.png")
        runs.append(run)
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app, runs, 4)  # d, g, modes covered, high quality
        await pilot.press("v", "left")
        a, b = screen.query(SamplePreview)
        await wait_for(
            pilot,
            lambda: (
                screen.sample_at == 200
                and a.path == runs[0] / "samples" / "step-0000200.png"
                and "no samples yet" in text_of(b)
            ),  # run #2 has no grid that early
            what="the grids at step 200",
        )
        assert "step 200" in str(screen.query_one("#compare-run-0").border_title)
        await pilot.press("right")
        await wait_for(
            pilot,
            lambda: screen.sample_at == 400 and b.path == runs[1] / "samples" / "step-0000400.png",
            what="the grids at step 400",
        )
        await pilot.press("right")  # past the last: the newest, followed
        await wait_for(
            pilot,
            lambda: screen.sample_at is None and a.path == runs[0] / "samples" / "latest.png",
            what="the newest grids",
        )
        await pilot.press("2")  # run #2's grids alone, maximised
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, SamplesScreen) and app.screen.run_dir == runs[1],
            what="run #2's grids alone",
        )


async def test_charts_come_when_the_runs_log_their_first_lines(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a)
    write_run(b, model="vae")
    app = GenbenchApp(tmp_path, run_choices_loader=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.open_compare([a, b])
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        # Both runs read (the legend lists them), and no lines yet: no charts.
        await wait_for(pilot, lambda: laid_out(screen, 2, 0), what="both runs read")
        assert not screen.charts and screen.query_one("#compare-no-charts").display
        (a / "metrics.jsonl").write_text(metric(50) + metric(100))
        await wait_for(
            pilot,
            lambda: (
                list(screen.charts) == ["loss d", "loss g"] and screen.charts["loss d"].points > 0
            ),
            what="the new charts",
        )
        assert not screen.query_one("#compare-no-charts").display
        assert app.focused is screen.charts["loss d"]
