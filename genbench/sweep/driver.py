"""Running a sweep's members through an executor: a queue, at most the executor's
capacity at once, each member's end reported, and a stop that leaves every member
stopped (resumable) or finished.

The run folders decide what a member needs (genbench.sweep.results): a member
with no folder starts anew, a stopped or lost one resumes from its checkpoint, a
running one is left alone (its trainer holds the run's lock, wherever it runs),
a failed one starts again only when asked. So a sweep resumed any number of
times, from any machine sharing the runs folder, never trains a member twice.
torch-free.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genbench.executor import Executor, Member
from genbench.options import json_point
from genbench.runfolder.runs import CHECKPOINT
from genbench.sweep.record import MemberRecord, SweepRecord
from genbench.sweep.results import (
    MISSING,
    PRUNED,
    MemberResult,
    member_result,
    member_results,
    progress,
    shown_progress,
)

Say = Callable[[dict[str, Any]], None]
POLL_S = 0.5  # how often the queue looks at its running members
# A member that ended like this is started again by --resume (--retry-failed: also
# failed and diverged ones); "running" is left alone, "unreadable" is reported.
RESTART = {MISSING, "stopped", "lost"}
FAILED = {"failed", "diverged"}


@dataclass
class Plan:
    """What a (resumed) sweep starts, and what it leaves as it is, with why."""

    start: list[tuple[MemberRecord, Member]] = field(default_factory=list)
    left: list[tuple[str, str]] = field(default_factory=list)  # (member, why)
    # Members whose earlier start has not ended yet (a job still queued, a process
    # still loading): followed by their handle, never started a second time.
    watch: dict[str, str] = field(default_factory=dict)
    # Members started anew whose old folder (no checkpoint to resume) is set aside first.
    aside: list[str] = field(default_factory=list)


def plan_members(
    runs_dir: Path,
    record: SweepRecord,
    retry_failed: bool = False,
    fresh: bool = False,
    executor: Executor | None = None,
) -> Plan:
    """The members to start now, each as its executor takes it. ``fresh``: a new sweep,
    whose every member starts anew. With ``executor``, a member whose recorded start
    has not ended (a SLURM job still queued has no run folder yet) is watched, not
    started again."""
    plan = Plan()
    for m in record.members:
        if fresh:
            plan.start.append((m, new_member(runs_dir, record, m)))
            continue
        result = member_result(runs_dir, m)
        status = result.status
        if (
            executor is not None
            and m.handle
            and status in RESTART | {"running"}
            and not executor.finished(m.handle)
        ):
            plan.watch[m.name] = m.handle
            plan.left.append(
                (m.name, f"{status}, not ended ({executor.describe(m.handle)}): followed")
            )
        elif status == MISSING:
            plan.start.append((m, new_member(runs_dir, record, m)))
        elif status in RESTART or (retry_failed and status in FAILED):
            _restart(plan, runs_dir, record, m, result)
        elif status in FAILED:
            plan.left.append((m.name, f"{status} (--retry-failed starts it again)"))
        elif status == PRUNED:
            plan.left.append((m.name, "pruned by the search"))
        elif status == "running":
            plan.left.append((m.name, "running (left to its trainer)"))
        elif status == "unreadable":
            plan.left.append((m.name, f"unreadable: {result.message}"))
    return plan


def _restart(
    plan: Plan, runs_dir: Path, record: SweepRecord, m: MemberRecord, result: MemberResult
) -> None:
    """A member that ended early: resumed from its checkpoint, or, with none (it failed
    or was lost before its first), started anew once its old folder is set aside."""
    if result.summary is not None and result.summary.path.joinpath(CHECKPOINT).is_file():
        plan.start.append((m, Member(m.name, ("--headless", "--resume", str(runs_dir / m.name)))))
    else:
        plan.aside.append(m.name)
        plan.start.append((m, new_member(runs_dir, record, m)))


def set_aside(runs_dir: Path, record: SweepRecord, name: str) -> Path:
    """Move a member's folder that cannot be resumed (no checkpoint) into the sweep's
    ``attempts/``, where it is kept, so the member can start anew under its name."""
    attempts = SweepRecord.folder(runs_dir, record.id) / "attempts"
    attempts.mkdir(exist_ok=True)
    n = 1
    while (attempts / f"{name}.{n}").exists():
        n += 1
    target = attempts / f"{name}.{n}"
    os.rename(runs_dir / name, target)
    return target


def new_member(runs_dir: Path, record: SweepRecord, m: MemberRecord) -> Member:
    return Member(
        m.name,
        (
            *m.args,
            # the sweep's own flags last: argparse takes the last, whatever the args say
            "--headless",
            "--runs-dir",
            str(runs_dir),
            "--name",
            m.name,
            "--sweep",
            record.id,
            "--sweep-point",
            json_point(m.point),
        ),
    )


class StopFlag:
    """Set by the command's signal handlers; the queue polls it."""

    def __init__(self) -> None:
        self.requested = False
        self.why = ""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def catch_stops(stop: StopFlag) -> dict[int, Any]:
    """Ctrl+C, SIGTERM and SIGHUP set ``stop`` (the first one says why) instead of
    ending the command, so the members are stopped cleanly and the sweep ends
    resumable. Returns the handlers to give back to :func:`restore_stops`."""

    def handle(signum: int, frame: object) -> None:
        if not stop.requested:
            stop.requested = True
            stop.why = signal.Signals(signum).name

    return {s: signal.signal(s, handle) for s in STOP_SIGNALS}


def restore_stops(previous: dict[int, Any]) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler)


def summary(runs_dir: Path, record: SweepRecord, say: Say) -> int:
    """Say how the sweep ended; the command's exit code (0 done or submitted, 1 some
    member failed, 130 stopped or cancelled)."""
    results = member_results(runs_dir, record)
    counts = progress(results)
    say(
        {
            "event": "end",
            "id": record.id,
            "state": record.state,
            "members": shown_progress(record, results),
        }
    )
    if record.state in ("stopped", "cancelled"):
        return 130
    if record.state == "submitted":
        return 0
    return 1 if any(s in counts for s in ("failed", "diverged", "lost", "missing")) else 0


class Driver:
    """Starts members through ``executor``, at most its capacity at once, saving each
    handle in the sweep record and reporting each end through ``say``."""

    def __init__(
        self,
        runs_dir: Path,
        record: SweepRecord,
        executor: Executor,
        say: Say,
        stop: StopFlag,
        cancel_file: Path | None = None,
    ) -> None:
        self.runs_dir = Path(runs_dir)
        self.record = record
        self.executor = executor
        self.say = say
        self.stop = stop
        # `genbench sweep --cancel` from another process leaves this file: stop as asked
        self.cancel_file = cancel_file
        self.running: dict[str, str] = {}  # member -> handle
        self.started_at: dict[str, float] = {}

    def run(self, plan: Plan, follow: bool = True) -> str:
        """Run the plan; the sweep's state at the end (done, submitted or stopped)."""
        for name in plan.aside:
            kept = set_aside(self.runs_dir, self.record, name)
            self.say(
                {
                    "event": "left",
                    "member": name,
                    "why": f"no checkpoint: kept in {kept}, starts anew",
                }
            )
        queue = deque(plan.start)
        self.running.update(plan.watch)
        total = len(queue) + len(plan.watch)
        done = 0
        while queue or self.running:
            if self.cancel_file is not None and self.cancel_file.exists():
                self.stop.requested, self.stop.why = True, "genbench sweep --cancel"
            if self.stop.requested:
                return self._stop(len(queue))
            room = self.executor.capacity()
            batch: list[tuple[MemberRecord, Member]] = []
            while queue and (room is None or len(self.running) + len(batch) < room):
                batch.append(queue.popleft())
            if batch:
                self._start(batch)
            if self.executor.detached and not follow and not queue:
                return "submitted"
            for name, handle in list(self.running.items()):
                if self.executor.finished(handle):
                    del self.running[name]
                    done += 1
                    self._ended(name, done, total)
            self._progress(len(queue), done, total)
            if self.running or queue:
                time.sleep(POLL_S)
        return "done"

    def _progress(self, queued: int, done: int, total: int) -> None:
        """Where the queue stands, said when it changes (a terminal's status line)."""
        now = (len(self.running), queued, done, total)
        if now != getattr(self, "_last_progress", None):
            self._last_progress = now
            self.say(
                {
                    "event": "progress",
                    "running": now[0],
                    "queued": queued,
                    "done": done,
                    "total": total,
                }
            )

    def _start(self, batch: list[tuple[MemberRecord, Member]]) -> None:
        handles = self.executor.start([member for _, member in batch])
        for m, _ in batch:
            handle = handles.get(m.name)
            m.handle = handle
            if handle is not None:
                self.running[m.name] = handle
                self.started_at[m.name] = time.monotonic()
        self.record.write(self.runs_dir)
        for m, member in batch:
            self.say(
                {
                    "event": "started",
                    "member": m.name,
                    "point": m.point,
                    "resumed": "--resume" in member.args,
                    "queued": self.executor.detached,  # a scheduler starts it later
                    "handle": self.executor.describe(m.handle) if m.handle else None,
                }
            )

    def _ended(self, name: str, done: int, total: int) -> None:
        result: MemberResult = member_result(self.runs_dir, self.record.member(name))
        self.say(
            {
                "event": "ended",
                "member": name,
                "done": done,
                "total": total,
                "status": result.status,
                "step": result.step,
                "fd": result.fd,
                "coverage": list(result.coverage) if result.coverage else None,
                "img_per_s": result.img_per_s,
                "message": result.message,
                "seconds": round(time.monotonic() - self.started_at.get(name, time.monotonic()), 1),
            }
        )

    def _stop(self, queued: int) -> str:
        """Stop every running member as a stop signal would (each checkpoints and stays
        resumable), wait for them to end, and leave the queue for --resume."""
        names = sorted(self.running)
        self.say({"event": "stopping", "members": names, "queued": queued, "why": self.stop.why})
        self.executor.cancel(list(self.running.values()))
        while self.running:
            for name, handle in list(self.running.items()):
                if self.executor.finished(handle):
                    del self.running[name]
            if self.running:
                time.sleep(POLL_S)
        return "stopped"
