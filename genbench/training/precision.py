"""Numeric precision of the training step: fp32, or bf16 autocast; and which of them
this machine should use (``--precision auto``, and the warning for bf16 where it is
emulated)."""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass

import torch

from genbench.errors import UsageError
from genbench.host.bf16 import Bf16Support, cpu_bf16, cuda_bf16
from genbench.options import PRECISION_CHOICES

# bf16 is chosen by auto only where a conv step is at least this much faster: a tie
# is not worth bf16's coarser numbers.
AUTO_MIN_SPEEDUP = 1.1
# The probe stops timing bf16 once one pass took this long (an emulating CPU can be
# tens of times slower than fp32); the ratio measured so far is already the answer.
PROBE_BUDGET_S = 2.0


def check_precision(name: str) -> str:
    if name not in PRECISION_CHOICES:
        raise UsageError(f"precision {name!r} is not one of: {', '.join(PRECISION_CHOICES)}")
    return name


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast around a training step; a no-op context for fp32.

    Losses stay fp32 where autocast keeps reductions in fp32, and optimisers
    update fp32 master weights, so no gradient scaler is needed for bf16.
    """
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def bf16_support(device: torch.device) -> Bf16Support:
    """Whether ``device`` runs bf16 natively (genbench.host.bf16 reads the CPU)."""
    if device.type == "cuda":
        return cuda_bf16(
            torch.cuda.get_device_name(device), torch.cuda.get_device_capability(device)
        )
    if device.type == "cpu":
        return cpu_bf16()
    return Bf16Support(None, device.type, "genbench has no probe for it")


@functools.cache
def bf16_time_ratio(device: torch.device) -> float:
    """bf16's time over fp32's for one forward and backward pass of a DCGAN-sized
    conv block on ``device`` (below 1: bf16 is faster). Measured once per process."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        return _time_ratio(device)


def _time_ratio(device: torch.device) -> float:
    torch.manual_seed(0)  # the probe's own numbers, in a forked RNG: training's stay as seeded
    block = torch.nn.Sequential(
        torch.nn.Conv2d(64, 128, 4, 2, 1),
        torch.nn.BatchNorm2d(128),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Conv2d(128, 128, 3, 1, 1),
    ).to(device)
    x = torch.randn(16, 64, 32, 32, device=device)

    def one_pass(precision: str) -> float:
        start = time.perf_counter()
        with autocast(device, precision):
            y = block(x)
        y.float().square().mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    best = {"fp32": float("inf"), "bf16": float("inf")}
    for _ in range(4):  # the first pass of each warms up; the best of the rest counts
        for precision in best:
            best[precision] = min(best[precision], one_pass(precision))
        if best["bf16"] > PROBE_BUDGET_S:
            break
    return best["bf16"] / best["fp32"]


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run trains in, why, and a warning for the user (or None)."""

    precision: str  # fp32 or bf16
    why: str
    warning: str | None = None


def choose_precision(asked: str, device: torch.device) -> PrecisionChoice:
    """--precision as asked (fp32, bf16, auto) resolved for ``device``: auto takes bf16
    only where it is native and measured faster; bf16 asked where it is not native
    trains in bf16 as asked, with the measured cost in a warning."""
    check_precision(asked)
    support = bf16_support(device)
    if asked == "fp32":
        return PrecisionChoice("fp32", f"fp32 as asked; bf16 is {support.describe()}")
    if asked == "bf16":
        if support.native:
            return PrecisionChoice("bf16", f"bf16 as asked; {support.describe()}")
        ratio = bf16_time_ratio(device)
        why = f"bf16 as asked; bf16 is {support.describe()}, {_measured(ratio)}"
        warning = None
        if ratio >= 1.0:  # where genbench cannot tell but bf16 is faster, nothing to warn
            warning = (
                f"bf16 is {support.describe()}: a conv step took {ratio:.1f}x as long as "
                "in fp32 here; --precision fp32 (or auto) trains at full speed"
            )
        return PrecisionChoice("bf16", why, warning)
    if not support.native:
        return PrecisionChoice("fp32", f"auto: fp32; bf16 is {support.describe()}")
    ratio = bf16_time_ratio(device)
    verdict = "bf16" if ratio * AUTO_MIN_SPEEDUP <= 1.0 else "fp32"
    return PrecisionChoice(
        verdict, f"auto: {verdict}; bf16 is {support.describe()}, {_measured(ratio)}"
    )


def _measured(ratio: float) -> str:
    """A measured time ratio in words: 'a conv step 1.6x faster than fp32 here'."""
    if ratio < 1.0:
        return f"a conv step {1 / ratio:.1f}x faster than fp32 here"
    return f"a conv step {ratio:.1f}x fp32's time here"
