"""Within-class diversity of conditional models: a generator that draws every class
but one nearly identical sample per class (the cgan failure at one epoch) is
flagged as collapsed, in eval.json and in the live records that drive the
trainer's collapse alarm; real data per class never is."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genbench.api import DataSpec


@pytest.fixture(scope="module")
def fashion():
    from genbench.data import get_dataset
    from genbench.metrics.classifier import has_classifier
    from genbench.metrics.reference import load_split, to_unit_range

    ds = get_dataset("fashion-mnist")
    if not ds.availability().ok:
        pytest.skip("Fashion-MNIST is not installed")
    assert has_classifier("fashion-mnist")
    # Training images stand for a healthy generator: the reference is the test split.
    x, y = load_split(ds, "train")
    return ds, to_unit_range(x[:3000]), torch.as_tensor(y[:3000])


class PerClass:
    """A conditional 'generator' over a pool of real images: each request for label k
    gets a random image of class k, or, ``collapsed``, always the first image of
    class k (plus pixel noise of ``noise`` std: nearly identical samples)."""

    conditional = True

    def __init__(self, images, labels, collapsed=False, noise=0.0):
        self.images, self.labels = images, labels
        self.collapsed, self.noise = collapsed, noise
        self.spec = DataSpec("image", (1, 28, 28), 10)

    def sample(self, n, labels=None, generator=None):
        out = []
        for k in labels.tolist():
            pool = torch.nonzero(self.labels == k).flatten()
            pick = 0 if self.collapsed else int(torch.randint(len(pool), (), generator=generator))
            out.append(self.images[pool[pick]])
        x = torch.stack(out)
        if self.noise:
            x = x + self.noise * torch.randn(x.shape, generator=generator)
        return x.clamp(-1, 1)


def test_a_collapsed_conditional_model_is_flagged_in_eval_and_a_healthy_one_is_not(fashion):
    from genbench.metrics.evaluate import evaluate

    ds, images, labels = fashion
    cpu = torch.device("cpu")
    healthy, _ = evaluate(PerClass(images, labels), ds, cpu, n=2000)
    s = healthy.summary
    assert s["classes_covered"] == 10 and not s["collapse"] and s["warning"] is None
    assert s["within_class_collapse"] == [] and s["within_class_diversity"] > 0.8
    rows = {r["metric"]: r for r in healthy.rows}
    assert len(rows["within_class_diversity"]["per_class"]) == 10
    # Per-class FD against the real test images of the class: small for real images.
    assert len(rows["class_fd"]["per_class"]) == 10 and rows["class_fd"]["worst"] < 1.0

    collapsed, _ = evaluate(PerClass(images, labels, collapsed=True), ds, cpu, n=2000)
    c = collapsed.summary
    # Every class is drawn, so coverage across classes alone sees nothing wrong ...
    assert c["classes_covered"] == 10 and c["class_consistency"] > 0.8
    # ... but each class is one image: flagged, the warning naming the classes.
    assert c["collapse"] is True and c["within_class_collapse"] == list(range(10))
    assert c["within_class_diversity"] < 0.01
    assert c["warning"].startswith("within-class collapse: the samples of class ")
    assert "and 7 more" in c["warning"]
    worst = {r["metric"]: r for r in collapsed.rows}["class_fd"]["worst"]
    assert worst > 5 * rows["class_fd"]["worst"]


def test_nearly_identical_samples_per_class_are_flagged_in_the_live_record(fashion):
    from genbench.metrics.evaluate import LiveEvaluator

    ds, images, labels = fashion
    live = LiveEvaluator(ds, torch.device("cpu"), seed=0)
    good = live(PerClass(images, labels))
    assert not good["collapse"] and good["within_class_collapse"] == []
    # One image per class with pixel noise: the cgan failure (500 samples, 50 per class).
    noisy = live(PerClass(images, labels, collapsed=True, noise=0.05))
    assert noisy["classes_covered"] == 10
    assert noisy["collapse"] is True and len(noisy["within_class_collapse"]) == 10
    assert "within-class collapse" in noisy["warning"] and "class " in noisy["warning"]
    json.dumps(noisy, allow_nan=False)  # the record is plain JSON


RING = [(math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)) for i in range(8)]


class RingPerMode:
    conditional = True
    spec = DataSpec("points", (2,), 8)

    def __init__(self, std):
        self.std = std

    def sample(self, n, labels=None, generator=None):
        means = torch.tensor(RING)[labels]
        return means + self.std * torch.randn(n, 2, generator=generator)


def test_per_mode_spread_of_a_conditional_model_on_ring8():
    from genbench.data import get_dataset
    from genbench.metrics.evaluate import evaluate

    ring8 = get_dataset("ring8")
    real, _ = evaluate(RingPerMode(0.01), ring8, torch.device("cpu"))
    assert real.summary["modes_covered"] == 8 and not real.summary["collapse"]
    assert 0.9 < real.summary["within_class_diversity"] < 1.1
    dead, _ = evaluate(RingPerMode(0.0), ring8, torch.device("cpu"))
    assert dead.summary["modes_covered"] == 8 and dead.summary["high_quality"] == 1.0
    assert dead.summary["collapse"] is True and dead.summary["within_class_collapse"] == list(
        range(8)
    )
    assert "mode 0 at 0.00" in dead.summary["warning"]


COLLAPSED_CGAN = """
import math
from dataclasses import dataclass
import torch
from genbench import GenerativeModel, hookimpl, param

@dataclass
class Config:
    lr: float = param(0.1, "learning rate", min=0.0)

RING = [(math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)) for i in range(8)]

class OnePointPerLabel(GenerativeModel):
    name = "onepoint"
    title = "One point per label"
    kinds = frozenset({"points"})
    conditional = True
    Config = Config

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        self.w = torch.nn.Parameter(torch.zeros(1, device=device))
        self.opt = torch.optim.SGD([self.w], lr=config.lr)

    def train_step(self, x, y=None):
        loss = (self.w - 1).pow(2).sum()
        self.opt.zero_grad(); loss.backward(); self.opt.step()
        return {"mse": loss.detach()}

    def sample(self, n, labels=None, generator=None):
        # Exactly on each label's mode: every mode covered, every sample high quality.
        return torch.tensor(RING, device=self.device)[labels] + 0 * self.w

@hookimpl
def genbench_models():
    return [OnePointPerLabel]
"""


def test_within_class_collapse_raises_the_trainers_collapse_alarm(plugin_site, runs_dir, capsys):
    from genbench.cli import main

    plugin_site.add("gb-onepoint", COLLAPSED_CGAN)
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "onepoint",
                "--dataset",
                "ring8",
                "--steps",
                "20",
                "--eval-every",
                "10",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "c",
                "--json",
            ]
        )
        == 0
    )
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    evals = [e for e in events if e["event"] == "eval"]
    assert evals and all(e["modes_covered"] == 8 and e["collapse"] for e in evals)
    warnings = [e for e in events if e["event"] == "warning"]
    assert len(warnings) == 1 and warnings[0]["kind"] == "mode_collapse"
    assert warnings[0]["message"].startswith("within-class collapse: the samples of mode ")
    assert warnings[0]["message"].endswith(", at the end of the run")
