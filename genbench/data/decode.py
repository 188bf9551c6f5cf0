"""One image file decoded to a uint8 array: regular files only, under a pixel budget,
16-bit grayscale scaled rather than clipped, resized and centre-cropped.

Its own module, below both users: ``folder:PATH`` decodes its images up front
(genbench.data.folder), or its DataLoader workers decode them as batches are drawn
(genbench.data.stream).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from genbench.errors import UsageError
from genbench.runfolder.untrusted import UnreadableFile, open_regular

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL.Image import Image as PILImage


def open_image(path: Path) -> BinaryIO:
    """An image file opened for PIL: regular files only, without blocking."""
    try:
        return open_regular(path, None)
    except FileNotFoundError:
        raise UsageError(f"cannot read image {path}: it is gone") from None
    except UnreadableFile as exc:
        raise UsageError(f"cannot read image: {exc}") from None


def _to_8bit(im: PILImage) -> PILImage:
    """A 16-bit or 32-bit grayscale image as 8-bit L, scaled rather than clipped
    (PIL's own convert("L") clips every value above 255 to white)."""
    import numpy as np
    from PIL import Image

    if im.mode.startswith("I;16"):
        array = np.asarray(im, dtype=np.float64) / 257.0  # 65535 -> 255
    else:  # "I" or "F"
        array = np.asarray(im, dtype=np.float64)
        top = float(np.nanmax(array)) if array.size else 0.0
        if im.mode == "F" and top <= 1.0:
            array = array * 255.0  # floats in 0..1
        elif top > 65535:
            array = array * (255.0 / top)
        elif top > 255:
            array = array / 257.0  # 16-bit data held as I
    array = np.nan_to_num(np.clip(np.rint(array), 0, 255))
    return Image.fromarray(array.astype(np.uint8), "L")


# Pixels decoded from one training image (after JPEG draft scaling): a 64 MP photo
# is fine, a decompression bomb in a received folder is one line, not all memory.
IMAGE_PIXELS_MAX = 64_000_000


def load_image(path: Path, size: int, mode: str) -> np.ndarray:
    """One image as uint8 (C, size, size): resized so its shorter side is ``size``
    (bilinear, which PIL antialiases when shrinking), then centre-cropped."""
    import numpy as np
    from PIL import Image, ImageOps

    try:
        with open_image(path) as fh, Image.open(fh) as im:
            # JPEG can decode at 1/2, 1/4 or 1/8 scale for a fraction of the time;
            # draft never goes below the requested size.
            im.draft(mode, (size, size))
            if im.size[0] * im.size[1] > IMAGE_PIXELS_MAX:
                raise UsageError(
                    f"image {path} is {im.size[0]}x{im.size[1]} pixels, over the "
                    f"{IMAGE_PIXELS_MAX // 1_000_000} megapixels genbench "
                    "decodes; shrink it or leave it out"
                )
            if im.mode in ("I", "F") or im.mode.startswith("I;16"):
                im = _to_8bit(im)
            im = ImageOps.fit(
                im.convert(mode),
                (size, size),
                method=Image.Resampling.BILINEAR,
                centering=(0.5, 0.5),
            )
            array = np.array(im, dtype=np.uint8)  # a writable copy, for torch
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UsageError(f"cannot read image {path}: {exc}") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
