"""What the trainer's process uses, and the learning rates it trains with: numbers
each metrics line carries beside the losses, so the workbench can chart them over
the run (``"sys"`` and ``"lr"`` in metrics.jsonl; docs/training.md).
"""

from __future__ import annotations

import os
import time
from typing import Any

import psutil
import torch

from genbench.api import GenerativeModel
from genbench.nn import LrSchedule


class ProcessUsage:
    """This process's CPU use since the last look and its resident memory.

    CPU is the process's user + system time over the wall time between two looks,
    in percent of one core (as htop and the workbench's cpu column count: 250 is
    two and a half cores), so a metrics line says what its own interval cost.
    """

    def __init__(self) -> None:
        self._last = (time.monotonic(), _cpu_seconds())
        self._process: psutil.Process | None = None  # on first use

    def sample(self) -> dict[str, float]:
        """{"cpu": percent of one core since the last sample, "rss_mb": resident MB};
        a number the OS does not give is left out."""
        now, cpu = time.monotonic(), _cpu_seconds()
        (then, cpu_then), self._last = self._last, (now, cpu)
        out: dict[str, float] = {}
        if now > then:
            out["cpu"] = round(max(0.0, cpu - cpu_then) / (now - then) * 100, 1)
        rss = self._rss()
        if rss is not None:
            out["rss_mb"] = round(rss / 2**20, 1)
        return out

    def _rss(self) -> int | None:
        try:
            if self._process is None:
                self._process = psutil.Process()
            return int(self._process.memory_info().rss)
        except (OSError, psutil.Error):
            return None


def _cpu_seconds() -> float:
    """User and system CPU seconds of this process, every thread counted."""
    t = os.times()
    return t.user + t.system


def learning_rates(model: GenerativeModel) -> dict[str, float]:
    """The learning rate of each optimiser the model checkpoints where the run stands
    (the rate its next update takes, as torch's schedulers leave it after a step and
    TensorBoard users read it: a linear decay reaches 0 at the last step), by the
    optimiser's attribute name less ``opt_`` (``opt_g`` -> ``g``). An optimiser
    whose param groups differ gives one rate a group (``g/1``, ...)."""
    # genbench.nn.LrSchedule sets the rate at the start of each train_step, so the
    # groups still hold the last update's: its own rate() is the next one.
    scheduled = {
        id(opt): schedule.rate()
        for schedule in vars(model).values()
        if isinstance(schedule, LrSchedule)
        for opt in schedule.optimisers
    }
    out: dict[str, float] = {}
    for name, opt in model.checkpointed().items():
        if not isinstance(opt, torch.optim.Optimizer):
            continue
        key = name.removeprefix("opt_") or name
        rates = [_rate(group.get("lr")) for group in opt.param_groups]
        if id(opt) in scheduled:
            rates = [scheduled[id(opt)]]
        if len(set(rates)) == 1:
            rates = rates[:1]
        for i, rate in enumerate(rates):
            if rate is not None:
                out[key if i == 0 else f"{key}/{i}"] = rate
    return out


def _rate(lr: Any) -> float | None:
    """A param group's lr as a float (torch allows a 0-d tensor); None for anything else."""
    if isinstance(lr, torch.Tensor):
        return float(lr.item()) if lr.numel() == 1 else None
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        return float(lr)
    return None
