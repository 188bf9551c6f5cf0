"""Key to screen in the workbench, under load (issue 30).

    .venv/bin/python benchmarks/key_latency.py [--presses 40] [--hogs 5] [--size 120x40]
        [--genbench "CMD"] [--screen runs|run]

Starts the workbench in a tmux session over a runs folder of six finished runs (dcgan on
Fashion-MNIST, 20 steps; --model/--dataset for others) and two
live trainers (`genbench run --headless --model dcgan ... --threads 1`), plus --hogs
busy-looping processes, so that a 2-core machine sits at a load average near 8. Then
presses k and j in turn among the finished runs (--screen run: the chart key e in a
finished run's view) and, after each press, polls `tmux capture-pane -e` (the screen
with its colours, so a moved highlight counts) until what the key changes differs
from before the press: that time, key to screen, is what a user feels. Prints the median, the 90th
percentile and the worst, with the load average at the time.

The poll itself costs: tmux answers in about 2 ms, polled every 2 ms. Live runs' rows
change on their own, so only the finished runs' rows and the sample pane's title are
compared in the list.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENBENCH = str(Path(sys.executable).with_name("genbench"))
SESSION = "gb-keylat"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def screen() -> str:
    return tmux("capture-pane", "-e", "-p", "-t", SESSION)


def wait_for(text: str, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while text not in screen():
        if time.monotonic() > end:
            raise SystemExit(f"the workbench never showed {text!r}:\n{screen()}")
        time.sleep(0.1)


def make_runs(runs: Path, genbench: list[str], model: str, dataset: str) -> None:
    """Six finished runs to move between: by default dcgan on Fashion-MNIST, whose
    sample grids (8x8 images) are what the list previews for most users."""
    for i in range(6):
        subprocess.run(
            [*genbench, "run", "--headless", "--model", model, "--dataset", dataset]
            + ["--steps", "20", "--log-every", "1", "--sample-every", "10", "--threads", "1"]
            + ["--quiet", "--runs-dir", str(runs), "--name", f"done-{i}"],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def start_load(runs: Path, genbench: list[str], hogs: int) -> list[subprocess.Popen]:
    procs = [
        subprocess.Popen(
            [*genbench, "run", "--headless", "--model", "dcgan", "--dataset", "fashion-mnist"]
            + ["--steps", "100000", "--threads", "1", "--quiet", "--runs-dir", str(runs)]
            + ["--name", f"live-{i}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(2)
    ]
    procs += [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
    return procs


def watched(text: str, screen_kind: str) -> str:
    """What a key changes and nothing else does: in the runs list, the finished runs'
    rows (the highlight) and the sample pane's title (live runs' rows change on their
    own); in a finished run's view, the whole screen."""
    if screen_kind == "run":
        return text
    return "\n".join(line for line in text.splitlines() if "done-" in line)


def press(key: str, screen_kind: str, timeout: float = 10.0) -> float:
    """Seconds from sending ``key`` to the first screen that differs (``timeout`` where
    none did: counted as that long)."""
    before = watched(screen(), screen_kind)
    start = time.perf_counter()
    tmux("send-keys", "-t", SESSION, key)
    while time.perf_counter() - start < timeout:
        if watched(screen(), screen_kind) != before:
            return time.perf_counter() - start
        time.sleep(0.002)
    return timeout


def finished_runs_keys() -> tuple[str, list[str]]:
    """Where the finished runs are in the list (the order depends on its sort): the
    key that goes to the first of them, and the keys that move among them."""
    rows = [line for line in screen().splitlines() if "done-" in line or "live-" in line]
    if rows and "done-" in rows[0]:
        return "g", ["j", "j", "k", "k"]
    return "G", ["k", "k", "j", "j"]


def measure(keys: list[str], presses: int, screen_kind: str) -> list[float]:
    times = []
    for i in range(presses):
        times.append(press(keys[i % len(keys)], screen_kind))
        time.sleep(0.3)  # a user's pace: the screen settles between keys
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--hogs", type=int, default=5)
    parser.add_argument("--size", default="120x40")
    parser.add_argument("--settle", type=float, default=45.0, help="seconds for the load")
    parser.add_argument("--genbench", default=GENBENCH, help="the command to measure")
    parser.add_argument("--screen", choices=("runs", "run"), default="runs")
    parser.add_argument("--model", default="dcgan", help="the finished runs' model")
    parser.add_argument("--dataset", default="fashion-mnist", help="and dataset")
    args = parser.parse_args()
    # A timeout's SIGTERM runs the clean-up below too (no trainers or hogs left behind).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    genbench = shlex.split(args.genbench)
    width, height = args.size.split("x")
    work = Path(tempfile.mkdtemp(prefix="keylat-"))
    runs = work / "runs"
    procs: list[subprocess.Popen] = []
    try:
        make_runs(runs, genbench, args.model, args.dataset)
        procs = start_load(runs, genbench, args.hogs)
        time.sleep(args.settle)  # the load average follows over a minute
        env = f"GENBENCH_RUNS={shlex.quote(str(runs))}"
        cmd = f"env {env} {' '.join(map(shlex.quote, genbench))}"
        tmux("new-session", "-d", "-s", SESSION, "-x", width, "-y", height, cmd)
        wait_for("done-5")
        time.sleep(2.0)
        to_first, keys = finished_runs_keys()
        tmux("send-keys", "-t", SESSION, to_first)  # a finished run's row
        time.sleep(1.0)
        if args.screen == "run":
            tmux("send-keys", "-t", SESSION, "Enter")
            time.sleep(3.0)
            keys = ["e"]  # the chart's smoothing, cycled
        times = measure(keys, args.presses, args.screen)
        load = os.getloadavg()[0]
    finally:
        tmux("kill-session", "-t", SESSION)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)
    ms = sorted(t * 1000 for t in times)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    print(
        f"{args.screen} keys {'/'.join(dict.fromkeys(keys))}, {len(ms)} presses, "
        f"load average {load:.1f}: median {statistics.median(ms):.0f} ms, "
        f"p90 {p90:.0f} ms, worst {ms[-1]:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
