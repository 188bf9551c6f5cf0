"""One trainer per run, a process known by pid and start time, and a terminal that
goes away (SIGHUP, a closed pipe, Ctrl+C during start-up) without losing work."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genbench.cli import main
from genbench.errors import UsageError
from genbench.runfolder import ownership
from genbench.runfolder.ownership import LOCK_FILE, RunLock, process_start, signal_process
from genbench.runfolder.runs import read_run_json, summarize
from genbench.tui import launcher
from tests.waiting import wait_until

GENBENCH = [sys.executable, "-m", "genbench"]

# A toy model that can pause its own process (SIGSTOP) at a step, or take its time
# to build (a long window between the run folder appearing and the first step).
PAUSING_MODEL = """
import os, signal, time
from dataclasses import dataclass
import torch
from genbench import GenerativeModel, hookimpl, param

@dataclass
class Config:
    lr: float = param(0.05, "learning rate", min=0.0)
    pause_at: int = param(0, "SIGSTOP this process at this step (0: never)", min=0)
    build_s: float = param(0.0, "seconds to sleep while being built", min=0.0)

class Pausing(GenerativeModel):
    name = "pausing"
    title = "Pausing toy"
    kinds = frozenset({"points"})
    Config = Config

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        time.sleep(config.build_s)
        self.net = torch.nn.Linear(spec.dim, spec.dim).to(device)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=config.lr)
        self.steps = 0

    def train_step(self, x, y=None):
        self.steps += 1
        if self.steps == self.config.pause_at:
            os.kill(os.getpid(), signal.SIGSTOP)
        loss = (self.net(torch.randn_like(x)) - x).pow(2).mean()
        self.opt.zero_grad(); loss.backward(); self.opt.step()
        return {"mse": loss.detach()}

    def sample(self, n, labels=None, generator=None):
        with torch.no_grad():
            return self.net(torch.randn(n, self.spec.dim, generator=generator, device=self.device))

    def extra_state(self):
        return {"steps": self.steps}

    def load_extra_state(self, state):
        self.steps = state["steps"]

@hookimpl
def genbench_models():
    return [Pausing]
"""


def snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def ctrl_c_three_times(ready, proc: subprocess.Popen) -> tuple[str, str]:
    """Once ``ready()`` holds, press Ctrl+C three times in quick succession; the
    trainer's (stdout, stderr) when it has exited."""
    try:
        wait_until(ready, 120, proc, every=0.002)
        for _ in range(3):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        return proc.communicate(timeout=60)
    finally:
        proc.kill()


def handles_sighup(pid: int) -> bool:
    """Whether genbench has installed its stop handlers (Python alone catches SIGINT
    only; an interrupt before that is the interpreter's, not genbench's)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    return False


def short_run(runs_dir: Path, name: str, steps: int = 20) -> Path:
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
                "10",
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


# -- the lock ------------------------------------------------------------------

RACER = r"""
import os, sys, time
from pathlib import Path
from genbench.errors import UsageError
from genbench.runfolder.ownership import RunLock
print("ready", flush=True)
for line in sys.stdin:
    path, go = line.split("\t")
    while time.time() < float(go):
        pass
    try:
        RunLock(Path(path)).acquire()       # held (never released) while this process lives
        print(f"won {os.getpid()}", flush=True)
    except UsageError:
        print("refused", flush=True)
"""


@pytest.mark.parametrize("start", ["free", "stale"])
def test_two_processes_racing_for_one_lock_never_both_hold_it(tmp_path, start):
    """Two live processes take the lock of a fresh folder at the same instant, 300
    times over (before the fix: 5-30% of trials had two owners). "stale": the
    folder holds the lock of a dead trainer, which both try to take over."""
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        for r in racers:
            assert r.stdout.readline().strip() == "ready"
        doubles, nobody = 0, 0
        for trial in range(300):
            run = tmp_path / f"t{trial}"
            run.mkdir()
            if start == "stale":
                (run / LOCK_FILE).write_text(
                    json.dumps({"pid": 2**22 + 777, "pid_start": 1, "host": socket.gethostname()})
                )
            go = time.time() + 0.003
            for r in racers:
                r.stdin.write(f"{run}\t{go}\n")
                r.stdin.flush()
            answers = [r.stdout.readline().split() for r in racers]
            winners = [int(a[1]) for a in answers if a[0] == "won"]
            doubles += len(winners) > 1
            nobody += not winners
            if len(winners) == 1:  # the lock names the one that won
                assert json.loads((run / LOCK_FILE).read_text())["pid"] == winners[0]
        assert (doubles, nobody) == (0, 0)
    finally:
        for r in racers:
            r.kill()
            r.wait()


def test_the_lock_names_its_owner_by_pid_start_time_host_and_boot(tmp_path):
    lock = RunLock(tmp_path).acquire()
    held = json.loads((tmp_path / LOCK_FILE).read_text())
    assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
    assert held["pid_start"] == process_start(os.getpid()) is not None
    assert lock.owned()
    with pytest.raises(UsageError, match=f"being trained by pid {os.getpid()} on"):
        RunLock(tmp_path).acquire()
    lock.release()
    assert not (tmp_path / LOCK_FILE).exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temp file left either


def test_release_never_removes_a_lock_another_process_took(tmp_path, monkeypatch):
    lock = RunLock(tmp_path).acquire()
    theirs = json.dumps({"pid": 4242, "host": "other-host", "since": 1.0})
    (tmp_path / LOCK_FILE).write_text(theirs)
    with pytest.raises(ownership.LostOwnership, match="taken over by pid 4242 on other-host"):
        lock.check()
    lock.release()
    assert (tmp_path / LOCK_FILE).read_text() == theirs


# -- a trainer that lost its run -----------------------------------------------


def test_a_paused_trainer_whose_run_another_host_took_stops_without_writing(
    plugin_site, runs_dir, monkeypatch
):
    """SIGSTOP (here: the model stops its own process at step 30) long enough for
    another host to take the run over; once continued, the old trainer must not
    write a checkpoint, run.json or a metrics line over the new owner's."""
    plugin_site.add("gb-pausing", PAUSING_MODEL)
    run = runs_dir / "paused"
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            "--headless",
            "--json",
            "--model",
            "pausing",
            "--dataset",
            "ring8",
            "--steps",
            "100",
            "--set",
            "pause_at=30",
            "--log-every",
            "10",
            "--checkpoint-every",
            "20",
            "--sample-every",
            "1000",
            "--eval-every",
            "1000",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "paused",
        ],
        env=plugin_site.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T",
            120,
            proc,
        )

        # Another machine: the trainer's heartbeat looks stale from there; it takes
        # the lock, and trains on to a newer checkpoint.
        monkeypatch.setattr(socket, "gethostname", lambda: "other-host")
        monkeypatch.setattr(ownership, "STALE_AFTER_S", 0.0)
        RunLock(run).acquire()
        meta = json.loads((run / "run.json").read_text())
        meta.update(
            host="other-host",
            pid=os.getpid(),
            step=9000,
            checkpoint_step=9000,
            heartbeat=time.time(),
        )
        (run / "run.json").write_text(json.dumps(meta))
        (run / "checkpoints" / "last.pt").write_bytes(b"the newer checkpoint, step 9000")
        with open(run / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps({"step": 9000, "time": 1.0, "losses": {"mse": 0.1}}) + "\n")
        before = snapshot(run)

        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert snapshot(run) == before  # not one byte written after the takeover
    end = json.loads(out.strip().splitlines()[-1])
    assert end["event"] == "end" and end["status"] == "lost"
    assert f"taken over by pid {os.getpid()} on other-host" in end["message"]
    assert "Traceback" not in err


def test_a_recycled_pid_is_not_the_trainer(runs_dir):
    """run.json and the lock name a pid that now belongs to another live process
    (even one whose command line says genbench): the run is lost, it can be
    resumed, and the workbench's stop does not signal that process."""
    run = short_run(runs_dir, "recycled")
    # Interruptible by SIGINT as a trainer is, even where this test runs with SIGINT
    # ignored (a background job inherits that, and Python then keeps it ignored).
    sleeper = (
        "import signal, time; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "time.sleep(120)"
    )
    other = subprocess.Popen([sys.executable, "-c", sleeper, "genbench"])
    try:
        wait_until(lambda: process_start(other.pid) is not None, 10)
        wrong = process_start(other.pid) - 1000  # the trainer started before it
        meta = json.loads((run / "run.json").read_text())
        meta.update(
            status="running",
            pid=other.pid,
            pid_start=wrong,
            host=socket.gethostname(),
            heartbeat=time.time(),
        )
        (run / "run.json").write_text(json.dumps(meta))
        (run / LOCK_FILE).write_text(
            json.dumps({"pid": other.pid, "pid_start": wrong, "host": socket.gethostname()})
        )

        assert summarize(run).status == "lost"
        launcher.check_resumable(run)
        with pytest.raises(UsageError, match="is lost, not running"):
            launcher.stop(run)
        with pytest.raises(UsageError, match="now another process"):
            signal_process(other.pid, wrong, signal.SIGINT)
        time.sleep(0.2)
        assert other.poll() is None  # never signalled

        # With its true start time the same pid is the trainer, and is stopped (a lock
        # an older genbench wrote: no "held_open", judged by pid, start time and a
        # command line that says genbench).
        meta["pid_start"] = process_start(other.pid)
        (run / "run.json").write_text(json.dumps(meta))
        (run / LOCK_FILE).write_text(
            json.dumps(
                {"pid": other.pid, "pid_start": meta["pid_start"], "host": socket.gethostname()}
            )
        )
        assert summarize(run).status == "running"
        launcher.stop(run)
        assert other.wait(timeout=10) != 0
    finally:
        other.kill()
        other.wait()
    # The dead trainer's lock is taken over and the run trains on.
    assert main(["run", "--headless", "--resume", str(run), "--steps", "30", "--quiet"]) == 0
    assert read_run_json(run).status == "completed"
    assert not (run / LOCK_FILE).exists()


# -- the terminal going away ---------------------------------------------------


def test_sighup_stops_with_a_checkpoint_and_the_run_resumes(runs_dir):
    run = runs_dir / "hup"
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            "--headless",
            "--json",
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            "1000000",
            "--log-every",
            "10",
            "--checkpoint-every",
            "100000",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "hup",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:  # wait until it is really training
            if json.loads(line)["event"] == "metrics":
                break
        proc.send_signal(signal.SIGHUP)
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert json.loads(rest.strip().splitlines()[-1])["status"] == "stopped"
    meta = read_run_json(run)
    assert meta.status == "stopped" and "SIGHUP" in meta.message and meta.step > 0
    import torch

    assert torch.load(run / "checkpoints/last.pt", weights_only=True)["step"] == meta.step
    assert not (run / LOCK_FILE).exists()
    launcher.check_resumable(run)
    assert (
        main(["run", "--headless", "--resume", str(run), "--steps", str(meta.step + 10), "--quiet"])
        == 0
    )


def test_a_closed_stdout_stops_the_printing_not_the_training(runs_dir):
    """`genbench run --headless ... | head -1`: the reader goes after one line."""
    run = runs_dir / "piped"
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            "--headless",
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            "300",
            "--threads",
            "1",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "piped",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert b"gan on ring8" in proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=600)  # a deadline for a loaded machine, not a pace
    finally:
        proc.kill()
    assert code == 0, err
    assert "Traceback" not in err and "Error" not in err, err
    meta = read_run_json(run)
    assert (meta.status, meta.step) == ("completed", 300)
    assert not (run / LOCK_FILE).exists()


def test_ctrl_c_between_folder_and_first_step_leaves_a_resumable_run(plugin_site, runs_dir):
    """SIGINT three times in a row as soon as the run folder appears, while the
    model is still being built (build_s): no traceback, and a run that resumes."""
    plugin_site.add("gb-pausing", PAUSING_MODEL)
    run = runs_dir / "early"
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            "--headless",
            "--quiet",
            "--model",
            "pausing",
            "--dataset",
            "ring8",
            "--steps",
            "100",
            "--set",
            "build_s=1.5",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "early",
        ],
        env=plugin_site.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = ctrl_c_three_times(run.exists, proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    if run.exists():
        meta = read_run_json(run)
        assert meta.status == "stopped" and meta.step <= 1, meta
        launcher.check_resumable(run)
        assert not (run / LOCK_FILE).exists()


def test_ctrl_c_during_start_up_leaves_no_folder(runs_dir):
    """Interrupted before the run folder exists (while torch is imported): exit 130,
    one line, no folder, however many times Ctrl+C is pressed."""
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            "--headless",
            "--quiet",
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            "100",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "never",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = ctrl_c_three_times(lambda: handles_sighup(proc.pid), proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (runs_dir / "never").exists()


def test_a_deeply_nested_lock_is_garbage_not_a_crash(tmp_path):
    from genbench.runfolder.ownership import _parse

    assert _parse(b"[" * 4000) is None and _parse(b'{"pid": 1}') == {"pid": 1}


def test_the_last_error_of_a_child_log_reads_only_its_tail_and_never_hangs(tmp_path):
    from genbench.tui.launcher import LOG_TAIL, last_error

    log = tmp_path / "launch.log"
    with open(log, "wb") as fh:
        fh.truncate(10 << 30)  # 10 GB, sparse
        fh.seek(10 << 30)
        fh.write(b"\ngenbench: error: \x1b[31mbad --set\n")
    assert last_error(log) == "[31mbad --set"
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    assert last_error(fifo) == "no log"
    assert LOG_TAIL <= 1 << 20
