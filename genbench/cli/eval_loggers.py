"""genbench eval RUN's results sent where the run's training went: the loggers the run
recorded (run.json ``options.log``), so its TensorBoard, W&B or MLflow run holds them.

Each logger is started for an evaluation (``LoggedRun.purpose`` ``"eval"``, resumed,
at the checkpoint's step), gets eval.json's numbers at that step and ends with the
run's recorded status, through the trainer's isolation (``LoggerHub``). eval.json is
written before: a logger that is unknown, lacks its library, raises or hangs is one
warning line on stderr and changes neither eval.json nor the exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from contextlib import redirect_stdout
from dataclasses import replace
from pathlib import Path
from typing import Any

from genbench.errors import UsageError
from genbench.logger import EVAL, Logger
from genbench.registry import Registry
from genbench.runfolder.export_metrics import logged_run
from genbench.runfolder.record import RunRecord
from genbench.runfolder.runs import effective_status, read_run_json
from genbench.training.loggers import LoggerHub, make_loggers, recorded_loggers

GOES_ON = "eval.json is written without it"


def send_evaluation(run_dir: Path, record: Mapping[str, Any], registry: Registry) -> list[str]:
    """Send eval.json's ``record`` to the run's loggers; the names of those that took
    it (none when the run recorded none, or is still training)."""
    try:
        meta = read_run_json(run_dir)
        names = recorded_loggers(meta, run_dir)
    except UsageError as exc:
        warn(f"the evaluation was not sent to the run's loggers: {exc}")
        return []
    if not names:
        return []
    status = effective_status(meta, run_dir=run_dir)
    if status == "running":
        # Its trainer logs to the same runs; run eval again when it has ended.
        warn(
            f"the run is still training: the evaluation was not sent to its loggers "
            f"({', '.join(names)})"
        )
        return []
    loggers = _made(names, registry)
    if not loggers:
        return []
    return _send(meta, run_dir, loggers, record, status)


def _made(names: list[str], registry: Registry) -> list[Logger]:
    """One instance of each logger that can be made; each that cannot, said once."""
    made: list[Logger] = []
    for name in names:
        try:
            made += make_loggers([registry.logger(name)])
        except UsageError as exc:  # unknown, its library missing, its constructor raised
            warn(f"logger {name!r} was not sent the evaluation: {exc}")
    return made


def _send(
    meta: RunRecord,
    run_dir: Path,
    loggers: list[Logger],
    record: Mapping[str, Any],
    status: str,
) -> list[str]:
    step = record["step"]
    run = replace(logged_run(meta, run_dir, step, resumed=True), purpose=EVAL)
    hub = LoggerHub(run, loggers, goes_on=GOES_ON)
    # What a logger's library prints goes to stderr: stdout is eval's (--json).
    with redirect_stdout(sys.stderr):
        hub.start()
        hub.evaluation(step, record.get("summary") or {})
        hub.end(status)
    return hub.kept


def warn(message: str) -> None:
    print(f"genbench: warning: {message}", file=sys.stderr, flush=True)
