"""A model's defaults can depend on the data (GenerativeModel.defaults_for):
the run uses them unless --set says otherwise, and run.json records the values used."""

from __future__ import annotations

import json

from genbench import DataSpec
from genbench import config as cfg
from genbench.cli import main
from genbench.registry import load_registry
from tests.conftest import toy_model_source

# The toy model, told to train slower on 2D points than elsewhere.
ON_POINTS = (
    toy_model_source("toy")
    + """
class Toy2(Toy):
    name = "toy2"

    @classmethod
    def defaults_for(cls, spec):
        return {"lr": 0.01} if spec.kind == "points" else {}

@hookimpl
def genbench_models():
    return [Toy, Toy2]
"""
)

BROKEN = (
    toy_model_source("toy")
    + """
class Toy3(Toy):
    name = "toy3"

    @classmethod
    def defaults_for(cls, spec):
        return {"learning_rate": 0.01}

@hookimpl
def genbench_models():
    return [Toy3]
"""
)


RAISES = (
    toy_model_source("toy")
    + """
class Toy4(Toy):
    name = "toy4"

    @classmethod
    def defaults_for(cls, spec):
        return {"lr": spec.no_such_attribute}

@hookimpl
def genbench_models():
    return [Toy4]
"""
)


def _run(runs_dir, model, *extra):
    return main(
        [
            "run",
            "--headless",
            "--model",
            model,
            "--dataset",
            "ring8",
            "--steps",
            "5",
            "--log-every",
            "5",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "r",
            "--quiet",
            *extra,
        ]
    )


def _meta(runs_dir):
    return json.loads((runs_dir / "r" / "run.json").read_text())


def test_the_data_defaults_are_used_said_and_recorded(plugin_site, runs_dir, capsys):
    plugin_site.add("gb-toy", ON_POINTS)
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "toy2",
                "--dataset",
                "ring8",
                "--steps",
                "5",
                "--log-every",
                "5",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "r",
            ]
        )
        == 0
    )
    assert "toy2's defaults for this data: lr=0.01 (--set to change)" in capsys.readouterr().out
    meta = _meta(runs_dir)
    assert meta["config"]["lr"] == 0.01
    assert meta["config_for_data"] == {"lr": 0.01}


def test_set_wins_over_the_data_defaults(plugin_site, runs_dir):
    plugin_site.add("gb-toy", ON_POINTS)
    assert _run(runs_dir, "toy2", "--set", "lr=0.2") == 0
    meta = _meta(runs_dir)
    assert meta["config"]["lr"] == 0.2
    assert meta["config_for_data"] == {}


def test_defaults_elsewhere_are_the_configs(plugin_site):
    plugin_site.add("gb-toy", ON_POINTS)
    toy2 = load_registry().get("toy2").cls
    assert cfg.defaults(toy2, DataSpec("image", (1, 8, 8)))["lr"] == 0.1
    assert cfg.defaults(toy2, DataSpec("points", (2,)))["lr"] == 0.01
    assert cfg.defaults(toy2)["lr"] == 0.1


def test_a_plugin_naming_an_unknown_field_is_one_line_and_no_run(plugin_site, runs_dir, capsys):
    plugin_site.add("gb-toy", BROKEN)
    assert _run(runs_dir, "toy3") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "learning_rate" in err and "gb-toy" in err
    assert not (runs_dir / "r").exists()


def test_a_plugin_whose_defaults_for_raises_is_one_line_and_no_run(plugin_site, runs_dir, capsys):
    plugin_site.add("gb-toy", RAISES)
    assert _run(runs_dir, "toy4") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "toy4.defaults_for raised AttributeError" in err and "gb-toy" in err
    assert not (runs_dir / "r").exists()


def test_builtin_models_use_toy_settings_on_points_and_the_papers_on_images():
    """The papers' image settings are slow (wgan) or oscillate (wgan-gp) on the
    2D toys; docs/experiments.md has the measurements behind the toy settings."""
    models = load_registry().models
    points, images = DataSpec("points", (2,), 8), DataSpec("image", (1, 28, 28), 10)
    gp, clip = models["wgan-gp"].cls, models["wgan"].cls
    keys = ("gp_weight", "beta1", "lr", "lr_decay", "n_critic")
    assert {k: cfg.defaults(gp, points)[k] for k in keys} == {  # the authors' gan_toy.py,
        "gp_weight": 0.1,
        "beta1": 0.5,
        "lr": 1e-3,
        "lr_decay": "linear",  # a falling rate
        "n_critic": 1,
    }
    assert {k: cfg.defaults(gp, images)[k] for k in keys} == {
        "gp_weight": 10.0,
        "beta1": 0.0,
        "lr": 2e-4,
        "lr_decay": "none",  # Algorithm 1's
        "n_critic": 1,
    }  # lambda and betas; alpha, n_critic measured
    assert {k: cfg.defaults(clip, points)[k] for k in ("lr", "clip")} == {"lr": 3e-4, "clip": 0.02}
    assert {k: cfg.defaults(clip, images)[k] for k in ("lr", "clip")} == {
        "lr": 5e-5,
        "clip": 0.01,
    }  # Arjovsky et al., Algorithm 1
    assert cfg.defaults(models["vae"].cls, points)["kl_warmup"] == 1000
    assert cfg.defaults(models["vae"].cls, images)["kl_warmup"] == 0
    ls = models["lsgan"].cls  # chi^2 codes and lr 5e-4 on images only
    sharp = ("lr", "lr_decay", "r1")  # gan: R1 and a decaying rate on points only
    assert {k: cfg.defaults(ls, points)[k] for k in ("a", "c") + sharp} == {
        "a": 0.0,
        "c": 1.0,
        "lr": 1e-3,
        "lr_decay": "linear",
        "r1": 1.0,
    }
    assert {k: cfg.defaults(ls, images)[k] for k in ("a", "c") + sharp} == {
        "a": -1.0,
        "c": 0.0,
        "lr": 5e-4,
        "lr_decay": "none",
        "r1": 1.0,
    }
    gan = models["gan"].cls
    assert {k: cfg.defaults(gan, points)[k] for k in sharp} == {
        "lr": 1e-3,
        "lr_decay": "linear",
        "r1": 1.0,
    }
    assert {k: cfg.defaults(gan, images)[k] for k in sharp} == {
        "lr": 2e-4,
        "lr_decay": "none",
        "r1": 0.0,
    }  # Adam as DCGAN uses it
    for model in models.values():  # the others keep their papers' defaults
        if model.name not in ("wgan", "wgan-gp", "vae", "lsgan", "gan"):
            assert cfg.data_defaults(model.cls, points) == {}
