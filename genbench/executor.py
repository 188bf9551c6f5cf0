"""The executor contract: where a sweep's members run.

An executor only starts, watches and cancels ``genbench run --headless``
processes (:func:`member_command`); the run folder and its lock stay the source
of truth, so a member is never trained twice whatever an executor does. The
built-in ``local`` and ``slurm`` executors (package ``genbench_plugins``) are
registered through the ``genbench_executors`` hook exactly as a third party's
(Ray, Kubernetes) would be::

    from genbench import Executor, hookimpl

    class MyExecutor(Executor):
        name = "mine"
        summary = "runs members on my cluster"
        ...

    @hookimpl
    def genbench_executors():
        return [MyExecutor]

torch-free: the sweep command's help and the workbench read it.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class Member:
    """One run of a sweep, as an executor starts it."""

    name: str  # the run folder's name, under the sweep's runs folder
    args: tuple[str, ...]  # `genbench run`'s arguments: a new run's flags, or --resume DIR
    # CPU threads for it (None: the executor's choice; a SLURM job gets its --cpus-per-task)
    threads: int | None = None


@dataclass(frozen=True)
class ExecutorOption:
    """A command-line option of ``genbench sweep`` that an executor takes."""

    flag: str  # --partition
    help: str
    type: type = str  # str, int or float
    default: Any = None
    metavar: str | None = None

    @property
    def key(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


class ExecutorError(Exception):
    """An executor could not do what was asked: one line saying why and what would work."""


class Executor(ABC):
    """Starts members and reports when their processes have ended.

    ``settings`` holds the values of the executor's :attr:`options` (by
    :attr:`ExecutorOption.key`); ``sweep_dir`` is the sweep's own folder
    (``RUNS/.sweeps/ID``), where an executor may keep its logs."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    options: ClassVar[tuple[ExecutorOption, ...]] = ()
    # True: members run on without the `genbench sweep` process (a scheduler's jobs),
    # so a grid is submitted and the command returns; False: the command runs them.
    detached: ClassVar[bool] = False

    def __init__(self, sweep_dir: Path, settings: Mapping[str, Any]) -> None:
        self.sweep_dir = Path(sweep_dir)
        self.settings = dict(settings)

    def capacity(self) -> int | None:
        """Members that may run at once; None where the executor queues them itself."""
        return None

    @abstractmethod
    def start(self, members: Sequence[Member]) -> dict[str, str]:
        """Start (or queue) ``members``; a handle for each by name (a pid, a job id)
        that :meth:`finished` and :meth:`cancel` take, and that the sweep records."""

    @abstractmethod
    def finished(self, handle: str) -> bool:
        """Has the member's process (or job) ended, however it ended?"""

    @abstractmethod
    def cancel(self, handles: Sequence[str]) -> None:
        """Stop these members as a stop signal would (they stay resumable)."""

    def describe(self, handle: str) -> str:
        """What a person should know about a handle (a job id and its log), one line."""
        return handle


def member_command(member: Member, python: str | None = None) -> list[str]:
    """The command line that trains ``member``: this genbench, in this Python."""
    command = [python or sys.executable, "-m", "genbench", "run", *member.args]
    if member.threads is not None:
        command += ["--threads", str(member.threads)]
    return command
