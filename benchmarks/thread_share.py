"""Measure how two genbench trainers share a machine's cores (issue 17).

    .venv/bin/python benchmarks/thread_share.py [--repeat 3] [--steps 200]

Prints, for `genbench bench --model dcgan` on CPU (batch 64, Fashion-MNIST):

  - one alone, with --threads 1, --threads 2 (torch's default on a 2-core
    machine) and auto;
  - two at once, each --threads 2 ("before": what torch does when nobody says);
  - two at once, each --threads 1 (what the share gives two trainers on 2 cores);
  - two `genbench run --headless` at once with the default --threads auto (the
    share as trainers really take it: `genbench bench` is not counted as a
    trainer, so two benches with auto each take every CPU), img/s read from
    their metrics.jsonl, and one such run alone.

Each row repeated --repeat times in one sitting. The numbers depend on what else
the machine is doing: say so when quoting them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GENBENCH = [sys.executable, "-m", "genbench"]
# The command name must read `genbench run` in /proc for the share to count it.
GENBENCH_BIN = str(Path(sys.executable).with_name("genbench"))


def bench_cmd(threads: str, steps: int) -> list[str]:
    return [
        *GENBENCH,
        "bench",
        "--model",
        "dcgan",
        "--device",
        "cpu",
        "--steps",
        str(steps),
        "--warmup",
        "10",
        "--threads",
        threads,
        "--json",
    ]


def run_cmd(runs_dir: Path, name: str, steps: int) -> list[str]:
    big = str(10**6)
    return [
        GENBENCH_BIN,
        "run",
        "--headless",
        "--model",
        "dcgan",
        "--dataset",
        "fashion-mnist",
        "--device",
        "cpu",
        "--steps",
        str(steps),
        "--log-every",
        "25",
        "--sample-every",
        big,
        "--checkpoint-every",
        big,
        "--eval-every",
        big,
        "--runs-dir",
        str(runs_dir),
        "--name",
        name,
        "--quiet",
    ]


def together(cmds: list[list[str]]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    procs = [
        subprocess.Popen(
            c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
        )
        for c in cmds
    ]
    outs = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(p.args)} failed ({p.returncode}): {err.strip()}")
        outs.append(out)
    return outs


def bench_figures(outs: list[str]) -> list[float]:
    return [json.loads(o)["results"][0]["img_per_s"] for o in outs]


def run_figures(runs_dir: Path, names: list[str]) -> list[float]:
    figures = []
    for name in names:
        rows = [
            json.loads(line)
            for line in (runs_dir / name / "metrics.jsonl").read_text().splitlines()
            if line.strip()
        ]
        speeds = [r["img_per_s"] for r in rows if r.get("img_per_s")][1:]  # skip warm-up
        figures.append(statistics.median(speeds))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200, help="bench steps (timed)")
    parser.add_argument("--run-steps", type=int, default=300, help="steps of each run")
    args = parser.parse_args()
    rows: dict[str, list[list[float]]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="gb-threads-"))
    try:
        for rep in range(args.repeat):
            plan = {
                "bench alone, --threads 1": [bench_cmd("1", args.steps)],
                "bench alone, --threads 2": [bench_cmd("2", args.steps)],
                "bench alone, --threads auto": [bench_cmd("auto", args.steps)],
                # fewer steps: this case runs several times slower
                "two benches, --threads 2 each (before)": [bench_cmd("2", max(10, args.steps // 4))]
                * 2,
                "two benches, --threads 1 each (the share)": [bench_cmd("1", args.steps)] * 2,
            }
            for label, cmds in plan.items():
                rows.setdefault(label, []).append(bench_figures(together(cmds)))
                print(f"# {label}: {rows[label][-1]}", flush=True)
            runs = tmp / f"r{rep}"
            together([run_cmd(runs, "alone", args.run_steps)])
            rows.setdefault("run alone, --threads auto", []).append(run_figures(runs, ["alone"]))
            print(f"# run alone: {rows['run alone, --threads auto'][-1]}", flush=True)
            together([run_cmd(runs, "a", args.run_steps), run_cmd(runs, "b", args.run_steps)])
            rows.setdefault("two runs, --threads auto (after)", []).append(
                run_figures(runs, ["a", "b"])
            )
            print(f"# two runs: {rows['two runs, --threads auto (after)'][-1]}", flush=True)
            print(f"# repeat {rep + 1} done at {time.strftime('%H:%M:%S')}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'case':45} {'img/s per process, each repeat':45} total (median)")
    for label, reps in rows.items():
        cells = ["+".join(f"{v:.0f}" for v in r) for r in reps]
        total = statistics.median(sum(r) for r in reps)
        print(f"{label:45} {'  '.join(cells):45} {total:.0f}")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
