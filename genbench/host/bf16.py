"""Does this machine run bf16 natively, or emulate it?

A CPU computes in bf16 at speed only where it has the instructions for it:
AVX512-BF16 or AMX-BF16 on x86, the BF16 extension (FEAT_BF16) on Arm. Elsewhere
oneDNN emulates bf16 through fp32 and conversions, and a conv net trains several
times slower in bf16 than in fp32 (docs/benchmarks.md). A CUDA GPU has bf16 tensor
cores from compute capability 8.0 (Ampere) on.

The CPU's flags are read from /proc/cpuinfo, not from torch, so that the new-run
form and ``--help`` can say it without importing torch. ``cpu_flags`` is the one
probe; tests replace it to play a CPU without native bf16.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")

# The flags that make bf16 native, in the order they are named (x86, then Arm).
NATIVE_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16", "bf16": "Arm BF16"}
# What the CPU has instead, to name an emulating one (the best first).
VECTOR_FLAGS = {"avx512f": "AVX-512", "avx2": "AVX2", "avx": "AVX", "asimd": "NEON"}
CUDA_NATIVE_FROM = (8, 0)  # Ampere: bf16 tensor cores


@dataclass(frozen=True)
class Bf16Support:
    """native: True where bf16 runs at speed, False where it is emulated, None where
    genbench cannot tell (then it is treated as emulated). where: the device in words;
    because: the instructions found (or missing), for one line."""

    native: bool | None
    where: str
    because: str

    def describe(self) -> str:
        """'native on this CPU (AMX-BF16, AVX512-BF16)', for 'bf16 is ...'."""
        if self.native:
            return f"native on {self.where} ({self.because})"
        if self.native is None:
            return f"not known to be native on {self.where} ({self.because})"
        return f"emulated on {self.where} ({self.because})"


def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags (x86 'flags', Arm 'Features'), None where the system
    does not list them (not Linux, or /proc unreadable)."""
    try:
        with CPUINFO.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        return None
    return None


def isa_cap(environ: Mapping[str, str] = os.environ) -> str | None:
    """oneDNN's instruction-set cap (ONEDNN_MAX_CPU_ISA, or its old name
    DNNL_MAX_CPU_ISA) where it rules out bf16 kernels, e.g. 'AVX2'; None where there
    is none or it allows them. Under such a cap a CPU with AMX emulates bf16 too."""
    cap = (environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA") or "").upper()
    allows = not cap or cap in ("ALL", "DEFAULT") or "BF16" in cap or "AMX" in cap
    return None if allows or cap.startswith("AVX10") else cap


def cpu_bf16() -> Bf16Support:
    """What this CPU does with bf16, from its flags (and oneDNN's cap on them)."""
    if cap := isa_cap():
        return Bf16Support(False, "this CPU", f"ONEDNN_MAX_CPU_ISA={cap}")
    flags = cpu_flags()
    if flags is None:
        return Bf16Support(None, "this CPU", "its instruction set is not listed in /proc/cpuinfo")
    found = [name for flag, name in NATIVE_FLAGS.items() if flag in flags]
    if found:
        return Bf16Support(True, "this CPU", ", ".join(found))
    has = next((name for flag, name in VECTOR_FLAGS.items() if flag in flags), "no SIMD listed")
    return Bf16Support(False, "this CPU", f"{has}, no AVX512-BF16 or AMX-BF16")


def cuda_bf16(name: str, capability: tuple[int, int]) -> Bf16Support:
    """What a CUDA GPU of this compute capability does with bf16."""
    cc = f"compute capability {capability[0]}.{capability[1]}"
    if capability >= CUDA_NATIVE_FROM:
        return Bf16Support(True, name, cc)
    return Bf16Support(False, name, f"{cc}, bf16 tensor cores need 8.0")
