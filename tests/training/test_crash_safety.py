"""A run folder survives kill -9, full disks and a second trainer."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

from genbench.cli import main
from genbench.registry import load_registry
from genbench.runfolder.ownership import RunLock
from genbench.runfolder.runs import LOCK_FILE, read_metrics, summarize, write_atomic
from genbench.training.launch import RunRequest, new_run
from tests.waiting import wait_until


def short_run(runs_dir, name, steps=40):
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
                str(steps),
                "--log-every",
                "10",
                "--checkpoint-every",
                "20",
                "--runs-dir",
                str(runs_dir),
                "--name",
                name,
                "--quiet",
            ]
        )
        == 0
    )
    return runs_dir / name


def test_a_second_trainer_on_the_same_run_is_refused(runs_dir, capsys):
    run = short_run(runs_dir, "r")
    capsys.readouterr()
    assert not (run / LOCK_FILE).exists()  # released when the run ended
    # This process holds the lock as a trainer does (taken, kept open): a lock file
    # that merely names a live pid is not held (tests/hostile/test_ownership.py).
    lock = RunLock(run).acquire()
    try:
        assert main(["run", "--headless", "--resume", str(run), "--steps", "60"]) == 2
    finally:
        lock.release()
    err = capsys.readouterr().err.strip()
    assert f"being trained by pid {os.getpid()}" in err and len(err.splitlines()) == 1


def test_a_stale_lock_from_a_killed_trainer_is_taken_over(runs_dir, capsys):
    run = short_run(runs_dir, "r")
    (run / LOCK_FILE).write_text(json.dumps({"pid": 2**22 + 777, "host": socket.gethostname()}))
    assert main(["run", "--headless", "--resume", str(run), "--steps", "60", "--quiet"]) == 0
    assert not (run / LOCK_FILE).exists()


def test_full_disk_mid_run_fails_cleanly_and_keeps_the_last_checkpoint(runs_dir):
    trainer = new_run(
        RunRequest(
            model="gan",
            dataset="ring8",
            steps=100,
            runs_dir=runs_dir,
            name="full",
            log_every=10,
            checkpoint_every=20,
            device="cpu",
        ),
        load_registry(),
        lambda e: None,
    )
    real_log = trainer.writer.log

    def log(record):
        if record["step"] >= 50:
            raise OSError(errno.ENOSPC, "No space left on device", str(trainer.writer.path))
        real_log(record)

    trainer.writer.log = log
    outcome = trainer.run()
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "No space left on device" in outcome.message
    meta = json.loads((runs_dir / "full" / "run.json").read_text())
    assert meta["status"] == "failed" and "No space left" in meta["message"]
    assert torch.load(runs_dir / "full/checkpoints/last.pt", weights_only=True)["step"] == 40
    assert not (runs_dir / "full" / LOCK_FILE).exists()


def test_atomic_write_that_fails_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "last.pt"
    target.write_bytes(b"good")

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError):
        write_atomic(target, b"new" * 1000)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def check_readable(run):
    """Every file of the run parses; returns (checkpoint step, last logged step)."""
    meta = json.loads((run / "run.json").read_text())
    assert meta["model"] == "gan"
    metrics = run / "metrics.jsonl"
    lines = metrics.read_bytes().splitlines() if metrics.exists() else []
    for line in lines[:-1]:
        json.loads(line)  # only the last line may be cut short
    records = read_metrics(run / "metrics.jsonl")
    steps = [r["step"] for r in records]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    for png in (run / "samples").glob("*.png"):
        with Image.open(png) as im:
            im.load()
    ckpt = run / "checkpoints" / "last.pt"
    step = torch.load(ckpt, weights_only=True)["step"] if ckpt.exists() else 0
    return step, (steps[-1] if steps else 0)


@pytest.mark.slow
def test_kill_dash_nine_at_random_moments_never_corrupts_or_rewinds_the_run(runs_dir):
    rng = random.Random(1234)
    run = runs_dir / "victim"
    base = [sys.executable, "-m", "genbench", "run", "--headless", "--quiet"]
    new = base + [
        "--model",
        "gan",
        "--dataset",
        "ring8",
        "--steps",
        "1000000",
        "--log-every",
        "5",
        "--checkpoint-every",
        "3",
        "--sample-every",
        "7",
        "--runs-dir",
        str(runs_dir),
        "--name",
        "victim",
    ]
    resume = base + ["--resume", str(run), "--steps", "1000000"]

    def start(cmd):
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    # First let it reach a checkpoint, so there is something to resume from.
    started = time.time()
    proc = start(new)
    wait_until(
        lambda: (run / "checkpoints" / "last.pt").exists(), 120, proc, "the first checkpoint"
    )
    # Kills land anywhere from start-up (torch import) to well into training: the
    # window scales with how long start-up takes on this machine right now.
    window = time.time() - started + 2.0
    proc.kill()
    proc.wait()
    last_ckpt, _ = check_readable(run)

    for _ in range(20):
        assert summarize(run).status == "lost"  # running in run.json, process gone
        proc = start(resume)
        time.sleep(rng.uniform(0.3, window))
        if proc.poll() is not None:  # it must not have given up on its own
            pytest.fail(proc.stderr.read().decode())
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        step, logged = check_readable(run)
        assert step >= last_ckpt, "checkpoint step went backwards"
        last_ckpt = step
    assert last_ckpt > 3
    # A kill mid-write can leave a temp file; the next resume clears them away.
    (run / "checkpoints" / ".last.pt.abc.tmp").write_bytes(b"half")
    assert (
        main(["run", "--headless", "--resume", str(run), "--steps", str(last_ckpt + 2), "--quiet"])
        == 0
    )
    assert not list(run.rglob(".*.tmp"))
