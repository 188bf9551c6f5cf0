"""Messages the app's parts send each other (dataclasses, as in Posting)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from genbench.tui.choices import RunChoices


@dataclass
class RunChoicesReady(Message):
    """Plugins and datasets are loaded (in a thread, after the first paint)."""

    run_choices: RunChoices


@dataclass
class RunLaunched(Message):
    """A training process was started by this app for ``run_dir``."""

    run_dir: Path


@dataclass
class RunExited(Message):
    """A training process this app started has ended."""

    run_dir: Path
    returncode: int
    message: str
