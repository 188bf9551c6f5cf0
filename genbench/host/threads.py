"""How many CPU threads a trainer uses: its share of the CPUs it may use.

torch's default is one thread per core. Two trainers on a 2-core machine with
the default threads spin and fight, each a fraction as fast as with one thread
(docs/benchmarks.md has the figures). So a trainer takes

    share = the CPUs this process may use // the genbench trainers on this host

where "may use" is the smallest of its CPU affinity, the cgroup CPU quota,
SLURM_CPUS_PER_TASK and OMP_NUM_THREADS. The share is taken again every few
seconds, so a trainer that started alone gives up cores when a second one
starts and takes them back when it ends. ``--threads N`` fixes the number.

torch-free except :meth:`ThreadShare.apply`; the workbench imports this module.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from genbench.errors import UsageError
from genbench.host import probe

REFRESH_S = 5.0


@dataclass(frozen=True)
class Budget:
    cpus: int
    limit: str  # which limit set it, for `genbench bench` and the start line


def cpu_budget(
    environ: Mapping[str, str] | None = None, cgroup: Path = Path("/sys/fs/cgroup")
) -> Budget:
    """The CPUs this process may use, and which limit says so."""
    env = os.environ if environ is None else environ
    found = [Budget(*probe.usable_cpus())]
    quota = probe.cgroup_cpu_quota(cgroup)
    if quota is not None:
        found.append(Budget(quota, "cgroup CPU quota"))
    for name in ("SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS"):
        value = _positive_int(env.get(name))
        if value is not None:
            found.append(Budget(value, name))
    return min(found, key=lambda b: b.cpus)


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(str(text).strip())
    except ValueError:
        return None
    return value if value > 0 else None


def is_trainer(argv: list[str]) -> bool:
    """Whether a command line is a genbench trainer (`genbench run ...`,
    `python -m genbench run ...`, or `genbench bench`, which trains too), as the
    process table shows it."""
    for i, arg in enumerate(argv[:4]):
        if (arg == "genbench" or arg.endswith("/genbench")) and argv[i + 1 : i + 2] in (
            ["run"],
            ["bench"],
        ):
            return True
    return False


def count_trainers(command_lines: Callable[[], Iterable[list[str]]] = probe.command_lines) -> int:
    """genbench trainers running on this host, this one included (at least 1).
    Where the process table cannot be read, only this one is known."""
    try:
        return max(1, sum(1 for argv in command_lines() if is_trainer(argv)))
    except OSError:
        return 1


def max_threads() -> int:
    """The most CPU threads --threads may fix: the machine's CPUs. More only spin
    and fight over the same cores, and each one is an OS thread: --threads 100000
    once exhausted the host's threads (other processes could not fork) and crashed."""
    return probe.cpu_count()


def parse_threads(text: str | None) -> int | None:
    """--threads: "auto" (None: take a share) or a number from 1 to max_threads(),
    checked before anything starts."""
    if text is None or text == "auto":
        return None
    value = _positive_int(text)
    limit = max_threads()
    if value is None or value > limit:
        raise UsageError(
            f"--threads must be auto or a whole number from 1 to {limit} "
            f"(this machine's CPUs), got {str(text)[:40]!r}"
        )
    return value


class ThreadShare:
    """Sets torch's CPU threads to this trainer's share, and keeps it current."""

    def __init__(
        self,
        fixed: int | None = None,
        budget: Budget | None = None,
        trainers: Callable[[], int] = count_trainers,
    ) -> None:
        self.fixed = fixed
        self.budget = budget or cpu_budget()
        self._trainers = trainers
        self._last = -math.inf
        self.threads = fixed or 0

    def share(self) -> int:
        if self.fixed:
            return self.fixed
        return max(1, self.budget.cpus // self._trainers())

    def describe(self) -> str:
        if self.fixed:
            return f"{self.fixed} threads (--threads)"
        return (
            f"{self.threads} of {self.budget.cpus} CPUs ({self.budget.limit}, shared "
            f"with the other genbench trainers here)"
        )

    def apply(self, force: bool = False) -> int:
        """Set the share now, or at most every REFRESH_S when not forced. Returns it."""
        now = time.monotonic()
        if not force and (self.fixed and self.threads or now - self._last < REFRESH_S):
            return self.threads
        self._last = now
        threads = self.share()
        if threads != self.threads or force:
            import torch

            torch.set_num_threads(threads)
            self.threads = threads
        return threads
