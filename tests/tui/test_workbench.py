"""The workbench driven through Textual's pilot: launch, watch, stop, resume,
follow a run written by someone else, compare, validate the form, quit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select

from genbench.registry import ModelEntry
from genbench.runfolder.runs import read_run_json
from genbench.tui.app import GenbenchApp
from genbench.tui.launcher import Child
from genbench.tui.run_tail import RunTail, downsample
from genbench.tui.screens.compare import CompareScreen
from genbench.tui.screens.dialogs import ConfirmQuit, HelpScreen, ResumeDialog
from genbench.tui.screens.models import ModelsScreen
from genbench.tui.screens.new_run import FormField, NewRunScreen
from genbench.tui.screens.run import RunScreen
from genbench.tui.screens.runs import RunsScreen
from tests.tui_support import (
    ToyGAN,
    copy_fixture_runs,
    fixed_run_choices,
    metric,
    text_of,
    wait_for,
    write_run,
)

SIZE = (120, 40)


def kill_children(app: GenbenchApp) -> None:
    for child in app.launched.values():
        if child.running():
            child.proc.kill()
        child.proc.wait(timeout=30)


def status_cell(screen: RunsScreen, run_dir: Path) -> str:
    table = screen.query_one(DataTable)
    return str(table.get_cell(str(run_dir), "status"))


async def fill_form(pilot, screen: NewRunScreen, values: dict[str, str]) -> None:
    for key, value in values.items():
        selector = f"#field-{key.replace(':', '-')}"

        def ready(selector: str = selector) -> bool:
            # A field rebuilt after a model change mounts asynchronously; a Select
            # can only take a value once its own parts are composed.
            found = screen.query(selector)
            return (
                bool(found)
                and found.first().is_mounted
                and (not isinstance(found.first(), Select) or bool(found.first().query("#label")))
            )

        await wait_for(pilot, ready, what=f"field {key}")
        screen.query_one(selector).value = value
        await pilot.pause()


# -- the whole loop, with a real child process ---------------------------------------


async def test_launch_ring8_gan_watch_stop_and_resume(runs_dir):
    app = GenbenchApp(runs_dir)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("n")
            assert isinstance(app.screen, NewRunScreen)
            # Plugins (and torch) load in a thread after the first paint.
            await wait_for(pilot, lambda: app.screen.query(FormField), 60, "the form")
            form = app.screen
            form.query_one("#field-model", Select).value = "gan"
            await wait_for(
                pilot,
                lambda: (
                    form.query("#field-dataset")
                    and form.query_one("#field-model", Select).value == "gan"
                    and form.query("#field-hp-d_steps")
                ),
                what="the GAN's fields",
            )
            await fill_form(
                pilot,
                form,
                {
                    "dataset": "ring8",
                    "steps": "100000",
                    "log_every": "10",
                    "sample_every": "50",
                    "name": "ui-run",
                    "hp:hidden": "64",
                },
            )
            await pilot.press("ctrl+s")
            assert isinstance(app.screen, RunScreen)
            view = app.screen
            run_dir = runs_dir / "ui-run"
            assert view.run_dir == run_dir

            await wait_for(
                pilot,
                lambda: any(c.points for c in view.charts.values()),
                90,
                "the chart's first points",
            )
            # gan's losses on points (R1's penalty among them), the live coverage and
            # high-quality share, each optimiser's lr and the trainer's CPU and memory
            assert (
                {"d", "g", "r1"}
                <= set(view.charts)
                <= {
                    *("d", "g", "r1", "modes covered", "high quality"),
                    *("lr g", "lr d", "CPU %", "memory MB"),
                }
            )
            seen = len(view.tail.history.steps)
            await wait_for(
                pilot, lambda: len(view.tail.history.steps) > seen, 30, "the chart to gain data"
            )
            assert read_run_json(run_dir).config["hidden"] == 64

            await pilot.press("escape")
            runs = app.screen
            assert isinstance(runs, RunsScreen)
            await wait_for(
                pilot, lambda: status_cell(runs, run_dir) == "running", what="running in the table"
            )
            await pilot.press("s")
            await wait_for(
                pilot, lambda: read_run_json(run_dir).status == "stopped", 60, "the run to stop"
            )
            await wait_for(
                pilot, lambda: status_cell(runs, run_dir) == "stopped", what="stopped in the table"
            )
            await wait_for(
                pilot,
                lambda: not any(c.running() for c in app.launched.values()),
                30,
                "the child to exit",
            )

            await pilot.press("r")
            assert isinstance(app.screen, ResumeDialog)
            # gan on points decays its rate to the run's end: the dialog says so
            assert "falls to 0 at step" in text_of(app.screen.query_one("#resume-decay"))
            await pilot.press("enter")
            assert isinstance(app.screen, RunScreen)
            await wait_for(
                pilot,
                lambda: (
                    read_run_json(run_dir).resumed == 1
                    and read_run_json(run_dir).status == "running"
                ),
                90,
                "the resume",
            )
            stopped_at = read_run_json(run_dir).step
            await wait_for(
                pilot, lambda: app.screen.tail.step > stopped_at, 60, "the resumed run to train"
            )
            await pilot.press("s")
            await wait_for(
                pilot,
                lambda: read_run_json(run_dir).status == "stopped",
                60,
                "the resumed run to stop",
            )
    finally:
        kill_children(app)
    assert (run_dir / "launch.log").is_file()
    assert not list(runs_dir.glob(".*.log")), "the launch log moved into the run folder"


# -- a run written by another process ------------------------------------------------


async def test_follows_a_run_another_process_is_writing(runs_dir):
    run = runs_dir / "elsewhere"
    write_run(run, step=30)
    with open(run / "metrics.jsonl", "w") as fh:
        fh.writelines(metric(s) for s in (10, 20, 30))
    app = GenbenchApp(runs_dir, watch=run, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        view = app.screen
        assert isinstance(view, RunScreen)
        await wait_for(
            pilot,
            lambda: {c.points for c in view.charts.values()} == {3},
            what="three points per chart",
        )
        with open(run / "metrics.jsonl", "a") as fh:
            fh.writelines(metric(s) for s in (40, 50))
            fh.write(metric(60)[:20])  # a line caught half written
            fh.flush()
            await wait_for(pilot, lambda: view.tail.history.steps[-1] == 50, what="two more")
            fh.write(metric(60)[20:])
        await wait_for(pilot, lambda: view.charts["d"].points == 6, what="the completed line")
        assert view.tail.history.losses["d"][1][-1] == pytest.approx(1.06)
        write_run(run, step=60, status="completed", message="trained 60 steps")
        await wait_for(
            pilot,
            lambda: "completed" in text_of(view.query_one("#run-info")),
            what="completed status",
        )
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        await wait_for(pilot, lambda: status_cell(app.screen, run) == "completed")


def test_tail_survives_a_rewritten_log(tmp_path):
    run = tmp_path / "r"
    write_run(run)
    (run / "metrics.jsonl").write_text("".join(metric(s) for s in (10, 20, 30)) + "garbage\n")
    tail = RunTail(run)
    assert tail.poll()[0] and tail.history.steps == [10, 20, 30]
    assert tail.poll() == (False, False)  # nothing new: nothing re-read
    # A resume truncates the log after its checkpoint by replacing the file.
    tmp = run / "m.tmp"
    tmp.write_text(metric(10))
    tmp.replace(run / "metrics.jsonl")
    tail.poll()
    assert tail.history.steps == [10]


def test_downsample_keeps_long_histories_short():
    xs = list(range(100_000))
    x, y = downsample(xs, [float(v % 2) for v in xs], 200)
    assert len(x) == 200 and abs(float(y.mean()) - 0.5) < 1e-9
    x, y = downsample([1, 2, 3], [1.0, 2.0, 3.0], 200)
    assert list(y) == [1.0, 2.0, 3.0]


async def test_a_chart_of_one_log_line_has_readable_axes():
    """The first metrics line of a run is one point; autoscaling a zero-width range
    labelled the step axis 49.9999995 50.0000000 50.0000010."""
    from textual.app import App

    from genbench.tui.widgets.loss_chart import LossChart, Series

    class One(App):
        def compose(self):
            yield LossChart()

    app = One()
    async with app.run_test(size=(60, 12)) as pilot:
        chart = app.query_one(LossChart)
        chart.draw([Series("d", [50], [1.25], "#4fc3f7")])
        await pilot.pause()
        assert (chart._x_min, chart._x_max) == (0, 50)
        assert chart._y_min < 1.25 < chart._y_max
        chart.draw([Series("d", [50, 100], [1.25, 1.0], "#4fc3f7")])  # then it autoscales
        await pilot.pause()
        assert chart._auto_x_min and chart._auto_y_max


# -- the form --------------------------------------------------------------------------


async def test_form_rejects_invalid_values_inline(runs_dir):
    app = GenbenchApp(runs_dir, run_choices_loader=fixed_run_choices)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        form = app.screen
        await wait_for(pilot, lambda: form.query("#field-hp-lr"), what="the form")
        # Only compatible, present datasets are offered; the missing one says how to get it.
        options = [v for _, v in form.query_one("#field-dataset", Select)._options]
        assert options == ["ring8", "grid25"]
        assert "genbench datasets --download tinyimg" in "".join(
            text_of(n) for n in form.query(".form-note")
        )

        lr = form.query_one("#field-hp-lr", Input)
        lr.focus()
        await pilot.press("ctrl+a", "ctrl+k", *"-0.5")
        field = lr.parent.parent
        assert field.has_class("-invalid")
        assert "below its minimum 0.0" in text_of(field.query_one(".form-error"))
        await fill_form(pilot, form, {"hp:hidden": "lots", "steps": "0"})
        assert "not a valid int" in text_of(
            form.query_one("#field-hp-hidden").parent.parent.query_one(".form-error")
        )

        await pilot.press("ctrl+s")
        assert isinstance(app.screen, NewRunScreen), "nothing launched"
        assert not app.launched and not runs_dir.exists()
        assert app.focused is form.query_one("#field-steps"), "focus goes to the first problem"

        await fill_form(pilot, form, {"hp:lr": "0.01", "hp:hidden": "64", "steps": "10"})
        assert not form.query(".-invalid")


class GridTuned(ToyGAN):
    """Defaults differently on the 25-mode grid, as wgan-gp does on the 2D toys."""

    @classmethod
    def defaults_for(cls, spec):
        return {"lr": 0.01, "loss": "hinge"} if spec.num_classes == 25 else {}


def grid_tuned_run_choices():
    cat = fixed_run_choices()
    cat.registry.models["toygan"] = ModelEntry(GridTuned, cat.registry.models["toygan"].plugin)
    return cat


async def test_form_shows_the_models_defaults_for_the_chosen_data(runs_dir, monkeypatch):
    app = GenbenchApp(runs_dir, run_choices_loader=grid_tuned_run_choices)
    launched = []
    monkeypatch.setattr(app, "launch", launched.append)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        form = app.screen
        await wait_for(pilot, lambda: form.query("#field-hp-lr"), what="the form")
        lr = form.query_one("#field-hp-lr", Input)
        assert lr.value == "0.001"
        await fill_form(pilot, form, {"hp:hidden": "64", "dataset": "grid25"})
        await wait_for(pilot, lambda: lr.value == "0.01", what="grid25's lr")
        assert form.query_one("#field-hp-loss", Select).value == "hinge"
        assert "0.01 for grid25 (the Config default is 0.001)" in text_of(
            lr.parent.query_one(".form-help")
        )
        assert form.query_one("#field-hp-hidden", Input).value == "64", "an edit stays"

        await pilot.press("ctrl+s")
        (request,) = launched
        # Only the edit travels: the child applies grid25's own defaults itself.
        assert (request.dataset, request.sets) == ("grid25", ["hidden=64"])

        await fill_form(pilot, form, {"hp:lr": "0.001"})  # the user wants the plain lr
        await pilot.press("ctrl+s")
        assert sorted(launched[-1].sets) == ["hidden=64", "lr=0.001"]

        await fill_form(pilot, form, {"dataset": "ring8"})
        await wait_for(
            pilot,
            lambda: form.query_one("#field-hp-loss", Select).value == "bce",
            what="ring8's loss",
        )
        assert lr.value == "0.001"


async def test_models_screen_says_where_a_model_defaults_differently(runs_dir):
    app = GenbenchApp(runs_dir, run_choices_loader=grid_tuned_run_choices)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await wait_for(pilot, lambda: app.run_choices is not None)
        await pilot.pause()
        detail = text_of(app.screen.query_one("#model-detail"))
        assert "on grid25: lr = 0.01, loss = hinge" in detail
        assert "ring8" not in detail


async def test_models_screen_lists_models_and_broken_plugins(runs_dir):
    app = GenbenchApp(runs_dir, run_choices_loader=fixed_run_choices)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        assert isinstance(app.screen, ModelsScreen)
        await wait_for(pilot, lambda: app.run_choices is not None)
        await pilot.pause()
        assert "tensorflow" in text_of(app.screen.query_one("#models-problems"))
        assert "A model for screenshots" in text_of(app.screen.query_one("#model-detail"))
        await pilot.press("n")
        assert isinstance(app.screen, NewRunScreen) and app.screen.model_name == "toygan"


# -- runs list, compare, help, quit ---------------------------------------------------


async def test_runs_screen_previews_the_highlighted_runs_samples(tmp_path):
    from genbench.tui.widgets.sample_preview import SamplePreview

    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        box, preview = screen.query_one("#runs-preview-box"), screen.query_one(SamplePreview)
        await pilot.pause()
        assert box.display and preview.path == runs / "grid25-gan/samples/latest.png"
        await pilot.press("down")
        await pilot.pause()
        assert preview.path == runs / "ring8-gan/samples/latest.png"
        assert "ring8-gan" in box.border_title
        assert "no samples" not in text_of(preview)  # the grid is drawn
    async with GenbenchApp(runs, run_choices_loader=None).run_test(size=(80, 24)) as pilot:
        await pilot.pause()  # too few rows: the table keeps them all
        assert not pilot.app.screen.query_one("#runs-preview-box").display


async def test_runs_table_columns_grow_when_a_row_outgrows_them(tmp_path):
    """A run's step grows from 0/2000 to 1150/2000: the column widens, nothing is cut."""
    from genbench.runfolder.runs import write_json_atomic

    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(DataTable)
        width = table.columns["step"].content_width
        meta = read_run_json(runs / "grid25-gan")
        write_json_atomic(
            runs / "grid25-gan" / "run.json",
            {**meta.to_dict(), "step": 123_456_789, "steps": 987_654_321},
        )
        want = "123456789/987654321"
        await wait_for(pilot, lambda: want in str(table.get_cell(str(runs / "grid25-gan"), "step")))
        await pilot.pause()
        assert table.columns["step"].content_width >= len(want) > width


async def test_compare_two_runs(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(DataTable)
        assert table.row_count == 3
        assert status_cell(app.screen, runs / "ring8-lost") == "lost"
        await pilot.press("c")
        assert isinstance(app.screen, RunsScreen), "compare needs two marked runs"
        await pilot.press("space", "space", "c")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await wait_for(pilot, lambda: screen.query_one("#compare-chart").points > 0)
        labels = [s.label for s in screen.series()]
        assert labels == ["#1 d", "#1 g", "#2 d", "#2 g"]
        await pilot.press("escape", "enter")
        assert isinstance(app.screen, RunScreen)


async def test_help_lists_the_keys_of_the_screen(runs_dir):
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.screen.keys)
        assert keys["n"].startswith("new run") and keys["␣"].startswith("mark")
        assert "Help" in keys["?"]
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_quit_asks_while_runs_it_started_are_training(runs_dir, monkeypatch):
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.launched[runs_dir / "x"] = Child(runs_dir / "x", sleeper, runs_dir / "x.log")
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmQuit)
            await pilot.press("n")
            assert isinstance(app.screen, RunsScreen)
            await pilot.press("q", "y")
        assert sleeper.poll() is None, "quitting the app leaves its runs training"
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_quit_stops_counting_a_run_whose_folder_says_it_is_done(runs_dir):
    """A trainer writes its last status and lets go of the run's lock seconds before
    its process ends: the quit dialog counted it as still training all that time,
    and kept saying so while it stayed open."""
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    run = runs_dir / "x"
    write_run(run, status="running")  # this process stands in for the trainer
    closing = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.launched[run] = Child(run, closing, run / "launch.log")
            await pilot.press("q")
            dialog = app.screen
            assert isinstance(dialog, ConfirmQuit)
            assert "1 run started here is still training" in text_of(dialog.query_one("#quit-text"))
            write_run(run, status="completed", step=1000)  # the lock let go, the process alive
            await wait_for(
                pilot,
                lambda: "have finished" in text_of(dialog.query_one("#quit-text")),
                what="the dialog to say the run finished",
            )
            await pilot.press("n")
            assert isinstance(app.screen, RunsScreen) and closing.poll() is None
            await pilot.press("q")  # nothing training now: no question
            await pilot.pause()
            assert app.return_code == 0
    finally:
        closing.kill()
        closing.wait()


# -- speed -------------------------------------------------------------------------------

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from genbench.tui.app import GenbenchApp
import asyncio

class Probe(GenbenchApp):
    def _painted(self):
        self.torch_at_paint = "torch" in sys.modules
        self.paint_s = time.perf_counter() - t0
        super()._painted()

async def main():
    app = Probe(sys.argv[1])
    async with app.run_test(size=(80, 24)) as pilot:
        while not hasattr(app, "paint_s"):
            await pilot.pause(0.01)
        print(json.dumps({"paint_s": app.paint_s, "torch": app.torch_at_paint}))

asyncio.run(main())
"""


def test_first_paint_is_fast_and_imports_no_torch(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["torch"] is False
    # 1 s is the target on an idle 2-core machine; leave room for a busy CI box.
    assert result["paint_s"] < 2.0, result


def test_cli_help_does_not_load_textual():
    code = (
        "import sys; from genbench.cli import build_parser; build_parser(); "
        "print('textual' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


async def test_chart_titles_and_the_resume_dialog_say_what_is_true(runs_dir):
    """The VAE's one loss is titled "loss", not "loss loss"; resuming a completed run
    does not say it "stopped"."""
    run = runs_dir / "vae"
    write_run(run, model="vae", step=20, status="completed")
    with open(run / "metrics.jsonl", "w") as fh:
        fh.writelines(
            json.dumps(
                {
                    "step": s,
                    "time": s / 100,
                    "img_per_s": 100.0,
                    "losses": {"loss": 200.0 - s, "kl": 3.0},
                }
            )
            + "\n"
            for s in (10, 20)
        )
    app = GenbenchApp(runs_dir, watch=run, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        view = app.screen
        assert isinstance(view, RunScreen)
        await wait_for(pilot, lambda: set(view.charts) == {"loss", "kl"}, what="two charts")
        titles = {name: str(chart.border_title) for name, chart in view.charts.items()}
        assert titles == {"loss": "loss", "kl": "loss kl"}
    dialog = ResumeDialog("vae", 20, 40)
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(dialog)
        await pilot.pause()
        assert "last checkpoint is at step 20" in text_of(dialog.query_one("Label"))
        assert "stopped" not in text_of(dialog.query_one("Label"))
        assert not dialog.query("#resume-decay")  # a constant rate: nothing to say
        decaying = ResumeDialog("gan", 40, 80, decay_end=40)
        await app.push_screen(decaying)
        await pilot.pause()
        assert "falls to 0 at step 40 " in text_of(decaying.query_one("#resume-decay"))
