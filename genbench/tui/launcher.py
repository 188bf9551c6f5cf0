"""Starting, stopping and resuming training processes from the app.

A run is always a separate ``python -m genbench run --headless`` process in its
own session with no stdin: it never competes with the app for the terminal or the
CPU's attention, Ctrl+C in the app does not reach it, and quitting the app leaves
it training. The app learns everything else by reading the run folder.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import signal
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from genbench.errors import UsageError
from genbench.options import RunRequest
from genbench.runfolder.notes import is_running
from genbench.runfolder.ownership import RunLock, is_genbench, signal_process
from genbench.runfolder.record import RUN_FILE, RunRecord
from genbench.runfolder.runs import (
    CHECKPOINT,
    effective_status,
    first_free,
    new_run_id,
    read_run_json,
)
from genbench.runfolder.untrusted import check_own_folder, clean_text, open_regular

LOG_NAME = "launch.log"
LOG_TAIL = 64 * 1024  # bytes of a child's log read for its last error


class LaunchRequest(RunRequest):
    """What the New run form collects: a new run's options (genbench.options), run as
    ``genbench run --headless --json`` with them."""

    def argv(self) -> list[str]:
        # The runs folder resolved: the child may start in another working directory.
        resolved = dataclasses.replace(self, runs_dir=Path(self.runs_dir).resolve())
        return ["run", "--headless", "--json", *RunRequest.argv(resolved)]


def free_name(runs_dir: Path, model: str, dataset: str) -> str:
    """The folder name the CLI would pick, chosen here so the app knows it up front."""
    return first_free(
        Path(runs_dir), new_run_id(model, dataset), lambda path: not path.exists()
    ).name


@dataclass
class Child:
    """A training process this app started."""

    run_dir: Path
    proc: subprocess.Popen
    log: Path

    def running(self) -> bool:
        return self.proc.poll() is None

    def training(self) -> bool:
        """Alive and, by its run folder, not done: a trainer writes its last status
        and lets go of the run's lock seconds before its process ends (torch and the
        loggers closing), and a run that says completed is not still training. One
        with no run.json yet is starting."""
        if not self.running():
            return False
        if not os.path.lexists(self.run_dir / RUN_FILE):
            return True
        return is_running(self.run_dir)


def spawn(run_dir: Path, argv: list[str]) -> Child:
    """Start ``python -m genbench <argv>`` detached from the app.

    subprocess.Popen rather than asyncio's subprocess transport on purpose: asyncio
    kills a child whose transport is closed or garbage-collected (as happens when
    the app quits and its workers are cancelled), and a run must outlive the app.
    Its output goes to a log file, never a pipe: an undrained pipe would stall the
    trainer, and draining it would cost the UI.
    """
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    # Until the child creates the run folder the log waits beside it; see adopt_log.
    log = run_dir / LOG_NAME if run_dir.is_dir() else run_dir.parent / f".{run_dir.name}.{LOG_NAME}"
    with os.fdopen(_open_log(log), "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "genbench", *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return Child(run_dir, proc, log)


def _open_log(path: Path) -> int:
    """The log, opened to append to. A run folder may come from someone else: its
    launch.log must not be a link (O_NOFOLLOW), a FIFO (O_NONBLOCK: no reader, no
    hang) or a file with another name outside the folder (a hard link), or the
    trainer's output would be appended there. Raises UsageError naming it."""
    refusal = (
        f"{path} is a link, not a regular file, or has another name (a hard link); "
        "the trainer's output is appended to it, so it must be the run's own file: "
        "remove it"
    )
    try:
        fd = os.open(
            path,
            os.O_WRONLY
            | os.O_APPEND
            | os.O_CREAT
            | os.O_NOFOLLOW
            | os.O_NONBLOCK
            | getattr(os, "O_CLOEXEC", 0),
            0o666,
        )
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):
            raise UsageError(refusal) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(fd)
        raise UsageError(refusal)
    return fd


def adopt_log(child: Child) -> None:
    """Move a new run's log into its folder once the child has made it."""
    target = child.run_dir / LOG_NAME
    if child.log != target and child.run_dir.is_dir():
        try:
            os.replace(child.log, target)  # the child keeps writing through its open fd
            child.log = target
        except OSError:
            pass


def last_error(log: Path) -> str:
    """The line of a failed child's log that says why (usage errors are one line)."""
    try:
        # The log is in the run folder: a regular file only, and only its tail is read.
        with open_regular(log, None) as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - LOG_TAIL))
            text = fh.read(LOG_TAIL).decode(errors="replace")
    except (OSError, UsageError):
        return "no log"
    lines = [clean_text(ln, 500) for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("genbench: error:"):
            return ln.removeprefix("genbench: error:").strip()
    return lines[-1] if lines else "exited without a word"


def stop(run_dir: Path) -> str:
    """Ask a run to stop gracefully (SIGINT: it checkpoints and marks itself stopped).

    The process asked is the lock's owner, judged by identity (it holds the lock
    open: ownership.holds_lock), whatever run.json or the other files say; only a
    folder without a lock to judge falls back on run.json's pid, and then only a
    process whose command line says genbench. Returns what happened, for a
    notification; raises UsageError when it cannot."""
    run_dir = Path(run_dir)
    name = run_dir.name
    lock = RunLock(run_dir)
    if lock.live():
        holder = lock.holder() or {}
        host, pid, start, beat = (
            holder.get("host"),
            holder.get("pid"),
            holder.get("pid_start"),
            None,
        )
        if not isinstance(pid, int):
            raise UsageError(f"{name}'s lock is being written; try again in a moment")
    else:
        meta = read_run_json(run_dir)
        status = effective_status(meta, run_dir=run_dir)
        if status != "running":
            raise UsageError(f"{name} is {status}, not running")
        host, pid, start, beat = meta.host, meta.pid, meta.pid_start, meta.heartbeat
        if host == socket.gethostname() and (not isinstance(pid, int) or not is_genbench(pid)):
            raise UsageError(f"pid {pid} of {name} is not a genbench process")
    if host != socket.gethostname():
        raise UsageError(f"{name} runs on {clean_text(str(host), 80)}; stop it there")
    if not isinstance(pid, int):
        raise UsageError(f"{name} names no process to stop")
    try:
        # Only the verified owner: the pid's start time must be the trainer's, and
        # the process is pinned (pidfd) before that check, so a pid recycled in
        # between is never signalled.
        signal_process(pid, start, signal.SIGINT, heartbeat=beat)
    except ProcessLookupError:
        raise UsageError(f"{name} has already exited") from None
    return f"asked {name} to stop (pid {pid}); it checkpoints first"


def resume_argv(run_dir: Path, steps: int | None) -> list[str]:
    # Absolute, not resolved: a run folder that is a link stays one, so the trainer
    # refuses it (untrusted.check_own_folder) rather than training where it leads.
    args = ["run", "--headless", "--json", "--resume", str(Path(run_dir).absolute())]
    if steps:
        args += ["--steps", str(steps)]
    return args


def check_resumable(run_dir: Path) -> RunRecord:
    check_own_folder(run_dir)  # the trainer would refuse it too; say so here, at once
    meta = read_run_json(run_dir)
    status = effective_status(meta, run_dir=Path(run_dir))
    if status == "running":
        raise UsageError(f"{Path(run_dir).name} is still running")
    if not (Path(run_dir) / CHECKPOINT).is_file():
        raise UsageError(f"{Path(run_dir).name} has no checkpoint to resume from")
    return meta
