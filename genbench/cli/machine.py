"""What the CLI says about this machine in its help (no torch: ``--help`` stays fast)."""

from __future__ import annotations

from genbench.host.bf16 import cpu_bf16


def machine_help() -> dict[str, str]:
    """A run option's name -> what this machine adds to its help."""
    return {"precision": f"here bf16 is {cpu_bf16().describe()}"}
