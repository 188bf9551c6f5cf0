"""Wasserstein GANs: ``wgan`` (weight clipping) and ``wgan-gp`` (gradient penalty).

Each model's ``train_step`` is its paper's Algorithm 1, shown in the class's
docstring; the base class shares only the networks, noise and sampling. One
``train_step`` is one pass of the outer loop: n_critic critic updates, each on
a fresh real batch as in the papers, then one generator update. The model asks
for n_critic batches a step (``batches_per_step``) and the trainer hands them
as one (n_critic, B, ...) tensor, so a step keeps a fixed shape; images/s counts
all n_critic * B real images.

Where this departs from the papers (docs/experiments.md has the measurements
behind each choice):

- Networks: for images of 28, 32 or 64 px the DCGAN pair (``arch=auto``), as in
  both papers' image experiments, with batch norm in the critic for ``wgan``
  and none for ``wgan-gp`` (``critic_norm=layer`` gives per-example layer norm,
  the paper's suggested drop-in); MLPs for 2D points, other image sizes, or
  ``arch=mlp``.
- ``wgan-gp``'s convolutional generator doubles its side by a nearest-neighbour
  resize and a 3x3 convolution (``upsample=resize``, Odena, Dumoulin & Olah
  2016) rather than the paper's transposed convolutions, whose uneven overlap
  paints a checkerboard the generator must first unlearn.
  ``--set upsample=transposed`` restores the paper's network.
- ``wgan-gp`` trains with one critic update a step (``n_critic=1``, the paper:
  5) at Adam alpha = 2e-4 (the paper: 1e-4), starts its convolutional networks
  from PyTorch's layer initialisation rather than DCGAN's N(0, 0.02)
  (``init``), and its convolutional critic sees the minibatch's standard
  deviation (``mbstd=4``, Karras et al. 2018) before its last layer. At the
  same real images this makes n_critic times the paper's generator updates, so
  more compute per image. ``--set n_critic=5 --set lr=1e-4 --set init=dcgan
  --set mbstd=0`` is the paper's training.
- On 2D points the defaults differ (``defaults_for``), because the papers'
  image settings are slow or oscillate there: ``wgan-gp`` takes lambda = 0.1
  and beta1 = 0.5 from the authors' own toy code, one critic update a step and
  a rate falling linearly from 1e-3 to 0 at the run's last step (``lr_decay``);
  ``wgan`` takes alpha = 3e-4 and c = 0.02. ``--set`` restores the papers'
  values.

Logged: ``critic`` (the critic's loss, penalty included), ``wasserstein`` (the
critic's estimate mean D(x) - mean D(G(z)) of the Wasserstein-1 distance, up to
the Lipschitz constant), ``g`` (the generator's loss), and ``gp`` for wgan-gp.
The critic values are from the last critic update of the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from genbench import DataSpec, GenerativeModel, hookimpl, param
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
)


@dataclass
class _NetworkConfig:
    latent_dim: int = param(100, "size of the noise vector z", min=1, max=65536)
    arch: str = param(
        "auto",
        "auto: DCGAN convolutions for 28/32/64-px images, MLP for "
        "points and other sizes; mlp: MLPs always",
        choices=("auto", "mlp"),
    )
    width: int = param(64, "convolutional feature width (ngf = ndf)", min=1, max=65536)
    upsample: str = param(
        "transposed",
        "how the convolutional generator doubles its side: "
        "transposed convolutions, or resize then convolve",
        choices=UPSAMPLES,
    )
    hidden: int = param(512, "MLP units in each hidden layer", min=1, max=65536)
    layers: int = param(3, "MLP hidden layers in each network", min=1, max=64)
    n_critic: int = param(
        5, "critic updates per generator update, each on a fresh real batch", min=1, max=100
    )
    # Runs saved before this setting existed trained at a constant rate (their run.json
    # lacks it): a clone of such a run on points must not pick up wgan-gp's decay there.
    lr_decay: str = param(
        "none",
        "learning-rate schedule: none, or linear (down to 0 at the run's last step)",
        choices=LR_DECAYS,
        old_runs="none",
    )


@dataclass
class WGANConfig(_NetworkConfig):
    clip: float = param(0.01, "critic weights are clipped to [-clip, clip] (c)", min=0.0)
    lr: float = param(5e-5, "RMSprop learning rate of both networks (alpha)", min=0.0)


@dataclass
class WGANGPConfig(_NetworkConfig):
    # Resize-convolution by default (the module docstring says why); a run saved
    # without this setting was built with transposed convolutions (old_runs).
    upsample: str = param(
        "resize",
        "how the convolutional generator doubles its side: "
        "transposed convolutions, or resize then convolve",
        choices=UPSAMPLES,
        old_runs="transposed",
    )
    critic_norm: str = param(
        "none",
        "normalisation in the convolutional critic: none (the "
        "paper's), or layer (per example, the paper's suggested drop-in "
        "for batch norm)",
        choices=("none", "layer"),
    )
    # One critic update a step, alpha 2e-4, PyTorch's initialisation and minibatch
    # std depart from the paper (the module docstring says why). A run saved without
    # init and mbstd had DCGAN's initialisation and no minibatch std (old_runs).
    n_critic: int = param(
        1,
        "critic updates per generator update, each on a fresh real batch (the paper: 5)",
        min=1,
        max=100,
    )
    init: str = param(
        "pytorch",
        "initial weights of the convolutional networks: pytorch "
        "(PyTorch's layer defaults), or dcgan (N(0, 0.02), Radford et al.)",
        choices=("pytorch", "dcgan"),
        old_runs="dcgan",
    )
    mbstd: int = param(
        4,
        "minibatch standard deviation in the convolutional critic: the "
        "group size, 0 for none (Karras et al. 2018)",
        min=0,
        max=1024,
        old_runs=0,
    )
    gp_weight: float = param(10.0, "gradient penalty coefficient (lambda)", min=0.0)
    lr: float = param(2e-4, "Adam learning rate of both networks (alpha; the paper: 1e-4)", min=0.0)
    beta1: float = param(0.0, "Adam beta1", min=0.0, max=1.0)
    beta2: float = param(0.9, "Adam beta2", min=0.0, max=1.0)


class _WassersteinGAN(GenerativeModel):
    """What WGAN and WGAN-GP share: the networks, noise, the critic's view of the
    data and sampling. Each model's own ``train_step`` is its paper's Algorithm 1."""

    kinds = frozenset({"points", "image"})
    critic_norm: ClassVar[str]  # normalisation in the convolutional critic
    schedule: LrSchedule  # the learning rate over the run (lr_decay)

    @classmethod
    def batches_per_step(cls, config) -> int:
        return config.n_critic  # a fresh real batch for every critic update

    def __init__(self, config, spec: DataSpec, device: torch.device):
        super().__init__(config, spec, device)
        c = config
        self.conv = c.arch == "auto" and conv_size_problem(spec) is None
        if self.conv:
            # wgan-gp's critic normalisation, initialisation and minibatch std are
            # settings; wgan keeps the paper's DCGAN critic.
            init = dcgan_init if getattr(c, "init", "dcgan") == "dcgan" else (lambda net: net)
            self.G = init(conv_generator(c.latent_dim, spec.shape, c.width, upsample=c.upsample))
            self.D = init(
                conv_discriminator(
                    spec.shape,
                    c.width,
                    norm=getattr(c, "critic_norm", self.critic_norm),
                    mbstd=getattr(c, "mbstd", 0),
                )
            )
        else:
            self.G = mlp(c.latent_dim, c.hidden, c.layers, spec.dim)
            self.D = mlp(spec.dim, c.hidden, c.layers, 1)
        # Convolutions channels-last (as in dcgan): faster on CPU oneDNN and tensor
        # cores; batches are made so in the critic, samples come back contiguous.
        layout = torch.channels_last if self.conv else torch.contiguous_format
        self.G.to(device).to(memory_format=layout)
        self.D.to(device).to(memory_format=layout)

    def plan_steps(self, done, total):
        self.schedule.plan(done, total)

    def real_batches(self, x: torch.Tensor) -> torch.Tensor:
        """The step's real batches as (n_critic, B, ...), one per critic update: the
        trainer hands them stacked so (one (B, ...) batch when n_critic is 1). A
        caller that hands a single (B, ...) batch directly gets it reused by every
        critic update."""
        if x.dim() == len(self.spec.shape) + 1:
            return x.expand(self.config.n_critic, *x.shape)
        return x

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        out = self.G(z).view(len(z), *self.spec.shape)
        return torch.tanh(out) if self.spec.kind == "image" else out

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(
            x.contiguous(memory_format=torch.channels_last) if self.conv else x.flatten(1)
        ).squeeze(1)

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None):
        return self.sample_from(self.noise(n, generator))

    def latent(self, n, generator=None):
        return self.noise(n, generator)

    def sample_from(self, z, labels=None):
        # Eval mode: the generator's batch norm uses its running statistics, so
        # previews change no training state; the mode is restored afterwards.
        with evaluating(self.G):
            return self.generate(z).contiguous()


class WGAN(_WassersteinGAN):
    """Arjovsky, Chintala & Bottou, 2017, "Wasserstein Generative Adversarial
    Networks" (ICML). Algorithm 1 (alpha = 5e-5, c = 0.01, m = 64, n_critic = 5):

        while theta has not converged:
            for t = 1..n_critic:
                sample real x and noise z
                g_w <- grad_w [ mean f_w(x) - mean f_w(g_theta(z)) ]
                w   <- w + alpha * RMSProp(w, g_w)
                w   <- clip(w, -c, c)
            sample noise z
            g_theta <- -grad_theta mean f_w(g_theta(z))
            theta   <- theta - alpha * RMSProp(theta, g_theta)
    """

    name = "wgan"
    normal_latent = True  # latent() draws N(0, I)
    title = "WGAN (weight clipping)"
    summary = (
        "A critic estimating the Wasserstein-1 distance, kept Lipschitz by clipping its weights."
    )
    paper = "Arjovsky, Chintala & Bottou 2017, Wasserstein Generative Adversarial Networks"
    Config = WGANConfig
    critic_norm = "batch"  # the paper's DCGAN critic keeps batch norm

    @classmethod
    def defaults_for(cls, spec):
        # On 2D points the paper's alpha = 5e-5, c = 0.01 are slow to gather the
        # modes; alpha = 3e-4, c = 0.02 are genbench's own (docs/experiments.md).
        return {"lr": 3e-4, "clip": 0.02} if spec.kind == "points" else {}

    def __init__(self, config: WGANConfig, spec: DataSpec, device: torch.device):
        super().__init__(config, spec, device)
        # The paper: momentum-based optimisers (Adam) made training unstable; RMSProp.
        self.opt_g = torch.optim.RMSprop(self.G.parameters(), lr=config.lr)
        self.opt_d = torch.optim.RMSprop(self.D.parameters(), lr=config.lr)
        self.schedule = LrSchedule(config.lr_decay, config.lr, self.opt_g, self.opt_d)

    def train_step(self, x, y=None):
        c = self.config
        self.schedule.step()  # alpha for this step's updates
        real = self.real_batches(x)
        for t in range(c.n_critic):
            x_t = real[t]  # sample real x (fresh)
            with torch.no_grad():
                fake = self.generate(self.noise(len(x_t)))  # and noise z
            # The critic ascends mean f_w(x) - mean f_w(g(z)): minimise its negative.
            wasserstein = self.critic(x_t).mean() - self.critic(fake).mean()
            critic_loss = -wasserstein
            self.opt_d.zero_grad(set_to_none=True)
            critic_loss.backward()
            self.opt_d.step()
            with torch.no_grad():  # w <- clip(w, -c, c)
                for p in self.D.parameters():
                    p.clamp_(-c.clip, c.clip)

        with frozen(self.D):  # theta <- -grad mean f_w(g(z))
            g_loss = -self.critic(self.generate(self.noise(len(x_t)))).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        return {
            "critic": critic_loss.detach(),
            "wasserstein": wasserstein.detach(),
            "g": g_loss.detach(),
        }


class WGANGP(_WassersteinGAN):
    """Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, 2017, "Improved Training
    of Wasserstein GANs" (NeurIPS). Algorithm 1 (lambda = 10, n_critic = 5,
    alpha = 1e-4, beta1 = 0, beta2 = 0.9): clipping replaced by a penalty on the
    critic's gradient norm at random interpolates of real and fake, and no batch
    norm in the critic (the penalty is per example):

        while theta has not converged:
            for t = 1..n_critic:
                sample real x, noise z, eps ~ U[0, 1]
                x_fake <- G(z);  x_hat <- eps x + (1 - eps) x_fake
                L <- D(x_fake) - D(x) + lambda (||grad_x_hat D(x_hat)||_2 - 1)^2
                w <- Adam(grad_w mean L)
            theta <- Adam(grad_theta mean -D(G(z)))
    """

    name = "wgan-gp"
    normal_latent = True  # latent() draws N(0, I)
    title = "WGAN-GP (gradient penalty)"
    summary = "A Wasserstein critic kept Lipschitz by penalising its gradient norm."
    paper = (
        "Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, "
        "Improved Training of Wasserstein GANs"
    )
    Config = WGANGPConfig
    critic_norm = "none"  # the penalty is per example; batch norm would couple them

    @classmethod
    def defaults_for(cls, spec):
        # On 2D points the image settings (lambda = 10, beta1 = 0) oscillate and the
        # samples stay a diffuse ring. The authors' own toy code (gan_toy.py) uses
        # lambda = 0.1 and beta1 = 0.5 there; a rate falling linearly from 1e-3 to 0
        # keeps every mode where a constant rate drops some (docs/experiments.md).
        return (
            {"gp_weight": 0.1, "beta1": 0.5, "lr": 1e-3, "lr_decay": "linear"}
            if spec.kind == "points"
            else {}
        )

    def __init__(self, config: WGANGPConfig, spec: DataSpec, device: torch.device):
        super().__init__(config, spec, device)
        betas = (config.beta1, config.beta2)
        self.opt_g = adam(self.G.parameters(), config.lr, betas, device)
        self.opt_d = adam(self.D.parameters(), config.lr, betas, device)
        self.schedule = LrSchedule(config.lr_decay, config.lr, self.opt_g, self.opt_d)

    def train_step(self, x, y=None):
        c = self.config
        self.schedule.step()  # alpha for this step's updates
        real = self.real_batches(x)
        for t in range(c.n_critic):
            x_t = real[t]  # sample real x (fresh)
            with torch.no_grad():
                fake = self.generate(self.noise(len(x_t)))  # x_fake <- G(z)
            wasserstein = self.critic(x_t).mean() - self.critic(fake).mean()
            gp = self.gradient_penalty(x_t, fake)
            critic_loss = -wasserstein + c.gp_weight * gp  # L, averaged over the batch
            self.opt_d.zero_grad(set_to_none=True)
            critic_loss.backward()
            self.opt_d.step()

        with frozen(self.D):  # theta <- Adam(-D(G(z)))
            g_loss = -self.critic(self.generate(self.noise(len(x_t)))).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        return {
            "critic": critic_loss.detach(),
            "wasserstein": wasserstein.detach(),
            "gp": gp.detach(),
            "g": g_loss.detach(),
        }

    def gradient_penalty(self, x: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """mean (||grad_x_hat D(x_hat)||_2 - 1)^2 at x_hat = eps x + (1 - eps) G(z),
        eps ~ U[0, 1] per example."""
        eps = torch.rand(len(x), *([1] * (x.dim() - 1)), device=x.device)
        x_hat = (eps * x + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.critic(x_hat).sum(), x_hat, create_graph=True)
        # sqrt with a tiny floor: the norm's derivative is undefined at exactly zero.
        norm = (grad.flatten(1).square().sum(1) + 1e-12).sqrt()
        return (norm - 1).square().mean()


@hookimpl
def genbench_models():
    return [WGAN, WGANGP]
