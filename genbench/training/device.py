"""Choosing the device and seeding every random generator."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from genbench.errors import UsageError


def available_devices() -> list[str]:
    found = []
    if torch.cuda.is_available():
        found += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def resolve_device(name: str | None) -> torch.device:
    """'auto' (or None) picks cuda, then mps, then cpu; anything else must exist here."""
    valid = available_devices()
    if name in (None, "", "auto"):
        return torch.device(valid[0])
    if name not in valid:
        raise UsageError(
            f"device {name!r} is not available here; valid devices: auto, " + ", ".join(valid)
        )
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds every CUDA device too


def rng_state() -> dict[str, Any]:
    """The global generators' state, as tensors, for an exact resume."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
