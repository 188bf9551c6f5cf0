"""What a running trainer costs, as htop and nvitop show it: CPU %, resident memory,
and GPU utilisation and memory when it trains on CUDA.

The trainer is the process run.json names by pid *and* start time (genbench.runfolder.ownership):
a pid the kernel has since handed to another process is never measured as the run.
Its children (data-loader workers) count as part of it, as htop's collapsed tree
shows them.

CPU % is CPU time over wall time between two samples, so a monitor is kept from one
poll to the next; the first sample of a process gives its average since it started.
psutil is a dependency; the GPU side uses NVML (nvidia-ml-py, the 'gpu' extra),
imported on first use and quietly absent where it is not installed or there is no
NVIDIA GPU. Neither torch nor Textual is imported here.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

from genbench.runfolder.ownership import is_process
from genbench.runfolder.record import RunRecord

# Listing a process's children scans the whole process table: once every few
# seconds per run is enough to notice workers come and go.
CHILDREN_EVERY_S = 5.0


@dataclass(frozen=True)
class Usage:
    """One sample of a trainer (and its children)."""

    cpu_percent: float  # of one core, as htop: 250 means two and a half cores
    rss: int  # resident bytes
    gpu_percent: float | None = None  # the utilisation of the GPU(s) it is on
    gpu_memory: int | None = None  # bytes it holds on the GPU(s)

    def cpu_text(self) -> str:
        return f"{self.cpu_percent:.0f}%"

    def mem_text(self) -> str:
        return size_text(self.rss)

    def gpu_text(self) -> str:
        if self.gpu_percent is None and self.gpu_memory is None:
            return ""
        util = "?" if self.gpu_percent is None else f"{self.gpu_percent:.0f}%"
        memory = "" if self.gpu_memory is None else f" {size_text(self.gpu_memory)}"
        return f"{util}{memory}"

    def text(self) -> str:
        """``CPU 98%  MEM 412M`` (and ``  GPU 71% 2.1G`` on CUDA)."""
        out = f"CPU {self.cpu_text()}  MEM {self.mem_text()}"
        gpu = self.gpu_text()
        return f"{out}  GPU {gpu}" if gpu else out


def size_text(n: int) -> str:
    """Bytes as htop writes them: ``812K``, ``412M``, ``2.1G``."""
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            if unit in ("B", "K", "M"):
                return f"{value:.0f}{unit}"
            return f"{value:.1f}{unit}"
        value /= 1024
    return f"{n}B"


class _Tracked:
    """A trainer between samples: its psutil processes and their last CPU times."""

    def __init__(self, process: Any):
        self.root = process
        self.children: list[Any] = []
        self.children_at = float("-inf")
        self.cpu: dict[int, tuple[float, float]] = {}  # pid -> (cpu seconds, when)


class ResourceMonitor:
    """Samples running trainers; keep one between polls (CPU % needs two looks)."""

    def __init__(self) -> None:
        self._tracked: dict[tuple[int, int | None], _Tracked] = {}
        self._gpu: _Gpu | None = None

    def sample(self, record: RunRecord) -> Usage | None:
        """The trainer's use now, or None when run.json names no live process of
        this machine (another host's, a finished run's, a pid now someone else's)."""
        try:
            import psutil
        except ImportError:  # a dependency; a broken install loses only this column
            return None
        pid, start = record.pid, record.pid_start
        if (
            pid is None
            or record.host != socket.gethostname()
            or not is_process(pid, start, heartbeat=record.heartbeat)
        ):
            self._tracked.pop((pid or 0, start), None)
            return None
        key = (pid, start)
        tracked = self._tracked.get(key)
        try:
            if tracked is None:
                tracked = self._tracked[key] = _Tracked(psutil.Process(pid))
            now = time.monotonic()
            if now - tracked.children_at >= CHILDREN_EVERY_S:
                tracked.children = _children(tracked.root)
                tracked.children_at = now
            cpu, rss, pids = self._cpu_and_memory(tracked, psutil, now)
        except (psutil.Error, OSError):
            self._tracked.pop(key, None)
            return None
        gpu_percent = gpu_memory = None
        if record.device.startswith("cuda"):
            if self._gpu is None:
                self._gpu = _Gpu()
            gpu_percent, gpu_memory = self._gpu.usage(pids)
        return Usage(cpu, rss, gpu_percent, gpu_memory)

    def _cpu_and_memory(
        self, tracked: _Tracked, psutil: Any, now: float
    ) -> tuple[float, int, set[int]]:
        cpu_percent = 0.0
        rss = 0
        seen: dict[int, tuple[float, float]] = {}
        for i, proc in enumerate([tracked.root, *tracked.children]):
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    used = times.user + times.system
                    rss += proc.memory_info().rss
                    before = tracked.cpu.get(proc.pid)
                    if before is not None and now > before[1]:
                        cpu_percent += max(0.0, used - before[0]) / (now - before[1]) * 100
                    else:
                        # First look: its average since it started.
                        age = time.time() - proc.create_time()
                        cpu_percent += used / age * 100 if age > 0 else 0.0
                    seen[proc.pid] = (used, now)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                if i == 0:
                    raise  # the trainer itself is gone: no sample
        tracked.cpu = seen
        return cpu_percent, rss, set(seen)

    def forget(self, keep: set[tuple[int, int | None]]) -> None:
        """Drop the processes of runs no longer sampled (pid, pid_start not in keep)."""
        for key in set(self._tracked) - keep:
            del self._tracked[key]

    def close(self) -> None:
        if self._gpu is not None:
            self._gpu.close()
            self._gpu = None


def _children(process: Any) -> list[Any]:
    try:
        return list(process.children(recursive=True))
    except Exception:  # noqa: BLE001 - workers are a bonus; the trainer is still measured
        return []


class _Gpu:
    """NVML, started once; every failure means "no GPU figures", never an error."""

    def __init__(self) -> None:
        self.nvml: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handles = [
                pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
            ]
        except Exception:  # noqa: BLE001 - not installed, no driver, no GPU: all the same
            self.nvml = None
            self.handles = []

    def usage(self, pids: set[int]) -> tuple[float | None, int | None]:
        """Utilisation of the busiest GPU the processes are on (NVML reports it per
        device, as nvitop's device bar), and the memory they hold on all of them."""
        if self.nvml is None:
            return None, None
        util: float | None = None
        memory: int | None = None
        for handle in self.handles:
            try:
                procs = self.nvml.nvmlDeviceGetComputeRunningProcesses(handle)
                mine = [p for p in procs if p.pid in pids]
                if not mine:
                    continue
                held = sum(p.usedGpuMemory or 0 for p in mine)
                memory = (memory or 0) + held
                busy = float(self.nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
                util = busy if util is None else max(util, busy)
            except Exception:  # noqa: BLE001 - one device's hiccup: skip it this time
                continue
        return util, memory

    def close(self) -> None:
        if self.nvml is not None:
            try:
                self.nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001 - shutting down: nothing left to tell
                pass
            self.nvml = None
