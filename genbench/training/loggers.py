"""A run's loggers (genbench.logger), each isolated on a thread of its own.

The trainer hands every call to :class:`LoggerHub`, which puts it on each
logger's bounded queue without blocking and returns: training pays a queue put
per logger per metrics line, sample grid or evaluation, never the logger's own
work. A logger whose call raises, or has not returned within ``call_timeout_s``,
or whose queue is full (it fell that far behind) is dropped for the rest of the
run and said once, naming it and why, on stderr and in the run's output (a
``warning`` event). At the end each logger gets ``end(status)`` and the trainer
waits at most ``drain_timeout_s`` for all of them; a hung logger's thread is a
daemon, so it never holds the process.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from genbench import options
from genbench.errors import UsageError, one_line
from genbench.logger import LoggedRun, Logger, line_values, number_values
from genbench.registry import LoggerEntry, Registry
from genbench.runfolder.record import RunRecord

# A call not returned within this is a hung logger: dropped, training goes on.
CALL_TIMEOUT_S = 10.0
# start() imports the logger's library and opens its store or service, which takes
# seconds on a loaded machine (docs/experiments.md, "Logger start-up"); W&B's own init
# waits up to 90 s online. Training does not wait for it either.
START_TIMEOUT_S = 60.0
# Calls a logger may fall behind by before it is dropped: a metrics line every
# interval and a grid every few, so hundreds of intervals.
QUEUE_SIZE = 256
# How long the end of a run waits for its loggers to finish what is queued.
DRAIN_TIMEOUT_S = 30.0

Say = Callable[[str, int], None]  # (message, step): a logger was dropped
_STOP = object()


class _Worker:
    """One logger, its queue and its thread."""

    def __init__(self, logger: Logger, queue_size: int) -> None:
        self.logger = logger
        self.name = type(logger).name
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.busy_since: float | None = None  # monotonic time the current call began
        self.busy_with = ""
        self.error: str | None = None  # why it stopped, set by its thread
        self.dropped = False  # said and dropped: nothing more is queued for it
        self.thread = threading.Thread(
            target=self._serve, name=f"genbench-logger-{self.name}", daemon=True
        )
        self.thread.start()

    def _serve(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            method, args = item
            self.busy_with, self.busy_since = method, time.monotonic()
            try:
                getattr(self.logger, method)(*args)
            except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything: it alone ends
                self.error = f"{method}() raised {one_line(exc)}"
                return
            finally:
                self.busy_since = None

    def hung_for(self, now: float) -> float:
        since = self.busy_since
        return 0.0 if since is None else now - since


class LoggerHub:
    """The loggers of one run, called by the trainer outside its steps."""

    def __init__(
        self,
        run: LoggedRun,
        loggers: Sequence[Logger],
        call_timeout_s: float | None = None,
        queue_size: int | None = None,
        drain_timeout_s: float | None = None,
        start_timeout_s: float | None = None,
        goes_on: str = "training goes on without it",
    ) -> None:
        """The bounds default to this module's (read now, so a test may set them);
        ``goes_on`` ends the line that says a logger was dropped."""
        self.run = run
        self.loggers = list(loggers)
        self.call_timeout_s = CALL_TIMEOUT_S if call_timeout_s is None else call_timeout_s
        self.queue_size = QUEUE_SIZE if queue_size is None else queue_size
        self.drain_timeout_s = DRAIN_TIMEOUT_S if drain_timeout_s is None else drain_timeout_s
        self.start_timeout_s = START_TIMEOUT_S if start_timeout_s is None else start_timeout_s
        self.workers: list[_Worker] = []
        self.say: Say = _say_on_stderr
        self.goes_on = goes_on
        self._step = run.start_step

    @property
    def names(self) -> list[str]:
        return [type(logger).name for logger in self.loggers]

    def start(self, say: Say | None = None) -> None:
        """Start each logger's thread and queue its ``start``; ``say`` also tells the
        run's output (the trainer's report) when a logger is dropped."""
        if say is not None:
            self.say = say
        self.workers = [_Worker(logger, self.queue_size) for logger in self.loggers]
        self._send("start", self.run)

    def metrics(self, record: Mapping[str, Any]) -> None:
        """A metrics.jsonl record, loss or live quality, as it was written."""
        step, values = line_values(record)
        if step is not None and values:
            self._send("metrics", step, values)

    def samples(self, step: int, png: Path) -> None:
        self._send("samples", step, Path(png))

    def evaluation(self, step: int, results: Mapping[str, Any]) -> None:
        """A full evaluation's results (eval.json's summary): its finite numbers."""
        if values := number_values(results):
            self._send("evaluation", step, values)

    @property
    def kept(self) -> list[str]:
        """The loggers not dropped (after ``end``: those that finished)."""
        return [w.name for w in self._live()]

    def end(self, status: str) -> None:
        """Queue ``end(status)``, then wait at most ``drain_timeout_s`` (less where
        each call's bound ends sooner) for every logger to finish."""
        self._send("end", status)
        for worker in self._live():
            try:
                worker.queue.put_nowait(_STOP)
            except queue.Full:
                pass  # said by _send's drop; its thread is a daemon
        deadline = time.monotonic() + self.drain_timeout_s
        while (waiting := [w for w in self._live() if w.thread.is_alive()]) and (
            time.monotonic() < deadline
        ):
            self._check(waiting)
            waiting[0].thread.join(timeout=0.05)
        self._check(self._live())
        for worker in self._live():
            if worker.thread.is_alive():
                self._drop(
                    worker, f"had not finished {self.drain_timeout_s:g} s after the run ended"
                )

    def _send(self, method: str, *args: Any) -> None:
        self._step = args[0] if args and isinstance(args[0], int) else self._step
        self._check(self._live())
        for worker in self._live():
            try:
                worker.queue.put_nowait((method, args))
            except queue.Full:
                self._drop(worker, f"fell {self.queue_size} calls behind")

    def _check(self, workers: list[_Worker]) -> None:
        """Drop the loggers that raised or hang."""
        now = time.monotonic()
        for worker in workers:
            # start() may import and connect, end() flush and upload what is left
            bound = {"start": self.start_timeout_s, "end": self.drain_timeout_s}.get(
                worker.busy_with, self.call_timeout_s
            )
            if worker.error is not None:
                self._drop(worker, worker.error)
            elif worker.hung_for(now) > bound:
                self._drop(worker, f"{worker.busy_with}() did not return within {bound:g} s")

    def _drop(self, worker: _Worker, why: str) -> None:
        worker.dropped = True
        self.say(f"logger {worker.name!r} dropped: {why}; {self.goes_on}", self._step)

    def _live(self) -> list[_Worker]:
        return [w for w in self.workers if not w.dropped]


def _say_on_stderr(message: str, step: int) -> None:
    try:
        print(f"genbench: warning: {message}", file=sys.stderr, flush=True)
    except OSError:
        pass  # a closed stderr: the run goes on


# -- a run's loggers, from its options ----------------------------------------------


def logger_entries(names: Sequence[str], registry: Registry) -> list[LoggerEntry]:
    """The loggers ``--log`` names, each installed with its library (else UsageError,
    one line): checked before a run folder is made or touched."""
    return [registry.logger(name) for name in options.logger_names(list(names))]


def recorded_loggers(meta: RunRecord, where: Path) -> list[str]:
    """The loggers a run recorded (run.json ``options.log``): a resume goes on with them."""
    return options.logger_names(meta.options.get("log") or [], f"{where}: options.log")


def make_loggers(entries: Sequence[LoggerEntry]) -> list[Logger]:
    """One instance of each; a constructor that raises is a UsageError (no folder yet)."""
    made = []
    for entry in entries:
        try:
            made.append(entry.cls())
        except Exception as exc:  # noqa: BLE001 - a plugin may raise anything
            raise UsageError(
                f"logger {entry.name!r} (plugin {entry.plugin.distribution}) could not be "
                f"made: {one_line(exc)}"
            ) from None
    return made
