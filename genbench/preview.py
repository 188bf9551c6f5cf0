"""Images in the terminal: half blocks in true colour, or ASCII.

Each character cell shows two pixels: '▀' with the foreground set to the upper
pixel and the background to the lower one. Without colour, a luminance ramp of
ASCII characters stands in. Works from a PNG path or an RGB array; no torch.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from rich.color import Color
from rich.style import Style
from rich.text import Text

RAMP = " .:-=+*#%@"


@lru_cache(maxsize=4096)
def _style(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Style:
    # Reused across frames: building a Style per cell is the slow part of drawing.
    return Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom))


def fit(image: Image.Image, max_cols: int, max_rows: int) -> Image.Image:
    """Resize to fit in max_cols x max_rows cells (2 pixels a cell vertically)."""
    w, h = image.size
    scale = min(max_cols / w, (2 * max_rows) / h)
    cols = max(1, int(w * scale))
    rows = max(2, int(h * scale) // 2 * 2)
    return image.convert("RGB").resize((cols, rows), Image.Resampling.BOX)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]


def render(image: Image.Image | np.ndarray, max_cols: int = 64, max_rows: int = 24,
           color: bool = True) -> Text:
    """The image as rich Text no larger than max_cols x max_rows cells."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    pixels = np.asarray(fit(image, max_cols, max_rows), dtype=np.uint8)
    text = Text(no_wrap=True, overflow="crop")
    rows = pixels.shape[0] // 2
    for r in range(rows):
        top, bottom = pixels[2 * r], pixels[2 * r + 1]
        if color:
            for t, b in zip(map(tuple, top.tolist()), map(tuple, bottom.tolist())):
                text.append("▀", _style(t, b))
        else:
            lum = (_luminance(top) + _luminance(bottom)) / 2
            idx = np.clip((lum / 256 * len(RAMP)).astype(int), 0, len(RAMP) - 1)
            text.append("".join(RAMP[i] for i in idx))
        if r < rows - 1:
            text.append("\n")
    return text


def render_png(path: Path, max_cols: int = 64, max_rows: int = 24, color: bool = True) -> Text:
    """A PNG file as terminal text; raises OSError/ValueError if it cannot be read."""
    with Image.open(path) as image:
        image.load()
        return render(image, max_cols, max_rows, color)
