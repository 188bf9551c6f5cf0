"""A run request, checked: what `genbench run` (or a resume) asked for, and each part
of it validated against the model and the dataset before anything is built or written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from genbench import config as cfg
from genbench.api import batches_per_step
from genbench.augment import AUGMENTS, parse_policy
from genbench.data import Dataset, Subset, check_subset
from genbench.defaults import DEFAULTS
from genbench.errors import UsageError, one_line
from genbench.registry import ModelEntry
from genbench.runfolder.record import STEP_MAX

# The defaults live in genbench.defaults (the CLI's help and the new-run form read them too).
DEFAULT_STEPS = DEFAULTS.steps


DEFAULT_BATCH = DEFAULTS.batch_size


@dataclass
class RunRequest:
    model: str
    dataset: str
    sets: list[str] = field(default_factory=list)
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = DEFAULT_BATCH
    seed: int = DEFAULTS.seed
    device: str | None = None
    runs_dir: Path = Path("runs")
    name: str | None = None
    log_every: int | None = None
    sample_every: int | None = None
    checkpoint_every: int | None = None
    data_dir: Path | None = None  # --data-dir; None: $GENBENCH_DATA, then the defaults
    image_size: int | None = None  # --image-size; None: the dataset's native size
    eval_every: int | None = None  # --eval-every; None: DEFAULT_EVAL_EVERY
    precision: str = DEFAULTS.precision  # --precision: fp32 or bf16 autocast
    augment: str | None = None  # --augment OPS (see augment_ops); None: no augmentation
    subset: int | None = None  # --subset N: the first N training examples only


# Steps between live sample-quality evaluations (a few hundred samples each; see
# genbench.metrics.evaluate.LiveEvaluator). The last step is always evaluated.
DEFAULT_EVAL_EVERY = DEFAULTS.eval_every


@overload
def positive(value: int, flag: str, hi: int = ...) -> int: ...


@overload
def positive(value: int | None, flag: str, hi: int = ...) -> int | None: ...


def positive(value: int | None, flag: str, hi: int = STEP_MAX) -> int | None:
    """``value`` when it is None or a positive integer of at most ``hi``: the bounds
    run.json holds (genbench.runfolder.record), so a run never writes a record that it, or
    anyone it is sent to, would then refuse to read."""
    if value is not None and not 0 < value <= hi:
        raise UsageError(
            f"{flag} must be a positive integer (at most {hi:,}), got {str(value)[:40]}"
        )
    return value


def default_intervals(log: int | None, sample: int | None, ckpt: int | None):
    """The intervals given, or genbench.defaults' (a log line, a sample grid and a
    checkpoint every 50, 500 and 1000 steps)."""
    log = positive(log, "--log-every") or DEFAULTS.log_every
    sample = positive(sample, "--sample-every") or DEFAULTS.sample_every
    ckpt = positive(ckpt, "--checkpoint-every") or DEFAULTS.checkpoint_every
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


# What `--augment default` means: the mirror image alone. The generator is trained
# to match the augmented images, so it learns to draw every warp it is shown; a
# mirrored garment is still a garment, while shifted, frame-cut ones are not what
# the data looks like: shifts make FD worse where a flip does not
# (docs/experiments.md, "Augmentation on small subsets").
DEFAULT_AUGMENT = ("flip",)


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


def model_batches_per_step(entry: ModelEntry, config) -> int:
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
            f"dataset {dataset.name!r} not found (looked in {available.where}); {available.how}"
        )


def data_defaults_of(entry: ModelEntry, spec) -> dict:
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


@dataclass
class ResumeRequest:
    """What may change when a run is continued. Batch size, seed, data and model
    are the run's own (changing them would break exact resume); the rest is
    honoured and recorded in run.json."""

    steps: int | None = None  # the step to train up to
    epochs: int | None = None  # or a total number of passes over the data
    device: str | None = None
    precision: str | None = None
    sets: list[str] = field(default_factory=list)  # hyperparameters changed from here on
    log_every: int | None = None
    sample_every: int | None = None
    checkpoint_every: int | None = None
    eval_every: int | None = None
    augment: str | None = None  # --augment from here on (recorded as a change)
