"""`genbench sweep` with the local executor, end to end: real `genbench run`
processes of a tiny plugin model, the sweep command in its own process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest

from genbench.sweep.record import SWEEPS_DIR, SweepRecord
from tests.conftest import toy_model_source
from tests.waiting import wait_until


@pytest.fixture
def toys(plugin_site):
    """Two tiny models (a linear map each) as installed plugins: members train in a
    second or two, so a sweep of eight is quick even on a loaded machine."""
    plugin_site.add("genbench-toya", toy_model_source("toya"))
    plugin_site.add("genbench-toyb", toy_model_source("toyb"))
    return plugin_site


def _sweep(env, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "genbench", "sweep", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        **kw,
    )


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _meta(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def _steps_logged(run: Path) -> list[int]:
    """The steps of the loss lines (an evaluation's line repeats its step)."""
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in lines if "losses" in r]


GRID = ("--model", "toya,toyb", "--dataset", "ring8", "--set", "lr=0.1,0.05", "--seeds", "0-1")


def test_a_grid_runs_every_member_and_never_more_than_parallel_at_once(toys, runs_dir):
    code, out, err = _finish(
        _sweep(
            toys.env(),
            *GRID,
            # long enough (a few seconds each) that two members started together
            # overlap even when their start-up is slowed unevenly by a loaded machine
            "--steps",
            "10000",
            "--log-every",
            "1000",
            "--eval-every",
            "10000",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "grid",
            "--parallel",
            "2",
        )
    )
    assert code == 0, err + out
    members = sorted(p for p in runs_dir.iterdir() if p.name.startswith("grid-"))
    assert [m.name for m in members] == [f"grid-{i:03d}" for i in range(8)]
    metas = {m.name: _meta(m) for m in members}
    assert all(m["status"] == "completed" and m["step"] == 10000 for m in metas.values())
    # Each member carries its sweep and its point, and trained what its point says.
    points = {
        (m["sweep"]["point"]["model"], m["sweep"]["point"]["lr"], m["seed"]) for m in metas.values()
    }
    assert points == {
        (model, lr, s) for model in ("toya", "toyb") for lr in ("0.1", "0.05") for s in (0, 1)
    }
    for m in metas.values():
        assert m["sweep"]["id"] == "grid"
        assert m["model"] == m["sweep"]["point"]["model"]
        assert m["config"]["lr"] == float(m["sweep"]["point"]["lr"])
        assert m["seed"] == m["sweep"]["point"]["seed"]
    # --parallel 2: no three members' trainers ran at the same moment (each member's
    # own span: its trainer's start to its last heartbeat).
    spans = [(m["started"], m["heartbeat"]) for m in metas.values()]
    assert all(0 < a < b for a, b in spans)
    for trio in combinations(spans, 3):
        assert max(a for a, _ in trio) >= min(b for _, b in trio), trio
    # ...and two did overlap: the executor did run them side by side.
    assert any(max(a1, a2) < min(b1, b2) for (a1, b1), (a2, b2) in combinations(spans, 2))
    record = SweepRecord.read(runs_dir, "grid")
    assert record.state == "done" and len(record.members) == 8
    assert "sweep grid done: 8 completed" in out
    # The list of runs and `sweep show` read the members back.
    show = subprocess.run(
        [
            sys.executable,
            "-m",
            "genbench",
            "sweep",
            "show",
            "grid",
            "--runs-dir",
            str(runs_dir),
            "--json",
        ],
        env=toys.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    table = json.loads(show.stdout)
    assert len(table["configurations"]) == 4
    assert all(c["members"] == {"completed": 2} for c in table["configurations"])


def test_a_failing_member_does_not_stop_the_others(toys, runs_dir):
    code, out, err = _finish(
        _sweep(
            toys.env(),
            "--model",
            "toya",
            "--dataset",
            "ring8",
            "--set",
            "nan_at=0,7",
            "--steps",
            "100",
            "--log-every",
            "10",
            "--eval-every",
            "100",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "bad",
            "--parallel",
            "1",
        )
    )
    assert code == 1, err + out  # a member failed: the sweep says so in its exit code
    assert _meta(runs_dir / "bad-000")["status"] == "completed"
    first = _meta(runs_dir / "bad-001")
    assert first["status"] == "diverged" and first["checkpoint_step"] is None
    assert "1 completed, 1 diverged" in out
    # --retry-failed: with no checkpoint to resume, the member starts anew and its
    # first attempt is kept in the sweep's folder (nothing is deleted).
    code, out, err = _finish(
        _sweep(toys.env(), "--resume", "bad", "--retry-failed", "--runs-dir", str(runs_dir))
    )
    assert code == 1, err + out  # it diverges again, as its settings say
    kept = runs_dir / SWEEPS_DIR / "bad" / "attempts" / "bad-001.1"
    assert json.loads((kept / "run.json").read_text())["created"] == first["created"]
    again = _meta(runs_dir / "bad-001")
    assert again["status"] == "diverged" and again["started"] > first["started"]
    assert _meta(runs_dir / "bad-000")["resumed"] == 0  # the completed one untouched


def test_a_spec_error_leaves_nothing_behind(toys, runs_dir):
    for bad in (
        ["--set", "lr=0.1,-3"],  # a value the model refuses (min=0)
        ["--set", "nope=1,2"],  # a key it does not have
        ["--max-members", "3", "--seeds", "0-3"],
        ["--seeds", ""],
        ["--steps", "10,"],
        ["--parallel", "0"],  # the executor's own settings, checked before anything
    ):
        proc = _sweep(
            toys.env(), "--model", "toya", "--dataset", "ring8", "--runs-dir", str(runs_dir), *bad
        )
        code, out, err = _finish(proc)
        assert code == 2, (bad, err)
        assert err.startswith("genbench: error: ") and err.count("\n") == 1, err
        assert "Traceback" not in err
        assert not runs_dir.exists() or not any(runs_dir.iterdir()), list(runs_dir.iterdir())


def test_sigterm_stops_every_member_cleanly_and_resume_finishes_the_rest(toys, runs_dir):
    args = (
        *GRID,
        "--steps",
        "1500",
        "--log-every",
        "20",
        "--checkpoint-every",
        "100",
        "--eval-every",
        "1500",
        "--runs-dir",
        str(runs_dir),
        "--name",
        "sig",
        "--parallel",
        "2",
    )
    proc = _sweep(toys.env(), *args)
    try:
        # Two members are training (each has written a metrics line): stop the sweep.
        def training() -> bool:
            logs = [runs_dir / f"sig-{i:03d}" / "metrics.jsonl" for i in range(8)]
            return sum(1 for p in logs if p.exists() and p.stat().st_size > 0) >= 2

        wait_until(training, 240, proc, "two members training")
        proc.send_signal(signal.SIGTERM)
        code, out, err = _finish(proc)
    finally:
        proc.kill()
    assert code == 130, err + out
    record = SweepRecord.read(runs_dir, "sig")
    assert record.state == "stopped"
    started = [m for m in record.members if (runs_dir / m.name).exists()]
    assert started, "nothing started"
    before = {}
    for m in started:
        meta = _meta(runs_dir / m.name)
        assert meta["status"] in ("stopped", "completed"), meta
        before[m.name] = meta
    assert len(started) < 8  # the queue was left for --resume
    # --resume starts what is missing or stopped, each once, and finishes the sweep.
    code, out, err = _finish(_sweep(toys.env(), "--resume", "sig", "--runs-dir", str(runs_dir)))
    assert code == 0, err + out
    for m in SweepRecord.read(runs_dir, "sig").members:
        run = runs_dir / m.name
        meta = _meta(run)
        assert meta["status"] == "completed" and meta["step"] == 1500
        steps = _steps_logged(run)
        assert steps == sorted(set(steps)), f"{m.name} trained a step twice"
        was = before.get(m.name)
        if was is None:
            assert meta["resumed"] == 0  # started once, by the resume
        elif was["status"] == "completed":
            assert meta["resumed"] == 0 and meta["heartbeat"] == was["heartbeat"]  # untouched
        else:
            assert meta["resumed"] == 1  # resumed once from its checkpoint
    assert SweepRecord.read(runs_dir, "sig").state == "done"


def test_a_second_driver_is_refused_and_cancel_stops_every_member(toys, runs_dir):
    """One `genbench sweep` process drives a sweep at a time; `--cancel` from another
    stops its members (resumable) and ends it."""
    code, out, err = _finish(
        _sweep(
            toys.env(),
            "--model",
            "toya",
            "--dataset",
            "ring8",
            "--seeds",
            "0-1",
            "--steps",
            "20",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "two",
            "--dry-run",
        )
    )
    assert code == 0 and not runs_dir.exists(), err  # a dry run makes nothing
    assert "two-000" in out and "two-001" in out
    first = _sweep(
        toys.env(),
        "--model",
        "toya",
        "--dataset",
        "ring8",
        "--seeds",
        "0-1",
        "--steps",
        "100000",
        "--log-every",
        "20",
        "--eval-every",
        "100000",
        "--runs-dir",
        str(runs_dir),
        "--name",
        "two",
        "--parallel",
        "2",
    )
    try:
        wait_until(
            lambda: all((runs_dir / f"two-{i:03d}" / "metrics.jsonl").exists() for i in range(2)),
            240,
            first,
            "both members training",
        )
        # The driver is busy: a second `--resume` is refused rather than run beside it.
        code, out, err = _finish(_sweep(toys.env(), "--resume", "two", "--runs-dir", str(runs_dir)))
        assert code == 2 and "being run by another genbench sweep" in err, err
        # --cancel stops both (resumable) and ends the first sweep process.
        code, out, err = _finish(_sweep(toys.env(), "--cancel", "two", "--runs-dir", str(runs_dir)))
        assert code == 0, err
        code, out, err = _finish(first)
    finally:
        first.kill()
    assert code == 130, err + out
    assert SweepRecord.read(runs_dir, "two").state == "cancelled"
    for i in range(2):
        assert _meta(runs_dir / f"two-{i:03d}")["status"] == "stopped"
    assert (runs_dir / SWEEPS_DIR / "two" / "logs" / "two-000.log").is_file()


def test_a_resumed_sweep_follows_and_stops_members_an_earlier_driver_started(toys, runs_dir):
    """The sweep process dies (kill -9) while its member trains on, in its own session:
    `--resume` follows that member rather than calling the sweep done or starting it
    twice, and a stop of the resumed sweep stops it too (resumable)."""
    args = ("--model", "toya", "--dataset", "ring8", "--steps", "1000000", "--log-every", "20")
    first = _sweep(
        toys.env(), *args, "--eval-every", "1000000", "--runs-dir", str(runs_dir), "--name", "w"
    )
    member = runs_dir / "w-000"
    try:
        wait_until(lambda: (member / "metrics.jsonl").exists(), 240, first, "the member training")
    finally:
        first.kill()
        first.communicate()
    started = _meta(member)["started"]
    second = _sweep(toys.env(), "--resume", "w", "--runs-dir", str(runs_dir))
    try:
        for line in second.stdout:  # its plan said: followed, not started again
            if "w-000" in line:
                assert "followed" in line, line
                break
        second.send_signal(signal.SIGTERM)
        code, out, err = _finish(second, timeout=120)
    finally:
        second.kill()
    assert code == 130, err + out
    meta = _meta(member)
    assert meta["status"] == "stopped" and meta["started"] == started  # one trainer, stopped
    assert meta["checkpoint_step"] == meta["step"] > 0
