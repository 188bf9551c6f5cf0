"""What the host gives this process: the memory it may still take, the CPUs it may
use, and the command lines of the processes running.

psutil answers what it knows on every OS: available memory, this process's address
space and CPU affinity, the CPU count, the process table. Read by hand is only what
psutil does not read: the cgroup (v2, or v1's controllers) memory and CPU limits,
and ``ulimit -v`` (RLIMIT_AS). Each answer is None (or left out) when the host does
not say, never a guess. No torch here: the workbench and ``genbench --help`` import it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

# psutil is imported by each function that asks it, on first use: listing datasets and
# the workbench's first paint import this module (through memory and threads) but
# rarely ask it anything, and psutil's import is most of such a module's cost.

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_memory() -> int | None:
    """Bytes the system could still hand out without swapping (Linux: MemAvailable)."""
    import psutil

    try:
        return int(psutil.virtual_memory().available)
    except (OSError, RuntimeError, AttributeError):
        return None


def address_space_left() -> int | None:
    """What ``ulimit -v`` (RLIMIT_AS) still allows this process, when it is set."""
    import psutil

    try:
        import resource  # POSIX only

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        used = psutil.Process().memory_info().vms
    except (ImportError, OSError, ValueError, psutil.Error):
        return None
    return max(0, limit - used)


def cgroup_memory_free(proc_cgroup: Path = Path("/proc/self/cgroup")) -> int | None:
    """What this process's cgroup (v2, or v1's memory controller) still allows."""
    try:
        lines = proc_cgroup.read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if controllers == "":
            base, files = CGROUP_ROOT / rel.lstrip("/"), ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base = CGROUP_ROOT / "memory" / rel.lstrip("/")
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        try:
            limit = (base / files[0]).read_text().strip()
            used = int((base / files[1]).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            return max(0, int(limit) - used)
    return None


def cpu_count() -> int:
    """The machine's logical CPUs (at least 1)."""
    import psutil

    return psutil.cpu_count(logical=True) or 1


def usable_cpus() -> tuple[int, str]:
    """The CPUs this process may run on, and what says so: its CPU affinity where the
    OS has one (Linux, Windows), else the machine's CPU count."""
    import psutil

    try:
        return len(psutil.Process().cpu_affinity() or []) or cpu_count(), "CPU affinity"
    except (AttributeError, OSError, psutil.Error):  # no affinity here (macOS)
        return cpu_count(), "CPU count"


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> int | None:
    """CPUs allowed by a cgroup quota (v2 cpu.max, or v1 cfs quota/period), rounded up."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return max(1, math.ceil(quota_us / period_us)) if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def command_lines() -> Iterator[list[str]]:
    """The command line of every process this user may read (others' are skipped,
    as are processes that end while the table is read)."""
    import psutil

    for process in psutil.process_iter(["cmdline"]):
        argv = process.info.get("cmdline")
        if argv:
            yield [str(a) for a in argv]
