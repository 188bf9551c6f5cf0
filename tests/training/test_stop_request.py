"""A stop asked through the run folder (genbench.runfolder.stop): what a sweep's
pruner uses to stop a member on any host, saying why."""

from __future__ import annotations

import json
import subprocess
import sys

from genbench.cli import main
from genbench.runfolder.runs import read_metrics
from genbench.runfolder.stop import STOP_FILE, ask_to_stop
from tests.waiting import wait_until


def _train(runs_dir, name: str, steps: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "genbench", "run", "--headless", "--model", "gan"]
        + ["--dataset", "ring8", "--steps", str(steps), "--log-every", "10"]
        + ["--eval-every", "1000000", "--threads", "1", "--runs-dir", str(runs_dir)]
        + ["--name", name, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def test_a_stop_request_stops_the_run_resumably_with_its_reason(runs_dir):
    run = runs_dir / "asked"
    proc = _train(runs_dir, "asked", 1_000_000)
    try:
        wait_until(
            lambda: (run / "metrics.jsonl").exists() and read_metrics(run / "metrics.jsonl"),
            120,
            proc,
            "the first metrics line",
        )
        ask_to_stop(run, "pruned by the sweep at step 10: fd 3.2 worse than the median 1.1")
        proc.wait(timeout=120)
    finally:
        proc.kill()
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "stopped", meta["message"]
    assert meta["message"].startswith(f"stopped at step {meta['step']}: pruned by the sweep")
    assert meta["checkpoint_step"] == meta["step"] > 0  # resumable where it stopped
    # A resume is not stopped again by the old request: the trainer removes it.
    assert (
        main(
            [
                "run",
                "--headless",
                "--resume",
                str(run),
                "--steps",
                str(meta["step"] + 20),
                "--threads",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert not (run / STOP_FILE).exists()
    assert json.loads((run / "run.json").read_text())["status"] == "completed"


def test_a_stop_request_that_is_a_link_or_a_folder_is_no_request(runs_dir, tmp_path):
    run = runs_dir / "linked"
    proc = _train(runs_dir, "linked", 60)
    try:
        wait_until(lambda: (run / "run.json").exists(), 120, proc, "the run folder")
        (tmp_path / "elsewhere").write_text("stop now")
        (run / STOP_FILE).symlink_to(tmp_path / "elsewhere")  # never followed
        proc.wait(timeout=120)
    finally:
        proc.kill()
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
