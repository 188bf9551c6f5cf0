"""Conditional GAN: Mirza & Osindero, 2014, "Conditional Generative Adversarial Nets".

Both networks see the class label y: "In the generator the prior input noise
p_z(z), and y are combined in joint hidden representation ... In the
discriminator x and y are presented as inputs". The two-player game becomes

    min_G max_D  E_{x,y ~ data}[log D(x | y)] + E_{z ~ p_z, y ~ data}[log(1 - D(G(z | y) | y))]

and each step is Goodfellow et al.'s Algorithm 1 with k = 1 and the
non-saturating generator loss, the fakes conditioned on the batch's own labels
(so y follows the data's label distribution, as in the objective):

    z ~ N(0, I);  fake = G(z, y)
    update D by ascending  log D(x | y) + log(1 - D(fake | y))
    update G by ascending  log D(fake | y)

As in the paper, y enters as a one-hot vector; each network maps its two
inputs (z and y, or x and y) to separate hidden layers and joins them in a
shared trunk, and the discriminator uses dropout (0.5 in the paper). Joining
after a hidden layer, rather than concatenating y to the raw input, makes the
samples follow their labels sooner (docs/experiments.md).
Departures, as in the GAN plugin: LeakyReLU(0.2) instead of the paper's
ReLU/maxout units, Gaussian noise instead of uniform, and Adam(2e-4,
beta1 = 0.5) instead of SGD with a decaying rate and rising momentum.

The step is written for speed without changing what it computes: the
discriminator update passes the real and the fake batch through D together (D
has no batch statistics, so every logit is the one a separate pass gives);
dropout masks are drawn with ``torch.rand`` rather than ``bernoulli_`` on the CPU
(the same distribution, other draws for a given seed: genbench.nn.Dropout); Adam
is torch's fused kernel (the same update, genbench.nn.adam). docs/benchmarks.md
has the speed.

For images of 28, 32 or 64 px, ``arch=auto`` (the default) uses convolutional
networks instead, because the paper's MLP draws one blurred sample per label on
Fashion-MNIST (every sample of a class alike): the DCGAN generator
with the label embedded and joined to z, and a projection discriminator
(Miyato & Koyama 2018, "cGANs with Projection Discriminator"), which scores
D(x, y) = psi(phi(x)) + <embed(y), phi(x)> with phi the DCGAN discriminator's
features. The paper's MLP stays as ``arch=mlp`` and for points and other sizes.
docs/experiments.md compares the two.

Trains on labelled data: images (flattened) and 2D points labelled by mode.
``sample(n, labels)`` draws one sample per given label; with no labels, labels
are drawn uniformly (from the given generator, like the noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genbench import DataSpec, GenerativeModel, hookimpl, param
from genbench.nn import (
    Dropout,
    adam,
    conv_discriminator,
    conv_generator,
    conv_size_problem,
    dcgan_init,
    evaluating,
    frozen,
    mlp,
)


class Joint(nn.Module):
    """The paper's conditioning: each input is mapped to its own hidden layer, and
    the two are joined into one MLP trunk ("both z and y are mapped to hidden
    layers ... before both being mapped to [a] second, combined hidden layer";
    x and y likewise in the discriminator). ``layers`` counts hidden layers
    along either path, the branch's included."""

    def __init__(
        self, n_a: int, n_b: int, hidden: int, layers: int, n_out: int, dropout: float = 0.0
    ):
        super().__init__()

        def branch(n_in: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Linear(n_in, hidden),
                nn.LeakyReLU(0.2),
                *([Dropout(dropout)] if dropout > 0 else []),
            )

        self.a, self.b = branch(n_a), branch(n_b)
        self.trunk = mlp(2 * hidden, hidden, layers - 1, n_out, dropout=dropout)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.trunk(torch.cat([self.a(a), self.b(b)], 1))


class ConvGenerator(nn.Module):
    """DCGAN generator of [z, embed(y)]: the label enters as a learnt embedding
    joined to the noise, so every layer sees it."""

    def __init__(
        self, latent_dim: int, classes: int, embed: int, shape: tuple[int, ...], width: int
    ):
        super().__init__()
        self.embed = nn.Embedding(classes, embed)
        self.net = conv_generator(latent_dim + embed, shape, width)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, self.embed(y)], 1))


class ProjectionDiscriminator(nn.Module):
    """Miyato & Koyama 2018: D(x, y) = psi(phi(x)) + <embed(y), phi(x)>, phi the
    DCGAN discriminator's features (its last convolution giving ``features``
    numbers, then LeakyReLU), psi linear. The label asks "is x real *and* of
    class y" through an inner product rather than as an extra input channel."""

    def __init__(self, shape: tuple[int, ...], classes: int, width: int, features: int = 256):
        super().__init__()
        self.phi = conv_discriminator(shape, width, n_out=features)
        self.psi = nn.Linear(features, 1)
        self.embed = nn.Embedding(classes, features)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.phi(x), 0.2)
        return self.psi(h).squeeze(1) + (self.embed(y) * h).sum(1)


@dataclass
class CGANConfig:
    latent_dim: int = param(100, "size of the noise vector z", min=1, max=65536)
    arch: str = param(
        "auto",
        "auto: DCGAN generator and projection discriminator for "
        "28/32/64-px images, the paper's MLPs for points and other sizes; "
        "mlp: the paper's MLPs always",
        choices=("auto", "mlp"),
    )
    width: int = param(64, "convolutional feature width (ngf = ndf)", min=1, max=65536)
    embed: int = param(
        50, "size of the generator's label embedding (convolutional)", min=1, max=65536
    )
    hidden: int = param(512, "MLP units in each hidden layer", min=1, max=65536)
    layers: int = param(
        3, "MLP hidden layers in the generator and the discriminator", min=1, max=64
    )
    dropout: float = param(
        0.5, "dropout after each hidden layer of the MLP discriminator", min=0.0, max=0.95
    )
    lr: float = param(2e-4, "Adam learning rate of both networks", min=0.0)
    beta1: float = param(0.5, "Adam beta1", min=0.0, max=1.0)
    beta2: float = param(0.999, "Adam beta2", min=0.0, max=1.0)


class CGAN(GenerativeModel):
    name = "cgan"
    normal_latent = True  # latent() draws N(0, I)
    title = "Conditional GAN"
    summary = "A GAN whose generator and discriminator both see the class label."
    paper = "Mirza & Osindero 2014, Conditional Generative Adversarial Nets"
    kinds = frozenset({"points", "image"})
    conditional = True
    Config = CGANConfig

    def __init__(self, config: CGANConfig, spec: DataSpec, device: torch.device):
        super().__init__(config, spec, device)
        c = config
        self.classes = int(spec.num_classes or 0)
        self.conv = c.arch == "auto" and conv_size_problem(spec) is None
        if self.conv:
            self.G = dcgan_init(
                ConvGenerator(c.latent_dim, self.classes, c.embed, spec.shape, c.width)
            ).to(device)
            self.D = dcgan_init(ProjectionDiscriminator(spec.shape, self.classes, c.width)).to(
                device
            )
        else:
            self.G = Joint(c.latent_dim, self.classes, c.hidden, c.layers, spec.dim).to(device)
            self.D = Joint(spec.dim, self.classes, c.hidden, c.layers, 1, dropout=c.dropout).to(
                device
            )
        self.opt_g = adam(self.G.parameters(), c.lr, (c.beta1, c.beta2), device)
        self.opt_d = adam(self.D.parameters(), c.lr, (c.beta1, c.beta2), device)

    def condition(self, y: torch.Tensor) -> torch.Tensor:
        """The label as each network takes it: indices for the embeddings of the
        convolutional pair, one-hot for the paper's MLPs."""
        return y.long() if self.conv else F.one_hot(y.long(), self.classes).float()

    def generate(self, z: torch.Tensor, y1: torch.Tensor) -> torch.Tensor:
        out = self.G(z, y1).view(len(z), *self.spec.shape)
        return torch.tanh(out) if self.spec.kind == "image" else out

    def discriminate(self, x: torch.Tensor, y1: torch.Tensor) -> torch.Tensor:
        if self.conv:
            return self.D(x, y1)
        return self.D(x.flatten(1), y1).squeeze(1)  # logits

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)

    def train_step(self, x, y=None):
        if y is None:
            raise ValueError("cgan needs labels: train it on a labelled dataset")
        y1 = self.condition(y)
        fake = self.generate(self.noise(len(x)), y1)

        # D: minimise -log D(x|y) - log(1 - D(G(z|y)|y)), with D = sigmoid(logits).
        if self.conv:
            # Separate passes: the convolutional D has batch norm, whose statistics
            # must not mix real and fake (as in dcgan).
            d_loss = (
                F.softplus(-self.discriminate(x, y1)).mean()
                + F.softplus(self.discriminate(fake.detach(), y1)).mean()
            )
        else:
            # The MLP has no batch statistics: real and fake go through D in one pass,
            # each logit what two passes would give (up to which dropout mask it
            # draws), from half as many, larger matrix products.
            n = len(x)
            logits = self.discriminate(
                torch.cat([x, fake.detach().to(x.dtype)]), torch.cat([y1, y1])
            )
            d_loss = F.softplus(-logits[:n]).mean() + F.softplus(logits[n:]).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        # G: non-saturating, minimise -log D(G(z|y)|y).
        with frozen(self.D):
            g_loss = F.softplus(-self.discriminate(fake, y1)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        return {"d": d_loss.detach(), "g": g_loss.detach()}

    def discriminator_scores(self, x, labels=None):
        return self.discriminate(x, self.condition(labels))  # logits of D(x | y)

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None):
        if labels is None:
            labels = torch.randint(self.classes, (n,), device=self.device, generator=generator)
        elif len(labels) != n:
            raise ValueError(f"sample() got {len(labels)} labels for {n} samples")
        return self.sample_from(self.noise(n, generator), labels)

    def latent(self, n, generator=None):
        return self.noise(n, generator)

    def sample_from(self, z, labels=None):
        if labels is None or len(labels) != len(z):
            raise ValueError("cgan's sample_from() needs one label per noise vector")
        with evaluating(self.G):
            return self.generate(z, self.condition(labels.to(self.device)))


@hookimpl
def genbench_models():
    return [CGAN]
