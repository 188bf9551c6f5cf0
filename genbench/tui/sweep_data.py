"""What the sweep screen shows, read from the runs folder: the sweep's record, its
members' results and configurations (genbench.sweep.results), and a
configuration's curves reduced over its seeds. torch-free; nothing here draws.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genbench.errors import UsageError
from genbench.runfolder.runs import RunSummary
from genbench.sweep.record import SWEEP_FILE, SweepRecord
from genbench.sweep.results import (
    MISSING,
    PRUNED,
    ConfigResult,
    MemberResult,
    configurations,
    numeric,
    result_of,
)
from genbench.sweep.spec import SEED

# What a member's status counts as in a configuration's members cell.
DONE = ("completed",)
FAILED = ("failed", "diverged", "lost", "unreadable")


def members_text(config: ConfigResult) -> str:
    """'3 done'; with '1 run', '1 fail', '1 stop' (stopped or pruned) and '1 wait'
    (not started) beside it where there are such."""
    counts = config.counts()
    done = sum(counts.get(s, 0) for s in DONE)
    parts = [f"{done} done"]
    for word, statuses in (
        ("run", ("running",)),
        ("fail", FAILED),
        ("stop", ("stopped", PRUNED)),
        ("wait", (MISSING,)),
    ):
        n = sum(counts.get(s, 0) for s in statuses)
        if n:
            parts.append(f"{n} {word}")
    counted = done + sum(counts.get(s, 0) for s in ("running", "stopped", PRUNED, MISSING, *FAILED))
    if counted < sum(counts.values()):
        parts.append(f"{sum(counts.values()) - counted} other")
    return " ".join(parts)


def status_word(status: str) -> str:
    """A member's status as the screen says it: one without a folder has not started."""
    return "not started" if status == MISSING else status


def axis_values(configs: Sequence[ConfigResult], key: str, order: Sequence[Any] = ()) -> list[Any]:
    """The values a varied key takes, in order: by number where all are numbers,
    else in ``order`` (the spec's), then as first met."""
    seen: list[Any] = [
        v for v in order if any(m.point.get(key) == v for c in configs for m in c.members)
    ]
    for c in configs:
        for m in c.members:
            v = m.point.get(key)
            if v not in seen:
                seen.append(v)
    if seen and all(numeric(v) is not None for v in seen):
        seen.sort(key=lambda v: numeric(v) or 0.0)
    return seen


@dataclass
class Band:
    """A configuration's curve: at each step, the mean over the seeds that logged it,
    and the lowest and highest of them (W&B's grouped runs)."""

    steps: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]
    runs: int  # how many members had this curve at all


def band(curves: Sequence[tuple[Sequence[int], Sequence[float]]]) -> Band:
    """Curves of several members reduced step by step (non-finite values skipped)."""
    at: dict[int, list[float]] = {}
    runs = 0
    for steps, values in curves:
        if len(steps):
            runs += 1
        for step, value in zip(steps, values, strict=False):
            v = float(value)
            if math.isfinite(v):
                at.setdefault(int(step), []).append(v)
    steps_out = sorted(at)
    return Band(
        steps=steps_out,
        mean=[statistics.fmean(at[s]) for s in steps_out],
        low=[min(at[s]) for s in steps_out],
        high=[max(at[s]) for s in steps_out],
        runs=runs,
    )


class SweepState:
    """One sweep as the runs folder holds it now: its record (read again only when
    sweep.json changes), its members from the summaries given, its configurations."""

    def __init__(self, runs_dir: Path, sweep_id: str) -> None:
        self.runs_dir = Path(runs_dir)
        self.id = sweep_id
        self.record: SweepRecord | None = None
        self.error: str | None = None
        self.results: list[MemberResult] = []
        self.configs: list[ConfigResult] = []
        self._key: tuple | None = None

    @property
    def keys(self) -> list[str]:
        """What the sweep varies besides the seed, in the spec's order."""
        if self.record is None:
            return []
        return [a.key for a in self.record.spec.axes if a.key != SEED]

    def update(self, summaries: Sequence[RunSummary]) -> None:
        self._read_record()
        if self.record is None:
            self.results, self.configs = [], []
            return
        by_name = {s.path.name: s for s in summaries}
        self.results = [result_of(m, by_name.get(m.name)) for m in self.record.members]
        self.configs = configurations(self.results, self.keys)

    def _read_record(self) -> None:
        path = SweepRecord.folder(self.runs_dir, self.id) / SWEEP_FILE
        try:
            st = os.stat(path)
            key: tuple | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        if key == self._key and (self.record is not None or self.error):
            return
        self._key = key
        try:
            self.record, self.error = SweepRecord.read(self.runs_dir, self.id), None
        except UsageError as exc:
            # Kept: a record rewritten badly mid-sweep still shows what was read.
            self.error = str(exc)
