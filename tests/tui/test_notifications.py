"""Notifications for runs that end or collapse while the workbench is open, whoever
trains them, and eval.json's figures in the open run view (#14: 'Tell the user what
is happening', 'Stale quality', 'Silence')."""

from __future__ import annotations

import json

from textual.widgets import Static

from genbench.tui.app import GenbenchApp
from genbench.tui.screens.run import RunScreen
from tests.tui_support import metric, text_of, wait_for, write_run

SIZE = (120, 40)


def eval_record(step: int, covered: int) -> str:
    return (
        json.dumps(
            {
                "kind": "eval",
                "step": step,
                "eval": {
                    "samples": 2500,
                    "modes": 8,
                    "modes_covered": covered,
                    "fd": 3.25,
                    "collapse": covered < 6,
                },
            }
        )
        + "\n"
    )


def record_notifications(app: GenbenchApp) -> list[dict]:
    """Every notification the app raises, as its arguments (the toast itself still shows)."""
    told: list[dict] = []
    original = app.notify

    def notify(message, *, title="", severity="information", timeout=None, markup=True):
        told.append({"message": message, "title": title, "severity": severity})
        original(message, title=title, severity=severity, timeout=timeout, markup=markup)

    app.notify = notify  # type: ignore[method-assign]
    return told


async def watching(pilot, app: GenbenchApp) -> None:
    await wait_for(pilot, lambda: app.run_watch._seen is not None, what="the first poll")


def count_polls(app: GenbenchApp) -> list[int]:
    """How many times the app has polled the runs folder (one counter, in a list)."""
    polls = [0]
    original = app.run_watch.poll

    def poll():
        try:
            return original()
        finally:
            polls[0] += 1

    app.run_watch.poll = poll  # type: ignore[method-assign]
    return polls


async def more_polls(pilot, polls: list[int], n: int = 3) -> None:
    """Let the app poll ``n`` more times, so that what the first of them found has
    been told (or, what these tests check, not told): silence is waited for in polls,
    not seconds."""
    target = polls[0] + n
    await wait_for(pilot, lambda: polls[0] >= target, what=f"{n} more polls")


def naming(told: list[dict], name: str) -> list[dict]:
    return [n for n in told if name in n["message"]]


async def test_headless_run_finishing_raises_one_notification(runs_dir):
    write_run(runs_dir / "headless", step=500)
    write_run(runs_dir / "done-before", step=1000, status="completed")
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    told = record_notifications(app)
    polls = count_polls(app)
    async with app.run_test(size=SIZE) as pilot:
        await watching(pilot, app)
        await more_polls(pilot, polls)
        assert told == [], "runs already there when the app opened are not news"
        write_run(runs_dir / "headless", step=1000, status="completed")
        await wait_for(pilot, lambda: naming(told, "headless"), what="the notification")
        await more_polls(pilot, polls)  # still one
    assert len(naming(told, "headless")) == 1, told
    assert told[0]["title"] == "Run finished" and told[0]["severity"] == "information"
    assert not naming(told, "done-before")


async def test_a_run_already_finished_when_the_app_opened_raises_none(runs_dir):
    for name, status in (
        ("old-done", "completed"),
        ("old-diverged", "diverged"),
        ("old-failed", "failed"),
    ):
        write_run(runs_dir / name, step=1000, status=status, message="[/] boom")
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    told = record_notifications(app)
    polls = count_polls(app)
    async with app.run_test(size=SIZE) as pilot:
        await watching(pilot, app)
        await more_polls(pilot, polls)
    assert told == []


async def test_a_run_diverging_raises_an_error(runs_dir):
    write_run(runs_dir / "wgan", step=300)
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    told = record_notifications(app)
    polls = count_polls(app)
    async with app.run_test(size=SIZE) as pilot:
        await watching(pilot, app)
        # markup in a run folder's message is shown as text, not parsed
        write_run(
            runs_dir / "wgan",
            step=310,
            status="diverged",
            message="losses not finite at step 310 [/]\x1b[31m",
        )
        await wait_for(pilot, lambda: naming(told, "wgan"), what="the notification")
        await more_polls(pilot, polls)
        shown = list(app._notifications)
    [note] = naming(told, "wgan")
    assert note["severity"] == "error" and note["title"] == "Run diverged"
    assert "losses not finite at step 310 [/]" in note["message"]
    assert "\x1b" not in note["message"]
    assert [n.markup for n in shown if "wgan" in n.message] == [False]


async def test_mode_collapse_raises_a_warning(runs_dir):
    run = runs_dir / "collapsing"
    write_run(run, step=500)
    (run / "metrics.jsonl").write_text(metric(500) + eval_record(500, 8))
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    told = record_notifications(app)
    polls = count_polls(app)
    async with app.run_test(size=SIZE) as pilot:
        await watching(pilot, app)
        with open(run / "metrics.jsonl", "a") as fh:
            fh.write(metric(600) + eval_record(600, 2))
        await wait_for(pilot, lambda: naming(told, "collapsing"), what="the notification")
        await more_polls(pilot, polls)
    [note] = naming(told, "collapsing")
    assert note["title"] == "Mode collapse" and note["severity"] == "warning"
    assert "2/8" in note["message"]


async def test_collapse_within_classes_is_told_in_the_evaluations_words(runs_dir):
    """All ten classes covered, but every sample of two classes alike: the toast said
    '10/10 covered' under 'Mode collapse'; it says what the evaluation found."""

    def classes(step, collapse, warning=None):
        return (
            json.dumps(
                {
                    "kind": "eval",
                    "step": step,
                    "eval": {
                        "samples": 500,
                        "classes": 10,
                        "classes_covered": 10,
                        "fd": 3.0,
                        "collapse": collapse,
                        "warning": warning,
                    },
                }
            )
            + "\n"
        )

    run = runs_dir / "cgan-samey"
    write_run(run, step=500)
    (run / "metrics.jsonl").write_text(metric(500) + classes(500, False))
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    told = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await watching(pilot, app)
        with open(run / "metrics.jsonl", "a") as fh:
            fh.write(
                metric(600)
                + classes(600, True, "collapse within classes 3, 7: their samples are alike\x1b[2J")
            )
        await wait_for(pilot, lambda: naming(told, "cgan-samey"), what="the notification")
    [note] = naming(told, "cgan-samey")
    assert note["title"] == "Mode collapse"
    assert "collapse within classes 3, 7" in note["message"] and "10/10" not in note["message"]
    assert "\x1b" not in note["message"]


async def test_a_run_launched_here_is_told_once_by_its_exit_toast(runs_dir):
    run = runs_dir / "mine"
    write_run(run, step=10)
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    told = record_notifications(app)
    polls = count_polls(app)
    async with app.run_test(size=SIZE) as pilot:
        await watching(pilot, app)
        app.launched[run] = object()  # type: ignore[assignment]  # its child still runs
        write_run(run, step=1000, status="completed")
        await wait_for(
            pilot,
            lambda: app.run_watch._seen.get(run, ("",))[0] == "completed",
            what="the watch to see it complete",
        )
        await more_polls(pilot, polls)
        assert told == [], "the child's exit toast tells this one"
        app.launched.clear()
    assert told == []


async def test_eval_json_written_elsewhere_shows_in_the_open_run_view(runs_dir):
    run = runs_dir / "evaluated"
    write_run(run, step=60, status="completed")
    (run / "metrics.jsonl").write_text(metric(50) + eval_record(50, 7) + metric(60))
    app = GenbenchApp(runs_dir, watch=run, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        view = app.screen
        assert isinstance(view, RunScreen)
        live = view.query_one("#run-eval", Static)
        final = view.query_one("#run-eval-json", Static)
        await wait_for(pilot, lambda: "eval at step 50" in text_of(live), what="the live check")
        assert not final.display
        # `genbench eval` in another shell
        (run / "eval.json").write_text(
            json.dumps(
                {
                    "step": 60,
                    "samples": 10000,
                    "genbench": "test",
                    "summary": {"fd": 1.234, "modes_covered": 8, "modes": 8, "collapse": False},
                }
            )
        )
        await wait_for(
            pilot,
            lambda: final.display and "eval.json" in text_of(final),
            what="eval.json in the view",
        )
        line = text_of(final)
        assert "step 60" in line and "10,000 samples" in line
        assert "FD 1.234" in line and "8/8" in line
        # the live check's figures stay, marked as live (the CLI's `*`)
        assert "live check* at step 50" in text_of(live) and "3.25" in text_of(live)


async def test_a_fresh_generator_still_spreading_out_is_not_a_collapse(runs_dir):
    """Like the trainer's alarm: 1 of 8 modes at the first check of a new run is how
    every generator starts; only coverage lost after being healthy, or a run ending
    without reaching it, is news."""
    run = runs_dir / "young"
    write_run(run, step=500)
    (run / "metrics.jsonl").write_text(metric(500))
    ended = runs_dir / "never"
    write_run(ended, step=500)
    (ended / "metrics.jsonl").write_text(metric(500))
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    told = record_notifications(app)
    polls = count_polls(app)
    async with app.run_test(size=SIZE) as pilot:
        await watching(pilot, app)
        for folder in (run, ended):
            with open(folder / "metrics.jsonl", "a") as fh:
                fh.write(metric(550) + eval_record(550, 1))
        await more_polls(pilot, polls)
        with open(run / "metrics.jsonl", "a") as fh:
            fh.write(metric(600) + eval_record(600, 8))  # spread out: healthy
        write_run(ended, step=600, status="completed", message="trained 600 steps")
        await wait_for(pilot, lambda: naming(told, "never"), what="the end of 'never'")
        await more_polls(pilot, polls)
    assert naming(told, "young") == []
    assert sorted(n["title"] for n in naming(told, "never")) == ["Mode collapse", "Run finished"]
