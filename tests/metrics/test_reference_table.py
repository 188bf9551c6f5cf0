"""benchmarks/reference_quality.py's table: the figures in docs/results.md
come from it, so its averaging over seeds is checked here (no training, no torch)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reference_quality.py"


@pytest.fixture(scope="module")
def rq():
    spec = importlib.util.spec_from_file_location("reference_quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def result(row: str, seed: int, ours: dict, theirs: dict) -> dict:
    return {
        "row": row,
        "seed": seed,
        "images": 12_800,
        "steps": 200,
        "genbench": ours,
        "reference": theirs,
        "genbench_s": 30.0 + 4 * seed,
        "reference_s": 100.0,
    }


def summary(fd: float, precision: float, covered: int) -> dict:
    return {
        "fd": fd,
        "precision": precision,
        "recall": 0.0,
        "classes": 10,
        "classes_covered": covered,
        "collapse": False,
        "warning": None,
    }


def test_a_row_over_seeds_shows_the_means_and_every_seeds_fd(rq):
    results = [
        result("lsgan", 0, summary(3.0, 0.2, 7), summary(4.0, 0.1, 9)),
        result("lsgan", 1, summary(5.0, 0.4, 8), summary(4.5, 0.1, 9)),
    ]
    lines = rq.table(results, 2000).splitlines()
    ours = next(line for line in lines if "| genbench |" in line)
    theirs = next(line for line in lines if "PyTorch-GAN lsgan" in line)
    cells = [c.strip() for c in ours.split("|")[1:-1]]
    assert cells[:7] == ["lsgan", "12,800", "genbench", "4.00", "3.00 / 5.00", "0.300", "0.000"]
    assert cells[7] == "7.5/10"  # a mean of classes keeps its decimal ...
    assert cells[-1] == "32"  # ... seconds are the mean too
    assert [c.strip() for c in theirs.split("|")[1:-1]][3:5] == ["4.25", "4.00 / 4.50"]
    assert "9/10" in theirs  # ... a whole number does not
    assert "2 seeds per row, means shown" in lines[-1]


def test_one_seed_reads_as_before(rq):
    lines = rq.table(
        [result("vae", 0, summary(7.15, 0.053, 9), summary(9.12, 0.131, 7))], 2000
    ).splitlines()
    assert "| vae | 12,800 | genbench | 7.15 | 7.15 | 0.053 |" in lines[2]
    assert "1 seed per row" in lines[-1]


@pytest.mark.parametrize(
    "images, n_critic, steps, batches",
    [
        (59_968, 1, 935, 935),
        (59_968, 5, 187, 935),
        (25_600, 1, 400, 400),
        (25_600, 5, 80, 400),
        (300_160, 1, 4690, 4690),
    ],
)
def test_wgan_gp_rows_give_both_sides_the_same_critic_updates(rq, images, n_critic, steps, batches):
    """One fresh batch per critic update on both sides, a whole number of the reference's
    generator updates (every 5th batch), and genbench's steps of n_critic updates each."""
    assert rq.budget("wgan-gp", images, n_critic) == (steps, batches)
    assert rq.budget("vae", images) == (images // 64, images // 64)
