"""Two processes on CPU with gloo, as torchrun would start them."""

from __future__ import annotations

import json
import socket

import torch
import torch.multiprocessing as mp

from genbench.runfolder.runs import read_metrics
from tests.ddp_worker import train_then_resume


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_train_one_run_with_identical_parameters_and_resume(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    out.mkdir()
    mp.start_processes(
        train_then_resume,
        args=(2, free_port(), str(runs), str(out)),
        nprocs=2,
        join=True,
        start_method="spawn",
    )

    assert [p.name for p in runs.iterdir()] == ["ddp"]  # rank 0 alone writes
    meta = json.loads((runs / "ddp" / "run.json").read_text())
    assert (meta["status"], meta["step"], meta["world_size"]) == ("completed", 60, 2)
    assert [r["step"] for r in read_metrics(runs / "ddp" / "metrics.jsonl")] == [
        10,
        20,
        30,
        40,
        50,
        60,
    ]

    a = torch.load(out / "rank0.pt", weights_only=True)
    b = torch.load(out / "rank1.pt", weights_only=True)
    assert a["outcomes"] == b["outcomes"] == ["completed", "completed", 60]
    for net in ("G", "D"):
        for key, value in a["model"][net].items():
            assert torch.equal(value, b["model"][net][key]), f"{net}.{key} differs"
