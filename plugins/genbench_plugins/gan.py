"""GAN: Goodfellow et al., 2014, "Generative Adversarial Nets" (NeurIPS).

Algorithm 1 of the paper, with the non-saturating generator loss the paper
recommends in practice (maximise log D(G(z)) rather than minimise log(1 - D(G(z)))):

    for each training step:
        for k steps:
            sample a batch x and noise z
            update D by ascending  log D(x) + log(1 - D(G(z)))
        sample noise z
        update G by ascending  log D(G(z))

Both networks are multilayer perceptrons, so the model trains on 2D points and
on images (flattened). The optimiser is Adam(2e-4, beta1=0.5), the common modern
replacement for the paper's SGD with momentum. The networks are LeakyReLU(0.2)
MLPs of our choosing (3 hidden layers of 256 units, a 64-d z), not the paper's
maxout discriminator.

On 2D points (``defaults_for``) two additions make the modes sharp without losing
any: the R1 penalty (Mescheder, Geiger & Nowozin 2018) on D's gradient at real
data, gamma = 1, and Adam's rate falling linearly from 1e-3 to 0 at the run's last
step (``lr_decay=linear``; the trainer tells the model the run's length).
Faster constant rates, or the decay alone, sharpen the modes but drop some; with
R1 as well every mode stays (docs/experiments.md, "ring8 defaults (precision)").
On images both stay off (``lr_decay=none``, ``r1=0``), the settings the image
figures in docs/results.md are made with.

With k = ``d_steps`` > 1, every discriminator step takes a fresh real batch, as in
the paper: the model asks for k batches a step (``batches_per_step``) and the
trainer hands them as one (k, B, ...) tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genbench import DataSpec, GenerativeModel, hookimpl, param
from genbench.nn import LR_DECAYS, LrSchedule, mlp, r1_penalty


@dataclass
class GANConfig:
    # Sizes up to 65,536, up to 64 layers and 100 D updates a step: far beyond what
    # trains well here, and bounded so that a typo of 2**62 is one line from --set
    # (the memory check then says what fits), never a model torch cannot size.
    latent_dim: int = param(64, "size of the noise vector z", min=1, max=65536)
    hidden: int = param(256, "units in each hidden layer", min=1, max=65536)
    layers: int = param(3, "hidden layers in the generator and the discriminator", min=1, max=64)
    d_steps: int = param(1, "discriminator updates per generator update (k)", min=1, max=100)
    lr: float = param(2e-4, "Adam learning rate of both networks", min=0.0)
    beta1: float = param(0.5, "Adam beta1", min=0.0, max=1.0)
    beta2: float = param(0.999, "Adam beta2", min=0.0, max=1.0)
    # Runs saved before these settings existed trained without them (their run.json lacks
    # them): a clone of such a run on points must not pick up the points defaults below.
    lr_decay: str = param(
        "none",
        "learning-rate schedule: none, or linear (down to 0 at the run's last step)",
        choices=LR_DECAYS,
        old_runs="none",
    )
    r1: float = param(
        0.0,
        "R1 penalty gamma (Mescheder et al. 2018): gamma/2 E||grad D(x)||^2 "
        "on real data in D's loss; 0 is off",
        min=0.0,
        old_runs=0.0,
    )


class GAN(GenerativeModel):
    name = "gan"
    normal_latent = True  # latent() draws N(0, I)
    title = "GAN (MLP, non-saturating)"
    summary = "The original adversarial pair of multilayer perceptrons."
    paper = "Goodfellow et al. 2014, Generative Adversarial Nets"
    kinds = frozenset({"points", "image"})
    Config = GANConfig

    def __init__(self, config: GANConfig, spec: DataSpec, device: torch.device):
        super().__init__(config, spec, device)
        c = config
        self.G = mlp(c.latent_dim, c.hidden, c.layers, spec.dim).to(device)
        self.D = mlp(spec.dim, c.hidden, c.layers, 1).to(device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.schedule = LrSchedule(c.lr_decay, c.lr, self.opt_g, self.opt_d)

    @classmethod
    def defaults_for(cls, spec):
        # The 2D toys: R1 keeps every mode while a linearly decaying rate from 1e-3
        # sharpens them (ring8, 5 seeds: see the module docstring).
        return {"lr": 1e-3, "lr_decay": "linear", "r1": 1.0} if spec.kind == "points" else {}

    def plan_steps(self, done, total):
        self.schedule.plan(done, total)

    @classmethod
    def batches_per_step(cls, config) -> int:
        return config.d_steps  # a fresh real batch for every D step

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        out = self.G(z).view(len(z), *self.spec.shape)
        return torch.tanh(out) if self.spec.kind == "image" else out

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(x.flatten(1)).squeeze(1)  # logits

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)

    def train_step(self, x, y=None):
        c = self.config
        k = c.d_steps
        self.schedule.step()
        # (k, B, ...): one batch per D step. One (B, ...) batch, from the trainer when
        # k is 1 or from a direct caller, is used by every D step.
        real = x.expand(k, *x.shape) if x.dim() == len(self.spec.shape) + 1 else x
        n = real.shape[1]
        for t in range(k):
            x_t = real[t]  # sample a batch x (fresh)
            if c.r1:
                x_t = x_t.detach().requires_grad_(True)
            fake = self.generate(self.noise(n)).detach()
            # -log D(x) - log(1 - D(G(z))), with D = sigmoid(logits)
            real_scores = self.critic(x_t)
            d_loss = F.softplus(-real_scores).mean() + F.softplus(self.critic(fake)).mean()
            penalty = r1_penalty(real_scores, x_t) if c.r1 else None
            self.opt_d.zero_grad(set_to_none=True)
            (d_loss if penalty is None else d_loss + c.r1 / 2 * penalty).backward()
            self.opt_d.step()

        # non-saturating: -log D(G(z))
        g_loss = F.softplus(-self.critic(self.generate(self.noise(n)))).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        losses = {"d": d_loss.detach(), "g": g_loss.detach()}
        if penalty is not None:
            losses["r1"] = penalty.detach()
        return losses

    def discriminator_scores(self, x, labels=None):
        return self.critic(x)  # logits: above 0 is "real"

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None):
        return self.sample_from(self.noise(n, generator))

    def latent(self, n, generator=None):
        return self.noise(n, generator)

    def sample_from(self, z, labels=None):
        return self.generate(z)


@hookimpl
def genbench_models():
    return [GAN]
