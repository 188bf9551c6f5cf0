"""A run request, checked: what `genbench run` (or a resume) asked for, and each part
of it validated against the model and the dataset before anything is built or written."""

from __future__ import annotations

from typing import Any

from genbench import config as cfg
from genbench.api import DataSpec, batches_per_step
from genbench.augment import parse_policy
from genbench.data import Dataset, Subset, check_subset
from genbench.dataset import where_looked
from genbench.errors import UsageError, one_line
from genbench.options import (
    AUGMENTS,
    DEFAULT_AUGMENT,
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_LOG_EVERY,
    DEFAULT_SAMPLE_EVERY,
    DEFAULT_STEPS,
    STEP_MAX,
    positive,
)

# The requests, their options and defaults are genbench.options' (the one schema of
# run options); what is checked here needs the model or the dataset.
from genbench.options import DEFAULT_EVAL_EVERY as DEFAULT_EVAL_EVERY
from genbench.options import ResumeRequest as ResumeRequest
from genbench.options import RunRequest as RunRequest
from genbench.registry import ModelEntry


def default_intervals(
    log: int | None, sample: int | None, ckpt: int | None
) -> tuple[int, int, int]:
    """The intervals given, or the defaults (genbench.options)."""
    log = positive(log, "--log-every") or DEFAULT_LOG_EVERY
    sample = positive(sample, "--sample-every") or DEFAULT_SAMPLE_EVERY
    ckpt = positive(ckpt, "--checkpoint-every") or DEFAULT_CHECKPOINT_EVERY
    return log, sample, ckpt


def steps_for(
    dataset: Dataset, steps: int | None, epochs: int | None, batch: int, batches: int = 1
) -> int:
    """Steps to train up to: ``steps``, or ``epochs`` passes over the data where one
    step consumes ``batches`` batches of ``batch`` examples (a k-batch model)."""
    positive(steps, "--steps")
    positive(epochs, "--epochs")
    if steps is not None and epochs is not None:
        raise UsageError("give --steps or --epochs, not both")
    if epochs is None:
        return steps or DEFAULT_STEPS
    if dataset.size is None:
        raise UsageError(
            f"dataset {dataset.name!r} is generated on the fly and has no epochs; use --steps"
        )
    per_epoch = dataset.size // (batch * batches)
    if per_epoch == 0:
        each = f" times the {batches} batches a step consumes" if batches > 1 else ""
        raise UsageError(
            f"--batch-size {batch}{each} is larger than dataset {dataset.name!r} "
            f"({dataset.size} examples)"
        )
    if epochs * per_epoch > STEP_MAX:
        raise UsageError(
            f"--epochs {epochs} is {epochs * per_epoch:,} steps of {dataset.name}, "
            f"more than a run can record ({STEP_MAX:,}); give fewer"
        )
    return epochs * per_epoch


NO_AUGMENT = ("off", "none")


def augment_ops(text: str | None) -> tuple[str, ...]:
    """``--augment``'s value as the ops genbench.augment.augment takes: a comma list
    of AUGMENTS, ``default`` (DEFAULT_AUGMENT) or ``off``/``none`` (no ops)."""
    if text is None or text.strip().lower() in NO_AUGMENT:
        return ()
    if text.strip().lower() == "default":
        return DEFAULT_AUGMENT
    try:
        ops = parse_policy(text, AUGMENTS, "--augment")
    except ValueError as exc:
        raise UsageError(f"{exc}, or default ({','.join(DEFAULT_AUGMENT)}) or off") from None
    # One of each, in a fixed order: run.json and resume compare them as lists.
    return tuple(op for op in AUGMENTS if op in ops)


def check_augment(ops: tuple[str, ...], dataset: Dataset, what: str = "--augment") -> None:
    if ops and dataset.spec.kind != "image":
        raise UsageError(
            f"{what} applies to images; dataset {dataset.name!r} is {dataset.spec.kind} data"
        )


def subset_of(dataset: Dataset, n: int | None, batch: int) -> Dataset:
    """``dataset``, or its first ``n`` examples (--subset), checked against the batch."""
    check_subset(dataset, n, batch)
    return dataset if n is None else Subset(dataset, n)


def model_batches_per_step(entry: ModelEntry, config: Any) -> int:
    """Real batches one step of this model consumes; a plugin's bad answer is one line."""
    try:
        return batches_per_step(entry.cls, config)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is one line, before any folder
        raise UsageError(
            f"model {entry.name!r}: batches_per_step raised {type(exc).__name__}: {one_line(exc)}"
        ) from None


def check_compatible(entry: ModelEntry, dataset: Dataset) -> None:
    reason = entry.cls.unsupported_reason(dataset.spec)
    if reason:
        raise UsageError(
            f"{reason}; dataset {dataset.name!r} is {dataset.spec.kind} data "
            f"of shape {tuple(dataset.spec.shape)}"
        )
    available = dataset.availability()
    if not available.ok:
        raise UsageError(
            f"dataset {dataset.name!r} not found ({where_looked(available.where)}); {available.how}"
        )


def data_defaults_of(entry: ModelEntry, spec: DataSpec) -> dict[str, Any]:
    """The model's defaults for this data; a plugin that gets them wrong is named."""
    try:
        return cfg.data_defaults(entry.cls, spec)
    except ValueError as exc:
        raise UsageError(f"plugin {entry.plugin.name!r} is broken: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a plugin's own bug, named in one line
        raise UsageError(
            f"plugin {entry.plugin.name!r} is broken: {entry.name}.defaults_for "
            f"raised {type(exc).__name__}: {exc}"
        ) from None
