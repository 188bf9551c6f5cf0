"""--log wandb: a real run logged by the real wandb, offline (no network, no account),
read back from the run's own W&B files."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from genbench.cli import main
from genbench.logger import line_values
from genbench.runfolder.runs import read_metrics
from tests.plugins.wandb_records import OfflineRun, offline_runs

pytest.importorskip("wandb")

REPO = Path(__file__).resolve().parents[2]
TINY = ["--model", "gan", "--dataset", "ring8", "--log-every", "10", "--sample-every", "20"]
TINY += ["--checkpoint-every", "20", "--threads", "1"]


def offline_env(tmp_path: Path) -> dict[str, str]:
    """W&B as a user without an account has it: offline, its own files under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    for name in ("CACHE", "CONFIG", "DATA"):
        env[f"WANDB_{name}_DIR"] = str(tmp_path / f"wandb-{name.lower()}")
    return env


def genbench(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "genbench", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dropped" not in done.stderr, done.stderr[-3000:]


def expected_history(run_dir: Path) -> dict[int, dict[str, float]]:
    """metrics.jsonl as the loggers are sent it: step -> values (loss, speed, quality)."""
    history: dict[int, dict[str, float]] = {}
    lines = read_metrics(run_dir / "metrics.jsonl") + read_metrics(
        run_dir / "metrics.jsonl", kind="eval"
    )
    for record in lines:
        step, values = line_values(record)
        history.setdefault(step, {}).update(values)
    return history


def scalars(run: OfflineRun) -> dict[int, dict[str, float]]:
    return {
        step: {k: v for k, v in values.items() if not k.startswith("samples")}
        for step, values in run.history.items()
    }


def check_images(run_dir: Path, session: OfflineRun) -> list[int]:
    """Each logged sample grid is the very PNG genbench wrote at that step; their steps."""
    steps = []
    for step, values in session.history.items():
        if "samples/path" in values:
            logged = session.folder / "files" / values["samples/path"]
            grid = run_dir / "samples" / f"step-{step:07d}.png"
            assert hashlib.sha256(logged.read_bytes()).digest() == (
                hashlib.sha256(grid.read_bytes()).digest()
            )
            steps.append(step)
    return steps


def test_a_run_and_its_resume_are_one_offline_wandb_run_with_every_scalar_and_grid(
    tmp_path, runs_dir
):
    env = offline_env(tmp_path)
    genbench(["run", "--headless", *TINY, "--steps", "40", "--runs-dir", str(runs_dir),
              "--name", "ring.1", "--log", "wandb"], env)  # fmt: skip
    run_dir = runs_dir / "ring.1"
    (first,) = offline_runs(run_dir / "wandb")
    # The run's name has a '.', which W&B's ids do not take: replaced, and a random
    # suffix added, so a run of the same name elsewhere is never merged into this one.
    assert re.fullmatch(r"ring-1-[0-9a-f]{8}", first.id), first.id
    assert first.config["model"] == "gan" and first.config["dataset"] == "ring8"
    assert first.config["options"]["steps"] == 40
    assert set(first.config["config"]) == set(
        json.loads((run_dir / "run.json").read_text())["config"]
    )
    expected = expected_history(run_dir)
    assert sorted(expected) == [10, 20, 30, 40]
    assert any(k.startswith("quality/") for k in expected[40])  # the live evaluation's
    assert scalars(first) == expected
    assert check_images(run_dir, first) == [20, 40]
    assert first.exit_code == 0 and first.summary["genbench_status"] == "completed"

    genbench(["run", "--headless", "--resume", str(run_dir), "--steps", "80",
              "--threads", "1"], env)  # fmt: skip
    first_again, second = offline_runs(run_dir / "wandb")
    assert first_again.history == first.history  # the first session is left as it was
    # The same W&B run (wandb sync sends the sessions of one id as one run, in order),
    # its steps going on from the resume, none sent twice.
    assert second.id == first.id
    assert sorted(second.history) == [50, 60, 70, 80]
    assert {**scalars(first), **scalars(second)} == expected_history(run_dir)
    assert check_images(run_dir, second) == [60, 80]
    assert second.config["options"]["steps"] == 80
    assert second.exit_code == 0 and second.summary["genbench_status"] == "completed"


# A session of the logger as the trainer drives it, for what a genbench run cannot
# be made to do on cue: a resume from a checkpoint older than the last step logged
# (a run killed between a metrics line and its next checkpoint).
SESSION = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from genbench import LoggedRun
    from genbench_plugins.wandb_logger import WandbLogger

    run_dir, start, stop, status = Path(sys.argv[1]), *map(int, sys.argv[2:4]), sys.argv[4]
    run = LoggedRun(dir=run_dir, id="killed", model="gan", dataset="ring8",
                    config={"lr": 0.1}, options={"steps": stop},
                    start_step=start, resumed=start > 0)
    logger = WandbLogger()
    logger.start(run)
    for step in range(start + 10, stop + 1, 10):
        logger.metrics(step, {"loss/g": step / 1000, "session": float(start)})
    logger.evaluation(stop, {"fd": 1.5, "broken": float("nan")})
    logger.end(status)
    """
)


def session(tmp_path: Path, run_dir: Path, start: int, stop: int, status: str) -> None:
    env = offline_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "plugins")])
    done = subprocess.run(
        [sys.executable, "-c", SESSION, str(run_dir), str(start), str(stop), status],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_resume_from_an_older_checkpoint_sends_only_the_steps_after_the_last_one_sent(
    tmp_path,
):
    run_dir = tmp_path / "killed"
    run_dir.mkdir()
    session(tmp_path, run_dir, 0, 50, "lost")  # logged to 50, its last checkpoint at 20
    session(tmp_path, run_dir, 20, 80, "completed")  # resumed from 20: 30..50 trained again
    first, second = offline_runs(run_dir / "wandb")
    assert second.id == first.id and first.id.startswith("killed-")
    assert sorted(first.history) == [10, 20, 30, 40, 50]
    # W&B's history cannot go back: 30..50 keep their first values, 60.. follow on.
    assert sorted(second.history) == [60, 70, 80]
    assert all(values["session"] == 20 for values in second.history.values())
    assert second.history[80]["eval/fd"] == 1.5 and "eval/broken" not in second.history[80]
    assert first.exit_code == 1 and first.summary["genbench_status"] == "lost"
    assert second.exit_code == 0


def test_log_wandb_without_wandb_is_one_line_before_anything_is_made(runs_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if it were not installed
    code = main(["run", "--headless", *TINY, "--steps", "10", "--runs-dir", str(runs_dir),
                 "--log", "wandb"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "--log wandb needs the wandb package: pip install 'genbench[wandb]'" in err
    assert len(err.strip().splitlines()) == 1
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_loading_the_plugins_imports_neither_wandb_nor_mlflow():
    code = (
        "import sys\n"
        "from genbench.registry import load_registry\n"
        "registry = load_registry()\n"
        "assert {'wandb', 'mlflow'} <= set(registry.loggers), sorted(registry.loggers)\n"
        "heavy = sorted(m for m in ('wandb', 'mlflow') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_received_run_folders_dot_wandb_link_is_never_written_through(tmp_path):
    """W&B writes into RUN/.wandb rather than RUN/wandb where that exists: a run folder
    from elsewhere whose .wandb links to another folder of the user's must not get the
    W&B run written there. The logger refuses at start (the run drops it, saying why)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    run_dir = tmp_path / "received"
    run_dir.mkdir()
    (run_dir / ".wandb").symlink_to(outside)
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from genbench import LoggedRun
        from genbench_plugins.wandb_logger import WandbLogger
        logger = WandbLogger()
        try:
            logger.start(LoggedRun(dir=Path({str(run_dir)!r}), id="r", model="gan",
                                   dataset="ring8"))
        except RuntimeError as exc:
            print("refused:", exc)
        else:
            logger.metrics(10, {{"loss/d": 1.0}})
            logger.end("completed")
            print("started")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("refused:") and ".wandb exists" in done.stdout, done.stdout
    assert not any(outside.iterdir()), sorted(outside.iterdir())
