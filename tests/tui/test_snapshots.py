"""Screenshots of the workbench's main screens at 80x24, 120x40 and 200x60.

Deterministic by construction: a fixed runs folder (tests/fixtures/tui_runs, no
clocks or local pids), fixed run choices with a torch-free model, no cursor blink.
After a deliberate change to how a screen looks, inspect the report and refresh:
    .venv/bin/pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Input

from genbench.tui.app import GenbenchApp
from tests.tui_support import (
    FIXTURE_RUNS,
    copy_fixture_runs,
    fixed_run_choices,
    wait_for,
    wait_until_still,
)

# A wgan-gp run: five metrics (critic, wasserstein, gp, g, modes covered).
FIVE_METRICS = FIXTURE_RUNS.parent / "tui_runs_more" / "ring8-wgan-gp"

SIZES = [(80, 24), (120, 40), (200, 60)]
at_each_size = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")


# A CPU with AVX-512, AVX512-BF16 and AMX (a Sapphire Rapids Xeon).
SNAPSHOT_CPU = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})


@pytest.fixture(autouse=True)
def a_cpu_with_native_bf16(monkeypatch):
    """The form's precision help says what this CPU does with bf16: the same CPU on
    every machine the snapshots are taken on."""
    from genbench.host import bf16

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(bf16, "cpu_flags", lambda: SNAPSHOT_CPU)


@pytest.fixture
def runs(tmp_path) -> Path:
    copy_fixture_runs(tmp_path / "runs")
    return Path("runs")  # relative to the test's own folder, so the title never varies


def settled(*keys: str, ready=None):
    """run_before: press keys, wait for the run choices (and ``ready``), stop cursors blinking."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: app.run_choices is not None, what="run choices")
        if keys:
            await pilot.press(*keys)
        if ready is not None:
            await wait_for(pilot, lambda: ready(app), what="the screen")
        for widget in app.screen.query(Input):
            widget.cursor_blink = False
        await pilot.wait_for_scheduled_animations()
        await wait_until_still(pilot)

    return run_before


def app_for(runs: Path, watch: str | None = None) -> GenbenchApp:
    return GenbenchApp(
        runs, watch=runs / watch if watch else None, run_choices_loader=fixed_run_choices
    )


@at_each_size
def test_runs_screen(snap_compare, runs, size):
    assert snap_compare(app_for(runs), terminal_size=size, run_before=settled("down"))


@at_each_size
def test_runs_list_of_generated_ids(snap_compare, size, tmp_path):
    """Ids as genbench makes them (time-model-dataset), shown by their short unique
    prefixes; a run's tags and note; the columns that fit each width, by priority;
    the highlighted run whole in the detail line (80x24) or the preview's border."""
    from tests.tui.test_runs_tags_and_search import make_runs

    made = make_runs(tmp_path / "runs")
    (made["20261201-091542-dcgan-fashion-mnist"] / "tags.txt").write_text("baseline\n")
    (made["20261201-091542-dcgan-fashion-mnist"] / "note.txt").write_text(
        "lr 2e-4 as in the paper\n"
    )
    assert snap_compare(app_for(Path("runs")), terminal_size=size, run_before=settled("down"))


def run_charts_drawn(app) -> bool:
    """A chart per series the run's tail reads (losses, live quality, lr, CPU and
    memory), each drawn."""
    screen = app.screen
    if type(screen).__name__ != "RunScreen":
        return False
    h = screen.tail.history
    expected = len(h.losses) + len(h.quality) + len(h.lr) + len(h.system)
    charts = screen.charts.values()
    return expected > 0 and len(charts) == expected and all(c.points for c in charts)


@at_each_size
def test_run_view(snap_compare, runs, size):
    # a chart per loss (d, g) and per live quality number (modes covered, high quality)
    assert snap_compare(
        app_for(runs, "ring8-gan"), terminal_size=size, run_before=settled(ready=run_charts_drawn)
    )


@at_each_size
def test_run_view_read_closely(snap_compare, runs, size):
    """The run view by relative time, zoomed in, with the cursor and its readout line."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: run_charts_drawn(app), what="the charts")
        await pilot.press("x", "x", "right_square_bracket", "full_stop", "comma")
        await wait_for(
            pilot,
            lambda: (
                app.screen.query_one("#run-readout").display
                and app.screen.view.cursor is not None
                and app.screen.view.zoom is not None
            ),
            what="zoomed, with the cursor",
        )
        await pilot.wait_for_scheduled_animations()
        await wait_until_still(pilot)

    assert snap_compare(app_for(runs, "ring8-gan"), terminal_size=size, run_before=run_before)


@at_each_size
def test_run_view_of_five_metrics(snap_compare, runs, size, tmp_path):
    shutil.copytree(FIVE_METRICS, tmp_path / runs / "ring8-wgan-gp")
    assert snap_compare(
        app_for(runs, "ring8-wgan-gp"),
        terminal_size=size,
        run_before=settled(ready=run_charts_drawn),
    )


@at_each_size
def test_compare(snap_compare, runs, size):
    def drawn(app):
        return (
            type(app.screen).__name__ == "CompareScreen"
            and app.screen.query_one("#compare-chart").points > 0
        )

    assert snap_compare(
        app_for(runs), terminal_size=size, run_before=settled("space", "space", "c", ready=drawn)
    )


@at_each_size
def test_compare_read_closely(snap_compare, runs, size):
    """Compare with run #1 in front, zoomed in, with the cursor and its readout."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: app.run_choices is not None, what="run choices")
        await pilot.press("space", "space", "c")
        await wait_for(
            pilot,
            lambda: (
                type(app.screen).__name__ == "CompareScreen"
                and not any(t.behind for t in app.screen.tails)
                and all(c.points > 0 for c in app.screen.charts.values())
            ),
            what="compare drawn, both logs read",
        )
        await wait_until_still(pilot)  # the zoom halves the range both runs span
        await pilot.press("f", "right_square_bracket", "full_stop")
        await wait_for(
            pilot,
            lambda: (
                app.screen.query_one("#compare-readout").display
                and app.screen.chart_view.zoom is not None
            ),
            what="zoomed, with the cursor",
        )
        await pilot.wait_for_scheduled_animations()
        await wait_until_still(pilot)

    assert snap_compare(app_for(runs), terminal_size=size, run_before=run_before)


def test_compare_hyperparameters(snap_compare, runs):
    def shown(app):
        return (
            type(app.screen).__name__ == "CompareScreen"
            and app.screen.query_one("#compare-chart").points > 0
        )

    assert snap_compare(
        app_for(runs),
        terminal_size=(120, 40),
        run_before=settled("space", "space", "c", "v", "v", ready=shown),
    )


@at_each_size
def test_models(snap_compare, runs, size):
    assert snap_compare(app_for(runs), terminal_size=size, run_before=settled("m"))


@at_each_size
def test_new_run_form(snap_compare, runs, size):
    def built(app):
        return bool(app.screen.query("#field-hp-lr"))

    assert snap_compare(app_for(runs), terminal_size=size, run_before=settled("n", ready=built))


def test_new_run_form_with_an_invalid_value(snap_compare, runs):
    async def run_before(pilot):
        await settled("n", ready=lambda app: bool(app.screen.query("#field-hp-lr")))(pilot)
        pilot.app.screen.query_one("#field-hp-lr", Input).value = "-1"
        await pilot.press("ctrl+s")
        await wait_until_still(pilot)

    assert snap_compare(app_for(runs), terminal_size=(120, 40), run_before=run_before)


def test_help(snap_compare, runs):
    assert snap_compare(app_for(runs), terminal_size=(80, 24), run_before=settled("question_mark"))
