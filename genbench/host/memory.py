"""How much host memory this process may still take, and the one refusal for a
cost that does not fit.

A run folder may come from someone else, and every cost it can cause (a
checkpoint's records, a dataset's declared size, the model its run.json
describes) is compared with this before it is paid: the check is cheap, the
allocation it prevents is not (a MemoryError traceback, or the kernel's OOM
killer taking the process and whatever else it picks).

The standard library only: no torch, no numpy.
"""

from __future__ import annotations

import os
from pathlib import Path

from genbench.errors import UsageError


def host_available() -> int | None:
    """Bytes this process may still allocate on the host: the system's available
    memory, capped by a cgroup limit and by ``ulimit -v`` (RLIMIT_AS); None when
    none of them is known."""
    known = [
        n for n in (_meminfo_available(), _cgroup_free(), _address_space_left()) if n is not None
    ]
    return min(known) if known else None


def check_fits(need: int, what: str, free: int | None = None, where: str = "memory") -> None:
    """Raise UsageError when ``need`` bytes are more than ``free`` (default: what
    :func:`host_available` says). ``what`` starts the line, e.g. "checkpoint X
    declares 6.4 GB of records"; unknown free memory is not refused."""
    if free is None:
        free = host_available()
    if free is not None and need > free:
        raise UsageError(
            f"{what}, needing {human_bytes(need)}, more than the "
            f"{human_bytes(free)} of {where} free; refused before reading it"
        )


def human_bytes(n: float) -> str:
    """Bytes as decimal units (the way memory is sold): 16.0 GB."""
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _address_space_left() -> int | None:
    """What ``ulimit -v`` (RLIMIT_AS) still allows this process, when it is set."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm", encoding="ascii") as fh:
            used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return max(0, limit - used)
    except (ImportError, OSError, ValueError, IndexError):
        return None


def _cgroup_free() -> int | None:
    """What this process's cgroup (v2, or v1's memory controller) still allows."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if controllers == "":
            base, files = Path("/sys/fs/cgroup") / rel.lstrip("/"), ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / rel.lstrip("/")
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
