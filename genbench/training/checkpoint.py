"""Checkpoints: written atomically, read with weights_only so a run folder from
someone else cannot run code on this machine."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch

from genbench.errors import UsageError
from genbench.runs import write_atomic

FORMAT = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(Path(path), buffer.getvalue())


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The checkpoint's contents, or a UsageError naming what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no checkpoint at {path}; this run cannot be resumed")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"checkpoint {path} is corrupt or unsafe to load: {first}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state:
        raise UsageError(f"checkpoint {path} is not a genbench checkpoint")
    return state
