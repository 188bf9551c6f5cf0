"""The cGAN's faster CPU step computes what the paper's step computes (issue 17):
one discriminator pass over real and fake together, dropout masks from rand, Adam
fused. Speed itself is measured by `genbench bench` (docs/benchmarks.md)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from genbench import DataSpec
from genbench.nn import Dropout, adam, frozen
from genbench.registry import load_registry

MONO28 = DataSpec("image", (1, 28, 28), 10)


def build(**overrides):
    cls = load_registry().get("cgan").cls
    torch.manual_seed(0)
    # The paper's MLP step (arch=mlp): the convolutional pair is the default on images.
    config = cls.Config(**{"latent_dim": 8, "hidden": 16, "layers": 2, "arch": "mlp", **overrides})
    return cls(config, MONO28, torch.device("cpu"))


def data(n=6):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, *MONO28.shape, generator=g) * 2 - 1, torch.randint(10, (n,), generator=g)


def test_the_discriminator_sees_real_and_fake_in_one_pass():
    model = build()
    seen = []
    model.D.register_forward_hook(lambda mod, args, out: seen.append(len(args[0])))
    x, y = data()
    model.train_step(x, y)
    assert seen == [2 * len(x), len(x)]  # D step: real + fake; G step: fake


def test_the_step_is_the_two_pass_step_of_the_paper():
    """Without dropout, one step equals the step written as the paper's two D passes,
    followed by the G update against the updated D (Algorithm 1, k = 1)."""
    model = build(dropout=0.0)
    ref = copy.deepcopy(model)
    ref.opt_d = torch.optim.Adam(ref.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ref.opt_g = torch.optim.Adam(ref.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x, y = data()

    torch.manual_seed(5)
    losses = model.train_step(x, y)

    torch.manual_seed(5)
    y1 = ref.condition(y)
    fake = ref.generate(ref.noise(len(x)), y1)
    d_loss = (
        F.softplus(-ref.discriminate(x, y1)).mean()
        + F.softplus(ref.discriminate(fake.detach(), y1)).mean()
    )
    ref.opt_d.zero_grad()
    d_loss.backward()
    ref.opt_d.step()
    with frozen(ref.D):
        g_loss = F.softplus(-ref.discriminate(fake, y1)).mean()
    ref.opt_g.zero_grad()
    g_loss.backward()
    ref.opt_g.step()

    torch.testing.assert_close(losses["d"], d_loss.detach())
    torch.testing.assert_close(losses["g"], g_loss.detach())
    for net in ("G", "D"):
        for (name, a), b in zip(
            getattr(model, net).named_parameters(), getattr(ref, net).parameters(), strict=True
        ):
            torch.testing.assert_close(a, b, msg=f"{net}.{name}")


def test_dropout_keeps_each_unit_with_probability_one_minus_p_and_rescales():
    drop = Dropout(0.5)
    assert isinstance(drop, torch.nn.Dropout)
    x = torch.ones(400, 500, requires_grad=True)
    torch.manual_seed(0)
    out = drop(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.5) < 0.01
    assert torch.all(out[kept] == 2.0)
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # gradient flows through the kept units only
    torch.manual_seed(0)
    assert torch.equal(drop(x), out)  # seeded like every other draw
    drop.eval()
    assert torch.equal(drop(x), x)
    assert torch.count_nonzero(Dropout(1.0)(torch.ones(10))) == 0


def test_the_discriminator_uses_the_fast_dropout_and_fused_adam_on_cpu():
    model = build()
    drops = [m for m in model.D.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops and all(isinstance(m, Dropout) for m in drops)
    for opt in (model.opt_d, model.opt_g):
        assert opt.param_groups[0]["fused"] is True


@pytest.mark.parametrize("steps", [3])
def test_fused_adam_makes_the_same_updates(steps):
    torch.manual_seed(0)
    a = torch.nn.Linear(20, 30)
    b = copy.deepcopy(a)
    fused = adam(a.parameters(), 2e-4, (0.5, 0.999), torch.device("cpu"))
    plain = torch.optim.Adam(b.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = torch.randn(8, 20)
    for _ in range(steps):
        for net, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    torch.testing.assert_close(a.weight, b.weight)
    torch.testing.assert_close(a.bias, b.bias)


def test_images_get_the_convolutional_pair_with_a_projection_discriminator():
    cls = load_registry().get("cgan").cls
    conv = build(arch="auto", width=4, embed=4)
    assert type(conv.D).__name__ == "ProjectionDiscriminator"
    assert type(conv.G).__name__ == "ConvGenerator"
    assert type(build().D).__name__ == "Joint"  # arch=mlp: the paper's
    points = cls(
        cls.Config(latent_dim=8, hidden=16, layers=1),
        DataSpec("points", (2,), 8),
        torch.device("cpu"),
    )
    assert type(points.D).__name__ == "Joint"  # points: always MLPs

    # D(x, y) = psi(phi(x)) + <embed(y), phi(x)>: the label changes the score of the
    # same image by exactly the projection term.
    x, _ = data(4)
    conv.D.eval()
    with torch.no_grad():
        a = conv.D(x, torch.zeros(4, dtype=torch.long))
        b = conv.D(x, torch.ones(4, dtype=torch.long))
        h = F.leaky_relu(conv.D.phi(x), 0.2)
        expected = ((conv.D.embed.weight[1] - conv.D.embed.weight[0]) * h).sum(1)
    torch.testing.assert_close(b - a, expected)

    # The generator follows its labels: the same z with two labels gives two images.
    conv.G.eval()
    z = conv.noise(2)
    with torch.no_grad():
        one = conv.generate(z, torch.tensor([0, 0]))
        other = conv.generate(z, torch.tensor([3, 3]))
    assert not torch.allclose(one, other)
    losses = conv.train_step(*data())
    assert set(losses) == {"d", "g"} and all(torch.isfinite(v) for v in losses.values())
