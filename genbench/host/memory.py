"""How much host memory this process may still take, and the one refusal for a
cost that does not fit.

A run folder may come from someone else, and every cost it can cause (a
checkpoint's records, a dataset's declared size, the model its run.json
describes) is compared with this before it is paid: the check is cheap, the
allocation it prevents is not (a MemoryError traceback, or the kernel's OOM
killer taking the process and whatever else it picks).

The limits are read by genbench.host.probe. No torch, no numpy.
"""

from __future__ import annotations

from genbench.errors import UsageError
from genbench.host import probe


def host_available() -> int | None:
    """Bytes this process may still allocate on the host: the system's available
    memory, capped by a cgroup limit and by ``ulimit -v`` (RLIMIT_AS); None when
    none of them is known."""
    limits = (probe.available_memory(), probe.cgroup_memory_free(), probe.address_space_left())
    known = [n for n in limits if n is not None]
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
