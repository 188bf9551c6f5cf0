"""The built-in tensorboard logger (genbench_plugins.tb_logger) and genbench export
--tensorboard / --csv, read back with TensorBoard's own event reader."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from genbench.cli import main
from genbench.options import RunRequest
from genbench.registry import load_registry
from genbench.runfolder.runs import read_metrics
from genbench.training.launch import new_run

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

TRAIN = ["run", "--headless", "--quiet", "--threads", "1", "--log-every", "10"]


def fashion_mnist_or_skip() -> None:
    from genbench.data import get_dataset

    if not get_dataset("fashion-mnist").availability().ok:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


def events(folder):
    """TensorBoard's reader over an event folder: every event kept (no sampling)."""
    reader = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    reader.Reload()
    return reader


def scalars(reader):
    """{tag: [(step, value)]} for every scalar tag."""
    return {t: [(e.step, e.value) for e in reader.Scalars(t)] for t in reader.Tags()["scalars"]}


def expected_scalars(run_dir):
    """What metrics.jsonl holds, as the logger's tags, in TensorBoard's float32."""
    want: dict[str, list] = {}
    for r in read_metrics(run_dir / "metrics.jsonl"):
        for name, value in r["losses"].items():
            want.setdefault(f"loss/{name}", []).append((r["step"], np.float32(value)))
        want.setdefault("speed/img_per_s", []).append((r["step"], np.float32(r["img_per_s"])))
    for r in read_metrics(run_dir / "metrics.jsonl", kind="eval"):
        for name, value in r["eval"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                want.setdefault(f"quality/{name}", []).append((r["step"], np.float32(value)))
    return want


@pytest.fixture(scope="module")
def fashion_runs(tmp_path_factory):
    """A tiny dcgan on Fashion-MNIST, once with --log tensorboard and once without."""
    fashion_mnist_or_skip()
    root = tmp_path_factory.mktemp("runs")
    argv = [*TRAIN, "--model", "dcgan", "--dataset", "fashion-mnist", "--steps", "30"]
    argv += ["--batch-size", "16", "--sample-every", "10", "--eval-every", "30"]
    argv += ["--runs-dir", str(root)]
    assert main([*argv, "--name", "logged", "--log", "tensorboard"]) == 0
    assert main([*argv, "--name", "plain"]) == 0
    return root


def test_every_loss_speed_and_quality_at_every_logged_step_and_the_sample_grids(fashion_runs):
    run = fashion_runs / "logged"
    reader = events(run / "tensorboard")

    want = expected_scalars(run)
    assert {"loss/d", "loss/g", "speed/img_per_s", "quality/fd"} <= set(want)
    assert scalars(reader) == want
    grids = reader.Images("samples")
    assert [g.step for g in grids] == [10, 20, 30]
    assert (grids[-1].width, grids[-1].height) == (242, 242)  # 8x8 grid of 28 px, 2 px gaps
    assert {"config/text_summary", "options/text_summary"} <= set(reader.Tags()["tensors"])
    meta = json.loads((run / "run.json").read_text())
    assert meta["options"]["log"] == ["tensorboard"]


def test_export_of_a_run_made_without_log_holds_the_same_scalars(fashion_runs, capsys):
    plain = fashion_runs / "plain"
    assert main(["export", str(plain), "--tensorboard"]) == 0
    reader = events(plain / "tensorboard")
    assert scalars(reader) == expected_scalars(plain)
    assert [g.step for g in reader.Images("samples")] == [10, 20, 30]

    # A live-logged run exported again into another folder reads back the same.
    logged = fashion_runs / "logged"
    assert main(["export", str(logged), "--tensorboard", str(fashion_runs / "again")]) == 0
    assert scalars(events(fashion_runs / "again")) == scalars(events(logged / "tensorboard"))

    capsys.readouterr()
    assert main(["export", str(plain), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    lines = read_metrics(plain / "metrics.jsonl")
    assert [int(r["step"]) for r in rows] == [r["step"] for r in lines]
    for row, line in zip(rows, lines, strict=True):
        assert {k: float(row[f"loss/{k}"]) for k in line["losses"]} == line["losses"]
    (evaluation,) = read_metrics(plain / "metrics.jsonl", kind="eval")
    assert float(rows[-1]["quality/fd"]) == evaluation["eval"]["fd"]


class FailAt:
    """A batch sampler that raises on its k-th batch: the run fails there, after
    metrics lines its last checkpoint does not hold (as a killed trainer leaves)."""

    def __init__(self, sampler, k):
        self.sampler, self.k, self.drawn = sampler, k, 0

    def next(self):
        self.drawn += 1
        if self.drawn == self.k:
            raise RuntimeError("the machine went away")
        return self.sampler.next()

    def state_dict(self):
        return self.sampler.state_dict()

    def load_state_dict(self, state):
        self.sampler.load_state_dict(state)


def test_a_resumed_run_continues_the_same_event_folder_without_a_step_twice(runs_dir):
    request = RunRequest(
        model="gan",
        dataset="ring8",
        steps=30,
        runs_dir=runs_dir,
        name="r",
        log_every=5,
        sample_every=10,
        checkpoint_every=10,
        eval_every=1000,
        device="cpu",
        log=["tensorboard"],
    )
    trainer = new_run(request, load_registry(), lambda e: None)
    trainer.sampler = FailAt(trainer.sampler, 28)
    failed = trainer.run()
    assert (failed.status, failed.step) == ("failed", 27)
    before = scalars(events(runs_dir / "r" / "tensorboard"))
    assert [s for s, _ in before["loss/d"]] == [5, 10, 15, 20, 25]  # 25: after the checkpoint

    assert (
        main(["run", "--headless", "--quiet", "--threads", "1", "--resume", str(runs_dir / "r")])
        == 0
    )
    reader = events(runs_dir / "r" / "tensorboard")
    after = scalars(reader)
    assert [s for s, _ in after["loss/d"]] == [5, 10, 15, 20, 25, 30]
    assert after == expected_scalars(runs_dir / "r")  # the steps trained again, once
    assert [g.step for g in reader.Images("samples")] == [10, 20, 30]
    assert len(list((runs_dir / "r" / "tensorboard").iterdir())) == 2  # one folder, two files
