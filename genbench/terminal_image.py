"""Images in the terminal: real pixels (Kitty graphics, Sixel), half blocks in
true colour, or ASCII.

Each half-block cell shows two pixels: '▀' with the foreground set to the upper
pixel and the background to the lower one. Without colour, a luminance ramp of
ASCII characters stands in. Works from a PNG path or an RGB array; no torch.

Which of the four a terminal gets is :func:`preview_mode`: GENBENCH_PREVIEW
forces one, otherwise it is chosen from the environment (and, before a full-screen
app owns the terminal, from the terminal's own answer to "which features?"). The
pixel protocols are drawn by textual-image, imported only when a pixel mode is in
use (see :func:`pixel_backend`), and always handed an image this module decoded
under its checks, never a path.

A PNG from a run folder is untrusted: :func:`render_png` opens regular files
only, reads the size from the header and refuses more than PIXELS_MAX pixels
before anything is decoded (a 109 KB file can hold a 30000x30000 pixel bomb), and
turns every decoding failure into one :class:`UnreadableFile` line.
"""

from __future__ import annotations

import os
import re
import select
import struct
import sys
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from rich.color import Color
from rich.style import Style
from rich.text import Text

from genbench.errors import one_line
from genbench.runfolder.untrusted import (
    PIXELS_MAX,
    PNG_MAX,
    UnreadableFile,
    clean_text,
    open_regular,
)

if TYPE_CHECKING:  # numpy and PIL are imported where an image is drawn: the mode
    import numpy as np  # functions below are asked at the workbench's first paint
    from PIL import Image

RAMP = " .:-=+*#%@"

# What a preview may be drawn at, whatever size the terminal claims ($COLUMNS and
# $LINES are anyone's to set): a half-block or ASCII preview of at most TEXT_CELLS_MAX
# cells (each a styled character, about 0.6 KB in Rich: 60 MB at most; a
# 2000x2000-cell box took 2.3 GB), a Kitty or Sixel one of at most PIXELS_OUT_MAX
# pixels (12 MB as RGB). A larger box gets the same picture, no larger.
TEXT_CELLS_MAX = 100_000
PIXELS_OUT_MAX = 2048 * 2048


def within_budget(cols: int, rows: int, cell_area: int, budget: int) -> tuple[int, int]:
    """(cols, rows) shrunk, at their own ratio, until cols x rows cells of
    ``cell_area`` units each are at most ``budget`` units (at least 1x1)."""
    if cols * rows * cell_area <= budget:
        return cols, rows
    shrink = (budget / (cols * rows * cell_area)) ** 0.5
    return max(1, int(cols * shrink)), max(1, int(rows * shrink))


@lru_cache(maxsize=4096)
def _style(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Style:
    # Reused across frames: building a Style per cell is the slow part of drawing.
    return Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom))


def fit(image: Image.Image, max_cols: int, max_rows: int) -> Image.Image:
    """Resize to fit in max_cols x max_rows cells (2 pixels a cell vertically)."""
    from PIL import Image

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


def render(
    image: Image.Image | np.ndarray, max_cols: int = 64, max_rows: int = 24, color: bool = True
) -> Text:
    """The image as rich Text no larger than max_cols x max_rows cells."""
    import numpy as np
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    max_cols, max_rows = within_budget(max(1, max_cols), max(1, max_rows), 1, TEXT_CELLS_MAX)
    pixels = np.asarray(fit(image, max_cols, max_rows), dtype=np.uint8)
    text = Text(no_wrap=True, overflow="crop")
    rows = pixels.shape[0] // 2
    for r in range(rows):
        top, bottom = pixels[2 * r], pixels[2 * r + 1]
        if color:
            for t, b in zip(map(tuple, top.tolist()), map(tuple, bottom.tolist()), strict=True):
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
    side = int(PIXELS_MAX**0.5)
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
    from PIL import Image

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
                image = Image.open(fh, formats=["PNG"])  # reads the header only
                if refused := _over_budget(name, image.size):
                    raise refused
                image.load()
                return image
        except UnreadableFile:
            if image is not None:
                image.close()
            raise
        except Image.DecompressionBombError:
            raise UnreadableFile(
                f"{name} is too large to decode, over the {_budget()} budget"
            ) from None
        except MemoryError:
            raise UnreadableFile(f"{name} is too large to decode") from None
        except Exception as exc:  # noqa: BLE001 - a hostile file fails in many ways
            if image is not None:
                image.close()
            # OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error...
            why = clean_text(one_line(exc, with_type=False), 160)
            raise UnreadableFile(f"{name} cannot be read: {why}") from None


def render_png(
    path: Path,
    max_cols: int = 64,
    max_rows: int = 24,
    color: bool = True,
    *,
    run_dir: Path | None = None,
) -> Text:
    """A PNG file as terminal text. Raises UnreadableFile (one line) when it cannot
    be shown: over the pixel budget, not a regular file, damaged; FileNotFoundError
    when it is not there."""
    image = load_png(path, run_dir=run_dir)
    try:
        return render(image, max_cols, max_rows, color)
    finally:
        image.close()


# -- which kind of preview -----------------------------------------------------

MODES = ("kitty", "sixel", "halfblock", "ascii")
PIXEL_MODES = ("kitty", "sixel")
PREVIEW_ENV = "GENBENCH_PREVIEW"

# What the terminal answered to a features query (DA1) before a full-screen app
# took over its input; None until probe_terminal() ran (then True/False: Sixel).
_probed_sixel: bool | None = None


def preview_setting(env: dict[str, str] | os._Environ[str] | None = None) -> str:
    """GENBENCH_PREVIEW as given: one of MODES, or 'auto' (unset, empty, 'auto' or
    a value that is none of them: a typo falls back to detection, not an error)."""
    value = (os.environ if env is None else env).get(PREVIEW_ENV, "").strip().lower()
    return value if value in MODES else "auto"


def preview_mode(
    env: dict[str, str] | os._Environ[str] | None = None, *, tty: bool | None = None
) -> str:
    """The preview to draw: GENBENCH_PREVIEW when it names one; otherwise ASCII
    under NO_COLOR, half blocks when stdout is no terminal or under tmux/screen
    (which pass pixel protocols through only when configured to), Kitty graphics
    or Sixel where the terminal says so (its variables, or the probe), half blocks
    everywhere else."""
    env = os.environ if env is None else env
    forced = preview_setting(env)
    if forced != "auto":
        return forced
    if env.get("NO_COLOR"):
        return "ascii"
    if tty is None:
        tty = _stdout_is_tty()
    term = env.get("TERM", "")
    if not tty or env.get("TMUX") or env.get("STY") or term.startswith(("screen", "tmux")):
        return "halfblock"
    program = env.get("TERM_PROGRAM", "").lower()
    if env.get("KITTY_WINDOW_ID") or term == "xterm-kitty" or program == "ghostty":
        return "kitty"
    if term.startswith(("foot", "mlterm", "contour")) or program in ("wezterm", "iterm.app"):
        return "sixel"
    return "sixel" if _probed_sixel else "halfblock"


def probe_would_decide(env: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """Whether preview_mode() would turn on the probe's answer: automatic mode on
    a terminal it does not know by its variables (plain xterm, mlterm without
    TERM set, ...). Only then is asking worth the round trip."""
    env = os.environ if env is None else env
    if preview_mode(env, tty=True) != "halfblock" or preview_setting(env) != "auto":
        return False
    term = env.get("TERM", "")
    return not (env.get("TMUX") or env.get("STY") or term.startswith(("screen", "tmux")))


def _stdout_is_tty() -> bool:
    try:
        return bool(sys.__stdout__ and sys.__stdout__.isatty())
    except (ValueError, OSError):  # closed
        return False


def probe_terminal(timeout: float = 0.2) -> bool:
    """Ask the terminal whether it speaks Sixel (DA1, 'ESC [ c': attribute 4 in
    the answer) and how many pixels a cell has ('ESC [ 16 t'). Only before a
    full-screen app reads the terminal's input (it would take the answers), and
    only on a terminal. The DA1 question goes last: every VT100-compatible
    terminal answers it at once, so its answer ends the wait, and the timeout is
    only paid by a terminal that never answers. Kept for preview_mode() and
    cell_pixels()."""
    global _probed_sixel, _probed_cell
    if _probed_sixel is not None:
        return _probed_sixel
    _probed_sixel = False
    try:
        import termios
        import tty as ttymod
    except ImportError:  # Windows: no Sixel query here
        return False
    try:
        fd_in, fd_out = sys.__stdin__.fileno(), sys.__stdout__.fileno()  # type: ignore[union-attr]
        if not (os.isatty(fd_in) and os.isatty(fd_out)):
            return False
        saved = termios.tcgetattr(fd_in)
    except (AttributeError, ValueError, OSError, termios.error):
        return False
    answer = b""
    try:
        ttymod.setcbreak(fd_in, termios.TCSANOW)  # no echo of the answers
        os.write(fd_out, b"\x1b[16t\x1b[c")
        # ... ESC [ 6 ; H ; W t (if it tells) then ESC [ ? 6 2 ; 4 ; ... c
        while not re.search(rb"\x1b\[\?[0-9;]*c", answer) and len(answer) < 512:
            ready, _, _ = select.select([fd_in], [], [], timeout)
            if not ready:
                break
            answer += os.read(fd_in, 512)
    except OSError:
        pass
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)
    found = re.search(rb"\x1b\[\?([0-9;]*)c", answer)
    _probed_sixel = bool(found and b"4" in found.group(1).split(b";"))
    cell = re.search(rb"\x1b\[6;(\d{1,4});(\d{1,4})t", answer)
    if cell and int(cell.group(1)) and int(cell.group(2)):
        _probed_cell = CellPixels(int(cell.group(2)), int(cell.group(1)))
    return _probed_sixel


class CellPixels(NamedTuple):
    width: int
    height: int


_probed_cell: CellPixels | None = None  # the terminal's answer to ESC [ 16 t


def cell_pixels() -> CellPixels:
    """Pixels per character cell: the terminal's window size (TIOCGWINSZ), else
    its answer to probe_terminal(), else 10x20 (a VT340's cell). Never asks the
    terminal itself, so it is safe while an app owns the input. (xterm leaves the
    pixel fields of TIOCGWINSZ empty: a wrong guess draws the image larger or
    smaller than the cells kept for it.)"""
    try:
        import fcntl
        import termios

        packed = fcntl.ioctl(
            sys.__stdout__.fileno(),  # type: ignore[union-attr]
            termios.TIOCGWINSZ,
            b"\0" * 8,
        )
        rows, cols, xpix, ypix = struct.unpack("HHHH", packed)
        if rows and cols and xpix and ypix:
            return _sane_cell(CellPixels(max(1, xpix // cols), max(1, ypix // rows)))
    except (ImportError, AttributeError, ValueError, OSError):
        pass
    return _sane_cell(_probed_cell or CellPixels(10, 20))


CELL_PIXELS_MAX = 256  # a cell larger than this is a terminal's wrong answer, not a font


def _sane_cell(cell: CellPixels) -> CellPixels:
    return CellPixels(
        min(max(1, cell.width), CELL_PIXELS_MAX), min(max(1, cell.height), CELL_PIXELS_MAX)
    )


def fit_cells(
    size: tuple[int, int], max_cols: int, max_rows: int, cell: CellPixels
) -> tuple[int, int]:
    """The largest cell box (cols, rows) within max_cols x max_rows that shows an
    image of ``size`` pixels at its own aspect ratio on cells of ``cell`` pixels."""
    w, h = size
    scale = min(max_cols * cell.width / w, max_rows * cell.height / h)
    return (
        max(1, min(max_cols, round(w * scale / cell.width))),
        max(1, min(max_rows, round(h * scale / cell.height))),
    )


def scale_to_cells(image: Image.Image, cols: int, rows: int, cell: CellPixels) -> Image.Image:
    """The image resized to exactly fill cols x rows cells. A sample grid is small
    (an 8x8 grid of 28 px images is 242 px): whole-number enlargements keep its
    pixels sharp (NEAREST); shrinking averages (BOX)."""
    from PIL import Image

    target = (cols * cell.width, rows * cell.height)
    rgb = image.convert("RGB")
    up = target[0] >= rgb.width and target[1] >= rgb.height
    return rgb.resize(target, Image.Resampling.NEAREST if up else Image.Resampling.BOX)


_backend: Any = None


def pixel_backend() -> Any:
    """textual-image, imported on the first pixel preview and not before.

    textual-image is chosen over an encoder of our own for its Sixel encoder and,
    above all, for drawing pixels inside a Textual screen (Sixel injected into the
    widget's last line per crop region; Kitty through Unicode placeholders that
    Textual moves and clips like text). Its terminal detection is not used: at
    import it writes queries to the terminal and reads the answers from stdin
    (0.1 s timeouts each, can swallow a key press, and cannot work once Textual
    reads the input). So it is imported with its queries switched off: the cell
    size is filled in from TIOCGWINSZ first and stdout looks like no terminal
    while its modules load; which protocol to draw is preview_mode()'s choice.
    Its Sixel encoder is wrapped to select each colour it defines (see
    select_defined_colours)."""
    global _backend
    if _backend is not None:
        return _backend
    import io

    from textual_image import _terminal

    size = cell_pixels()
    _terminal.get_cell_size._result = _terminal.CellSize(size.width, size.height)  # type: ignore[attr-defined]
    _install_sixel_encoder()  # before the modules that import the encoder by name load
    real_stdout = sys.__stdout__
    sys.__stdout__ = io.StringIO()  # type: ignore[misc,assignment]  # no tty: no queries
    try:
        import textual_image.renderable as renderable
    finally:
        sys.__stdout__ = real_stdout  # type: ignore[misc]
    _install_sixel_encoder()  # and in any that had loaded already
    _backend = renderable
    return renderable


# A colour definition, '#Pc;Pu;Px;Py;Pz' (Pu 1 = HLS, 2 = RGB): five numbers.
_COLOUR_DEFINITION = re.compile(r"#(\d+)(?:;\d+){4}")


def select_defined_colours(sixel: str) -> str:
    """A Sixel stream in which every colour definition is followed by a selection
    of that colour ('#5;2;10;20;30' becomes '#5;2;10;20;30#5').

    xterm (379, `xterm -ti vt340`) takes '#Pc;2;R;G;B' as a definition only: the
    pixels after it are drawn in the colour selected before, and at the start of
    an image that is register 3 (green until the image defines it; xterm shows a
    pixel in its register's last colour). textual-image (0.12) defines each colour
    where it first draws with it and counts on the definition selecting it, so in
    xterm the top band of every image (a colour defined, never selected again
    while it lasts) came out as one wrong colour, and any colour first used
    further down was drawn in its predecessor's. With a selection after each
    definition the stream reads the same in a terminal that takes the definition
    as a selection too.
    Sixel data bytes are '?'..'~' and never '#', a digit or ';', so the pattern
    matches definitions only."""
    return _COLOUR_DEFINITION.sub(r"\g<0>#\1", sixel)


def own_palette(image: Image.Image) -> Image.Image:
    """An RGB or grey image of at most 256 colours as a palette image of exactly
    those colours; any other image as it is. textual-image quantises every RGB
    image (Pillow's fast octree), which moves colours it had room for: greys of
    a Fashion-MNIST grid came out up to 6 levels off. A palette image it
    encodes as given."""
    from PIL import Image

    if image.mode not in ("RGB", "L"):
        return image
    rgb = image.convert("RGB")
    colours = rgb.getcolors(256)
    if colours is None:  # more than 256: textual-image's quantiser chooses
        return image
    palette = Image.new("P", (1, 1))
    palette.putpalette([channel for _, colour in colours for channel in colour])  # type: ignore[union-attr]
    return rgb.quantize(palette=palette, dither=Image.Dither.NONE)


def _install_sixel_encoder() -> None:
    """textual-image's Sixel encoder, its output passed through
    select_defined_colours, in every textual-image module that encodes Sixel
    (the `genbench show` renderable and the workbench's widget alike). Its
    modules import the encoder by name, so the one in ``_sixel`` is replaced
    before they load and in those already loaded."""
    from textual_image import _sixel

    encode = _sixel.image_to_sixels
    if not getattr(encode, "selects_defined_colours", False):

        def image_to_sixels(image: Any, options: Any = None, background: Any = None) -> str:
            return select_defined_colours(encode(own_palette(image), options, background))

        image_to_sixels.selects_defined_colours = True  # type: ignore[attr-defined]
        image_to_sixels.__wrapped__ = encode  # type: ignore[attr-defined]
        _sixel.image_to_sixels = image_to_sixels
    for name in ("textual_image.renderable.sixel", "textual_image.widget.sixel"):
        if (module := sys.modules.get(name)) is not None:
            setattr(module, "image_to_sixels", _sixel.image_to_sixels)  # noqa: B010


def pixel_renderable(image: Image.Image, mode: str, max_cols: int, max_rows: int) -> Any:
    """A Rich renderable drawing ``image`` in real pixels (mode 'kitty' or 'sixel')
    in at most max_cols x max_rows cells, for a plain console (`genbench show`)."""
    backend = pixel_backend()
    cell = cell_pixels()
    cols, rows = fit_cells(image.size, max(1, max_cols), max(1, max_rows), cell)
    cols, rows = within_budget(cols, rows, cell.width * cell.height, PIXELS_OUT_MAX)
    scaled = scale_to_cells(image, cols, rows, cell)
    kind = backend.TGPImage if mode == "kitty" else backend.SixelImage
    return kind(scaled, width=cols, height=rows)
