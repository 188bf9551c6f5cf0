"""`genbench eval RUN`: measure a run's last checkpoint and write eval.json."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import genbench
from genbench.errors import UsageError
from genbench.runfolder.runs import EVAL_FILE, finite, folder_id, write_json_atomic
from genbench.runfolder.untrusted import safe_target

if TYPE_CHECKING:
    from genbench.registry import Registry

MIN_SAMPLES = 10
# At most this many samples (-n): 100 times the default, and checked before anything is
# drawn (-n 10**12 grew to 19 GB over two minutes with nothing printed).
MAX_SAMPLES = 1_000_000
# What eval holds per sample beyond the sample itself: a row of features, float64, at
# most Inception's 2048 wide.
FEATURE_BYTES = 2048 * 8


def check_sample_count(n: int | None) -> None:
    """-n from MIN_SAMPLES to MAX_SAMPLES (None: the default); UsageError otherwise."""
    if n is not None and not MIN_SAMPLES <= n <= MAX_SAMPLES:
        raise UsageError(
            f"-n must be from {MIN_SAMPLES} to {MAX_SAMPLES:,} samples, got "
            f"{n if abs(n) < 10**15 else f'{n:.3e}'}"
        )


def check_samples_fit(n: int, shape: tuple[int, ...]) -> None:
    """Refuse ``n`` samples of ``shape`` whose memory (the samples as float32 twice,
    drawn and converted, and their features) this process does not have."""
    from genbench.host.memory import check_fits

    numel = 1
    for size in shape:
        numel *= int(size)
    check_fits(
        n * (2 * 4 * numel + FEATURE_BYTES),
        f"-n {n:,} samples of shape {tuple(shape)} and their features",
    )


# progress(phase, done, total): what evaluate_run is doing, for a progress display.
# Phases in order: "restore" (the checkpoint), "reference" (the classifier and the
# real images' features; images only), "samples" (done of total drawn, after each
# batch), "metrics" (the samples' features and the metrics), "write" (eval.json).
# total is None for a phase that cannot count its work.
Progress = Callable[[str, int, "int | None"], None]

# metric -> (label for tables, how to print the value)
LABELS = {
    "fd": ("FD (classifier features)", "{:.3f}"),
    "kid": ("KID", "{:.5f}"),
    "precision": ("precision (k=3)", "{:.3f}"),
    "recall": ("recall (k=3)", "{:.3f}"),
    "classes_covered": ("classes covered", "{}"),
    "class_kl": ("KL(classes || uniform)", "{:.4f}"),
    "class_consistency": ("class consistency", "{:.3f}"),
    "modes_covered": ("modes covered", "{}"),
    "high_quality": ("high-quality samples", "{:.1%}"),
    "inception_fid": ("Inception FID", "{:.2f}"),
    "class_fd": ("FD per class (mean)", "{:.3f}"),
    "within_class_diversity": ("within-class diversity (least)", "{:.2f}"),
    "d_accuracy": ("discriminator accuracy", "{:.3f}"),
    "samples_per_s": ("generation speed (samples/s)", "{:,.0f}"),
    "loss_spread": ("loss spread", "{:.3f}"),
    "fd_spread": ("live FD spread", "{:.3f}"),
}


def evaluate_run(
    run_dir: Path,
    restore: Callable[[Path], tuple],
    n: int | None = None,
    seed: int = 0,
    inception: bool = False,
    progress: Progress | None = None,
    registry: Registry | None = None,
) -> dict:
    """Evaluate the run's checkpoint; write and return the eval.json record.

    ``restore(run_dir)`` gives (model, dataset, run record, checkpoint step): the
    caller supplies it (the CLI passes genbench.training.launch.restore_model), so
    metrics never imports training. ``progress`` is told each phase (see Progress);
    ``registry`` is the command's, for a dataset a plugin ships."""
    from genbench.metrics.evaluate import DEFAULT_SAMPLES, TOY_SAMPLES, evaluate

    check_sample_count(n)
    tell = progress or (lambda phase, done, total: None)
    run_dir = Path(run_dir)
    # Refused before anything is built or written: eval.json would land wherever a
    # linked run folder leads (untrusted.check_own_folder says why only the folder).
    safe_target(run_dir, EVAL_FILE)
    _preflight(run_dir, registry)
    tell("restore", 0, None)
    model, dataset, meta, step = restore(run_dir)
    points = dataset.spec.kind == "points"
    total = n or (TOY_SAMPLES if points else DEFAULT_SAMPLES)
    check_samples_fit(total, dataset.spec.shape)  # before a sample is drawn
    tell("samples" if points else "reference", 0, total if points else None)
    with _counting_samples(model, total, tell):
        result, about = evaluate(model, dataset, model.device, n=n, seed=seed, inception=inception)
    steadiness = _stability(run_dir, meta.steps or None)
    if steadiness is not None:
        window = {"from_step": steadiness["from_step"], "to_step": steadiness["to_step"]}
        for name, spread in steadiness["loss_spread"].items():
            result.add("loss_spread", spread, loss=name, **window)
        if steadiness["fd_spread"] is not None:
            result.add("fd_spread", steadiness["fd_spread"], **window)
    tell("write", 0, None)
    record = {
        # The folder names the run: run.json's id is the name it was made with, and a
        # rename (R in the workbench) moves the folder without rewriting run.json.
        "run": folder_id(run_dir),
        "model": meta.model,
        "dataset": meta.dataset,
        "step": step,
        "samples": about["samples"],
        "seed": seed,
        "device": str(model.device),
        "classifier": about.get("classifier"),
        "reference": about["reference"],
        "metrics": result.rows,
        "summary": result.summary,
        "stability": steadiness,
        "genbench": genbench.__version__,
        "created": datetime.now().isoformat(timespec="seconds"),
    }
    try:
        # Strict JSON (a NaN as null): every reader of eval.json refuses NaN and Infinity.
        write_json_atomic(safe_target(run_dir, EVAL_FILE), finite(record))
    except OSError as exc:
        raise UsageError(f"cannot write {run_dir / EVAL_FILE}: {exc.strerror or exc}") from None
    return record


def _stability(run_dir: Path, max_step: int | None = None) -> dict | None:
    """How steady the end of training was (genbench.metrics.criteria.stability),
    from the last 4 MiB of metrics.jsonl up to ``max_step`` (the run's planned
    end); None when it is unreadable or too short."""
    from genbench.metrics.criteria import stability
    from genbench.runfolder.runs import METRICS_FILE, tail_records
    from genbench.runfolder.untrusted import UnreadableFile

    try:
        return stability(tail_records(run_dir / METRICS_FILE), max_step)
    except UnreadableFile:
        return None


@contextmanager
def _counting_samples(model, total: int, tell: Progress) -> Iterator[None]:
    """Tell progress as ``model.sample`` is called: the samples drawn so far, and once
    all are drawn, that the features and metrics are being computed. Only this
    model object's ``sample`` is wrapped, and only while evaluating."""
    sample = model.sample
    own = vars(model).get("sample")  # an instance's own sample (rare) is put back as it was
    drawn = 0

    def counted(count, *args, **kwargs):
        nonlocal drawn
        out = sample(count, *args, **kwargs)
        drawn += int(count)
        tell("samples", min(drawn, total), total)
        if drawn >= total:
            tell("metrics", 0, None)
        return out

    model.sample = counted
    try:
        yield
    finally:
        if own is None:
            del model.sample  # back to the class's own method
        else:
            model.sample = own


def _preflight(run_dir: Path, registry: Registry | None) -> None:
    """The cheap checks, so a bad request fails before a model is built."""
    from genbench.data import run_dataset
    from genbench.metrics.classifier import read_card
    from genbench.runfolder.runs import CHECKPOINT, read_run_json

    meta = read_run_json(run_dir)
    if not (run_dir / CHECKPOINT).is_file():
        raise UsageError(
            f"run {run_dir} has no checkpoint yet ({CHECKPOINT}); there is nothing to evaluate"
        )
    dataset = run_dataset(meta, run_dir, registry)
    if dataset.spec.kind == "points":
        if getattr(dataset, "means", None) is None:
            raise UsageError(f"dataset {dataset.name!r} has no known modes to measure against")
    else:
        read_card(dataset)  # a UsageError naming how to train the classifier


def table_rows(record: dict) -> list[tuple[str, str, str]]:
    """(metric, value, measured on) for each metric of an eval.json record."""
    rows = []
    for row in record.get("metrics", []):
        label, fmt = LABELS.get(row["metric"], (row["metric"], "{}"))
        value = row["value"]
        text = fmt.format(value) if isinstance(value, (int, float)) else str(value)
        if "of" in row:
            text = f"{text}/{row['of']}"
        if row["metric"] == "kid" and "std" in row:
            text += f" ± {row['std']:.5f}"
        if row["metric"] == "class_fd" and "worst" in row:
            text += f"; worst {row['worst']:.3f}, {row.get('worst_name', '?')}"
        if row["metric"] == "within_class_diversity":
            text += f", {row.get('worst_name', '?')}; collapse below {row.get('threshold')}"
        where = [f"{row['samples']:,} samples"] if "samples" in row else []
        if "split" in row:
            where.append(f"vs {row['reference']:,} {row['split']} images")
        if row["metric"] == "class_fd":
            where.append("class by class")
        if row["metric"] == "d_accuracy":
            where.append("held-out real and generated; 0.5: cannot tell them apart")
        if row["metric"] == "samples_per_s":
            where.append(f"batches of {row.get('batch')} on {row.get('device')}")
        if row["metric"] in ("loss_spread", "fd_spread"):
            label = f"{label} ({row['loss']})" if "loss" in row else label
            where.append(
                f"steps {row.get('from_step')}-{row.get('to_step')} (the last third); 0 is flat"
            )
        rows.append((label, text, ", ".join(where)))
    return rows
