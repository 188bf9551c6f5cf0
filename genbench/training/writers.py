"""The trainer's run.json writer while a run starts: it says what the run is doing
until its first metrics line, and a new run folder that cannot be written is removed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from genbench.errors import UsageError
from genbench.runfolder.record import RunRecord
from genbench.runfolder.runs import (
    RunLock,
    RunWriter,
)


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

    def log(self, record: dict) -> None:
        super().log(record)
        if self._phase is not None:
            shown, self._phase = self._phase, None
            if self.meta.message == shown:  # never a message the loop wrote itself
                self.update(message="")


def first_step_message(device: str, step: int) -> str:
    if step == 0:
        return f"taking the first step on {device}"
    return f"taking step {step + 1} on {device}, the first after resuming"


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
