"""What the run tail gives the charts beyond the losses (learning rates, the trainer's
CPU and memory, sample quality, resume marks), read from what a real trainer wrote and
from hostile lines; and the phase a run is in where no step is counted, as the run
view and the runs list show it."""

from __future__ import annotations

import json
import os

import pytest
from textual.widgets import DataTable

from genbench.registry import load_registry
from genbench.training.launch import ResumeRequest, RunRequest, new_run, resume_run
from genbench.tui.app import GenbenchApp
from genbench.tui.run_tail import MARKS_MAX, RunTail, last_phase
from genbench.tui.screens.run import RunScreen
from genbench.tui.screens.runs import RunsScreen
from tests.tui_support import metric, text_of, wait_for, write_run


@pytest.fixture
def resumed_run(runs_dir):
    """gan on ring8 (lr 1e-3, lr_decay=linear) for 4 steps with live evaluations, then
    resumed to 6 as it was and to 8 with another lr."""
    from genbench.metrics.evaluate import live_evaluator

    request = RunRequest(
        model="gan",
        dataset="ring8",
        steps=4,
        runs_dir=runs_dir,
        name="resumed",
        log_every=1,
        eval_every=2,
        device="cpu",
    )
    new_run(request, load_registry(), lambda e: None, evaluator=live_evaluator).run()
    run = runs_dir / "resumed"
    for again in (ResumeRequest(steps=6), ResumeRequest(steps=8, sets=["lr=0.0005"])):
        resume_run(run, load_registry(), lambda e: None, again, evaluator=live_evaluator).run()
    return run


def test_the_tail_exposes_lr_system_quality_and_resume_marks(resumed_run):
    tail = RunTail(resumed_run)
    tail.poll()
    h = tail.history
    assert set(h.lr) == {"lr g", "lr d"}
    steps, rates = h.lr["lr g"]
    assert steps == list(range(1, 9))
    # 4 steps planned: down to 0 at step 4; then a warm restart to each new end.
    assert rates[:4] == pytest.approx([7.5e-4, 5e-4, 2.5e-4, 0.0])
    assert rates[5] == 0.0 and rates[-1] == 0.0
    assert set(h.system) == {"CPU %", "memory MB"}
    assert h.system["memory MB"][0] == steps and min(h.system["memory MB"][1]) > 10
    # Live evaluations at steps 2, 4, 6, 8: modes covered and the high-quality share.
    for title in ("modes covered", "high quality"):
        assert h.quality[title][0] == [2, 4, 6, 8]
    assert all(0.0 <= v <= 1.0 for v in h.quality["high quality"][1])
    assert tail.marks == [(4, "resumed"), (6, "resumed: lr 0.001→0.0005")]


def _lines(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_the_tail_skips_what_is_not_a_finite_number_under_a_short_name(tmp_path):
    run = tmp_path / "hostile"
    write_run(run, step=5)
    (run / "metrics.jsonl").write_text(
        _lines(
            {"step": 1, "losses": {"g": 1.0}, "lr": {"g": 0.1, "d": "fast"}, "sys": {"cpu": 50}},
            {"step": 2, "losses": {"g": 1.0}, "lr": [0.1], "sys": "busy"},
            {"step": 3, "losses": {"g": 1.0}, "lr": {"g": True, "\x1b[2Jx": 0.5}},
            {"step": 4, "losses": {"g": 1.0}, "sys": {"cpu": None, "gpu": 3, "rss_mb": 9}},
            {"step": 5, "kind": "resume", "resume": "yes"},
            {"step": 5, "kind": "resume", "resume": {"changes": [{"key": "\x1b[31mlr", "old": 1}]}},
            {"step": 6, "kind": "resume", "resume": {"changes": [{"key": 3}, "x", None]}},
            {"step": -1, "kind": "resume", "resume": {}},
        )
        + '{"step": 7, "losses": {"g": 1.0}, "lr": {"g": 1e999}, "sys": {"cpu": -1e999}}\n'
    )
    tail = RunTail(run)
    tail.poll()
    assert tail.history.lr == {"lr g": ([1], [0.1])}
    assert tail.history.system == {"CPU %": ([1], [50.0]), "memory MB": ([4], [9.0])}
    # The same step resumed twice: the latest line says it; labels are plain text.
    assert tail.marks == [(5, "resumed: [31mlr 1→null"), (6, "resumed")]
    assert all("\x1b" not in label for _, label in tail.marks)


def test_marks_are_bounded_and_old_runs_get_theirs_from_run_json(tmp_path):
    run = tmp_path / "old"
    # A run resumed before resumes were marked: run.json's changes alone.
    write_run(
        run,
        step=20,
        changes=[
            {"step": 10, "key": "lr", "old": 0.001, "new": 0.0005},
            {"step": 10, "key": "precision", "old": "fp32", "new": "bf16"},
        ],
    )
    many = [{"step": s, "kind": "resume", "resume": {}} for s in range(11, 12 + MARKS_MAX)]
    (run / "metrics.jsonl").write_text(metric(5) + _lines(*many))
    tail = RunTail(run)
    tail.poll()
    marks = tail.marks
    assert marks[0] == (10, "settings changed: lr 0.001→0.0005, precision fp32→bf16")
    assert len(marks) == MARKS_MAX + 1 and marks[-1][0] == 11 + MARKS_MAX


def test_the_last_phase_of_a_launch_log(tmp_path):
    log = tmp_path / "launch.log"
    log.write_text(
        '{"event": "phase", "phase": "starting: importing torch"}\n'
        "a warning a plugin printed\n"
        '{"event": "phase", "phase": "starting: loading \\u001b[2Jfashion-mnist"}\n\n'
    )
    assert last_phase(log) == "starting: loading [2Jfashion-mnist"
    with log.open("a") as fh:  # set-up is over once anything else follows
        fh.write('{"event": "start", "step": 0}\n')
    assert last_phase(log) is None
    (tmp_path / "folder").mkdir()
    assert last_phase(tmp_path / "folder") is None
    assert last_phase(tmp_path / "missing") is None


def test_a_resume_setting_up_shows_its_phase_until_the_trainer_takes_over(tmp_path):
    run = tmp_path / "stopped"
    write_run(run, step=24, status="stopped", message="stopped by SIGINT at step 24")
    log = run / "launch.log"
    log.write_text('{"event": "end", "status": "stopped", "step": 24}\n')
    os.utime(run / "run.json", ns=(2_000_000_000, 2_000_000_000))
    os.utime(log, ns=(1_000_000_000, 1_000_000_000))  # the first session's log: older
    tail = RunTail(run)
    tail.poll()
    assert tail.phase == ""
    with log.open("a") as fh:  # `r`: the resumed trainer appends its set-up
        fh.write(
            '{"event": "phase", "phase": "starting: reading the run and its last checkpoint"}\n'
        )
    assert tail.poll()[0] and tail.phase == "starting: reading the run and its last checkpoint"
    write_run(
        run,
        step=24,
        status="running",
        message="first step: step 25 on cpu, the first after resuming",
    )
    tail.poll()
    assert tail.phase == "first step: step 25 on cpu, the first after resuming"
    write_run(run, step=30, status="completed", message="trained 30 steps")
    with log.open("a") as fh:
        fh.write('{"event": "end", "status": "completed", "step": 30}\n')
    tail.poll()
    assert tail.phase == ""


# -- the run view and the runs list ---------------------------------------------------


async def test_a_run_being_set_up_shows_its_phase_before_its_folder_exists(runs_dir):
    runs_dir.mkdir(parents=True)
    run = runs_dir / "setting-up"  # no folder yet: the launcher's log waits beside it
    log = runs_dir / ".setting-up.launch.log"
    app = GenbenchApp(runs_dir, watch=run, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.screen
        assert isinstance(view, RunScreen)
        message = view.query_one("#run-message")
        # Before the trainer printed anything: the process is starting.
        await wait_for(
            pilot,
            lambda: "starting: the trainer's process begins" in text_of(message),
            what="the generic start",
        )
        log.write_text('{"event": "phase", "phase": "starting: importing torch"}\n')
        await wait_for(pilot, lambda: "importing torch" in text_of(message), what="torch")
        with log.open("a") as fh:
            fh.write('{"event": "phase", "phase": "starting: loading fashion-mnist"}\n')
        await wait_for(pilot, lambda: "loading fashion-mnist" in text_of(message), what="data")
        assert not view.query_one("#run-progress").display  # no "--%" bar meanwhile


async def test_a_run_in_final_evaluation_says_so_in_the_view_and_the_list(runs_dir):
    run = runs_dir / "evaluating"
    phase = "final evaluation: sample quality of 500 samples at step 300"
    write_run(run, step=300, steps=300, message=phase)
    (run / "metrics.jsonl").write_text(metric(300))
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    async with app.run_test(size=(200, 60)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.query_one(DataTable)
        await wait_for(
            pilot,
            lambda: str(table.get_cell(str(run), "status")) == "running · final evaluation",
            what="the phase beside the status",
        )
        app.open_run(run)
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, RunScreen) and app.screen.query("#run-message"),
            what="the run view",
        )
        view = app.screen
        await wait_for(pilot, lambda: phase in text_of(view.query_one("#run-message")))
        # Done: the end's message replaces the phase, and the list shows the status alone.
        write_run(run, step=300, steps=300, status="completed", message="trained 300 steps")
        await wait_for(pilot, lambda: "trained 300" in text_of(view.query_one("#run-message")))
        assert view.tail.phase == ""
        await pilot.press("escape")
        await wait_for(
            pilot,
            lambda: (
                str(app.screen.query_one(DataTable).get_cell(str(run), "status")) == "completed"
            ),
        )
