"""DCGAN: Radford, Metz & Chintala, 2016, "Unsupervised Representation Learning
with Deep Convolutional Generative Adversarial Networks" (ICLR).

The paper's architecture guidelines for stable deep convolutional GANs:

    - replace pooling with strided convolutions (discriminator) and
      fractional-strided convolutions (generator);
    - use batch norm in both the generator and the discriminator
      (not on the generator's output nor the discriminator's input);
    - remove fully connected hidden layers;
    - ReLU in the generator for all layers except the output, which uses tanh;
    - LeakyReLU (slope 0.2) in the discriminator for all layers.

Training details from the paper: weights from N(0, 0.02), Adam with learning
rate 2e-4 and beta1 = 0.5, z of 100 dimensions. Each step is Goodfellow et
al.'s Algorithm 1 with k = 1 and the non-saturating generator loss:

    z ~ N(0, I);  fake = G(z)
    update D by ascending  log D(x) + log(1 - D(fake))
    update G by ascending  log D(fake)          (against the D just updated)

As in pytorch/examples' dcgan, one batch of fakes serves both updates, which
saves a generator forward pass per step. The paper used batches of 128; the
workbench's batch size is the trainer's (``--batch-size``).

Images of 28 px (7 -> 14 -> 28), 32 px (4 -> 8 -> 16 -> 32) and 64 px
(4 -> ... -> 64, the paper's network) with any number of channels.

One departure from the paper: the discriminator sees the minibatch standard
deviation (Karras et al. 2018, ``genbench.nn.MinibatchStd``) before its last
layer (``mbstd=4``), so a generator that draws few kinds of image is told apart
from the data (docs/experiments.md). ``--set mbstd=0`` is the paper's network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genbench import DataSpec, GenerativeModel, hookimpl, param
from genbench.augment import DIFF_AUGMENT_CHOICES, diff_augment
from genbench.nn import (
    adam,
    conv_discriminator,
    conv_generator,
    conv_size_problem,
    dcgan_init,
    evaluating,
    frozen,
)


@dataclass
class DCGANConfig:
    latent_dim: int = param(100, "size of the noise vector z", min=1, max=65536)
    ngf: int = param(
        64, "generator feature width (channels of its last hidden layer)", min=1, max=65536
    )
    ndf: int = param(
        64, "discriminator feature width (channels of its first layer)", min=1, max=65536
    )
    lr: float = param(2e-4, "Adam learning rate of both networks", min=0.0)
    beta1: float = param(0.5, "Adam beta1", min=0.0, max=1.0)
    beta2: float = param(0.999, "Adam beta2", min=0.0, max=1.0)
    diffaugment: str = param(
        "off",
        "DiffAugment (Zhao et al. 2020) policy applied to real "
        "and generated images before D, in both updates",
        choices=DIFF_AUGMENT_CHOICES,
    )
    # Runs saved before this setting existed had the paper's discriminator.
    mbstd: int = param(
        4,
        "minibatch standard deviation in the discriminator: the group "
        "size, 0 for none (the paper's network; Karras et al. 2018)",
        min=0,
        max=1024,
        old_runs=0,
    )


class DCGAN(GenerativeModel):
    name = "dcgan"
    normal_latent = True  # latent() draws N(0, I)
    title = "DCGAN (convolutional, batch norm)"
    summary = "Strided-convolution discriminator and transposed-convolution generator."
    paper = "Radford, Metz & Chintala 2016, Unsupervised Representation Learning with DCGANs"
    kinds = frozenset({"image"})
    Config = DCGANConfig

    @classmethod
    def unsupported_reason(cls, spec: DataSpec) -> str | None:
        if reason := super().unsupported_reason(spec):
            return reason
        if problem := conv_size_problem(spec):
            return f"model 'dcgan': {problem}"
        return None

    def __init__(self, config: DCGANConfig, spec: DataSpec, device: torch.device):
        super().__init__(config, spec, device)
        c = config
        # Channels-last: the convolutions' preferred layout on CPU (oneDNN) and for
        # tensor cores (docs/benchmarks.md). The batch is made so in D.
        self.G = (
            dcgan_init(conv_generator(c.latent_dim, spec.shape, c.ngf))
            .to(device)
            .to(memory_format=torch.channels_last)
        )
        self.D = (
            dcgan_init(conv_discriminator(spec.shape, c.ndf, mbstd=c.mbstd))
            .to(device)
            .to(memory_format=torch.channels_last)
        )
        # Fused Adam where torch has the kernel: the paper's update in one pass.
        self.opt_g = adam(self.G.parameters(), c.lr, (c.beta1, c.beta2), device)
        self.opt_d = adam(self.D.parameters(), c.lr, (c.beta1, c.beta2), device)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """D's logits; with DiffAugment, of a freshly augmented copy every call, as
        the paper augments real and fake images in both players' updates."""
        x = diff_augment(x, self.config.diffaugment)
        return self.D(x.contiguous(memory_format=torch.channels_last))

    def discriminate_plain(self, x: torch.Tensor) -> torch.Tensor:
        """D's logits of ``x`` as it is (no DiffAugment): for d_accuracy."""
        return self.D(x.contiguous(memory_format=torch.channels_last))

    def train_step(self, x, y=None):
        fake = torch.tanh(self.G(self.noise(len(x))))

        # D: minimise -log D(x) - log(1 - D(G(z))), with D = sigmoid(logits).
        # Real and fake go through D as separate batches, so batch norm never
        # mixes their statistics (as in the paper's code and pytorch/examples).
        d_loss = (
            F.softplus(-self.discriminate(x)).mean()
            + F.softplus(self.discriminate(fake.detach())).mean()
        )
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        # G: non-saturating, minimise -log D(G(z)); D's weights are not updated here.
        with frozen(self.D):
            g_loss = F.softplus(-self.discriminate(fake)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        return {"d": d_loss.detach(), "g": g_loss.detach()}

    def discriminator_scores(self, x, labels=None):
        return self.discriminate_plain(x).reshape(-1)  # logits: above 0 is "real"

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None):
        return self.sample_from(self.noise(n, generator))

    def latent(self, n, generator=None):
        return self.noise(n, generator)

    def sample_from(self, z, labels=None):
        # Eval mode: batch norm uses its running statistics, so a sample does not
        # depend on the rest of its batch and drawing previews changes no state.
        with evaluating(self.G):
            return torch.tanh(self.G(z)).contiguous()


@hookimpl
def genbench_models():
    return [DCGAN]
