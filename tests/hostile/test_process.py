"""The trainer's process under attack: absurd --threads, closed stdout and stderr,
storms of stop signals, a 50 GB sparse metrics file on resume, and torchrun
variables that are missing, garbage or inconsistent (issue #26, items 4 to 6).

Each test starts real `genbench run --headless` processes (small steps, one
thread, ring8) and waits on conditions, never on fixed sleeps, except where the
attack itself is timed (signals 0.7 s apart, as a user pressing Ctrl+C would).
"""

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

from genbench.errors import UsageError
from genbench.host.threads import parse_threads
from genbench.runfolder.runs import CHECKPOINT, read_metrics, read_run_json
from tests.waiting import wait_until

GENBENCH = [sys.executable, "-m", "genbench"]
CPUS = os.cpu_count() or 1
QUICK = ["--headless", "--model", "gan", "--dataset", "ring8", "--threads", "1", "--quiet"]

# A toy model that can take its time where a test needs a window: while being
# built, while its state is saved (every checkpoint), or in its steps from a given
# one on. It writes a line to $SLOWTOY_MARKS as each slow part starts.
SLOW_MODEL = """
import os, time
from dataclasses import dataclass
import torch
from genbench import GenerativeModel, hookimpl, param

def mark(what):
    path = os.environ.get("SLOWTOY_MARKS")
    if path:
        with open(path, "a") as fh:
            fh.write(what + "\\n")

@dataclass
class Config:
    lr: float = param(0.05, "learning rate", min=0.0)
    build_s: float = param(0.0, "seconds to sleep while being built", min=0.0)
    save_s: float = param(0.0, "seconds to sleep while its state is saved", min=0.0)
    slow_from: int = param(0, "steps from this one on sleep step_s (0: none)", min=0)
    step_s: float = param(0.0, "seconds a slow step sleeps", min=0.0)

class SlowToy(GenerativeModel):
    name = "slowtoy"
    title = "Slow toy"
    kinds = frozenset({"points"})
    Config = Config

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        if config.build_s:
            mark("build")
            time.sleep(config.build_s)
        self.net = torch.nn.Linear(spec.dim, spec.dim).to(device)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=config.lr)
        self.steps = 0

    def train_step(self, x, y=None):
        self.steps += 1
        if self.config.slow_from and self.steps >= self.config.slow_from:
            mark(f"step {self.steps}")
            time.sleep(self.config.step_s)
        loss = (self.net(torch.randn_like(x)) - x).pow(2).mean()
        self.opt.zero_grad(); loss.backward(); self.opt.step()
        return {"mse": loss.detach()}

    def sample(self, n, labels=None, generator=None):
        with torch.no_grad():
            return self.net(torch.randn(n, self.spec.dim, generator=generator,
                                        device=self.device))

    def extra_state(self):
        if self.config.save_s:
            mark("save")
            time.sleep(self.config.save_s)
        return {"steps": self.steps}

    def load_extra_state(self, state):
        self.steps = state["steps"]

@hookimpl
def genbench_models():
    return [SlowToy]
"""


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """The process's (stdout, stderr) once it exits; killed, and the test failed,
    when it runs past ``timeout`` (a hang)."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running after {timeout} s (a hang); stderr: {err[-2000:]}")


def genbench(args: list[str], timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("capture_output", True)
    try:
        return subprocess.run(GENBENCH + args, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`genbench {' '.join(args)}` still running after {timeout} s (a hang)")


def one_line_error(result, *words: str) -> str:
    """Exit 2, one line on stderr naming ``words``, no traceback."""
    err = result.stderr.strip()
    assert result.returncode == 2, (result.returncode, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err


def sigint_storm(proc: subprocess.Popen, times: int = 8, gap: float = 0.7) -> None:
    """Ctrl+C ``times`` times, ``gap`` s apart, as long as the process lives."""
    for _ in range(times):
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)


def marks(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def slowtoy(plugin_site, tmp_path):
    """The environment of a child that sees the slow toy, and its marks file."""
    plugin_site.add("gb-slowtoy", SLOW_MODEL)
    env = plugin_site.env()
    env["SLOWTOY_MARKS"] = str(tmp_path / "marks")
    return env, tmp_path / "marks"


# -- 4. threads ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-1",
        "abc",
        "1e3",
        "",
        "2.5",
        str(CPUS + 1),
        "100000",
        str(10**6),
        pytest.param("9" * 5000, id="5000-digits"),
    ],
)
def test_threads_outside_the_machine_are_one_line(text):
    with pytest.raises(UsageError) as caught:
        parse_threads(text)
    message = str(caught.value)
    assert "--threads" in message and f"1 to {CPUS}" in message and "\n" not in message
    assert len(message) < 200


def test_threads_up_to_the_machine_are_taken():
    assert parse_threads("auto") is None and parse_threads(None) is None
    assert parse_threads("1") == 1 and parse_threads(str(CPUS)) == CPUS


def test_the_workbench_form_bounds_threads_as_the_cli_does():
    from genbench.tui.screens.new_run import check_threads

    assert check_threads(" ") == "auto" and check_threads(str(CPUS)) == str(CPUS)
    with pytest.raises(UsageError, match="--threads"):
        check_threads("100000")


def test_more_threads_than_cpus_is_refused_before_any_folder(runs_dir):
    """One over the machine's CPUs (100000 once exhausted the host's threads and left
    a `running` folder at step 0): exit 2, one line, no folder."""
    result = genbench(
        [
            "run",
            *QUICK[:-3],
            "--steps",
            "2",
            "--threads",
            str(CPUS + 1),
            "--runs-dir",
            str(runs_dir),
        ]
    )
    one_line_error(result, "--threads", f"1 to {CPUS}")
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.parametrize(
    "command",
    [
        ["bench", "--model", "gan", "--dataset", "ring8", "--steps", "2", "--warmup", "0"],
        ["eval", "nowhere"],
    ],
)
def test_bench_and_eval_bound_threads_too(command):
    result = genbench([*command, "--threads", str(CPUS + 1)])
    one_line_error(result, "--threads")


# -- 5. closed stdout and stderr, stop signals -----------------------------------


def _closing(fds: tuple[int, ...]):
    def close() -> None:
        for fd in fds:
            os.close(fd)

    return close


@pytest.mark.parametrize("closed", [(1,), (2,), (0, 1, 2)], ids=["stdout", "stderr", "all"])
def test_a_run_started_with_closed_output_completes(runs_dir, closed):
    """`genbench run ... >&-`: was an AttributeError traceback at start and a folder
    left `running` and locked at step 0. Now printing stops and the run completes."""
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            *QUICK[:-1],
            "--steps",
            "12",
            "--log-every",
            "4",
            "--checkpoint-every",
            "6",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "c",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_closing(closed),
        text=True,
    )
    out, err = finish(proc, 120)
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err
    meta = read_run_json(runs_dir / "c")
    assert (meta.status, meta.step, meta.checkpoint_step) == ("completed", 12, 12)
    assert [r["step"] for r in read_metrics(runs_dir / "c" / "metrics.jsonl")] == [4, 8, 12]


def test_a_pipe_closed_mid_run_stops_the_printing_not_the_run(runs_dir):
    """The reader of stdout goes away after the first line (`| head -1`, a viewer
    closed): the run goes on to complete."""
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            *QUICK[:-1],
            "--json",
            "--steps",
            "300",
            "--log-every",
            "1",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "p",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    # Set-up's phase lines come first; the reader goes away after the start.
    lines = (json.loads(line) for line in iter(proc.stdout.readline, b""))
    assert next(e for e in lines if e["event"] != "phase")["event"] == "start"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err
    assert read_run_json(runs_dir / "p").status == "completed"


def test_a_signal_storm_during_the_stop_checkpoint_still_writes_it(slowtoy, runs_dir):
    """Eight Ctrl+C 0.7 s apart before the first checkpoint, while the stop's own
    checkpoint takes 3 s to save: it was broken by the repeated signals and the run
    claimed "resumes from the last checkpoint" with none written. Now the
    checkpoint is written and the run resumes from it."""
    env, marks_file = slowtoy
    run = runs_dir / "storm"
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            "--headless",
            "--quiet",
            "--model",
            "slowtoy",
            "--dataset",
            "ring8",
            "--threads",
            "1",
            "--steps",
            "100000",
            "--log-every",
            "5",
            "--checkpoint-every",
            "100000",
            "--set",
            "save_s=3",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "storm",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: bool(read_metrics(run / "metrics.jsonl")), 120, proc, "the first metrics line"
        )
        sigint_storm(proc)
        out, err = finish(proc, 120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert marks(marks_file) == ["save"]  # the stop's checkpoint, and only it
    meta = read_run_json(run)
    assert meta.status == "stopped" and (run / CHECKPOINT).is_file(), meta
    assert meta.checkpoint_step == meta.step > 0, meta
    assert f"at step {meta.step}" in meta.message and "interrupted" not in meta.message
    resumed = genbench(
        ["run", "--resume", str(run), "--steps", str(meta.step + 5), "--quiet", "--threads", "1"],
        env=env,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert read_run_json(run).status == "completed"


def test_a_signal_storm_in_a_hung_first_step_leaves_no_folder(slowtoy, runs_dir):
    """A step that hangs before the first checkpoint, Ctrl+C pressed until it gives
    way: the run may not say "resumes from the last checkpoint" with none written.
    Its state is half a step on, so nothing is checkpointed and the folder, which
    holds nothing to resume, is removed."""
    env, marks_file = slowtoy
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            "--headless",
            "--quiet",
            "--model",
            "slowtoy",
            "--dataset",
            "ring8",
            "--threads",
            "1",
            "--steps",
            "100",
            "--checkpoint-every",
            "50",
            "--set",
            "slow_from=3",
            "--set",
            "step_s=120",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "hung",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: "step 3" in marks(marks_file), 120, proc, "the slow step")
        sigint_storm(proc)
        out, err = finish(proc, 60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert "resumes from" not in out and "before the first checkpoint" in out, out
    assert not (runs_dir / "hung").exists()


def test_a_signal_storm_in_a_hung_step_names_the_checkpoint_it_resumes_from(slowtoy, runs_dir):
    env, marks_file = slowtoy
    run = runs_dir / "later"
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            "--headless",
            "--quiet",
            "--model",
            "slowtoy",
            "--dataset",
            "ring8",
            "--threads",
            "1",
            "--steps",
            "100",
            "--checkpoint-every",
            "4",
            "--set",
            "slow_from=6",
            "--set",
            "step_s=120",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "later",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: "step 6" in marks(marks_file), 120, proc, "the slow step")
        sigint_storm(proc)
        out, err = finish(proc, 60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    meta = read_run_json(run)
    assert (meta.status, meta.checkpoint_step) == ("stopped", 4), meta
    assert "resumes from its checkpoint at step 4" in meta.message, meta.message
    resumed = genbench(
        [
            "run",
            "--resume",
            str(run),
            "--steps",
            "8",
            "--set",
            "slow_from=0",
            "--quiet",
            "--threads",
            "1",
        ],
        env=env,
    )
    assert resumed.returncode == 0, resumed.stderr


def _trained(runs_dir: Path, name: str, env=None, model: str = "gan") -> Path:
    result = genbench(
        [
            "run",
            "--headless",
            "--quiet",
            "--model",
            model,
            "--dataset",
            "ring8",
            "--threads",
            "1",
            "--steps",
            "8",
            "--log-every",
            "4",
            "--checkpoint-every",
            "8",
            "--runs-dir",
            str(runs_dir),
            "--name",
            name,
        ],
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return runs_dir / name


def test_a_stop_during_resume_set_up_leaves_the_folder_as_it_says(slowtoy, runs_dir):
    """SIGTERM while a resumed run's model is being built: "... is as it was" must be
    true. The lines logged after the checkpoint were dropped before that was said."""
    env, marks_file = slowtoy
    run = _trained(runs_dir, "asis", env, model="slowtoy")
    with open(run / "metrics.jsonl", "a") as fh:  # a run killed after its checkpoint
        fh.write(json.dumps({"step": 12, "time": 1.0, "losses": {"mse": 0.5}}) + "\n")
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            "--resume",
            str(run),
            "--steps",
            "20",
            "--set",
            "build_s=4",
            "--threads",
            "1",
            "--quiet",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: "build" in marks(marks_file), 120, proc, "the model build")
        proc.send_signal(signal.SIGTERM)
        out, err = finish(proc, 60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "is as it was" in err and "Traceback" not in err, err
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after == before


# -- 6. hangs --------------------------------------------------------------------


def _sparse(path: Path, size: int) -> bool:
    """Make ``path`` ``size`` bytes long without writing them; False where the
    filesystem would store them."""
    os.truncate(path, size)
    return os.stat(path).st_blocks * 512 < 1 << 30


FIFTY_GB = 50 * 10**9


def test_resume_refuses_a_50_gb_sparse_metrics_tail_in_seconds(runs_dir):
    """A sparse 50 GB metrics.jsonl kept --resume from training for over 5 minutes
    (every byte was read and rewritten). The tail is read back from the end, at
    most RESUME_TAIL_MAX: refused in one line, the file left as it was."""
    run = _trained(runs_dir, "sparse")
    metrics = run / "metrics.jsonl"
    if not _sparse(metrics, FIFTY_GB):
        pytest.skip("this filesystem does not keep sparse files")
    run_json = (run / "run.json").read_bytes()
    started = time.monotonic()
    result = genbench(
        ["run", "--resume", str(run), "--steps", "12", "--threads", "1", "--quiet"], timeout=90
    )
    took = time.monotonic() - started
    one_line_error(result, "metrics.jsonl", "50.0 GB", "step 8")
    assert took < 60, took
    assert metrics.stat().st_size == FIFTY_GB and (run / "run.json").read_bytes() == run_json


def test_resume_reads_only_the_tail_of_a_metrics_file_that_starts_with_50_gb_of_holes(runs_dir):
    """The same file with its real lines at the end (and one logged after the
    checkpoint, as a killed run leaves): the line is dropped in place, and the run
    trains on at once."""
    run = _trained(runs_dir, "holes")
    metrics = run / "metrics.jsonl"
    lines = metrics.read_bytes()
    late = (json.dumps({"step": 10, "time": 1.0, "losses": {"d": 1.0, "g": 1.0}}) + "\n").encode()
    metrics.unlink()
    with open(metrics, "wb") as fh:
        fh.seek(FIFTY_GB)
        fh.write(lines + late)
    if os.stat(metrics).st_blocks * 512 > 1 << 30:
        pytest.skip("this filesystem does not keep sparse files")
    result = genbench(
        [
            "run",
            "--resume",
            str(run),
            "--steps",
            "12",
            "--threads",
            "1",
            "--log-every",
            "4",
            "--quiet",
        ],
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert metrics.stat().st_size < FIFTY_GB + 2 * len(lines)
    with open(metrics, "rb") as fh:
        fh.seek(FIFTY_GB)
        records = [json.loads(line) for line in fh.read().splitlines()]
    assert [r["step"] for r in records if "kind" not in r] == [4, 8, 12]  # not 10


@pytest.mark.parametrize(
    "env, names",
    [
        ({"WORLD_SIZE": "abc"}, ["WORLD_SIZE", "'abc'"]),
        ({"WORLD_SIZE": "0"}, ["WORLD_SIZE"]),
        ({"WORLD_SIZE": "-2"}, ["WORLD_SIZE"]),
        ({"WORLD_SIZE": "2"}, ["RANK", "not set"]),
        ({"WORLD_SIZE": "2", "RANK": "0"}, ["MASTER_ADDR", "not set"]),
        ({"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1"}, ["MASTER_PORT", "not set"]),
        (
            {"WORLD_SIZE": "2", "RANK": "5", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"},
            ["RANK 5", "WORLD_SIZE 2"],
        ),
        ({"WORLD_SIZE": "2", "RANK": "1.0", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, ["RANK"]),
        (
            {"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "99999"},
            ["MASTER_PORT", "65535"],
        ),
        (
            {"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "http"},
            ["MASTER_PORT"],
        ),
        (
            {"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "a b\x1b[2J", "MASTER_PORT": "1"},
            ["MASTER_ADDR"],
        ),
        (
            {
                "WORLD_SIZE": "2",
                "RANK": "1",
                "LOCAL_RANK": "-1",
                "MASTER_ADDR": "h",
                "MASTER_PORT": "1",
            },
            ["LOCAL_RANK"],
        ),
        (
            {
                "WORLD_SIZE": "2",
                "RANK": "1",
                "LOCAL_RANK": "3",
                "MASTER_ADDR": "h",
                "MASTER_PORT": "1",
            },
            ["LOCAL_RANK 3"],
        ),
        (
            {
                "WORLD_SIZE": "4",
                "RANK": "1",
                "LOCAL_RANK": "2",
                "LOCAL_WORLD_SIZE": "2",
                "MASTER_ADDR": "h",
                "MASTER_PORT": "1",
            },
            ["LOCAL_RANK 2", "LOCAL_WORLD_SIZE 2"],
        ),
        ({"WORLD_SIZE": "9" * 400}, ["WORLD_SIZE"]),
    ],
)
def test_torchrun_variables_are_checked_before_anything_starts(env, names):
    from genbench.training.distributed import check_environment

    with pytest.raises(UsageError) as caught:
        check_environment(env)
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 300
    for name in names:
        assert name in message, message


def test_torchrun_variables_that_hold_are_read():
    from genbench.training.distributed import Launch, check_environment

    assert check_environment({}) == Launch()
    assert check_environment({"WORLD_SIZE": "1"}) == Launch()
    assert check_environment(
        {
            "WORLD_SIZE": " 2 ",
            "RANK": "1",
            "LOCAL_RANK": "1",
            "MASTER_ADDR": "node-3.cluster",
            "MASTER_PORT": "29500",
        }
    ) == Launch(1, 2, 1, "node-3.cluster", 29500)


@pytest.mark.parametrize(
    "env, names",
    [
        ({"WORLD_SIZE": "abc"}, ["WORLD_SIZE"]),
        ({"WORLD_SIZE": "2", "RANK": "0"}, ["MASTER_ADDR"]),
        ({"RANK": "5", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"}, ["RANK 5"]),
    ],
)
def test_bad_torchrun_variables_are_one_line_and_no_folder(runs_dir, env, names):
    """Were tracebacks, and RANK=5 WORLD_SIZE=2 hung over 6 minutes, deaf to SIGTERM."""
    result = genbench(
        ["run", *QUICK, "--steps", "2", "--runs-dir", str(runs_dir)],
        env={**os.environ, **env},
        timeout=90,
    )
    one_line_error(result, *names)
    assert not runs_dir.exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_ends_a_wait_for_the_other_ranks(runs_dir):
    """Rank 1 of 2 with no rank 0 anywhere: the wait used to block in C++ for ten
    minutes, deaf to SIGTERM and Ctrl+C. A listener that never answers stands in
    for rank 0's port, so the test knows when rank 1 is waiting."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        env = {
            **os.environ,
            "WORLD_SIZE": "2",
            "RANK": "1",
            "LOCAL_RANK": "0",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
        proc = subprocess.Popen(
            GENBENCH
            + ["run", *QUICK, "--steps", "2", "--device", "cpu", "--runs-dir", str(runs_dir)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            listener.settimeout(120)
            conn, _ = listener.accept()  # rank 1 is at the rendezvous now
            proc.send_signal(signal.SIGTERM)
            out, err = finish(proc, 30)
            conn.close()
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    assert "SIGTERM" in err and "rank 1" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not runs_dir.exists()


def test_a_rendezvous_nobody_joins_ends_at_its_timeout(runs_dir):
    """No signal at all: the wait ends at RENDEZVOUS_TIMEOUT_S (3 s here) with one
    line saying who did not come."""
    script = (
        "import sys\n"
        "from genbench.training import distributed\n"
        "distributed.RENDEZVOUS_TIMEOUT_S = 3.0\n"
        "from genbench.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {
        **os.environ,
        "WORLD_SIZE": "2",
        "RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
    }
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                "run",
                *QUICK,
                "--steps",
                "2",
                "--device",
                "cpu",
                "--runs-dir",
                str(runs_dir),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=90,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the rendezvous did not end at its timeout")
    one_line_error(result, "rank 1 of 2", "did not join", "within 3 s")
    assert not runs_dir.exists()


def test_a_master_addr_that_does_not_resolve_is_one_line_at_once(runs_dir):
    """torch retried the name for ten minutes, logging a line of C++ on each try."""
    env = {
        **os.environ,
        "WORLD_SIZE": "2",
        "RANK": "1",
        "MASTER_ADDR": "nowhere.invalid",
        "MASTER_PORT": str(free_port()),
    }
    result = genbench(
        ["run", *QUICK, "--steps", "2", "--device", "cpu", "--runs-dir", str(runs_dir)],
        env=env,
        timeout=90,
    )
    one_line_error(result, "MASTER_ADDR 'nowhere.invalid' does not resolve")
    assert not runs_dir.exists()


def test_a_batch_that_does_not_split_over_the_ranks_is_said_once(runs_dir):
    """torchrun with 3 processes at batch 64 printed genbench's line three times
    (then torchrun's own traceback). Each rank exits 2; rank 0 alone says why."""
    port = str(free_port())
    procs = [
        subprocess.Popen(
            GENBENCH
            + [
                "run",
                *QUICK,
                "--steps",
                "2",
                "--batch-size",
                "64",
                "--device",
                "cpu",
                "--runs-dir",
                str(runs_dir),
            ],
            env={
                **os.environ,
                "WORLD_SIZE": "3",
                "RANK": str(rank),
                "LOCAL_RANK": str(rank),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": port,
            },
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(3)
    ]
    try:
        results = [finish(proc, 120) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [proc.returncode for proc in procs] == [2, 2, 2], results
    errs = [err.strip() for _, err in results]
    assert len(errs[0].splitlines()) == 1 and "--batch-size 64" in errs[0] and "3" in errs[0]
    assert errs[1:] == ["", ""], errs
    assert not runs_dir.exists()
