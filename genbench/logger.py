"""The logger contract: a run's metrics, sample grids and evaluations sent where
people already look (TensorBoard, Weights & Biases, MLflow, ...).

A logger is a class a plugin returns from the ``genbench_loggers`` hook; a run
asks for it by name (``genbench run --log NAME``). The trainer makes one instance
per run (no arguments: settings come from the logger's own environment
variables) and calls it at the run's start, at each metrics line, sample grid and
evaluation, and at the end::

    from genbench import Logger, LoggedRun, hookimpl

    class PrintLogger(Logger):
        name = "print"
        summary = "prints each metrics line"

        def start(self, run: LoggedRun) -> None:
            print("logging", run.id, "from step", run.start_step)

        def metrics(self, step: int, values: Mapping[str, float]) -> None:
            print(step, dict(values))

    @hookimpl
    def genbench_loggers():
        return [PrintLogger]

How the trainer calls a logger:

* Each logger runs on a thread of its own, fed by a bounded queue: its calls come
  in order, one at a time, never from the training loop itself, so a slow logger
  never slows training.
* A call that raises, or that has not returned within a bound (10 s; ``start``
  60 s, to import a library and open a service; ``end`` 30 s, to flush or upload
  what is left), ends that logger for the run: the run's output and stderr say so
  once, naming it, and training goes on without it. A logger that falls more
  than a queue's length behind is dropped the same way. The trainer waits for
  ``end`` within its bound; then the process exits.
* Only the main process of a distributed run logs.
* A logger may write inside ``run.dir`` (in a folder of its own named after it,
  as ``tensorboard/``); genbench never reads what it writes there.

``metrics`` values are named ``loss/NAME`` (each loss the model reports),
``speed/img_per_s`` (real images a second over the interval) and
``quality/NAME`` (live sample quality, ``--eval-every``: FD, coverage, ...), each
a finite float; a line has those it has. ``evaluation`` gets the numbers of
``genbench eval`` (eval.json's summary), as when an earlier run is exported.

``genbench eval RUN`` sends its numbers to the loggers the run recorded
(run.json ``options.log``), after the run ended, through the same isolation: it
starts each with ``purpose="eval"``, ``resumed=True`` and ``start_step`` the
checkpoint's step, calls ``evaluation`` at that step, then ``end`` with the
run's recorded status (unchanged). An ``"eval"`` start appends: it must not
remove what training logged (no purge past ``start_step``) nor change how the
run ended in the logger's own store.

torch-free: the CLI's help reads it.
"""

from __future__ import annotations

import importlib.util
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

# What each metrics value is named: the prefixes of ``Logger.metrics``' keys.
LOSS_PREFIX = "loss/"
SPEED_IMG_PER_S = "speed/img_per_s"
QUALITY_PREFIX = "quality/"
# ... and of ``Logger.evaluation``'s results, as a logger may want to file them.
EVAL_PREFIX = "eval/"
# ``LoggedRun.purpose``: what the logger is started for.
TRAIN = "train"
EVAL = "eval"


@dataclass(frozen=True)
class LoggedRun:
    """The run a logger is started for."""

    dir: Path  # the run folder
    id: str  # its name: the run's id (run.json "id")
    model: str
    dataset: str
    config: Mapping[str, Any] = field(default_factory=dict)  # the model's hyperparameters
    # The run options as run.json records them (steps, batch_size, seed, intervals, ...)
    options: Mapping[str, Any] = field(default_factory=dict)
    # The step training starts from: 0, or the checkpoint's step on resume. Anything
    # logged earlier at a later step (after that checkpoint) is being trained again.
    start_step: int = 0
    resumed: bool = False  # a resume of a run this logger may have logged before
    # TRAIN: the trainer's session. EVAL: ``genbench eval`` of a run that is not
    # training: only ``evaluation`` at ``start_step`` and ``end`` follow, nothing is
    # trained again, so nothing logged before is to be removed or replaced.
    purpose: str = TRAIN


class Logger(ABC):
    """Sends one run's metrics somewhere. Subclass it, set ``name``, implement
    ``start`` and ``metrics``; the other calls do nothing unless overridden."""

    name: ClassVar[str]  # --log NAME: a short lower-case name
    title: ClassVar[str] = ""  # how listings name it ("TensorBoard")
    summary: ClassVar[str] = ""  # one line: what it writes where
    # How to install what it needs, said when a package is missing:
    # "pip install 'genbench[tensorboard]'".
    requires: ClassVar[str | None] = None
    # The import names of the packages it needs (checked without importing them).
    packages: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def missing(cls) -> str | None:
        """The first package in ``packages`` that is not installed, or None. Checked
        before a run folder is made, so ``--log NAME`` without its library is one
        line, not a run that fails later."""
        for package in cls.packages:
            try:
                if importlib.util.find_spec(package) is None:
                    return package
            except (ImportError, ValueError):
                return package
        return None

    @abstractmethod
    def start(self, run: LoggedRun) -> None:
        """The run begins (or resumes at ``run.start_step``): open what you write to."""

    @abstractmethod
    def metrics(self, step: int, values: Mapping[str, float]) -> None:
        """One metrics line at ``step``: ``loss/NAME``, ``speed/img_per_s`` and
        ``quality/NAME`` values (those the line has)."""

    def samples(self, step: int, png: Path) -> None:  # noqa: B027 - optional, does nothing
        """A sample grid was written at ``step`` (a PNG file in the run folder)."""

    def evaluation(self, step: int, results: Mapping[str, float]) -> None:  # noqa: B027
        """A full evaluation of the model at ``step`` (``genbench eval``'s numbers)."""

    def end(self, status: str) -> None:  # noqa: B027 - optional, does nothing
        """The run ended: completed, stopped, failed, diverged or lost. Flush and close.
        After an ``"eval"`` start it is the status the run ended with before."""


def line_values(record: Mapping[str, Any]) -> tuple[int | None, dict[str, float]]:
    """A metrics.jsonl record as ``metrics``' arguments: (step, values). A loss line
    gives ``loss/NAME`` and ``speed/img_per_s``, a live evaluation line (``"kind":
    "eval"``) ``quality/NAME``; what is not a finite number is left out, and a record
    without a valid step gives (None, {})."""
    step = record.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return None, {}
    values: dict[str, float] = {}
    if record.get("kind") == "eval":
        prefix, numbers = QUALITY_PREFIX, record.get("eval")
    else:
        prefix, numbers = LOSS_PREFIX, record.get("losses")
        speed: Any = record.get("img_per_s")
        if _finite(speed):
            values[SPEED_IMG_PER_S] = float(speed)
    for key, value in numbers.items() if isinstance(numbers, Mapping) else ():
        if _metric_name(key) and _finite(value):
            values[prefix + key] = float(value)
    return step, values


def number_values(results: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of an evaluation's results, by name (``evaluation``'s)."""
    return {k: float(v) for k, v in results.items() if _metric_name(k) and _finite(v)}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _metric_name(key: Any) -> bool:
    """A name a metric may have: short text without control characters."""
    return isinstance(key, str) and 0 < len(key) <= 100 and key.isprintable()


def missing_message(cls: type[Logger]) -> str | None:
    """``--log NAME needs the P package: INSTALL`` when a package is missing, else None."""
    package = cls.missing()
    if package is None:
        return None
    how = f": {cls.requires}" if cls.requires else f": pip install {package}"
    return f"--log {cls.name} needs the {package} package{how}"
