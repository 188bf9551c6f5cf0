"""genbench.testing.check_model: every built-in model passes it, and each check
catches the mistake it exists for."""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from genbench import DataSpec, GenerativeModel, param
from genbench.registry import load_registry
from genbench.testing import CANDIDATE_SPECS, ContractError, check_model, pick_spec

POINTS = DataSpec("points", (2,), 8)
IMAGES = DataSpec("image", (1, 28, 28), 10)

# Narrow networks keep the built-in checks to a fraction of a second each on CPU.
# Only fields a model has are overridden, so models added later need no entry.
TINY = {"hidden": 32, "layers": 2, "latent_dim": 8, "width": 8, "ngf": 8, "ndf": 8, "n_critic": 2}


def tiny_overrides(model_cls) -> dict:
    fields = {f.name: f for f in dataclasses.fields(model_cls.Config)}
    return {
        k: v
        for k, v in TINY.items()
        if k in fields
        and isinstance(fields[k].default, int)
        and v >= fields[k].metadata.get("min", v)
    }


def builtin_cases():
    """(model, spec) for every built-in model on points and on 28x28 images where it
    supports them, else on the first standard spec it supports."""
    cases = []
    for name, entry in sorted(load_registry().models.items()):
        if not entry.plugin.builtin:
            continue
        specs = [s for s in (POINTS, IMAGES) if entry.cls.unsupported_reason(s) is None] or [
            pick_spec(entry.cls)
        ]
        for spec in specs:
            kind = spec.kind if spec else "none"
            cases.append(pytest.param(entry.cls, spec, id=f"{name}-{kind}"))
    return cases


@pytest.mark.parametrize("model_cls, spec", builtin_cases())
def test_builtin_models_pass_check_model(model_cls, spec):
    assert spec is not None, f"{model_cls.name} supports none of {CANDIDATE_SPECS}"
    passed = check_model(model_cls, spec, config=tiny_overrides(model_cls))
    assert {
        "class",
        "config",
        "construct",
        "train_step",
        "sample",
        "global rng",
        "determinism",
        "round trip",
    } <= set(passed)
    assert ("labels" in passed) == model_cls.conditional


def test_check_model_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    check_model(Good)
    assert torch.equal(before, torch.get_rng_state())


# -- a small correct model, and one mistake at a time ---------------------------------


@dataclass
class GoodConfig:
    hidden: int = param(16, "hidden units", min=1)
    lr: float = param(0.05, "Adam learning rate", min=0.0)


class Good(GenerativeModel):
    """Regresses noise onto data: enough state (Adam moments, a step counter) for
    the round-trip checks to mean something."""

    name = "good"
    kinds = frozenset({"points", "image"})
    Config = GoodConfig

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        self.classes = (spec.num_classes or 0) if self.conditional else 0
        self.net = nn.Sequential(
            nn.Linear(4 + self.classes, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, spec.dim),
        ).to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.steps = 0

    def generate(self, z, labels=None):
        if self.classes:
            z = torch.cat([z, nn.functional.one_hot(labels, self.classes).float()], 1)
        out = self.net(z).view(len(z), *self.spec.shape)
        return torch.tanh(out) if self.spec.kind == "image" else out

    def loss(self, x, y):
        z = torch.randn(len(x), 4, device=self.device)
        return (self.generate(z, y) - x).pow(2).mean()

    def train_step(self, x, y=None):
        self.steps += 1
        loss = self.loss(x, y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"mse": loss.detach()}

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None):
        if self.classes and labels is None:
            labels = torch.randint(self.classes, (n,), generator=generator, device=self.device)
        return self.generate(torch.randn(n, 4, generator=generator, device=self.device), labels)

    def extra_state(self):
        return {"steps": self.steps}

    def load_extra_state(self, state):
        self.steps = state["steps"]


class GoodConditional(Good):
    name = "good-c"
    conditional = True


class FloatLoss(Good):
    def train_step(self, x, y=None):
        return {"mse": super().train_step(x, y)["mse"].item()}


class VectorLoss(Good):
    def train_step(self, x, y=None):
        return {"mse": super().train_step(x, y)["mse"].repeat(3)}


class AttachedLoss(Good):
    def train_step(self, x, y=None):
        loss = self.loss(x, y)
        self.opt.zero_grad()
        loss.backward(retain_graph=True)
        self.opt.step()
        return {"mse": loss}


class NanLoss(Good):
    def train_step(self, x, y=None):
        return {"mse": super().train_step(x, y)["mse"] * float("nan")}


class RenamedLoss(Good):
    def train_step(self, x, y=None):
        out = super().train_step(x, y)
        return {f"mse{self.steps}": out["mse"]}


class GlobalRngSample(Good):
    @torch.no_grad()
    def sample(self, n, labels=None, generator=None):
        return self.generate(torch.randn(n, 4, device=self.device), labels)


class UnboundedImages(Good):
    def generate(self, z, labels=None):
        return self.net(z).view(len(z), *self.spec.shape) * 10


class WrongShape(Good):
    def sample(self, n, labels=None, generator=None):
        return super().sample(n, labels, generator).flatten(1)[:, :1]


class LeavesEvalMode(Good):
    def sample(self, n, labels=None, generator=None):
        self.net.eval()
        return super().sample(n, labels, generator)


class IgnoresLabels(GoodConditional):
    def generate(self, z, labels=None):
        return super().generate(z, torch.zeros_like(labels) if labels is not None else None)


class UnsavedOptimiser(Good):
    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        self.optimisers = [vars(self).pop("opt")]  # in a list: modules() does not see it

    def train_step(self, x, y=None):
        self.steps += 1
        loss = self.loss(x, y)
        self.optimisers[0].zero_grad()
        loss.backward()
        self.optimisers[0].step()
        return {"mse": loss.detach()}


class UnsavedCounter(Good):
    def loss(self, x, y):
        return super().loss(x, y) / self.steps  # depends on the counter...

    def extra_state(self):
        return {}  # ...which is not saved

    def load_extra_state(self, state):
        pass


class PythonRandom(Good):
    def loss(self, x, y):
        return super().loss(x, y) * (1 + random.random())


class Thing:
    pass


class ObjectInState(Good):
    def extra_state(self):
        return {"steps": self.steps, "thing": Thing()}  # weights_only loading refuses it


class UnknownDataDefault(Good):
    @classmethod
    def defaults_for(cls, spec):
        return {"width": 8}  # its Config has hidden, not width


class DataDefaultOutOfBounds(Good):
    @classmethod
    def defaults_for(cls, spec):
        return {"lr": -1.0} if spec.kind == "points" else {}


@dataclass
class NoHelpConfig:
    hidden: int = dataclasses.field(default=16)
    lr: float = param(0.05, "learning rate")


@dataclass
class NoDefaultConfig:
    hidden: int = dataclasses.field(metadata={"help": "units"})
    lr: float = param(0.05, "learning rate")


@dataclass
class ListConfig:
    hidden: int = param(16, "units")
    lr: float = param(0.05, "learning rate")
    sizes: list = param((1, 2), "layer sizes")


@dataclass
class OutOfBoundsConfig:
    hidden: int = param(16, "units", max=8)
    lr: float = param(0.05, "learning rate")


def with_config(config_cls):
    return type(f"Good{config_cls.__name__}", (Good,), {"Config": config_cls})


class ImagesOnly(Good):
    kinds = frozenset({"image"})


def test_a_correct_model_passes_on_points_images_and_conditionally():
    assert "labels" not in check_model(Good)
    check_model(Good, IMAGES)
    assert "labels" in check_model(GoodConditional, IMAGES)


def test_the_default_spec_is_the_first_standard_one_the_model_supports():
    assert pick_spec(Good) == POINTS
    assert pick_spec(ImagesOnly) == IMAGES
    with pytest.raises(ContractError, match=r"does not support"):
        check_model(ImagesOnly, POINTS)


@pytest.mark.parametrize(
    "model_cls, spec, check, words",
    [
        (FloatLoss, POINTS, "train_step", "not a tensor"),
        (VectorLoss, POINTS, "train_step", "0-dim"),
        (AttachedLoss, POINTS, "train_step", "detach"),
        (NanLoss, POINTS, "train_step", "nan"),
        (RenamedLoss, POINTS, "train_step", "names changed"),
        (GlobalRngSample, POINTS, "sample", "same generator seed differ"),
        (UnboundedImages, IMAGES, "sample", "[-1, 1]"),
        (WrongShape, POINTS, "sample", "shape"),
        (LeavesEvalMode, POINTS, "sample", "eval"),
        (IgnoresLabels, POINTS, "labels", "identical for different labels"),
        (UnsavedOptimiser, POINTS, "round trip", "optimiser"),
        (UnsavedCounter, POINTS, "round trip", "counters"),
        (PythonRandom, POINTS, "determinism", "Python's random"),
        (ObjectInState, POINTS, "round trip", "weights_only"),
        (UnknownDataDefault, POINTS, "config", "'width', which its Config lacks"),
        (DataDefaultOutOfBounds, POINTS, "config", "below its minimum"),
        (with_config(NoHelpConfig), POINTS, "config", "help"),
        (with_config(NoDefaultConfig), POINTS, "config", "no default"),
        (with_config(ListConfig), POINTS, "config", "--set cannot convert"),
        (with_config(OutOfBoundsConfig), POINTS, "config", "bounds"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_each_check_catches_its_mistake(model_cls, spec, check, words):
    with pytest.raises(ContractError) as caught:
        check_model(model_cls, spec)
    err = caught.value
    assert err.check == check, str(err)
    assert words.lower() in str(err).lower()
    assert str(err).startswith(f"{model_cls.__name__} ('good")  # names the model


def test_sample_touching_the_global_rng_is_named_as_such():
    class DropoutSample(Good):
        """Reproducible from its generator, but dropout in sample() draws from the global RNG."""

        @torch.no_grad()
        def sample(self, n, labels=None, generator=None):
            out = super().sample(n, labels, generator)
            return out + 0 * nn.functional.dropout(out, 0.5, training=True)

    with pytest.raises(ContractError) as caught:
        check_model(DropoutSample)
    assert caught.value.check == "global rng"


def test_config_overrides_are_validated():
    check_model(Good, config={"hidden": 4})
    check_model(Good, config=GoodConfig(hidden=4))
    with pytest.raises(TypeError, match="no hyperparameters"):
        check_model(Good, config={"width": 4})


# -- the contract checks itself when a model class is created -------------------------


@pytest.mark.parametrize(
    "attrs, words",
    [
        ({"train_step": None}, "train_step not implemented"),
        ({"sample": None}, "sample not implemented"),
        ({"name": "two words"}, "`name` is 'two words'"),
        ({"kinds": frozenset({"audio"})}, "kinds is frozenset({'audio'})"),
        ({"conditional": "yes"}, "conditional is 'yes'"),
        ({"Config": dict}, "Config is not a dataclass"),
    ],
)
def test_a_malformed_model_class_fails_when_it_is_created(attrs, words):
    body = {k: v for k, v in vars(Good).items() if k not in ("__dict__", "__weakref__")}
    for key, value in attrs.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    with pytest.raises(TypeError, match=re.escape(words)):
        type("Broken", (GenerativeModel,), body)


def test_a_base_class_without_a_name_may_leave_the_update_rule_to_subclasses():
    class Base(GenerativeModel):  # an intermediate base, like a family template
        kinds = frozenset({"points"})

    with pytest.raises(TypeError, match="abstract"):
        Base(GoodConfig(), POINTS, torch.device("cpu"))


def test_a_plugin_that_overrides_the_old_modules_name_is_still_checkpointed():
    class Legacy(Good):
        name = "legacy"

        def modules(self):  # written before checkpointed() existed
            return {"net": self.net}  # the optimiser deliberately left out

    model = Legacy(GoodConfig(), POINTS, torch.device("cpu"))
    assert set(model.state_dict()) == {"net", "_extra"}
    assert set(Good(GoodConfig(), POINTS, torch.device("cpu")).checkpointed()) == {"net", "opt"}


def test_genbench_nn_keeps_its_public_norm_choices():
    """`norm="layer"` (Gulrajani et al.'s drop-in for batch norm in a critic) is part
    of genbench.nn's public API, unused by the built-ins but relied on by plugins."""
    from genbench import nn as gnn

    critic = gnn.conv_discriminator((1, 28, 28), width=8, norm="layer")
    assert any(isinstance(m, nn.GroupNorm) for m in critic.modules())
    with pytest.raises(ValueError, match="valid: batch, layer, none"):
        gnn.conv_discriminator((1, 28, 28), width=8, norm="instance")
