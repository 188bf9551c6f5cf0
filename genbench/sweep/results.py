"""A sweep's results: each member as its run folder says, and each configuration
reduced over its seeds (mean and spread), best first.

The members' run folders are the source of truth (status, the final or latest
live FD, classes or modes covered, images/s); the sweep record only says which
folders are members and their points. Used by ``genbench sweep show``, the
progress of ``genbench sweep`` and the workbench's sweep screen. torch-free.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genbench.runfolder.runs import RunSummary, summarize
from genbench.sweep.record import MemberRecord, SweepRecord
from genbench.sweep.spec import SEED

# Where a member stands, from its folder (and the record, for what it never began
# or what the search pruned).
MISSING = "missing"  # no run folder yet: never started, or started and refused
PRUNED = "pruned"


@dataclass
class MemberResult:
    name: str
    point: dict[str, Any]
    status: str  # a run's status (running, completed, ...), missing or pruned
    step: int = 0
    steps: int | None = None
    fd: float | None = None
    coverage: tuple[int, int] | None = None
    img_per_s: float | None = None
    message: str = ""
    summary: RunSummary | None = None

    @property
    def covered(self) -> float | None:
        return None if self.coverage is None else float(self.coverage[0])

    def value(self, metric: str) -> float | None:
        return {"fd": self.fd, "coverage": self.covered, "img_per_s": self.img_per_s}.get(metric)


@dataclass
class Spread:
    """Mean and sample standard deviation of a metric over a configuration's seeds
    (std is None with fewer than two values)."""

    n: int
    mean: float | None
    std: float | None

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Spread:
        got = [v for v in values if v is not None and math.isfinite(v)]
        if not got:
            return cls(0, None, None)
        return cls(len(got), statistics.fmean(got), statistics.stdev(got) if len(got) > 1 else None)

    def text(self, digits: int = 3) -> str:
        """'1.23 ± 0.05'; large values as whole numbers ('7,485 ± 1,302')."""
        if self.mean is None:
            return "-"
        big = abs(self.mean) >= 10 ** (digits - 1)
        mean = f"{self.mean:,.0f}" if big else f"{self.mean:.{digits}g}"
        if self.std is None:
            return mean
        return mean + " ± " + (f"{self.std:,.0f}" if big else f"{self.std:.2g}")


@dataclass
class ConfigResult:
    """One configuration of a sweep: its point without the seed, and its members."""

    point: dict[str, Any]
    members: list[MemberResult] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.members:
            out[m.status] = out.get(m.status, 0) + 1
        return out

    def spread(self, metric: str) -> Spread:
        return Spread.of(m.value(metric) for m in self.members)

    def label(self, keys: Sequence[str]) -> str:
        return " ".join(f"{k}={self.point.get(k)}" for k in keys)


# Lower is better for FD; higher for coverage and speed.
LOWER_IS_BETTER = {"fd": True, "coverage": False, "img_per_s": False}
METRICS = tuple(LOWER_IS_BETTER)


def member_results(runs_dir: Path, record: SweepRecord) -> list[MemberResult]:
    return [member_result(Path(runs_dir), m) for m in record.members]


def member_result(runs_dir: Path, member: MemberRecord) -> MemberResult:
    folder = runs_dir / member.name
    return result_of(member, summarize(folder) if folder.is_dir() else None)


def result_of(member: MemberRecord, s: RunSummary | None) -> MemberResult:
    """A member's result from a summary of its folder (None: it has none yet); the
    workbench hands the summaries its runs index already read."""
    if s is None:
        if member.pruned:  # its trial was pruned before it started: it never will
            return MemberResult(member.name, member.point, PRUNED, message=member.pruned)
        return MemberResult(member.name, member.point, MISSING)
    status = PRUNED if member.pruned and s.status == "stopped" else s.status
    return MemberResult(
        name=member.name,
        point=member.point,
        status=status,
        step=s.step,
        steps=s.steps,
        fd=s.fd,
        coverage=s.coverage,
        img_per_s=s.img_per_s,
        message=member.pruned or s.message or (s.error or ""),
        summary=s,
    )


def varied_keys(record: SweepRecord) -> list[str]:
    """What the sweep varies besides the seed, in the spec's order."""
    return [a.key for a in record.spec.axes]


def configurations(results: Sequence[MemberResult], keys: Sequence[str]) -> list[ConfigResult]:
    """Members grouped by their point without the seed, in the order first met."""
    groups: dict[tuple[str, ...], ConfigResult] = {}
    for m in results:
        point = {k: m.point.get(k) for k in keys if k != SEED}
        key = tuple(repr(point.get(k)) for k in keys if k != SEED)
        groups.setdefault(key, ConfigResult(point)).members.append(m)
    return list(groups.values())


def ranking_metric(configs: Sequence[ConfigResult], preferred: str = "fd") -> str:
    """``preferred`` where any configuration has it; else coverage (2D toys have no FD)."""
    for metric in (preferred, "fd", "coverage"):
        if any(c.spread(metric).n for c in configs):
            return metric
    return preferred


def best_first(configs: Sequence[ConfigResult], metric: str = "fd") -> list[ConfigResult]:
    """Configurations by the mean of ``metric``, the best first; those with no value last."""
    lower = LOWER_IS_BETTER.get(metric, True)

    def key(c: ConfigResult) -> tuple[bool, float]:
        mean = c.spread(metric).mean
        if mean is None:
            return (True, 0.0)
        return (False, mean if lower else -mean)

    return sorted(configs, key=key)


QUEUED = "queued"  # shown only: handed to an executor, no run folder yet
NOT_STARTED = "not started"


def progress(results: Sequence[MemberResult]) -> dict[str, int]:
    """How many members are in each state."""
    out: dict[str, int] = {}
    for m in results:
        out[m.status] = out.get(m.status, 0) + 1
    return out


def shown_progress(record: SweepRecord, results: Sequence[MemberResult]) -> dict[str, int]:
    """``progress`` as a person reads it: a member with no run folder is "queued"
    while its sweep runs and the executor has it (a SLURM job waiting for a node),
    else "not started"."""
    live = record.state in ("running", "submitted")
    out: dict[str, int] = {}
    for r in results:
        status = r.status
        if status == MISSING:
            handled = record.member(r.name).handle is not None
            status = QUEUED if live and handled else NOT_STARTED
        out[status] = out.get(status, 0) + 1
    return out


def numeric(value: Any) -> float | None:
    """A point's value as a number where it is one (a chart's x axis), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def shown_state(record: SweepRecord, counts: dict[str, int]) -> str:
    """The sweep's state as a person reads it: a submitted sweep whose jobs have all
    ended (the scheduler ran them without genbench watching) is done."""
    if record.state == "submitted" and not {"running", QUEUED} & set(counts):
        return "done"
    return record.state
