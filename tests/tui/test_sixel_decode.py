"""Pixel previews decoded back to pixels and compared with the PNG they show.

The Sixel decoder here reads a stream the way xterm 379 (`xterm -ti vt340`)
was seen to: '#Pc;Pu;Px;Py;Pz' defines colour Pc without selecting it, only
'#Pc' selects; an image starts drawing in register 3 (the VT340's green) and
registers it does not define keep the VT340's default colours; a pixel keeps
its register, whose colour is looked up when the image is shown (a register
defined again later recolours the pixels drawn with it). A stream that relies
on a definition selecting its colour decodes here as xterm showed it, its top
band in register 3. The Kitty path is decoded too: the base64 PNG payload of its
transmission, compared with the image given.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from textual.app import App, ComposeResult
from textual.geometry import Region

from genbench import terminal_image
from genbench.cli import main
from genbench.tui.widgets.sample_preview import SamplePreview
from tests.tui_support import FIXTURE_RUNS, wait_for

# The VT340's colour map at power-up, in percent, as xterm sets it: what a
# register shows until a stream defines it.
VT340_REGISTERS = [
    (0, 0, 0), (20, 20, 80), (80, 13, 13), (20, 80, 20),
    (80, 20, 80), (20, 80, 80), (80, 80, 20), (53, 53, 53),
    (26, 26, 26), (33, 33, 60), (60, 26, 26), (33, 60, 33),
    (60, 33, 60), (33, 60, 60), (60, 60, 33), (80, 80, 80),
]  # fmt: skip
FIRST_REGISTER = 3  # what xterm draws in before any '#Pc' selects a colour

_DCS = re.compile(rb"\x1bP([0-9;]*)q(.*?)\x1b\\", re.S)
_COMMAND = re.compile(rb'([#"!])([0-9;]*)|([?-~])|([$-])|[\s]')


def _percent_to_byte(pct: int) -> int:
    return round(pct * 255 / 100)


class SixelImage:
    """A decoded Sixel image: register numbers per pixel (-1: never drawn) and the
    registers' colours when the stream ended."""

    def __init__(self, registers: np.ndarray, palette: dict[int, tuple[int, int, int]]):
        self.registers = registers
        self.palette = palette

    def rgb(self) -> np.ndarray:
        """The image as a terminal shows it; a pixel never drawn is -1 in every
        channel (as int)."""
        out = np.full((*self.registers.shape, 3), -1, dtype=int)
        for register in np.unique(self.registers):
            if register >= 0:
                colour = self.palette.get(int(register), (0, 0, 0))
                out[self.registers == register] = [_percent_to_byte(c) for c in colour]
        return out


def decode_sixel(stream: bytes | str, *, definition_selects: bool = False) -> SixelImage:
    """The first Sixel image in ``stream`` (a DCS 'ESC P ... q ... ESC \\'), read
    as xterm does, or where a definition selects its colour too (libsixel, foot)."""
    if isinstance(stream, str):
        stream = stream.encode("latin-1")
    found = _DCS.search(stream)
    assert found, "no Sixel image (ESC P ... q ... ESC \\) in the stream"
    params = [int(p or 0) for p in found.group(1).split(b";")] if found.group(1) else []
    transparent = len(params) > 1 and params[1] == 1
    body = found.group(2)
    palette = {i: c for i, c in enumerate(VT340_REGISTERS)}
    current, x, y = FIRST_REGISTER, 0, 0
    declared: tuple[int, int] | None = None
    drawn: dict[tuple[int, int], int] = {}
    at = 0
    while at < len(body):
        m = _COMMAND.match(body, at)
        assert m, f"not Sixel at byte {at}: {body[at : at + 20]!r}"
        at = m.end()
        intro, args, data, move = m.group(1), m.group(2), m.group(3), m.group(4)
        if intro == b'"':
            numbers = [int(n) for n in args.split(b";")]
            if len(numbers) >= 4:
                declared = (numbers[2], numbers[3])
        elif intro == b"#":
            numbers = [int(n) for n in args.split(b";")]
            if len(numbers) == 1:
                current = numbers[0]  # a selection
            else:
                assert len(numbers) == 5 and numbers[1] == 2, f"colour {args!r}: RGB only"
                palette[numbers[0]] = (numbers[2], numbers[3], numbers[4])
                if definition_selects:
                    current = numbers[0]
        elif intro == b"!":
            count = int(args)
            sixel = body[at] - 0x3F
            assert 0 <= sixel < 64, f"a repeat of {body[at : at + 1]!r}"
            at += 1
            _draw(drawn, x, y, count, sixel, current)
            x += count
        elif data:
            _draw(drawn, x, y, 1, data[0] - 0x3F, current)
            x += 1
        elif move == b"$":
            x = 0
        elif move == b"-":
            x, y = 0, y + 6
    width = max([declared[0]] if declared else [] + [px + 1 for px, _ in drawn])
    height = max([declared[1]] if declared else [] + [py + 1 for _, py in drawn])
    registers = np.full((height, width), -1 if transparent else 0, dtype=int)
    for (px, py), register in drawn.items():
        if px < width and py < height:
            registers[py, px] = register
    return SixelImage(registers, palette)


def _draw(drawn: dict[tuple[int, int], int], x: int, y: int, count: int, sixel: int, reg: int):
    for bit in range(6):
        if sixel >> bit & 1:
            for px in range(x, x + count):
                drawn[(px, y + bit)] = reg


def kitty_payload(stream: str) -> Image.Image:
    """The image a Kitty graphics transmission sends: the base64 payloads of its
    chunks ('ESC _ G keys;payload ESC \\', m=1 on all but the last) joined, a PNG
    (f=100)."""
    messages = re.findall(r"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\", stream)
    sent = [(dict(kv.split("=", 1) for kv in keys.split(",")), data) for keys, data in messages]
    transmission = [(keys, data) for keys, data in sent if keys.get("a", "t") in ("t", "T")]
    assert transmission, f"no transmission in {stream[:200]!r}"
    assert transmission[0][0]["f"] == "100", "a PNG payload"
    assert [keys["m"] for keys, _ in transmission] == ["1"] * (len(transmission) - 1) + ["0"]
    png = base64.b64decode("".join(data for _, data in transmission), validate=True)
    return Image.open(io.BytesIO(png))


# -- the images ------------------------------------------------------------------


def banded_grid() -> Image.Image:
    """A 620x620 image whose top 90 rows are one dark colour, the same (7, 7, 9) %
    as the grid that showed a green bar, over 8x8 tiles of other colours."""
    rng = np.random.default_rng(0)
    colours = rng.integers(40, 255, size=(64, 3))
    pixels = np.zeros((620, 620, 3), np.uint8)
    for i, colour in enumerate(colours):
        r, c = divmod(i, 8)
        pixels[90 + r * 66 : 90 + r * 66 + 62, 4 + c * 77 : 4 + c * 77 + 72] = colour
    pixels[:90] = (18, 18, 23)
    return Image.fromarray(pixels)


def fashion_grid() -> Image.Image:
    """A Fashion-MNIST-like sample grid: 8x8 grey 28 px tiles with a 2 px black
    border (242x242), each tile a handful of grey levels."""
    rng = np.random.default_rng(1)
    pixels = np.zeros((242, 242), np.uint8)
    for r in range(8):
        for c in range(8):
            tile = rng.choice(np.arange(60, 240, 12), size=(7, 7)).astype(np.uint8)
            y, x = 2 + r * 30, 2 + c * 30
            pixels[y : y + 28, x : x + 28] = np.kron(tile, np.ones((4, 4), np.uint8))
    return Image.fromarray(pixels, "L")


IMAGES = {"banded": banded_grid, "fashion": fashion_grid}


def assert_shows(decoded: np.ndarray, expected: Image.Image) -> None:
    """Every pixel drawn, and each within the Sixel colour's rounding to whole
    percents (1.28 of 255) of the image; a band is named by its rows."""
    want = np.asarray(expected.convert("RGB"), dtype=int)
    assert decoded.shape == want.shape, f"decoded {decoded.shape}, image {want.shape}"
    assert (decoded >= 0).all(), "pixels the stream never drew"
    wrong = np.abs(decoded - want).max(axis=2) > 2
    rows = np.flatnonzero(wrong.any(axis=1))
    if len(rows):
        y = int(rows[0])
        x = int(np.flatnonzero(wrong[y])[0])
        pytest.fail(
            f"{wrong.sum()} pixels off, in {len(rows)} of {want.shape[0]} rows "
            f"({rows[0]}..{rows[-1]}); ({x}, {y}) shows {decoded[y, x].tolist()} "
            f"for {want[y, x].tolist()}"
        )


# -- the decoder itself ---------------------------------------------------------


def test_the_decoder_reads_a_definition_as_xterm_does():
    """Drawn as xterm -ti vt340 showed these: a colour defined and never selected
    draws green; defined then selected draws the colour; a register defined again
    later recolours what was drawn with it."""
    define_only = '\x1bP0;0;0q"1;1;4;6#1;2;100;0;0!4~\x1b\\'
    selected = '\x1bP0;0;0q"1;1;4;6#1;2;100;0;0#1!4~\x1b\\'
    redefined = '\x1bP0;0;0q"1;1;4;6#1;2;100;0;0#1!4~#1;2;0;0;100\x1b\\'
    assert decode_sixel(define_only).rgb()[0, 0].tolist() == [51, 204, 51]
    assert decode_sixel(selected).rgb()[0, 0].tolist() == [255, 0, 0]
    assert decode_sixel(redefined).rgb()[0, 0].tolist() == [0, 0, 255]


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_textual_images_encoder_counts_on_a_definition_selecting_its_colour(name):
    """textual-image's own stream is the image where a definition selects its
    colour (libsixel, foot) but not as xterm reads it: the banded grid's top 90
    rows come out in register 3, the bar of the issue. Through
    select_defined_colours the same bytes show the image in both readings."""
    from textual_image import _sixel

    image = IMAGES[name]()
    encode = getattr(_sixel.image_to_sixels, "__wrapped__", _sixel.image_to_sixels)
    raw = encode(terminal_image.own_palette(image))
    assert_shows(decode_sixel(raw, definition_selects=True).rgb(), image)
    with pytest.raises(pytest.fail.Exception, match="pixels off"):
        assert_shows(decode_sixel(raw).rgb(), image)
    if name == "banded":
        # The bar: drawn in register 3, whatever colour the stream gives it last
        # (green while it gives none), not the image's.
        assert (decode_sixel(raw).registers[:90] == FIRST_REGISTER).all()
    fixed = terminal_image.select_defined_colours(raw)
    assert_shows(decode_sixel(fixed).rgb(), image)
    assert_shows(decode_sixel(fixed, definition_selects=True).rgb(), image)


def test_select_defined_colours_touches_definitions_only():
    stream = '\x1bP0;0;0q"1;1;620;620#0;2;7;7;9!620~-#12;2;1;2;3#0~~$#12??-\x1b\\'
    assert terminal_image.select_defined_colours(stream) == (
        '\x1bP0;0;0q"1;1;620;620#0;2;7;7;9#0!620~-#12;2;1;2;3#12#0~~$#12??-\x1b\\'
    )


# -- genbench's previews ----------------------------------------------------------


def _printed(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=200, height=100).print(renderable)
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_genbench_show_sixel_decodes_to_the_png(name):
    """What `genbench show` prints in Sixel mode, decoded as xterm reads it, is the
    grid scaled to its cells: no band, every pixel within the palette's rounding."""
    image = IMAGES[name]()
    cell = terminal_image.cell_pixels()
    cols, rows = terminal_image.fit_cells(image.size, 62, 31, cell)
    expected = terminal_image.scale_to_cells(image, cols, rows, cell)
    stream = _printed(terminal_image.pixel_renderable(image, "sixel", 62, 31))
    assert_shows(decode_sixel(stream).rgb(), expected)


def test_a_grid_of_more_than_256_colours_decodes_to_its_palette():
    """A CIFAR-like grid of smooth colour ramps (thousands of colours): Sixel
    holds 256, so textual-image quantises (Pillow's fast octree). Decoded, the
    stream is that quantised image, and that is close to the grid itself."""
    ramp = np.linspace(0, 255, 240)
    pixels = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 255 - ramp[None, :]), -1)
    image = Image.fromarray(pixels.astype(np.uint8))
    assert image.getcolors(256) is None
    cell = terminal_image.cell_pixels()
    cols, rows = terminal_image.fit_cells(image.size, 62, 31, cell)
    expected = terminal_image.scale_to_cells(image, cols, rows, cell)
    stream = _printed(terminal_image.pixel_renderable(image, "sixel", 62, 31))
    quantised = expected.quantize(colors=256, method=Image.Quantize.FASTOCTREE).convert("RGB")
    assert_shows(decode_sixel(stream).rgb(), quantised)
    off = np.abs(np.asarray(quantised, dtype=int) - np.asarray(expected, dtype=int))
    assert off.mean() < 6 and off.max() < 16  # measured: 3.7 and 8


def test_the_show_command_prints_a_sixel_image_of_the_runs_grid(tmp_path, monkeypatch, capsys):
    """The whole command, on a run folder whose latest grid is the banded image."""
    monkeypatch.setenv("GENBENCH_PREVIEW", "sixel")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "60")
    run = tmp_path / "ring8-gan"
    shutil.copytree(FIXTURE_RUNS / "ring8-gan", run)
    (run / "samples" / "latest.png").unlink(missing_ok=True)  # a link in some fixtures
    banded_grid().save(run / "samples" / "latest.png")
    assert main(["show", str(run)]) == 0
    decoded = decode_sixel(capsys.readouterr().out)
    registers = decoded.registers
    height, width = registers.shape
    assert height > 100 and width > 100
    # Scaled from 620 px: the top 90 rows' share is one colour, and it is the image's.
    top = decoded.rgb()[: int(height * 80 / 620)]
    assert (np.abs(top - [18, 18, 23]).max(axis=2) <= 2).all(), top[0, 0].tolist()


class PreviewApp(App):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        yield SamplePreview(self.path, id="p")


@pytest.mark.parametrize("name", sorted(IMAGES))
async def test_the_workbench_preview_sixel_decodes_to_the_png(tmp_path, monkeypatch, name):
    """The sample panel's Sixel widget (the runs list, the run view, compare): the
    stream it injects into its last line, decoded, is the grid it was handed."""
    monkeypatch.setenv("GENBENCH_PREVIEW", "sixel")
    monkeypatch.delenv("NO_COLOR", raising=False)
    path = tmp_path / "run" / "samples" / "latest.png"
    path.parent.mkdir(parents=True)
    IMAGES[name]().save(path)
    app = PreviewApp(path)
    async with app.run_test(size=(80, 40)) as pilot:
        preview = app.query_one(SamplePreview)
        await wait_for(pilot, lambda: preview._pixels is not None, what="a pixel widget")
        await pilot.pause()
        assert preview._pixels is not None
        impl = preview._pixels.children[0]
        width, height = impl.content_size
        lines = impl.render_lines(Region(0, 0, width, height))
        stream = "".join(segment.text for segment in lines[-1])
        handed = preview._pixels.image  # the grid scaled to the widget's cells
        assert_shows(decode_sixel(stream).rgb(), handed)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_kitty_preview_sends_the_png_it_was_given(name, monkeypatch):
    """Kitty's protocol: the PNG in the transmission's payload is the grid scaled
    to the cells, pixel for pixel (no palette: nothing to round)."""
    image = IMAGES[name]()
    cell = terminal_image.cell_pixels()
    cols, rows = terminal_image.fit_cells(image.size, 62, 31, cell)
    expected = terminal_image.scale_to_cells(image, cols, rows, cell)
    renderable = terminal_image.pixel_renderable(image, "kitty", 62, 31)
    terminal = io.StringIO()  # textual-image writes Kitty's messages to the terminal itself
    monkeypatch.setattr(sys, "__stdout__", terminal)
    placeholders = _printed(renderable)
    sent = kitty_payload(terminal.getvalue())
    assert sent.size == expected.size
    assert (np.asarray(sent.convert("RGB")) == np.asarray(expected)).all()
    # Placed in as many cells as the placeholders Rich printed (a row each).
    assert f"c={cols},r={rows}" in terminal.getvalue()
    assert placeholders.count("\U0010eeee") == cols * rows
