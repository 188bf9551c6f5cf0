"""The built-in models: each trains, samples, and resumes exactly on CPU.

Networks are shrunk through their Config so the whole file runs in seconds; the
code paths (convolutional stacks at 28 and 32 px, MLPs for points, n_critic
loops, the gradient penalty, the conditional inputs) are the real ones.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import subprocess
import sys

import pytest
import torch

from genbench import DataSpec, param
from genbench import config as cfg
from genbench.errors import UsageError
from genbench.registry import load_registry

POINTS = DataSpec("points", (2,), 8)
MONO28 = DataSpec("image", (1, 28, 28), 10)
RGB32 = DataSpec("image", (3, 32, 32), 10)

# Tiny networks: the same layers, a fraction of the width.
TINY = {
    "gan": {"latent_dim": 8, "hidden": 16, "layers": 1},
    "dcgan": {"latent_dim": 8, "ngf": 4, "ndf": 4},
    "wgan": {"latent_dim": 8, "width": 4, "hidden": 16, "layers": 1, "n_critic": 2},
    "wgan-gp": {"latent_dim": 8, "width": 4, "hidden": 16, "layers": 1, "n_critic": 2},
    "cgan": {"latent_dim": 8, "hidden": 16, "layers": 1, "width": 4, "embed": 4},
    "vae": {"latent_dim": 4, "width": 4, "hidden": 16, "layers": 1},
    "lsgan": {"latent_dim": 8, "width": 4, "hidden": 16, "layers": 1},
}
LOSSES = {
    "gan": {"d", "g"},
    "dcgan": {"d", "g"},
    "wgan": {"critic", "wasserstein", "g"},
    "wgan-gp": {"critic", "wasserstein", "gp", "g"},
    "cgan": {"d", "g"},
    "vae": {"loss", "recon", "kl"},
    "lsgan": {"d", "g", "r1"},
}
NEW_MODELS = ["dcgan", "wgan", "wgan-gp", "cgan", "vae", "lsgan"]
CASES = [
    (m, s)
    for m in NEW_MODELS
    for s in (POINTS, MONO28, RGB32)
    if not (m == "dcgan" and s is POINTS)
]
IDS = [f"{m}-{'x'.join(map(str, s.shape))}" for m, s in CASES]
BATCH = 6


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def build(registry, name: str, spec: DataSpec, seed: int = 0, **overrides):
    cls = registry.get(name).cls
    torch.manual_seed(seed)
    config = cls.Config(**{**TINY[name], **overrides})
    return cls(config, spec, torch.device("cpu"))


def batch(spec: DataSpec, seed: int = 1, n: int = BATCH):
    g = torch.Generator().manual_seed(seed)
    if spec.kind == "image":
        x = torch.rand(n, *spec.shape, generator=g) * 2 - 1
    else:
        x = torch.randn(n, *spec.shape, generator=g)
    y = torch.randint(spec.num_classes, (n,), generator=g)
    return x, y


def fixed(seed: int = 7) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def labels_for(model, n: int):
    return torch.arange(n) % model.spec.num_classes if model.conditional else None


# -- training and sampling -----------------------------------------------------


@pytest.mark.parametrize("name,spec", CASES, ids=IDS)
def test_train_steps_give_finite_losses_of_the_logged_names(registry, name, spec):
    model = build(registry, name, spec)
    x, y = batch(spec)
    for _ in range(3):
        losses = model.train_step(x, y)
        assert set(losses) == LOSSES[name]
        for key, value in losses.items():
            assert isinstance(value, torch.Tensor) and value.dim() == 0, key
            assert not value.requires_grad, f"{key} should be detached"
            assert math.isfinite(float(value)), f"{key} = {float(value)}"


@pytest.mark.parametrize("name,spec", CASES, ids=IDS)
def test_sample_shape_dtype_and_range(registry, name, spec):
    model = build(registry, name, spec)
    model.train_step(*batch(spec))
    out = model.sample(5, labels=labels_for(model, 5), generator=fixed())
    assert out.shape == (5, *spec.shape)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    if spec.kind == "image":
        assert out.min() >= -1 and out.max() <= 1


@pytest.mark.parametrize("name,spec", CASES, ids=IDS)
def test_sample_draws_only_from_the_given_generator(registry, name, spec):
    model = build(registry, name, spec)
    model.train_step(*batch(spec))
    modes = {k: m.training for k, m in model.modules().items() if isinstance(m, torch.nn.Module)}
    global_state = torch.get_rng_state()
    a = model.sample(4, labels=labels_for(model, 4), generator=fixed())
    b = model.sample(4, labels=labels_for(model, 4), generator=fixed())
    assert torch.equal(torch.get_rng_state(), global_state), "sample() touched the global RNG"
    assert torch.equal(a, b)
    assert not torch.equal(a, model.sample(4, labels=labels_for(model, 4), generator=fixed(8)))
    # Previews leave every network in the mode training put it in.
    assert modes == {
        k: m.training for k, m in model.modules().items() if isinstance(m, torch.nn.Module)
    }


@pytest.mark.parametrize("name,spec", CASES, ids=IDS)
def test_state_round_trip_resumes_exactly(registry, name, spec):
    model = build(registry, name, spec, seed=0)
    x, y = batch(spec)
    for _ in range(2):
        model.train_step(x, y)
    model.sample(4, labels=labels_for(model, 4), generator=fixed())  # a preview mid-run

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # what a checkpoint must survive
    copy = build(registry, name, spec, seed=123)  # different initial weights
    copy.load_state_dict(state)

    labels = labels_for(model, 6)
    assert torch.equal(
        model.sample(6, labels=labels, generator=fixed()),
        copy.sample(6, labels=labels, generator=fixed()),
    )
    rng = torch.get_rng_state()
    next_losses = model.train_step(x, y)
    torch.set_rng_state(rng)
    copy_losses = copy.train_step(x, y)
    for key in next_losses:
        assert torch.equal(next_losses[key], copy_losses[key]), key
    assert torch.equal(
        model.sample(6, labels=labels, generator=fixed()),
        copy.sample(6, labels=labels, generator=fixed()),
    )


@pytest.mark.parametrize("name,spec", CASES, ids=IDS)
def test_passes_the_public_plugin_contract_check(registry, name, spec):
    from genbench.testing import check_model

    check_model(registry.get(name).cls, spec, config=TINY[name])


# -- model-specific behaviour ----------------------------------------------------


def test_dcgan_rejects_other_image_sizes_naming_the_valid_ones(registry):
    cls = registry.get("dcgan").cls
    reason = cls.unsupported_reason(DataSpec("image", (3, 48, 48), None))
    assert reason and "48x48" in reason and "28x28, 32x32, 64x64" in reason
    assert cls.unsupported_reason(DataSpec("image", (1, 32, 28), None))
    assert "image" in cls.unsupported_reason(POINTS)
    for side in (28, 32, 64):
        assert cls.unsupported_reason(DataSpec("image", (3, side, side), None)) is None


def test_dcgan_at_64px_is_the_papers_stack(registry):
    model = build(registry, "dcgan", DataSpec("image", (3, 64, 64), None), ngf=2, ndf=2)
    model.train_step(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert model.sample(2, generator=fixed()).shape == (2, 3, 64, 64)
    ups = [m for m in model.G if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.out_channels for m in ups] == [16, 8, 4, 2, 3]  # 4 -> 8 -> 16 -> 32 -> 64
    bn = [m for m in model.G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(abs(float(m.weight.detach().mean()) - 1) < 0.1 for m in bn)  # N(1, 0.02)


def test_wgan_keeps_every_critic_weight_clipped(registry):
    model = build(registry, "wgan", MONO28, clip=0.01)
    model.train_step(*batch(MONO28))
    assert model.conv
    assert all(p.abs().max() <= 0.01 for p in model.D.parameters())


def test_wgan_gp_critic_has_no_batch_norm_and_arch_mlp_is_honoured(registry):
    conv = build(registry, "wgan-gp", RGB32)
    assert conv.conv and not any(isinstance(m, torch.nn.BatchNorm2d) for m in conv.D.modules())
    flat = build(registry, "wgan-gp", MONO28, arch="mlp")
    assert not flat.conv and isinstance(flat.D[0], torch.nn.Linear)
    odd = build(registry, "wgan-gp", DataSpec("image", (1, 20, 20), None))
    assert not odd.conv  # no conv stack for 20 px: MLP
    assert odd.sample(2, generator=fixed()).shape == (2, 1, 20, 20)


def test_cgan_output_depends_on_the_label(registry):
    model = build(registry, "cgan", MONO28)
    zeros, ones = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    a = model.sample(4, labels=zeros, generator=fixed())
    b = model.sample(4, labels=ones, generator=fixed())  # same noise, other label
    assert not torch.allclose(a, b)


def test_cgan_learns_to_put_each_label_on_its_mode(registry):
    """Two modes at x = -1 (label 0) and x = +1 (label 1): after brief training,
    asking for a label must give samples on that label's side. A model that
    ignored labels would put half of each label's samples on the wrong side."""
    spec = DataSpec("points", (2,), 2)
    model = build(registry, "cgan", spec, hidden=32, layers=2, dropout=0.0, lr=1e-3)
    g = torch.Generator().manual_seed(3)
    for _ in range(300):
        y = torch.randint(2, (64,), generator=g)
        x = torch.stack([y.float() * 2 - 1, torch.zeros(64)], 1) + 0.05 * torch.randn(
            64, 2, generator=g
        )
        model.train_step(x, y)
    left = model.sample(200, labels=torch.zeros(200, dtype=torch.long), generator=fixed())
    right = model.sample(200, labels=torch.ones(200, dtype=torch.long), generator=fixed())
    assert (left[:, 0] < 0).float().mean() > 0.9
    assert (right[:, 0] > 0).float().mean() > 0.9


def test_cgan_without_labels_draws_them_from_the_generator(registry):
    model = build(registry, "cgan", POINTS)
    state = torch.get_rng_state()
    a, b = model.sample(16, generator=fixed()), model.sample(16, generator=fixed())
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError):
        model.sample(3, labels=torch.zeros(2, dtype=torch.long))


def test_vae_losses_add_up_and_kl_is_non_negative(registry):
    for spec in (POINTS, MONO28):
        model = build(registry, "vae", spec)
        losses = model.train_step(*batch(spec))
        assert float(losses["kl"]) >= 0
        assert torch.allclose(losses["loss"], losses["recon"] + losses["kl"])


def test_vae_kl_warmup_weights_the_kl_but_logs_the_true_elbo(registry):
    x, y = batch(POINTS)
    first = {}
    for warmup in (0, 4, 1000):  # same seeds: the same weights and noise, only beta differs
        model = build(registry, "vae", POINTS, kl_warmup=warmup)
        torch.manual_seed(5)
        model.train_step(x, y)
        first[warmup] = [p.clone() for p in model.encoder.parameters()]
    same = lambda a, b: all(torch.equal(p, q) for p, q in zip(first[a], first[b], strict=True))  # noqa: E731
    assert not same(0, 4) and not same(4, 1000)

    warm = build(registry, "vae", POINTS, kl_warmup=4)
    weights = []
    for _ in range(6):
        losses = warm.train_step(x, y)
        weights.append(warm.kl_weight())
        assert torch.allclose(losses["loss"], losses["recon"] + losses["kl"])
    assert weights == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


# -- the Config schema ----------------------------------------------------------


@pytest.mark.parametrize("name", NEW_MODELS)
def test_every_hyperparameter_is_settable_with_set(registry, name):
    cls = registry.get(name).cls
    for f in cfg.fields(cls.Config):
        assert f.metadata.get("help"), f"{name}.{f.name} has no help"
        config = cfg.from_assignments(cls.Config, [f"{f.name}={f.default}"])
        assert getattr(config, f.name) == f.default
    json.dumps(dataclasses.asdict(cls.Config()))  # run.json can hold it


def test_papers_defaults(registry):
    get = lambda n: registry.get(n).cls.Config()  # noqa: E731
    assert (get("dcgan").lr, get("dcgan").beta1, get("dcgan").latent_dim) == (2e-4, 0.5, 100)
    assert (get("wgan").lr, get("wgan").clip, get("wgan").n_critic) == (5e-5, 0.01, 5)
    gp = get("wgan-gp")  # the paper's betas and lambda; alpha and n_critic measured
    assert (gp.lr, gp.beta1, gp.beta2, gp.gp_weight, gp.n_critic) == (2e-4, 0.0, 0.9, 10.0, 1)
    assert get("vae").lr == 1e-3
    ls = get("lsgan")  # the chi^2 codes on images
    assert (ls.a, ls.b, ls.c, ls.lr, ls.beta1, ls.upsample) == (-1.0, 1.0, 0.0, 5e-4, 0.5, "resize")
    assert (gp.upsample, get("wgan").upsample) == ("resize", "transposed")


def test_lsgan_on_points_keeps_0_1_codes_and_a_decaying_rate_with_r1(registry):
    """The image defaults (chi^2 codes, lr 5e-4) drop ring8's modes: not on points,
    where a decaying rate (as gan has there) with R1 (as everywhere) makes them sharp."""
    cls = registry.get("lsgan").cls
    assert cls.defaults_for(POINTS) == {"a": 0.0, "c": 1.0, "lr": 1e-3, "lr_decay": "linear"}
    assert (cls.Config().lr_decay, cls.Config().r1) == ("none", 1.0)  # images: R1 only


@pytest.mark.parametrize("upsample", ["transposed", "resize"])
@pytest.mark.parametrize("side", [28, 32, 64])
def test_conv_generator_upsampling_makes_the_image_size(upsample, side):
    from genbench.nn import conv_generator

    net = conv_generator(16, (3, side, side), 8, upsample=upsample)
    assert net(torch.randn(2, 16)).shape == (2, 3, side, side)
    kinds = {type(m) for m in net}
    assert (torch.nn.Upsample in kinds) == (upsample == "resize")


def test_conv_generator_names_the_valid_upsamplings():
    from genbench.nn import conv_generator

    with pytest.raises(ValueError, match="transposed, resize"):
        conv_generator(16, (1, 28, 28), 8, upsample="bilinear")


def test_minibatch_std_appends_each_groups_spread_as_a_channel():
    """Groups are examples n, n + N/g, ...: a group of identical examples gets ~0 in the
    extra channel, a varied one its mean standard deviation; the input passes through."""
    from genbench.nn import MinibatchStd

    x = torch.randn(8, 3, 4, 4)
    x[0::2] = x[0]  # rows 0, 2, 4, 6: one group of copies
    out = MinibatchStd(4)(x)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], x)
    s = out[:, 3]
    assert (s[0::2] < 1e-3).all()  # copies: no spread
    spread = x[1::2].std(0, unbiased=False).mean()
    assert torch.allclose(s[1::2], spread.expand(4, 4, 4), atol=1e-4)
    assert MinibatchStd(4)(torch.randn(6, 2, 3, 3)).shape == (6, 3, 3, 3)  # group gcd(6, 4) = 2
    assert (MinibatchStd(4)(torch.randn(5, 2, 3, 3))[:, 2] < 1e-3).all()  # groups of 1


def test_wgan_gp_minibatch_std_is_a_setting(registry):
    from genbench.nn import MinibatchStd

    assert not any(
        isinstance(m, MinibatchStd) for m in build(registry, "wgan-gp", MONO28, mbstd=0).D
    )
    model = build(registry, "wgan-gp", MONO28, mbstd=4)
    assert sum(isinstance(m, MinibatchStd) for m in model.D) == 1
    assert registry.get("wgan-gp").cls.Config().mbstd == 4  # on by default
    assert model.critic(torch.randn(6, *MONO28.shape)).shape == (6,)
    losses = model.train_step(*batch(MONO28)[:1])
    assert all(torch.isfinite(v) for v in losses.values())


def test_lsgan_losses_are_the_papers_squared_errors_against_the_codes(registry):
    """min_D 1/2 E(D(x)-b)^2 + 1/2 E(D(G(z))-a)^2 and min_G 1/2 E(D(G(z))-c)^2: with a
    D that outputs a constant k, the logged losses are exactly those of the codes."""
    model = build(registry, "lsgan", POINTS, a=-1.0, b=1.0, c=0.0)
    k = 0.25
    for p in model.D.parameters():
        torch.nn.init.zeros_(p)
    last = [m for m in model.D.modules() if isinstance(m, torch.nn.Linear)][-1]
    torch.nn.init.constant_(last.bias, k)
    model.opt_d = torch.optim.SGD(model.D.parameters(), lr=0.0)  # D stays constant
    losses = model.train_step(*batch(POINTS)[:1])
    assert losses["d"].item() == pytest.approx(0.5 * (k - 1.0) ** 2 + 0.5 * (k + 1.0) ** 2)
    assert losses["g"].item() == pytest.approx(0.5 * (k - 0.0) ** 2)


def test_building_blocks_stay_out_of_the_torch_free_import_path():
    code = (
        "import sys, genbench, genbench.api; "
        "print('torch' in sys.modules, 'genbench.nn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# -- end to end ------------------------------------------------------------------


def test_cli_trains_a_conditional_model_on_ring8(tmp_path):
    from genbench.cli import main

    runs = tmp_path / "runs"
    code = main(
        [
            "run",
            "--headless",
            "--model",
            "cgan",
            "--dataset",
            "ring8",
            "--steps",
            "20",
            "--set",
            "hidden=32",
            "--runs-dir",
            str(runs),
            "--quiet",
        ]
    )
    assert code == 0
    (run,) = runs.iterdir()
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "completed" and meta["config"]["hidden"] == 32
    assert (run / "samples" / "latest.png").is_file()


@pytest.mark.parametrize("norm, layer", [("none", None), ("layer", torch.nn.GroupNorm)])
def test_wgan_gp_critic_norm_is_a_setting(registry, norm, layer):
    """wgan-gp's critic: no normalisation (the paper's) or per-example layer norm
    (its suggested drop-in for batch norm); never batch norm, which the penalty
    forbids."""
    model = build(registry, "wgan-gp", MONO28, critic_norm=norm)
    kinds = {type(m) for m in model.D.modules()}
    assert torch.nn.BatchNorm2d not in kinds
    assert (layer in kinds) if layer else not (kinds & {torch.nn.GroupNorm})
    losses = model.train_step(*batch(MONO28)[:1])
    assert all(torch.isfinite(v) for v in losses.values())
    with pytest.raises(UsageError, match="not one of: none, layer"):
        cfg.from_assignments(registry.get("wgan-gp").cls.Config, ["critic_norm=batch"])


def test_a_run_saved_before_a_setting_existed_rebuilds_as_it_was(registry):
    """lsgan and wgan-gp runs saved before ``upsample`` existed were built with
    transposed convolutions: their run.json lacks the key, and they must still
    resume and evaluate now that the default is resize (param's ``old_runs``)."""
    for name in ("lsgan", "wgan-gp"):
        cls = registry.get(name).cls
        made_then = cls(cls.Config(upsample="transposed"), MONO28, torch.device("cpu"))
        checkpoint = made_then.state_dict()
        saved = {k: v for k, v in cfg.to_dict(made_then.config).items() if k != "upsample"}
        rebuilt = cls(cfg.from_dict(cls.Config, saved), MONO28, torch.device("cpu"))
        rebuilt.load_state_dict(checkpoint)  # strict: the same network as then
        assert torch.nn.Upsample not in {type(m) for m in rebuilt.G.modules()}
        assert cfg.from_dict(cls.Config, {**saved, "upsample": "resize"}).upsample == "resize"
        assert cls.Config().upsample == "resize"  # a new run gets the new default


def test_runs_saved_before_init_and_mbstd_rebuild_as_they_were(registry):
    """Such a run had DCGAN's N(0, 0.02) weights and no minibatch std: its checkpoint
    loads into the rebuilt critic (an extra input channel would not), and a new run
    gets PyTorch's initialisation and the minibatch std."""
    from genbench.nn import MinibatchStd

    cls = registry.get("wgan-gp").cls
    made_then = cls(cls.Config(init="dcgan", mbstd=0), MONO28, torch.device("cpu"))
    saved = {k: v for k, v in cfg.to_dict(made_then.config).items() if k not in ("init", "mbstd")}
    rebuilt = cls(cfg.from_dict(cls.Config, saved), MONO28, torch.device("cpu"))
    rebuilt.load_state_dict(made_then.state_dict())  # strict: the same networks
    assert (rebuilt.config.init, rebuilt.config.mbstd) == ("dcgan", 0)
    assert not any(isinstance(m, MinibatchStd) for m in rebuilt.D)
    for name in ("lsgan", "dcgan"):  # their D gained it too
        ls = registry.get(name).cls
        made_then = ls(ls.Config(mbstd=0), MONO28, torch.device("cpu"))
        saved = {k: v for k, v in cfg.to_dict(made_then.config).items() if k != "mbstd"}
        rebuilt = ls(cfg.from_dict(ls.Config, saved), MONO28, torch.device("cpu"))
        rebuilt.load_state_dict(made_then.state_dict())
        assert not any(isinstance(m, MinibatchStd) for m in rebuilt.D)
        assert any(
            isinstance(m, MinibatchStd) for m in ls(ls.Config(), MONO28, torch.device("cpu")).D
        )


def test_wgan_gp_init_chooses_the_convolutional_weights(registry):
    """dcgan: every convolution N(0, 0.02); pytorch: torch's fan-in scaled defaults, far
    wider for the critic's first 4x4 convolution over one channel (bound 1/4)."""
    first = lambda m: next(x for x in m.D if isinstance(x, torch.nn.Conv2d))  # noqa: E731
    dcgan = build(registry, "wgan-gp", MONO28, init="dcgan")
    assert abs(first(dcgan).weight.std().item() - 0.02) < 0.01
    default = build(registry, "wgan-gp", MONO28, init="pytorch")
    assert first(default).weight.std().item() > 0.1
    assert registry.get("wgan-gp").cls.Config().init == "pytorch"
    with pytest.raises(UsageError, match="not one of: pytorch, dcgan"):
        cfg.from_assignments(registry.get("wgan-gp").cls.Config, ["init=xavier"])


def test_old_runs_is_only_for_missing_keys_and_fields_without_it_take_the_default():
    @dataclasses.dataclass
    class Config:
        width: int = param(64, "width", min=1, old_runs=32)
        depth: int = param(3, "depth", min=1)

    assert cfg.from_dict(Config, {}) == Config(width=32, depth=3)
    assert cfg.from_dict(Config, {"width": 128}) == Config(width=128, depth=3)
    assert cfg.from_assignments(Config, []) == Config(width=64, depth=3)  # new runs


def test_a_bad_old_runs_value_is_refused_when_the_plugin_loads():
    @dataclasses.dataclass
    class Config:
        up: str = param("resize", "how", choices=("transposed", "resize"), old_runs="transposd")

    problem = cfg.config_problem(Config)
    assert problem and "Config.up: old_runs='transposd' is not a valid value" in problem


@pytest.mark.parametrize("name", ["lsgan", "wgan-gp"])
def test_channels_last_models_give_ordinary_tensors(registry, name):
    """The convolutions run channels-last; what leaves the model (samples, scores) is
    in the ordinary layout. RGB: with one channel the two layouts coincide."""
    model = build(registry, name, RGB32)
    model.train_step(*batch(RGB32)[:1])
    assert model.sample(4).is_contiguous()
    if name == "lsgan":
        scores = model.discriminator_scores(batch(RGB32)[0])
        assert scores.shape == (BATCH,) and torch.isfinite(scores).all()
