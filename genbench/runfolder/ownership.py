"""Who owns a run: one trainer per run folder, and which process that is.

Kept apart from genbench.runfolder.runs so that the rules of ownership (an atomic lock, a
process identified by more than its pid, a takeover across machines) live in one
place. No torch here.

- A process is its pid *and* its start time (Linux: field 22 of /proc/PID/stat,
  in clock ticks since boot), on one host and one boot: a pid the kernel has
  handed to another process since is not the trainer.
- The lock is created whole: the owner's identity is written to a temp file that
  is then hard-linked to ``lock`` (link fails when ``lock`` exists), so nobody
  ever sees a lock without its owner in it.
- A stale lock (its owner is gone, or on another machine its heartbeat is old) is
  taken over race-free: it is renamed aside and deleted only if what was renamed
  is the very lock judged stale; otherwise it is put back.
- The owner keeps its lock file open for as long as it holds the run, and says so
  in the lock (``"held_open": true``). That open file is what makes a process the
  owner: a lock anyone can write naming pid 1 (with its true start time) is not
  held by pid 1, so it is stale (:func:`holds_open`). A lock without the mark (an
  older genbench wrote it) is judged by pid, start time and a command line that
  says genbench.
- The owner re-reads the lock before every checkpoint and run.json write
  (:meth:`RunLock.check`); once another process holds it, the old owner stops
  without writing anything more. A run folder moved or deleted under the trainer
  is told apart from a takeover (:class:`RunFolderGone`): the trainer keeps the
  folder itself open and compares it with what the path names now.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from genbench.errors import UsageError
from genbench.runfolder.untrusted import LOCK_MAX, RUN_JSON_MAX, loads_line, read_bytes, read_json

RUN_FILE = "run.json"
LOCK_FILE = "lock"
STALE_AFTER_S = 30.0
# How far another machine's clock may run ahead of this one (or of the file server
# that stamps run.json's mtime) and its heartbeat still be believed. A heartbeat
# further ahead is not one: a run claiming year 2100 would otherwise be "running"
# for ever, and refuse every resume.
CLOCK_SKEW_S = 3600.0
# A lock that cannot be parsed is being written (an older genbench created it
# empty and wrote its owner next) or damaged; it counts as held for this long.
UNREADABLE_GRACE_S = 10.0


class LostOwnership(Exception):
    """Another process took over the run: its owner must stop without writing."""

    def __init__(self, message: str, holder: dict[str, Any] | None = None):
        super().__init__(message)
        self.holder = holder or {}


class RunFolderGone(LostOwnership):
    """The run folder is no longer at its path (moved, renamed or deleted while the
    trainer ran): nobody took the run over, but nothing may be written by path."""


# -- processes -----------------------------------------------------------------


def _is_pid(pid: Any) -> bool:
    return isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 2**31


def pid_alive(pid: Any) -> bool:
    if not _is_pid(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _procfs() -> bool:
    return os.path.exists("/proc/self/stat")


def process_start(pid: Any) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (field 22 of
    /proc/PID/stat); None when it does not exist or there is no procfs."""
    if not _is_pid(pid):
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read(4096)
        # The command name (field 2) may hold spaces and ')': fields 3.. follow the last ')'.
        return int(data[data.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


@functools.lru_cache(maxsize=1)
def boot_id() -> str | None:
    """This boot of this machine (Linux), so that a pid from before a reboot is not
    taken for a live process."""
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as fh:
            return fh.read(64).decode("ascii", "replace").strip() or None
    except OSError:
        return None


def _started_at(pid: int) -> float | None:
    """Wall-clock start of a process (boot time + start ticks), or None."""
    ticks = process_start(pid)
    if ticks is None:
        return None
    try:
        with open("/proc/stat", "rb") as fh:
            for line in fh:
                if line.startswith(b"btime "):
                    return int(line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return None


def this_process() -> dict[str, Any]:
    """The identity of the calling process, as the lock and run.json record it."""
    pid = os.getpid()
    return {
        "pid": pid,
        "pid_start": process_start(pid),
        "host": socket.gethostname(),
        "boot": boot_id(),
    }


def is_process(pid: Any, start: Any = None, *, boot: Any = None, heartbeat: Any = None) -> bool:
    """Whether the process recorded as (pid, start time, boot) still runs on this
    machine. Without a recorded start time (an older genbench wrote it), a process
    that started after the recorded ``heartbeat`` cannot be the one that wrote it."""
    if not pid_alive(pid):
        return False
    if isinstance(boot, str) and boot_id() is not None and boot != boot_id():
        return False  # recorded before a reboot
    if not _procfs():
        return True  # no way to tell more than the pid here (macOS)
    if isinstance(start, int) and not isinstance(start, bool):
        return process_start(pid) == start
    if isinstance(heartbeat, (int, float)) and heartbeat > 0:
        began = _started_at(pid)
        return began is None or began <= heartbeat + 1.0
    return True


def heartbeat_fresh(beat: Any, now: float, written: float | None = None) -> bool:
    """Whether a trainer on another machine (whose processes cannot be seen) is alive
    by the heartbeat it last wrote to run.json: written within STALE_AFTER_S, and
    not more than CLOCK_SKEW_S ahead of this clock. ``written`` is run.json's mtime,
    a second clock (set when the file was written, by this machine or the file
    server): a heartbeat more than CLOCK_SKEW_S after it is not believed either, and
    a file nobody has written for STALE_AFTER_S + CLOCK_SKEW_S is nobody's
    heartbeat, whatever time it claims. So a dead run on another machine is shown
    lost within STALE_AFTER_S + CLOCK_SKEW_S of its last write at the latest."""
    if not isinstance(beat, (int, float)) or isinstance(beat, bool) or beat != beat:
        return False
    if beat > now + CLOCK_SKEW_S or now - beat > STALE_AFTER_S:
        return False
    if written is not None and (
        beat > written + CLOCK_SKEW_S or now - written > STALE_AFTER_S + CLOCK_SKEW_S
    ):
        return False
    return True


def written_by_trainer(pid: Any, start: Any, heartbeat: Any = None) -> bool:
    """Whether run.json's writer (pid and start time, on this machine) is a live
    genbench process: the judgement for a run folder with no lock. A trainer holds
    its run's lock from before its first run.json write until after its last, so
    with no lock the run is, at most, a trainer whose lock was removed by hand (it
    puts it back) or an older genbench: never a process whose command line does not
    say genbench (a run.json naming a live `sleep` with its true start time)."""
    return is_process(pid, start, heartbeat=heartbeat) and is_genbench(pid)


def holds_open(pid: Any, path: Path) -> bool | None:
    """Whether process ``pid`` has the file at ``path`` open (one of its file
    descriptors is that very file, by device and inode). None when its descriptors
    cannot be seen: another user's process, or no procfs."""
    try:
        want = os.lstat(path)
    except OSError:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False if _procfs() else None
    except OSError:
        return None  # EACCES: another user's process
    for fd in fds:
        try:
            st = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if st.st_ino == want.st_ino and st.st_dev == want.st_dev:
            return True
    return False


def is_genbench(pid: Any) -> bool:
    """Whether process ``pid``'s command line names genbench (`genbench ...`,
    `python -m genbench`, torchrun's workers). True where there is no procfs."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"genbench" in fh.read(1 << 16)
    except FileNotFoundError:
        return not _procfs()
    except OSError:
        return False


def holds_lock(holder: dict[str, Any], lock_path: Path) -> bool:
    """Whether the process a lock names (``holder``, a lock's JSON) is alive on this
    machine and is the lock's owner by identity, not only by pid: a genbench lock
    (``held_open``) must be open in that process; where its descriptors are hidden
    (another user's trainer), the process must belong to the user who created the
    lock file. An older lock's process must say genbench on its command line."""
    pid = holder.get("pid")
    if not is_process(pid, holder.get("pid_start"), boot=holder.get("boot")):
        return False
    if not _procfs():
        return True  # the pid is all there is to go on (macOS)
    if holder.get("held_open") is not True:
        return is_genbench(pid)
    held = holds_open(pid, lock_path)
    if held is not None:
        return held
    try:
        return os.stat(f"/proc/{pid}").st_uid == os.lstat(lock_path).st_uid
    except OSError:
        return False


def signal_process(pid: int, start: int | None, signum: int, *, heartbeat: Any = None) -> None:
    """Send ``signum`` to ``pid`` only if it is still the recorded process.

    Where the OS has pidfds (Linux 5.3+) the process is pinned first and checked
    after, so a pid recycled between the check and the signal cannot be hit.
    Raises ProcessLookupError when it is gone, UsageError when the pid now belongs
    to another process."""
    fd = None
    if hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal"):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            raise
        except OSError:
            fd = None  # kernel without pidfds
    try:
        if not is_process(pid, start, heartbeat=heartbeat):
            if not pid_alive(pid):
                raise ProcessLookupError(pid)
            raise UsageError(
                f"pid {pid} is now another process (its start time differs "
                "from the trainer's); nothing was signalled"
            )
        if fd is not None:
            signal.pidfd_send_signal(fd, signum)
        else:
            os.kill(pid, signum)
    finally:
        if fd is not None:
            os.close(fd)


def describe(holder: dict[str, Any] | None) -> str:
    """'pid 123 on host' for a lock's owner."""
    if not holder:
        return "another process"
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"


# -- the lock ------------------------------------------------------------------

_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK}


class RunLock:
    """One trainer per run folder: a lock file holding the owner's identity
    (pid, its start time, host, boot), created whole and atomically, and kept
    open by its owner for as long as it holds the run."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.held = False
        self._mine: bytes = b""  # the exact bytes of our lock file
        self._fd: int | None = None  # our lock file, open: what proves we hold it
        self._dir_fd: int | None = None  # the run folder itself, wherever it moves

    # -- taking it -------------------------------------------------------------

    def acquire(self) -> RunLock:
        me = dict(this_process(), since=time.time(), token=uuid.uuid4().hex, held_open=True)
        data = (json.dumps(me) + "\n").encode()
        try:
            folder = os.open(self.run_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise UsageError(f"cannot lock run {self.run_dir}: {exc.strerror or exc}") from None
        try:
            for _ in range(20):
                try:
                    fd = self._create(data)
                except OSError as exc:
                    raise UsageError(
                        f"cannot lock run {self.run_dir}: {exc.strerror or exc}"
                    ) from None
                if fd is not None:
                    self.held, self._mine, self._fd = True, data, fd
                    self._dir_fd, folder = folder, -1
                    return self
                seen = self._read()
                if seen is None:
                    continue  # released meanwhile: try again
                holder = _parse(seen)
                if self._alive(holder):
                    raise UsageError(
                        f"run {self.run_dir} is being trained by {describe(holder)}; stop it first"
                    )
                self._remove_if(seen)  # stale: its owner is gone
            raise UsageError(f"run {self.run_dir} is locked by another process; try again")
        finally:
            if folder >= 0:
                os.close(folder)

    def _create(self, data: bytes) -> int | None:
        """Make ``lock`` hold ``data`` if there is no lock, and return it open; None
        if there is one."""
        tmp, fd = self._temp(data)
        linked = False
        try:
            os.link(tmp, self.path)
            linked = True
            return fd
        except FileExistsError:
            return None
        except FileNotFoundError:
            return None  # our temp file was cleared away: try again
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
        finally:
            if not linked:
                os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
        # A filesystem without hard links: create exclusively, then write. A reader
        # that finds it still empty gives it UNREADABLE_GRACE_S before calling it stale.
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return None
        try:
            _write_all(fd, data)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _temp(self, data: bytes) -> tuple[Path, int]:
        tmp = self.run_dir / f".{LOCK_FILE}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            _write_all(fd, data)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return tmp, fd

    def _read(self) -> bytes | None:
        """The lock's bytes; None when there is none. A lock that is not a plain
        small file (a FIFO, a link out of the folder) is refused in one line."""
        try:
            return read_bytes(self.path, LOCK_MAX, run_dir=self.run_dir)
        except FileNotFoundError:
            return None

    def _alive(self, holder: dict[str, Any] | None) -> bool:
        if holder is None:  # empty or garbled: being written, or damaged long ago
            try:
                age = time.time() - os.lstat(self.path).st_mtime
            except OSError:
                return False
            return age < UNREADABLE_GRACE_S
        if holder.get("host") == socket.gethostname():
            return holds_lock(holder, self.path)
        # Another machine's processes cannot be seen: trust the run's heartbeat, as
        # far as clock skew allows (heartbeat_fresh).
        try:
            meta = read_json(self.run_dir / RUN_FILE, RUN_JSON_MAX, run_dir=self.run_dir)
            beat = meta.get("heartbeat", 0) if isinstance(meta, dict) else 0
            written = os.lstat(self.run_dir / RUN_FILE).st_mtime
        except (OSError, ValueError, TypeError, UsageError):
            return False
        return heartbeat_fresh(beat, time.time(), written)

    def live(self) -> bool | None:
        """Whether a live process holds this run's lock, judged as a trainer that
        wants the run judges it (:meth:`acquire`); None when there is no lock, or
        one that is not a plain file of the folder, to judge by."""
        try:
            seen = self._read()
        except UsageError:
            return None
        if seen is None:
            return None
        return self._alive(_parse(seen))

    def _remove_if(self, expected: bytes) -> bool:
        """Remove the lock only if it still holds ``expected``: rename it aside (one
        process wins the rename), compare, and put back a lock that turned out to
        be someone else's."""
        aside = self.run_dir / f".{LOCK_FILE}.{uuid.uuid4().hex}.aside.tmp"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False
        try:
            try:
                got = read_bytes(aside, LOCK_MAX)
            except (OSError, UsageError):
                got = None
            if got == expected:
                return True
            try:
                os.link(aside, self.path, follow_symlinks=False)
            except OSError:
                pass  # yet another process holds it now; the one moved aside sees it lost
            return False
        finally:
            try:
                os.unlink(aside)
            except OSError:
                pass

    # -- keeping it ------------------------------------------------------------

    def holder(self) -> dict[str, Any] | None:
        try:
            seen = self._read()
        except UsageError:
            return None
        return _parse(seen) if seen is not None else None

    def folder_gone(self) -> bool:
        """Whether the run folder is no longer at its path: moved, renamed or deleted
        (the path names nothing, or another folder, or a link) since the lock was
        taken."""
        if self._dir_fd is None:
            return False
        try:
            now = os.lstat(self.run_dir)
        except FileNotFoundError:
            return True
        except OSError:
            return False  # cannot tell (EACCES): the lock check decides
        was = os.fstat(self._dir_fd)
        return (now.st_dev, now.st_ino) != (was.st_dev, was.st_ino)

    def owned(self) -> bool:
        """Whether the lock still holds this process's identity. A lock that has
        gone (removed by hand, or mid-way through another's check) is put back."""
        if not self.held:
            return False
        for attempt in range(3):
            try:
                seen = self._read()
            except UsageError:
                return False
            if seen is not None:
                return seen == self._mine
            time.sleep(0.02 * (attempt + 1))
        try:
            fd = self._create(self._mine)
        except OSError:
            return False
        if fd is None:
            return False
        self._close_lock()
        self._fd = fd  # the lock put back is the one that proves we hold it
        return True

    def check(self) -> None:
        """Raise LostOwnership (and let go of the lock without touching it) when
        another process holds the run now, RunFolderGone when the folder is no longer
        at its path. Called before every write that matters."""
        if not self.held:
            return
        if self.folder_gone():
            # Checked first: a lock "put back" at the old path would write into
            # whatever folder now has that name.
            self.held = False
            raise RunFolderGone(
                f"the run folder {self.run_dir} disappeared (moved, renamed "
                "or deleted) while it trained"
            )
        if self.owned():
            return
        self.held = False
        self._close()
        holder = self.holder()
        raise LostOwnership(
            f"run {self.run_dir} was taken over by {describe(holder)}; "
            "this trainer stopped without writing anything more",
            holder,
        )

    def release(self) -> None:
        """Remove the lock if it is still ours (never someone else's)."""
        if self.held:
            self.held = False
            try:
                self._remove_if(self._mine)
            except OSError:
                pass  # a read-only or vanished folder: the lock dies with this process
        self._close()

    # -- a folder that moved -----------------------------------------------------

    @property
    def folder_fd(self) -> int | None:
        """The run folder, open (None once released): where it is now, not where it was."""
        return self._dir_fd

    def mine_in_moved_folder(self) -> bool:
        """Whether the lock inside the (moved) folder is still this process's, read
        through the open folder, never by path."""
        if self._dir_fd is None:
            return False
        try:
            fd = os.open(
                LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=self._dir_fd
            )
        except OSError:
            return False
        try:
            return os.read(fd, LOCK_MAX + 1) == self._mine
        except OSError:
            return False
        finally:
            os.close(fd)

    def release_moved(self) -> None:
        """Remove our lock from the moved folder (through the open folder, only if it
        is still ours), and let go of both."""
        try:
            if self.mine_in_moved_folder() and self._dir_fd is not None:
                os.unlink(LOCK_FILE, dir_fd=self._dir_fd)
        except OSError:
            pass  # a deleted or read-only folder: the lock dies with this process
        self.held = False
        self._close()

    def _close_lock(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _close(self) -> None:
        self._close_lock()
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _parse(data: bytes) -> dict[str, Any] | None:
    holder = loads_line(data)  # bounded nesting: 4 KB of '[' is garbage, not a crash
    return holder if isinstance(holder, dict) else None
