"""Turning a request (new run or resume) into a ready Trainer.

Everything the user could have got wrong is checked before the run folder is
created or touched, so bad input leaves nothing behind.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

import genbench
from genbench import config as cfg
from genbench.api import GenerativeModel
from genbench.data import FOLDER_PREFIX, Dataset, get_dataset, run_dataset
from genbench.data.failures import failure_line, prepared, provider
from genbench.errors import UsageError
from genbench.host.threads import ThreadShare
from genbench.registry import (
    ModelEntry,
    PluginInfo,
    Registry,
    recorded_dataset,
    run_model_entry,
)
from genbench.runfolder.export_metrics import logged_run
from genbench.runfolder.ownership import process_start
from genbench.runfolder.record import (
    BATCH_MAX,
    RUN_FILE,
    Change,
    DataRecord,
    Intervals,
    JobRecord,
    PluginRecord,
    RunRecord,
    SweepRef,
)
from genbench.runfolder.runs import (
    CHECKPOINT,
    RunLock,
    check_own_entries,
    effective_status,
    make_run_dir,
    read_run_json,
    remove_temp_files,
    truncate_metrics_after,
)
from genbench.runfolder.untrusted import clean_text
from genbench.runfolder.writer import NullWriter, PhaseWriter, first_write
from genbench.training.checkpoint import check_tensor_types, load_checkpoint
from genbench.training.device import resolve_device, seed_everything
from genbench.training.distributed import SingleProcess
from genbench.training.fits import check_memory, check_restorable, no_room
from genbench.training.loggers import LoggerHub, logger_entries, make_loggers, recorded_loggers
from genbench.training.loop import (
    Evaluator,
    LossMeter,
    Parts,
    Plan,
    Report,
    Trainer,
    restore,
)
from genbench.training.precision import check_precision, choose_precision
from genbench.training.request import (
    DEFAULT_EVAL_EVERY,
    ResumeRequest,
    RunRequest,
    augment_ops,
    check_augment,
    check_compatible,
    data_defaults_of,
    default_intervals,
    model_batches_per_step,
    positive,
    steps_for,
    subset_of,
)
from genbench.training.samples import SampleGrids
from genbench.training.signals import hold_stops, taking_run_folder


def _versions() -> dict[str, str]:
    return {
        "genbench": genbench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


# Builds the live sample-quality check of a run: (dataset, device, seed) -> a callable
# that measures a model and returns a flat dict of numbers. Handed in by the caller
# (the CLI passes genbench.metrics.evaluate.live_evaluator), so training never
# imports metrics. None (the factory, or what it returns for this data): no live checks.
EvaluatorFactory = Callable[[Dataset, torch.device, int], Evaluator | None]


def new_run(
    request: RunRequest,
    registry: Registry,
    report: Report,
    dist: SingleProcess = SingleProcess(),
    evaluator: EvaluatorFactory | None = None,
    threads: ThreadShare | None = None,
) -> Trainer:
    """Validate every part of the request, then create the run folder and the trainer.

    Under torch.distributed every rank validates the same request; rank 0 alone
    creates the folder and tells the others its path."""
    entry, dataset, config, for_data, plan = check_request(request, registry)
    loggers = make_loggers(logger_entries(request.log, registry)) if dist.is_main else []
    device = dist.device or resolve_device(request.device)
    plan = _precision_for(plan, device)
    if plan.batch_size % dist.world:
        raise UsageError(
            f"--batch-size {plan.batch_size} does not split evenly over {dist.world} processes"
        )
    _phase(report, f"loading {dataset.name}")
    # read and check the data files before a run folder exists
    prepared(dataset, registry, request.dataset)
    _phase(report, f"building {entry.name} on {device}")
    check_memory(entry, config, dataset, device, plan, dist)
    # The model, sampler and sample grids are built before the folder too, so a model
    # too big for memory or a batch larger than the data leaves nothing behind.
    plugin = provider(request.dataset, registry)  # as given: DIST:NAME where names clash
    with _room_for(entry, config, dataset, device, f" and --batch-size {plan.batch_size}"):
        parts = _parts(entry, config, dataset, device, request.seed, plan, dist, evaluator, plugin)
    _own_streams(parts, dataset, request.seed, plan, device, dist, step=0)

    hold_stops()  # a signal from here on is answered with no folder or a checkpoint
    path = _shared_run_dir(dist, request, entry.name, dataset.name)
    meta = _new_record(
        path, request, entry, registry, dataset, config, for_data, plan, device, dist
    )
    if not dist.is_main:
        return Trainer(parts, NullWriter(path, meta), plan, device, dist=dist, threads=threads)
    taking_run_folder(path)  # a stop asked for during set-up ends here
    writer = first_write(path, meta, plan.log_every)
    hub = LoggerHub(logged_run(meta, path, 0, resumed=False), loggers) if loggers else None
    return Trainer(parts, writer, plan, device, report, dist, threads, loggers=hub)


def _phase(report: Report, what: str) -> None:
    """Say what set-up does now, before the run folder (and its run.json) exists: a
    "phase" event, which `--json` prints and the workbench shows for the runs it
    launched (from their launch.log)."""
    report({"event": "phase", "phase": f"starting: {what}"})


def check_request(
    request: RunRequest, registry: Registry
) -> tuple[ModelEntry, Dataset, Any, dict[str, Any], Plan]:
    """Everything about a new run's request that can be checked without reading data
    or building anything: the options, the model and its --set values, the dataset's
    presence and kind, the steps. `genbench sweep` checks each member with it before
    any member starts. Returns the model, the dataset, the config, the defaults the
    model took for this data, and the plan."""
    request.check()  # each option against its own bounds (genbench.options)
    entry = registry.get(request.model)
    logger_entries(request.log, registry)  # --log: each installed, with its library
    dataset = get_dataset(
        request.dataset,
        data_dir=request.data_dir,
        image_size=request.image_size,
        registry=registry,
    )
    check_compatible(entry, dataset)
    for_data = data_defaults_of(entry, dataset.spec)
    config = cfg.from_assignments(entry.cls.Config, request.sets, for_data)
    set_keys = {item.partition("=")[0].strip() for item in request.sets}
    for_data = {k: v for k, v in for_data.items() if k not in set_keys}
    batch = positive(request.batch_size, "--batch-size", BATCH_MAX)
    dataset = subset_of(dataset, request.subset, batch)
    augment = augment_ops(request.augment)
    check_augment(augment, dataset)
    steps = steps_for(
        dataset, request.steps, request.epochs, batch, model_batches_per_step(entry, config)
    )
    log, sample, ckpt = default_intervals(
        request.log_every, request.sample_every, request.checkpoint_every
    )
    evals = positive(request.eval_every, "--eval-every") or DEFAULT_EVAL_EVERY
    plan = Plan(
        steps=steps,
        batch_size=batch,
        log_every=log,
        sample_every=sample,
        checkpoint_every=ckpt,
        eval_every=evals,
        precision=check_precision(request.precision),
        augment=augment,
        keep_every=positive(request.keep_every, "--keep-every"),
    )
    return entry, dataset, config, for_data, plan


def _new_record(
    path: Path,
    request: RunRequest,
    entry: ModelEntry,
    registry: Registry,
    dataset: Dataset,
    config: Any,
    for_data: dict[str, Any],
    plan: Plan,
    device: torch.device,
    dist: SingleProcess,
) -> RunRecord:
    """run.json of a new run: what it is, how it trains and where it runs."""
    return RunRecord(
        id=path.name,
        model=entry.name,
        plugin=_plugin_record(entry.plugin),
        dataset=dataset.name,
        data=DataRecord(
            kind=dataset.spec.kind,
            shape=list(dataset.spec.shape),
            classes=dataset.spec.num_classes,
            plugin=_dataset_plugin(registry, request.dataset),
            # what resume needs to rebuild the same data
            dir=None if dataset.data_dir is None else str(dataset.data_dir),
            image_size=dataset.image_size,
            subset=request.subset,
        ),
        config=cfg.to_dict(config),
        # which of those values are the model's own defaults for this data (defaults_for)
        config_for_data=for_data,
        seed=request.seed,
        batch_size=plan.batch_size,
        steps=plan.steps,
        precision=plan.precision,
        precision_why=plan.precision_why,
        augment=list(plan.augment),
        intervals=_intervals(plan),
        device=str(device),
        options=request.own_section(),  # the device and threads asked for, ...
        versions=_versions(),
        host=socket.gethostname(),
        pid=os.getpid(),
        pid_start=process_start(os.getpid()),
        world_size=dist.world,
        created=datetime.now().isoformat(timespec="seconds"),
        started=time.time(),
        status="running",
        step=0,
        message="",
        command=list(sys.argv),
        sweep=None if request.sweep is None else SweepRef(request.sweep, request.point()),
        job=JobRecord.from_environment(os.environ),
    )


def _intervals(plan: Plan) -> Intervals:
    return Intervals(
        log=plan.log_every,
        sample=plan.sample_every,
        checkpoint=plan.checkpoint_every,
        eval=plan.eval_every,
    )


@contextmanager
def _room_for(
    entry: ModelEntry, config: Any, dataset: Dataset, device: torch.device, batch: str
) -> Iterator[None]:
    """Running out of memory while building the model is one line naming the sizes
    asked for."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        raise no_room(exc, entry, config, dataset.spec, device, batch) from None


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


def _parts(
    entry: ModelEntry,
    config: Any,
    dataset: Dataset,
    device: torch.device,
    seed: int,
    plan: Plan,
    dist: SingleProcess,
    evaluator: EvaluatorFactory | None,
    plugin: str | None = None,
) -> Parts:
    """The model (the same initial weights on every rank), its sampler, sample grids,
    loss meter and live evaluator, each from its own seed. ``plugin``: the dataset's
    (``provider``), named when its code fails."""
    seed_everything(seed)
    model = entry.cls(config, dataset.spec, device)
    dist.prepare(model)  # the same initial weights on every rank
    sampler = _sampler(dataset, plugin, plan.batch_size // dist.world, device, seed + 1)
    grids = SampleGrids(
        model, dataset.spec, seed=seed + 2, device=device, modes=getattr(dataset, "means", None)
    )
    live = None
    if dist.is_main and evaluator is not None:  # one process measures, from its own generator
        live = evaluator(dataset, device, seed + 3)
    parts = Parts(model, sampler, grids, LossMeter(device, dist), live)
    parts.data_failure = lambda exc: failure_line(dataset.name, plugin, exc, "its sampler", sampler)
    return parts


def _sampler(
    dataset: Dataset, plugin: str | None, batch_size: int, device: torch.device, seed: int
) -> Any:
    """The dataset's sampler; what its code raises is the dataset's one line (running out
    of memory is left to ``_room_for``, which says how much the run needs)."""
    try:
        return dataset.sampler(batch_size=batch_size, device=device, seed=seed)
    except (MemoryError, torch.OutOfMemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's sampler() may raise anything
        if plugin is None and isinstance(exc, UsageError):
            raise  # a built-in dataset's own words already name it
        raise UsageError(failure_line(dataset.name, plugin, exc, "sampler()", dataset)) from None


def _own_streams(
    parts: Parts,
    dataset: Dataset,
    seed: int,
    plan: Plan,
    device: torch.device,
    dist: SingleProcess,
    step: int,
) -> None:
    """Ranks other than 0 draw their own share of each batch and their own noise.

    Rank 0 keeps the single-process streams. On resume, rank 0's checkpoint holds
    only rank 0's streams, so the others start fresh ones keyed by the step."""
    if dist.rank == 0:
        return
    own = seed + 104_729 * dist.rank + 7_919 * step
    torch.manual_seed(own)
    parts.sampler = dataset.sampler(
        batch_size=plan.batch_size // dist.world, device=device, seed=own + 1
    )


Warn = Callable[[str], None]


def _warn(message: str) -> None:
    print(f"genbench: warning: {message}", file=sys.stderr, flush=True)


def _precision_for(plan: Plan, device: torch.device, warn: Warn = _warn) -> Plan:
    """The plan with --precision resolved for ``device`` (auto: bf16 only where native
    and faster) and why; bf16 where it is emulated is warned of with its measured cost."""
    choice = choose_precision(plan.precision, device)
    if choice.warning:
        warn(choice.warning)
    return replace(plan, precision=choice.precision, precision_why=choice.why)


def _plugin_record(plugin: PluginInfo) -> PluginRecord:
    return PluginRecord(**plugin.record())


def _dataset_plugin(registry: Registry, name: str) -> PluginRecord | None:
    """The plugin a dataset came from (None for built-in datasets), for run.json;
    ``name`` as given (DIST:NAME where it was qualified)."""
    if name.startswith(FOLDER_PREFIX):
        return None
    entry = registry.dataset(name, warn=lambda _: None)
    return _plugin_record(entry.plugin) if entry else None


def resume_run(
    run_dir: Path,
    registry: Registry,
    report: Report,
    request: ResumeRequest | None = None,
    dist: SingleProcess = SingleProcess(),
    warn: Warn = _warn,
    evaluator: EvaluatorFactory | None = None,
    threads: ThreadShare | None = None,
) -> Trainer:
    """Continue a run from its last checkpoint, up to the requested step (default:
    its plan), with the requested changes recorded in run.json.

    Everything is read and checked, and the trainer's parts built and restored,
    before the folder is touched; only then is it locked and brought up to date."""
    request = request or ResumeRequest()
    run_dir = Path(run_dir)
    _phase(report, "reading the run and its last checkpoint")
    meta, saved = _read_resumable(run_dir, registry, warn, dist, request.device)
    # The loggers it sent to go on, with those --log adds (each checked, and made, here).
    log = recorded_loggers(meta, run_dir / RUN_FILE) + list(request.log or [])
    entries = logger_entries(log, registry)
    plan, config, changes = _continuation(run_dir, meta, saved, request, dist)
    _phase(report, f"loading {saved.dataset.name}")
    # read and check the data files before the estimate
    prepared(saved.dataset, registry, recorded_dataset(registry, meta))
    _phase(report, f"building {saved.entry.name} on {saved.device} from the checkpoint")
    check_restorable(
        run_dir, saved.entry, config, saved.dataset, saved.device, saved.state, plan, dist
    )
    with _room_for(
        saved.entry, config, saved.dataset, saved.device, f" and batch size {plan.batch_size}"
    ):
        parts = _parts(
            saved.entry,
            config,
            saved.dataset,
            saved.device,
            meta.seed,
            plan,
            dist,
            evaluator,
            provider(recorded_dataset(registry, meta), registry),
        )
    try:
        restore(parts, saved.state, keep_hyperparameters=bool(request.sets))
    except Exception as exc:  # noqa: BLE001 - an untrusted file: any failure is one line
        raise _misfit(run_dir, saved.entry, exc) from None
    _own_streams(parts, saved.dataset, meta.seed, plan, saved.device, dist, step=parts.step)
    if not dist.is_main:
        return Trainer(
            parts, NullWriter(run_dir, meta), plan, saved.device, dist=dist, threads=threads
        )

    loggers = make_loggers(entries)
    lock = _take_folder(run_dir, parts.step)
    asked = request.own_section()
    if entries:
        asked["log"] = [entry.name for entry in entries]
    meta.update(id=run_dir.name)  # renamed since it was made (R): the folder names it
    _record_continuation(meta, registry, saved, config, plan, changes, asked)
    writer = PhaseWriter(run_dir, meta, lock, log_every=plan.log_every, start=parts.step)
    run = logged_run(meta, run_dir, parts.step, resumed=True)
    hub = LoggerHub(run, loggers) if loggers else None
    trainer = Trainer(parts, writer, plan, saved.device, report, dist, threads, loggers=hub)
    trainer.resume_mark = resume_mark(parts.step, parts.elapsed, meta.resumed, changes)
    return trainer


def resume_mark(step: int, elapsed: float, resumed: int, changes: list[Change]) -> dict[str, Any]:
    """The metrics.jsonl line that marks a resume: the step it goes on from, the
    training time there, how many resumes so far, and what this one changed. A
    line of its own kind ("resume"), which readers of losses and evaluations skip;
    a later resume's cut keeps it (it is at the checkpoint's step)."""
    return {
        "step": step,
        "time": round(elapsed, 3),
        "kind": "resume",
        "resume": {
            "resumed": resumed,
            "changes": [{"key": c.key, "old": c.old, "new": c.new} for c in changes],
        },
    }


def _read_resumable(
    run_dir: Path,
    registry: Registry,
    warn: Warn,
    dist: SingleProcess,
    device: str | None,
) -> tuple[RunRecord, _SavedRun]:
    """The saved run, read and checked: its run.json, a folder of its own entries that
    no trainer is running, its model, data and last checkpoint."""
    meta = read_run_json(run_dir)
    if dist.is_main:
        check_own_entries(run_dir)  # a linked entry would be written through
    if dist.is_main and effective_status(meta, run_dir=run_dir) == "running":
        raise UsageError(
            f"run {run_dir} is still running (pid {meta.pid} on "
            f"{meta.host}); stop it before resuming"
        )
    return meta, _saved_run(run_dir, meta, registry, warn, dist.device or device)


def _continuation(
    run_dir: Path, meta: RunRecord, saved: _SavedRun, request: ResumeRequest, dist: SingleProcess
) -> tuple[Plan, Any, list[Change]]:
    """How the run goes on: its plan from the checkpoint's step to the target, the
    config with --set applied, and what changed, for run.json's history."""
    entry, done = saved.entry, saved.state["step"]
    config = (
        cfg.from_assignments(entry.cls.Config, request.sets, cfg.to_dict(saved.config))
        if request.sets
        else saved.config
    )
    target = _target_step(run_dir, meta, saved, config, request, done)
    if not os.access(run_dir, os.W_OK):
        raise UsageError(f"run {run_dir} is not writable")
    plan = _precision_for(
        _resumed_plan(run_dir, meta, saved.dataset, request, target), saved.device
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
    if list(plan.augment) != meta.augment:
        # Like a --set: the run trains on with the new augmentation from here, and the
        # history says where it changed ("off" for none).
        old, new = ",".join(meta.augment) or "off", ",".join(plan.augment) or "off"
        changes.append(Change(done, "augment", old, new))
    return plan, config, changes


def _target_step(
    run_dir: Path,
    meta: RunRecord,
    saved: _SavedRun,
    config: Any,
    request: ResumeRequest,
    done: int,
) -> int:
    """The step to train up to: --steps/--epochs, else the run's own plan; past ``done``."""
    if request.steps or request.epochs:
        batches = model_batches_per_step(saved.entry, config)
        target = steps_for(saved.dataset, request.steps, request.epochs, meta.batch_size, batches)
    else:
        target = meta.steps or done
    if target <= done:
        raise UsageError(
            f"run {run_dir} is already at step {done}; "
            f"give --steps larger than {done} to train further"
        )
    return target


def _resumed_plan(
    run_dir: Path, meta: RunRecord, dataset: Dataset, request: ResumeRequest, target: int
) -> Plan:
    """The run's recorded plan with what the resume asks to change."""
    iv = meta.intervals
    log, sample, ckpt = default_intervals(
        request.log_every or iv.log,
        request.sample_every or iv.sample,
        request.checkpoint_every or iv.checkpoint,
    )
    evals = positive(request.eval_every, "--eval-every") or iv.eval
    augment = tuple(meta.augment) if request.augment is None else augment_ops(request.augment)
    check_augment(
        augment,
        dataset,
        "--augment" if request.augment is not None else f"{run_dir / 'run.json'}: augment",
    )
    return Plan(
        steps=target,
        batch_size=meta.batch_size,
        log_every=log,
        sample_every=sample,
        checkpoint_every=ckpt,
        eval_every=evals,
        precision=check_precision(request.precision or meta.precision),
        augment=augment,
        keep_every=positive(request.keep_every, "--keep-every") or _recorded_keep(meta),
    )


def _recorded_keep(meta: RunRecord) -> int | None:
    """The run's own --keep-every (run.json's options), where it holds a valid one."""
    keep = meta.options.get("keep_every")
    return keep if isinstance(keep, int) and not isinstance(keep, bool) and keep >= 1 else None


def _take_folder(run_dir: Path, done: int) -> RunLock:
    """Only now, with everything checked, touch the folder: lock it, then drop what a
    killed trainer left after its checkpoint (temporary files, metrics lines)."""
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
    return lock


def _record_continuation(
    meta: RunRecord,
    registry: Registry,
    saved: _SavedRun,
    config: Any,
    plan: Plan,
    changes: list[Change],
    asked: dict[str, Any],
) -> None:
    """run.json brought up to date: this process, the plan, the changes, the options
    asked anew (``asked``: the device and threads), and the plugin versions the run now
    trains with (earlier ones kept in its history)."""
    plugin = _plugin_record(saved.entry.plugin)
    if meta.plugin != plugin:  # trained on with another plugin version
        if meta.plugin:
            meta.previous_plugins.append(meta.plugin)
        meta.plugin = plugin
    data_plugin = _dataset_plugin(registry, recorded_dataset(registry, meta))
    if meta.data.plugin and data_plugin and meta.data.plugin != data_plugin:
        # the dataset's plugin changed too: the earlier one joins the same history
        meta.previous_plugins.append(meta.data.plugin)
        meta.data.plugin = data_plugin
    meta.update(
        steps=plan.steps,
        device=str(saved.device),
        pid=os.getpid(),
        pid_start=process_start(os.getpid()),
        host=socket.gethostname(),
        versions=_versions(),
        resumed=meta.resumed + 1,
        started=time.time(),
        config=cfg.to_dict(config),
        precision=plan.precision,
        precision_why=plan.precision_why,
        changes=meta.changes + changes,
        augment=list(plan.augment),
        intervals=_intervals(plan),
        options={**meta.options, **asked},
        job=JobRecord.from_environment(os.environ),
    )


def _changes(
    step: int,
    old_config: dict[str, Any],
    new_config: dict[str, Any],
    old_precision: str,
    new_precision: str,
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


def restore_model(
    run_dir: Path,
    registry: Registry,
    device_name: str | None = None,
    warn: Warn = _warn,
    checkpoint: str = CHECKPOINT,
) -> tuple[GenerativeModel, Dataset, RunRecord, int]:
    """The model of a run as its last checkpoint (or the one at ``checkpoint``, a
    path in the run folder) left it, for evaluation and sampling: (model, dataset,
    run.json, checkpoint step). Reads the folder, writes nothing, so a run still
    training can be measured."""
    run_dir = Path(run_dir)
    meta = read_run_json(run_dir)
    saved = _saved_run(run_dir, meta, registry, warn, device_name, checkpoint)
    check_restorable(run_dir, saved.entry, saved.config, saved.dataset, saved.device, saved.state)
    try:
        model = saved.entry.cls(saved.config, saved.dataset.spec, saved.device)
    except (MemoryError, RuntimeError) as exc:
        raise no_room(exc, saved.entry, saved.config, saved.dataset.spec, saved.device) from None
    try:
        # Before anything is copied in (a complex weight would be cast with a warning).
        check_tensor_types(model.checkpointed(), saved.state["model"])
        model.load_state_dict(saved.state["model"])
    except Exception as exc:  # noqa: BLE001 - an untrusted file: any failure is one line
        raise _misfit(run_dir, saved.entry, exc, checkpoint) from None
    return model, saved.dataset, meta, saved.state["step"]


@dataclass
class _SavedRun:
    entry: ModelEntry
    dataset: Dataset
    config: Any  # the hyperparameters run.json records
    device: torch.device
    state: dict[str, Any]  # the last checkpoint, on the CPU


def _saved_run(
    run_dir: Path,
    meta: RunRecord,
    registry: Registry,
    warn: Warn,
    device: torch.device | str | None,
    checkpoint: str = CHECKPOINT,
) -> _SavedRun:
    """What resuming a run and restoring its model both read from its folder: the
    model's entry (a missing plugin is a UsageError, another version a warning), the
    dataset, the recorded hyperparameters, the device (``device``, else the recorded
    one where it exists here, else automatic) and the last checkpoint."""
    entry = run_model_entry(registry, meta, warn)
    dataset = run_dataset(meta, run_dir, registry)
    # run.json is untrusted: a subset that no longer fits is one line like --subset's
    dataset = subset_of(dataset, meta.data.subset, meta.batch_size)
    check_compatible(entry, dataset)
    config = cfg.from_dict(entry.cls.Config, meta.config)
    if not isinstance(device, torch.device):
        device = resolve_device(device or _same_device(meta.device))
    state = load_checkpoint(run_dir / checkpoint, device="cpu", max_step=meta.steps)
    return _SavedRun(entry, dataset, config, device, state)


def _misfit(
    run_dir: Path, entry: ModelEntry, exc: BaseException, checkpoint: str = CHECKPOINT
) -> UsageError:
    # The whole message on one line (torch names the missing key on its second line),
    # cleaned of control characters: the keys come from the file.
    text = clean_text(" ".join(str(exc).split()), 300) or type(exc).__name__
    # A UsageError already says what is wrong in words (a damaged sampler state): no type.
    if not isinstance(exc, UsageError):
        text = f"{type(exc).__name__}: {text}"
    return UsageError(
        f"checkpoint {run_dir / checkpoint} does not fit model {entry.name!r}: {text}"
    )
