"""Waiting for a condition outside the workbench (a trainer's files, its process
state), polled with a deadline: the one home of this helper for the tests that run
processes. The workbench's tests wait through their pilot (tests/tui_support.py)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest


def wait_until(
    predicate: Callable[[], object],
    timeout: float,
    proc: subprocess.Popen | None = None,
    what: str = "the condition",
    every: float = 0.02,
) -> None:
    """Return once ``predicate()`` holds; fail the test when ``timeout`` seconds pass
    first, or when ``proc`` (the process expected to bring it about) exits first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            try:
                _, err = proc.communicate(timeout=10)
            except (ValueError, subprocess.TimeoutExpired):  # its pipes already read
                err = ""
            pytest.fail(f"the process exited ({proc.returncode}) before {what}: {err or ''}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)
