"""VAE: Kingma & Welling, 2014, "Auto-Encoding Variational Bayes" (ICLR).

An encoder q(z|x) = N(mu(x), diag sigma^2(x)) and a decoder p(x|z) are trained
together by maximising the evidence lower bound with the SGVB estimator
(Algorithm 1 of the paper, one sample of z per example, L = 1):

    repeat:
        sample a batch x
        mu, log sigma^2 <- encoder(x)
        eps ~ N(0, I);  z <- mu + sigma * eps          (reparameterisation)
        recon <- -log p(x | z)                         (summed over dimensions)
        kl    <- KL(q(z|x) || N(0, I))                 (closed form, Appendix B)
               = 1/2 sum(mu^2 + sigma^2 - log sigma^2 - 1)
        theta, phi <- Adam step on  recon + kl         (the negative ELBO)

Likelihoods, both used in the paper: images are Bernoulli, as in its MNIST
experiments: pixels in [-1, 1] are mapped to [0, 1] and scored by binary cross
entropy against the decoder's logits. 2D points are Gaussian, with a mean from
the decoder and a learned per-dimension standard deviation (a fixed one would
fix the trade-off between reconstruction and KL by hand).

``sample`` decodes z ~ N(0, I) from the prior and returns the decoder's mean:
for images the Bernoulli means mapped back to [-1, 1], for points the Gaussian
means (without the observation noise, as images are shown without it).

On 2D points the plain ELBO collapses: the decoder learns the data's mean with
a wide sigma, the KL term falls to zero, and every sample of ring8 lands at its
centre. There the KL weight warms up linearly from 0 to 1 over the first 1000
steps (``kl_warmup``; Bowman et al. 2016, Sonderby et al. 2016), and the samples
form the ring (docs/experiments.md). Images keep the paper's plain ELBO. ``loss`` is always
logged as the true negative ELBO, whatever the weight.

Networks: for 28, 32 and 64-px images (``arch=auto``) a convolutional encoder
(stride-2 convolutions) and decoder (stride-2 transposed convolutions) shaped
like the DCGAN pair, without batch norm; MLPs for points, other sizes, or
``arch=mlp`` (the paper's, and pytorch/examples' 784-400-20 setting). Logged:
``loss`` (negative ELBO per example), ``recon`` and ``kl``. Optimiser:
Adam(1e-3) in place of the paper's Adagrad.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genbench import DataSpec, GenerativeModel, hookimpl, param
from genbench.nn import adam, conv_discriminator, conv_generator, conv_size_problem, evaluating, mlp


@dataclass
class VAEConfig:
    latent_dim: int = param(16, "size of the latent code z", min=1, max=65536)
    arch: str = param(
        "auto",
        "auto: convolutions for 28/32/64-px images, MLP for points "
        "and other sizes; mlp: MLPs always",
        choices=("auto", "mlp"),
    )
    width: int = param(
        32, "convolutional feature width (channels of the first encoder layer)", min=1, max=65536
    )
    hidden: int = param(400, "MLP units in each hidden layer", min=1, max=65536)
    layers: int = param(2, "MLP hidden layers in the encoder and the decoder", min=1, max=64)
    lr: float = param(1e-3, "Adam learning rate", min=0.0)
    kl_warmup: int = param(
        0,
        "steps over which the KL term's weight rises from 0 to 1 "
        "(0: the plain ELBO from the start)",
        min=0,
    )


class GaussianScale(nn.Module):
    """The learned per-dimension log standard deviation of p(x|z) for points."""

    def __init__(self, dim: int):
        super().__init__()
        self.log_sigma = nn.Parameter(torch.zeros(dim))


class VAE(GenerativeModel):
    name = "vae"
    normal_latent = True  # latent() draws N(0, I)
    title = "VAE (variational autoencoder)"
    summary = (
        "An encoder and decoder trained on the evidence lower bound; samples decode the prior."
    )
    paper = "Kingma & Welling 2014, Auto-Encoding Variational Bayes"
    kinds = frozenset({"points", "image"})
    Config = VAEConfig

    def __init__(self, config: VAEConfig, spec: DataSpec, device: torch.device):
        super().__init__(config, spec, device)
        c = config
        self.bernoulli = spec.kind == "image"
        self.conv = c.arch == "auto" and conv_size_problem(spec) is None
        if self.conv:
            self.encoder = conv_discriminator(
                spec.shape, c.width, n_out=2 * c.latent_dim, norm="none"
            )
            self.decoder = conv_generator(c.latent_dim, spec.shape, c.width, norm="none")
        else:
            self.encoder = mlp(spec.dim, c.hidden, c.layers, 2 * c.latent_dim)
            self.decoder = mlp(c.latent_dim, c.hidden, c.layers, spec.dim)
        self.encoder.to(device)
        self.decoder.to(device)
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        if not self.bernoulli:
            self.scale = GaussianScale(spec.dim).to(device)
            params += list(self.scale.parameters())
        # Fused into one kernel per step where torch has it: the same update.
        self.opt = adam(params, c.lr, (0.9, 0.999), device)
        self.steps = 0

    @classmethod
    def defaults_for(cls, spec):
        # On 2D points the plain ELBO falls into posterior collapse: the decoder
        # learns the data mean with a wide sigma, the KL goes to zero, and every
        # sample lands at the centre of ring8.
        # Warming the KL weight up from 0 (Bowman et al. 2016; Sonderby et al.
        # 2016) lets the code carry the angle around the ring before the prior
        # pulls on it.
        return {"kl_warmup": 1000} if spec.kind == "points" else {}

    def kl_weight(self) -> float:
        """beta of recon + beta * kl for this step: rises linearly over kl_warmup steps."""
        warmup = self.config.kl_warmup
        return 1.0 if warmup == 0 else min(1.0, self.steps / warmup)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mu and log sigma^2 of q(z|x)."""
        mu, logvar = self.encoder(x if self.conv else x.flatten(1)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (images) or Gaussian means (points), in the data's shape."""
        return self.decoder(z).view(len(z), *self.spec.shape)

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per example, summed over the data's dimensions."""
        if self.bernoulli:
            target = (x + 1) / 2
            per_dim = F.binary_cross_entropy_with_logits(out, target, reduction="none")
        else:
            log_sigma = self.scale.log_sigma.view(self.spec.shape)
            per_dim = (
                0.5 * ((x - out) * torch.exp(-log_sigma)).square()
                + log_sigma
                + 0.5 * math.log(2 * math.pi)
            )
        return per_dim.flatten(1).sum(1)

    def train_step(self, x, y=None):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation
        recon = self.nll(self.decode(z), x).mean()
        kl = 0.5 * (mu.square() + logvar.exp() - logvar - 1).sum(1).mean()
        loss = recon + kl  # the negative ELBO, logged as it is
        self.steps += 1
        objective = recon + self.kl_weight() * kl if self.config.kl_warmup else loss
        self.opt.zero_grad(set_to_none=True)
        objective.backward()
        self.opt.step()
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    def extra_state(self):
        return {"steps": self.steps}

    def load_extra_state(self, state):
        self.steps = state["steps"]

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None):
        return self.sample_from(self.latent(n, generator))

    def latent(self, n, generator=None):
        return torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)

    def sample_from(self, z, labels=None):
        with evaluating(self.decoder):
            out = self.decode(z)
        return torch.sigmoid(out) * 2 - 1 if self.bernoulli else out


@hookimpl
def genbench_models():
    return [VAE]
