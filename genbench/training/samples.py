"""Sample grids: the same noise (and labels) drawn at each interval and written as a PNG
(an 8x8 image grid, or a scatter of points) into the run's samples/ folder."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from genbench.api import DataSpec, GenerativeModel

PREVIEW_IMAGES = 64  # an 8x8 grid
PREVIEW_POINTS = 1000
BACKGROUND = (18, 18, 24)
MODE_COLOUR = (90, 200, 255)
POINT_COLOUR = (255, 170, 40)


class WrongSampleShape(ValueError):
    """The model's sample() returned something else than (n, *spec.shape)."""


class SampleGrids:
    """Writes a run's sample grids. Draws the same noise every time, so the grids of
    one run are comparable."""

    def __init__(
        self,
        model: GenerativeModel,
        spec: DataSpec,
        seed: int,
        device: torch.device,
        modes: list[tuple[float, float]] | None = None,
    ):
        self.model, self.spec, self.device = model, spec, device
        self.seed = seed
        self.modes = np.asarray(modes, dtype=np.float32) if modes is not None else None
        if spec.kind == "image":
            classes = spec.num_classes or 0
            # Conditional models: one row per class, so the grid reads as a label sheet.
            self.nrow = 8 if not (model.conditional and classes) else max(8, min(classes, 16))
            self.n = self.nrow * classes if model.conditional and classes else PREVIEW_IMAGES
        else:
            self.nrow, self.n = 0, PREVIEW_POINTS
        self.labels = self._fixed_labels()

    def _fixed_labels(self) -> torch.Tensor | None:
        if not self.model.conditional or not self.spec.num_classes:
            return None
        k = self.spec.num_classes
        if self.spec.kind == "image":
            return torch.arange(k, device=self.device).repeat_interleave(self.nrow)
        return torch.arange(self.n, device=self.device) % k

    @torch.no_grad()
    def draw(self) -> torch.Tensor:
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        out = self.model.sample(self.n, labels=self.labels, generator=generator)
        expected = (self.n, *self.spec.shape)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise WrongSampleShape(
                f"sample({self.n}) returned {got}, expected a tensor of shape {expected}"
            )
        return out.float().cpu()

    def render(self, samples: torch.Tensor) -> Image.Image:
        if self.spec.kind == "image":
            return image_grid(samples, self.nrow)
        return Image.fromarray(scatter(samples.numpy(), self.modes))

    def png(self) -> bytes:
        """Draw and render a grid: the PNG file's bytes (RunWriter.write_sample writes it)."""
        image = self.render(self.draw())
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()


def image_grid(samples: torch.Tensor, nrow: int) -> Image.Image:
    """(N, C, H, W) in [-1, 1] -> one RGB grid image with 2-pixel gutters."""
    from torchvision.utils import make_grid

    x = ((samples.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    grid = make_grid(x, nrow=nrow, padding=2, pad_value=0)
    return Image.fromarray(grid.permute(1, 2, 0).numpy())


def scatter(points: np.ndarray, modes: np.ndarray | None, size: int = 192) -> np.ndarray:
    """Rasterise 2D points over the real modes (blue crosses) into an RGB array."""
    reach = float(np.abs(modes).max()) if modes is not None and len(modes) else 2.0
    extent = max(reach * 1.5, 1e-3)
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = BACKGROUND

    def to_pixels(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        col = np.round((xy[:, 0] + extent) / (2 * extent) * (size - 1))
        row = np.round((extent - xy[:, 1]) / (2 * extent) * (size - 1))
        finite = np.isfinite(col) & np.isfinite(row)
        inside = finite & (col >= 0) & (col < size) & (row >= 0) & (row < size)
        return row[inside].astype(int), col[inside].astype(int), inside

    pts = points.reshape(len(points), -1)[:, :2]
    r, c, _ = to_pixels(pts)
    for dr in (0, 1):
        for dc in (0, 1):
            image[np.clip(r + dr, 0, size - 1), np.clip(c + dc, 0, size - 1)] = POINT_COLOUR
    if modes is not None:  # drawn last so a mode the samples cover still shows
        r, c, _ = to_pixels(modes)
        for d in range(-3, 4):
            image[np.clip(r + d, 0, size - 1), c] = MODE_COLOUR
            image[r, np.clip(c + d, 0, size - 1)] = MODE_COLOUR
    return image
