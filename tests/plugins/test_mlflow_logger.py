"""--log mlflow: real runs logged by the real MLflow into a local store (the run's own
SQLite database, or the one MLFLOW_TRACKING_URI names), read back with MLflow's client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genbench.cli import main
from genbench.logger import line_values
from genbench.runfolder.runs import read_metrics
from tests.waiting import wait_until

pytest.importorskip("mlflow")
# MLflow's SQLite store, read back here, uses a SQLAlchemy option SQLAlchemy 2.1 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy")

TINY = ["--model", "gan", "--dataset", "ring8", "--log-every", "10", "--sample-every", "20"]
TINY += ["--checkpoint-every", "20", "--threads", "1"]


def local_env(tracking_uri: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # nothing leaves the machine
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
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


def the_run(uri: str):
    """The one MLflow run in the store (client, run)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("genbench")
    (run,) = client.search_runs([experiment.experiment_id])
    return client, run


def history(client, run) -> dict[int, dict[str, float]]:
    """step -> values; a step logged twice for a key fails here."""
    steps: dict[int, dict[str, float]] = {}
    for key in run.data.metrics:
        for m in client.get_metric_history(run.info.run_id, key):
            assert key not in steps.get(m.step, {}), f"{key} logged twice at step {m.step}"
            steps.setdefault(m.step, {})[key] = m.value
    return steps


def expected_history(run_dir: Path) -> dict[int, dict[str, float]]:
    """metrics.jsonl as the loggers are sent it: step -> values (loss, speed, quality)."""
    steps: dict[int, dict[str, float]] = {}
    metrics = run_dir / "metrics.jsonl"
    for record in read_metrics(metrics) + read_metrics(metrics, kind="eval"):
        step, values = line_values(record)
        steps.setdefault(step, {}).update(values)
    return steps


def images(client, run, run_dir: Path) -> list[int]:
    """The steps of the sample grids logged, each checked pixel for pixel against the
    grid genbench wrote at that step."""
    steps = []
    for artifact in client.list_artifacts(run.info.run_id, "images"):
        name = Path(artifact.path).name
        if not name.endswith(".png"):
            continue  # MLflow's own compressed .webp copy of each
        key, _, step, *_ = name.split("+")
        assert key == "samples"
        local = client.download_artifacts(run.info.run_id, artifact.path)
        grid = run_dir / "samples" / f"step-{int(step):07d}.png"
        assert np.array_equal(np.asarray(Image.open(local)), np.asarray(Image.open(grid)))
        steps.append(int(step))
    return sorted(steps)


def test_a_run_and_its_resume_are_one_mlflow_run_with_every_scalar_and_grid(runs_dir):
    env = local_env()
    # A runs folder given relative to the working directory (the test's tmp_path).
    genbench(["run", "--headless", *TINY, "--steps", "40", "--runs-dir", "runs",
              "--name", "ring", "--log", "mlflow"], env)  # fmt: skip
    run_dir = runs_dir / "ring"
    uri = f"sqlite:///{run_dir / 'mlflow' / 'mlflow.db'}"
    client, run = the_run(uri)
    assert run.info.status == "FINISHED" and run.data.tags["genbench.status"] == "completed"
    assert run.data.tags["genbench.run_id"] == "ring" and run.info.run_name == "ring"
    params = run.data.params
    assert params["model"] == "gan" and params["dataset"] == "ring8"
    assert params["options.steps"] == "40" and params["config.lr"] == "0.001"
    expected = expected_history(run_dir)
    assert sorted(expected) == [10, 20, 30, 40]
    assert any(k.startswith("quality/") for k in expected[40])  # the live evaluation's
    assert history(client, run) == expected
    assert images(client, run, run_dir) == [20, 40]
    # The artifacts stay in the run folder too.
    assert run.info.artifact_uri.startswith((run_dir / "mlflow" / "artifacts").as_uri())

    genbench(["run", "--headless", "--resume", str(run_dir), "--steps", "80",
              "--threads", "1"], env)  # fmt: skip
    client, resumed = the_run(uri)  # the same MLflow run: the store holds one
    assert resumed.info.run_id == run.info.run_id
    assert resumed.info.status == "FINISHED"
    # Steps 50..80 follow on, none logged twice; the grids of the resumed part added.
    assert history(client, resumed) == expected_history(run_dir)
    assert sorted(expected_history(run_dir)) == [10, 20, 30, 40, 50, 60, 70, 80]
    assert images(client, resumed, run_dir) == [20, 40, 60, 80]
    # MLflow's parameters are fixed: the resume's new --steps is kept as a tag.
    assert resumed.data.params["options.steps"] == "40"
    assert resumed.data.tags["genbench.changed.options.steps"] == "80 (from step 40)"


def test_a_stopped_run_is_killed_in_mlflow_and_its_resume_finishes_the_same_run(tmp_path, runs_dir):
    """MLFLOW_TRACKING_URI chooses the store: here one outside the run folder."""
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    env = local_env(uri)
    trainer = subprocess.Popen(
        [sys.executable, "-m", "genbench", "run", "--headless", *TINY, "--steps", "1000000",
         "--runs-dir", str(runs_dir), "--name", "long", "--log", "mlflow"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run_dir = runs_dir / "long"
    try:
        wait_until(
            lambda: (
                (run_dir / "mlflow" / "genbench.json").exists()
                and len(read_metrics(run_dir / "metrics.jsonl")) >= 2
            ),
            timeout=120,
            proc=trainer,
            what="the MLflow run and two metrics lines",
        )
        trainer.send_signal(signal.SIGTERM)
        _, err = trainer.communicate(timeout=120)
    finally:
        if trainer.poll() is None:
            trainer.kill()
    assert trainer.returncode == 130, err[-3000:]
    assert "dropped" not in err, err[-3000:]
    assert not (run_dir / "mlflow" / "mlflow.db").exists()  # the store is the one named
    client, run = the_run(uri)
    assert run.info.status == "KILLED" and run.data.tags["genbench.status"] == "stopped"
    stopped_at = max(expected_history(run_dir))

    genbench(["run", "--headless", "--resume", str(run_dir), "--steps",
              str(stopped_at + 20), "--threads", "1"], env)  # fmt: skip
    client, resumed = the_run(uri)
    assert resumed.info.run_id == run.info.run_id and resumed.info.status == "FINISHED"
    steps = history(client, resumed)
    assert steps == expected_history(run_dir)
    assert max(steps) == stopped_at + 20


def session(run_dir: Path, start: int, stop: int, status: str) -> None:
    """The logger as the trainer drives it, for what a genbench run cannot be made to
    do on cue: a resume from a checkpoint older than the last step logged (a run
    killed between a metrics line and its next checkpoint)."""
    from genbench import LoggedRun
    from genbench_plugins.mlflow_logger import MlflowLogger

    run = LoggedRun(dir=run_dir, id="killed", model="gan", dataset="ring8",
                    config={"lr": 0.1}, options={"steps": stop},
                    start_step=start, resumed=start > 0)  # fmt: skip
    logger = MlflowLogger()
    logger.start(run)
    for step in range(start + 10, stop + 1, 10):
        logger.metrics(step, {"loss/g": step / 1000, "session": float(start)})
    logger.evaluation(stop, {"fd": 1.5, "broken": float("nan")})
    logger.end(status)


def test_a_resume_from_an_older_checkpoint_sends_only_the_steps_after_the_last_one_held(
    tmp_path, monkeypatch
):
    for name in [k for k in os.environ if k.startswith("MLFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    run_dir = tmp_path / "killed"
    run_dir.mkdir()
    session(run_dir, 0, 50, "lost")  # logged to 50, its last checkpoint at 20
    client, run = the_run(f"sqlite:///{run_dir / 'mlflow' / 'mlflow.db'}")
    assert run.info.status == "FAILED" and run.data.tags["genbench.status"] == "lost"

    session(run_dir, 20, 80, "completed")  # resumed from 20: 30..50 trained again
    client, resumed = the_run(f"sqlite:///{run_dir / 'mlflow' / 'mlflow.db'}")
    assert resumed.info.run_id == run.info.run_id and resumed.info.status == "FINISHED"
    steps = history(client, resumed)  # no step twice
    assert sorted(steps) == [10, 20, 30, 40, 50, 60, 70, 80]
    # MLflow would keep both: 30..50 keep their first values, 60.. are the resume's.
    assert [steps[s]["session"] for s in sorted(steps)] == [0] * 5 + [20] * 3
    assert steps[50]["eval/fd"] == steps[80]["eval/fd"] == 1.5
    assert "eval/broken" not in resumed.data.metrics


def test_log_mlflow_without_mlflow_is_one_line_before_anything_is_made(
    runs_dir, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    code = main(["run", "--headless", *TINY, "--steps", "10", "--runs-dir", str(runs_dir),
                 "--log", "mlflow"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "--log mlflow needs the mlflow package: pip install 'genbench[mlflow]'" in err
    assert len(err.strip().splitlines()) == 1
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_a_received_run_folders_link_is_never_written_through(tmp_path, monkeypatch):
    """A run folder from elsewhere whose mlflow/mlflow.db is a link to a database of
    the user's: the logger refuses (the run drops it, saying why) and writes nothing."""
    from genbench import LoggedRun
    from genbench_plugins.mlflow_logger import MlflowLogger

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    theirs = tmp_path / "their.db"
    theirs.write_bytes(b"")
    run_dir = tmp_path / "received"
    (run_dir / "mlflow").mkdir(parents=True)
    (run_dir / "mlflow" / "mlflow.db").symlink_to(theirs)
    run = LoggedRun(dir=run_dir, id="received", model="gan", dataset="ring8")
    with pytest.raises(RuntimeError, match="mlflow.db is a link"):
        MlflowLogger().start(run)
    assert theirs.read_bytes() == b""
    assert sorted(p.name for p in (run_dir / "mlflow").iterdir()) == ["mlflow.db"]


def test_a_received_stores_artifact_location_outside_the_run_is_refused(tmp_path, monkeypatch):
    """A run folder from elsewhere whose own mlflow.db says the experiment's artifacts
    live in another folder of the user's: the logger refuses at start (the run drops
    it, saying why) and no sample grid is written there."""
    from mlflow.tracking import MlflowClient

    from genbench import LoggedRun
    from genbench_plugins.mlflow_logger import MlflowLogger

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    outside = tmp_path / "outside"
    outside.mkdir()
    run_dir = tmp_path / "received"
    (run_dir / "mlflow").mkdir(parents=True)
    planted = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow' / 'mlflow.db'}")
    planted.create_experiment("genbench", artifact_location=outside.as_uri())
    grid = tmp_path / "grid.png"
    Image.new("RGB", (8, 8)).save(grid)
    logger = MlflowLogger()
    run = LoggedRun(dir=run_dir, id="received", model="gan", dataset="ring8")
    try:
        logger.start(run)
        logger.samples(20, grid)  # what the trainer would send next
    except RuntimeError as exc:
        assert "outside" in str(exc) and "writes only into the run folder" in str(exc)
    else:
        pytest.fail("the logger started in a store whose artifacts are outside the run")
    assert not any(outside.rglob("*")), sorted(outside.rglob("*"))
