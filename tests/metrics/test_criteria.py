"""The seeds' other evaluation criteria (#16): the discriminator's accuracy on
held-out real data vs fresh samples, training stability, generation speed."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
import torch

from genbench import DataSpec, GenerativeModel
from genbench.cli import main
from genbench.metrics.criteria import discriminator_accuracy, stability

POINTS = DataSpec("points", (2,), 8)


@dataclass
class Config:
    pass


class Judge(GenerativeModel):
    """A discriminator that calls x real when its first coordinate is positive; its
    batch norm and a random draw show that judging leaves no trace in the model."""

    name = "judge-test"
    Config = Config

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        self.norm = torch.nn.BatchNorm1d(2)

    def train_step(self, x, y=None):
        return {"loss": torch.zeros(())}

    def sample(self, n, labels=None, generator=None):
        return torch.zeros(n, 2)

    def discriminator_scores(self, x, labels=None):
        self.norm(x)  # train mode: would move the running mean
        torch.rand(3)  # would move the global RNG
        return x[:, 0]


def test_accuracy_is_balanced_and_leaves_the_models_state_alone():
    model = Judge(Config(), POINTS, torch.device("cpu"))
    real = torch.tensor([[1.0, 0.0]] * 6 + [[-1.0, 0.0]] * 2)  # 6 of 8 said real
    fake = torch.tensor([[-1.0, 5.0]] * 4 + [[1.0, 5.0]] * 4)  # 4 of 8 said fake
    torch.manual_seed(3)
    before = torch.random.get_rng_state()
    assert discriminator_accuracy(model, real, None, fake, None) == pytest.approx(
        (6 / 8 + 4 / 8) / 2
    )
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(model.norm.running_mean, torch.zeros(2))
    assert int(model.norm.num_batches_tracked) == 0


def test_a_model_without_a_discriminator_threshold_has_no_accuracy():
    class NoJudge(Judge):
        name = "nojudge-test"
        discriminator_scores = GenerativeModel.discriminator_scores

    model = NoJudge(Config(), POINTS, torch.device("cpu"))
    assert discriminator_accuracy(model, torch.ones(4, 2), None, torch.ones(4, 2), None) is None


def records(values, fds=()):
    out = [{"step": 10 * (i + 1), "losses": {"d": v}} for i, v in enumerate(values)]
    out += [{"step": s, "kind": "eval", "eval": {"fd": fd}} for s, fd in fds]
    return out


def test_stability_is_the_spread_over_the_last_third():
    flat = stability(records([1.0] * 30))
    assert flat is not None and flat["loss_spread"]["d"] == 0.0
    assert flat["to_step"] == 300 and flat["from_step"] == 203  # 300 - (300 - 10) / 3
    swinging = stability(records([1.0, 3.0] * 15, fds=[(250, 10.0), (300, 30.0)]))
    assert swinging is not None
    assert swinging["loss_spread"]["d"] == pytest.approx(1.0 / 2.0, abs=1e-3)  # std 1, mean 2
    assert swinging["fd_spread"] == pytest.approx(10.0 / 20.0)
    assert stability(records([1.0] * 5)) is None  # too short to say
    assert stability(records([math.nan] * 10)) is None


def test_eval_json_and_live_records_carry_the_criteria(runs_dir, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "cgan",
                "--dataset",
                "ring8",
                "--steps",
                "60",
                "--log-every",
                "5",
                "--eval-every",
                "30",
                "--set",
                "hidden=16",
                "--threads",
                "1",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "c",
                "--quiet",
            ]
        )
        == 0
    )
    live = [
        json.loads(line)["eval"]
        for line in (runs_dir / "c" / "metrics.jsonl").open()
        if '"kind": "eval"' in line
    ]
    assert live and all(0.0 <= e["d_accuracy"] <= 1.0 for e in live)
    assert main(["eval", str(runs_dir / "c"), "-n", "200", "--quiet"]) == 0
    record = json.loads((runs_dir / "c" / "eval.json").read_text())
    metrics = {(m["metric"], m.get("loss")): m for m in record["metrics"]}
    assert 0.0 <= metrics[("d_accuracy", None)]["value"] <= 1.0
    assert metrics[("samples_per_s", None)]["value"] > 0
    assert {("loss_spread", "d"), ("loss_spread", "g")} <= set(metrics)
    assert record["stability"]["to_step"] == 60


def test_a_vae_has_generation_speed_but_no_discriminator_accuracy(runs_dir, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "vae",
                "--dataset",
                "ring8",
                "--steps",
                "20",
                "--threads",
                "1",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "v",
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["eval", str(runs_dir / "v"), "-n", "200", "--quiet"]) == 0
    names = {m["metric"] for m in json.loads((runs_dir / "v" / "eval.json").read_text())["metrics"]}
    assert "samples_per_s" in names and "d_accuracy" not in names


def test_bench_reports_generation_speed(capsys):
    assert (
        main(
            [
                "bench",
                "--model",
                "gan",
                "--dataset",
                "ring8",
                "--steps",
                "3",
                "--warmup",
                "1",
                "--device",
                "cpu",
                "--threads",
                "1",
                "--json",
            ]
        )
        == 0
    )
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["samples_per_s"] > 0


def test_eval_takes_threads_and_refuses_a_bad_value(runs_dir, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
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
                "4",
                "--threads",
                "1",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "g",
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["eval", str(runs_dir / "g"), "--threads", "zero"]) == 2
    assert "--threads must be auto or a whole number" in capsys.readouterr().err
    assert main(["eval", str(runs_dir / "g"), "-n", "100", "--threads", "1", "--quiet"]) == 0
    assert torch.get_num_threads() == 1


def test_the_builtin_discriminators_say_which_side_is_real():
    """gan, dcgan, cgan and lsgan give scores above 0 for "real"; LSGAN's threshold
    is the midpoint of its codes, on b's side whichever code is larger."""
    from genbench.registry import load_registry

    registry = load_registry()
    lsgan = registry.get("lsgan").cls
    model = lsgan(
        lsgan.Config(latent_dim=4, hidden=8, layers=1, a=1.0, b=-1.0, c=-1.0),
        POINTS,
        torch.device("cpu"),
    )
    last = [m for m in model.D.modules() if isinstance(m, torch.nn.Linear)][-1]
    torch.nn.init.zeros_(last.weight)
    for output, real in ((-0.9, True), (0.9, False)):  # near b = -1: real
        torch.nn.init.constant_(last.bias, output)
        assert bool(model.discriminator_scores(torch.zeros(3, 2))[0] > 0) is real
    for name in ("gan", "dcgan", "cgan", "lsgan"):
        assert (
            registry.get(name).cls.discriminator_scores is not GenerativeModel.discriminator_scores
        ), name
    for name in ("vae", "wgan", "wgan-gp"):  # no thresholded discriminator
        assert (
            registry.get(name).cls.discriminator_scores is GenerativeModel.discriminator_scores
        ), name
