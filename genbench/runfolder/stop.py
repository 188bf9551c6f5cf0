"""Asking a run to stop from outside its process, with a reason: a file in its folder.

A signal reaches only a trainer on this host and says nothing of why. A sweep's
pruner (or anyone sharing the runs folder, a SLURM node away) writes
:data:`STOP_FILE` into the run folder instead; the trainer looks for it at each
metrics line, stops as a signal would (a checkpoint, status ``stopped``, resumable)
and puts the reason into run.json's message. The trainer removes the file when it
starts, so a run resumed later is not stopped again by an old request. torch-free.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from genbench.runfolder.runs import write_atomic
from genbench.runfolder.untrusted import clean_text

STOP_FILE = "stop-request.txt"
REASON_MAX = 300  # characters of the reason run.json's message keeps


def ask_to_stop(run_dir: Path, reason: str) -> None:
    """Ask the trainer of ``run_dir`` to stop at its next metrics line, saying ``reason``."""
    write_atomic(Path(run_dir) / STOP_FILE, clean_text(reason, REASON_MAX).encode())


def stop_request(dir_fd: int) -> str | None:
    """The reason in the stop request of the run folder open as ``dir_fd``, or None.
    Read as untrusted input: a regular file, never through a link, a few KiB at most;
    anything else there is no request."""
    try:
        fd = os.open(STOP_FILE, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        data = os.read(fd, REASON_MAX * 4)
    except OSError:
        return None
    finally:
        os.close(fd)
    return clean_text(data.decode("utf-8", "replace"), REASON_MAX) or "asked to stop"


def clear_stop_request(dir_fd: int) -> None:
    """Forget an old request (a run resumed after it was stopped by one)."""
    try:
        os.unlink(STOP_FILE, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError:
        pass  # a read-only folder fails its first real write, which says so
