"""The ``mlflow`` logger: a run's metrics, sample grids and evaluations as an MLflow
run (``genbench run --log mlflow``).

Where it goes: ``MLFLOW_TRACKING_URI`` when set (a server, a shared database), else
a SQLite store of the run's own, ``RUN/mlflow/mlflow.db``, with the artifacts (the
sample grids) in ``RUN/mlflow/artifacts/`` (MLflow 3 keeps its plain-file store only
behind ``MLFLOW_ALLOW_FILE_STORE``; SQLite is its own default). The experiment is
``MLFLOW_EXPERIMENT_NAME``, else ``genbench``. The MLflow run carries the tag
``genbench.run_id`` (the run's name) and its status ends as FINISHED (completed),
KILLED (stopped) or FAILED.

A resume continues the same MLflow run: its id is kept in ``RUN/mlflow/genbench.json``
with the tracking URI it lives in. MLflow would store a step logged twice twice, so a
resumed run sends only the steps after the last one the MLflow run holds: the steps
between the checkpoint and that one, trained again, keep the values logged the first
time. Parameters cannot change in MLflow: one a resume changed (--set) is kept as the
tag ``genbench.changed.NAME``.

``genbench eval RUN`` adds its results to the same MLflow run as ``eval/NAME`` at the
checkpoint's step, and leaves its status as it was (a FINISHED run stays FINISHED).

Imports mlflow only when a run starts (``genbench --help`` and the workbench never pay
for it). Uses only genbench's public API, as a third party's logger would.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genbench import LoggedRun, Logger, hookimpl
from genbench.logger import EVAL, EVAL_PREFIX, number_values
from genbench_plugins.logger_files import own_folder, read_state, write_state

EXPERIMENT = "genbench"
RUN_ID_TAG = "genbench.run_id"
_PARAM_MAX_CHARS = 6000  # MLflow refuses longer parameter values
_PARAMS_PER_CALL = 100  # MLflow's bound for one log_batch
_STATUSES = {"completed": "FINISHED", "stopped": "KILLED"}  # anything else: FAILED


def _params(run: LoggedRun) -> dict[str, str]:
    flat: dict[str, Any] = {"model": run.model, "dataset": run.dataset}
    flat.update({f"config.{k}": v for k, v in run.config.items()})
    flat.update({f"options.{k}": v for k, v in run.options.items()})
    return {k: str(v)[:_PARAM_MAX_CHARS] for k, v in flat.items()}


class MlflowLogger(Logger):
    name = "mlflow"
    title = "MLflow"
    summary = "an MLflow run, in MLFLOW_TRACKING_URI or RUN/mlflow/mlflow.db"
    requires = "pip install 'genbench[mlflow]'"
    packages = ("mlflow",)

    def start(self, run: LoggedRun) -> None:
        from mlflow.tracking import MlflowClient

        # MLflow says each step of creating its database on stderr, into the run's output.
        for chatty in ("mlflow.store.db.utils", "alembic"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
        # A URI, unlike a path, is never relative; the store and the artifacts must be
        # the run's own, never a link a received run folder brought.
        folder = own_folder(run.dir.absolute() / "mlflow", "mlflow.db", "artifacts")
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{folder / 'mlflow.db'}"
        self._client = client = MlflowClient(tracking_uri=uri)
        earlier = self._resumed_run(read_state(folder), uri) if run.resumed else None
        # An evaluation of an existing MLflow run adds to it and leaves its status be.
        self._keep_status = earlier is not None and run.purpose == EVAL
        self._evaluating = run.purpose == EVAL
        if earlier is None:
            self._id: str = client.create_run(
                self._experiment(folder),
                run_name=run.id,
                tags={RUN_ID_TAG: run.id, "genbench.model": run.model},
            ).info.run_id
            self._sent_before = -1
            write_state(folder, {"tracking_uri": uri, "run_id": self._id})
        else:
            self._id = earlier
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            # The run's own store came with the folder: where it says the grids go is
            # untrusted too, and must be the folder's own artifacts/.
            _check_artifacts(client.get_run(self._id).info.artifact_uri, folder / "artifacts")
        if earlier is not None:
            # Steps up to here are in the MLflow run already: they are not sent twice.
            self._sent_before = self._last_step()
            if not self._keep_status:
                client.update_run(self._id, status="RUNNING")
        self._log_params(_params(run), run.start_step)

    def metrics(self, step: int, values: Mapping[str, float]) -> None:
        self._log(step, number_values(values))

    def samples(self, step: int, png: Path) -> None:
        if step <= self._sent_before:
            return
        from PIL import Image

        with Image.open(png) as image:
            image.load()
            self._client.log_image(self._id, image, key="samples", step=step)

    def evaluation(self, step: int, results: Mapping[str, float]) -> None:
        values = {f"{EVAL_PREFIX}{k}": v for k, v in number_values(results).items()}
        # genbench eval's step was logged by training, but never these values.
        self._log(step, values, again=self._evaluating)

    def end(self, status: str) -> None:
        if self._keep_status:
            return
        self._client.set_tag(self._id, "genbench.status", status)
        self._client.set_terminated(self._id, _STATUSES.get(status, "FAILED"))

    def _log(self, step: int, values: Mapping[str, float], again: bool = False) -> None:
        """Log ``values`` at ``step``: only past the steps an earlier session sent,
        unless ``again``."""
        if not values or (step <= self._sent_before and not again):
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value in values.items()]
        self._client.log_batch(self._id, metrics=metrics)

    def _resumed_run(self, state: dict[str, Any], uri: str) -> str | None:
        """The MLflow run an earlier start made, when it is in this tracking URI still."""
        from mlflow.exceptions import MlflowException

        run_id = state.get("run_id")
        if state.get("tracking_uri") != uri or not isinstance(run_id, str):
            return None
        try:
            found = self._client.get_run(run_id)
        except MlflowException:
            return None  # deleted, or another store: a new MLflow run
        return run_id if found.info.lifecycle_stage == "active" else None

    def _last_step(self) -> int:
        """The last step the MLflow run holds a metric at (-1: none)."""
        keys = self._client.get_run(self._id).data.metrics
        steps = (m.step for key in keys for m in self._client.get_metric_history(self._id, key))
        return max(steps, default=-1)

    def _experiment(self, folder: Path) -> str:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
        found = self._client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        # In the run's own store the artifacts stay in the run folder; a server or
        # shared store decides where its artifacts go.
        own = not os.environ.get("MLFLOW_TRACKING_URI")
        where = (folder / "artifacts").as_uri() if own else None
        return str(self._client.create_experiment(name, artifact_location=where))

    def _log_params(self, params: dict[str, str], step: int) -> None:
        """New parameters as parameters; a changed one as a tag (MLflow's are fixed)."""
        from mlflow.entities import Param, RunTag

        had = self._client.get_run(self._id).data.params
        new = [Param(k, v) for k, v in params.items() if k not in had]
        changed = [
            RunTag(f"genbench.changed.{k}", f"{v} (from step {step})")
            for k, v in params.items()
            if k in had and had[k] != v
        ]
        for i in range(0, max(len(new), len(changed)), _PARAMS_PER_CALL):
            self._client.log_batch(
                self._id,
                params=new[i : i + _PARAMS_PER_CALL],
                tags=changed[i : i + _PARAMS_PER_CALL],
            )


def _check_artifacts(uri: str, own: Path) -> None:
    """Refuse an artifact URI that is not a folder inside ``own`` reached without a
    link: a received run folder's mlflow.db could name any place (another folder of
    the user's, a server) for the sample grids to be written to, and a copied or
    moved folder's names the folder it came from."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    path = Path(os.path.normpath(unquote(parsed.path)))
    local = parsed.scheme == "file" and parsed.netloc in ("", "localhost")
    if not (local and path.is_relative_to(own)):
        raise RuntimeError(
            f"the run's own MLflow store puts its artifacts at {uri[:200]!r}, outside "
            f"{own}; the logger writes only into the run folder"
        )
    current = own
    for name in ("", *path.relative_to(own).parts):
        current = current / name
        if current.is_symlink():
            raise RuntimeError(f"{current} is a link; the logger writes only into its own folder")


@hookimpl
def genbench_loggers() -> list[type[Logger]]:
    return [MlflowLogger]
