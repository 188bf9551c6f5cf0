"""Turning a request (new run or resume) into a ready Trainer.

Everything the user could have got wrong is checked before the run folder is
created or touched, so bad input leaves nothing behind.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, overload

import torch

import genbench
from genbench import config as cfg
from genbench.api import batches_per_step
from genbench.augment import AUGMENTS, parse_policy
from genbench.data import Dataset, Subset, check_subset, get_dataset, run_dataset
from genbench.defaults import DEFAULTS
from genbench.errors import UsageError, one_line
from genbench.host.memory import host_available, human_bytes
from genbench.registry import ModelEntry, Registry, run_model_entry
from genbench.runfolder.ownership import process_start
from genbench.runfolder.record import (
    BATCH_MAX,
    STEP_MAX,
    Change,
    DataRecord,
    Intervals,
    PluginRecord,
    RunRecord,
)
from genbench.runfolder.runs import (
    CHECKPOINT,
    NullWriter,
    RunLock,
    RunWriter,
    check_own_entries,
    effective_status,
    make_run_dir,
    read_run_json,
    remove_temp_files,
    truncate_metrics_after,
)
from genbench.runfolder.untrusted import clean_text
from genbench.training.checkpoint import check_tensor_types, load_checkpoint
from genbench.training.device import resolve_device, seed_everything
from genbench.training.distributed import SingleProcess
from genbench.training.loop import Plan, Report, Trainer
from genbench.training.precision import check_precision
from genbench.training.samples import SampleGrids
from genbench.training.signals import hold_stops, taking_run_folder

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


def _steps_for(
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
# the data looks like. Measured (README, Augmentation): on 1,000 Fashion-MNIST
# images flip,translate raised dcgan's FD from 1.16 to 1.80 where a flip left it
# at 1.20, and on 200 images a flip lowered it from 1.38 to 1.20.
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


def _check_augment(ops: tuple[str, ...], dataset: Dataset, what: str = "--augment") -> None:
    if ops and dataset.spec.kind != "image":
        raise UsageError(
            f"{what} applies to images; dataset {dataset.name!r} is {dataset.spec.kind} data"
        )


def _subset(dataset: Dataset, n: int | None, batch: int) -> Dataset:
    """``dataset``, or its first ``n`` examples (--subset), checked against the batch."""
    check_subset(dataset, n, batch)
    return dataset if n is None else Subset(dataset, n)


def _batches_per_step(entry: ModelEntry, config) -> int:
    """Real batches one step of this model consumes; a plugin's bad answer is one line."""
    try:
        return batches_per_step(entry.cls, config)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is one line, before any folder
        raise UsageError(
            f"model {entry.name!r}: batches_per_step raised {type(exc).__name__}: {one_line(exc)}"
        ) from None


def _check_compatible(entry: ModelEntry, dataset: Dataset) -> None:
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


def _data_defaults(entry: ModelEntry, spec) -> dict:
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


def _versions() -> dict:
    return {
        "genbench": genbench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


# Builds the live sample-quality check of a run: (dataset, device, seed) -> a callable
# that measures a model and returns a flat dict of numbers. Handed in by the caller
# (the CLI passes genbench.metrics.evaluate.live_evaluator), so training never
# imports metrics. None (the factory, or what it returns for this data): no live checks.
EvaluatorFactory = Callable[[Dataset, torch.device, int], Callable[[Any], dict] | None]


def new_run(
    request: RunRequest,
    registry: Registry,
    report: Report,
    dist: SingleProcess = SingleProcess(),
    evaluator: EvaluatorFactory | None = None,
) -> Trainer:
    """Validate every part of the request, then create the run folder and the trainer.

    Under torch.distributed every rank validates the same request; rank 0 alone
    creates the folder and tells the others its path."""
    cfg.check_seed(request.seed)
    entry = registry.get(request.model)
    dataset = get_dataset(request.dataset, data_dir=request.data_dir, image_size=request.image_size)
    _check_compatible(entry, dataset)
    for_data = _data_defaults(entry, dataset.spec)
    config = cfg.from_assignments(entry.cls.Config, request.sets, for_data)
    set_keys = {item.partition("=")[0].strip() for item in request.sets}
    for_data = {k: v for k, v in for_data.items() if k not in set_keys}
    batch = positive(request.batch_size, "--batch-size", BATCH_MAX)
    dataset = _subset(dataset, request.subset, batch)
    augment = augment_ops(request.augment)
    _check_augment(augment, dataset)
    steps = _steps_for(
        dataset, request.steps, request.epochs, batch, _batches_per_step(entry, config)
    )
    log, sample, ckpt = default_intervals(
        request.log_every, request.sample_every, request.checkpoint_every
    )
    evals = positive(request.eval_every, "--eval-every") or DEFAULT_EVAL_EVERY
    device = dist.device or resolve_device(request.device)
    if batch % dist.world:
        raise UsageError(f"--batch-size {batch} does not split evenly over {dist.world} processes")
    plan = Plan(
        steps=steps,
        batch_size=batch,
        log_every=log,
        sample_every=sample,
        checkpoint_every=ckpt,
        eval_every=evals,
        precision=check_precision(request.precision),
        augment=augment,
    )
    dataset.prepare()  # read and check the data files before a run folder exists
    _check_memory(entry, config, dataset, device, plan, dist)
    # The model, sampler and sample grids are built before the folder too, so a model
    # too big for memory or a batch larger than the data leaves nothing behind.
    trainer = _built(entry, config, dataset, device, request.seed, plan, report, dist, evaluator)

    hold_stops()  # a signal from here on is answered with no folder or a checkpoint
    path = _shared_run_dir(dist, request, entry.name, dataset.name)
    meta = RunRecord(
        id=path.name,
        model=entry.name,
        plugin=_plugin_record(entry.plugin),
        dataset=dataset.name,
        data=DataRecord(
            kind=dataset.spec.kind,
            shape=list(dataset.spec.shape),
            classes=dataset.spec.num_classes,
            plugin=_dataset_plugin(registry, dataset.name),
            # what resume needs to rebuild the same data
            dir=None if dataset.data_dir is None else str(dataset.data_dir),
            image_size=dataset.image_size,
            subset=request.subset,
        ),
        config=cfg.to_dict(config),
        # which of those values are the model's own defaults for this data (defaults_for)
        config_for_data=for_data,
        seed=request.seed,
        batch_size=batch,
        steps=steps,
        precision=plan.precision,
        augment=list(augment),
        intervals=Intervals(log=log, sample=sample, checkpoint=ckpt, eval=evals),
        device=str(device),
        versions=_versions(),
        host=socket.gethostname(),
        pid=os.getpid(),
        pid_start=process_start(os.getpid()),
        world_size=dist.world,
        created=datetime.now().isoformat(timespec="seconds"),
        status="running",
        step=0,
        message="",
        command=list(sys.argv),
    )
    if not dist.is_main:
        trainer.writer, trainer.report = NullWriter(path, meta), lambda event: None
        return trainer
    taking_run_folder(path)  # a stop asked for during set-up ends here
    trainer.writer = _first_write(path, meta, log)
    return trainer


class PhaseWriter(RunWriter):
    """A RunWriter that says in run.json's ``message`` what the run is doing until
    its first metrics line, so the workbench shows more than "step 0" while the
    first step warms the device up and the first log interval is trained.

    The loop clears the message when it starts (``message=""``); until something is
    logged, an empty message is replaced by the current phase. Each phase costs
    one write of run.json, and the first line of metrics.jsonl clears it (the
    losses then speak for themselves)."""

    def __init__(
        self,
        path: Path,
        meta: RunRecord,
        lock: RunLock | None = None,
        *,
        log_every: int,
        start: int = 0,
    ):
        """``start``: the step training starts from (a resumed run's checkpoint step;
        run.json's step can be later, where a run was lost after its checkpoint)."""
        super().__init__(path, meta, lock)
        self._start = start
        self._first_log = (start // log_every + 1) * log_every
        self._phase: str | None = first_step_message(meta.device, start)
        self._stepped = False

    def update(self, **fields: Any) -> None:
        if self._phase is not None and not fields.get("message", self.meta.message):
            fields["message"] = self._phase
        super().update(**fields)

    def heartbeat(self, step: int) -> None:
        if self._phase is not None and not self._stepped and step > self._start:
            # The first step is done (on a GPU it is the slow one): one write to say so.
            self._stepped = True
            self._phase = f"training: first losses at step {self._first_log}"
            self.update(step=step, message="")
            return
        super().heartbeat(step)

    def log(self, record: dict) -> None:
        super().log(record)
        if self._phase is not None:
            shown, self._phase = self._phase, None
            if self.meta.message == shown:  # never a message the loop wrote itself
                self.update(message="")


def first_step_message(device: str, step: int) -> str:
    if step == 0:
        return f"taking the first step on {device}"
    return f"taking step {step + 1} on {device}, the first after resuming"


def _first_write(path: Path, meta: RunRecord, log_every: int) -> RunWriter:
    """Take the new run folder and write its run.json. A folder that cannot be
    written (a full disk, a read-only filesystem) is removed again, with its lock,
    and the reason is one line."""
    writer = None
    try:
        writer = PhaseWriter(path, meta, log_every=log_every)
        writer.update()
        return writer
    except (OSError, UsageError) as exc:
        if writer is not None:
            try:
                writer.close()
            except OSError:
                pass
        shutil.rmtree(path, ignore_errors=True)  # new and ours: nothing else is in it
        if isinstance(exc, UsageError):
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        raise UsageError(
            f"cannot write the new run folder {path}: "
            f"{exc.strerror or exc}{where}; no run was started"
        ) from None


# -- will it fit? --------------------------------------------------------------

# The least memory one training step takes for each example of the batch, in
# floats: the example a few times over (input, generated, their gradients) plus
# hidden activations. A deliberate lower bound, so that only a batch that cannot
# fit is refused: measured on CPU, gan on ring8 takes about 3,200 floats an example,
# gan on Fashion-MNIST 6,000, vae 30,000, dcgan 130,000.
FLOATS_PER_VALUE = 4
FLOATS_PER_EXAMPLE = 1024


def _check_memory(
    entry: ModelEntry,
    config,
    dataset: Dataset,
    device: torch.device,
    plan: Plan,
    dist: SingleProcess,
) -> None:
    """Refuse, with one line, a model or a batch that cannot fit in the memory
    the device has free: the model is built on the meta device (no memory) to
    count its parameters; a step needs at least their weights and gradients, and
    FLOATS_PER_VALUE x the example size + FLOATS_PER_EXAMPLE floats an example."""
    free = available_memory(device)
    if free is None:
        return
    weights = _check_model_memory(entry, config, dataset.spec, device, free, copies=2)
    data = dataset.device_bytes(device.type)
    example = 1
    for n in dataset.spec.shape:
        example *= int(n)
    per_example = (FLOATS_PER_VALUE * example + FLOATS_PER_EXAMPLE) * (
        2 if plan.precision == "bf16" else 4
    )
    batch = plan.batch_size // dist.world
    if weights + data > free:
        size = f" at image size {dataset.image_size}" if dataset.image_size else ""
        raise UsageError(
            f"dataset {dataset.name!r}{size} needs {human_bytes(data)} on "
            f"{device} for its {dataset.size:,} examples of shape "
            f"{tuple(dataset.spec.shape)}, held there for the whole run; with "
            f"the model's {human_bytes(weights)} that is more than the "
            f"{human_bytes(free)} of memory free on {device}; choose a smaller "
            "--image-size or --subset"
        )
    if weights + data + batch * per_example > free:
        fits = max(0, (free - weights - data) // per_example)
        raise UsageError(
            f"--batch-size {plan.batch_size} needs at least "
            f"{human_bytes(weights + data + batch * per_example)} for one step of "
            f"{entry.name} on {dataset.name} (about {human_bytes(per_example)} an "
            f"example), more than the {human_bytes(free)} of memory free on "
            f"{device}; use a --batch-size under {fits * dist.world:,}"
        )


def _check_model_memory(
    entry: ModelEntry,
    config,
    spec,
    device: torch.device,
    free: int | None,
    copies: int = 1,
    model: Any = None,
) -> int:
    """The bytes ``copies`` fp32 copies of the model's parameters take (weights; with
    their gradients, 2), counted on the meta device; a UsageError when that is more
    than ``free`` (None: not known, not refused)."""
    params = _parameter_count(entry, config, spec, model)
    weights = copies * 4 * params
    if free is not None and weights > free:
        grads = " with their gradients" if copies == 2 else ""
        raise UsageError(
            f"model {entry.name!r} with {_sizes(entry, config, spec)} "
            f"has {params:,} parameters, needing at least {human_bytes(weights)}"
            f"{grads}, more than the {human_bytes(free)} of memory "
            f"free on {device}; choose smaller sizes"
        )
    return weights


def _meta_model(entry: ModelEntry, config, spec) -> Any:
    """The model built on the meta device (shapes, no memory); None when the plugin
    cannot be built there."""
    try:
        with torch.device("meta"):
            return entry.cls(config, spec, torch.device("meta"))
    except Exception:  # noqa: BLE001 - only for estimates; the real build still checks
        return None


def _parameter_count(entry: ModelEntry, config, spec, model: Any = None) -> int:
    """The model's parameters, counted on the meta device (nothing allocated; ``model``
    when it is built there already); 0 when the plugin cannot be built there."""
    model = model if model is not None else _meta_model(entry, config, spec)
    if model is None:
        return 0
    try:
        seen, total = set(), 0
        for module in model.checkpointed().values():
            if isinstance(module, torch.nn.Module):
                for p in module.parameters():
                    if id(p) not in seen:
                        seen.add(id(p))
                        total += p.numel()
        return total
    except Exception:  # noqa: BLE001 - only an estimate; the real build still checks
        return 0


def available_memory(device: torch.device) -> int | None:
    """Bytes free for this process on ``device``: CUDA's free memory, or on the
    CPU (and Apple's unified memory) the system's available memory, capped by a
    cgroup limit; None when unknown."""
    try:
        if device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        if device.type not in ("cpu", "mps"):
            return None
    except Exception:  # noqa: BLE001 - unknown: no estimate
        return None
    return host_available()


def _sizes(entry: ModelEntry, config, spec) -> str:
    """The whole-number hyperparameters that set the model's size: those that
    differ from its defaults, or all of them."""
    values = cfg.to_dict(config)
    ints = {k: v for k, v in values.items() if isinstance(v, int) and not isinstance(v, bool)}
    try:
        base = cfg.defaults(entry.cls, spec)
    except Exception:  # noqa: BLE001 - a broken defaults_for was refused earlier
        base = {}
    changed = {k: v for k, v in ints.items() if base.get(k) != v}
    shown = changed or ints
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "its hyperparameters"


_OUT_OF_MEMORY = ("can't allocate", "cannot allocate", "not enough memory", "out of memory")


def _built(
    entry: ModelEntry,
    config,
    dataset: Dataset,
    device: torch.device,
    seed: int,
    plan: Plan,
    report: Report,
    dist: SingleProcess,
    evaluator: EvaluatorFactory | None,
) -> Trainer:
    """The trainer, with no writer yet; running out of memory while building it
    is one line naming the sizes asked for."""
    try:
        return _trainer(entry, config, dataset, device, seed, plan, None, report, dist, evaluator)
    except (MemoryError, RuntimeError) as exc:
        raise _no_room(
            exc, entry, config, dataset.spec, device, f" and --batch-size {plan.batch_size}"
        ) from None


def _no_room(
    exc: BaseException, entry: ModelEntry, config, spec, device: torch.device, also: str = ""
) -> UsageError:
    """Running out of memory while building, as one line naming the sizes asked for;
    any other RuntimeError is re-raised (a plugin's bug keeps its traceback)."""
    if not isinstance(exc, MemoryError) and not any(
        text in str(exc).lower() for text in _OUT_OF_MEMORY
    ):
        raise exc
    return UsageError(
        f"model {entry.name!r} with {_sizes(entry, config, spec)}{also} does "
        f"not fit in memory on {device} ({one_line(exc)[:160]}); choose "
        "smaller sizes"
    )


def _check_restorable(
    run_dir: Path,
    entry: ModelEntry,
    config,
    dataset: Dataset,
    device: torch.device,
    state: dict,
    plan: Plan | None = None,
    dist: SingleProcess = SingleProcess(),
) -> None:
    """Before a run's model is built from run.json's config: the checkpoint's
    tensors have the shapes that config gives (compared on the meta device, so a
    config that lies about the sizes costs nothing), and the model fits in the
    memory free on ``device``: its weights for an evaluation, the same estimate as
    `genbench run` (weights, gradients, the data and a batch) for a resume."""
    meta_model = _meta_model(entry, config, dataset.spec)
    if plan is None:
        _check_model_memory(
            entry, config, dataset.spec, device, available_memory(device), model=meta_model
        )
    else:
        _check_memory(entry, config, dataset, device, plan, dist)
    if meta_model is not None:
        problem = _shape_misfit(meta_model, state.get("model"))
        if problem:
            raise UsageError(
                f"checkpoint {run_dir / CHECKPOINT} does not fit model "
                f"{entry.name!r} with run.json's config: {problem}"
            )


def _shape_misfit(meta_model: Any, saved: Any) -> str | None:
    """The first tensor whose shape differs between the model built on the meta
    device and a checkpoint's model state, or None."""
    try:
        parts = meta_model.checkpointed()
    except Exception:  # noqa: BLE001 - a plugin's bug: the real build names it
        return None
    if not isinstance(saved, dict):
        return None
    for name, part in parts.items():
        own, theirs = getattr(part, "state_dict", None), saved.get(name)
        if not isinstance(part, torch.nn.Module) or not isinstance(theirs, dict) or own is None:
            continue
        for key, tensor in own().items():
            other = theirs.get(key)
            if (
                isinstance(other, torch.Tensor)
                and isinstance(tensor, torch.Tensor)
                and tuple(other.shape) != tuple(tensor.shape)
            ):
                return (
                    f"{name}.{key} has shape {tuple(other.shape)} in the checkpoint, "
                    f"{tuple(tensor.shape)} in the model its config describes"
                )
    return None


def _shared_run_dir(dist: SingleProcess, request: RunRequest, model: str, dataset: str) -> Path:
    """Rank 0 creates the run folder; every rank gets its path, or rank 0's error."""
    path = error = None
    if dist.is_main:
        try:
            path = make_run_dir(request.runs_dir, request.name, model, dataset)
        except UsageError as exc:
            error = str(exc)
        except OSError as exc:  # a full disk or a read-only filesystem
            error = f"cannot create a run folder in {request.runs_dir}: {exc.strerror or exc}"
    path, error = dist.broadcast_object((path, error))
    if error:
        raise UsageError(error)
    return path


def _trainer(
    entry,
    config,
    dataset,
    device,
    seed,
    plan,
    writer,
    report,
    dist: SingleProcess = SingleProcess(),
    evaluator: EvaluatorFactory | None = None,
) -> Trainer:
    seed_everything(seed)
    model = entry.cls(config, dataset.spec, device)
    dist.prepare(model)  # the same initial weights on every rank
    sampler = dataset.sampler(
        batch_size=plan.batch_size // dist.world, device=device, seed=seed + 1
    )
    grids = SampleGrids(
        model, dataset.spec, seed=seed + 2, device=device, modes=getattr(dataset, "means", None)
    )
    trainer = Trainer(model, sampler, writer, plan, grids, device, report, dist)
    if dist.is_main and evaluator is not None:  # one process measures, from its own generator
        trainer.evaluator = evaluator(dataset, device, seed + 3)
    _own_streams(trainer, dataset, seed, dist, step=0)
    return trainer


def _own_streams(
    trainer: Trainer, dataset: Dataset, seed: int, dist: SingleProcess, step: int
) -> None:
    """Ranks other than 0 draw their own share of each batch and their own noise.

    Rank 0 keeps the single-process streams. On resume, rank 0's checkpoint holds
    only rank 0's streams, so the others start fresh ones keyed by the step."""
    if dist.rank == 0:
        return
    own = seed + 104_729 * dist.rank + 7_919 * step
    torch.manual_seed(own)
    trainer.sampler = dataset.sampler(
        batch_size=trainer.plan.batch_size // dist.world, device=trainer.device, seed=own + 1
    )


def _warn(message: str) -> None:
    print(f"genbench: warning: {message}", file=sys.stderr, flush=True)


def _plugin_record(plugin) -> PluginRecord:
    return PluginRecord(**plugin.record())


def _dataset_plugin(registry: Registry, name: str) -> PluginRecord | None:
    """The plugin a dataset came from (None for built-in datasets), for run.json."""
    entry = registry.datasets.get(name)
    return _plugin_record(entry.plugin) if entry else None


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


def resume_run(
    run_dir: Path,
    registry: Registry,
    report: Report,
    request: ResumeRequest | None = None,
    dist: SingleProcess = SingleProcess(),
    warn=_warn,
    evaluator: EvaluatorFactory | None = None,
) -> Trainer:
    """Continue a run from its last checkpoint, up to the requested step (default:
    its plan), with the requested changes recorded in run.json."""
    request = request or ResumeRequest()
    run_dir = Path(run_dir)
    meta = read_run_json(run_dir)
    if dist.is_main:
        check_own_entries(run_dir)  # a linked entry would be written through
    if dist.is_main and effective_status(meta, run_dir=run_dir) == "running":
        raise UsageError(
            f"run {run_dir} is still running (pid {meta.pid} on "
            f"{meta.host}); stop it before resuming"
        )
    saved = _saved_run(run_dir, meta, registry, warn, dist.device or request.device)
    entry, dataset, device, state = saved.entry, saved.dataset, saved.device, saved.state
    config = (
        cfg.from_assignments(entry.cls.Config, request.sets, cfg.to_dict(saved.config))
        if request.sets
        else saved.config
    )
    done = state["step"]
    target = (
        _steps_for(
            dataset,
            request.steps,
            request.epochs,
            meta.batch_size,
            _batches_per_step(entry, config),
        )
        if request.steps or request.epochs
        else meta.steps or done
    )
    if target <= done:
        raise UsageError(
            f"run {run_dir} is already at step {done}; "
            f"give --steps larger than {done} to train further"
        )
    if not os.access(run_dir, os.W_OK):
        raise UsageError(f"run {run_dir} is not writable")

    iv = meta.intervals
    log, sample, ckpt = default_intervals(
        request.log_every or iv.log,
        request.sample_every or iv.sample,
        request.checkpoint_every or iv.checkpoint,
    )
    evals = positive(request.eval_every, "--eval-every") or iv.eval
    augment = tuple(meta.augment) if request.augment is None else augment_ops(request.augment)
    _check_augment(
        augment,
        dataset,
        "--augment" if request.augment is not None else f"{run_dir / 'run.json'}: augment",
    )
    plan = Plan(
        steps=target,
        batch_size=meta.batch_size,
        log_every=log,
        sample_every=sample,
        checkpoint_every=ckpt,
        eval_every=evals,
        precision=check_precision(request.precision or meta.precision),
        augment=augment,
    )
    if plan.batch_size % dist.world:
        raise UsageError(
            f"this run's batch size {plan.batch_size} does not split evenly "
            f"over {dist.world} processes"
        )
    # Against the config the run was rebuilt with, not run.json's raw keys: a setting
    # newer than the run is absent there but no change unless --set changes it.
    changes = _changes(
        done, cfg.to_dict(saved.config), cfg.to_dict(config), meta.precision, plan.precision
    )
    if list(augment) != meta.augment:
        # Like a --set: the run trains on with the new augmentation from here, and the
        # history says where it changed ("off" for none).
        changes.append(
            Change(done, "augment", ",".join(meta.augment) or "off", ",".join(augment) or "off")
        )
    dataset.prepare()  # read and check the data files (bounded) before the estimate
    _check_restorable(run_dir, entry, config, dataset, device, state, plan, dist)
    try:
        trainer = _trainer(
            entry,
            config,
            dataset,
            device,
            meta.seed,
            plan,
            writer=None,
            report=report,
            dist=dist,
            evaluator=evaluator,
        )
    except (MemoryError, RuntimeError) as exc:
        raise _no_room(
            exc, entry, config, dataset.spec, device, f" and batch size {plan.batch_size}"
        ) from None
    try:
        trainer.load_state_dict(state, keep_hyperparameters=bool(request.sets))
    except Exception as exc:  # noqa: BLE001 - an untrusted file: any failure is one line
        raise _misfit(run_dir, entry, exc) from None
    _own_streams(trainer, dataset, meta.seed, dist, step=done)
    if not dist.is_main:
        trainer.writer, trainer.report = NullWriter(run_dir, meta), lambda event: None
        return trainer

    # Only now, with everything checked, touch the folder: lock it first.
    hold_stops()
    lock = RunLock(run_dir).acquire()
    # A stop asked for during set-up ends here, before anything in the folder changed.
    taking_run_folder(run_dir, lock)
    try:
        remove_temp_files(run_dir)
        truncate_metrics_after(run_dir, done)
    except BaseException:
        lock.release()
        raise
    plugin = _plugin_record(entry.plugin)
    if meta.plugin != plugin:  # trained on with another plugin version
        if meta.plugin:
            meta.previous_plugins.append(meta.plugin)
        meta.plugin = plugin
    data_plugin = _dataset_plugin(registry, meta.dataset)
    if meta.data.plugin and data_plugin and meta.data.plugin != data_plugin:
        # the dataset's plugin changed too: the earlier one joins the same history
        meta.previous_plugins.append(meta.data.plugin)
        meta.data.plugin = data_plugin
    meta.update(
        steps=target,
        device=str(device),
        pid=os.getpid(),
        pid_start=process_start(os.getpid()),
        host=socket.gethostname(),
        versions=_versions(),
        resumed=meta.resumed + 1,
        config=cfg.to_dict(config),
        precision=plan.precision,
        changes=meta.changes + changes,
        augment=list(augment),
        intervals=Intervals(log=log, sample=sample, checkpoint=ckpt, eval=evals),
    )
    trainer.writer = PhaseWriter(run_dir, meta, lock, log_every=log, start=done)
    return trainer


def _changes(
    step: int, old_config: dict, new_config: dict, old_precision: str, new_precision: str
) -> list[Change]:
    """What a resume changes that affects training, for run.json's history."""
    changes = [
        Change(step, key, old_config.get(key), value)
        for key, value in new_config.items()
        if old_config.get(key) != value
    ]
    if new_precision != old_precision:
        changes.append(Change(step, "precision", old_precision, new_precision))
    return changes


def _same_device(recorded: str | None) -> str | None:
    """Resume on the recorded device when it exists here, else pick automatically."""
    if recorded in (None, "cpu"):
        return recorded
    try:
        resolve_device(recorded)
        return recorded
    except UsageError:
        return None


def restore_model(run_dir: Path, registry: Registry, device_name: str | None = None, warn=_warn):
    """The model of a run as its last checkpoint left it, for evaluation:
    (model, dataset, run.json, checkpoint step). Reads the folder, writes nothing,
    so a run still training can be measured."""
    run_dir = Path(run_dir)
    meta = read_run_json(run_dir)
    saved = _saved_run(run_dir, meta, registry, warn, device_name)
    _check_restorable(run_dir, saved.entry, saved.config, saved.dataset, saved.device, saved.state)
    try:
        model = saved.entry.cls(saved.config, saved.dataset.spec, saved.device)
    except (MemoryError, RuntimeError) as exc:
        raise _no_room(exc, saved.entry, saved.config, saved.dataset.spec, saved.device) from None
    try:
        # Before anything is copied in (a complex weight would be cast with a warning).
        check_tensor_types(model.checkpointed(), saved.state["model"])
        model.load_state_dict(saved.state["model"])
    except Exception as exc:  # noqa: BLE001 - an untrusted file: any failure is one line
        raise _misfit(run_dir, saved.entry, exc) from None
    return model, saved.dataset, meta, saved.state["step"]


@dataclass
class _SavedRun:
    entry: ModelEntry
    dataset: Dataset
    config: Any  # the hyperparameters run.json records
    device: torch.device
    state: dict  # the last checkpoint, on the CPU


def _saved_run(
    run_dir: Path, meta: RunRecord, registry: Registry, warn, device: torch.device | str | None
) -> _SavedRun:
    """What resuming a run and restoring its model both read from its folder: the
    model's entry (a missing plugin is a UsageError, another version a warning), the
    dataset, the recorded hyperparameters, the device (``device``, else the recorded
    one where it exists here, else automatic) and the last checkpoint."""
    entry = run_model_entry(registry, meta, warn)
    dataset = run_dataset(
        meta.dataset, data_dir=meta.data.dir, image_size=meta.data.image_size, run_dir=run_dir
    )
    # run.json is untrusted: a subset that no longer fits is one line like --subset's
    dataset = _subset(dataset, meta.data.subset, meta.batch_size)
    _check_compatible(entry, dataset)
    config = cfg.from_dict(entry.cls.Config, meta.config)
    if not isinstance(device, torch.device):
        device = resolve_device(device or _same_device(meta.device))
    state = load_checkpoint(run_dir / CHECKPOINT, device="cpu", max_step=meta.steps)
    return _SavedRun(entry, dataset, config, device, state)


def _misfit(run_dir: Path, entry: ModelEntry, exc: BaseException) -> UsageError:
    # The whole message on one line (torch names the missing key on its second line),
    # cleaned of control characters: the keys come from the file.
    text = clean_text(" ".join(str(exc).split()), 300) or type(exc).__name__
    # A UsageError already says what is wrong in words (a damaged sampler state): no type.
    if not isinstance(exc, UsageError):
        text = f"{type(exc).__name__}: {text}"
    return UsageError(
        f"checkpoint {run_dir / CHECKPOINT} does not fit model {entry.name!r}: {text}"
    )
