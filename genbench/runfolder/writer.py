"""The writing side of a run folder, used by the trainer's process alone.

RunWriter holds the run's lock and writes run.json, metrics.jsonl, sample grids and
checkpoints, each through the folders it opened at the start, and says in run.json's
``message`` what a running trainer is doing where no step is counted (a live
evaluation, the last checkpoint: ``phase``); PhaseWriter also says what a starting
run is doing until its first metrics line; NullWriter
writes nothing (ranks other than 0 under torch.distributed); first_write takes a
new run folder, or removes it again when it cannot be written. No torch here.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from genbench.errors import UsageError
from genbench.runfolder.ownership import RunLock
from genbench.runfolder.record import RUN_FILE, RunRecord
from genbench.runfolder.runs import (
    CHECKPOINT,
    CHECKPOINTS_DIR,
    LATEST_SAMPLE,
    METRICS_FILE,
    SAMPLES_DIR,
    check_own_entries,
    finite,
    kept_checkpoint,
    record_kind,
    refuse_hard_links,
    write_atomic,
    write_atomic_at,
)
from genbench.runfolder.stop import clear_stop_request, stop_request

# How often, at most, a training step refreshes run.json's heartbeat.
HEARTBEAT_EVERY_S = 2.0


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class RunWriter:
    """The writing side of one run directory, used by the trainer's process.

    Holds the run's lock from creation until :meth:`close`, and checks that it
    still does before each write of run.json or metrics.jsonl: once another
    process has taken the run over, every write raises LostOwnership instead.
    """

    def __init__(self, path: Path, meta: RunRecord, lock: RunLock | None = None):
        self.path = Path(path)
        check_own_entries(self.path)
        self.lock = lock or RunLock(self.path).acquire()
        self.meta = meta
        self._folders: dict[str, int] = {}
        try:
            self._open_folders()
            # O_NOFOLLOW: the log is appended to the run's own file, never through a link.
            fd = os.open(
                METRICS_FILE,
                os.O_WRONLY
                | os.O_APPEND
                | os.O_CREAT
                | os.O_NOFOLLOW
                | getattr(os, "O_CLOEXEC", 0),
                0o666,
                dir_fd=self._folders[""],
            )
            try:
                refuse_hard_links(self.path / METRICS_FILE, os.fstat(fd))
            except BaseException:
                os.close(fd)
                raise
            self._metrics = os.fdopen(fd, "a", encoding="utf-8")
            clear_stop_request(self._folders[""])  # an old request does not stop this trainer
        except BaseException:
            self._close_folders()
            self.lock.release()
            raise
        self._last_beat = 0.0

    def _open_folders(self) -> None:
        """Open the run folder, samples/ and checkpoints/ once, at the start: every
        sample and checkpoint is written through these, so a link swapped in for one
        of them mid-run is never written through (and _check_folder stops the run)."""
        top = self.lock.folder_fd
        self._folders[""] = (
            os.dup(top)
            if top is not None
            else os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        )
        for name in (SAMPLES_DIR, CHECKPOINTS_DIR):
            try:
                os.mkdir(name, dir_fd=self._folders[""])
            except FileExistsError:
                pass
            try:
                self._folders[name] = os.open(
                    name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=self._folders[""]
                )
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UsageError(
                        f"{self.path / name} is a link or not a folder; genbench "
                        "writes only the run folder's own files (remove it, or "
                        "copy the run)"
                    ) from None
                raise
        self._ids = {name: _identity(os.fstat(fd)) for name, fd in self._folders.items()}

    def _close_folders(self) -> None:
        for fd in self._folders.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._folders = {}

    def _check_folder(self, name: str) -> int:
        """The open folder ``name`` (samples/ or checkpoints/), after checking that the
        run folder's entry is still that very folder: one cheap lstat a write. A link
        (or anything else) put in its place mid-run ends the run (OSError: the loop
        ends it failed, naming the entry); nothing is written through it."""
        try:
            now = os.stat(name, dir_fd=self._folders[""], follow_symlinks=False)
        except FileNotFoundError:
            now = None
        if now is not None and _identity(now) == self._ids[name]:
            return self._folders[name]
        what = (
            "was replaced by a link"
            if now is not None and stat.S_ISLNK(now.st_mode)
            else "was moved or deleted"
            if now is None
            else "was replaced"
        )
        raise OSError(
            errno.ELOOP if now is not None else errno.ENOENT,
            f"{name}/ {what} while the run trained; genbench writes nothing through it",
            str(self.path / name),
        )

    def write_sample(self, step: int, png: bytes) -> Path:
        """Write the step's sample grid and samples/latest.png (each atomically)."""
        folder = self._check_folder(SAMPLES_DIR)
        name = self.sample_path(step).name
        write_atomic_at(folder, name, png)
        # A second atomic write, not a copy through a fixed temp name: a link planted
        # at such a name would be written through.
        write_atomic_at(folder, LATEST_SAMPLE.split("/")[-1], png)
        return self.sample_path(step)

    def write_checkpoint(self, data: bytes) -> Path:
        """Write checkpoints/last.pt atomically, through the folder opened at start."""
        write_atomic_at(self._check_folder(CHECKPOINTS_DIR), Path(CHECKPOINT).name, data)
        return self.path / CHECKPOINT

    def keep_checkpoint(self, step: int, data: bytes) -> Path:
        """Write the checkpoint kept at ``step`` (--keep-every) atomically, like last.pt."""
        name = kept_checkpoint(step)
        write_atomic_at(self._check_folder(CHECKPOINTS_DIR), Path(name).name, data)
        return self.path / name

    def update(self, **fields: Any) -> None:
        """Change fields of run.json and write it (with a fresh heartbeat)."""
        self.lock.check()
        self.meta.update(
            **fields, heartbeat=time.time(), updated=datetime.now().isoformat(timespec="seconds")
        )
        write_atomic(self.path / RUN_FILE, self.meta.to_json())
        self._last_beat = time.monotonic()

    def heartbeat(self, step: int) -> None:
        """Refresh run.json at most every HEARTBEAT_EVERY_S; cheap to call each step."""
        if time.monotonic() - self._last_beat >= HEARTBEAT_EVERY_S:
            self.update(step=step)

    def phase(self, text: str) -> None:
        """Say in run.json's ``message`` what the trainer does now that counts no step
        (an evaluation, a checkpoint): the workbench shows it while the step stands
        still. ``""`` says it is training again. One write of run.json each."""
        self.update(message=text)

    def log(self, record: dict[str, Any]) -> None:
        self.lock.check()
        self._check_log()
        # Strict JSON: a non-finite number is written as null, which any reader parses.
        self._metrics.write(json.dumps(finite(record), allow_nan=False) + "\n")
        self._metrics.flush()

    def _check_log(self) -> None:
        """metrics.jsonl swapped for a link mid-run ends the run (nothing was ever
        written through it: the log is appended through the file opened at start)."""
        try:
            now = os.stat(METRICS_FILE, dir_fd=self._folders[""], follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(now.st_mode):
            raise OSError(
                errno.ELOOP,
                f"{METRICS_FILE} was replaced by a link while the run "
                "trained; genbench writes nothing through it",
                str(self.path / METRICS_FILE),
            )

    def sample_path(self, step: int) -> Path:
        return self.path / SAMPLES_DIR / f"step-{step:07d}.png"

    def check_owner(self) -> None:
        """Raise LostOwnership when another process has taken the run over."""
        self.lock.check()

    def stop_request(self) -> str | None:
        """The reason of a stop asked for through the run folder (genbench.runfolder.stop)."""
        return stop_request(self._folders[""])

    def folder_gone(self) -> bool:
        """Whether the run folder is no longer at its path (moved or deleted)."""
        return self.lock.folder_gone()

    def end_moved(self, **fields: Any) -> bool:
        """The run folder moved (or was deleted) while this trainer ran: write the
        end into the run.json of the folder where it went, then let go of the lock.

        Written through the folder the lock keeps open, never by path (the old path
        may name nothing, or another folder by now), and only while the lock in it is
        still this trainer's: so the one folder this trainer created and owns gets
        its true status (failed, and why), and nothing else can be written. A deleted
        folder takes nothing. Returns whether run.json was written."""
        written = False
        fd = self.lock.folder_fd
        if fd is not None and self.lock.mine_in_moved_folder():
            self.meta.update(
                **fields,
                heartbeat=time.time(),
                updated=datetime.now().isoformat(timespec="seconds"),
            )
            try:
                write_atomic_at(fd, RUN_FILE, self.meta.to_json())
                written = True
            except OSError:
                pass  # deleted, read-only or full: the message still reaches the terminal
        try:
            self._metrics.close()
        except OSError:
            pass
        self._close_folders()
        self.lock.release_moved()
        return written

    def close(self) -> None:
        try:
            self._metrics.close()
        except OSError:
            pass  # a full disk can fail the final flush; the lock must still go
        self._close_folders()
        self.lock.release()


class NullWriter:
    """The writer of a process that must not write the run folder: ranks other
    than 0 under torch.distributed."""

    def __init__(self, path: Path, meta: RunRecord):
        self.path, self.meta = Path(path), meta

    def update(self, **fields: Any) -> None:
        self.meta.update(**fields)

    def heartbeat(self, step: int) -> None:
        pass

    def phase(self, text: str) -> None:
        pass

    def stop_request(self) -> str | None:
        return None

    def log(self, record: dict[str, Any]) -> None:
        pass

    def sample_path(self, step: int) -> Path:
        return self.path / SAMPLES_DIR / f"step-{step:07d}.png"

    def write_sample(self, step: int, png: bytes) -> Path:
        return self.sample_path(step)

    def write_checkpoint(self, data: bytes) -> Path:
        return self.path / CHECKPOINT

    def keep_checkpoint(self, step: int, data: bytes) -> Path:
        return self.path / kept_checkpoint(step)

    def close(self) -> None:
        pass


class PhaseWriter(RunWriter):
    """A RunWriter that says in run.json's ``message`` what the run is doing until
    its first metrics line, so the workbench shows more than "step 0" while the
    first step warms the device up and the first log interval is trained.

    The loop clears the message when it starts (``message=""``); until something is
    logged, an empty message is replaced by the current phase. Each phase costs
    one write of run.json, and the first line of metrics.jsonl clears it (the
    losses then speak for themselves)."""

    def __init__(
        self,
        path: Path,
        meta: RunRecord,
        lock: RunLock | None = None,
        *,
        log_every: int,
        start: int = 0,
    ):
        """``start``: the step training starts from (a resumed run's checkpoint step;
        run.json's step can be later, where a run was lost after its checkpoint)."""
        super().__init__(path, meta, lock)
        self._start = start
        self._first_log = (start // log_every + 1) * log_every
        self._phase: str | None = first_step_message(meta.device, start)
        self._stepped = False

    def update(self, **fields: Any) -> None:
        if self._phase is not None and not fields.get("message", self.meta.message):
            fields["message"] = self._phase
        super().update(**fields)

    def heartbeat(self, step: int) -> None:
        if self._phase is not None and not self._stepped and step > self._start:
            # The first step is done (on a GPU it is the slow one): one write to say so.
            self._stepped = True
            self._phase = f"training: first losses at step {self._first_log}"
            self.update(step=step, message="")
            return
        super().heartbeat(step)

    def log(self, record: dict[str, Any]) -> None:
        super().log(record)
        # Only losses end the start-up phase: a resume mark or an evaluation says
        # nothing of how training goes.
        if self._phase is not None and record_kind(record) is None:
            shown, self._phase = self._phase, None
            if self.meta.message == shown:  # never a message the loop wrote itself
                self.update(message="")


def first_step_message(device: str, step: int) -> str:
    # On a GPU the first step is the slow one: kernels are chosen and compiled.
    if step == 0:
        return f"first step: warming up on {device}"
    return f"first step: step {step + 1} on {device}, the first after resuming"


# What a trainer says in run.json's message while it counts no step. Each begins
# with a short head before ": ", which the runs list shows beside the status.
PHASE_LABEL_MAX = 24


def evaluation_message(step: int, last: bool, samples: int | None) -> str:
    """A live evaluation under way; ``last``: the one after the run's last step."""
    what = f"sample quality of {samples} samples" if samples else "sample quality"
    head = "final evaluation" if last else "evaluating"
    return f"{head}: {what} at step {step}"


def checkpoint_message(step: int) -> str:
    return f"checkpoint: writing step {step}'s checkpoint"


def phase_label(message: str) -> str:
    """The head of a phase message (``"final evaluation"``), short enough for a table
    cell: the text before its first ``": "``, else its first few words."""
    head, sep, _ = message.partition(": ")
    if not sep or len(head) > PHASE_LABEL_MAX:
        head = " ".join(message.split()[:3])
    return head if len(head) <= PHASE_LABEL_MAX else head[: PHASE_LABEL_MAX - 1] + "…"


def first_write(path: Path, meta: RunRecord, log_every: int) -> RunWriter:
    """Take the new run folder and write its run.json. A folder that cannot be
    written (a full disk, a read-only filesystem) is removed again, with its lock,
    and the reason is one line."""
    writer = None
    try:
        writer = PhaseWriter(path, meta, log_every=log_every)
        writer.update()
        return writer
    except (OSError, UsageError) as exc:
        if writer is not None:
            try:
                writer.close()
            except OSError:
                pass
        shutil.rmtree(path, ignore_errors=True)  # new and ours: nothing else is in it
        if isinstance(exc, UsageError):
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        raise UsageError(
            f"cannot write the new run folder {path}: "
            f"{exc.strerror or exc}{where}; no run was started"
        ) from None
