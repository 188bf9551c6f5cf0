"""A local sweep with --parallel 2 against the same members one after another.

    .venv/bin/python benchmarks/sweep_parallel.py [--steps 300] [--seeds 0-2] [--order ps]

Runs, in one sitting, the 12-member sweep of issue 28 (dcgan, lsgan x lr 1e-4, 2e-4
x 3 seeds, Fashion-MNIST, --steps 300) twice with the local executor:

  - p: ``--parallel 2``: two members at once, each with one thread (the executor's
    share of the 2 cores);
  - s: ``--parallel 1``: one member at a time, with both threads (what a user running
    the members one after another gets from ``genbench run``'s default
    ``--threads auto`` on a 2-core machine);
  - 1: ``--parallel 1 --threads 1``: the very same member commands as p (one
    thread each), one after another.

It prints each sweep's wall time (from the command's start to its end: process
start-up, data loading and the final evaluation of every member included), the
ratio, and the images/s each member logged (the median of its metrics lines after
the first interval). ``--order`` sets the order of the sweeps (``ps``, ``sp``,
``psps`` for two sittings interleaved). The numbers depend on what else the
machine is doing: say so when quoting them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENBENCH = [sys.executable, "-m", "genbench"]


def sweep(runs: Path, name: str, kind: str, steps: int, seeds: str) -> float:
    parallel = 2 if kind == "p" else 1
    command = [
        *GENBENCH,
        "sweep",
        "--name",
        name,
        "--runs-dir",
        str(runs),
        "--model",
        "dcgan,lsgan",
        "--set",
        "lr=1e-4,2e-4",
        "--seeds",
        seeds,
        "--dataset",
        "fashion-mnist",
        "--steps",
        str(steps),
        "--device",
        "cpu",
        "--parallel",
        str(parallel),
        *(["--threads", "1"] if kind == "1" else []),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


DESCRIBED = {
    "p": "--parallel 2",
    "s": "--parallel 1 (2 threads)",
    "1": "--parallel 1 --threads 1",
}


def member_speeds(runs: Path, name: str) -> dict[str, float]:
    out = {}
    for run in sorted(runs.glob(f"{name}-*")):
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        speeds = [r["img_per_s"] for r in lines if r.get("img_per_s")][1:]
        point = json.loads((run / "run.json").read_text())["sweep"]["point"]
        label = f"{point['model']} lr={point['lr']} seed={point['seed']}"
        out[label] = statistics.median(speeds) if speeds else float("nan")
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seeds", default="0-2")
    p.add_argument("--order", default="ps")
    args = p.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    walls: dict[str, list[float]] = {"p": [], "s": [], "1": []}
    speeds: dict[str, list[dict[str, float]]] = {"p": [], "s": [], "1": []}
    try:
        for i, kind in enumerate(args.order):
            name = f"{kind}{i}"
            wall = sweep(runs, name, kind, args.steps, args.seeds)
            walls[kind].append(wall)
            speeds[kind].append(member_speeds(runs, name))
            print(f"{name}: {DESCRIBED[kind]}: {wall:.0f} s", flush=True)
        for kind in "ps1":
            for sitting, by_member in enumerate(speeds[kind]):
                shown = ", ".join(f"{k}: {v:.0f}" for k, v in by_member.items())
                print(f"img/s per member, {kind}{sitting}: {shown}")
        for kind in "s1":
            if walls["p"] and walls[kind]:
                ratios = [b / p for p, b in zip(walls["p"], walls[kind], strict=False)]
                shown = ", ".join(f"{r:.2f}x" for r in ratios)
                print(f"{DESCRIBED[kind]} / {DESCRIBED['p']}: {shown}")
    finally:
        shutil.rmtree(runs, ignore_errors=True)


if __name__ == "__main__":
    main()
