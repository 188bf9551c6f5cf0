"""The run directory: create, append, read, list.

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
import socket
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from genbench.errors import UsageError
# A running run whose heartbeat is older than STALE_AFTER_S, and whose process is gone,
# is shown as lost.
from genbench.ownership import LOCK_FILE, STALE_AFTER_S, RunLock, pid_alive  # noqa: F401

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
CHECKPOINT = "checkpoints/last.pt"
LATEST_SAMPLE = "samples/latest.png"
EVAL_FILE = "eval.json"              # written by `genbench eval` (genbench.metrics)

HEARTBEAT_EVERY_S = 2.0

STATUSES = ("running", "completed", "stopped", "failed", "diverged", "lost")
FINAL = {"completed", "stopped", "failed", "diverged"}


def default_runs_dir() -> Path:
    return Path(os.environ.get("GENBENCH_RUNS") or "runs")


# -- atomic files --------------------------------------------------------------

def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, default=_jsonable) + "\n").encode())


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


# -- reading -------------------------------------------------------------------

def record_kind(rec: dict) -> str | None:
    """None for a loss record (one per log interval); "eval" for a sample-quality
    record, which the trainer writes every eval interval (see genbench.metrics)."""
    kind = rec.get("kind")
    return kind if isinstance(kind, str) else None


def read_metrics(path: Path, after_line: int = 0, kind: str | None = None) -> list[dict]:
    """Records of one kind (default: loss records) from a metrics.jsonl file,
    skipping truncated or garbled lines."""
    records = []
    try:
        with open(path, "rb") as fh:
            for i, line in enumerate(fh):
                if i < after_line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line still being written, or damaged
                if isinstance(rec, dict) and isinstance(rec.get("step"), int) \
                        and record_kind(rec) == kind:
                    records.append(rec)
    except FileNotFoundError:
        pass
    return records


def read_run_json(run_dir: Path) -> dict:
    """run.json as a dict, or a UsageError saying why this is not a readable run."""
    path = Path(run_dir) / RUN_FILE
    if not Path(run_dir).is_dir():
        raise UsageError(f"{run_dir} is not a folder")
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{run_dir} is not a genbench run (no {RUN_FILE})") from None
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise UsageError(f"{path} cannot be read: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), str) \
            or not isinstance(meta.get("dataset"), str):
        raise UsageError(f"{path} is not a genbench run description")
    return meta


def effective_status(meta: dict, now: float | None = None) -> str:
    """The status to show: a 'running' run whose writer is gone is 'lost'."""
    status = meta.get("status", "failed")
    if status != "running":
        return status if status in STATUSES else "failed"
    now = time.time() if now is None else now
    heartbeat = meta.get("heartbeat", 0)
    if not isinstance(heartbeat, (int, float)):
        heartbeat = 0
    stale = now - heartbeat > STALE_AFTER_S
    if meta.get("host") == socket.gethostname():
        # Same machine: trust the process table over the clock.
        return "running" if pid_alive(meta.get("pid")) else "lost"
    return "lost" if stale else "running"


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
    error: str | None = None     # set when the run folder could not be read
    # Sample quality: from eval.json when `genbench eval` ran, else the trainer's
    # last live evaluation (fewer samples: not comparable with eval.json's FD).
    fd: float | None = None
    coverage: tuple[int, int] | None = None     # (classes or modes covered, of how many)
    quality_source: str | None = None           # "eval.json" or "live"
    quality_samples: int | None = None
    collapse: bool = False

    def describe(self) -> dict:
        return {"id": self.id, "path": str(self.path), "model": self.model,
                "dataset": self.dataset, "status": self.status, "step": self.step,
                "steps": self.steps, "losses": self.losses, "img_per_s": self.img_per_s,
                "created": self.created, "message": self.message, "error": self.error,
                "fd": self.fd, "coverage": list(self.coverage) if self.coverage else None,
                "quality_source": self.quality_source, "quality_samples": self.quality_samples,
                "collapse": self.collapse}


def last_metrics(path: Path, kind: str | None = None) -> dict | None:
    """The last readable record of one kind (default: a loss record) of a metrics
    file, reading only its tail (the tail grows until a record is found)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size, tail = fh.tell(), 16384
            while True:
                fh.seek(max(0, size - tail))
                lines = fh.read().splitlines()
                for line in reversed(lines):
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(rec, dict) and isinstance(rec.get("step"), int) \
                            and record_kind(rec) == kind:
                        return rec
                if tail >= size:
                    return None
                tail *= 8
    except FileNotFoundError:
        return None


def run_quality(run_dir: Path) -> dict:
    """FD and coverage of a run, torch-free: eval.json's summary (10,000 samples by
    default), unless the trainer's last live evaluation in metrics.jsonl is of a
    later step (the run was resumed after `genbench eval`)."""
    run_dir = Path(run_dir)
    source, summary, step = None, None, -1
    try:
        saved = json.loads((run_dir / EVAL_FILE).read_text())
        if isinstance(saved, dict) and isinstance(saved.get("summary"), dict):
            source, summary = EVAL_FILE, dict(saved["summary"], samples=saved.get("samples"))
            step = saved.get("step") if isinstance(saved.get("step"), int) else -1
    except (OSError, ValueError):
        pass
    live = last_metrics(run_dir / METRICS_FILE, kind="eval")
    if live and isinstance(live.get("eval"), dict) and live["step"] > step:
        source, summary = "live", live["eval"]
    if summary is None:
        return {}
    covered = summary.get("classes_covered", summary.get("modes_covered"))
    total = summary.get("classes", summary.get("modes"))
    fd = summary.get("fd")
    return {"fd": fd if isinstance(fd, (int, float)) else None,
            "coverage": (covered, total) if isinstance(covered, int) and isinstance(total, int)
            else None,
            "quality_source": source,
            "quality_samples": summary.get("samples") if isinstance(summary.get("samples"), int)
            else None,
            "collapse": summary.get("collapse") is True}


def summarize(run_dir: Path) -> RunSummary:
    run_dir = Path(run_dir)
    try:
        meta = read_run_json(run_dir)
    except UsageError as exc:
        return RunSummary(path=run_dir, id=run_dir.name, error=str(exc))
    last = last_metrics(run_dir / METRICS_FILE) or {}
    losses = last.get("losses") if isinstance(last.get("losses"), dict) else {}
    step = meta.get("step")
    return RunSummary(
        path=run_dir, id=run_dir.name, model=meta["model"], dataset=meta["dataset"],
        status=effective_status(meta), step=step if isinstance(step, int) else 0,
        steps=meta.get("steps") if isinstance(meta.get("steps"), int) else None,
        losses={k: v for k, v in losses.items() if isinstance(v, (int, float))},
        img_per_s=last.get("img_per_s"), created=str(meta.get("created", "")),
        message=str(meta.get("message") or ""), **run_quality(run_dir),
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
    return [summarize(d) for d in iter_run_dirs(root)]


# -- writing -------------------------------------------------------------------

def check_writable(root: Path) -> Path:
    """Make sure runs can be created under ``root`` (creating it if needed)."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"runs dir {root} cannot be created: {exc.strerror}") from None
    if not root.is_dir():
        raise UsageError(f"runs dir {root} is not a folder")
    if not os.access(root, os.W_OK | os.X_OK):
        raise UsageError(f"runs dir {root} is not writable; pick another with --runs-dir")
    return root


def new_run_id(model: str, dataset: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    return f"{stamp}-{model}-{safe}"


def validate_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise UsageError(f"--name {name!r} is not a valid folder name "
                         "(letters, digits, - _ . ; no slashes)")
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
            raise UsageError(f"run {path} already exists; pick another --name "
                             f"or resume it with --resume {path}") from None
        return path
    base = new_run_id(model, dataset)
    for n in range(1, 1000):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise UsageError(f"too many runs named {base} in {root}")


class RunWriter:
    """The writing side of one run directory, used by the trainer's process.

    Holds the run's lock from creation until :meth:`close`.
    """

    def __init__(self, path: Path, meta: dict, lock: RunLock | None = None):
        self.path = Path(path)
        self.lock = lock or RunLock(self.path).acquire()
        self.meta = meta
        (self.path / SAMPLES_DIR).mkdir(exist_ok=True)
        (self.path / "checkpoints").mkdir(exist_ok=True)
        self._metrics = open(self.path / METRICS_FILE, "a", encoding="utf-8")
        self._last_beat = 0.0

    def update(self, **fields: Any) -> None:
        """Change fields of run.json and write it (with a fresh heartbeat)."""
        self.meta.update(fields)
        self.meta["heartbeat"] = time.time()
        self.meta["updated"] = datetime.now().isoformat(timespec="seconds")
        write_json_atomic(self.path / RUN_FILE, self.meta)
        self._last_beat = time.monotonic()

    def heartbeat(self, step: int) -> None:
        """Refresh run.json at most every HEARTBEAT_EVERY_S; cheap to call each step."""
        if time.monotonic() - self._last_beat >= HEARTBEAT_EVERY_S:
            self.update(step=step)

    def log(self, record: dict) -> None:
        # Strict JSON: a non-finite number is written as null, which any reader parses.
        self._metrics.write(json.dumps(_finite(record), allow_nan=False) + "\n")
        self._metrics.flush()

    def sample_path(self, step: int) -> Path:
        return self.path / SAMPLES_DIR / f"step-{step:07d}.png"

    def close(self) -> None:
        try:
            self._metrics.close()
        except OSError:
            pass            # a full disk can fail the final flush; the lock must still go
        self.lock.release()


class NullWriter:
    """The writer of a process that must not write the run folder: ranks other
    than 0 under torch.distributed."""

    def __init__(self, path: Path, meta: dict):
        self.path, self.meta = Path(path), meta

    def update(self, **fields: Any) -> None:
        self.meta.update(fields)

    def heartbeat(self, step: int) -> None:
        pass

    def log(self, record: dict) -> None:
        pass

    def sample_path(self, step: int) -> Path:
        return self.path / SAMPLES_DIR / f"step-{step:07d}.png"

    def close(self) -> None:
        pass


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    return obj


def remove_temp_files(run_dir: Path) -> None:
    """Delete temp files a killed writer left behind (they are never read)."""
    for tmp in Path(run_dir).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def truncate_metrics_after(run_dir: Path, step: int) -> None:
    """Drop metrics logged after ``step`` (a run killed after its last checkpoint),
    so a resumed run's log reads as one continuous history."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return
    keep = [line for line in path.read_bytes().splitlines(keepends=True)
            if _line_step(line) is not None and _line_step(line) <= step]
    write_atomic(path, b"".join(line if line.endswith(b"\n") else line + b"\n" for line in keep))


def _line_step(line: bytes) -> int | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    step = rec.get("step") if isinstance(rec, dict) else None
    return step if isinstance(step, int) else None
