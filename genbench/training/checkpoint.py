"""Checkpoints: written atomically, read with weights_only so a run folder from
someone else cannot run code on this machine."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import torch

from genbench.errors import UsageError, one_line
from genbench.runs import write_atomic
from genbench.untrusted import CHECKPOINT_MAX, open_regular

FORMAT = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(Path(path), buffer.getvalue())


# What a trainer checkpoint holds besides the model's own state (Trainer.state_dict).
_PARTS = {"model": dict, "sampler": dict, "meter": dict, "rng": dict}


def load_checkpoint(path: Path, device: torch.device | str = "cpu",
                    max_step: int | None = None) -> dict[str, Any]:
    """The checkpoint's contents, or a UsageError naming what is wrong with it.

    The file is untrusted: it must be a regular file of the run folder under the
    size cap, it is unpickled with ``weights_only=True`` (no code runs), and its
    shape is checked (a step from 0 to ``max_step``, the parts a trainer saves), so
    a damaged or hostile checkpoint is one line, never a traceback."""
    path = Path(path)
    try:
        with open_regular(path, CHECKPOINT_MAX, run_dir=path.parent.parent) as fh:
            data = fh.read()
    except FileNotFoundError:
        raise UsageError(f"no checkpoint at {path}; this run cannot be resumed") from None
    try:
        state = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler raises many kinds on bad bytes
        raise UsageError(f"checkpoint {path} is corrupt or unsafe to load: "
                         f"{one_line(exc)[:240]}") from None
    if not isinstance(state, dict) or type(state.get("format")) is not int \
            or state["format"] != FORMAT:
        raise UsageError(f"checkpoint {path} is not a genbench checkpoint "
                         f"(format {FORMAT} expected)")
    step = state.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0 \
            or (max_step is not None and step > max_step):
        bound = f" to {max_step}" if max_step is not None else " up"
        raise UsageError(f"checkpoint {path} has step {step!r}; a step from 0{bound} "
                         "was expected")
    for key, kind in _PARTS.items():
        if not isinstance(state.get(key), kind):
            raise UsageError(f"checkpoint {path} has no valid {key!r} part "
                             "(a genbench trainer checkpoint has model, sampler, meter, rng)")
    elapsed = state.get("elapsed", 0.0)
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) \
            or not math.isfinite(elapsed) or elapsed < 0:
        raise UsageError(f"checkpoint {path} has elapsed {elapsed!r}; a time in seconds "
                         "was expected")
    return state


def all_finite(state: Any) -> bool:
    """Whether every floating-point tensor in a (nested) state is finite: a
    checkpoint of weights or optimiser moments gone infinite is not one to resume."""
    if isinstance(state, torch.Tensor):
        return not state.is_floating_point() or bool(torch.isfinite(state).all())
    if isinstance(state, dict):
        return all(all_finite(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return all(all_finite(v) for v in state)
    return True


def check_optimiser_state(optimiser: torch.optim.Optimizer) -> None:
    """Raise ValueError when a loaded optimiser's per-parameter state lacks entries
    the optimiser keeps, or holds them in the wrong shape: a damaged checkpoint that
    ``load_state_dict`` accepts unchecked, and the first step after a resume would
    trip over. The entries expected are those a fresh copy of the optimiser, with
    the same settings, creates in one step on a one-number parameter."""
    if not optimiser.state:
        return
    groups = [{**{k: v for k, v in g.items() if k != "params"},
               "params": [torch.zeros(1, requires_grad=True)]} for g in optimiser.param_groups]
    try:
        probe = type(optimiser)(groups)  # type: ignore[call-arg]  # a subclass: groups suffice
        for group in probe.param_groups:
            for p in group["params"]:
                p.grad = torch.zeros_like(p)
        probe.step()
    except Exception:  # noqa: BLE001 - an optimiser this probe cannot build: nothing to compare
        return
    for group, reference in zip(optimiser.param_groups, probe.param_groups, strict=True):
        expected = set(probe.state[reference["params"][0]])
        for p in group["params"]:
            state = optimiser.state.get(p)
            if state is None:
                continue
            if set(state) != expected:
                raise ValueError(f"{type(optimiser).__name__} state holds {sorted(state)}, "
                                 f"not {sorted(expected)}")
            for name, value in state.items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 \
                        and value.shape != p.shape:
                    raise ValueError(f"{type(optimiser).__name__} state {name!r} has shape "
                                     f"{tuple(value.shape)}, its parameter {tuple(p.shape)}")


# How an optimiser computes its step, not what it computes: this genbench's choice
# wins over the checkpoint's (a run saved before cgan used fused Adam resumes fused).
IMPLEMENTATION_FLAGS = ("foreach", "fused", "capturable", "differentiable")


def check_optimiser_settings(optimiser: torch.optim.Optimizer,
                             built: list[dict[str, Any]]) -> None:
    """Raise ValueError when a loaded optimiser's settings differ from ``built``, the
    settings the run's config gave a fresh optimiser: a checkpoint with another beta
    or epsilon is damaged (or from another run), and would train on wrong settings or
    fail at its first step. The learning rate may differ (a model may schedule it),
    but must be a finite number of at least 0; keys the file adds (a scheduler's
    ``initial_lr``) are kept; implementation flags (fused, foreach, ...) are set to
    what this genbench builds."""
    name = type(optimiser).__name__
    if len(optimiser.param_groups) != len(built):
        raise ValueError(f"{name} has {len(optimiser.param_groups)} parameter groups, "
                         f"the run's config builds {len(built)}")
    for group, settings in zip(optimiser.param_groups, built, strict=True):
        for key, value in settings.items():
            if key in IMPLEMENTATION_FLAGS:
                group[key] = value
                continue
            if key not in group:
                raise ValueError(f"{name} settings lack {key!r}")
            if key == "lr":
                lr = float(group[key])
                if not (math.isfinite(lr) and lr >= 0):
                    raise ValueError(f"{name} learning rate is {lr}, not a finite number >= 0")
            elif not _same(group[key], value):
                raise ValueError(f"{name} {key} is {group[key]!r} in the checkpoint, "
                                 f"{value!r} from the run's config")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) \
            and a.shape == b.shape and bool(torch.equal(a.cpu(), b.cpu()))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b) or (isinstance(a, (int, float))
                                                  and isinstance(b, (int, float))
                                                  and not isinstance(a, bool) and a == b)
