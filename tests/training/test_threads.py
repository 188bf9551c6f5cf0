"""A trainer's share of the CPUs: the limits of its environment, divided among the
genbench trainers on this host, kept current; the workbench passes the setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genbench.errors import UsageError
from genbench.host import threads
from genbench.host.threads import Budget, ThreadShare, count_trainers, cpu_budget, is_trainer
from genbench.tui.launcher import LaunchRequest

REPO = Path(__file__).resolve().parents[2]


def test_the_smallest_limit_of_the_environment_wins(tmp_path):
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    mine = len(os.sched_getaffinity(0))
    assert cpu_budget({}, cgroup).cpus == mine
    assert cpu_budget({"OMP_NUM_THREADS": "1"}, cgroup) == Budget(1, "OMP_NUM_THREADS")
    assert cpu_budget({"SLURM_CPUS_PER_TASK": "1", "OMP_NUM_THREADS": "junk"}, cgroup) == Budget(
        1, "SLURM_CPUS_PER_TASK"
    )
    (cgroup / "cpu.max").write_text("50000 100000\n")  # half a CPU: rounds up to one
    assert cpu_budget({}, cgroup) == Budget(1, "cgroup CPU quota")
    (cgroup / "cpu.max").write_text("max 100000\n")
    assert cpu_budget({}, cgroup).cpus == mine


def test_trainers_are_recognised_by_their_command_line():
    assert is_trainer(["/venv/bin/python3", "/venv/bin/genbench", "run", "--headless"])
    assert is_trainer(["python", "-m", "genbench", "run", "--resume", "x"])
    assert not is_trainer(["python", "-m", "genbench", "runs"])
    assert is_trainer(["/venv/bin/python3", "/venv/bin/genbench", "bench"])  # trains too
    assert not is_trainer(["vim", "genbench", "notes.txt"])
    table = [
        ["python", "-m", "genbench", "run"],
        ["bash"],
        ["/v/bin/python", "/v/bin/genbench", "run", "--headless"],
    ]
    assert count_trainers(lambda: table) == 2
    assert count_trainers(lambda: []) == 1  # this one, whatever the table says


def test_trainers_are_counted_in_the_real_process_table():
    # Any process whose command line reads `... genbench run` is a trainer.
    argv = [sys.executable, "-c", "import time; time.sleep(60)", "genbench", "run"]
    stand_ins = [subprocess.Popen(argv) for _ in range(2)]
    try:
        seen = [line for line in threads.probe.command_lines() if line == argv]
        assert len(seen) == len(stand_ins) and count_trainers() >= 2
    finally:
        for p in stand_ins:
            p.kill()
            p.wait()


def test_the_share_follows_the_trainers_as_they_come_and_go(monkeypatch):
    running = [1]
    clock = [100.0]
    set_to = []
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock[0])
    import torch

    monkeypatch.setattr(torch, "set_num_threads", set_to.append)
    share = ThreadShare(budget=Budget(4, "test"), trainers=lambda: running[0])
    assert share.apply(force=True) == 4
    running[0] = 2  # a second trainer starts
    assert share.apply() == 4  # not looked at again within REFRESH_S
    clock[0] += threads.REFRESH_S
    assert share.apply() == 2
    running[0] = 5
    clock[0] += threads.REFRESH_S
    assert share.apply() == 1  # never below one
    assert set_to == [4, 2, 1]
    fixed = ThreadShare(fixed=3, trainers=lambda: 100)
    assert fixed.share() == 3 and "--threads" in fixed.describe()


def test_threads_option_is_checked():
    assert threads.parse_threads("auto") is None and threads.parse_threads("2") == 2
    for bad in ("0", "-1", "many"):
        with pytest.raises(UsageError, match="--threads must be auto or a whole number"):
            threads.parse_threads(bad)


def test_the_workbench_passes_the_thread_setting(tmp_path):
    request = LaunchRequest(
        model="gan", dataset="ring8", runs_dir=tmp_path, name="n", steps=10, batch_size=8, seed=0
    )
    argv = request.argv()
    assert argv[argv.index("--threads") + 1] == "auto"
    request.threads = "1"
    argv = request.argv()
    assert argv[argv.index("--threads") + 1] == "1"


def test_a_trainer_takes_its_share_when_another_trainer_runs(tmp_path):
    # A stand-in trainer: any process whose command line reads `... genbench run`.
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "genbench", "run"]
    )
    try:
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "genbench",
                "run",
                "--headless",
                "--json",
                "--model",
                "gan",
                "--dataset",
                "ring8",
                "--steps",
                "5",
                "--runs-dir",
                str(tmp_path / "runs"),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=300,
        )
    finally:
        other.kill()
    assert out.returncode == 0, out.stderr[-2000:]
    start = next(json.loads(line) for line in out.stdout.splitlines() if '"start"' in line)
    # At least two trainers here: at most half the CPUs this process may use.
    taken, total = (int(n) for n in start["threads"].split(" CPUs")[0].split(" of "))
    assert total == threads.cpu_budget(env).cpus and 1 <= taken <= max(1, total // 2)
