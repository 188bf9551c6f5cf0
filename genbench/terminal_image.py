"""Images in the terminal: half blocks in true colour, or ASCII.

Each character cell shows two pixels: '▀' with the foreground set to the upper
pixel and the background to the lower one. Without colour, a luminance ramp of
ASCII characters stands in. Works from a PNG path or an RGB array; no torch.

A PNG from a run folder is untrusted: :func:`render_png` opens regular files
only, reads the size from the header and refuses more than PIXELS_MAX pixels
before anything is decoded (a 109 KB file can hold a 30000x30000 pixel bomb), and
turns every decoding failure into one :class:`UnreadableFile` line.
"""

from __future__ import annotations

import struct
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from rich.color import Color
from rich.style import Style
from rich.text import Text

from genbench.errors import one_line
from genbench.untrusted import PIXELS_MAX, PNG_MAX, UnreadableFile, clean_text, open_regular

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
    if image.mode in ("RGB", "L"):
        # Shrink first, then convert: a big grey grid never exists three times over.
        return image.resize((cols, rows), Image.Resampling.BOX).convert("RGB")
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
            for t, b in zip(map(tuple, top.tolist()), map(tuple, bottom.tolist()),
                            strict=True):
                text.append("▀", _style(t, b))
        else:
            lum = (_luminance(top) + _luminance(bottom)) / 2
            idx = np.clip((lum / 256 * len(RAMP)).astype(int), 0, len(RAMP) - 1)
            text.append("".join(RAMP[i] for i in idx))
        if r < rows - 1:
            text.append("\n")
    return text


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _budget() -> str:
    side = int(PIXELS_MAX ** 0.5)
    return f"{side}x{side}" if side * side == PIXELS_MAX else f"{PIXELS_MAX:,} pixel"


def _header_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk (always the first), or None."""
    if len(head) >= 24 and head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    return None


def _over_budget(name: str, size: tuple[int, int]) -> UnreadableFile | None:
    w, h = size
    if w * h > PIXELS_MAX:
        return UnreadableFile(f"{name} is {w}x{h} pixels, over the {_budget()} budget")
    return None


def shown_name(path: Path) -> str:
    """How an image of a run folder is named in a message: samples/latest.png."""
    path = Path(path)
    name = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    return clean_text(name, 80)


def load_png(path: Path, *, run_dir: Path | None = None, name: str | None = None) -> Image.Image:
    """Decode a PNG from an untrusted folder, within PIXELS_MAX pixels and PNG_MAX
    bytes; a regular file only (inside ``run_dir`` when given). Anything wrong with
    it (a pixel bomb, a FIFO, a link out of the run folder, a truncated or damaged
    file) raises one UnreadableFile line; FileNotFoundError when it is not there."""
    name = name or shown_name(path)
    with open_regular(path, PNG_MAX, run_dir=run_dir) as fh:
        # The header says how big the image is: refuse a bomb before PIL sees it
        # (PIL itself raises DecompressionBombError, not OSError, far above our budget).
        header = _header_size(fh.read(24))
        if header and (refused := _over_budget(name, header)):
            raise refused
        fh.seek(0)
        image = None
        try:
            with warnings.catch_warnings():
                # Pillow warns between its limit and twice it; the check below is ours.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(fh, formats=["PNG"])     # reads the header only
                if refused := _over_budget(name, image.size):
                    raise refused
                image.load()
                return image
        except UnreadableFile:
            if image is not None:
                image.close()
            raise
        except Image.DecompressionBombError:
            raise UnreadableFile(f"{name} is too large to decode, over the {_budget()} "
                                 "budget") from None
        except MemoryError:
            raise UnreadableFile(f"{name} is too large to decode") from None
        except Exception as exc:   # noqa: BLE001 - a hostile file fails in many ways
            if image is not None:
                image.close()
            # OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error...
            why = clean_text(one_line(exc, with_type=False), 160)
            raise UnreadableFile(f"{name} cannot be read: {why}") from None


def render_png(path: Path, max_cols: int = 64, max_rows: int = 24, color: bool = True, *,
               run_dir: Path | None = None) -> Text:
    """A PNG file as terminal text. Raises UnreadableFile (one line) when it cannot
    be shown: over the pixel budget, not a regular file, damaged; FileNotFoundError
    when it is not there."""
    image = load_png(path, run_dir=run_dir)
    try:
        return render(image, max_cols, max_rows, color)
    finally:
        image.close()
