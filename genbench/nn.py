"""Building blocks a plugin may use: networks, initialisation and mode helpers.

This module is part of the plugin API, next to what ``genbench`` itself exports::

    from genbench import DataSpec, GenerativeModel, hookimpl, param
    from genbench.nn import mlp, conv_generator, conv_discriminator, dcgan_init

It imports torch, so the workbench never imports it (``genbench --help`` and the
TUI's first paint must not wait for torch); only model plugins do.

docs/nn.md is generated from this module's signatures and docstrings
(``python -m genbench.nn > docs/nn.md``), and a test fails when it is stale,
so what a docstring here says is the documentation.

The convolutional pair follows Radford et al. 2016 (DCGAN): the generator
projects z to a small feature map and doubles its side with stride-2 transposed
convolutions (or, with ``upsample="resize"``, a nearest-neighbour resize and a 3x3
convolution, Odena et al. 2016) while halving the channels; the discriminator
mirrors it with stride-2 convolutions. The starting side depends on the image size:

    28 px:  7 -> 14 -> 28            (MNIST family)
    32 px:  4 -> 8 -> 16 -> 32       (CIFAR-10)
    64 px:  4 -> 8 -> 16 -> 32 -> 64 (the paper's LSUN/CelebA setting)
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import torch
from torch import nn

from genbench.api import DataSpec

__all__ = [
    "ACTIVATIONS",
    "CONV_SIZES",
    "NORMS",
    "UPSAMPLES",
    "LR_DECAYS",
    "conv_size_problem",
    "conv_generator",
    "conv_discriminator",
    "MinibatchStd",
    "mlp",
    "spectral_norm",
    "Dropout",
    "adam",
    "LrSchedule",
    "r1_penalty",
    "dcgan_init",
    "evaluating",
    "frozen",
]

M = TypeVar("M", bound=nn.Module)

# image side -> side of the first (generator) / last (discriminator) feature map
CONV_SIZES: dict[int, int] = {28: 7, 32: 4, 64: 4}

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
}
ACTIVATIONS: tuple[str, ...] = tuple(_ACTIVATIONS)
NORMS: tuple[str, ...] = ("batch", "layer", "none")
UPSAMPLES: tuple[str, ...] = ("transposed", "resize")
LR_DECAYS: tuple[str, ...] = ("none", "linear")

# What the constants are, for docs/nn.md (a constant has no docstring of its own).
_CONSTANTS = {
    "ACTIVATIONS": "The names the builders' ``act`` takes: ``relu``, and ``leaky_relu`` "
    "(LeakyReLU with slope 0.2, as in DCGAN's discriminator).",
    "CONV_SIZES": "Image side -> side of the generator's first (and the discriminator's "
    "last) feature map: the image sizes the convolutional builders take.",
    "NORMS": "The names the convolutional builders' ``norm`` takes: ``batch`` "
    "(BatchNorm2d), ``layer`` (over (C, H, W) of each example: GroupNorm with one "
    "group, Gulrajani et al.'s drop-in for batch norm in a WGAN-GP critic), "
    "``none``.",
    "UPSAMPLES": "The names conv_generator's ``upsample`` takes: ``transposed`` (DCGAN's "
    "fractional-strided 4x4 convolutions) and ``resize`` (nearest-neighbour "
    "resize, then a 3x3 convolution: no checkerboard pattern).",
    "LR_DECAYS": "The names LrSchedule takes: ``none`` (a constant learning rate) and "
    "``linear`` (from the configured rate down to 0 at the run's last step).",
}


def _activation(name: str) -> nn.Module:
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(_ACTIVATIONS)}") from None


class Dropout(nn.Dropout):
    """nn.Dropout with the same distribution (each unit kept with probability 1 - p
    and scaled by 1 / (1 - p)), its mask drawn with ``torch.rand`` on the CPU.

    torch's CPU dropout draws its mask with ``bernoulli_``, several times slower
    than ``rand`` and a compare, and the cGAN draws twelve such masks a step. On other
    devices torch's own fused dropout is used. The random stream differs from
    nn.Dropout's, so a given seed gives other masks; nothing else changes.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu":
            return super().forward(x)
        if self.p >= 1:
            return x * 0
        keep = torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * keep


def adam(
    params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
    lr: float,
    betas: tuple[float, float],
    device: torch.device,
    **kwargs: Any,
) -> torch.optim.Adam:
    """torch.optim.Adam, fused into one kernel per step where torch has that kernel
    (CPU and CUDA): the same update rule, computed in one pass over each parameter
    instead of a dozen, several times faster for small networks such as the cGAN's
    discriminator (docs/benchmarks.md). Elsewhere (e.g. MPS) the default implementation."""
    fused = torch.device(device).type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused or None, **kwargs)


class LrSchedule:
    """The learning rate of a model's optimisers over its run: ``decay="none"`` keeps
    ``lr``; ``"linear"`` lowers it linearly from ``lr`` at the first step to 0 at the
    run's last, the decay of pix2pix and CycleGAN's last epochs. A GAN's samples
    sharpen as the rate falls (on ring8 most samples end within 3 sigma of a mode,
    where a constant rate leaves most outside: docs/experiments.md), which is why it
    needs the run's length rather than a fixed number of steps.

    The rate of a step depends only on that step and the run's planned last step, so
    a run resumed to the same end continues exactly and the schedule needs nothing in
    the checkpoint. A resume that moves the end (more ``--steps``) follows the line of
    a run planned to the new end from the start: the rate rises to where that line
    stands and falls to 0 at the new end, a warm restart (Loshchilov & Hutter 2017),
    so a finished run given more steps trains on and ends as sharp. A resume with
    another ``lr`` (``--set lr=...``) follows that lr's line.

    Give the model a ``plan_steps(done, total)`` that calls :meth:`plan` (the trainer
    calls it before training and on every resume), and call :meth:`step` at the start
    of each ``train_step``. Until ``plan`` is called (``genbench bench``, a direct
    caller) the rate stays ``lr``.
    """

    def __init__(self, decay: str, lr: float, *optimisers: torch.optim.Optimizer):
        if decay not in LR_DECAYS:
            raise ValueError(f"lr decay {decay!r}: choose one of {', '.join(LR_DECAYS)}")
        self.decay, self.lr, self.optimisers = decay, lr, optimisers
        self.done, self.total = 0, 0  # steps taken, steps planned (0: no plan)

    def plan(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def rate(self) -> float:
        """The learning rate of the next update."""
        if self.decay == "none" or self.total <= 0:
            return self.lr
        return self.lr * max(0.0, (self.total - self.done) / self.total)

    def step(self) -> None:
        """Set the optimisers' rate for this step's updates, and count the step."""
        lr = self.rate()
        for opt in self.optimisers:
            for group in opt.param_groups:
                group["lr"] = lr
        self.done += 1


def r1_penalty(real_scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do
    actually Converge?"): the mean over real examples of ||grad_x D(x)||^2. Add
    ``gamma / 2 * r1_penalty(...)`` to D's loss; D is then kept flat on the data, where
    an unregularised D keeps G circling the data instead of settling on it. ``real``
    must have been made to require grad before D scored it::

        real = x.detach().requires_grad_(True)
        scores = D(real)
        d_loss = loss(scores, ...) + gamma / 2 * r1_penalty(scores, real)

    The gradient is taken with ``create_graph=True``, so D's update follows it.
    """
    (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def spectral_norm(module: M) -> M:
    """Spectral normalisation (Miyato et al. 2018) of every Linear, Conv2d and
    ConvTranspose2d layer in ``module``: each weight is divided by an estimate of
    its largest singular value, kept by one power iteration per forward pass in
    training mode, so each layer is about 1-Lipschitz. Uses torch's
    ``torch.nn.utils.parametrizations.spectral_norm``: the weight's state is saved
    as ``parametrizations.weight.original`` with the iteration's vectors ``_u`` and
    ``_v``, all plain tensors, so checkpoints load with ``weights_only=True`` and
    resume exactly. Since every forward pass in training mode updates ``_u`` and
    ``_v``, draw samples under ``evaluating(...)``, or previews would change the
    network. Returns the module (the same object) for chaining.
    """
    from torch.nn.utils.parametrizations import spectral_norm as _sn

    for m in list(module.modules()):
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            _sn(m)
    return module


def mlp(
    n_in: int,
    hidden: int,
    layers: int,
    n_out: int,
    *,
    act: str = "leaky_relu",
    dropout: float = 0.0,
    sn: bool = False,
) -> nn.Sequential:
    """n_in -> (Linear, activation[, Dropout]) x layers -> Linear -> n_out.

    ``act`` is one of ACTIVATIONS (default LeakyReLU(0.2)); ``dropout``, when
    set, follows each hidden activation (Mirza & Osindero 2014 use it in both
    networks); ``sn=True`` spectral-normalises every Linear layer, the last one
    included (see spectral_norm), as SN-GAN does to its discriminator.
    """
    blocks: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), _activation(act)]
        if dropout > 0:
            blocks.append(Dropout(dropout))
        width = hidden
    blocks.append(nn.Linear(width, n_out))
    net = nn.Sequential(*blocks)
    return spectral_norm(net) if sn else net


def conv_size_problem(spec: DataSpec) -> str | None:
    """Why the convolutional stacks cannot handle ``spec``, or None if they can."""
    valid = ", ".join(f"{s}x{s}" for s in CONV_SIZES)
    if spec.kind != "image" or len(spec.shape) != 3:
        return f"the convolutional networks need images (C, H, W) of {valid} pixels"
    _, h, w = spec.shape
    if h != w or h not in CONV_SIZES:
        return (
            f"the convolutional networks generate square images of {valid} pixels, "
            f"not {h}x{w}; resize the data (e.g. --image-size 32) or use an MLP model"
        )
    return None


def _plan(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(channels, start side, number of stride-2 layers) for an image shape."""
    channels, side, _ = shape
    start = CONV_SIZES[side]
    n, s = 0, start
    while s < side:
        s, n = s * 2, n + 1
    return channels, start, n


def _norm2d(kind: str, channels: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "layer":  # over (C, H, W) of each example: Gulrajani et al.'s drop-in for BN
        return [nn.GroupNorm(1, channels)]
    if kind == "none":
        return []
    raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(NORMS)}")


def _up2(kind: str, c_in: int, c_out: int, bias: bool) -> list[nn.Module]:
    """One layer that doubles the side: the paper's fractional-strided convolution,
    or (Odena, Dumoulin & Olah 2016) a nearest-neighbour resize and a 3x3 convolution,
    whose kernels overlap evenly, so it makes no checkerboard pattern to unlearn."""
    if kind == "transposed":
        return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)]
    if kind == "resize":
        return [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias),
        ]
    raise ValueError(f"unknown upsample {kind!r}; valid: {', '.join(UPSAMPLES)}")


def conv_generator(
    n_in: int,
    shape: tuple[int, ...],
    width: int = 64,
    *,
    norm: str = "batch",
    act: str = "relu",
    sn: bool = False,
    upsample: str = "transposed",
) -> nn.Sequential:
    """DCGAN generator: (N, n_in) -> (N, C, H, W), before any output activation.

    z is treated as a 1x1 map; the first transposed convolution projects it to the
    start side with ``width * 2**(n-1)`` channels; each further layer doubles the
    side and halves the channels down to ``width``; the last maps to C channels.
    Normalisation (one of NORMS) and activation (one of ACTIVATIONS) follow every
    layer but the last, as in the paper. Convolutions before a batch norm have no
    bias (the norm's shift replaces it). ``sn=True`` spectral-normalises every
    convolution (see spectral_norm), as some GANs do to the generator too.
    ``upsample`` (one of UPSAMPLES) is how each layer after the first doubles the
    side: the paper's transposed convolutions, or resize-then-convolve.
    """
    channels, start, n = _plan(tuple(shape))
    bias = norm != "batch"
    c = width * 2 ** (n - 1)
    layers: list[nn.Module] = [
        nn.Unflatten(1, (n_in, 1, 1)),
        nn.ConvTranspose2d(n_in, c, start, 1, 0, bias=bias),
        *_norm2d(norm, c),
        _activation(act),
    ]
    for _ in range(n - 1):
        layers += [*_up2(upsample, c, c // 2, bias), *_norm2d(norm, c // 2), _activation(act)]
        c //= 2
    layers += _up2(upsample, c, channels, True)
    net = nn.Sequential(*layers)
    return spectral_norm(net) if sn else net


class MinibatchStd(nn.Module):
    """Karras et al. 2018 (Progressive GANs), "minibatch standard deviation": the
    batch is split into groups of ``group`` examples; within each group the standard
    deviation of every feature at every position is averaged to one number, which is
    appended to each of the group's examples as a constant extra channel.
    (N, C, H, W) -> (N, C + 1, H, W).

    A discriminator so equipped sees how varied a batch is, not only how real each
    example looks, so a generator that draws few kinds of sample is told apart from
    the data and pushed to spread out. Examples n, n + N/g, n + 2N/g, ... form a
    group (as in StyleGAN2's code). When N is not a multiple of ``group`` the group
    is the largest common divisor of the two, down to 1 (whose deviation is 0).
    Score real and generated examples in separate batches (the built-in models
    do): in one mixed batch a group could hold both, and its spread would give
    them away.
    """

    def __init__(self, group: int = 4):
        super().__init__()
        if group < 1:
            raise ValueError(f"group must be at least 1, not {group}")
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = math.gcd(n, self.group)
        y = x.float().reshape(g, n // g, c, h, w)
        # (y - mean)^2 by hand: torch.var over the first dim of a channels-last batch
        # took a third of the discriminator's step on the CPU.
        var = (y - y.mean(0)).square().mean(0)
        std = (var + 1e-8).sqrt()  # (N/g, C, H, W)
        s = std.mean((1, 2, 3)).to(x.dtype)  # one number per group
        s = s.view(1, n // g, 1, 1, 1).expand(g, n // g, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([x, s], 1)

    def extra_repr(self) -> str:
        return f"group={self.group}"


def conv_discriminator(
    shape: tuple[int, ...],
    width: int = 64,
    n_out: int = 1,
    *,
    norm: str = "batch",
    act: str = "leaky_relu",
    sn: bool = False,
    mbstd: int = 0,
) -> nn.Sequential:
    """DCGAN discriminator: (N, C, H, W) -> (N, n_out), no output activation.

    Stride-2 convolutions halve the side and double the channels from ``width``;
    the first layer has no normalisation (the paper: applying batch norm to the
    discriminator's input layer made training unstable); a last convolution
    whose kernel covers the remaining map gives ``n_out`` numbers per example.
    ``norm`` is one of NORMS, ``act`` one of ACTIVATIONS. ``sn=True``
    spectral-normalises every convolution, the last included (see spectral_norm);
    SN-GAN uses it with ``norm="none"``. ``mbstd`` > 0 inserts a MinibatchStd with
    groups of that size before the last convolution (0: none, DCGAN's network).
    """
    channels, start, n = _plan(tuple(shape))
    bias = norm != "batch"
    c = width
    layers: list[nn.Module] = [nn.Conv2d(channels, c, 4, 2, 1, bias=True), _activation(act)]
    for _ in range(n - 1):
        layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=bias), *_norm2d(norm, c * 2), _activation(act)]
        c *= 2
    if mbstd:
        layers.append(MinibatchStd(mbstd))
    layers += [nn.Conv2d(c + (1 if mbstd else 0), n_out, start, 1, 0, bias=True), nn.Flatten()]
    net = nn.Sequential(*layers)
    return spectral_norm(net) if sn else net


@torch.no_grad()
def _init_dcgan_layer(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def dcgan_init(module: nn.Module) -> nn.Module:
    """Radford et al. 2016: "All weights were initialized from a zero-centered
    Normal distribution with standard deviation 0.02"; norm scales N(1, 0.02),
    shifts and biases zero. Returns the module for chaining."""
    module.apply(_init_dcgan_layer)
    return module


@contextlib.contextmanager
def evaluating(*modules: nn.Module) -> Iterator[None]:
    """Put modules in eval mode (batch norm uses its running statistics and
    does not update them, dropout is off), then restore each one's own mode.

    Use it in ``sample()`` so drawing previews neither changes training state
    nor depends on what else is in the batch.
    """
    was = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, was, strict=True):
            m.train(mode)


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Stop gradients into ``module``'s parameters (gradients still flow through
    it to its inputs), e.g. the discriminator while the generator is updated, so
    no work is spent on gradients that would be thrown away."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


# -- the reference page ------------------------------------------------------------------


def _signature(obj: Callable[..., Any]) -> str:
    """``name(params)`` as written in the source: annotations are the source's
    strings (this module defers them), not their evaluated, fully qualified types."""
    parts, star_done = [], False
    params = list(inspect.signature(obj).parameters.values())
    for i, p in enumerate(params):
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if p.kind is p.VAR_POSITIONAL:
            star_done = True
        stars = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        text = stars + p.name
        if p.annotation is not p.empty:
            text += f": {p.annotation}"
        if p.default is not p.empty:
            text += f" = {p.default!r}" if p.annotation is not p.empty else f"={p.default!r}"
        parts.append(text)
        if p.kind is p.POSITIONAL_ONLY and (
            i + 1 == len(params) or params[i + 1].kind is not p.POSITIONAL_ONLY
        ):
            parts.append("/")
    ret = inspect.signature(obj).return_annotation
    arrow = f" -> {ret}" if ret is not inspect.Signature.empty else ""
    return f"{obj.__name__}({', '.join(parts)}){arrow}"


def reference() -> str:
    """docs/nn.md: every public name of this module with its signature and
    docstring, in ``__all__``'s order."""
    out = [
        "# `genbench.nn` reference",
        "",
        "<!-- Generated from genbench/nn.py by `python -m genbench.nn > docs/nn.md`; "
        "edit the docstrings, not this file. -->",
        "",
        inspect.cleandoc(__doc__ or ""),
        "",
    ]
    for name in __all__:
        obj = globals()[name]
        out.append(f"## `{name}`")
        out.append("")
        if inspect.isclass(obj):
            base = ", ".join(f"{b.__module__}.{b.__qualname__}" for b in obj.__bases__)
            code = f"class {name}({base})"
        elif inspect.isgeneratorfunction(getattr(obj, "__wrapped__", None)):
            code = f"with {_signature(obj).split(' -> ')[0]}:      # a context manager"
        elif callable(obj):
            code = _signature(obj)
        else:
            code = f"{name} = {obj!r}"
        out += ["```python", code, "```", ""]
        doc = inspect.getdoc(obj) if callable(obj) else _CONSTANTS[name]
        out += [doc or "", ""]
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":
    print(reference(), end="")
