"""Who owns a run: one trainer per run folder, and which process that is.

Kept apart from genbench.runs so that the rules of ownership (an atomic lock, a
process identified by more than its pid, a takeover across machines) live in one
place.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from genbench.errors import UsageError

RUN_FILE = "run.json"
STALE_AFTER_S = 30.0


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


LOCK_FILE = "lock"


class RunLock:
    """One trainer per run folder: a lock file holding the owner's pid and host.

    Created with O_EXCL, so of two processes resuming one run only one wins. A
    lock whose owner is gone (killed with -9) is stale and is taken over.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self.held = False

    def acquire(self) -> "RunLock":
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder and self._alive(holder):
                    raise UsageError(
                        f"run {self.path.parent} is being trained by pid {holder.get('pid')} "
                        f"on {holder.get('host')}; stop it first") from None
                self.path.unlink(missing_ok=True)   # stale: its owner is gone
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(owner, fh)
            self.held = True
            return self
        raise UsageError(f"run {self.path.parent} is locked by another process; try again")

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return holder if isinstance(holder, dict) else None

    def _alive(self, holder: dict) -> bool:
        if holder.get("host") == socket.gethostname():
            return pid_alive(holder.get("pid"))
        # Another machine's processes cannot be seen: trust the run's heartbeat.
        try:
            meta = json.loads((self.path.parent / RUN_FILE).read_text())
            return time.time() - float(meta.get("heartbeat", 0)) < STALE_AFTER_S
        except (OSError, ValueError, TypeError):
            return False

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


