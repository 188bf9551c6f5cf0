"""Latent walks: slerp between noise vectors, and the frames laid out as one grid PNG
or played as an animated GIF.

A walk through K keys with M frames between each two has (K - 1) * (M + 1) + 1
frames; frame i * (M + 1) is key i itself (not a slerp that lands near it), so a
walk's key frames are exactly the samples of its keys.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

# Walk images are scaled up (nearest neighbour, a whole factor) to at least this many
# pixels a side, so a 28x28 walk can be seen.
MIN_SIDE = 64
GUTTER = 2  # pixels between images in a grid, after scaling
GUTTER_VALUE = 96  # a mid grey: visible against black and white backgrounds
# Below this angle between two keys, slerp's sine is too small to divide by: lerp.
PARALLEL = 1e-6


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between the rows of ``a`` and ``b`` (any shape, one
    vector per row), ``t`` in [0, 1]: the path Gaussian noise keeps its norm on."""
    import torch

    if t == 0:
        return a.clone()
    if t == 1:
        return b.clone()
    fa, fb = a.reshape(len(a), -1).double(), b.reshape(len(b), -1).double()
    cos = (fa * fb).sum(1) / (fa.norm(dim=1) * fb.norm(dim=1)).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1, 1))
    sin = torch.sin(omega)
    near = sin.abs() < PARALLEL
    safe = torch.where(near, torch.ones_like(sin), sin)
    wa = torch.where(near, 1 - t, torch.sin((1 - t) * omega) / safe)[:, None]
    wb = torch.where(near, torch.full_like(sin, t), torch.sin(t * omega) / safe)[:, None]
    return (wa * fa + wb * fb).to(a.dtype).reshape(a.shape)


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """The straight line: for noise that is not standard normal (a uniform latent)."""
    return a + (b - a) * t


def walk_path(keys: torch.Tensor, between: int, spherical: bool = True) -> torch.Tensor:
    """The frames' noise of a walk through ``keys`` (K rows), ``between`` frames
    between each two, slerped (or, not ``spherical``, on straight lines):
    ((K - 1) * (between + 1) + 1, ...)."""
    import torch

    if between < 0:
        raise ValueError(f"frames between keys must be 0 or more, got {between}")
    step = slerp if spherical else lerp
    frames = [keys[:1]]
    for i in range(len(keys) - 1):
        a, b = keys[i : i + 1], keys[i + 1 : i + 2]
        frames += [step(a, b, j / (between + 1)) for j in range(1, between + 1)]
        frames.append(b)
    return torch.cat(frames)


def key_frames(keys: int, between: int) -> list[int]:
    """The indices of the key frames in a walk's frames."""
    return [i * (between + 1) for i in range(keys)]


def scale_for(height: int, width: int, at_least: int = MIN_SIDE) -> int:
    """The whole factor that brings an image's shorter side to ``at_least`` pixels."""
    return max(1, math.ceil(at_least / max(1, min(height, width))))


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, C) uint8, each pixel a factor x factor block (nearest neighbour)."""
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def walk_rows(frames: np.ndarray, keys: int, between: int) -> np.ndarray:
    """A walk's frames (R, F, H, W, C) as the grid's rows (rows, columns, H, W, C).
    One walk (R = 1): a row per pair of keys, from key i to key i + 1 (a row ends on
    the key the next begins with). Several (a row per class): each row the whole walk."""
    if len(frames) > 1:
        return frames
    step = between + 1
    return np.stack([frames[0, i * step : i * step + step + 1] for i in range(keys - 1)])


def _mosaic(cells: np.ndarray, factor: int) -> Image.Image:
    """(rows, columns, H, W, C) uint8 -> one image, cells scaled up, grey gutters."""
    rows, cols, h, w, c = cells.shape
    sh, sw = h * factor, w * factor
    out = np.full(
        (rows * sh + (rows + 1) * GUTTER, cols * sw + (cols + 1) * GUTTER, c),
        GUTTER_VALUE,
        dtype=np.uint8,
    )
    for r in range(rows):
        for k in range(cols):
            y, x = GUTTER + r * (sh + GUTTER), GUTTER + k * (sw + GUTTER)
            out[y : y + sh, x : x + sw] = upscale(cells[r, k], factor)
    return Image.fromarray(out[..., 0] if c == 1 else out)


def grid_png(frames: np.ndarray, keys: int, between: int) -> bytes:
    """A walk's frames (R, F, H, W, C) uint8 as one PNG grid (see walk_rows)."""
    h, w = frames.shape[2:4]
    buf = io.BytesIO()
    _mosaic(walk_rows(frames, keys, between), scale_for(h, w)).save(buf, format="PNG")
    return buf.getvalue()


def gif_frames(frames: np.ndarray) -> list[Image.Image]:
    """A walk's frames (R, F, H, W, C) uint8 as animation frames: frame f shows the
    R walks' f-th images side by side (one image for one walk)."""
    h, w = frames.shape[2:4]
    factor = scale_for(h, w)
    return [_mosaic(frames[:, f][None], factor) for f in range(frames.shape[1])]


def animated_gif(frames: np.ndarray, frame_ms: int) -> bytes:
    """A walk's frames (R, F, H, W, C) uint8 as an animated GIF that loops forever,
    ``frame_ms`` milliseconds a frame."""
    images = gif_frames(frames)
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=frame_ms,
        loop=0,
        optimize=False,
    )
    return buf.getvalue()
