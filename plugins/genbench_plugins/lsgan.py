"""LSGAN: Mao et al., 2017, "Least Squares Generative Adversarial Networks" (ICCV).

The discriminator is a regressor with a linear output, and both players minimise
squared errors against target codes a (fake), b (real) and c (what G wants D to
believe):

    min_D  1/2 E_x[(D(x) - b)^2] + 1/2 E_z[(D(G(z)) - a)^2]
    min_G  1/2 E_z[(D(G(z)) - c)^2]

Unlike the sigmoid cross-entropy loss, the squared error keeps penalising fakes
that are on the right side of the decision boundary but far from the real data,
so their gradients do not vanish. With b - c = 1 and b - a = 2 (a = -1, b = 1,
c = 0) G minimises the Pearson chi^2 divergence between p_data + p_g and 2 p_g:
that scheme is the default on images. The paper's other scheme, 0-1 coding
(a = 0, b = c = 1, PyTorch-GAN's lsgan.py), is the default on 2D points.

Networks: for images of 28, 32 or 64 px the DCGAN pair (``arch=auto``) with the
discriminator's output left linear, and a generator that doubles its side by a
resize and a 3x3 convolution (``upsample=resize``, Odena et al. 2016) instead of
transposed convolutions; MLPs for 2D points, other sizes or ``arch=mlp``. Each
step is one D update then one G update, with one batch of fakes serving both (as
in ``dcgan``).

Departures from DCGAN's settings on images, each of which lowers FD or covers
more classes on Fashion-MNIST (docs/experiments.md has the measurements): the
resize generator, the chi^2 codes, Adam lr 5e-4, the R1 penalty on real images
(Mescheder et al. 2018, gamma = 1, ``r1``) and the minibatch standard deviation
(Karras et al. 2018) before D's last layer (``mbstd=4``). R1 is a second
backward pass through D, so ``--set r1=0`` is the faster choice per second at
short budgets; the resize generator costs more per step, and channels-last
(below) wins most of it back (docs/benchmarks.md). On 2D points the chi^2 codes
and lr 5e-4 drop modes of ring8, so ``defaults_for`` keeps the 0-1 codes there,
with what ``gan`` uses on points: Adam's rate falling linearly from 1e-3 to 0 at
the run's last step, with R1 as on images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genbench import DataSpec, GenerativeModel, hookimpl, param
from genbench.augment import DIFF_AUGMENT_CHOICES, diff_augment
from genbench.nn import (
    LR_DECAYS,
    UPSAMPLES,
    LrSchedule,
    adam,
    conv_discriminator,
    conv_generator,
    conv_size_problem,
    dcgan_init,
    evaluating,
    frozen,
    mlp,
    r1_penalty,
)


@dataclass
class LSGANConfig:
    latent_dim: int = param(100, "size of the noise vector z", min=1, max=65536)
    arch: str = param(
        "auto",
        "auto: DCGAN convolutions for 28/32/64-px images, MLP for "
        "points and other sizes; mlp: MLPs always",
        choices=("auto", "mlp"),
    )
    width: int = param(64, "convolutional feature width (ngf = ndf)", min=1, max=65536)
    upsample: str = param(
        "resize",
        "how the convolutional generator doubles its side: "
        "transposed convolutions, or resize then convolve",
        choices=UPSAMPLES,
        old_runs="transposed",
    )
    hidden: int = param(256, "MLP units in each hidden layer", min=1, max=65536)
    layers: int = param(3, "MLP hidden layers in each network", min=1, max=64)
    a: float = param(-1.0, "target code D is trained to give fakes")
    b: float = param(1.0, "target code D is trained to give real data")
    c: float = param(0.0, "target code G wants D to give fakes")
    lr: float = param(5e-4, "Adam learning rate of both networks", min=0.0)
    beta1: float = param(0.5, "Adam beta1", min=0.0, max=1.0)
    beta2: float = param(0.999, "Adam beta2", min=0.0, max=1.0)
    # Runs saved before these settings existed trained without them (their run.json lacks
    # them): resumed or cloned, such a run must not pick up the decay or R1 it never had.
    lr_decay: str = param(
        "none",
        "learning-rate schedule: none, or linear (down to 0 at the run's last step)",
        choices=LR_DECAYS,
        old_runs="none",
    )
    r1: float = param(
        1.0,
        "R1 penalty gamma (Mescheder et al. 2018): gamma/2 E||grad D(x)||^2 "
        "on real data in D's loss; 0 is off",
        min=0.0,
        old_runs=0.0,
    )
    diffaugment: str = param(
        "off",
        "DiffAugment (Zhao et al. 2020) policy applied to real "
        "and generated images before D, in both updates (images only)",
        choices=DIFF_AUGMENT_CHOICES,
    )
    # Runs saved before this setting existed had no minibatch std in D.
    mbstd: int = param(
        4,
        "minibatch standard deviation in the convolutional discriminator: "
        "the group size, 0 for none (Karras et al. 2018)",
        min=0,
        max=1024,
        old_runs=0,
    )


class LSGAN(GenerativeModel):
    name = "lsgan"
    normal_latent = True  # latent() draws N(0, I)
    title = "LSGAN (least squares)"
    summary = "A regressing discriminator and squared-error losses: gradients that do not vanish."
    paper = "Mao et al. 2017, Least Squares Generative Adversarial Networks"
    kinds = frozenset({"points", "image"})
    Config = LSGANConfig

    @classmethod
    def defaults_for(cls, spec):
        # The image defaults (chi^2 codes, lr 5e-4) drop modes on ring8 (the module
        # docstring); on points, the 0-1 codes, with R1 keeping every mode while a rate
        # decaying from 1e-3 sharpens them (as gan does there).
        return (
            {"a": 0.0, "c": 1.0, "lr": 1e-3, "lr_decay": "linear"} if spec.kind == "points" else {}
        )

    def __init__(self, config: LSGANConfig, spec: DataSpec, device: torch.device):
        super().__init__(config, spec, device)
        c = config
        self.conv = c.arch == "auto" and conv_size_problem(spec) is None
        if self.conv:
            self.G = dcgan_init(
                conv_generator(c.latent_dim, spec.shape, c.width, upsample=c.upsample)
            )
            self.D = dcgan_init(conv_discriminator(spec.shape, c.width, mbstd=c.mbstd))
        else:
            self.G = mlp(c.latent_dim, c.hidden, c.layers, spec.dim)
            self.D = mlp(spec.dim, c.hidden, c.layers, 1)
        # Convolutions channels-last (as in dcgan): their preferred layout on CPU
        # (oneDNN) and for tensor cores; batches are made so in D.
        layout = torch.channels_last if self.conv else torch.contiguous_format
        self.G.to(device).to(memory_format=layout)
        self.D.to(device).to(memory_format=layout)
        self.opt_g = adam(self.G.parameters(), c.lr, (c.beta1, c.beta2), device)
        self.opt_d = adam(self.D.parameters(), c.lr, (c.beta1, c.beta2), device)
        self.schedule = LrSchedule(c.lr_decay, c.lr, self.opt_g, self.opt_d)

    def plan_steps(self, done, total):
        self.schedule.plan(done, total)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        out = self.G(z).view(len(z), *self.spec.shape)
        return torch.tanh(out) if self.spec.kind == "image" else out

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """D's output (linear: no sigmoid); with DiffAugment, of a freshly augmented
        copy every call, real and fake alike, as the paper does."""
        if self.spec.kind == "image":
            x = diff_augment(x, self.config.diffaugment)
        return self.D(
            x.contiguous(memory_format=torch.channels_last) if self.conv else x.flatten(1)
        ).squeeze(1)

    def train_step(self, x, y=None):
        c = self.config
        self.schedule.step()
        fake = self.generate(self.noise(len(x)))

        # D: 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]. Real and fake go through D
        # as separate batches, so batch norm never mixes their statistics.
        if c.r1:
            x = x.detach().requires_grad_(True)
        real_scores = self.discriminate(x)
        d_loss = (
            0.5 * ((real_scores - c.b) ** 2).mean()
            + 0.5 * ((self.discriminate(fake.detach()) - c.a) ** 2).mean()
        )
        penalty = r1_penalty(real_scores, x) if c.r1 else None
        self.opt_d.zero_grad(set_to_none=True)
        (d_loss if penalty is None else d_loss + c.r1 / 2 * penalty).backward()
        self.opt_d.step()

        # G: 1/2 E[(D(G(z)) - c)^2], against the D just updated; D's weights stay.
        with frozen(self.D):
            g_loss = 0.5 * ((self.discriminate(fake) - c.c) ** 2).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        losses = {"d": d_loss.detach(), "g": g_loss.detach()}
        if penalty is not None:
            losses["r1"] = penalty.detach()
        return losses

    def discriminator_scores(self, x, labels=None):
        # D regresses real data to b and fakes to a: the midpoint is its threshold,
        # and "real" is the side of b (whichever of the two codes is larger).
        c = self.config
        side = 1.0 if c.b >= c.a else -1.0
        x = x.contiguous(memory_format=torch.channels_last) if self.conv else x.flatten(1)
        return side * (self.D(x).squeeze(1) - (c.a + c.b) / 2)

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None):
        return self.sample_from(self.noise(n, generator))

    def latent(self, n, generator=None):
        return self.noise(n, generator)

    def sample_from(self, z, labels=None):
        # Eval mode: batch norm uses its running statistics, so previews change no
        # training state; the mode is restored afterwards.
        with evaluating(self.G):
            return self.generate(z).contiguous()


@hookimpl
def genbench_models():
    return [LSGAN]
