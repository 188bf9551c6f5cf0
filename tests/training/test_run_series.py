"""What a trainer writes beside its losses for the workbench to chart and say: each
optimiser's learning rate and its own CPU and memory on every metrics line, a mark
where a run was resumed (and what that changed), and the phase it is in while no
step is counted (set-up, an evaluation, the end's evaluation)."""

from __future__ import annotations

import json

import pytest

from genbench.registry import load_registry
from genbench.runfolder import writer as writer_module
from genbench.runfolder.runs import read_metrics
from genbench.training.launch import ResumeRequest, RunRequest, new_run, resume_run


def _request(runs_dir, **kw) -> RunRequest:
    base = dict(
        model="gan",  # on points: lr 1e-3, lr_decay=linear
        dataset="ring8",
        steps=4,
        runs_dir=runs_dir,
        name="series",
        log_every=1,
        device="cpu",
    )
    return RunRequest(**{**base, **kw})


def _lines(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_linear_decay_is_logged_falling_to_zero_at_the_last_step(runs_dir):
    events: list[dict] = []
    outcome = new_run(_request(runs_dir), load_registry(), events.append).run()
    assert outcome.status == "completed"
    losses = read_metrics(runs_dir / "series" / "metrics.jsonl")
    assert [r["step"] for r in losses] == [1, 2, 3, 4]
    # The rate where the run stands after each step: 1e-3 * (4 - step) / 4, 0 at the end.
    for name in ("g", "d"):
        assert [r["lr"][name] for r in losses] == pytest.approx([7.5e-4, 5e-4, 2.5e-4, 0.0])
    # The trainer's own CPU (percent of one core over the interval) and memory.
    for r in losses:
        assert set(r["sys"]) == {"cpu", "rss_mb"}
        assert r["sys"]["cpu"] >= 0 and r["sys"]["rss_mb"] > 10
    # --json prints the same line, lr and sys included.
    printed = [e for e in events if e["event"] == "metrics"]
    assert printed[-1]["lr"] == losses[-1]["lr"] and "sys" in printed[-1]


def test_a_model_without_a_schedule_logs_its_optimisers_rate(runs_dir):
    new_run(
        _request(runs_dir, sets=["lr_decay=none", "lr=0.002"], steps=2),
        load_registry(),
        lambda event: None,
    ).run()
    losses = read_metrics(runs_dir / "series" / "metrics.jsonl")
    assert [r["lr"] for r in losses] == [{"g": 0.002, "d": 0.002}] * 2


def test_a_resume_is_marked_at_its_step_with_what_it_changed(runs_dir):
    new_run(_request(runs_dir), load_registry(), lambda event: None).run()
    run = runs_dir / "series"
    resume_run(run, load_registry(), lambda e: None, ResumeRequest(steps=6)).run()
    resume_run(
        run, load_registry(), lambda e: None, ResumeRequest(steps=8, sets=["lr=0.0005"])
    ).run()
    marks = [r for r in _lines(run) if r.get("kind") == "resume"]
    assert [(m["step"], m["resume"]) for m in marks] == [
        (4, {"resumed": 1, "changes": []}),
        (6, {"resumed": 2, "changes": [{"key": "lr", "old": 0.001, "new": 0.0005}]}),
    ]
    # Each sits where the log goes on: after the last line of the step it resumed from.
    steps = [(r["step"], r.get("kind")) for r in _lines(run)]
    assert steps.index((4, "resume")) == steps.index((4, None)) + 1
    # The readers of losses and evaluations skip it.
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == list(range(1, 9))


def _run_json_writes(monkeypatch) -> list[dict]:
    """run.json as each of the trainer's writes left it, in order."""
    seen: list[dict] = []
    write = writer_module.write_atomic

    def recording(path, data):
        write(path, data)
        if path.name == "run.json":
            seen.append(json.loads(data))

    monkeypatch.setattr(writer_module, "write_atomic", recording)
    return seen


def test_the_trainer_says_it_evaluates_before_each_evaluation(runs_dir, monkeypatch):
    from genbench.metrics.evaluate import live_evaluator

    said: list[tuple[int, str]] = []
    seen = _run_json_writes(monkeypatch)

    def evaluator(dataset, device, seed):
        live = live_evaluator(dataset, device, seed)

        def measure(model):
            said.append((seen[-1]["step"], seen[-1]["message"]))
            return live(model)

        measure.samples = live.samples  # what the phase names
        return measure

    request = _request(runs_dir, steps=4, eval_every=2)
    outcome = new_run(request, load_registry(), lambda e: None, evaluator=evaluator).run()
    assert outcome.status == "completed"
    assert said == [
        (2, "evaluating: sample quality of 2500 samples at step 2"),
        (4, "final evaluation: sample quality of 2500 samples at step 4"),
    ]
    messages = [(w["step"], w["message"]) for w in seen]
    # After a mid-run evaluation the message is cleared (training again) ...
    after = messages.index((2, said[0][1]))
    assert messages[after + 1] == (2, ""), messages
    # ... and the final one gives way to the end's own message, nothing between.
    assert messages[-2:] == [(4, said[1][1]), (4, "trained 4 steps")], messages
    # The checkpoint at the last step was said too, and cleared by its own write.
    assert (4, "checkpoint: writing step 4's checkpoint") in messages


def test_set_up_says_each_phase_before_the_run_folder_exists(runs_dir):
    events: list[dict] = []
    new_run(_request(runs_dir, steps=1), load_registry(), events.append).run()
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases == ["starting: loading ring8", "starting: building gan on cpu"]
    events.clear()
    resume_run(runs_dir / "series", load_registry(), events.append, ResumeRequest(steps=2))
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases == [
        "starting: reading the run and its last checkpoint",
        "starting: loading ring8",
        "starting: building gan on cpu from the checkpoint",
    ]
