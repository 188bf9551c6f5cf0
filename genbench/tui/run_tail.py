"""Reading run folders while other processes write them: cheap, incremental, torch-free.

The app polls; nothing here blocks on a writer. ``RunTail`` keeps a byte offset
into metrics.jsonl so each poll reads only what was appended since the last one,
and re-reads run.json only when its mtime changes. ``RunIndex`` does the same for
the whole runs folder at the level of one summary per run.

A run folder is untrusted input, so every cost here is bounded whatever the files
hold: metrics.jsonl is opened only as a regular file of the run folder (a link to
/dev/zero or a FIFO makes the run ``unreadable``), one poll reads at most
POLL_BYTES, a backlog over SKIM_OVER (the first look at a 200 MB or sparse 50 GB
log) is sampled in SKIM_WINDOWS small windows rather than read whole, a line over
LINE_MAX is skipped, and each charted series keeps at most SERIES_MAX points
(neighbours merge as it grows, keeping each stretch's lowest and highest value
and always the newest point).

Besides the losses, a metrics line may carry each optimiser's learning rate
(``"lr"``) and the trainer's CPU and memory (``"sys"``); evaluation lines carry
sample quality, and ``"kind": "resume"`` lines mark where a run was resumed (with
what it changed). Each is charted as a series of its own (or a mark); a value that
is not a finite number, or a name that is not short text, is skipped.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genbench.errors import UsageError
from genbench.options import LISTED_STATUSES, STEP_MAX
from genbench.runfolder.ownership import RunLock
from genbench.runfolder.record import RunRecord
from genbench.runfolder.runs import (
    EVAL_FILE,
    FINAL,
    LATEST_SAMPLE,
    METRICS_FILE,
    RUN_FILE,
    RunSummary,
    effective_status,
    oldest_first,
    read_run_json,
    record_kind,
    run_quality,
    summarize,
)
from genbench.runfolder.untrusted import (
    EVAL_JSON_MAX,
    UnreadableFile,
    clean_text,
    loads_line,
    open_regular,
    read_json,
)
from genbench.tui.launcher import LOG_NAME

POLL_BYTES = 2 << 20  # read at most this much of metrics.jsonl per poll
SKIM_OVER = 32 << 20  # a larger unread backlog is sampled, not read whole
SKIM_WINDOWS = 1024  # ... in this many windows spread over it
SKIM_WINDOW = 4096  # ... of this many bytes each (a few dozen lines)
LINE_MAX = 1 << 20  # a longer line is not one genbench wrote: skipped
SERIES_MAX = 2000  # points kept per charted series
NAMES_MAX = 16  # distinct losses charted per run; more are ignored
NAME_LEN = 64  # characters of a loss name kept


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _number(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (bools, strings, 1e400 ints)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


# Numbers of the trainer's live evaluations charted over steps, with their titles.
QUALITY_SERIES = {
    "fd": "FD (live)",
    "classes_covered": "classes covered",
    "modes_covered": "modes covered",
    "high_quality": "high quality",  # share of toy samples within 3 std of a mode
}
# Those of them that count something: charted with whole-number ticks.
COUNT_SERIES = frozenset({QUALITY_SERIES["classes_covered"], QUALITY_SERIES["modes_covered"]})
# The trainer's process over the run (a metrics line's "sys"), with their titles.
SYSTEM_SERIES = {"cpu": "CPU %", "rss_mb": "memory MB"}
LR_TITLE = "lr"  # an optimiser's learning rate is charted as "lr NAME"
MARKS_MAX = 256  # resume marks kept per run (the latest)
MARK_LEN = 200  # characters of a mark's label


def _finite(value: Any) -> float | None:
    """A finite JSON number as a float; None for anything else."""
    v = _number(value)
    return v if v is not None and math.isfinite(v) else None


def _short_value(value: Any) -> str:
    """A changed setting's value from a metrics line, as short plain text."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)[:40]
    except (TypeError, ValueError, RecursionError):
        return "?"


def mark_label(changes: Any, resumed: bool = True) -> str:
    """``resumed: lr 0.0002→0.0001, precision fp32→bf16`` from a list of changes
    (dicts of a resume line, or run.json's Change records), cleaned and bounded."""
    parts = []
    for change in changes[:20] if isinstance(changes, list) else ():
        if not isinstance(change, dict):  # run.json's Change records
            change = vars(change) if hasattr(change, "__dict__") else {}
        key, old, new = change.get("key"), change.get("old"), change.get("new")
        if isinstance(key, str):
            parts.append(f"{key} {_short_value(old)}→{_short_value(new)}")
    head = "resumed" if resumed else "settings changed"
    return clean_text(f"{head}: {', '.join(parts)}" if parts else head, MARK_LEN)


def _lower(a: float, b: float) -> bool:
    """a should stand for the bucket's minimum rather than b (NaN only if both are)."""
    return b != b or (a == a and a < b)


def _higher(a: float, b: float) -> bool:
    return b != b or (a == a and a > b)


class BoundedSeries:
    """(step, value) points, never more than ``cap`` however many are added.

    Points fall into buckets of ``stride`` consecutive records; each bucket keeps
    its lowest and its highest value at their steps, so a spike stays visible when
    a long history is squeezed. When there are too many buckets, neighbours merge
    in pairs and the stride doubles. The newest point is always kept as is.
    """

    __slots__ = (
        "cap",
        "stride",
        "count",
        "_done",
        "_open",
        "_open_n",
        "_last",
        "_cols",
        "_cols_at",
    )

    def __init__(self, cap: int = SERIES_MAX):
        self.cap = max(cap, 5)
        self.stride = 1
        self.count = 0  # records added, ever
        self._done: list[list] = []  # [x_lo, y_lo, x_hi, y_hi]
        self._open: list | None = None
        self._open_n = 0
        self._last: tuple[int, float] | None = None
        self._cols: tuple[list, list] = ([], [])
        self._cols_at = 0

    @property
    def _buckets_max(self) -> int:
        # 2 points a bucket, one open bucket, and the newest point: at most cap.
        return (self.cap - 1) // 2 - 1

    def add(self, x: int, y: float) -> None:
        self.count += 1
        self._last = (x, y)
        b = self._open
        if b is None:
            b = self._open = [x, y, x, y]
            self._open_n = 1
        else:
            if _lower(y, b[1]):
                b[0], b[1] = x, y
            if _higher(y, b[3]):
                b[2], b[3] = x, y
            self._open_n += 1
        if self._open_n >= self.stride:
            self._done.append(b)
            self._open, self._open_n = None, 0
            if len(self._done) > self._buckets_max:
                self._merge()

    def _merge(self) -> None:
        done, merged = self._done, []
        for i in range(0, len(done) - 1, 2):
            a, b = done[i], done[i + 1]
            lo = a if not _lower(b[1], a[1]) else b
            hi = a if not _higher(b[3], a[3]) else b
            merged.append([lo[0], lo[1], hi[2], hi[3]])
        if len(done) % 2:
            merged.append(done[-1])
        self._done = merged
        self.stride *= 2

    def columns(self) -> tuple[list, list]:
        """Steps and values in order, at most ``cap`` of them (cached until the next add)."""
        if self._cols_at == self.count:
            return self._cols
        xs: list = []
        ys: list = []
        buckets = self._done + ([self._open] if self._open is not None else [])
        for x_lo, y_lo, x_hi, y_hi in buckets:
            if x_lo == x_hi and (y_lo == y_hi or y_lo != y_lo):
                xs.append(x_lo)
                ys.append(y_lo)
            elif x_lo <= x_hi:
                xs += [x_lo, x_hi]
                ys += [y_lo, y_hi]
            else:
                xs += [x_hi, x_lo]
                ys += [y_hi, y_lo]
        if (
            self._last is not None
            and (not xs or (xs[-1], ys[-1]) != self._last)
            and not (
                xs
                and xs[-1] == self._last[0]
                and ys[-1] != ys[-1]
                and self._last[1] != self._last[1]
            )
        ):
            xs.append(self._last[0])
            ys.append(self._last[1])
        self._cols, self._cols_at = (xs, ys), self.count
        return self._cols

    def __len__(self) -> int:
        return len(self.columns()[0])


class History:
    """The logged values of one run, as bounded columns (at most SERIES_MAX points
    a series, at most NAMES_MAX losses)."""

    def __init__(self, cap: int = SERIES_MAX):
        self.cap = cap
        self.records = 0  # loss records read (skimmed ones too)
        self.last_step: int | None = None
        self.img_per_s: float | None = None
        self.evaluation: dict | None = None  # the last {"kind": "eval"} record's numbers
        self.skimmed = False  # part of a huge log was sampled, not read
        self._log = BoundedSeries(cap)  # step -> time
        self._losses: dict[str, BoundedSeries] = {}
        self._quality: dict[str, BoundedSeries] = {}
        self._lr: dict[str, BoundedSeries] = {}
        self._system: dict[str, BoundedSeries] = {}
        self.marks: dict[int, str] = {}  # resume lines: step -> label (the latest per step)

    # Columns, as (steps, values) lists, for the charts.
    @property
    def steps(self) -> list:
        return self._log.columns()[0]

    @property
    def times(self) -> list:
        return self._log.columns()[1]

    @property
    def losses(self) -> dict[str, tuple[list, list]]:
        return {name: s.columns() for name, s in self._losses.items()}

    @property
    def quality(self) -> dict[str, tuple[list, list]]:
        """Live sample quality by title (QUALITY_SERIES): FD, classes or modes
        covered, the high-quality share."""
        return {name: s.columns() for name, s in self._quality.items()}

    @property
    def lr(self) -> dict[str, tuple[list, list]]:
        """Each optimiser's learning rate, by title (``lr g``, ``lr d``)."""
        return {name: s.columns() for name, s in self._lr.items()}

    @property
    def system(self) -> dict[str, tuple[list, list]]:
        """The trainer's CPU (percent of one core) and resident memory (MB), by title
        (SYSTEM_SERIES)."""
        return {name: s.columns() for name, s in self._system.items()}

    def add(self, rec: dict) -> None:
        step = rec.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= STEP_MAX:
            return
        kind = record_kind(rec)
        if kind == "eval":  # sample quality, not a training interval
            ev = rec.get("eval")
            if isinstance(ev, dict):
                self.evaluation = {"step": step, **ev}
                for key, title in QUALITY_SERIES.items():
                    value = _number(ev.get(key))
                    if value is not None:
                        series = self._series(self._quality, title)
                        if series is not None:  # always: 4 names, under NAMES_MAX
                            series.add(step, value)
            return
        if kind == "resume":
            self._add_mark(step, rec.get("resume"))
            return
        if kind is not None:
            return  # a kind this version does not know
        self.records += 1
        self.last_step = step
        t = _number(rec.get("time"))
        self._log.add(step, float("nan") if t is None else t)
        speed = _number(rec.get("img_per_s"))
        if speed is not None:
            self.img_per_s = speed
        losses = rec.get("losses")
        if isinstance(losses, dict):
            for name, value in losses.items():
                series = self._series(self._losses, str(name)[:NAME_LEN])
                if series is not None:
                    # null is how the writer spells a non-finite loss
                    v = _number(value)
                    series.add(step, float("nan") if v is None else v)
        self._add_numbers(step, rec.get("lr"), self._lr, lambda name: f"{LR_TITLE} {name}")
        self._add_numbers(step, rec.get("sys"), self._system, SYSTEM_SERIES.get)

    def _add_numbers(
        self, step: int, numbers: Any, table: dict, title: Callable[[str], str | None]
    ) -> None:
        """A line's dict of extra numbers (lr, sys) into ``table``'s series, by
        ``title(name)`` (None: not charted). Only finite numbers under short
        printable names: a gap in such a series is no news, unlike a loss's."""
        if not isinstance(numbers, dict):
            return
        for name, value in list(numbers.items())[:NAMES_MAX]:
            v = _finite(value)
            if v is None or not isinstance(name, str) or not name.isprintable():
                continue
            key = title(name[:NAME_LEN])
            series = self._series(table, key) if key is not None else None
            if series is not None:
                series.add(step, v)

    def _add_mark(self, step: int, resume: Any) -> None:
        changes = resume.get("changes") if isinstance(resume, dict) else None
        self.marks.pop(step, None)  # the same step resumed again: the latest says it
        self.marks[step] = mark_label(changes)
        while len(self.marks) > MARKS_MAX:
            del self.marks[next(iter(self.marks))]

    def _series(self, table: dict, name: str) -> BoundedSeries | None:
        series = table.get(name)
        if series is None and len(table) < NAMES_MAX:
            series = table[name] = BoundedSeries(self.cap)
        return series


class RunTail:
    """One run folder, followed as it grows. Call :meth:`poll` on a timer."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.meta: RunRecord | None = None  # once run.json was read
        self.history = History()
        self.behind = False  # more of metrics.jsonl is waiting to be read
        self._meta_error: str | None = None
        self._metrics_error: str | None = None
        self._offset = 0
        self._partial = b""
        self._skip_line = False  # inside an overlong or cut line: drop up to its end
        self._metrics_ino: int | None = None
        self._meta_key: tuple | None = None
        self._sample_key: tuple | None = None
        self._eval_key: tuple | None = None
        # What `genbench eval` measured (eval.json): run_quality()'s figures and the
        # step evaluated, or None while there is no readable eval.json.
        self.final_quality: dict | None = None
        # Before run.json exists: the last set-up phase the trainer printed to the
        # launch log of a run this workbench started ("" when none is known).
        self._launch_phase = ""
        self._launch_key: tuple | None = None

    @property
    def error(self) -> str | None:
        """Why this run cannot be read (one line, cleaned for the screen), or None."""
        return self._meta_error or self._metrics_error

    @property
    def status(self) -> str:
        """run.json's status, judged against the lock: a side file that cannot be read
        (metrics.jsonl, eval.json) is said in :attr:`error`, never instead of it."""
        if self._meta_error or (self.meta is None and self.error):
            # A live trainer rewrites a damaged run.json within seconds: still running.
            return "running" if RunLock(self.path).live() else "unreadable"
        if self.meta is None:
            return "starting"
        return effective_status(self.meta, run_dir=self.path)

    @property
    def sample_path(self) -> Path:
        return self.path / LATEST_SAMPLE

    def poll(self) -> tuple[bool, bool]:
        """Read what changed. Returns (metrics or run.json changed, sample changed)."""
        changed = self._poll_meta()
        if self.meta is None or self.meta.status != "running":
            changed = self._poll_launch_log() or changed
        changed = self._poll_metrics() or changed
        changed = self._poll_eval() or changed
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
            self._meta_error = (
                None
                if self.path.is_dir() or self.meta is None
                else clean_text(f"{self.path} is gone", 500)
            )
            return True
        try:
            self.meta = read_run_json(self.path)
            self._meta_error = None
        except UsageError as exc:
            self._meta_error = clean_text(exc, 500)
        except (OSError, ValueError, RecursionError) as exc:
            self._meta_error = clean_text(f"{self.path / RUN_FILE} cannot be read: {exc}", 500)
        return True

    def _poll_launch_log(self) -> bool:
        """The set-up phase a trainer this workbench started is in, from its launch
        log (beside the run folder until the trainer makes it, then inside): the log's
        last line, when that is a "phase" event written after run.json (a resume sets
        up while run.json still says how the run last ended). Read only when the log
        changed, and only its last LAUNCH_TAIL bytes: untrusted, like every file
        under the runs folder."""
        phase = ""
        for log in launch_logs(self.path):
            key = _stat_key(log)
            if key is None:
                continue
            if key == self._launch_key:
                return False
            self._launch_key = key
            meta = self._meta_key
            if meta is None or key[1] >= meta[1]:
                phase = last_phase(log) or ""
            break
        changed = phase != self._launch_phase
        self._launch_phase = phase
        return changed

    @property
    def phase(self) -> str:
        """What the trainer says it is doing where no step is counted, cleaned for the
        screen: before run.json exists (or while a resume sets up), its set-up phase
        from the launch log ("starting: loading fashion-mnist"), then run.json's
        message while the run is running (the first step, an evaluation, a
        checkpoint); "" when it is training, or not running and not resuming."""
        if self.error:
            return ""
        if self.meta is not None and self.status == "running":
            return clean_text(self.meta.message, 300)
        return self._launch_phase

    @property
    def marks(self) -> list[tuple[int, str]]:
        """(step, label) where the run was resumed or its settings changed, in step
        order: metrics.jsonl's resume lines, and run.json's recorded changes for
        steps without one (a run resumed before resumes were marked)."""
        marks = dict(self.history.marks)
        by_step: dict[int, list] = {}
        for change in self.meta.changes if self.meta is not None else []:
            if change.step not in marks:
                by_step.setdefault(change.step, []).append(change)
        for step, changes in by_step.items():
            marks[step] = mark_label(changes, resumed=False)
        return sorted(marks.items())

    def _poll_eval(self) -> bool:
        """Re-read eval.json when its stat changes (`genbench eval` in another shell)."""
        key = _stat_key(self.path / EVAL_FILE)
        if key == self._eval_key:
            return False
        self._eval_key = key
        quality: dict | None = None
        if key is not None:
            try:
                # live=None: eval.json's figures alone, never the trainer's live check.
                quality = run_quality(self.path, None) or None
                saved = read_json(self.path / EVAL_FILE, EVAL_JSON_MAX, run_dir=self.path)
            except FileNotFoundError:
                quality = None
            except (UsageError, UnreadableFile, OSError, ValueError, RecursionError):
                quality = None  # half written or not genbench's: read again once it changes
            else:
                if quality is not None and isinstance(saved, dict):
                    step = saved.get("step")
                    quality["step"] = (
                        step if isinstance(step, int) and not isinstance(step, bool) else None
                    )
        changed = quality != self.final_quality
        self.final_quality = quality
        return changed

    def _poll_metrics(self) -> bool:
        path = self.path / METRICS_FILE
        try:
            fh = open_regular(path, None, run_dir=self.path)
        except FileNotFoundError:
            return self._set_metrics_error(None)
        except (UnreadableFile, OSError) as exc:
            # A link to /dev/zero, a FIFO, a folder: this run is unreadable, not the app.
            return self._set_metrics_error(clean_text(exc, 500))
        with fh:
            changed = self._set_metrics_error(None)
            st = os.fstat(fh.fileno())
            if st.st_ino != self._metrics_ino or st.st_size < self._offset:
                # Replaced or truncated (a resume rewrites the log): start over.
                self._metrics_ino, self._offset, self._partial = st.st_ino, 0, b""
                self._skip_line = False
                self.history = History()
                changed = True
            size = st.st_size
            if size == self._offset:
                self.behind = False
                return changed
            if size - self._offset > SKIM_OVER:
                # The first look at a huge log (or a sparse one): sample the old part
                # in small windows, then follow the newest POLL_BYTES line by line.
                self._skim(fh, self._offset, size - POLL_BYTES)
                self._offset, self._partial, self._skip_line = size - POLL_BYTES, b"", True
                changed = True
            fh.seek(self._offset)
            data = fh.read(min(size - self._offset, POLL_BYTES))
        self._offset += len(data)
        self.behind = self._offset < size
        return self._consume(data) or changed

    def _set_metrics_error(self, error: str | None) -> bool:
        changed = error != self._metrics_error
        self._metrics_error = error
        return changed

    def _consume(self, data: bytes) -> bool:
        """Parse the complete lines of ``data`` after what the last poll left over."""
        buf = self._partial + data
        if self._skip_line:
            cut = buf.find(b"\n")
            if cut < 0:
                self._partial = b""
                return False
            buf, self._skip_line = buf[cut + 1 :], False
        lines = buf.split(b"\n")
        # The last piece has no newline yet: a line still being written. Keep it,
        # unless it is already longer than any line genbench writes.
        self._partial = lines.pop()
        if len(self._partial) > LINE_MAX:
            self._partial, self._skip_line = b"", True
        added = False
        for line in lines:
            added = self._add_line(line) or added
        return added

    def _add_line(self, line: bytes) -> bool:
        if not line or len(line) > LINE_MAX:
            return False
        rec = loads_line(line)
        if not isinstance(rec, dict):
            return False
        self.history.add(rec)
        return True

    def _skim(self, fh, start: int, end: int) -> None:
        """Points from SKIM_WINDOWS windows spread evenly over [start, end): the
        complete lines inside each window. Bounded work whatever the span."""
        self.history.skimmed = True
        span = end - start
        if span <= 0:
            return
        for i in range(SKIM_WINDOWS):
            pos = start + span * i // SKIM_WINDOWS
            fh.seek(pos)
            lines = fh.read(min(SKIM_WINDOW, end - pos)).split(b"\n")
            # The first piece is the tail of a line begun before the window (unless
            # the window starts the file); the last is cut by the window's end.
            for line in lines[(0 if pos == 0 else 1) : -1]:
                self._add_line(line)

    # -- derived numbers ------------------------------------------------------

    @property
    def step(self) -> int:
        return max(self.meta.step if self.meta else 0, self.history.last_step or 0)

    @property
    def steps(self) -> int | None:
        return self.meta.steps if self.meta and self.meta.steps > 0 else None

    def eta_seconds(self) -> float | None:
        """Seconds left at the recent pace, or None when it cannot be told."""
        h = self.history
        steps, times = h.steps, h.times
        if self.steps is None or self.status != "running" or len(steps) < 2:
            return None
        # Pace over the last few log lines: steps per second of training time.
        i = max(0, len(steps) - 6)
        dt = times[-1] - times[i]
        ds = steps[-1] - steps[i]
        if not (dt > 0 and ds > 0):
            return None
        return max(0.0, (self.steps - self.step) * dt / ds)


LAUNCH_TAIL = 16384  # bytes of a launch log read for its last phase


def launch_logs(run_dir: Path) -> tuple[Path, Path]:
    """Where the workbench's launcher writes a new run's output: beside the folder
    until the trainer creates it, then inside (tui.launcher.spawn and adopt_log)."""
    return run_dir / LOG_NAME, run_dir.parent / f".{run_dir.name}.{LOG_NAME}"


def last_phase(log: Path) -> str | None:
    """The text of a launch log's last line when that is a ``{"event": "phase", ...}``
    (what `genbench run --json` prints while it sets up), cleaned; None when it is
    anything else (set-up is over: the start, an error) or the file is not a
    regular file."""
    try:
        with open_regular(log, None) as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - LAUNCH_TAIL))
            lines = fh.read(LAUNCH_TAIL).split(b"\n")
    except (OSError, UsageError):
        return None
    last = next((line for line in reversed(lines) if line.strip()), b"")
    rec = loads_line(last) if last.startswith(b"{") else None
    if isinstance(rec, dict) and rec.get("event") == "phase":
        text = rec.get("phase")
        return clean_text(text, 300) if isinstance(text, str) else None
    return None


def downsample(xs: list[int], ys: list[float], limit: int):
    """At most ``limit`` points, so a long history draws as fast as a short one: the
    points fall into ``limit // 2`` buckets of equal count, and each bucket keeps its
    lowest and its highest value at their steps (in step order). Averaging would
    hide the extremes, and the lowest loss is the one a user looks for."""
    import numpy as np  # here, not at the top: the runs list paints without numpy

    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    if len(x) <= limit or limit < 2:
        return x, y
    edges = np.linspace(0, len(x), limit // 2 + 1).astype(int)
    keep: list[int] = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b <= a:
            continue
        seg = y[a:b]
        ok = np.flatnonzero(np.isfinite(seg))
        if not len(ok):
            keep.append(int(a))  # all NaN: one point, which the chart leaves out
            continue
        lo = int(a + ok[np.argmin(seg[ok])])
        hi = int(a + ok[np.argmax(seg[ok])])
        keep.extend(sorted({lo, hi}))
    return x[keep], y[keep]


SETTLED = set(LISTED_STATUSES) - {"running"}


# A folder's mtime is trusted to say "nothing was added here" only once it is this
# much older than the poll: an entry added within the same filesystem clock tick as
# the stat (a coarse clock: milliseconds, a second on some filesystems) leaves the
# mtime as it was ("racy" timestamps, as git calls them).
RACY_S = 2.0


def _run_folders(root: Path) -> list[tuple[str, tuple[int, int] | None]]:
    """The names of the folders of ``root`` that may be runs (as iter_run_dirs: sorted,
    no dot folders, links to folders included), each with (inode, mtime) of the
    folder itself, or None where it cannot be stat'ed."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    out = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if not entry.is_dir():
                continue
            st = entry.stat()
            key: tuple[int, int] | None = (st.st_ino, st.st_mtime_ns)
        except OSError:
            key = None
        out.append((entry.name, key))
    out.sort()
    return out


class RunIndex:
    """Summaries of every run in a folder, re-read only for runs that changed.

    A folder without run.json (20,000 empty folders, say) is looked at again only
    when the folder itself changes (its mtime: a file created or renamed in it), and
    when no folder changed the list is not sorted again: an idle workbench on a
    large runs folder costs one stat per folder per poll, not a summary each."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: dict[str, tuple[tuple, RunSummary]] = {}  # by folder name
        self._order: list[RunSummary] | None = None

    def poll(self) -> list[RunSummary]:
        out = []
        seen = set()
        changed = False
        settled_before = time.time() - RACY_S
        for name, folder in _run_folders(self.root):
            seen.add(name)
            cached = self._cache.get(name)
            if (
                cached
                and folder is not None
                and cached[0][0] == folder
                and cached[0][1] is None
                and cached[1].status in SETTLED
                and folder[1] < settled_before * 1e9
            ):
                # No run.json when last looked, and nothing put in the folder since.
                out.append(cached[1])
                continue
            # eval.json too: `genbench eval` (or its damage) changes a finished run's row.
            d = cached[1].path if cached else self.root / name
            key = (
                folder,
                _stat_key(d / RUN_FILE),
                _stat_key(d / METRICS_FILE),
                _stat_key(d / EVAL_FILE),
            )
            # A running run is re-checked every time: its process may have died
            # without a word, which only the process table tells. A lost or
            # unreadable one changes only when one of its files does: a lost run's
            # 200 MB log is not read again every second.
            if cached and cached[0][1:] == key[1:] and cached[1].status in SETTLED:
                if cached[0] != key:
                    self._cache[name] = (key, cached[1])
                    changed = True  # the folder's time may order it differently
                out.append(cached[1])
                continue
            try:
                summary = summarize(d)
            except Exception as exc:  # noqa: BLE001 - one run must not take the list down
                summary = RunSummary(
                    path=d,
                    id=d.name,
                    status="unreadable",
                    error=clean_text(f"{type(exc).__name__}: {exc}", 300),
                )
            self._cache[name] = (key, summary)
            out.append(summary)
            changed = True
        for gone in set(self._cache) - seen:
            del self._cache[gone]
            changed = True
        if changed or self._order is None or len(self._order) != len(out):
            self._order = oldest_first(out)
        return list(self._order)


# Status changes worth telling the user about, from a running run.
ENDINGS = FINAL | {"lost"}


@dataclass(frozen=True)
class Transition:
    """One change of a run seen between two polls: ``kind`` is the new status
    (completed, stopped, failed, diverged, lost), or "collapse" when the run's
    sample quality newly reports mode collapse."""

    kind: str
    summary: RunSummary


class RunWatch:
    """The runs folder polled for changes worth a notification, whoever writes the
    runs (this app's children, `genbench run --headless` elsewhere, a copy).

    The first poll only learns what is there: a run already finished, or already
    collapsed, when the app opened is not news. After that each poll returns the
    runs that went from running to a final status or to lost, and those whose
    quality turned to collapse, once each. Collapse follows the trainer's own alarm:
    a fresh generator covers few modes until it spreads out, so low coverage is news
    only once a run's coverage was seen healthy and is lost, or when the run ends
    without reaching it."""

    def __init__(self, root: Path):
        self.index = RunIndex(root)
        self._seen: dict[Path, tuple[str, bool]] | None = None
        self._healthy: set[Path] = set()  # runs whose coverage was seen healthy

    def poll(self) -> list[Transition]:
        summaries = self.index.poll()
        now = {s.path: (s.status, s.collapse) for s in summaries}
        was_healthy = set(self._healthy)
        self._healthy |= {s.path for s in summaries if s.coverage and not s.collapse}
        before, self._seen = self._seen, now
        if before is None:
            return []
        out = []
        for s in summaries:
            old = before.get(s.path)
            if old is None:
                continue  # new since the last poll: not a change of a run we knew
            old_status, old_collapse = old
            ended = old_status == "running" and s.status in ENDINGS
            if ended:
                out.append(Transition(s.status, s))
            lost = s.collapse and not old_collapse and s.path in was_healthy
            never = s.collapse and ended and s.path not in was_healthy
            if lost or never:
                out.append(Transition("collapse", s))
        return out
