"""`genbench sample`'s speed for every built-in model, and 50,000 samples' peak memory.

    .venv/bin/python benchmarks/sample_speed.py [--samples 10240] [--threads 1] [--big 50000]

For each built-in model it trains a short Fashion-MNIST run (the speed of drawing
does not depend on how well the model is trained; cgan and the others at their
default networks), then times

    genbench sample RUN -n N --batch-size 256 --threads T --out x.npz

and prints what the command itself reports: samples/s drawing (the generator only)
and with writing (the .npz streamed to disk). Then it writes --big dcgan samples as
an .npz and as a folder of PNGs under ``/usr/bin/time -v`` and prints the peak
resident memory of each, beside what holding the samples in memory would take.
Say what else the machine was doing when quoting the numbers.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

GENBENCH = [sys.executable, "-m", "genbench"]
MODELS = ("gan", "dcgan", "lsgan", "wgan", "wgan-gp", "cgan", "vae")
RATES = re.compile(r"([\d,]+) samples/s drawing, ([\d,]+) samples/s with writing")


def train(runs: Path, model: str, threads: int) -> Path:
    cmd = [*GENBENCH, "run", "--headless", "--model", model, "--dataset", "fashion-mnist"]
    cmd += ["--steps", "20", "--eval-every", "20", "--threads", str(threads)]
    cmd += ["--runs-dir", str(runs), "--name", model]
    subprocess.run(cmd, check=True, capture_output=True)
    return runs / model


def sample(run: Path, out: Path, n: int, threads: int, timed: bool = False) -> tuple[str, str]:
    cmd = [*GENBENCH, "sample", str(run), "-n", str(n), "--batch-size", "256"]
    cmd += ["--threads", str(threads), "--out", str(out), "--force"]
    if timed:
        cmd = ["/usr/bin/time", "-v", *cmd]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return done.stdout, done.stderr


def peak_mib(time_v: str) -> float:
    kb = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_v)
    return int(kb.group(1)) / 1024 if kb else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10240)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--big", type=int, default=50000)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="genbench-sample-speed-"))
    try:
        runs = work / "runs"
        print(f"genbench sample -n {args.samples} --batch-size 256 --threads {args.threads}")
        print(f"{'model':8} {'drawing':>14} {'with writing':>16}")
        for model in MODELS:
            run = train(runs, model, args.threads)
            out, _ = sample(run, work / "x.npz", args.samples, args.threads)
            rates = RATES.search(out)
            if rates is None:
                raise SystemExit(f"{model}: no rate in {out!r}")
            print(f"{model:8} {rates.group(1):>8} smp/s {rates.group(2):>10} smp/s")
        dcgan = runs / "dcgan"
        held = args.big * 28 * 28 * 4 / 2**20  # float32 samples, as a naive loop keeps them
        for target in (work / "big.npz", work / "big-png"):
            out, err = sample(dcgan, target, args.big, args.threads, timed=True)
            rates = RATES.search(out)
            print(
                f"dcgan -n {args.big} to {target.name}: peak RSS {peak_mib(err):.0f} MiB "
                f"(the samples as float32: {held:.0f} MiB); "
                f"{rates.group(2) if rates else '?'} samples/s with writing"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
