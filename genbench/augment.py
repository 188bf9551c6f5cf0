"""Data augmentation on the device: for real batches, and DiffAugment for GANs.

Two different tools:

- :func:`augment` perturbs *real* images before a model sees them (flips, crops
  as translations and scaling, small rotations): more diversity from a small
  dataset. One affine warp per image, drawn from torch's global generator, which
  the trainer seeds from the run's seed and saves in every checkpoint, so a
  resumed run draws exactly the warps the uninterrupted one would have.

- :func:`diff_augment` is DiffAugment (Zhao et al. 2020, "Differentiable
  Augmentation for Data-Efficient GAN Training"): the same random, differentiable
  transformations applied to real *and* generated images every time they go
  through the discriminator, in both players' updates, so D cannot overfit a
  small dataset and G still gets gradients through the augmentation. Policies as
  in the paper's code: ``color`` (brightness, saturation, contrast), ``translation``
  (shift by up to 1/8 of the side, zero fill) and ``cutout`` (a zeroed square of
  half the side).

Images are (N, C, H, W) in [-1, 1]; values stay in that range except where a
transformation's own definition leaves it (DiffAugment's colour jitter can, as in
the paper).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F

from genbench.options import AUGMENTS

DIFF_POLICIES = ("color", "translation", "cutout")
# What a model's ``diffaugment`` option offers: the paper's full policy for
# unconditional models, translation and cutout alone (no colour shift, which
# changes what a class looks like), or off.
DIFF_AUGMENT_CHOICES = ("off", "color,translation,cutout", "translation,cutout", "translation")


def parse_policy(text: str, allowed: Iterable[str], what: str) -> tuple[str, ...]:
    """'a,b' -> ('a', 'b'), every name checked; ValueError names the valid ones."""
    allowed = tuple(allowed)
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise ValueError(
            f"{what} {text!r}: expected a comma-separated list of {', '.join(allowed)}"
        )
    return names


# -- real-image augmentation ----------------------------------------------------


def augment(
    x: torch.Tensor,
    ops: Iterable[str] = AUGMENTS,
    *,
    translate: float = 0.125,
    scale: float = 0.1,
    degrees: float = 10.0,
) -> torch.Tensor:
    """A random flip/shift/zoom/rotation of each image, as one affine warp a batch.

    ``translate``: the largest shift as a fraction of the side (a crop of the image
    padded by that much); ``scale``: zoom in or out by up to that fraction;
    ``degrees``: the largest rotation. Borders are filled by reflection, so no
    black frames appear that the generator would learn to draw.
    """
    ops = tuple(ops)
    n = len(x)
    dev, dtype = x.device, torch.float32
    theta = torch.zeros(n, 2, 3, device=dev, dtype=dtype)
    angle = torch.zeros(n, device=dev, dtype=dtype)
    zoom = torch.ones(n, device=dev, dtype=dtype)
    flip = torch.ones(n, device=dev, dtype=dtype)
    shift = torch.zeros(n, 2, device=dev, dtype=dtype)
    # Every random draw is made whether or not its op is on, so turning one op on
    # or off does not change the others' draws for the same seed.
    u = torch.rand(n, 5, device=dev, dtype=dtype)
    if "flip" in ops:
        flip = torch.where(u[:, 0] < 0.5, -1.0, 1.0)
    if "rotate" in ops:
        angle = (2 * u[:, 1] - 1) * math.radians(degrees)
    if "scale" in ops:
        zoom = 1 + (2 * u[:, 2] - 1) * scale
    if "translate" in ops:
        shift = (2 * u[:, 3:5] - 1) * 2 * translate  # grid units: the side is 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta[:, 0, 0] = cos * flip
    theta[:, 0, 1] = -sin
    theta[:, 1, 0] = sin * flip
    theta[:, 1, 1] = cos
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(
        x.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    return out.to(x.dtype)


# -- DiffAugment ----------------------------------------------------------------


def _color(x: torch.Tensor) -> torch.Tensor:
    n = len(x)
    shape = (n, 1, 1, 1)
    # The paper's code works on [-1, 1] images as here.
    x = x + (torch.rand(shape, device=x.device, dtype=x.dtype) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(shape, device=x.device, dtype=x.dtype) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (torch.rand(shape, device=x.device, dtype=x.dtype) + 0.5) + mean  # contrast
    return x


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    # Shift by gathering from a zero-padded copy: pixel (i, j) comes from (i+dy, j+dx).
    src_r = (rows + dy).clamp(-1, h) + 1
    src_c = (cols + dx).clamp(-1, w) + 1
    padded = F.pad(x, (1, 1, 1, 1))
    idx = (src_r * (w + 2) + src_c).view(n, 1, h * w).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).view_as(x)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = cy - ch // 2, cx - cw // 2  # the square may hang over an edge
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_DIFF_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: str | Iterable[str] = DIFF_POLICIES) -> torch.Tensor:
    """DiffAugment: apply the policy's transformations, differentiably, to a batch
    about to go through the discriminator (real or generated alike). ``policy``:
    names, or one of DIFF_AUGMENT_CHOICES as a string ("off": ``x`` unchanged)."""
    if isinstance(policy, str):
        if policy == "off":
            return x
        policy = parse_policy(policy, DIFF_POLICIES, "DiffAugment policy")
    for name in policy:
        x = _DIFF_OPS[name](x)
    return x
