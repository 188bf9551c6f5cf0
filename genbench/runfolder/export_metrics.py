"""A run's metrics taken out of genbench after the fact: replayed through a logger
(``genbench export RUN --tensorboard``) or written as a CSV (``--csv``).

What a run folder holds is replayed as the trainer would have sent it: each
metrics.jsonl line (``Logger.metrics``), each sample grid ``samples/step-N.png``
(``Logger.samples``), eval.json's summary (``Logger.evaluation``) and the run's
status (``Logger.end``), in step order. Every file is untrusted: read through
``untrusted`` with its size cap, a line that is not a metrics record skipped, a
sample grid that is not a PNG genbench could have written refused in one line.
torch-free itself (a logger may import what it needs).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genbench import options
from genbench.errors import UsageError, one_line
from genbench.logger import (
    EVAL_PREFIX,
    LoggedRun,
    Logger,
    line_values,
    missing_message,
    number_values,
)
from genbench.runfolder.record import RunRecord
from genbench.runfolder.runs import (
    EVAL_FILE,
    METRICS_FILE,
    SAMPLES_DIR,
    folder_id,
    iter_lines,
    read_run_json,
    write_atomic,
)
from genbench.runfolder.untrusted import (
    EVAL_JSON_MAX,
    PIXELS_MAX,
    PNG_MAX,
    UnreadableFile,
    check_own_folder,
    loads_line,
    open_regular,
    read_bytes,
    read_json,
    safe_target,
)

TENSORBOARD = "tensorboard"  # the built-in logger's name, and its folder in a run
SAMPLE_NAME = re.compile(r"step-(\d{1,16})\.png")  # samples/step-0000500.png
SAMPLES_MAX = 100_000  # sample grids replayed at most (a run keeps one per interval)
STDOUT = "-"
EVENTS = "events.out.tfevents"  # how each TensorBoard event file's name begins


def logged_run(meta: RunRecord, run_dir: Path, start_step: int, resumed: bool) -> LoggedRun:
    """What a logger is told of a run, from its run.json."""
    record = meta.to_dict()
    recorded = {f.name: options.recorded(record, f) for f in options.option_fields()}
    return LoggedRun(
        dir=Path(run_dir),
        id=folder_id(run_dir),  # not run.json's id: a renamed run is its folder's name
        model=meta.model,
        dataset=meta.dataset,
        config=dict(meta.config),
        options={k: v for k, v in recorded.items() if v is not None},
        start_step=start_step,
        resumed=resumed,
    )


# -- what a run folder holds, in step order ------------------------------------------


def calls(run_dir: Path) -> Iterator[tuple[str, int, Any]]:
    """(method, step, argument) for each call a logger would have had, in step order:
    a step's metrics lines, then its sample grid, then an evaluation of it."""
    found: list[tuple[int, int, str, Any]] = []
    for record in _records(run_dir / METRICS_FILE, run_dir):
        step, values = line_values(record)
        if step is not None and values:
            found.append((step, 0, "metrics", values))
    found += [(step, 1, "samples", path) for step, path in _sample_grids(run_dir)]
    if evaluation := _evaluation(run_dir):
        found.append((evaluation[0], 2, "evaluation", evaluation[1]))
    found.sort(key=lambda item: (item[0], item[1]))  # stable: lines keep their order
    for step, _, method, argument in found:
        yield method, step, argument


def _records(path: Path, run_dir: Path) -> Iterator[dict[str, Any]]:
    try:
        with open_regular(path, None, run_dir=run_dir) as fh:
            for line in iter_lines(fh):
                record = loads_line(line)
                if isinstance(record, dict):
                    yield record
    except FileNotFoundError:
        return


def _sample_grids(run_dir: Path) -> list[tuple[int, Path]]:
    folder = run_dir / SAMPLES_DIR
    try:
        names = sorted(entry.name for entry in os.scandir(folder))[: SAMPLES_MAX * 2]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UsageError(f"{folder} cannot be read: {exc.strerror or exc}") from None
    grids = [(int(m.group(1)), folder / n) for n in names if (m := SAMPLE_NAME.fullmatch(n))]
    return sorted(grids)[:SAMPLES_MAX]


def _evaluation(run_dir: Path) -> tuple[int, dict[str, float]] | None:
    """eval.json's step and summary numbers, or None when there is none."""
    try:
        saved = read_json(run_dir / EVAL_FILE, EVAL_JSON_MAX, run_dir=run_dir)
    except FileNotFoundError:
        return None
    step = saved.get("step") if isinstance(saved, dict) else None
    summary = saved.get("summary") if isinstance(saved, dict) else None
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise UnreadableFile(f"{run_dir / EVAL_FILE}: step must be a whole number")
    if not isinstance(summary, dict):
        raise UnreadableFile(f"{run_dir / EVAL_FILE}: summary must be an object of numbers")
    return step, number_values(summary)


def checked_png(path: Path, run_dir: Path, into: Path) -> Path:
    """A sample grid checked (a regular file of the folder, under the PNG cap, a PNG
    of at most PIXELS_MAX pixels) and copied to ``into``: what a logger then opens
    is that copy, not a path the folder could swap."""
    from PIL import Image

    data = read_bytes(path, PNG_MAX, run_dir=run_dir)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG" or image.width * image.height > PIXELS_MAX:
                raise ValueError("not a PNG of at most 4096x4096 pixels")
            image.verify()
    except Exception as exc:  # noqa: BLE001 - a file of the folder: any failure is one line
        raise UnreadableFile(f"{path} is not a sample grid genbench wrote: {exc}") from None
    into.write_bytes(data)
    return into


# -- replay and CSV ------------------------------------------------------------------


def replay(run_dir: Path, logger: Logger) -> int:
    """Send a run folder's metrics, sample grids and evaluation through ``logger``
    as a run that starts at step 0; returns the calls made. A logger that raises
    is a UsageError naming it (nothing else is running here to keep going)."""
    run_dir = Path(run_dir)
    meta = read_run_json(run_dir)
    made = 0
    planned = list(calls(run_dir))  # metrics.jsonl and eval.json read before anything is sent
    with tempfile.TemporaryDirectory(prefix="genbench-export-") as scratch:
        _call(logger, "start", logged_run(meta, run_dir, 0, resumed=False))
        try:
            for method, step, argument in planned:
                if method == "samples":
                    argument = checked_png(argument, run_dir, Path(scratch) / "grid.png")
                _call(logger, method, step, argument)
                made += 1
        except BaseException:
            # Closed before the caller removes what it wrote: a writer left open
            # (TensorBoard's has a thread of its own) would write into a folder gone.
            with contextlib.suppress(Exception):
                logger.end("failed")
            raise
        _call(logger, "end", meta.status)
    return made


def _call(logger: Logger, method: str, *args: Any) -> None:
    try:
        getattr(logger, method)(*args)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything: one line
        raise UsageError(
            f"logger {type(logger).name!r}: {method}() raised {one_line(exc)}"
        ) from None


def export_tensorboard(
    run_dir: Path, out_dir: Path | None = None, logger_class: type[Logger] | None = None
) -> Path:
    """Event files of an earlier run, as ``--log tensorboard`` would have written
    them, in ``out_dir`` (default: the run folder's tensorboard/, where
    ``tensorboard --logdir runs/`` finds it). A folder that already holds event
    files is refused: a second copy of each step would be drawn twice.
    ``logger_class``: the registry's tensorboard logger (default: the built-in one,
    found by its entry point)."""
    run_dir = check_own_folder(Path(run_dir))
    read_run_json(run_dir)  # a folder that is not a run: one line before anything is made
    cls = logger_class or builtin_tensorboard()
    if problem := missing_message(cls):
        raise UsageError(problem)
    out = safe_target(run_dir, TENSORBOARD) if out_dir is None else Path(out_dir)
    if out.is_dir() and any(n.startswith(EVENTS) for n in os.listdir(out)):
        raise UsageError(
            f"{out} already holds TensorBoard event files (the run was logged with "
            "--log tensorboard, or exported before); give another folder"
        )
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is not a folder")
    before = set(os.listdir(out)) if out.exists() else None
    try:
        replay(run_dir, cls(log_dir=out))  # type: ignore[call-arg]  # the built-in's own
    except BaseException:
        _remove_begun(out, before)
        raise
    return out


def _remove_begun(out: Path, before: set[str] | None) -> None:
    """What a failed export began, and nothing else, goes again: the folder it made,
    or the event files it added to a folder that was there (which then holds none,
    so the export can be run again)."""
    if before is None:
        shutil.rmtree(out, ignore_errors=True)
        return
    try:
        begun = [n for n in os.listdir(out) if n not in before and n.startswith(EVENTS)]
    except OSError:
        return
    for name in begun:
        with contextlib.suppress(OSError):
            (out / name).unlink()


def builtin_tensorboard() -> type[Logger]:
    """The built-in tensorboard logger's class, through genbench's own entry point (the
    registry, which loads every plugin, is the CLI's to hand in)."""
    from importlib.metadata import entry_points

    for point in entry_points(group="genbench", name=TENSORBOARD):
        found = [c for c in point.load().genbench_loggers() if c.name == TENSORBOARD]
        if found:
            return found[0]
    raise UsageError("the built-in tensorboard logger is not installed (reinstall genbench)")


def csv_rows(run_dir: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows): one row per logged step, a column per metric (``loss/NAME``,
    ``speed/img_per_s``, ``quality/NAME``, ``eval/NAME``), blank where a step has none."""
    rows: dict[int, dict[str, Any]] = {}
    for method, step, argument in calls(Path(run_dir)):
        if method == "metrics":
            rows.setdefault(step, {"step": step}).update(argument)
        elif method == "evaluation":
            values = {EVAL_PREFIX + k: v for k, v in argument.items()}
            rows.setdefault(step, {"step": step}).update(values)
    names = sorted({k for row in rows.values() for k in row} - {"step"}, key=_column_order)
    return ["step", *names], [rows[step] for step in sorted(rows)]


def _column_order(name: str) -> tuple[int, str]:
    prefixes = ("loss/", "speed/", "quality/", EVAL_PREFIX)
    rank = next((i for i, p in enumerate(prefixes) if name.startswith(p)), len(prefixes))
    return rank, name


def export_csv(run_dir: Path, out_file: Path | str = STDOUT) -> int:
    """The run's metrics as CSV into ``out_file`` (written whole, atomically), or on
    stdout for ``-``; returns the rows written."""
    run_dir = Path(run_dir)
    read_run_json(run_dir)  # a folder that is not a run: one line
    columns, rows = csv_rows(run_dir)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    if str(out_file) == STDOUT:
        sys.stdout.write(text.getvalue())
        sys.stdout.flush()
    else:
        out = Path(out_file)
        if out.is_dir():
            raise UsageError(f"{out} is a folder; give a file name for the CSV")
        try:
            write_atomic(out, text.getvalue().encode())
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    return len(rows)
