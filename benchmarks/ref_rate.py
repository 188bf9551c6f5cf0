"""Run a reference training script for a while and read its speed off its log lines.

    python benchmarks/ref_rate.py --seconds 60 --per-unit 64 -- python cgan.py --n_epochs 1

Every stdout line that holds a progress counter is timestamped as it arrives:
``[Batch i/n]`` (PyTorch-GAN), ``[e/E][i/n]`` (pytorch/examples dcgan) or
``[k/N (p%)]`` (pytorch/examples vae, where k counts images: --per-unit 1).
After a warm-up of 10% of the time, images/s = (counter at the last line - counter
at the first line after warm-up) x per-unit / the seconds between those lines.
The script is stopped (SIGTERM, then SIGKILL) after --seconds. Prints one JSON
line: {"img_per_s": ..., "lines": ..., "seconds": ...}; img_per_s is null when
fewer than two counted lines came after the warm-up.

Nothing of the reference is changed or kept: it is run as it is, in its own folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

PATTERNS = [
    re.compile(r"\[Batch (\d+)/\d+\]"),  # PyTorch-GAN
    re.compile(r"^\[\d+/\d+\]\[(\d+)/\d+\]"),  # pytorch/examples dcgan
    re.compile(r"\[(\d+)/\d+ \(\d+%\)\]"),  # pytorch/examples vae
]


def counter(line: str) -> int | None:
    for pattern in PATTERNS:
        m = pattern.search(line)
        if m:
            return int(m.group(1))
    return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--per-unit",
        type=int,
        required=True,
        help="images per unit of the counter (the batch size, or 1)",
    )
    parser.add_argument("--warmup", type=float, default=0.1, help="share of the time skipped")
    parser.add_argument("--log", help="write the script's output here")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    seen: list[tuple[float, int]] = []
    log = open(args.log, "w") if args.log else None
    start = time.monotonic()

    def read() -> None:
        for line in proc.stdout:
            now = time.monotonic() - start
            if log:
                log.write(line)
            value = counter(line)
            if value is not None:
                seen.append((now, value))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=args.seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=5)
    if log:
        log.close()
    after = [(t, v) for t, v in seen if t >= args.warmup * args.seconds]
    # A counter that starts again (a new epoch) ends the window.
    window = after[:1]
    for t, v in after[1:]:
        if v < window[-1][1]:
            break
        window.append((t, v))
    rate = None
    if len(window) >= 2 and window[-1][0] > window[0][0]:
        rate = (window[-1][1] - window[0][1]) * args.per_unit / (window[-1][0] - window[0][0])
    print(
        json.dumps(
            {
                "img_per_s": rate,
                "lines": len(seen),
                "seconds": round(time.monotonic() - start, 1),
                "exit": proc.returncode,
            }
        )
    )
    return 0 if rate else 1


if __name__ == "__main__":
    sys.exit(main())
