"""Plugins round 2 (#15): the mistakes a plugin author or user used to meet in
silence are named in one line where they meet them; point datasets' modes, the
conditional contract and genbench.nn are checked as documented."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass

import pytest
import tomllib

from genbench.cli import main
from genbench.registry import load_registry
from genbench.testing import ContractError, check_dataset, check_model
from tests.conftest import REPO, toy_model_source
from tests.contract.test_check_model import Good, GoodConfig  # passes every check
from tests.plugins.test_third_party_plugins import SPIRAL_PLUGIN, register


def run_args(runs_dir, model: str, dataset: str = "ring8", *more: str) -> list[str]:
    return [
        "run",
        "--headless",
        "--model",
        model,
        "--dataset",
        dataset,
        "--steps",
        "2",
        "--log-every",
        "1",
        "--runs-dir",
        str(runs_dir),
        *more,
    ]


# -- GENBENCH_PLUGINS that matches nothing ------------------------------------------------


def test_a_filter_naming_no_installed_plugin_warns_and_lists_the_installed_ones(
    plugin_site, capsys, monkeypatch, runs_dir
):
    plugin_site.add("genbench-lsq", toy_model_source("lsq"), ep_name="lsq")
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench-lsgn")  # a typo
    registry = load_registry()
    assert "lsq" not in registry.models
    (warning,) = registry.warnings
    assert "'genbench-lsgn'" in warning and "matches no installed plugin" in warning
    assert "genbench-lsq (entry point lsq)" in warning
    assert "genbench: warning: GENBENCH_PLUGINS names 'genbench-lsgn'" in capsys.readouterr().err
    for command in ("models", "datasets"):  # scripts see it too
        assert main([command, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["warnings"] == [warning]

    # ...and "unknown model" says the filter left the plugin out, and how to let it in.
    assert main(run_args(runs_dir, "lsq")) == 2
    err = capsys.readouterr().err
    assert (
        "unknown model 'lsq'; GENBENCH_PLUGINS='genbench-lsgn' leaves out plugin "
        "genbench-lsq (entry point 'lsq'); add genbench-lsq to it" in err
    )
    assert "Traceback" not in err


def test_a_filter_giving_the_import_name_says_which_distribution_name_to_use(
    plugin_site, capsys, monkeypatch
):
    module = plugin_site.add("genbench-lsq2", toy_model_source("lsq2"), ep_name="lsq2")
    monkeypatch.setenv("GENBENCH_PLUGINS", module)
    (warning,) = load_registry().warnings
    assert f"{module!r}, the import name of plugin genbench-lsq2" in warning
    assert "use GENBENCH_PLUGINS=genbench-lsq2" in warning
    # The distribution name as pip spells it either way loads it.
    monkeypatch.setenv("GENBENCH_PLUGINS", "Genbench_LSQ2")
    registry = load_registry()
    assert "lsq2" in registry.models and not registry.warnings


def test_unknown_model_under_a_filter_names_the_filter(plugin_site, capsys, monkeypatch, runs_dir):
    plugin_site.add("genbench-lsq3", toy_model_source("lsq3"), ep_name="lsq3")
    monkeypatch.setenv("GENBENCH_PLUGINS", "lsq3")
    assert main(run_args(runs_dir, "lsgn")) == 2
    err = capsys.readouterr().err
    assert (
        "unknown model 'lsgn'; GENBENCH_PLUGINS='lsq3' is set, so only the built-in "
        "models and plugins lsq3 load; valid models:" in err
    )


# -- a model whose plugin failed to load ------------------------------------------------


def test_unknown_model_whose_plugin_failed_to_load_says_why(plugin_site, capsys, runs_dir):
    plugin_site.add(
        "genbench-brk", "raise ImportError('needs scipy')", version="0.3", ep_name="brk"
    )
    assert main(run_args(runs_dir, "brk")) == 2
    err = capsys.readouterr().err.strip()
    assert (
        "unknown model 'brk'; plugin genbench-brk 0.3 (entry point 'brk') failed to "
        "load: import failed: ImportError: needs scipy; valid models:" in err
    )
    assert len(err.splitlines()) == 1


def test_a_model_refused_at_registration_is_named_by_its_own_name(plugin_site, capsys, runs_dir):
    # The entry point is called something else; the class's name is what the user types.
    plugin_site.add("gb-misc", _late_bad_kinds("odd"), ep_name="misc")
    assert main(run_args(runs_dir, "odd")) == 2
    err = capsys.readouterr().err
    assert (
        "unknown model 'odd'; plugin gb-misc 1.0 (entry point 'misc') failed to load: "
        "genbench_models() Toy: kinds is" in err
    )


def _late_bad_kinds(name: str) -> str:
    """A model class that is fine when created and spoilt before the hook returns it
    (as a plugin computing its attributes might), so the registry's checks refuse it."""
    return toy_model_source(name).replace(
        "    return [Toy]", "    Toy.kinds = frozenset({'audio'})\n    return [Toy]"
    )


# -- a Config field declared without param() -------------------------------------------


def test_a_config_field_without_param_is_refused_when_the_plugin_loads(
    plugin_site, capsys, runs_dir
):
    source = toy_model_source("noparam").replace(
        '    lr: float = param(0.1, "learning rate", min=0.0)', "    lr: float = 0.1"
    )
    plugin_site.add("gb-noparam", source, ep_name="noparam")
    registry = load_registry()
    assert "noparam" not in registry.models
    (broken,) = [b for b in registry.broken if b.plugin.distribution == "gb-noparam"]
    assert (
        "Config.lr is declared without param(), so it has no help string; declare it "
        "as lr = param(0.1, 'one line of help')" in broken.error
    )
    assert main(run_args(runs_dir, "noparam")) == 2
    assert "Config.lr is declared without param()" in capsys.readouterr().err


def test_check_model_says_the_same_about_a_field_without_param():
    @dataclass
    class ExtraConfig(GoodConfig):
        extra: int = 3

    class NoParam(Good):
        name = "noparam2"
        Config = ExtraConfig  # its field `extra` is declared without param()

    with pytest.raises(
        ContractError,
        match=r"\[config\]: Config.extra is declared without "
        r"param\(\)",
    ):
        check_model(NoParam)


# -- train_step returning Python floats ------------------------------------------------


def test_a_model_returning_floats_fails_at_the_first_step_in_one_line(
    plugin_site, capsys, runs_dir
):
    source = toy_model_source("floaty").replace(
        'return {"mse": loss.detach()}', 'return {"mse": loss.item()}'
    )
    plugin_site.add("gb-floaty", source, ep_name="floaty")
    code = main(run_args(runs_dir, "floaty", "ring8", "--json"))
    out, err = capsys.readouterr()
    assert code == 1
    (end,) = [e for e in map(json.loads, out.splitlines()) if e["event"] == "end"]
    assert end["status"] == "failed" and end["step"] == 0
    assert end["message"] == (
        "model 'floaty': train_step() at step 1: loss 'mse' is a float, not a tensor; "
        "return loss.detach(), not loss.item() (.item() waits for the device on every step) "
        "(genbench.testing.check_model finds this too)"
    )
    assert "Traceback" not in out + err and "detach" not in err
    assert not any(e["event"] == "traceback" for e in map(json.loads, out.splitlines()))


# -- datasets: clashes, providers, partly broken plugins -------------------------------


def test_datasets_lists_clashes_and_says_which_plugin_provides_each(
    plugin_site, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "250")  # one line per message, to compare them whole
    plugin_site.add("gb-spiral", SPIRAL_PLUGIN, version="0.2")
    plugin_site.add("gb-spiral-twin", SPIRAL_PLUGIN.replace('Spiral("spiral3"', 'Spiral("s9"'))
    assert main(["datasets", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {d["use"]: d for d in data["datasets"]}
    assert "spiral" not in rows  # two plugins provide it: each by DIST:NAME (#31)
    assert rows["gb-spiral:spiral"]["plugin"]["distribution"] == "gb-spiral"
    assert rows["gb-spiral-twin:spiral"]["name"] == "spiral"
    assert rows["s9"]["plugin"] == {
        "name": "gb-spiral-twin",
        "distribution": "gb-spiral-twin",
        "version": "1.0",
    }
    assert rows["spiral3"]["provider"] == "gb-spiral 0.2"
    assert rows["ring8"]["plugin"] is None and rows["ring8"]["provider"] == "built-in"
    assert sorted((c["name"], c["plugin"]["distribution"]) for c in data["conflicts"]) == [
        ("spiral", "gb-spiral"),
        ("spiral", "gb-spiral-twin"),
    ]

    assert main(["datasets"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "name clash dataset 'spiral' is provided by gb-spiral 0.2 and gb-spiral-twin 1.0; "
        "neither is built in, so 'spiral' alone is refused: name it gb-spiral:spiral or "
        "gb-spiral-twin:spiral" in out
    )
    assert "gb-spiral 0.2" in out.split("name clash")[0]  # in the table


PARTLY_BROKEN = (
    toy_model_source("halfok")
    + """

def _no_dataset():
    raise RuntimeError("labels file missing from the wheel")

@hookimpl
def genbench_datasets():
    return [_no_dataset]
"""
)


def test_a_plugin_with_a_bad_dataset_keeps_its_models_and_is_marked_partly_broken(
    plugin_site, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "250")
    plugin_site.add("gb-halfok", PARTLY_BROKEN, ep_name="halfok")
    registry = load_registry()
    assert "halfok" in registry.models
    assert registry.partly_broken(registry.models["halfok"].plugin)
    assert main(["models"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "gb-halfok 1.0 (partly broken, below)" in out
    assert (
        "broken plugin halfok (gb-halfok 1.0): genbench_datasets(): _no_dataset() raised "
        "RuntimeError: labels file missing from the wheel" in out
    )
    assert main(["datasets", "--json"]) == 0
    (broken,) = json.loads(capsys.readouterr().out)["broken"]
    assert broken["distribution"] == "gb-halfok" and "labels file missing" in broken["error"]


# -- a points dataset's modes -----------------------------------------------------------

# A plugin's own toy, as a third-party author writes it from docs/plugins.md: five
# Gaussians on a ring, with the modes evaluation measures against.
RING5_PLUGIN = """
import math
import torch
from genbench import DataSpec, Dataset, hookimpl


class Ring5(Dataset):
    name = "ring5"
    title = "5 Gaussians on a ring"
    size = None

    def __init__(self, means=None, std=0.05):
        self.means = [(math.cos(2 * math.pi * i / 5), math.sin(2 * math.pi * i / 5))
                      for i in range(5)] if means is None else means
        self.std = std
        self.spec = DataSpec(kind="points", shape=(2,), num_classes=5)

    def sampler(self, batch_size, device, seed):
        return Ring5Sampler(self.means, self.std, batch_size, device, seed)


class Ring5Sampler:
    def __init__(self, means, std, batch_size, device, seed):
        self.means = torch.tensor(means, dtype=torch.float32, device=device)
        self.std, self.batch_size = std, batch_size
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def next(self):
        g, dev = self.generator, self.means.device
        y = torch.randint(0, len(self.means), (self.batch_size,), generator=g, device=dev)
        noise = torch.randn(self.batch_size, 2, generator=g, device=dev)
        return self.means[y] + self.std * noise, y

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])


@hookimpl
def genbench_datasets():
    return [Ring5()]
"""


def test_a_plugin_points_dataset_with_modes_is_evaluated_like_ours(plugin_site, capsys, runs_dir):
    plugin_site.add("gb-ring5", RING5_PLUGIN)
    registry = load_registry()
    assert "ring5" in registry.datasets and not registry.broken
    assert (
        main(
            run_args(
                runs_dir,
                "gan",
                "ring5",
                "--set",
                "hidden=16",
                "--steps",
                "4",
                "--eval-every",
                "2",
                "--name",
                "r5",
                "--quiet",
            )
        )
        == 0
    )
    records = [json.loads(line) for line in (runs_dir / "r5" / "metrics.jsonl").open()]
    live = [r["eval"] for r in records if r.get("kind") == "eval"]
    assert live and all(e["modes"] == 5 and "modes_covered" in e for e in live)
    capsys.readouterr()

    assert main(["eval", str(runs_dir / "r5"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    (covered,) = [m for m in result["metrics"] if m["metric"] == "modes_covered"]
    assert covered["of"] == 5 and 0 <= covered["value"] <= 5


@pytest.mark.parametrize(
    "change, words",
    [
        ("return [Ring5()]", None),
        (
            "return [Ring5(means=[0.0, 1.0, 2.0, 3.0, 4.0])]",
            "dataset 'ring5': `means` has shape (5,); "
            "give K x 2, one row of 2 coordinates per mode",
        ),
        (
            "return [Ring5(means=[(0.0, 1.0, 2.0)])]",
            "dataset 'ring5': `means` has shape (1, 3); give K x 2",
        ),
        ('return [Ring5(means=[("a", "b")])]', "`means` is a list that is not an array of numbers"),
        (
            "import numpy\n    return [Ring5(means=numpy.zeros((5, 2)))]",
            "`means` is a ndarray; give a list of K tuples of 2 numbers, one per mode",
        ),
        (
            "return [Ring5(std=None)]",
            "dataset 'ring5': `std` is None; with `means`, give the "
            "modes' standard deviation as a positive number",
        ),
        ("return [Ring5(std=-1.0)]", "`std` is -1.0"),
    ],
)
def test_a_points_dataset_with_malformed_modes_is_refused_naming_the_attribute(
    plugin_site, change, words
):
    plugin_site.add("gb-ring5", RING5_PLUGIN.replace("return [Ring5()]", change))
    registry = load_registry()
    if words is None:
        assert "ring5" in registry.datasets and not registry.broken
        return
    (broken,) = registry.broken
    assert "ring5" not in registry.datasets
    assert broken.error.startswith("genbench_datasets() ") and words in broken.error


# -- check_dataset: the dataset side of the contract, for a plugin's own tests ----------


def ring5_module(plugin_site, source: str = RING5_PLUGIN):
    return importlib.import_module(plugin_site.add("gb-ring5", source))


def test_check_dataset_passes_a_correct_plugin_dataset_and_ours(plugin_site):
    from genbench.data import get_dataset

    ring5 = ring5_module(plugin_site)
    assert check_dataset(ring5.Ring5) == ["contract", "batches", "seed", "resume"]
    assert check_dataset(get_dataset("grid25")) == ["contract", "batches", "seed", "resume"]
    spiral = importlib.import_module(plugin_site.add("gb-spiral", SPIRAL_PLUGIN))  # the docs'
    assert check_dataset(spiral.Spiral) == ["contract", "batches", "seed", "resume"]


DRAW = "return self.means[y] + self.std * noise, y"


@pytest.mark.parametrize(
    "old, new, check, words",
    [
        (
            DRAW,
            DRAW + ".int()",
            "batches",
            "labels have dtype torch.int32 and shape (16,); models get int64 of shape (16,)",
        ),
        (DRAW, DRAW + " + 1", "batches", "labels span 1..5; the spec has 5 classes, so use 0..4"),
        (DRAW, DRAW[:-1] + "None", "batches", "the spec has 5 classes but y is NoneType"),
        (
            'self.generator.set_state(state["generator"])',
            "pass",
            "resume",
            "drew another batch than the one it was saved before",
        ),
    ],
)
def test_check_dataset_names_what_models_would_trip_over(plugin_site, old, new, check, words):
    ring5 = ring5_module(plugin_site, RING5_PLUGIN.replace(old, new))
    with pytest.raises(ContractError, match=re.escape(f"failed check_dataset [{check}]")) as e:
        check_dataset(ring5.Ring5)
    assert words in str(e.value)


# -- genbench.nn: documented from its code, and spectral norm --------------------------


def test_docs_nn_md_is_generated_from_genbench_nn_as_it_is():
    from genbench.nn import reference

    # Regenerate with: python -m genbench.nn > docs/nn.md
    assert (REPO / "docs" / "nn.md").read_text() == reference()


def _largest_singular_values(net) -> list[float]:
    import torch

    values = []
    for m in net.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            w = m.weight  # the normalised weight the layer uses
            if isinstance(m, torch.nn.ConvTranspose2d):
                w = w.transpose(0, 1)  # torch normalises along its output channels
            values.append(torch.linalg.matrix_norm(w.flatten(1), ord=2).item())
    return values


@pytest.mark.parametrize(
    "build",
    [
        lambda nn: nn.mlp(2, 32, 2, 1, sn=True),
        lambda nn: nn.conv_discriminator((1, 28, 28), width=8, sn=True, norm="none"),
        lambda nn: nn.conv_generator(8, (1, 28, 28), width=8, sn=True),
    ],
    ids=["mlp", "conv_discriminator", "conv_generator"],
)
def test_sn_keeps_every_layers_largest_singular_value_near_one(build):
    import torch

    from genbench import nn

    torch.manual_seed(0)
    net = build(nn)
    inputs = (
        torch.randn(4, 8)
        if "ConvTranspose" in str(net)
        else torch.randn(4, 1, 28, 28)
        if "Conv2d" in str(net)
        else torch.randn(4, 2)
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(3):  # move the raw weights well away from the start
        net(inputs).square().mean().backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        for _ in range(10):  # a few power iterations, one per forward
            net(inputs)
    values = _largest_singular_values(net)
    assert len(values) >= 3 and all(abs(v - 1) < 0.02 for v in values), values
    # The option is off by default.
    assert not any("parametrizations" in n for n, _ in nn.mlp(2, 8, 1, 1).named_parameters())


class SpectralGood(Good):
    """Good with a spectral-normalised network: its state must round-trip exactly."""

    name = "good-sn"

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        from genbench.nn import mlp

        self.net = mlp(4 + self.classes, config.hidden, 1, spec.dim, sn=True).to(device)
        self.opt = type(self.opt)(self.net.parameters(), lr=config.lr)

    def sample(self, n, labels=None, generator=None):
        from genbench.nn import evaluating

        with evaluating(self.net):  # no power iteration while drawing previews
            return super().sample(n, labels, generator)


def test_a_model_built_with_sn_passes_check_model():
    assert "round trip" in check_model(SpectralGood)


# -- new-plugin --dataset ----------------------------------------------------------------


@pytest.mark.parametrize("kind, files_tested", [("points", 3), ("image", 2)])
def test_new_plugin_dataset_writes_a_package_that_passes_its_own_tests(
    tmp_path, plugin_site, monkeypatch, capsys, kind, files_tested
):
    dist = f"genbench-d{uuid.uuid4().hex[:8]}"
    target = tmp_path / "work" / dist
    assert main(["new-plugin", dist, "--dir", str(target), "--dataset", kind]) == 0
    out = capsys.readouterr().out
    name, package = dist.removeprefix("genbench-"), dist.replace("-", "_")
    assert f"created {dist}" in out and f"{kind} dataset {name!r}" in out
    assert f"--model gan --dataset {name}" in out
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "pyproject.toml",
        f"src/{package}/__init__.py",
        f"src/{package}/data.py",
        "tests/test_data.py",
    ]
    project = tomllib.loads((target / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["genbench"] == {name: f"{package}.data"}

    register(target, plugin_site, monkeypatch)  # as pip install -e would
    assert main(["datasets", "--json"]) == 0
    (row,) = [d for d in json.loads(capsys.readouterr().out)["datasets"] if d["name"] == name]
    assert row["kind"] == kind and row["provider"] == f"{dist} 0.1.0" and row["available"]
    if kind == "image":  # its held-out split is there: a classifier can be trained
        assert main(["train-classifier", name, "--epochs", "1", "--threads", "1"]) == 0
        assert "accuracy" in capsys.readouterr().out

    env = plugin_site.env()
    env["PYTHONPATH"] = os.pathsep.join([str(target / "src"), env["PYTHONPATH"]])
    env["OMP_NUM_THREADS"] = "1"
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert f"{files_tested} passed" in tests.stdout


def test_new_plugin_dataset_refuses_a_taken_dataset_name_and_writes_nothing(tmp_path, capsys):
    assert (
        main(["new-plugin", "genbench-grid25", "--dataset", "points", "--dir", str(tmp_path / "p")])
        == 2
    )
    err = capsys.readouterr().err
    assert "a dataset named 'grid25' is already installed" in err
    assert not (tmp_path / "p").exists()


# -- unknown datasets say why, as unknown models do ---------------------------------------


def test_unknown_dataset_names_the_filter_that_left_its_plugin_out(
    plugin_site, capsys, monkeypatch, runs_dir
):
    plugin_site.add("genbench-ring5", RING5_PLUGIN)
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench-rign5")  # a typo
    assert main(run_args(runs_dir, "gan", "ring5")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(
        "genbench: error: unknown dataset 'ring5'; "
        "GENBENCH_PLUGINS='genbench-rign5' leaves out plugin genbench-ring5"
    ), err
    assert not (runs_dir).exists() or not any(runs_dir.iterdir())


def test_unknown_dataset_whose_plugin_failed_to_load_says_why(plugin_site, capsys, runs_dir):
    plugin_site.add("genbench-clash", "import no_such_module_here\n")
    assert main(run_args(runs_dir, "gan", "clash")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "unknown dataset 'clash'; plugin genbench-clash 1.0" in err and "failed to load" in err


def test_check_model_names_an_inherited_k_batch_step_the_subclass_does_not_expect():
    """A subclass of a k-batch model (here gan with d_steps=2) whose own train_step
    takes one (B, ...) batch got torch's raw shape error from check_model."""
    from genbench.registry import load_registry

    gan = load_registry().get("gan").cls

    class OneBatch(gan):
        name = "onebatch-test"

        def train_step(self, x, y=None):  # written for one (B, ...) batch
            fake = self.generate(self.noise(len(x))).detach()
            d = self.critic(x).mean() - self.critic(fake).mean()
            return {"d": d.detach()}

    config = OneBatch.Config(d_steps=2, hidden=8, layers=1, latent_dim=4)
    with pytest.raises(ContractError) as caught:
        check_model(OneBatch, config=config)
    message = str(caught.value)
    assert "[train_step]" in message and "batches_per_step(config) is 2 (defined by GAN)" in message
    assert "stacked as (2, B, ...)" in message
