"""A third party's logger, exactly as docs/plugins.md writes it, gets a run's
every metrics line, grid and end, and a resume goes on logging into it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from genbench.runfolder.runs import read_metrics

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _docs_logger() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    return next(b for b in blocks if "(Logger):" in b)


def genbench(plugin_site, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "genbench", "run", "--headless", "--quiet", "--threads", "1", *args],
        env=plugin_site.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_documented_logger_gets_every_line_grid_and_end_and_goes_on_after_resume(
    plugin_site, runs_dir
):
    plugin_site.add("genbench-lines", _docs_logger())
    first = genbench(
        plugin_site,
        *["--model", "gan", "--dataset", "ring8", "--steps", "40", "--log", "lines"],
        *["--log-every", "10", "--sample-every", "20", "--eval-every", "20"],
        *["--runs-dir", str(runs_dir), "--name", "r"],
    )
    assert first.returncode == 0, first.stderr
    assert genbench(plugin_site, "--resume", str(runs_dir / "r"), "--steps", "60").returncode == 0

    run = runs_dir / "r"
    logged = [json.loads(line) for line in (run / "lines" / "log.jsonl").read_text().splitlines()]
    starts = [e for e in logged if e["kind"] == "start"]
    assert [s["step"] for s in starts] == [0, 40] and starts[0]["model"] == "gan"
    losses = {
        e["step"]: {k.removeprefix("loss/"): v for k, v in e.items() if k.startswith("loss/")}
        for e in logged
        if e["kind"] == "metrics" and "loss/d" in e
    }
    assert losses == {r["step"]: r["losses"] for r in read_metrics(run / "metrics.jsonl")}
    quality = [e["step"] for e in logged if e["kind"] == "metrics" and "quality/modes" in e]
    assert quality == [20, 40, 60]
    assert [e["step"] for e in logged if e["kind"] == "samples"] == [20, 40, 60]
    assert [e["status"] for e in logged if e["kind"] == "end"] == ["completed", "completed"]
    assert json.loads((run / "run.json").read_text())["options"]["log"] == ["lines"]
