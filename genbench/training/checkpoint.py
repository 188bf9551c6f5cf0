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
