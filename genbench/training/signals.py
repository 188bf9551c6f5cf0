"""Graceful stop, and a terminal that goes away without taking the run with it.

SIGINT (Ctrl+C), SIGTERM and SIGHUP (an SSH connection dropping) ask the loop to
finish its step, checkpoint and mark the run stopped. A signal that arrives
before the first step (while the run is being set up) is held until then: a run
whose folder exists stops with a checkpoint (resumable), and a stop asked for
before the folder was taken leaves no folder. Ctrl+C pressed several times in a
row stops once: a repeated signal raises KeyboardInterrupt only when the first
has gone unanswered for ESCALATE_AFTER_S (a step or start-up that hangs), and
only once. A closed stdout or stderr stops the printing, never the training
(:class:`GuardedReport`). No torch here.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

# A second signal escalates to KeyboardInterrupt only this long after the first.
ESCALATE_AFTER_S = 2.0

_installed: StopRequest | None = None  # the whole command's, from install()


class StoppedBeforeStart(KeyboardInterrupt):
    """A stop asked for before the trainer took its run folder: nothing was written."""


class StopRequest:
    """Context manager that turns SIGINT/SIGTERM/SIGHUP into a flag the loop polls.

    Inside a command that called :func:`install`, entering it hands back that
    command's request (so a signal received during set-up is seen by the loop).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        self.reason = ""  # why, where the stop was asked through the run folder
        self.escalate = True  # may a repeated signal raise KeyboardInterrupt?
        self._first = 0.0
        self._previous: dict[signal.Signals, Any] = {}  # what signal.signal returned
        self._outer: StopRequest | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.requested:
            self.requested = True
            self.signal_name = signal.Signals(signum).name
            self._first = time.monotonic()
            return
        if self.escalate and time.monotonic() - self._first >= ESCALATE_AFTER_S:
            self.escalate = False  # once: later signals must not break the clean-up
            raise KeyboardInterrupt

    def _install(self) -> None:
        # Signal handlers can only be set from the main thread (tests may train in others).
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)

    def _restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def __enter__(self) -> StopRequest:
        outer = _installed
        if outer is not None and outer is not self:
            self._outer = outer
            outer.escalate = True  # the loop handles KeyboardInterrupt
            return outer
        self._install()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._outer is not None:
            self._outer.escalate = False  # finishing: later signals only count
            self._outer = None
            return
        self._restore()


def install() -> StopRequest:
    """Hold stop signals for a whole training command, from before its run folder
    exists until :func:`uninstall`. During set-up a signal only asks for a stop."""
    global _installed
    uninstall()
    stop = StopRequest()
    stop._install()
    if stop._previous:
        _installed = stop
    return stop


def uninstall() -> None:
    """Put the previous handlers back; after a stop, ignore further signals while
    the process exits (so a last Ctrl+C prints no traceback)."""
    global _installed
    stop, _installed = _installed, None
    if stop is None:
        return
    if stop.requested:
        for s in stop._previous:
            signal.signal(s, signal.SIG_IGN)
        stop._previous = {}
    else:
        stop._restore()


def stop_requested() -> str:
    """The name of the signal that asked this command to stop, or "" (none yet, or
    no handlers installed): for waits that poll it."""
    stop = _installed
    return stop.signal_name if stop is not None and stop.requested else ""


def hold_stops() -> None:
    """From here to the loop a stop signal only asks for a stop: called right before
    a run folder is made or locked, so no KeyboardInterrupt can leave one half-made
    or locked; :func:`taking_run_folder` then answers a stop asked for meanwhile."""
    if _installed is not None:
        _installed.escalate = False


def taking_run_folder(run_dir: Path, lock: Any = None) -> None:
    """Called as a trainer takes its run folder (new: ``lock`` None, the folder
    was just made; resumed: ``lock`` held). From here until the loop starts, a
    signal only asks for a stop, which the loop answers with a checkpoint. A stop
    asked for before this point ends the command here: the new, empty folder is
    removed, or the resumed run's lock released, and nothing is written."""
    stop = _installed
    if stop is None:
        return
    stop.escalate = False
    if not stop.requested:
        return
    if lock is None:
        try:
            os.rmdir(run_dir)
        except OSError:
            pass
    else:
        lock.release()
    raise StoppedBeforeStart(
        f"stopped by {stop.signal_name} before the first step; "
        + ("no run folder was made" if lock is None else f"{run_dir} is as it was")
    )


# -- output --------------------------------------------------------------------


def silence_output() -> None:
    """Send whatever is still printed, and Python's flush at exit, to /dev/null."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(null, stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass
    os.close(null)


class GuardedReport:
    """A reporter whose output may go away (``| head -1``, a closed terminal):
    the first failed write stops all printing, and training carries on."""

    def __init__(self, report: Callable[[dict[str, Any]], None]):
        self.report = report
        self.closed = False

    def _guard(self, call: Callable[[], Any]) -> None:
        if self.closed:
            return
        try:
            call()
            if sys.stdout is not None:  # None: started with stdout closed
                sys.stdout.flush()
        # EPIPE, EIO; ValueError: a closed file object; SystemExit: how rich's
        # Console answers a broken pipe (it would end the training with it).
        except (OSError, ValueError, SystemExit):
            self.closed = True
            silence_output()

    def __call__(self, event: dict[str, Any]) -> None:
        self._guard(lambda: self.report(event))

    def close(self) -> None:
        self._guard(lambda: getattr(self.report, "close", lambda: None)())
