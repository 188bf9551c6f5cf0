"""The run directory: create, read, list (the trainer writes it through
genbench.runfolder.writer).

    runs/<id>/run.json          what the run is and how it is doing (atomic writes)
    runs/<id>/metrics.jsonl     one JSON object per logged step (appended, flushed per line);
                                records with "kind": "eval" hold live sample quality
    runs/<id>/samples/          step-NNNNNNN.png from fixed noise, and latest.png
    runs/<id>/checkpoints/last.pt
    runs/<id>/eval.json         sample quality of the last checkpoint (`genbench eval`)

Every file except metrics.jsonl is replaced atomically (temp file + rename), so a
reader never sees half a file; readers of metrics.jsonl skip a truncated or
garbled line. This module does not import torch: the TUI and plain scripts use it.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import stat
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import EllipsisType
from typing import IO, Any

from genbench.errors import UsageError
from genbench.options import TRAINER_STATUSES

# A running run whose heartbeat is older than STALE_AFTER_S, and whose process is gone,
# is shown as lost.
from genbench.runfolder.ownership import (  # noqa: F401
    LOCK_FILE,
    STALE_AFTER_S,
    RunLock,
    heartbeat_fresh,
    is_process,
    pid_alive,
    written_by_trainer,
)
from genbench.runfolder.record import RUN_FILE, RunRecord
from genbench.runfolder.untrusted import (
    EVAL_JSON_MAX,
    clean_text,
    loads_line,
    open_regular,
    read_json,
    safe_target,
)

METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
CHECKPOINTS_DIR = "checkpoints"
CHECKPOINT = "checkpoints/last.pt"


def kept_checkpoint(step: int) -> str:
    """The run-folder path of the checkpoint kept at ``step`` (`genbench run
    --keep-every K`) besides last.pt."""
    return f"{CHECKPOINTS_DIR}/step-{step:07d}.pt"


LATEST_SAMPLE = "samples/latest.png"
EVAL_FILE = "eval.json"  # written by `genbench eval` (genbench.metrics)

# How a trainer ends: what it writes into run.json after "running".
FINAL = set(TRAINER_STATUSES) - {"running"}


def default_runs_dir() -> Path:
    return Path(os.environ.get("GENBENCH_RUNS") or "runs")


def folder_id(run_dir: Path) -> str:
    """A run's id: its folder's name, with any byte that is not UTF-8 written as
    ``\\xff`` (Python keeps such bytes as lone surrogates, which every printer drops:
    a folder named b'\\xff\\xfe' showed as an empty id, and two such folders alike)."""
    return os.fsencode(Path(run_dir).name).decode("utf-8", "backslashreplace")


# -- atomic files --------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it; set straight back
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half.

    The file gets the mode a plain open() would give it (0666 less the umask), not
    mkstemp's 0600, so a run folder shared with other users stays readable. A
    ``path`` that is a link is replaced by the new file, never written through."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_atomic_at(dir_fd: int, name: str, data: bytes) -> None:
    """write_atomic into the folder open as ``dir_fd``, wherever it is now: the temp
    file and the rename are relative to that folder, never to a path, and a link
    named ``name`` is replaced, never followed."""
    tmp = f".{name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666 & ~_umask(), dir_fd=dir_fd
    )
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, default=_jsonable) + "\n").encode())


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


# -- reading -------------------------------------------------------------------


def record_kind(rec: dict[str, Any]) -> str | None:
    """None for a loss record (one per log interval); "eval" for a sample-quality
    record, which the trainer writes every eval interval (see genbench.metrics)."""
    kind = rec.get("kind")
    return kind if isinstance(kind, str) else None


# A metrics line longer than this is not one genbench wrote: it is skipped unread.
LINE_MAX = 1 << 20


def iter_lines(fh: IO[bytes], start: int = 0, limit: int | None = None) -> Iterator[bytes]:
    """Complete lines of an open file from byte ``start``, at most ``limit`` bytes
    read in all, each at most LINE_MAX long (a longer one is skipped in pieces, so
    a file of one 50 GB line costs a bounded buffer)."""
    fh.seek(start)
    read = 0
    pending = b""
    while limit is None or read < limit:
        chunk = fh.read(1 << 16 if limit is None else min(1 << 16, limit - read))
        if not chunk:
            break
        read += len(chunk)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from (line for line in lines if len(line) <= LINE_MAX)
        if len(pending) > LINE_MAX:
            pending = b"\xff"  # the rest of an overlong line: garbage until its newline
    if pending and len(pending) <= LINE_MAX:
        yield pending  # a last line without its newline (a reader skips it if cut)


def _metric_record(line: bytes, kind: str | None, rec: Any = ...) -> dict[str, Any] | None:
    rec = loads_line(line) if rec is ... else rec
    if (
        isinstance(rec, dict)
        and isinstance(rec.get("step"), int)
        and not isinstance(rec.get("step"), bool)
        and record_kind(rec) == kind
    ):
        return rec
    return None


def read_metrics(path: Path, after_line: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
    """Records of one kind (default: loss records) from a metrics.jsonl file,
    skipping truncated or garbled lines. The whole file is read: for scripts and
    tests; the workbench and the runs table read incrementally or only the tail."""
    records = []
    try:
        with open_regular(path, None, run_dir=Path(path).parent) as fh:
            for i, line in enumerate(iter_lines(fh)):
                if i >= after_line and (rec := _metric_record(line, kind)) is not None:
                    records.append(rec)
    except FileNotFoundError:
        pass
    return records


def read_run_json(run_dir: Path) -> RunRecord:
    """The run's typed record, or a UsageError (one line) saying why this is not a
    readable run."""
    if not Path(run_dir).is_dir():
        raise UsageError(f"{run_dir} is not a folder")
    return RunRecord.read(Path(run_dir))


def effective_status(
    meta: RunRecord, now: float | None = None, *, run_dir: Path | None = None
) -> str:
    """The status to show: a 'running' run whose writer is gone is 'lost'.

    Given the run's folder, its lock decides where there is one: the run is running
    while a live process holds the lock by identity (ownership.holds_lock: pid 1
    named in a lock someone wrote is not its owner), and lost when nobody does,
    whatever pid run.json names. Without a lock, run.json's writer must be a live
    genbench process on this machine (ownership.written_by_trainer: never a `sleep`
    that run.json names). Another machine's run is judged by its heartbeat, within
    the clock skew allowed (ownership.heartbeat_fresh)."""
    if meta.status != "running":
        return meta.status
    now = time.time() if now is None else now
    if meta.host == socket.gethostname():
        if run_dir is not None and (held := RunLock(run_dir).live()) is not None:
            alive = held
        else:
            # Same machine: trust the process table over the clock, by pid and start
            # time, so that a pid recycled for another process is not the trainer.
            alive = written_by_trainer(meta.pid, meta.pid_start, meta.heartbeat)
    else:
        alive = heartbeat_fresh(
            meta.heartbeat, now, _mtime(run_dir / RUN_FILE) if run_dir is not None else None
        )
    if alive:
        return "running"
    return _finished_meanwhile(run_dir) or "lost"


def _mtime(path: Path) -> float | None:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return None


def _finished_meanwhile(run_dir: Path | None) -> str | None:
    """run.json's final status if the trainer wrote it since ``meta`` was read. A
    trainer writes its last run.json and only then lets go of its lock and exits:
    a run read as running just before that, and judged just after, finished; it
    was not lost."""
    if run_dir is None:
        return None
    try:
        status = RunRecord.read(Path(run_dir)).status
    except UsageError:
        return None
    return status if status in FINAL else None


@dataclass
class RunSummary:
    """One run as the tables show it."""

    path: Path
    id: str
    model: str = "?"
    dataset: str = "?"
    status: str = "failed"
    step: int = 0
    steps: int | None = None
    losses: dict[str, float] = field(default_factory=dict)
    img_per_s: float | None = None
    created: str = ""
    message: str = ""
    error: str | None = None  # set when the run folder could not be read
    # Why a side file (metrics.jsonl, eval.json) could not be read: shown beside the
    # run, never instead of its status, which run.json and the lock decide.
    side_error: str | None = None
    # Sample quality: from eval.json when `genbench eval` ran, else the trainer's
    # last live evaluation (fewer samples: not comparable with eval.json's FD).
    fd: float | None = None
    coverage: tuple[int, int] | None = None  # (classes or modes covered, of how many)
    quality_source: str | None = None  # "eval.json" or "live"
    quality_samples: int | None = None
    collapse: bool = False
    # The evaluation's own words on a collapse (which classes, or how few covered),
    # cleaned of control characters; "" when it gave none.
    quality_warning: str = ""
    # The sweep it is a member of (run.json's sweep) and its point there: what the
    # sweep varies, seed included. None and {} for a run of its own.
    sweep: str | None = None
    sweep_point: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": str(self.path),
            "model": self.model,
            "dataset": self.dataset,
            "status": self.status,
            "step": self.step,
            "steps": self.steps,
            "losses": self.losses,
            "img_per_s": self.img_per_s,
            "created": self.created,
            "message": self.message,
            "error": self.error,
            "fd": self.fd,
            "coverage": list(self.coverage) if self.coverage else None,
            "quality_source": self.quality_source,
            "quality_samples": self.quality_samples,
            "collapse": self.collapse,
            "side_error": self.side_error,
            "sweep": self.sweep,
            "sweep_point": self.sweep_point,
        }


# How far back from the end the runs table looks for a run's last record: eval
# records come every few log lines, so a few MiB of tail always holds both kinds
# for any file genbench writes, and bounds the cost of one that it did not.
TAIL_MAX = 4 << 20


def last_records(
    path: Path, kinds: tuple[str | None, ...] = (None, "eval")
) -> dict[str | None, dict[str, Any]]:
    """The last readable record of each kind (None: loss records; "eval") of a
    metrics file, by kind, reading only its tail: 16 KiB, growing up to TAIL_MAX
    until every kind is found. Raises UnreadableFile when the file is not a
    regular file of the run."""
    found: dict[str | None, dict[str, Any]] = {}
    try:
        with open_regular(path, None, run_dir=Path(path).parent) as fh:
            size = os.fstat(fh.fileno()).st_size
            tail = 16384
            while True:
                start = max(0, size - tail)
                lines = list(iter_lines(fh, start, limit=size - start))
                for line in reversed(lines[1:] if start else lines):  # first may be partial
                    rec = loads_line(line)
                    kind = record_kind(rec) if isinstance(rec, dict) else None
                    if (
                        kind in kinds
                        and kind not in found
                        and _metric_record(line, kind, rec) is not None
                    ):
                        found[kind] = rec
                if len(found) == len(kinds) or start == 0 or tail >= TAIL_MAX:
                    return found
                tail = min(tail * 16, TAIL_MAX)
    except FileNotFoundError:
        return found


def tail_records(path: Path, limit: int = TAIL_MAX) -> list[dict[str, Any]]:
    """Every readable record (both kinds) in the last ``limit`` bytes of a metrics
    file, in order: what a figure over "the end of the run" reads, at a bounded cost
    whatever the file's size. Raises UnreadableFile as last_records does."""
    out: list[dict[str, Any]] = []
    try:
        with open_regular(path, None, run_dir=Path(path).parent) as fh:
            size = os.fstat(fh.fileno()).st_size
            start = max(0, size - limit)
            lines = list(iter_lines(fh, start, limit=size - start))
            for line in lines[1:] if start else lines:  # the first may be partial
                rec = loads_line(line)
                if (
                    isinstance(rec, dict)
                    and _metric_record(line, record_kind(rec), rec) is not None
                ):
                    out.append(rec)
    except FileNotFoundError:
        pass
    return out


def run_quality(run_dir: Path, live: dict[str, Any] | None | EllipsisType = ...) -> dict[str, Any]:
    """FD and coverage of a run, torch-free: eval.json's summary (10,000 samples by
    default), unless the trainer's last live evaluation in metrics.jsonl is of a
    later step (the run was resumed after `genbench eval`)."""
    run_dir = Path(run_dir)
    source, summary, step = None, None, -1
    try:
        saved = read_json(run_dir / EVAL_FILE, EVAL_JSON_MAX, run_dir=run_dir)
        if isinstance(saved, dict) and isinstance(saved.get("summary"), dict):
            source, summary = EVAL_FILE, dict(saved["summary"], samples=saved.get("samples"))
            saved_step = saved.get("step")
            step = saved_step if isinstance(saved_step, int) else -1
    except FileNotFoundError:
        pass
    if live is ...:
        live = last_records(run_dir / METRICS_FILE, ("eval",)).get("eval")
    if live and isinstance(live.get("eval"), dict) and live["step"] > step:
        source, summary = "live", live["eval"]
    if summary is None:
        return {}
    covered = summary.get("classes_covered", summary.get("modes_covered"))
    total = summary.get("classes", summary.get("modes"))
    fd = summary.get("fd")
    return {
        "fd": fd if isinstance(fd, (int, float)) else None,
        "coverage": (covered, total)
        if isinstance(covered, int) and isinstance(total, int)
        else None,
        "quality_source": source,
        "quality_samples": summary.get("samples")
        if isinstance(summary.get("samples"), int)
        else None,
        "collapse": summary.get("collapse") is True,
        "quality_warning": clean_text(warning, 300)
        if isinstance(warning := summary.get("warning"), str)
        else "",
    }


def summarize(run_dir: Path) -> RunSummary:
    run_dir = Path(run_dir)
    try:
        meta = read_run_json(run_dir)
    except UsageError as exc:  # run.json unreadable: this run, not the table
        # Still running if a live trainer holds its lock (it rewrites run.json within
        # seconds): a damaged file never makes a live run look deletable.
        status = "running" if RunLock(run_dir).live() else "unreadable"
        return RunSummary(path=run_dir, id=folder_id(run_dir), status=status, error=str(exc))
    side: list[str] = []
    try:
        records = last_records(run_dir / METRICS_FILE)
    except UsageError as exc:
        records = {}
        side.append(str(exc))
    try:
        quality = run_quality(run_dir, records.get("eval"))
    except UsageError as exc:
        quality = {}
        side.append(str(exc))
    last = records.get(None) or {}
    raw_losses = last.get("losses")
    losses = raw_losses if isinstance(raw_losses, dict) else {}
    speed = last.get("img_per_s")
    return RunSummary(
        path=run_dir,
        id=folder_id(run_dir),
        model=meta.model,
        dataset=meta.dataset,
        status=effective_status(meta, run_dir=run_dir),
        step=meta.step,
        steps=meta.steps or None,
        losses={
            k: v
            for k, v in losses.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        },
        img_per_s=speed
        if isinstance(speed, (int, float)) and not isinstance(speed, bool)
        else None,
        created=meta.created,
        message=meta.message,
        side_error="; ".join(side) or None,
        sweep=meta.sweep.id if meta.sweep else None,
        sweep_point=dict(meta.sweep.point) if meta.sweep else {},
        **quality,
    )


def iter_run_dirs(root: Path) -> Iterator[Path]:
    root = Path(root)
    if not root.is_dir():
        return
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            yield child


def list_runs(root: Path) -> list[RunSummary]:
    """Every run under ``root``, oldest first; unreadable ones carry an error."""
    return oldest_first([summarize(d) for d in iter_run_dirs(root)])


_CREATED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def oldest_first(runs: list[RunSummary]) -> list[RunSummary]:
    """Runs in the order they were started: by run.json's ``created`` (a named run
    sorted by its name came after every timestamped one), by the folder's time when
    run.json has none or a malformed one, then by name."""

    def started(s: RunSummary) -> tuple[str, str]:
        created = s.created if isinstance(s.created, str) else ""
        if not _CREATED.match(created):
            try:
                created = datetime.fromtimestamp(s.path.stat().st_mtime).isoformat()
            except (OSError, ValueError, OverflowError):
                created = ""
        return created[:19], s.path.name

    return sorted(runs, key=started)


# -- writing -------------------------------------------------------------------


def check_writable(root: Path) -> Path:
    """Make sure runs can be created under ``root`` (creating it if needed)."""
    root = check_runs_dir(Path(root))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"runs dir {root} cannot be created: {exc.strerror}") from None
    if not root.is_dir():
        raise UsageError(f"runs dir {root} is not a folder")
    if not os.access(root, os.W_OK | os.X_OK):
        raise UsageError(f"runs dir {root} is not writable; pick another with --runs-dir")
    return root


def check_runs_dir(root: Path) -> Path:
    """Refuse (UsageError, before anything is made) a runs folder whose path holds a
    control character (a newline or an escape sequence would print as other lines or
    commands: the rule --name has), or that lies inside a run folder (its own folder,
    samples/ or checkpoints/): a run made there would be another run's files."""
    text = str(root)
    bad = sorted({c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")})
    if bad:
        raise UsageError(
            f"runs dir {text[:60]!r} contains "
            + " ".join(repr(c) for c in bad[:5])
            + ": use a path without control characters"
        )
    try:
        real = Path(os.path.realpath(root))
    except (OSError, ValueError):
        return root
    for folder in (real, *real.parents):
        if os.path.lexists(folder / RUN_FILE):
            where = "is" if folder == real else "lies inside"
            raise UsageError(
                f"runs dir {text} {where} the run folder {folder}; pick a folder "
                "outside every run (the runs folder holds run folders, never "
                "the other way round)"
            )
    return root


def new_run_id(model: str, dataset: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    return f"{stamp}-{model}-{safe}"


NAME_MAX_BYTES = 255  # the longest file name most filesystems take (UTF-8 bytes)


def validate_name(name: str) -> str:
    """A run's folder name: letters (any script), digits, - _ . only, not starting
    with '.', at most NAME_MAX_BYTES bytes of UTF-8."""
    bad = sorted({c for c in name if not (c.isalnum() or c in "-_.")})
    if not name or name.startswith(".") or bad:
        why = (
            "is empty"
            if not name
            else "starts with '.'"
            if name.startswith(".")
            else "contains " + " ".join(repr(c) for c in bad[:5])
        )
        raise UsageError(
            f"--name {name[:60]!r} is not a valid folder name: it {why} "
            "(use letters, digits, - _ . only, not starting with '.')"
        )
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > NAME_MAX_BYTES:
        raise UsageError(
            f"--name is {size} bytes long; a folder name can be at most "
            f"{NAME_MAX_BYTES} bytes (UTF-8)"
        )
    return name


def make_run_dir(root: Path, name: str | None, model: str, dataset: str) -> Path:
    """Create the run folder. A chosen name must be new; a generated id that is
    taken (two runs in the same second) gets a numeric suffix."""
    root = check_writable(root)
    if name is not None:
        path = root / validate_name(name)
        try:
            path.mkdir()
        except FileExistsError:
            raise UsageError(
                f"run {path} already exists; pick another --name or resume it with --resume {path}"
            ) from None
        return path
    return first_free(root, new_run_id(model, dataset), _made)


def _made(path: Path) -> bool:
    try:
        path.mkdir()
        return True
    except FileExistsError:
        return False


def first_free(root: Path, base: str, take: Callable[[Path], bool]) -> Path:
    """The first of ``root/base``, ``root/base-2`` ... ``root/base-999`` that ``take``
    accepts: it creates the folder (the trainer) or checks that none is there (the
    workbench, naming a run before its trainer starts). Two runs started in the same
    second get the same generated id; the suffix keeps them apart."""
    for n in range(1, 1000):
        path = Path(root) / (base if n == 1 else f"{base}-{n}")
        if take(path):
            return path
    raise UsageError(f"too many runs named {base} in {root}")


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinity replaced by None: strict JSON, which any
    parser reads (metrics lines, every --json output, `run --json` events)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


# The entries of a run folder genbench writes: none may be a link, or a write would
# land wherever the link points (as root, anywhere).
OWN_ENTRIES = (
    RUN_FILE,
    METRICS_FILE,
    SAMPLES_DIR,
    CHECKPOINTS_DIR,
    CHECKPOINT,
    LATEST_SAMPLE,
    EVAL_FILE,
    LOCK_FILE,
    "stop-request.txt",  # genbench.runfolder.stop.STOP_FILE (which imports this module)
)


def check_own_entries(run_dir: Path) -> None:
    """Refuse (one line) a run folder where any entry genbench writes is a link, or
    where a file genbench changes in place has another name (a hard link)."""
    for rel in OWN_ENTRIES:
        path = safe_target(run_dir, rel)
        if rel in IN_PLACE:
            try:
                refuse_hard_links(path, os.lstat(path))
            except FileNotFoundError:
                pass


# The files genbench changes in place (appends to, cuts short). Every other file is
# replaced whole (a temp file renamed over it), which leaves whatever a hard link
# shares alone; a change in place would reach the file's every other name.
IN_PLACE = (METRICS_FILE,)


def refuse_hard_links(path: Path, st: os.stat_result) -> None:
    """Refuse (UsageError) a file genbench would change in place that has more than
    one name: a hard link planted in a received run folder (to ~/.bashrc, say)
    would have it appended to, or cut, outside the folder."""
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        raise UsageError(
            f"{path} has {st.st_nlink} hard links (it is also a file outside "
            "this run); genbench appends to it, so it must be the run's own: "
            "replace it with a copy (cp, then mv over it) or remove it"
        )


def remove_temp_files(run_dir: Path) -> None:
    """Delete temp files a killed writer left behind (they are never read)."""
    for tmp in Path(run_dir).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


# How far back from the end a resume looks for its checkpoint's step in
# metrics.jsonl. Only the lines of one checkpoint interval come after it (under
# 200 bytes a log line: 64 MiB is over 300,000 of them), so this bounds the cost of
# a file genbench did not write (a sparse 50 GB one took over 5 minutes to rewrite).
RESUME_TAIL_MAX = 64 << 20


class _TooFarBack(Exception):
    pass


def truncate_metrics_after(run_dir: Path, step: int) -> None:
    """Drop metrics logged after ``step`` (a run killed after its last checkpoint),
    so a resumed run's log reads as one continuous history.

    genbench logs steps in order, so the lines to drop are the file's tail: it is
    read back from the end to the last line at or before ``step`` (at most
    RESUME_TAIL_MAX bytes, whatever the file's size) and cut there in place; a last
    line without its newline (a write cut short) goes too. A file with no such line
    in that tail is refused (UsageError) and left as it is."""
    path = safe_target(run_dir, METRICS_FILE)
    try:
        fh = open_regular(path, None, run_dir=Path(run_dir))
    except FileNotFoundError:
        return
    with fh:
        size = os.fstat(fh.fileno()).st_size
        cut = 0
        try:
            for end, line in _lines_backward(fh.fileno(), size, RESUME_TAIL_MAX):
                if line is not None and (found := _line_step(line)) is not None and found <= step:
                    cut = end
                    break
        except _TooFarBack:
            raise UsageError(
                f"{path} is {size / 1e9:.1f} GB and its last {RESUME_TAIL_MAX >> 20} MiB hold "
                f"no metrics line at or before step {step}, the checkpoint's: not a log "
                f"genbench wrote (one checkpoint interval logs far less); move it aside "
                f"to resume without it"
            ) from None
    if cut == size:
        return  # nothing logged after the checkpoint
    # The same file, not a new copy: it may be gigabytes before the cut.
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        refuse_hard_links(path, os.fstat(fd))  # a link made since the check: cut nothing
        os.ftruncate(fd, cut)
        os.fsync(fd)
    finally:
        os.close(fd)


_BACK_CHUNK = 1 << 16


def _lines_backward(fd: int, size: int, budget: int) -> Iterator[tuple[int, bytes | None]]:
    """A file's newline-terminated lines from its end back: (the offset just past
    the line's newline, the line, or None for one longer than LINE_MAX, whose bytes
    are not kept). The bytes after the last newline are skipped. Raises _TooFarBack
    once ``budget`` bytes have been read and more are needed."""
    pos = size  # buf holds the file's bytes from pos
    buf = b""
    hi = 0  # buf[:hi]: not yet split into lines
    end: int | None = None  # just past the newline of the line being gathered
    overlong = False
    while True:
        i = buf.rfind(b"\n", 0, hi)
        if i >= 0:
            if end is not None:
                yield end, None if overlong or hi - i - 1 > LINE_MAX else buf[i + 1 : hi]
            end, hi, overlong = pos + i + 1, i, False
            continue
        if hi > LINE_MAX:
            overlong, hi = True, 0  # the rest of this line is not kept
        buf = buf[:hi]
        if pos == 0:
            if end is not None:
                yield end, None if overlong else buf
            return
        if size - pos >= budget:
            raise _TooFarBack
        n = min(_BACK_CHUNK, pos)
        pos -= n
        chunk = os.pread(fd, n, pos)
        buf, hi = chunk.ljust(n, b"\0") + buf, hi + n


def _line_step(line: bytes) -> int | None:
    rec = loads_line(line)
    step = rec.get("step") if isinstance(rec, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None
