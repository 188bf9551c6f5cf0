"""Numeric precision of the training step: fp32, or bf16 autocast."""

from __future__ import annotations

import contextlib

import torch

from genbench.errors import UsageError
from genbench.options import PRECISIONS


def check_precision(name: str) -> str:
    if name not in PRECISIONS:
        raise UsageError(f"precision {name!r} is not one of: {', '.join(PRECISIONS)}")
    return name


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast around a training step; a no-op context for fp32.

    Losses stay fp32 where autocast keeps reductions in fp32, and optimisers
    update fp32 master weights, so no gradient scaler is needed for bf16.
    """
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
