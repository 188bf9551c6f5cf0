"""The runs list's sweep rows: a sweep's members under one foldable row.

A member is an ordinary run folder whose run.json names its sweep
(RunSummary.sweep), or one the sweep's record names (RUNS/.sweeps/ID/sweep.json:
a member whose run.json cannot be read, and those not started yet). The row is
made from the summaries the list already read; a record is read again only when
its file changes. torch-free.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text

from genbench.errors import UsageError
from genbench.runfolder.runs import RunSummary
from genbench.sweep.record import SWEEP_FILE, SweepRecord, list_sweep_ids
from genbench.tui.format import plain, status_text

# A sweep with more members than this starts folded: its one row says how it goes.
FOLD_OVER = 6
# Row keys are run folder paths; a path holds no NUL, so a sweep's key is no run's.
SWEEP_KEY = "\0sweep\0"
# How a sweep's members are counted on its row, in this order; others after.
NOT_STARTED = "not started"
COUNT_ORDER = (
    "completed",
    "running",
    "stopped",
    "failed",
    "diverged",
    "lost",
    "unreadable",
    NOT_STARTED,
)


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
    unstarted: int = 0  # members its record names that have no folder yet
    state: str = ""  # its record's (running, stopped, done, ...); "" where unread

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.members:
            out[m.status] = out.get(m.status, 0) + 1
        if self.unstarted:
            out[NOT_STARTED] = self.unstarted
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
        if self.unstarted and self.state in ("running", "submitted"):
            return self.state  # between one member and the next, or queued by a scheduler
        return next(iter(counts)) if len(counts) == 1 else "ended"

    @property
    def size(self) -> int:
        return len(self.members) + self.unstarted

    def progress(self) -> float | None:
        """Steps done of all the members' steps, 0..1 (None when no length is known)."""
        known = [m for m in self.members if m.steps]
        if not known:
            return None
        # A member not started (or unreadable) counts as one of the known length, undone.
        total = sum(m.steps or 0 for m in known) * self.size / len(known)
        return min(1.0, sum(min(m.step, m.steps or 0) for m in known) / total)

    def cells(self, folded: bool) -> dict[str, Text]:
        """The row's cells by column key (the runs list's columns)."""
        progress = self.progress()
        models = sorted({plain(m.model, 40) for m in self.members if not m.error})
        datasets = sorted({plain(m.dataset, 40) for m in self.members if not m.error})
        return {
            "mark": Text("▸" if folded else "▾", style="bold"),
            "run": Text(plain(self.id, 80), style="bold"),
            "model": Text(_several(models)),
            "dataset": Text(_several(datasets)),
            "status": status_text(self.status()),
            # Short enough for 80 columns, where the counts beside it are cut.
            "step": Text(f"{self.counts().get('completed', 0)}/{self.size} done"),
            "progress": Text("—" if progress is None else f"{int(100 * progress)}%"),
            "losses": Text(f"{self.size} members: {self.counts_text()}"),
        }


def _several(names: Sequence[str]) -> str:
    if len(names) <= 2:
        return ",".join(names)
    return f"{len(names)} kinds"


class SweepRecords:
    """The members each sweep of a runs folder names, by folder name: sweep.json
    read again only when it changes (a stat per sweep a poll); one that cannot be
    read names none (its members still group by their run.json)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._cache: dict[str, tuple[tuple[int, int, int], tuple[list[str], str]]] = {}

    def poll(self) -> dict[str, tuple[list[str], str]]:
        """Sweep id -> (its members' folder names, its state)."""
        out: dict[str, tuple[list[str], str]] = {}
        for sweep_id in list_sweep_ids(self.root):
            try:
                st = os.stat(SweepRecord.folder(self.root, sweep_id) / SWEEP_FILE)
            except OSError:
                continue
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._cache.get(sweep_id)
            if cached is None or cached[0] != key:
                try:
                    record = SweepRecord.read(self.root, sweep_id)
                    read = ([m.name for m in record.members], record.state)
                except UsageError:
                    read = ([], "")
                cached = self._cache[sweep_id] = (key, read)
            out[sweep_id] = cached[1]
        for gone in set(self._cache) - set(out):
            del self._cache[gone]
        return out


def group(
    runs: Sequence[RunSummary], records: dict[str, tuple[list[str], str]] | None = None
) -> dict[str, SweepGroup]:
    """The sweeps among ``runs``, by id, each with its members in ``runs``' order:
    the runs whose run.json names the sweep, and those its record names (by
    ``records``: sweep id -> (member folder names, state)) that run.json cannot tell."""
    of: dict[str, str] = {}
    for s in runs:
        if s.sweep is not None and not s.error:
            of[str(s.path)] = s.sweep
    by_name = {s.path.name: s for s in runs}
    unstarted: dict[str, int] = {}
    records = records or {}
    for sweep_id, (names, _) in records.items():
        for name in names:
            named = by_name.get(name)
            if named is None:
                unstarted[sweep_id] = unstarted.get(sweep_id, 0) + 1
            elif str(named.path) not in of:
                of[str(named.path)] = sweep_id
    out: dict[str, SweepGroup] = {}
    for s in runs:
        if (member_of := of.get(str(s.path))) is not None:
            out.setdefault(member_of, SweepGroup(member_of)).members.append(s)
    for g in out.values():
        g.unstarted = unstarted.get(g.id, 0)
        g.state = records[g.id][1] if g.id in records else ""
    return out


def membership(groups: dict[str, SweepGroup]) -> dict[str, str]:
    """Run folder (as a row key) -> the sweep it is a member of."""
    return {str(m.path): g.id for g in groups.values() for m in g.members}


def rows(
    shown: Sequence[RunSummary], groups: dict[str, SweepGroup], folded: dict[str, bool]
) -> list[str | RunSummary]:
    """The list's rows: a run of its own as it comes; a sweep's row where its first
    shown member would be, followed by its shown members unless it is folded."""
    of = membership(groups)
    members: dict[str, list[RunSummary]] = {}
    for s in shown:
        if str(s.path) in of:
            members.setdefault(of[str(s.path)], []).append(s)
    out: list[str | RunSummary] = []
    for s in shown:
        sweep = of.get(str(s.path))
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
    return group_ is not None and group_.size > FOLD_OVER
