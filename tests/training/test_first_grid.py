"""#31: a new run's first grid is checked as check_model checks samples, before step 1.
A generator ending in sigmoid (images in [0, 1]) or with no squashing (past [-1, 1])
is a warning on the terminal and in metrics.jsonl, where the workbench shows a live
check's warning; `genbench eval` says so too. A wrong shape ends the run at step 0 in
check_model's words, not at the first sample interval."""

from __future__ import annotations

import json

import pytest

from genbench.api import sample_range_warning
from genbench.cli import main

# Image generators from one linear map: squashed by sigmoid, tanh or nothing, and
# one whose samples come out flat (N, C*H*W).
SQUASH = """
from dataclasses import dataclass
import torch
from genbench import GenerativeModel, hookimpl, param


@dataclass
class Config:
    lr: float = param(0.01, "learning rate", min=0.0)


def make(model_name, squash, flat=False):
    class Squash(GenerativeModel):
        name = model_name
        title = model_name
        kinds = frozenset({"image"})
        Config = globals()["Config"]

        def __init__(self, config, spec, device):
            super().__init__(config, spec, device)
            self.net = torch.nn.Linear(8, spec.dim).to(device)
            self.opt = torch.optim.SGD(self.net.parameters(), lr=config.lr)

        def draw(self, n, generator=None):
            z = torch.randn(n, 8, generator=generator, device=self.device)
            return squash(4 * self.net(z))

        def train_step(self, x, y=None):
            loss = (self.draw(len(x)) - x.flatten(1)).pow(2).mean()
            self.opt.zero_grad(); loss.backward(); self.opt.step()
            return {"mse": loss.detach()}

        @torch.no_grad()
        def sample(self, n, labels=None, generator=None):
            out = self.draw(n, generator)
            return out if flat else out.reshape(n, *self.spec.shape)

    return Squash


@hookimpl
def genbench_models():
    return [
        make("sigmoidgen", torch.sigmoid),
        make("tanhgen", torch.tanh),
        make("rawgen", lambda x: x),
        make("flatgen", torch.tanh, flat=True),
    ]
"""

# A small image dataset from a plugin (no classifier: no live checks to wait for).
IMAGES = """
import torch
from genbench import DataSpec, Dataset, hookimpl


class Noise(Dataset):
    name, title, size = "noise8", "noise", None
    spec = DataSpec(kind="image", shape=(1, 8, 8))

    def sampler(self, batch_size, device, seed):
        return Sampler(batch_size, device, seed)


class Sampler:
    def __init__(self, n, device, seed):
        self.n, self.device = n, device
        self.g = torch.Generator(device=device).manual_seed(seed)

    def next(self):
        x = torch.rand(self.n, 1, 8, 8, generator=self.g, device=self.device) * 2 - 1
        return x, None

    def state_dict(self):
        return {"g": self.g.get_state()}

    def load_state_dict(self, state):
        self.g.set_state(state["g"])


@hookimpl
def genbench_datasets():
    return [Noise()]
"""


@pytest.fixture
def squash(plugin_site):
    plugin_site.add("gb-squash", SQUASH)
    plugin_site.add("gb-noise", IMAGES)


def train(runs_dir, model: str, *extra: str) -> int:
    argv = ["run", "--headless", "--json", "--model", model, "--dataset", "noise8"]
    argv += ["--steps", "4", "--log-every", "2", "--runs-dir", str(runs_dir), "--name", model]
    return main([*argv, *extra])


def events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def step0_checks(runs_dir, name: str) -> list[dict]:
    lines = (runs_dir / name / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("kind") == "eval" and r["step"] == 0]


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ("sigmoidgen", "within [0, 1], but genbench takes images in [-1, 1]"),
        ("rawgen", "outside [-1, 1]: grids and metrics clip them"),
    ],
)
def test_a_generator_in_the_wrong_range_is_warned_of_at_its_first_grid(
    squash, runs_dir, capsys, model, words
):
    assert train(runs_dir, model) == 0
    told = events(capsys.readouterr().out)
    warnings = [e for e in told if e["event"] == "warning"]
    assert len(warnings) == 1 and warnings[0]["step"] == 0, warnings
    assert warnings[0]["kind"] == "sample_range" and words in warnings[0]["message"]
    # before the first step's losses, not at the first sample interval
    first_metrics = next(i for i, e in enumerate(told) if e["event"] == "metrics")
    assert told.index(warnings[0]) < first_metrics
    [check] = step0_checks(runs_dir, model)  # what the run view and runs list show
    assert words in check["eval"]["warning"]


def test_a_tanh_generator_is_not_warned_of(squash, runs_dir, capsys):
    assert train(runs_dir, "tanhgen") == 0
    assert not [e for e in events(capsys.readouterr().out) if e["event"] == "warning"]
    assert step0_checks(runs_dir, "tanhgen") == []


def test_samples_of_the_wrong_shape_end_the_run_before_step_one(squash, runs_dir, capsys):
    assert train(runs_dir, "flatgen", "--sample-every", "1000") == 1
    meta = json.loads((runs_dir / "flatgen" / "run.json").read_text())
    assert meta["status"] == "failed" and meta["step"] == 0
    assert meta["message"] == (
        "model 'flatgen': sample(64) returned (64, 64), expected a tensor of shape "
        "(64, 1, 8, 8) (genbench.testing.check_model finds this too)"
    )


def test_the_range_words():
    assert sample_range_warning(-0.98, 0.99) is None
    assert sample_range_warning(-1.004, 1.004) is None  # a tanh rounded in bf16
    assert sample_range_warning(0.0, 0.0) is None  # constant: not a sigmoid's signature
    assert "within [0, 1]" in sample_range_warning(0.02, 0.97)
    assert "outside [-1, 1]" in sample_range_warning(-3.5, 2.0)
    assert sample_range_warning(float("nan"), 1.0) is None


def test_eval_warns_of_samples_in_0_1(plugin_site, runs_dir, capsys):
    """`genbench eval` of a sigmoid generator's run: measured, and its warning says so."""
    from genbench.data import get_dataset

    if not get_dataset("fashion-mnist").availability().ok:
        pytest.skip("Fashion-MNIST is not installed")
    plugin_site.add("gb-squash", SQUASH)
    argv = ["run", "--headless", "--quiet", "--model", "sigmoidgen", "--dataset"]
    argv += ["fashion-mnist", "--steps", "2", "--subset", "256", "--batch-size", "32"]
    assert main([*argv, "--runs-dir", str(runs_dir), "--name", "s", "--eval-every", "1000"]) == 0
    capsys.readouterr()
    assert main(["eval", str(runs_dir / "s"), "-n", "500", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert "within [0, 1], but genbench takes images in [-1, 1]" in summary["warning"]
