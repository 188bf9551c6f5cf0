"""The runs list's sweep rows: a sweep's members under one foldable row.

A member is an ordinary run folder whose run.json names its sweep
(RunSummary.sweep); the row is made from the members the list already read, so a
sweep costs nothing more than its runs. torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.text import Text

from genbench.runfolder.runs import RunSummary
from genbench.tui.format import plain, status_text

# A sweep with more members than this starts folded: its one row says how it goes.
FOLD_OVER = 6
# Row keys are run folder paths; a path holds no NUL, so a sweep's key is no run's.
SWEEP_KEY = "\0sweep\0"
# How a sweep's members are counted on its row, in this order; others after.
COUNT_ORDER = ("completed", "running", "stopped", "failed", "diverged", "lost", "unreadable")


def sweep_key(sweep_id: str) -> str:
    return SWEEP_KEY + sweep_id


def sweep_of_key(key: str | None) -> str | None:
    """The sweep a row key names, or None for a run's row."""
    if key is None or not key.startswith(SWEEP_KEY):
        return None
    return key[len(SWEEP_KEY) :]


@dataclass
class SweepGroup:
    """A sweep's members in the runs folder, in the list's order."""

    id: str
    members: list[RunSummary] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.members:
            out[m.status] = out.get(m.status, 0) + 1
        return out

    def counts_text(self) -> str:
        counts = self.counts()
        order = [s for s in COUNT_ORDER if s in counts] + sorted(set(counts) - set(COUNT_ORDER))
        return ", ".join(f"{counts[s]} {plain(s, 20)}" for s in order)

    def status(self) -> str:
        """running while any member runs; else the one status all share, or 'ended'."""
        counts = self.counts()
        if "running" in counts:
            return "running"
        return next(iter(counts)) if len(counts) == 1 else "ended"

    def progress(self) -> float | None:
        """Steps done of all the members' steps, 0..1 (None when no length is known)."""
        total = sum(m.steps or 0 for m in self.members)
        if not total:
            return None
        return min(1.0, sum(min(m.step, m.steps or 0) for m in self.members) / total)

    def cells(self, folded: bool) -> dict[str, Text]:
        """The row's cells by column key (the runs list's columns)."""
        progress = self.progress()
        models = sorted({plain(m.model, 40) for m in self.members})
        datasets = sorted({plain(m.dataset, 40) for m in self.members})
        return {
            "mark": Text("▸" if folded else "▾", style="bold"),
            "run": Text(plain(self.id, 80), style="bold"),
            "model": Text(_several(models)),
            "dataset": Text(_several(datasets)),
            "status": status_text(self.status()),
            # Short enough for 80 columns, where the counts beside it are cut.
            "step": Text(f"{self.counts().get('completed', 0)}/{len(self.members)} done"),
            "progress": Text("—" if progress is None else f"{int(100 * progress)}%"),
            "losses": Text(f"{len(self.members)} members: {self.counts_text()}"),
        }


def _several(names: Sequence[str]) -> str:
    if len(names) <= 2:
        return ",".join(names)
    return f"{len(names)} kinds"


def group(runs: Sequence[RunSummary]) -> dict[str, SweepGroup]:
    """The sweeps among ``runs``, by id, each with its members in ``runs``' order."""
    out: dict[str, SweepGroup] = {}
    for s in runs:
        if s.sweep is not None and not s.error:
            out.setdefault(s.sweep, SweepGroup(s.sweep)).members.append(s)
    return out


def rows(
    shown: Sequence[RunSummary], groups: dict[str, SweepGroup], folded: dict[str, bool]
) -> list[str | RunSummary]:
    """The list's rows: a run of its own as it comes; a sweep's row where its first
    shown member would be, followed by its shown members unless it is folded."""
    members: dict[str, list[RunSummary]] = {}
    for s in shown:
        if s.sweep in groups and not s.error:
            members.setdefault(s.sweep, []).append(s)
    out: list[str | RunSummary] = []
    for s in shown:
        sweep = s.sweep if s.sweep in groups and not s.error else None
        if sweep is None:
            out.append(s)
        elif sweep in members:
            out.append(sweep)
            if not is_folded(sweep, groups, folded):
                out.extend(members[sweep])
            del members[sweep]
    return out


def is_folded(sweep: str, groups: dict[str, SweepGroup], folded: dict[str, bool]) -> bool:
    """As the user left it; until then, folded when the sweep has many members."""
    if sweep in folded:
        return folded[sweep]
    group_ = groups.get(sweep)
    return group_ is not None and len(group_.members) > FOLD_OVER
