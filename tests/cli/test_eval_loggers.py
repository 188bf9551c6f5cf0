"""genbench eval RUN sends its results to the loggers the run was trained with
(run.json options.log), read back from TensorBoard's, MLflow's and W&B's own files,
and a logger that raises, hangs or lacks its library changes neither eval.json nor
eval's exit code (genbench.cli.eval_loggers)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from genbench import LoggedRun, Logger, hookimpl
from genbench.cli import main
from genbench.logger import EVAL, line_values, number_values
from genbench.options import RunRequest
from genbench.registry import PluginInfo, load_registry
from genbench.runfolder.runs import read_metrics
from genbench.training import loggers as hub_module
from genbench.training.launch import new_run

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

# MLflow's SQLite store, read back here, uses a SQLAlchemy option SQLAlchemy 2.1 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy")

TRAIN = ["run", "--headless", "--quiet", "--threads", "1", "--log-every", "10"]
TRAIN += ["--model", "dcgan", "--dataset", "fashion-mnist", "--steps", "30"]
TRAIN += ["--batch-size", "16", "--sample-every", "10", "--eval-every", "30"]


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def local_env(tmp: Path) -> dict[str, str]:
    """Nothing leaves the machine: W&B offline with its files under ``tmp``, MLflow in
    the run's own store, without telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "MLFLOW_"))}
    for name in ("CACHE", "CONFIG", "DATA"):
        env[f"WANDB_{name}_DIR"] = str(tmp / f"wandb-{name.lower()}")
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


def genbench(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "genbench", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning" not in done.stderr, done.stderr[-3000:]
    return done


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value)]} of every scalar in a TensorBoard event folder."""
    reader = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    reader.Reload()
    return {t: [(e.step, e.value) for e in reader.Scalars(t)] for t in reader.Tags()["scalars"]}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A tiny dcgan on Fashion-MNIST trained with --log tensorboard (and mlflow and
    wandb where installed), then `genbench eval RUN --json`: (run folder, what
    TensorBoard held before the eval, eval's stdout, the loggers)."""
    from genbench.data import get_dataset

    if not get_dataset("fashion-mnist").availability().ok:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    tmp = tmp_path_factory.mktemp("eval-loggers")
    env = local_env(tmp)
    log = ["tensorboard"] + [name for name in ("mlflow", "wandb") if installed(name)]
    genbench([*TRAIN, "--runs-dir", str(tmp / "runs"), "--name", "fm",
              "--log", ",".join(log)], env)  # fmt: skip
    run_dir = tmp / "runs" / "fm"
    before = scalars(run_dir / "tensorboard")
    done = genbench(["eval", str(run_dir), "-n", "500", "--threads", "1", "--json"], env)
    return run_dir, before, done.stdout, log


def eval_record(run_dir: Path) -> dict:
    return json.loads((run_dir / "eval.json").read_text())


def test_tensorboard_gets_every_eval_number_at_the_checkpoint_step_and_keeps_the_training(
    evaluated,
):
    run_dir, before, stdout, _ = evaluated
    record = eval_record(run_dir)
    assert json.loads(stdout) == record  # the loggers printed nothing into --json's output
    assert record["step"] == 30
    results = number_values(record["summary"])
    assert {"fd", "kid", "precision", "recall"} <= set(results)
    assert {"loss/d", "loss/g", "speed/img_per_s", "quality/fd"} <= set(before)
    # Every training scalar as it was, and eval.json's numbers at the checkpoint's step.
    want = {**before, **{f"eval/{k}": [(30, np.float32(v))] for k, v in results.items()}}
    assert scalars(run_dir / "tensorboard") == want


def test_mlflow_gets_the_eval_numbers_in_the_same_run_whose_status_stays_finished(evaluated):
    run_dir, _, _, log = evaluated
    if "mlflow" not in log:
        pytest.skip("mlflow is not installed")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("genbench").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["genbench.status"] == "completed"
    history: dict[int, dict[str, float]] = {}
    for key in run.data.metrics:
        for m in client.get_metric_history(run.info.run_id, key):
            assert key not in history.get(m.step, {}), f"{key} twice at step {m.step}"
            history.setdefault(m.step, {})[key] = m.value
    want: dict[int, dict[str, float]] = {}
    metrics = run_dir / "metrics.jsonl"
    for line in read_metrics(metrics) + read_metrics(metrics, kind="eval"):
        step, values = line_values(line)
        want.setdefault(step, {}).update(values)
    results = number_values(eval_record(run_dir)["summary"])
    want[30].update({f"eval/{k}": v for k, v in results.items()})
    assert history == want


def test_wandb_gets_the_eval_numbers_in_the_same_runs_summary(evaluated):
    run_dir, _, _, log = evaluated
    if "wandb" not in log:
        pytest.skip("wandb is not installed")
    from tests.plugins.wandb_records import offline_runs

    trained, evaluation = offline_runs(run_dir / "wandb")
    assert evaluation.id == trained.id  # wandb sync sends both as one W&B run
    results = number_values(eval_record(run_dir)["summary"])
    assert {k: evaluation.summary[f"eval/{k}"] for k in results} == results
    assert evaluation.history == {}  # W&B's history cannot go back to step 30
    assert sorted(trained.history) == [10, 20, 30]
    assert evaluation.exit_code == 0 and evaluation.summary["genbench_status"] == "completed"


# -- loggers that fail, and what an eval start asks of each built-in ---------------

INFO = PluginInfo("evalloggers", "tests.cli.test_eval_loggers", "gbtest-eval-loggers", "1.0")


class Recording(Logger):
    name = "recording"
    calls: list[tuple] = []

    def start(self, run: LoggedRun) -> None:
        Recording.calls.append((self.name, "start", run))

    def metrics(self, step, values) -> None:
        pass

    def evaluation(self, step, results) -> None:
        Recording.calls.append((self.name, "evaluation", step, dict(results)))

    def end(self, status) -> None:
        Recording.calls.append((self.name, "end", status))


class RaisingAtEval(Recording):
    name = "raising"

    def evaluation(self, step, results) -> None:
        raise RuntimeError("the service said no")


class HangingAtEval(Recording):
    name = "hanging"
    release = threading.Event()

    def evaluation(self, step, results) -> None:
        HangingAtEval.release.wait()


class Uninstalled(Recording):
    """Its library was there for training and is gone by the eval."""

    name = "uninstalled"


class Plugin:
    @hookimpl
    def genbench_loggers(self):
        return [Recording, RaisingAtEval, HangingAtEval, Uninstalled]


def test_a_logger_that_raises_hangs_or_lost_its_library_is_one_line_and_eval_is_unchanged(
    runs_dir, monkeypatch, capsys, request
):
    registry = load_registry(extra=[(INFO, Plugin())])
    names = ["raising", "recording", "hanging", "uninstalled"]
    run_request = RunRequest(model="gan", dataset="ring8", steps=20, runs_dir=runs_dir, name="toy",
                         log_every=10, checkpoint_every=20, eval_every=1000, device="cpu",
                         log=names)  # fmt: skip
    assert new_run(run_request, registry, lambda event: None).run() is not None
    run_dir = runs_dir / "toy"
    Recording.calls = []
    HangingAtEval.release.clear()
    # The dropped logger's thread is released only when the test ends: woken earlier,
    # it would go on to end() and be counted in the --no-log check below.
    request.addfinalizer(HangingAtEval.release.set)
    monkeypatch.setattr(Uninstalled, "packages", ("genbench_no_such_package",))
    monkeypatch.setattr("genbench.registry.load_registry", lambda *a, **k: registry)
    monkeypatch.setattr(hub_module, "CALL_TIMEOUT_S", 0.5)
    capsys.readouterr()
    code = main(["eval", str(run_dir), "--threads", "1", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    record = eval_record(run_dir)
    assert json.loads(out) == record
    # Each failing logger is one warning line naming it; the one that works got it all.
    warnings = err.strip().splitlines()
    assert len(warnings) == 3, err
    for name, why in [("raising", "the service said no"), ("hanging", "did not return"),
                      ("uninstalled", "genbench_no_such_package")]:  # fmt: skip
        (line,) = [w for w in warnings if f"'{name}'" in w]
        assert line.startswith("genbench: warning: ") and why in line, line
    started = [c[0] for c in Recording.calls if c[1] == "start"]
    assert sorted(started) == ["hanging", "raising", "recording"]
    (start, evaluation, end) = [c[1:] for c in Recording.calls if c[0] == "recording"]
    assert start[0] == "start" and start[1].purpose == EVAL and start[1].resumed
    assert start[1].start_step == record["step"] == 20 and start[1].id == "toy"
    assert evaluation == ("evaluation", 20, number_values(record["summary"]))
    assert end == ("end", "completed")

    # --no-log: eval.json again, no logger called.
    Recording.calls = []
    assert main(["eval", str(run_dir), "--threads", "1", "--quiet", "--no-log"]) == 0
    assert Recording.calls == []
    assert "warning" not in capsys.readouterr().err


def test_an_eval_start_on_tensorboard_purges_nothing_the_run_logged_past_the_checkpoint(
    tmp_path,
):
    """A lost run logged to step 50, its last checkpoint at 20: a resume purges 30..50
    (they are trained again), an evaluation of that checkpoint keeps them."""
    from genbench_plugins.tb_logger import TensorBoardLogger

    run = LoggedRun(dir=tmp_path, id="lost", model="gan", dataset="ring8")
    logger = TensorBoardLogger()
    logger.start(run)
    for step in range(10, 51, 10):
        logger.metrics(step, {"loss/g": step / 100})
    logger.end("lost")
    logger = TensorBoardLogger()
    logger.start(LoggedRun(dir=tmp_path, id="lost", model="gan", dataset="ring8",
                           start_step=20, resumed=True, purpose=EVAL))  # fmt: skip
    logger.evaluation(20, {"fd": 3.5})
    logger.end("lost")
    got = scalars(tmp_path / "tensorboard")
    assert [step for step, _ in got["loss/g"]] == [10, 20, 30, 40, 50]
    assert got["eval/fd"] == [(20, 3.5)]


def test_an_eval_start_on_mlflow_leaves_a_killed_run_killed(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from genbench_plugins.mlflow_logger import MlflowLogger

    for name in [k for k in os.environ if k.startswith("MLFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    run = LoggedRun(dir=tmp_path, id="stopped", model="gan", dataset="ring8")
    logger = MlflowLogger()
    logger.start(run)
    for step in range(10, 51, 10):
        logger.metrics(step, {"loss/g": step / 100})
    logger.end("stopped")
    logger = MlflowLogger()
    logger.start(LoggedRun(dir=tmp_path, id="stopped", model="gan", dataset="ring8",
                           start_step=50, resumed=True, purpose=EVAL))  # fmt: skip
    logger.evaluation(50, {"fd": 3.5})
    logger.end("stopped")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("genbench").experiment_id])
    assert found.info.status == "KILLED" and found.data.tags["genbench.status"] == "stopped"
    assert [(m.step, m.value) for m in client.get_metric_history(found.info.run_id, "eval/fd")] == [
        (50, 3.5)
    ]
    assert len(client.get_metric_history(found.info.run_id, "loss/g")) == 5
