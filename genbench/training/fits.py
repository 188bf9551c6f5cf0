"""Will it fit? The memory a model, its data and a batch need, estimated on the meta
device and refused in one line before a run folder exists; and whether a checkpoint's
tensors fit the model its run.json describes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genbench import config as cfg
from genbench.api import DataSpec
from genbench.data import Dataset
from genbench.errors import UsageError, one_line
from genbench.host.memory import host_available, human_bytes
from genbench.registry import ModelEntry
from genbench.runfolder.runs import CHECKPOINT
from genbench.training.distributed import SingleProcess
from genbench.training.loop import Plan

# The least memory one training step takes for each example of the batch, in
# floats: the example a few times over (input, generated, their gradients) plus
# hidden activations. A deliberate lower bound, so that only a batch that cannot
# fit is refused: the built-in models take far more on CPU (about 3,200 floats an
# example for gan on ring8, 6,000 on Fashion-MNIST, 30,000 for vae, 130,000 for dcgan).
FLOATS_PER_VALUE = 4


FLOATS_PER_EXAMPLE = 1024


def check_memory(
    entry: ModelEntry,
    config: Any,
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
    weights = check_model_memory(entry, config, dataset.spec, device, free, copies=2)
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


def check_model_memory(
    entry: ModelEntry,
    config: Any,
    spec: DataSpec,
    device: torch.device,
    free: int | None,
    copies: int = 1,
    model: Any = None,
) -> int:
    """The bytes ``copies`` fp32 copies of the model's parameters take (weights; with
    their gradients, 2), counted on the meta device; a UsageError when that is more
    than ``free`` (None: not known, not refused)."""
    params = parameter_count(entry, config, spec, model)
    weights = copies * 4 * params
    if free is not None and weights > free:
        grads = " with their gradients" if copies == 2 else ""
        raise UsageError(
            f"model {entry.name!r} with {sizes(entry, config, spec)} "
            f"has {params:,} parameters, needing at least {human_bytes(weights)}"
            f"{grads}, more than the {human_bytes(free)} of memory "
            f"free on {device}; choose smaller sizes"
        )
    return weights


def build_on_meta(entry: ModelEntry, config: Any, spec: DataSpec) -> Any:
    """The model built on the meta device (shapes, no memory); None when the plugin
    cannot be built there."""
    try:
        with torch.device("meta"):
            return entry.cls(config, spec, torch.device("meta"))
    except Exception:  # noqa: BLE001 - only for estimates; the real build still checks
        return None


def parameter_count(entry: ModelEntry, config: Any, spec: DataSpec, model: Any = None) -> int:
    """The model's parameters, counted on the meta device (nothing allocated; ``model``
    when it is built there already); 0 when the plugin cannot be built there."""
    model = model if model is not None else build_on_meta(entry, config, spec)
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


def sizes(entry: ModelEntry, config: Any, spec: DataSpec) -> str:
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


def no_room(
    exc: BaseException,
    entry: ModelEntry,
    config: Any,
    spec: DataSpec,
    device: torch.device,
    also: str = "",
) -> UsageError:
    """Running out of memory while building, as one line naming the sizes asked for;
    any other RuntimeError is re-raised (a plugin's bug keeps its traceback)."""
    if not isinstance(exc, MemoryError) and not any(
        text in str(exc).lower() for text in _OUT_OF_MEMORY
    ):
        raise exc
    return UsageError(
        f"model {entry.name!r} with {sizes(entry, config, spec)}{also} does "
        f"not fit in memory on {device} ({one_line(exc)[:160]}); choose "
        "smaller sizes"
    )


def check_restorable(
    run_dir: Path,
    entry: ModelEntry,
    config: Any,
    dataset: Dataset,
    device: torch.device,
    state: dict[str, Any],
    plan: Plan | None = None,
    dist: SingleProcess = SingleProcess(),
) -> None:
    """Before a run's model is built from run.json's config: the checkpoint's
    tensors have the shapes that config gives (compared on the meta device, so a
    config that lies about the sizes costs nothing), and the model fits in the
    memory free on ``device``: its weights for an evaluation, the same estimate as
    `genbench run` (weights, gradients, the data and a batch) for a resume."""
    meta_model = build_on_meta(entry, config, dataset.spec)
    if plan is None:
        check_model_memory(
            entry, config, dataset.spec, device, available_memory(device), model=meta_model
        )
    else:
        check_memory(entry, config, dataset, device, plan, dist)
    if meta_model is not None:
        problem = shape_misfit(meta_model, state.get("model"))
        if problem:
            raise UsageError(
                f"checkpoint {run_dir / CHECKPOINT} does not fit model "
                f"{entry.name!r} with run.json's config: {problem}"
            )


def shape_misfit(meta_model: Any, saved: Any) -> str | None:
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
