"""Reading run folders while other processes write them: cheap, incremental, torch-free.

The app polls; nothing here blocks on a writer. ``RunTail`` keeps a byte offset
into metrics.jsonl so each poll reads only what was appended since the last one,
and re-reads run.json only when its mtime changes. ``RunIndex`` does the same for
the whole runs folder at the level of one summary per run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path


from genbench.errors import UsageError
from genbench.runs import (FINAL, LATEST_SAMPLE, METRICS_FILE, RUN_FILE, RunSummary,
                           effective_status, iter_run_dirs, read_run_json, record_kind,
                           summarize)


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


# Numbers of the trainer's live evaluations charted over steps, with their titles.
QUALITY_SERIES = {"fd": "FD (live)", "classes_covered": "classes covered",
                  "modes_covered": "modes covered"}


@dataclass
class History:
    """Every logged value of one run, as growing columns."""

    steps: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    losses: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    img_per_s: float | None = None
    evaluation: dict | None = None      # the last {"kind": "eval"} record's numbers
    quality: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)

    def add(self, rec: dict) -> None:
        step = rec["step"]
        if record_kind(rec) == "eval":      # sample quality, not a training interval
            if isinstance(rec.get("eval"), dict):
                self.evaluation = {"step": step, **rec["eval"]}
                for key, title in QUALITY_SERIES.items():
                    value = rec["eval"].get(key)
                    if isinstance(value, (int, float)):
                        xs, ys = self.quality.setdefault(title, ([], []))
                        xs.append(step)
                        ys.append(float(value))
            return
        self.steps.append(step)
        t = rec.get("time")
        self.times.append(float(t) if isinstance(t, (int, float)) else float("nan"))
        if isinstance(rec.get("img_per_s"), (int, float)):
            self.img_per_s = float(rec["img_per_s"])
        losses = rec.get("losses")
        if isinstance(losses, dict):
            for name, value in losses.items():
                xs, ys = self.losses.setdefault(name, ([], []))
                xs.append(step)
                # null is how the writer spells a non-finite loss
                ys.append(float(value) if isinstance(value, (int, float)) else float("nan"))


class RunTail:
    """One run folder, followed as it grows. Call :meth:`poll` on a timer."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.meta: dict = {}
        self.error: str | None = None
        self.history = History()
        self._offset = 0
        self._partial = b""
        self._metrics_ino: int | None = None
        self._meta_key: tuple | None = None
        self._sample_key: tuple | None = None

    @property
    def status(self) -> str:
        if self.error:
            return "unreadable"
        if not self.meta:
            return "starting"
        return effective_status(self.meta)

    @property
    def sample_path(self) -> Path:
        return self.path / LATEST_SAMPLE

    def poll(self) -> tuple[bool, bool]:
        """Read what changed. Returns (metrics or run.json changed, sample changed)."""
        changed = self._poll_meta()
        changed = self._poll_metrics() or changed
        key = _stat_key(self.sample_path)
        sample_changed = key != self._sample_key
        self._sample_key = key
        return changed, sample_changed

    def _poll_meta(self) -> bool:
        key = _stat_key(self.path / RUN_FILE)
        if key == self._meta_key:
            return False
        self._meta_key = key
        if key is None:
            # Not there yet (a run still starting) or not a run at all.
            self.error = None if self.path.is_dir() or not self.meta else f"{self.path} is gone"
            return True
        try:
            self.meta = read_run_json(self.path)
            self.error = None
        except UsageError as exc:
            self.error = str(exc)
        return True

    def _poll_metrics(self) -> bool:
        path = self.path / METRICS_FILE
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                if st.st_ino != self._metrics_ino or st.st_size < self._offset:
                    # Replaced or truncated (a resume rewrites the log): start over.
                    self._metrics_ino, self._offset, self._partial = st.st_ino, 0, b""
                    self.history = History()
                if st.st_size == self._offset:
                    return False
                fh.seek(self._offset)
                data = fh.read(st.st_size - self._offset)
        except FileNotFoundError:
            return False
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        # The last piece has no newline yet: a line still being written. Keep it.
        self._partial = lines.pop()
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("step"), int):
                self.history.add(rec)
        return bool(lines)

    # -- derived numbers ------------------------------------------------------

    @property
    def step(self) -> int:
        step = self.meta.get("step")
        last = self.history.steps[-1] if self.history.steps else 0
        return max(step if isinstance(step, int) else 0, last)

    @property
    def steps(self) -> int | None:
        steps = self.meta.get("steps")
        return steps if isinstance(steps, int) and steps > 0 else None

    def eta_seconds(self) -> float | None:
        """Seconds left at the recent pace, or None when it cannot be told."""
        h = self.history
        if self.steps is None or self.status != "running" or len(h.steps) < 2:
            return None
        # Pace over the last few log lines: steps per second of training time.
        i = max(0, len(h.steps) - 6)
        dt = h.times[-1] - h.times[i]
        ds = h.steps[-1] - h.steps[i]
        if not (dt > 0 and ds > 0):
            return None
        return max(0.0, (self.steps - self.step) * dt / ds)


def downsample(xs: list[int], ys: list[float], limit: int):
    """At most ``limit`` points: means over equal buckets, so a long history draws
    as fast as a short one and noise averages out instead of aliasing."""
    import numpy as np   # here, not at the top: the runs list paints without numpy

    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    if len(x) <= limit or limit < 2:
        return x, y
    edges = np.linspace(0, len(x), limit + 1).astype(int)
    counts = np.diff(edges)
    keep = counts > 0
    edges, counts = edges[:-1][keep], counts[keep]
    with np.errstate(invalid="ignore"):
        return (np.add.reduceat(x, edges) / counts, np.add.reduceat(y, edges) / counts)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class RunIndex:
    """Summaries of every run in a folder, re-read only for runs that changed."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: dict[Path, tuple[tuple, RunSummary]] = {}

    def poll(self) -> list[RunSummary]:
        out = []
        seen = set()
        for d in iter_run_dirs(self.root):
            seen.add(d)
            key = (_stat_key(d / RUN_FILE), _stat_key(d / METRICS_FILE))
            cached = self._cache.get(d)
            # A running run is re-checked every time: its process may have died
            # without a word, which only the process table tells.
            if cached and cached[0] == key and cached[1].status in FINAL:
                out.append(cached[1])
                continue
            summary = summarize(d)
            self._cache[d] = (key, summary)
            out.append(summary)
        for gone in set(self._cache) - seen:
            del self._cache[gone]
        return out
