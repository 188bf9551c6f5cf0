"""`genbench bench` and the precision switch (speed itself is measured, never asserted)."""

from __future__ import annotations

import json

from genbench.cli import main
from genbench.runfolder.runs import read_metrics


def test_bench_reports_images_per_second_per_model(capsys):
    assert (
        main(
            [
                "bench",
                "--model",
                "gan",
                "--dataset",
                "ring8",
                "--steps",
                "5",
                "--warmup",
                "1",
                "--device",
                "cpu",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["device"] == "cpu" and report["precision"] == "fp32"
    assert report["torch"] and report["fast_path"] is False
    (result,) = report["results"]
    assert result["model"] == "gan" and result["batch_size"] == 64 and result["steps"] == 5
    assert result["img_per_s"] > 0
    assert abs(result["img_per_s"] - 5 * 64 / result["seconds"]) < 1e-6 * result["img_per_s"]


def test_bench_table_and_bad_input(capsys):
    assert (
        main(["bench", "--model", "gan", "--dataset", "grid25", "--steps", "2", "--warmup", "0"])
        == 0
    )
    assert "img/s" in capsys.readouterr().out
    assert main(["bench", "--model", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["bench", "--steps", "0"]) == 2
    assert "--steps must be a positive" in capsys.readouterr().err


def test_bf16_autocast_run_records_its_precision_and_trains(runs_dir, capsys):
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "gan",
                "--dataset",
                "ring8",
                "--steps",
                "20",
                "--log-every",
                "10",
                "--precision",
                "bf16",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "bf",
                "--quiet",
            ]
        )
        == 0
    )
    meta = json.loads((runs_dir / "bf" / "run.json").read_text())
    assert meta["precision"] == "bf16"
    records = read_metrics(runs_dir / "bf" / "metrics.jsonl")
    assert all(v is not None for r in records for v in r["losses"].values())


def test_bench_names_a_model_whose_train_step_returns_floats(plugin_site, capsys):
    from tests.conftest import toy_model_source

    source = toy_model_source("floaty").replace(
        'return {"mse": loss.detach()}', 'return {"mse": loss.item()}'
    )
    plugin_site.add("gb-floaty", source, ep_name="floaty")
    assert (
        main(
            [
                "bench",
                "--model",
                "floaty",
                "--dataset",
                "ring8",
                "--steps",
                "2",
                "--warmup",
                "1",
                "--device",
                "cpu",
                "--json",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    (result,) = json.loads(out)["results"]
    assert "loss 'mse' is a float, not a tensor" in result["skipped"]
    assert "Traceback" not in err and "AttributeError" not in out + err


def test_bench_takes_hyperparameters_as_run_does(capsys):
    """The reference comparison measures the paper's MLP cGAN (arch=mlp) against
    PyTorch-GAN's MLP: bench takes --set; a key the model lacks is one line."""
    assert (
        main(
            [
                "bench",
                "--model",
                "cgan",
                "--dataset",
                "ring8",
                "--steps",
                "2",
                "--warmup",
                "1",
                "--device",
                "cpu",
                "--threads",
                "1",
                "--set",
                "hidden=16",
                "--json",
            ]
        )
        == 0
    )
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["img_per_s"] > 0
    assert main(["bench", "--model", "cgan", "--set", "archh=mlp", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "unknown hyperparameter 'archh'" in err and len(err.strip().splitlines()) == 1
