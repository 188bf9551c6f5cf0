"""Entry point of the processes the distributed test spawns (must be importable)."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def train_then_resume(rank: int, world: int, port: int, runs_dir: str, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    from genbench.registry import load_registry
    from genbench.training.distributed import from_environment
    from genbench.training.launch import ResumeRequest, RunRequest, new_run, resume_run

    dist = from_environment("cpu")
    registry = load_registry()
    request = RunRequest(
        model="gan",
        dataset="ring8",
        steps=40,
        batch_size=32,
        seed=5,
        device="cpu",
        runs_dir=Path(runs_dir),
        name="ddp",
        log_every=10,
        sample_every=20,
        checkpoint_every=20,
    )
    first = new_run(request, registry, lambda e: None, dist).run()
    resumed = resume_run(
        Path(runs_dir) / "ddp", registry, lambda e: None, ResumeRequest(steps=60), dist=dist
    )
    second = resumed.run()
    torch.save(
        {
            "outcomes": [first.status, second.status, second.step],
            "model": resumed.model.state_dict(),
        },
        Path(out) / f"rank{rank}.pt",
    )
    dist.close()
