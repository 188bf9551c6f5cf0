"""The new-run form's smaller promises, clone-a-run, the status line a starting run
writes, progress on `genbench eval`, and quitting."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from textual.widgets import Input, Select

from genbench.api import DataSpec, param
from genbench.registry import ModelEntry
from genbench.runfolder import writer as writer_module
from genbench.tui.app import GenbenchApp
from genbench.tui.screens.new_run import ConfirmDiscard, NewRunScreen
from genbench.tui.screens.runs import RunsScreen
from tests.tui_support import MissingImages, ToyConfig, ToyGAN, fixed_run_choices, wait_for


def _run_json_writes(monkeypatch) -> list[dict]:
    """Every run.json the trainer writes, in order, as the workbench would read it."""
    seen: list[dict] = []
    write = writer_module.write_atomic

    def recording(path, data):
        write(path, data)
        if path.name == "run.json":
            seen.append(json.loads(data))

    monkeypatch.setattr(writer_module, "write_atomic", recording)
    return seen


def test_a_starting_run_says_what_it_does_until_its_first_losses(runs_dir, monkeypatch):
    from genbench.registry import load_registry
    from genbench.training.launch import ResumeRequest, RunRequest, new_run, resume_run

    seen = _run_json_writes(monkeypatch)
    request = RunRequest(
        model="gan",
        dataset="ring8",
        steps=4,
        runs_dir=runs_dir,
        name="phases",
        log_every=3,
        device="cpu",
    )
    outcome = new_run(request, load_registry(), lambda event: None).run()
    assert outcome.status == "completed"
    before_first_step = [w["message"] for w in seen if w["step"] == 0]
    assert before_first_step and all(
        m == "first step: warming up on cpu" for m in before_first_step
    ), before_first_step
    # After the first step and before the first metrics line (at step 3):
    assert any(
        w["message"] == "training: first losses at step 3" for w in seen if 1 <= w["step"] < 3
    ), [(w["step"], w["message"]) for w in seen]
    # From the first metrics line on, the losses speak: the phase message is gone.
    after = [w["message"] for w in seen if w["step"] >= 3]
    assert after[0] == "" and after[-1] == "trained 4 steps", after
    assert not any(m.startswith(("first step", "training:")) for m in after)

    # Resumed: the same from the checkpoint's step on.
    seen.clear()
    outcome = resume_run(
        runs_dir / "phases", load_registry(), lambda event: None, ResumeRequest(steps=8)
    ).run()
    assert outcome.status == "completed"
    messages = [(w["step"], w["message"]) for w in seen]
    assert (4, "first step: step 5 on cpu, the first after resuming") in messages, messages
    assert (5, "training: first losses at step 6") in messages, messages
    assert messages[-1] == (8, "trained 8 steps")


# -- `genbench eval`: progress for a person, silence for a pipe ---------------------------


def _trained_ring8(runs_dir) -> Path:
    from genbench.cli import main

    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "gan",
                "--dataset",
                "ring8",
                "--steps",
                "2",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "r",
                "--quiet",
            ]
        )
        == 0
    )
    return runs_dir / "r"


def test_eval_tells_its_progress_and_is_silent_when_not_a_terminal(runs_dir, capsys, monkeypatch):
    from genbench.cli import eval as eval_cli
    from genbench.cli import main
    from genbench.metrics.run_eval import evaluate_run
    from genbench.registry import load_registry
    from genbench.training.launch import restore_model

    run = _trained_ring8(runs_dir)
    capsys.readouterr()
    told: list[tuple] = []
    registry = load_registry()
    evaluate_run(
        run,
        lambda d: restore_model(d, registry, "cpu"),
        n=300,
        progress=lambda *event: told.append(event),
    )
    phases = [phase for phase, _, _ in told]
    assert phases[0] == "restore" and phases[-1] == "write"
    drawn = [(done, total) for phase, done, total in told if phase == "samples"]
    assert drawn[-1] == (300, 300) and len(drawn) >= 2, drawn  # before, and as drawn
    assert phases.index("metrics") > phases.index("samples")

    # Piped (capsys: stderr is no terminal): the table and nothing else.
    assert main(["eval", str(run), "-n", "50"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "modes covered" in out

    # On a terminal the bar is drawn on stderr, fed by those events ...
    drawn_bars: list[bool] = []
    real_bar = eval_cli.progress_bar

    def spy(show):
        drawn_bars.append(show)
        return real_bar(False)  # the bar's drawing itself is rich's business

    monkeypatch.setattr(eval_cli, "progress_bar", spy)
    monkeypatch.setattr(eval_cli, "stderr_is_terminal", lambda: True)
    assert main(["eval", str(run), "-n", "50"]) == 0
    # ... but never with --json or --quiet, whose output is for scripts.
    assert main(["eval", str(run), "-n", "50", "--json"]) == 0
    assert main(["eval", str(run), "-n", "50", "--quiet"]) == 0
    assert drawn_bars == [True, False, False]
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"wrote {run / 'eval.json'}", out[-3:]


def test_eval_progress_bar_names_the_phase_and_counts_samples():
    import io

    from rich.console import Console

    from genbench.cli import eval as eval_cli

    screen = io.StringIO()
    with eval_cli.progress_bar(True, Console(file=screen, force_terminal=True, width=100)) as tell:
        assert tell is not None
        tell("samples", 250, 500)
    assert "drawing samples" in screen.getvalue() and "250/500" in screen.getvalue()


# -- the new-run form ---------------------------------------------------------------------


class RingOnly(ToyGAN):
    """Takes the ring but not the grid (as an architecture limit would)."""

    name = "ringonly"
    title = "Ring only"

    @classmethod
    def unsupported_reason(cls, spec: DataSpec) -> str | None:
        return "only 8 modes" if spec.num_classes == 25 else super().unsupported_reason(spec)


class Another(ToyGAN):
    name = "another"
    title = "Another toy"


def _missing(name: str) -> MissingImages:
    ds = MissingImages()
    ds.name = name
    return ds


def three_model_choices():
    cat = fixed_run_choices()
    plugin = cat.registry.models["toygan"].plugin
    cat.registry.models["ringonly"] = ModelEntry(RingOnly, plugin)
    cat.registry.models["another"] = ModelEntry(Another, plugin)
    # Many datasets not here, as mnist, cifar10, ... are on a fresh machine.
    cat.datasets += [_missing(n) for n in ("mnist", "kmnist", "cifar10", "svhn", "celeba")]
    return cat


async def open_form(pilot, app, model: str | None = None) -> NewRunScreen:
    app.open_new_run(model)
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, NewRunScreen) and bool(app.screen.query("#field-hp-lr")),
        what="the form",
    )
    await pilot.pause()
    return app.screen


async def set_field(pilot, form: NewRunScreen, key: str, value: str) -> None:
    selector = f"#field-{key.replace(':', '-')}"
    await wait_for(
        pilot,
        lambda: (
            form.query(selector)
            and form.query_one(selector).is_mounted
            and (
                not isinstance(form.query_one(selector), Select)
                or bool(form.query_one(selector).query("#label"))
            )
        ),
        what=f"field {key}",
    )
    form.query_one(selector).value = value
    await pilot.pause()


def launches(app, monkeypatch) -> list:
    launched: list = []
    monkeypatch.setattr(app, "launch", launched.append)
    return launched


def record_notifications(app) -> list[dict]:
    told: list[dict] = []
    original = app.notify

    def notify(message, *, title="", severity="information", timeout=None, markup=True):
        told.append({"message": message, "title": title, "severity": severity})
        original(message, title=title, severity=severity, timeout=timeout, markup=markup)

    app.notify = notify
    return told


async def test_escape_leaves_an_untouched_form_and_asks_before_discarding_edits(runs_dir):
    app = GenbenchApp(runs_dir, run_choices_loader=three_model_choices)
    told = record_notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, app, "toygan")
        await pilot.press("escape")
        # Screens change a tick or more after the key (more under load, as in CI).
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, RunsScreen),
            what="nothing typed: esc just goes back",
        )

        form = await open_form(pilot, app, "toygan")
        await set_field(pilot, form, "steps", "777")
        await pilot.press("escape")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConfirmDiscard),
            what="an edit is not thrown away unasked",
        )
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is form, what="back in the form")
        assert form.query_one("#field-steps", Input).value == "777"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDiscard), what="asked again")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="discarded")
        assert any("discarded" in t["message"] for t in told), told


async def test_switching_model_keeps_a_dataset_the_new_model_takes(runs_dir):
    app = GenbenchApp(runs_dir, run_choices_loader=three_model_choices)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, app, "toygan")
        await set_field(pilot, form, "dataset", "grid25")
        await set_field(pilot, form, "steps", "321")

        await set_field(pilot, form, "model", "another")  # takes the grid too
        await wait_for(
            pilot,
            lambda: form.entry.cls is Another and form.query("#field-dataset"),
            what="the rebuilt form",
        )
        await pilot.pause()
        assert form.query_one("#field-dataset", Select).value == "grid25"
        assert form.query_one("#field-steps", Input).value == "321", "run settings stay"

        await set_field(pilot, form, "model", "ringonly")  # does not take the grid
        await wait_for(
            pilot,
            lambda: form.entry.cls is RingOnly and form.query("#field-dataset"),
            what="the rebuilt form",
        )
        await pilot.pause()
        assert form.query_one("#field-dataset", Select).value == "ring8"
        assert form.query_one("#field-hp-lr", Input).value == "0.001", "ring8's defaults"


async def test_launch_is_on_screen_at_80x24_and_ctrl_s_launches_from_any_field(
    runs_dir, monkeypatch
):
    app = GenbenchApp(runs_dir, run_choices_loader=three_model_choices)
    launched = launches(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot, app, "toygan")
        button = form.query_one("#launch")
        region = button.region
        assert region.area and region.bottom <= 24
        widget, _ = form.get_widget_at(region.x + 1, region.y)
        assert widget is button, "the Launch button is visible, not below the fold"
        # The datasets not here take one line, not one each.
        assert form.query_one("#not-here").region.height == 1
        # From the last field (scrolled into view), ctrl+s launches.
        last = list(form.query(Select).results())[-1]
        last.focus()
        await pilot.press("ctrl+s")
        assert len(launched) == 1 and launched[0].model == "toygan"


async def test_precision_eval_and_checkpoint_intervals_reach_the_command_line(
    runs_dir, monkeypatch
):
    app = GenbenchApp(runs_dir, run_choices_loader=three_model_choices)
    launched = launches(app, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, app, "toygan")
        await set_field(pilot, form, "eval_every", "0")
        await pilot.press("ctrl+s")
        assert not launched, "eval every 0 is refused, as --eval-every 0 is"
        assert form.query_one("#field-eval_every").parent.parent.has_class("-invalid")

        await set_field(pilot, form, "precision", "bf16")
        await set_field(pilot, form, "eval_every", "70")
        await set_field(pilot, form, "checkpoint_every", "90")
        await pilot.press("ctrl+s")
        argv = launched[-1].argv()
        flags = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
        assert flags["--precision"] == "bf16"
        assert flags["--eval-every"] == "70" and flags["--checkpoint-every"] == "90"


def write_source_run(run_dir: Path, **overrides) -> None:
    run_dir.mkdir(parents=True)
    meta = {
        "id": run_dir.name,
        "model": "toygan",
        "dataset": "grid25",
        "status": "completed",
        "config": {"lr": 0.05, "hidden": 7, "loss": "hinge", "spectral": True},
        "seed": 9,
        "batch_size": 16,
        "steps": 123,
        "precision": "bf16",
        "device": "cuda:0",
        "intervals": {"log": 5, "sample": 40, "checkpoint": 60, "eval": 30},
        # device: what auto picked there; the run asked for auto (null)
        # threads 1: a number every machine allows (the form bounds it by the CPUs)
        "options": {"device": None, "threads": "1"},
        # run.json is read, never the command line: this one says otherwise
        "command": ["genbench", "run", "--threads", "2", "--device", "cpu"],
        "step": 123,
    }
    (run_dir / "run.json").write_text(json.dumps({**meta, **overrides}))


async def cloned_form(pilot, app, run_dir, field):
    """The new-run form as app.clone_run(run_dir) fills it, once ``field`` is shown."""
    await wait_for(pilot, lambda: app.run_choices is not None, what="the models")
    app.clone_run(run_dir)
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, NewRunScreen) and app.screen.query(f"#field-hp-{field}"),
        what="the form",
    )
    await pilot.pause()
    return app.screen


async def test_clone_run_fills_the_form_from_the_run_folder(runs_dir, monkeypatch):
    write_source_run(runs_dir / "src")
    app = GenbenchApp(runs_dir, run_choices_loader=three_model_choices)
    launched = launches(app, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await cloned_form(pilot, app, runs_dir / "src", "lr")
        v = form.values()
        assert (v["model"], v["dataset"]) == ("toygan", "grid25")
        assert (v["hp:lr"], v["hp:hidden"], v["hp:loss"], v["hp:spectral"]) == (
            "0.05",
            "7",
            "hinge",
            "True",
        )
        assert (v["steps"], v["batch_size"], v["seed"], v["precision"], v["threads"]) == (
            "123",
            "16",
            "9",
            "bf16",
            "1",
        )
        assert v["device"] == "auto", "the device asked for, not the one auto picked there"
        assert (v["log_every"], v["sample_every"], v["checkpoint_every"], v["eval_every"]) == (
            "5",
            "40",
            "60",
            "30",
        )
        assert v["name"] == "src-clone"
        assert not form.edited(), "a clone's values are where the form starts"
        await pilot.press("ctrl+s")
        (request,) = launched
        assert request.name == "src-clone" and request.batch_size == 16
        assert request.sets == ["lr=0.05", "hidden=7", "loss=hinge", "spectral=True"]


@dataclasses.dataclass
class GrownConfig(ToyConfig):
    blocks: int = param(4, "blocks (runs saved before this setting had 2)", min=1, old_runs=2)


class Grown(ToyGAN):
    """A plugin that added a setting after runs were made with it."""

    name = "grown"
    title = "Grown toy"
    Config = GrownConfig


async def test_clone_of_a_run_older_than_a_setting_takes_the_value_it_was_built_with(
    runs_dir, monkeypatch
):
    write_source_run(runs_dir / "old", model="grown")  # its config lacks blocks
    catalog = three_model_choices()
    catalog.registry.models["grown"] = ModelEntry(Grown, catalog.registry.models["toygan"].plugin)
    app = GenbenchApp(runs_dir, run_choices_loader=lambda: catalog)
    launches(app, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await cloned_form(pilot, app, runs_dir / "old", "blocks")
        assert form.values()["hp:blocks"] == "2", "the value the old run was built with"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewRunScreen), what="closed")
        form = await open_form(pilot, app, "grown")
        assert form.values()["hp:blocks"] == "4", "a new run gets the default"


async def test_clone_run_of_a_hostile_or_foreign_run_is_one_notification(runs_dir):
    write_source_run(
        runs_dir / "bad", config={"lr": -1, "hidden": "lots[/]", "loss": "x", "gone": 1}
    )
    write_source_run(runs_dir / "foreign", model="tfgan")
    (runs_dir / "garbage").mkdir()
    (runs_dir / "garbage" / "run.json").write_text('{"model": [1, 2], "dataset": "\x1b[2J"}')
    app = GenbenchApp(runs_dir, run_choices_loader=three_model_choices)
    told = record_notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.run_choices is not None, what="the models")
        app.clone_run(runs_dir / "garbage")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert len(told) == 1 and told[0]["title"] == "Cannot clone", told

        app.clone_run(runs_dir / "foreign")
        await wait_for(pilot, lambda: len(told) == 2, what="the notification")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and "tfgan" in told[1]["message"]

        app.clone_run(runs_dir / "bad")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, NewRunScreen) and app.screen.query("#field-hp-lr"),
            what="the form",
        )
        await pilot.pause()
        form = app.screen
        invalid = {f.spec.key for f in form.query(".form-field.-invalid")}
        assert {"hp:lr", "hp:hidden", "hp:loss"} <= invalid, invalid
        assert form.query_one("#field-hp-hidden", Input).value == "lots[/]"
        assert len(told) == 3 and "gone" in told[2]["message"], told


async def test_form_opens_and_validates_with_no_color(runs_dir, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = GenbenchApp(runs_dir, run_choices_loader=three_model_choices)
    launched = launches(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot, app, "toygan")
        await set_field(pilot, form, "hp:hidden", "lots")
        await pilot.press("ctrl+s")
        assert not launched and form.query(".-invalid")
        await set_field(pilot, form, "hp:hidden", "64")
        await pilot.press("ctrl+s")
        assert len(launched) == 1
    assert app.return_code in (None, 0)


# -- quitting -------------------------------------------------------------------------------

QUIT_WHILE_LOADING = r"""
import sys, threading
from pathlib import Path
from genbench.tui.app import GenbenchApp

started, never = threading.Event(), threading.Event()

def loader():                   # a plugin import that has not finished
    started.set()
    never.wait()

async def quit_once_loading(pilot):
    while not started.is_set():
        await pilot.pause(0.05)
    await pilot.press("q")

app = GenbenchApp(Path(sys.argv[1]), run_choices_loader=loader)
app.run(headless=True, size=(80, 24), auto_pilot=quit_once_loading)
print("exited", flush=True)
"""


def test_quit_does_not_wait_for_plugins_still_loading(runs_dir):
    import subprocess
    import sys

    runs_dir.mkdir()
    # Before: asyncio.run waited at exit for the loading thread, here for ever.
    done = subprocess.run(
        [sys.executable, "-c", QUIT_WHILE_LOADING, str(runs_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "exited", done.stderr[-2000:]


def test_genbench_quits_on_q_with_the_terminal_restored(runs_dir):
    """The real command on a pseudo-terminal: q ends it with exit code 0 and the
    terminal given back (alternate screen left, cursor shown) although the process
    ends without the interpreter's teardown."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    runs_dir.mkdir()
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "genbench", "--runs-dir", str(runs_dir)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        start_new_session=True,
    )
    os.close(follower)
    seen = b""

    def read_for(seconds: float) -> None:
        nonlocal seen
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(leader, 65536)
                except OSError:  # the process is gone and the pty closed
                    return

    try:
        deadline = time.monotonic() + 60
        while b"genbench" not in seen and time.monotonic() < deadline:
            read_for(0.5)  # the first paint
        read_for(1.0)
        os.write(leader, b"q")
        code = proc.wait(timeout=60)
        read_for(0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    assert code == 0, seen[-2000:]
    tail = seen[seen.rfind(b"\x1b[?1049l") :]
    assert b"\x1b[?1049l" in seen and b"\x1b[?25h" in tail, seen[-500:]


async def test_augment_and_subset_fields_reach_the_command_line_for_images_only(
    runs_dir, monkeypatch
):
    from genbench.tui.launcher import LaunchRequest

    app = GenbenchApp(runs_dir, run_choices_loader=three_model_choices)
    launched = launches(app, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, app, "toygan")
        await set_field(pilot, form, "subset", "many")
        await pilot.press("ctrl+s")
        assert not launched and form.query_one("#field-subset").parent.parent.has_class("-invalid")
        await set_field(pilot, form, "subset", "")
        await set_field(pilot, form, "augment", "flip")
        await pilot.press("ctrl+s")
        assert not launched, "the form's dataset is 2D points: --augment would be refused"
        await set_field(pilot, form, "augment", "off")
        await pilot.press("ctrl+s")
        argv = launched[-1].argv()
        assert "--augment" not in argv and "--subset" not in argv
    request = LaunchRequest(
        model="dcgan",
        dataset="fashion-mnist",
        runs_dir=runs_dir,
        name="r",
        steps=10,
        batch_size=8,
        seed=0,
        augment="flip,translate",
        subset=500,
    )
    argv = request.argv()
    assert argv[argv.index("--augment") + 1] == "flip,translate"
    assert argv[argv.index("--subset") + 1] == "500"


async def test_the_focused_field_is_told_apart_without_colour(runs_dir, monkeypatch):
    """Textual's focus on a compact field is a 5% tint: one 256-colour step, and the
    same grey under NO_COLOR. The focused field's label is reversed (a style, seen
    without colour) and its control takes the accent's tint; only that field's."""
    from genbench.tui.screens.new_run import FormField

    monkeypatch.setenv("NO_COLOR", "1")
    app = GenbenchApp(runs_dir, run_choices_loader=three_model_choices)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, app, "toygan")
        seen = 0
        for _ in range(6):
            await pilot.press("tab")
            await pilot.pause()
            focused = app.focused
            fields = list(form.query(FormField))
            marked = [f for f in fields if f.has_class("-focused")]
            if not any(focused in f.query("*") for f in fields):
                assert not marked  # a toggle or a button: no field is marked
                continue
            seen += 1
            assert len(marked) == 1 and focused in marked[0].query("*")
            label = marked[0].query_one(".form-label")
            assert label.styles.text_style.reverse and label.styles.text_style.bold
            other = next(f for f in fields if f is not marked[0])
            assert not other.query_one(".form-label").styles.text_style.reverse
            if isinstance(focused, Input):
                blurred = next(i for i in form.query(Input) if i is not focused)
                assert focused.styles.background != blurred.styles.background
        assert seen >= 3
