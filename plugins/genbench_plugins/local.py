"""The ``local`` executor: a sweep's members as processes on this machine.

Up to ``--parallel`` members train at once. On the CPU each gets an equal share of
the cores as its ``--threads`` (a small network gains little from a second thread,
and two trainers with every thread each make torch's threads thrash); with GPUs,
each member gets one of them through ``CUDA_VISIBLE_DEVICES``. Members run in
their own session, so a Ctrl+C in the terminal reaches the sweep alone, which
then stops each member once, cleanly (the same SIGTERM a stop button sends).
Each member's output goes to ``RUNS/.sweeps/ID/logs/NAME.log``.

Uses only genbench's public API, as a third party's executor would.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from genbench import Executor, ExecutorError, ExecutorOption, Member, hookimpl
from genbench.executor import member_command

# What one member may need at most in memory on the CPU (a DCGAN at 64 px with its
# data on the device takes about 1.2 GiB): --parallel auto runs no more than fit.
MEMBER_MEMORY = 3 << 30


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _gpus() -> list[str]:
    """The GPUs members may take, by the index CUDA_VISIBLE_DEVICES takes."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import torch
    except ImportError:
        return []
    return [str(i) for i in range(torch.cuda.device_count())]


def _available_memory() -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


class LocalExecutor(Executor):
    name = "local"
    summary = "members as processes on this machine, --parallel at once"
    options = (
        ExecutorOption(
            "--parallel",
            "members trained at once (default auto: one per GPU where there are "
            "GPUs, else one per CPU core that memory allows)",
            str,
            "auto",
            "N|auto",
        ),
    )

    def __init__(self, sweep_dir: Path, settings: dict) -> None:
        super().__init__(sweep_dir, settings)
        self.gpus = _gpus()
        self.parallel = self._parallel(str(self.settings.get("parallel") or "auto"))
        # The CPU share of each member: the cores split evenly among those at once.
        self.threads = max(1, _cpus() // self.parallel)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._slots: dict[str, str] = {}  # handle -> the GPU it holds
        self._logs: dict[str, IO[bytes]] = {}  # handle -> its member's log, open while it runs

    def _parallel(self, text: str) -> int:
        if text != "auto":
            try:
                value = int(text)
            except ValueError:
                value = 0
            if value < 1:
                raise ExecutorError(
                    f"--parallel must be a whole number from 1, or auto; got {text!r}"
                )
            return value
        if self.gpus:
            return len(self.gpus)
        memory = _available_memory()
        fit = _cpus() if memory is None else max(1, memory // MEMBER_MEMORY)
        return max(1, min(_cpus(), fit))

    def capacity(self) -> int:
        return self.parallel

    def start(self, members: Sequence[Member]) -> dict[str, str]:
        logs = self.sweep_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if logs.is_symlink() or not logs.is_dir():
            raise ExecutorError(f"{logs} is not a folder of its own (a link?); remove it")
        handles = {}
        for member in members:
            env = dict(os.environ)
            if self.gpus:
                free = [g for g in self.gpus if g not in self._slots.values()]
                gpu = free[0] if free else self.gpus[len(self._procs) % len(self.gpus)]
                env["CUDA_VISIBLE_DEVICES"] = gpu
            if member.threads is None and "--threads" not in member.args:
                member = dataclasses.replace(member, threads=self.threads)
            log = _open_log(logs / f"{member.name}.log")
            try:
                proc = subprocess.Popen(
                    member_command(member),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # the terminal's Ctrl+C reaches the sweep alone
                )
            except OSError as exc:
                log.close()
                raise ExecutorError(f"cannot start member {member.name}: {exc}") from None
            handle = str(proc.pid)
            self._logs[handle] = log
            self._procs[handle] = proc
            if self.gpus:
                self._slots[handle] = env["CUDA_VISIBLE_DEVICES"]
            handles[member.name] = handle
        return handles

    def finished(self, handle: str) -> bool:
        proc = self._procs.get(handle)
        if proc is None:  # started by an earlier sweep process: ask the system
            return not _alive(handle)
        if proc.poll() is None:
            return False
        self._slots.pop(handle, None)
        if (log := self._logs.pop(handle, None)) is not None:
            log.close()
        return True

    def cancel(self, handles: Sequence[str]) -> None:
        for handle in handles:
            proc = self._procs.get(handle)
            if proc is not None:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            elif _alive(handle):  # started by an earlier sweep process, still training
                try:
                    os.kill(int(handle), signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def describe(self, handle: str) -> str:
        gpu = self._slots.get(handle)
        where = (
            f", GPU {gpu}"
            if gpu is not None
            else f", {self.threads} thread" + "s" * (self.threads > 1)
        )
        return f"pid {handle}{where}"


def _open_log(path: Path) -> IO[bytes]:
    """A member's log, appended to, never through a link someone put at its name."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        raise ExecutorError(f"cannot write the member's log {path}: {exc.strerror}") from None
    return os.fdopen(fd, "ab")


def _alive(handle: str) -> bool:
    """Is the member started as ``handle`` (a pid, by an earlier sweep process) still
    running? Only a `genbench run` process counts: a pid the system gave to another
    program since is not a member."""
    import psutil

    try:
        command = psutil.Process(int(handle)).cmdline()
    except (ValueError, psutil.Error):
        return False
    return "genbench" in command and "run" in command


@hookimpl
def genbench_executors():
    return [LocalExecutor]
