"""The ring8 precision table in docs/results.md ("ring8: the defaults on
points"), re-runnable with the one command

    python benchmarks/ring8_precision.py [--models gan,wgan-gp,lsgan] [--seeds 5]
                                         [--steps gan=N,...] [--set model:key=value ...]
                                         [--jobs 1]

Each run is exactly what a user types: ``genbench run --headless --quiet --model M
--dataset ring8 --steps N --seed S --threads 1 [--set k=v]`` and then ``genbench
eval RUN --json`` (modes covered and the high-quality share on 2,500 samples), one
run at a time so the times mean something on a shared machine. With no ``--set``
each model trains with its own defaults for points (``defaults_for``), which is
the point of the table. Prints one markdown row per model: settings, steps,
seconds per run (training only, wall clock), modes covered and high quality,
mean and per seed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# A short budget by default, about a minute a run on one CPU thread (a wgan-gp
# step adds a penalty's second backward pass); the table's rows give --steps.
STEPS = {"gan": 8000, "lsgan": 8000, "wgan-gp": 4000}


def _genbench() -> list[str]:
    exe = Path(sys.executable).with_name("genbench")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "genbench"]


def _one(model: str, seed: int, steps: int, sets: list[str], runs_dir: Path) -> dict:
    name = f"{model}-s{seed}"
    cmd = [
        *_genbench(),
        "run",
        "--headless",
        "--quiet",
        "--model",
        model,
        "--dataset",
        "ring8",
        "--steps",
        str(steps),
        "--seed",
        str(seed),
        "--threads",
        "1",
        "--runs-dir",
        str(runs_dir),
        "--name",
        name,
    ]
    for kv in sets:
        cmd += ["--set", kv]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    out = subprocess.run(
        [*_genbench(), "eval", str(runs_dir / name), "--json"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    summary = json.loads(out)["summary"]
    meta = json.loads((runs_dir / name / "run.json").read_text())
    return {
        "modes": summary["modes_covered"],
        "hq": summary["high_quality"],
        "seconds": seconds,
        "for_data": meta.get("config_for_data", {}),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="gan,wgan-gp,lsgan")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", default="", help="model=N,... (default: the table's)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODEL:KEY=VALUE",
        help="override a model's setting (to compare with the defaults)",
    )
    ap.add_argument("--runs-dir", type=Path, default=None)
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="seeds trained at once (default 1: "
        "one at a time, so the seconds per run mean something)",
    )
    args = ap.parse_args(argv)
    steps = dict(STEPS)
    for item in filter(None, args.steps.split(",")):
        m, n = item.split("=")
        steps[m] = int(n)
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="ring8-precision-"))
    print(f"runs in {runs_dir}", file=sys.stderr)
    print(
        "| model | settings on points | steps | s per run | modes covered (mean) | per seed "
        "| high quality (mean) | per seed |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for model in args.models.split(","):
        sets = [s.split(":", 1)[1] for s in args.set if s.split(":", 1)[0] == model]
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            n = args.seeds
            rows = list(
                pool.map(
                    _one,
                    [model] * n,
                    range(n),
                    [steps[model]] * n,
                    [sets] * n,
                    [runs_dir / model] * n,
                )
            )
        used = {**rows[0]["for_data"], **dict(kv.split("=", 1) for kv in sets)}
        settings = ", ".join(f"{k} {v}" for k, v in used.items()) or "config defaults"
        modes = [r["modes"] for r in rows]
        hq = [r["hq"] for r in rows]
        print(
            f"| {model} | {settings} | {steps[model]:,} "
            f"| {statistics.mean(r['seconds'] for r in rows):.0f} "
            f"| {statistics.mean(modes):.1f} | {' '.join(map(str, modes))} "
            f"| {statistics.mean(hq):.1%} | {' '.join(f'{v:.0%}' for v in hq)} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
