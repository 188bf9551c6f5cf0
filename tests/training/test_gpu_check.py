"""benchmarks/gpu_check.sh runs to its one summary table; without a GPU it skips the
CUDA parts with a reason instead of failing (issue 17). GPU_CHECK_QUICK=1 keeps it
short: a few steps of three models, the launcher and torchrun; no suite, bench or
references."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("bash") is None, reason="the check is a bash script")
def test_gpu_check_quick_runs_to_its_summary(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPU_CHECK_")}
    env.update(
        GPU_CHECK_QUICK="1", GPU_CHECK_WORK=str(tmp_path / "work"), GPU_CHECK_PYTHON=sys.executable
    )
    env.pop("GENBENCH_TEST_DEVICE", None)
    out = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    text = out.stdout
    assert "genbench GPU check: device" in text, out.stderr[-2000:]
    table = text[text.index("genbench GPU check: device") :].splitlines()
    assert table[1].split()[:3] == ["step", "result", "seconds"]
    rows = {line[:40].strip(): line for line in table[2:-1]}
    assert table[-1].endswith("skipped") and " failed" in table[-1]
    for name in ("python", "install", "train gan-fp32", "launcher", "torchrun --nproc-per-node 1"):
        matches = [line for key, line in rows.items() if key.startswith(name)]
        assert matches and " ok " in matches[0], (name, text)
    assert out.returncode == 0, text
    if "device cpu" in table[0]:
        torchrun = next(line for key, line in rows.items() if key.startswith("torchrun"))
        assert "nccl skipped (no CUDA device)" in torchrun and "gloo" in torchrun
    assert (tmp_path / "work" / "summary.tsv").is_file()
