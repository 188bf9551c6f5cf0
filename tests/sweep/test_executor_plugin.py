"""A third party's executor, exactly as docs/plugins.md writes it, runs a sweep;
a broken one is listed as broken and leaves the others working."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from genbench.registry import load_registry
from tests.conftest import toy_model_source

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _docs_executor() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    return next(b for b in blocks if "(Executor):" in b)


def test_the_documented_executor_runs_a_sweep(plugin_site, runs_dir):
    plugin_site.add("genbench-nice", _docs_executor())
    plugin_site.add("genbench-toy", toy_model_source("toy"))
    listed = subprocess.run(
        [sys.executable, "-m", "genbench", "sweep", "--executors"],
        env=plugin_site.env(),
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    assert "nice: members as low-priority processes" in listed.stdout
    assert "--niceness N" in listed.stdout
    done = subprocess.run(
        [sys.executable, "-m", "genbench", "sweep", "--executor", "nice", "--niceness", "5"]
        + ["--model", "toy", "--dataset", "ring8", "--seeds", "0-1", "--steps", "40"]
        + ["--log-every", "20", "--eval-every", "40", "--threads", "1"]
        + ["--runs-dir", str(runs_dir), "--name", "nice"],
        env=plugin_site.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    for i in range(2):
        meta = json.loads((runs_dir / f"nice-{i:03d}" / "run.json").read_text())
        assert meta["status"] == "completed" and meta["sweep"]["point"]["seed"] == i
    record = json.loads((runs_dir / ".sweeps" / "nice" / "sweep.json").read_text())
    assert record["executor"] == "nice" and record["settings"] == {"niceness": 5}


def test_a_broken_executor_is_listed_and_the_others_still_load(plugin_site):
    plugin_site.add(
        "genbench-broken-exec",
        """
from genbench import Executor, hookimpl

class Half(Executor):
    name = "half"          # start, finished and cancel missing

class Shouty(Executor):
    name = "SHOUTY!"

@hookimpl
def genbench_executors():
    return [Half, Shouty, "not a class"]
""",
    )
    registry = load_registry()
    assert {"local", "slurm"} <= set(registry.executors)
    errors = " | ".join(b.error for b in registry.broken)
    assert "Half does not implement cancel, finished, start" in errors
    assert "Shouty.name must be a short lower-case name" in errors
    assert "which is not a genbench.Executor subclass (return a list of classes)" in errors
