"""The ``slurm`` executor against a real SLURM cluster (CI brings a single-node one
up with .ci/slurm-up; elsewhere these tests skip, saying why). Members are tiny runs
on one thread: the cluster's node is this machine's shared CPUs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from genbench import ExecutorError, Member
from genbench.registry import load_registry
from genbench_plugins.slurm import NO_SBATCH, SlurmExecutor
from tests.waiting import wait_until

# Long enough for a loaded machine, where a member may also queue behind others' jobs.
JOB_TIMEOUT_S = 240
TINY = ("--model", "gan", "--dataset", "ring8", "--log-every", "20", "--eval-every", "60")


def _node_state() -> str:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return ""
    result = subprocess.run(
        ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else ""


@pytest.fixture(scope="module")
def cluster_up() -> None:
    state = _node_state()
    if not state:
        pytest.skip("no SLURM cluster here (sinfo/sbatch absent or no controller): .ci/slurm-up")
    if not state.split()[0].startswith(("idle", "mixed", "allocated", "completing")):
        pytest.skip(f"the SLURM node is not up (sinfo says {state!r}): .ci/slurm-up")


@pytest.fixture
def slurm_cluster(cluster_up: None, tmp_path: Path) -> Iterator[None]:
    """The cluster, and after the test every job it submitted cancelled: a test that
    fails halfway leaves no long member training on the shared node."""
    yield
    # submitit writes JOBID_submission.sh for each job (the array's id for an array).
    jobs = {p.name.split("_")[0] for p in tmp_path.rglob("slurm/*_submission.sh")}
    if jobs:
        subprocess.run(["scancel", *sorted(jobs)], capture_output=True, timeout=60, check=False)


def _member(runs: Path, name: str, *args: str) -> Member:
    return Member(name, ("--headless", "--runs-dir", str(runs), "--name", name, *args), threads=1)


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _scontrol(job: str) -> str:
    return subprocess.run(
        ["scontrol", "show", "job", job], capture_output=True, text=True, check=True, timeout=30
    ).stdout


def _wait_ended(executor: SlurmExecutor, handles: dict[str, str]) -> None:
    wait_until(
        lambda: all(executor.finished(h) for h in handles.values()),
        JOB_TIMEOUT_S,
        what=f"SLURM jobs {sorted(handles.values())} to end",
        every=0.5,
    )


def test_the_slurm_executor_is_registered_through_the_hook() -> None:
    assert load_registry().executor("slurm").cls is SlurmExecutor


def test_a_member_trains_to_completion_as_a_slurm_job(tmp_path: Path, slurm_cluster: None) -> None:
    runs = tmp_path / "runs"
    executor = SlurmExecutor(
        runs / ".sweeps" / "s1",
        {"time": 10, "cpus": 1, "mem": "200M", "slurm_extra": "comment=genbench-test"},
    )
    handles = executor.start([_member(runs, "m1", *TINY, "--steps", "60")])
    job = handles["m1"]
    # What was asked reached the scheduler (while it still knows the job).
    shown = _scontrol(job)
    assert "TimeLimit=00:10:00" in shown and "Comment=genbench-test" in shown
    assert "MinMemoryNode=200M" in shown and "NumCPUs=1" in shown

    _wait_ended(executor, handles)
    record = _record(runs / "m1")
    assert record["status"] == "completed" and record["step"] == 60
    log = runs / ".sweeps" / "s1" / "slurm" / f"{job}_0_log.out"
    # The trainer recorded its job: the id SLURM gave it and the log the executor named.
    assert record["job"] == {"scheduler": "slurm", "id": job, "log": str(log)}
    assert executor.describe(job) == f"job {job}, log {log}"
    assert "completed at step 60" in log.read_text()


def test_cancel_stops_the_running_member_resumably_and_drops_the_queued_one(
    tmp_path: Path, slurm_cluster: None
) -> None:
    runs = tmp_path / "runs"
    # One job array, one member running at a time: "b" waits in the queue behind "a".
    executor = SlurmExecutor(runs / ".sweeps" / "s2", {"slurm_array": 1, "cpus": 1, "time": 10})
    long = (*TINY, "--steps", "1000000", "--checkpoint-every", "1000000")
    handles = executor.start([_member(runs, "a", *long), _member(runs, "b", *long)])
    assert [h.split("_")[1] for h in handles.values()] == ["0", "1"]  # tasks of one array
    metrics = runs / "a" / "metrics.jsonl"
    wait_until(
        lambda: metrics.exists() and metrics.read_text().count("\n") >= 1,
        JOB_TIMEOUT_S,
        what="member a to train (a metrics line)",
    )
    assert not executor.finished(handles["a"]) and not executor.finished(handles["b"])

    executor.cancel(list(handles.values()))
    _wait_ended(executor, handles)
    record = _record(runs / "a")
    assert record["status"] == "stopped"  # SIGTERM: the trainer checkpointed and stopped
    assert (runs / "a" / "checkpoints" / "last.pt").is_file()
    assert record["job"]["id"] == handles["a"]
    assert not (runs / "b").exists()  # never started

    # Resumable: the stopped member, started again, trains on from its checkpoint.
    resumed = executor.start(
        [
            Member(
                "a",
                ("--headless", "--resume", str(runs / "a"), "--steps", str(record["step"] + 20)),
            )
        ]
    )
    _wait_ended(executor, resumed)
    again = _record(runs / "a")
    assert again["status"] == "completed" and again["step"] == record["step"] + 20
    assert again["job"]["id"] == resumed["a"]


def test_a_submission_sbatch_refuses_is_one_line_with_sbatch_s_reason(
    tmp_path: Path, slurm_cluster: None
) -> None:
    executor = SlurmExecutor(tmp_path / ".sweeps" / "s3", {"partition": "no-such-partition"})
    with pytest.raises(ExecutorError) as raised:
        executor.start([_member(tmp_path, "m", *TINY, "--steps", "60")])
    message = str(raised.value)
    assert "\n" not in message
    assert message == ("sbatch refused the job: invalid partition specified: no-such-partition")


def test_an_sbatch_option_sbatch_does_not_know_is_refused_in_one_line(
    tmp_path: Path, slurm_cluster: None
) -> None:
    executor = SlurmExecutor(tmp_path / ".sweeps" / "s5", {"slurm_extra": "frobnicate=3"})
    with pytest.raises(ExecutorError) as raised:
        executor.start([_member(tmp_path, "m", *TINY, "--steps", "60")])
    assert str(raised.value) == "sbatch refused the job: unrecognized option '--frobnicate=3'"


@pytest.mark.slow
def test_a_member_reaching_its_time_limit_checkpoints_and_stops_resumably(
    tmp_path: Path, slurm_cluster: None
) -> None:
    # --time 1: SLURM ends the job within its minute; the trainer is sent SIGTERM
    # first (not submitit's USR2, whose default action would kill it unsaved).
    runs = tmp_path / "runs"
    executor = SlurmExecutor(runs / ".sweeps" / "s6", {"time": 1, "cpus": 1})
    forever = (*TINY, "--steps", "100000000", "--eval-every", "100000000", "--log-every", "500")
    handles = executor.start([_member(runs, "a", *forever, "--checkpoint-every", "100000000")])
    _wait_ended(executor, handles)
    record = _record(runs / "a")
    assert record["status"] == "stopped", record.get("message")
    assert record["checkpoint_step"] == record["step"] > 0
    assert (runs / "a" / "checkpoints" / "last.pt").is_file()


def test_without_sbatch_the_executor_says_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    # Said when the executor is made: a sweep makes it before anything else, so the
    # sweep's folder and name are not taken by a sweep that cannot run.
    with pytest.raises(ExecutorError, match="^sbatch not found: --executor slurm needs") as raised:
        SlurmExecutor(tmp_path / ".sweeps" / "s4", {})
    assert str(raised.value) == NO_SBATCH
    runs = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, "-m", "genbench", "sweep", "--executor", "slurm", "--runs-dir", str(runs)]
        + ["--model", "gan", "--dataset", "ring8", "--seeds", "0-1"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path / "bin")},
    )
    assert done.returncode == 2 and "sbatch not found" in done.stderr, done.stderr
    assert not runs.exists()


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"slurm_extra": "account"}, "--slurm-extra takes sbatch options as KEY=VALUE"),
        ({"slurm_extra": "qos=high,=x"}, "--slurm-extra takes sbatch options as KEY=VALUE"),
        ({"mem": "lots"}, "--mem must be a size such as 4G"),
        ({"time": 0}, "--time must be a whole number of at least 1"),
        ({"cpus": -2}, "--cpus must be a whole number of at least 1"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_submitted(
    tmp_path: Path, settings: dict, words: str
) -> None:
    with pytest.raises(ExecutorError, match=words):
        SlurmExecutor(tmp_path, settings)
    assert os.listdir(tmp_path) == []


# -- `genbench sweep --executor slurm`, end to end ------------------------------------


def _sweep_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "genbench", "sweep", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def _sweep_record(runs: Path, sweep_id: str) -> dict:
    return json.loads((runs / ".sweeps" / sweep_id / "sweep.json").read_text())


def _handles(runs: Path, sweep_id: str) -> dict[str, str]:
    return {m["name"]: m["handle"] for m in _sweep_record(runs, sweep_id)["members"]}


def _watcher(runs: Path, sweep_id: str) -> SlurmExecutor:
    return SlurmExecutor(runs / ".sweeps" / sweep_id, {})


def _training(run_dir: Path) -> bool:
    metrics = run_dir / "metrics.jsonl"
    return metrics.exists() and metrics.read_text().count("\n") >= 1


def _sweep_list(runs: Path) -> list[dict]:
    listed = subprocess.run(
        [sys.executable, "-m", "genbench", "sweeps", "--runs-dir", str(runs), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(listed.stdout)


def test_a_grid_swept_on_slurm_is_submitted_and_every_member_completes(
    tmp_path: Path, slurm_cluster: None
) -> None:
    runs = tmp_path / "runs"
    done = _sweep_cli(
        "--executor", "slurm", "--runs-dir", str(runs), "--name", "g", *TINY,
        "--steps", "60", "--seeds", "0,1", "--cpus", "1", "--time", "10", "--slurm-array", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    handles = _handles(runs, "g")
    # One job array: the command returned once both were queued, each a task of it.
    assert sorted(h.split("_")[1] for h in handles.values()) == ["0", "1"]
    assert len({h.split("_")[0] for h in handles.values()}) == 1
    for handle in handles.values():
        assert f"job {handle}, log " in done.stdout
    # Handed to the scheduler, not started by genbench: said as such, never "missing".
    assert "  submitted g-000" in done.stdout and "missing" not in done.stdout
    assert "sweep g submitted: " in done.stdout
    _wait_ended(_watcher(runs, "g"), handles)
    for name, handle in handles.items():
        record = _record(runs / name)
        assert record["status"] == "completed" and record["step"] == 60
        assert record["job"]["id"] == handle and record["sweep"]["id"] == "g"
        assert record["options"]["threads"] == "1"  # --cpus 1 is also its --threads
    # Its jobs all ended without genbench watching: the list says the sweep is done.
    listed = _sweep_list(runs)
    assert listed[0]["state"] == "done" and listed[0]["progress"] == {"completed": 2}


def test_sweep_cancel_stops_the_running_member_and_drops_the_queued_ones(
    tmp_path: Path, slurm_cluster: None
) -> None:
    runs = tmp_path / "runs"
    done = _sweep_cli(
        "--executor", "slurm", "--runs-dir", str(runs), "--name", "c", *TINY,
        "--steps", "1000000", "--checkpoint-every", "1000000", "--seeds", "0-2",
        "--cpus", "1", "--slurm-array", "1", "--time", "10",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    handles = _handles(runs, "c")
    wait_until(lambda: _training(runs / "c-000"), JOB_TIMEOUT_S, what="c-000 to train")

    cancelled = _sweep_cli("--cancel", "c", "--runs-dir", str(runs))
    assert cancelled.returncode == 0, cancelled.stderr
    assert "3 job(s) cancelled" in cancelled.stdout
    _wait_ended(_watcher(runs, "c"), handles)
    record = _record(runs / "c-000")
    assert record["status"] == "stopped"
    assert (runs / "c-000" / "checkpoints" / "last.pt").is_file()
    assert not (runs / "c-001").exists() and not (runs / "c-002").exists()
    assert _sweep_record(runs, "c")["state"] == "cancelled"


def test_a_member_whose_job_was_scancelled_is_finished_by_resume_and_none_trains_twice(
    tmp_path: Path, slurm_cluster: None
) -> None:
    runs = tmp_path / "runs"
    done = _sweep_cli(
        "--executor", "slurm", "--runs-dir", str(runs), "--name", "r",
        "--model", "gan", "--dataset", "ring8", "--log-every", "20", "--eval-every", "1500",
        "--steps", "60,1500", "--checkpoint-every", "100000",
        "--cpus", "1", "--time", "10",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    handles = _handles(runs, "r")
    assert len(handles) == 2
    short, long = sorted(handles)  # r-000 trains 60 steps, r-001 1500
    wait_until(lambda: _training(runs / long), JOB_TIMEOUT_S, what=f"{long} to train")
    # Cancelled by hand, as an admin or a node failure would: SLURM's own SIGTERM,
    # then a kill; the trainer checkpoints on the SIGTERM.
    subprocess.run(["scancel", handles[long]], check=True, timeout=30)
    _wait_ended(_watcher(runs, "r"), handles)
    assert _record(runs / short)["status"] == "completed"
    stopped = _record(runs / long)
    assert stopped["status"] == "stopped" and stopped["step"] < 1500
    short_before = (runs / short / "run.json").read_bytes()

    resumed = _sweep_cli("--resume", "r", "--runs-dir", str(runs), "--wait", timeout=400)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = _handles(runs, "r")
    assert after[short] == handles[short]  # the completed member was not started again
    assert after[long] != handles[long]
    assert (runs / short / "run.json").read_bytes() == short_before
    record = _record(runs / long)
    assert record["status"] == "completed" and record["step"] == 1500
    assert record["resumed"] == 1 and record["job"]["id"] == after[long]
    lines = [json.loads(line) for line in (runs / long / "metrics.jsonl").open()]
    steps = [line["step"] for line in lines if "kind" not in line]  # loss lines, not evals
    assert steps == sorted(set(steps)) and steps[-1] == 1500  # each step trained once


def test_resume_leaves_members_whose_jobs_are_still_queued_or_running_alone(
    tmp_path: Path, slurm_cluster: None
) -> None:
    runs = tmp_path / "runs"
    done = _sweep_cli(
        "--executor", "slurm", "--runs-dir", str(runs), "--name", "q", *TINY,
        "--steps", "1000000", "--seeds", "0-1", "--cpus", "1", "--slurm-array", "1",
        "--time", "10",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    handles = _handles(runs, "q")
    wait_until(lambda: _training(runs / "q-000"), JOB_TIMEOUT_S, what="q-000 to train")
    # q-000 trains in its job, q-001 waits in the queue (no run folder yet).
    resumed = _sweep_cli("--resume", "q", "--runs-dir", str(runs))
    assert resumed.returncode == 0, resumed.stderr
    assert _handles(runs, "q") == handles  # nothing submitted twice
