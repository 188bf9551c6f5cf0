"""A run's sample grid: real pixels (Kitty graphics, Sixel) where the terminal
shows them, half blocks in colour otherwise, ASCII on request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from genbench import terminal_image
from genbench.runfolder.untrusted import UnreadableFile, clean_text

MIN_REDRAW_S = 1.0  # a fast run may write a grid every few steps; redraw at most this often


def colour_wanted() -> bool:
    """Colour unless ASCII is asked for (GENBENCH_PREVIEW=ascii, or NO_COLOR)."""
    return terminal_image.preview_mode() != "ascii"


class SamplePreview(Static):
    """Shows ``path`` scaled to fit; call :meth:`reload` when the file changed.

    ``colour`` False is ASCII; True is the best the terminal shows
    (terminal_image.preview_mode: pixels or half blocks)."""

    DEFAULT_CSS = """
    SamplePreview { width: 1fr; height: 1fr; content-align: center middle;
                    align: center middle; }
    """

    def __init__(self, path: Path, *, colour: bool | None = None, **kwargs):
        super().__init__("", markup=False, **kwargs)
        self.path = Path(path)
        self.colour = colour_wanted() if colour is None else colour
        self.mode = "ascii" if not self.colour else "halfblock"  # what was drawn last
        self._drawn_at = 0.0
        self._pending = False
        self._pixels: Widget | None = None  # the textual-image widget in a pixel mode
        # Decoding and scaling a grid takes tens of milliseconds, many times that on a
        # loaded machine: it runs on a thread, one at a time, and only the latest
        # request is drawn (a held j asks for a grid per row passed).
        self._decoding = False
        self._wanted: _Request | None = None

    @property
    def busy(self) -> bool:
        """A grid is being decoded or waits to be: what is shown is about to change."""
        return self._decoding or self._wanted is not None

    def on_mount(self) -> None:
        self.reload(force=True)

    def on_resize(self) -> None:
        self.reload(force=True)

    def set_colour(self, colour: bool) -> None:
        self.colour = colour
        self.reload(force=True)

    def reload(self, force: bool = False) -> None:
        """Redraw from the file, no more often than MIN_REDRAW_S unless forced."""
        wait = MIN_REDRAW_S - (time.monotonic() - self._drawn_at)
        if not force and wait > 0:
            if not self._pending:  # draw once the quiet period is over
                self._pending = True
                self.set_timer(wait, lambda: self.reload(force=True))
            return
        self._pending = False
        self._drawn_at = time.monotonic()
        cols, rows = self.content_size.width, self.content_size.height
        if cols < 2 or rows < 1:
            return
        mode = terminal_image.preview_mode() if self.colour else "ascii"
        if self.colour and mode == "ascii":  # NO_COLOR, then `a` asked for colour
            mode = "halfblock"
        self.mode = mode
        if mode in terminal_image.PIXEL_MODES:
            terminal_image.pixel_backend()  # textual-image set up here, before a thread
        # samples/latest.png of a run folder: it must not lead out of that folder.
        run_dir = self.path.parent.parent if self.path.parent.name == "samples" else None
        self._wanted = _Request(self.path, mode, cols, rows, run_dir)
        if not self._decoding:
            self._decode_next()

    def _decode_next(self) -> None:
        request, self._wanted = self._wanted, None
        if request is None:
            return
        self._decoding = True
        self.run_worker(lambda: self._decode(request), thread=True, group="preview")

    def _decode(self, request: _Request) -> None:
        """On a worker thread: the grid decoded and fitted, handed to the loop."""
        result = request.draw()
        try:
            self.app.call_from_thread(self._decoded, request, result)
        except RuntimeError:  # the app is closing: nothing to draw on
            pass

    def _decoded(self, request: _Request, result: Text | tuple[Any, int, int]) -> None:
        self._decoding = False
        if self._wanted is not None:  # asked again meanwhile: this one is already old
            self._decode_next()
            return
        if not self.is_attached:
            return
        if isinstance(result, Text):
            self._show_text(result)
        else:
            self._show_pixels(*result, request.mode)

    def _show_text(self, text: Text) -> None:
        if self._pixels is not None:
            self._pixels.remove()
            self._pixels = None
        self.update(text)

    def _show_pixels(self, scaled: Any, width: int, height: int, mode: str) -> None:
        from textual_image.widget import SixelImage, TGPImage

        kind = TGPImage if mode == "kitty" else SixelImage
        if type(self._pixels) is not kind:
            if self._pixels is not None:
                self._pixels.remove()
            self._pixels = kind(scaled)
            self._pixels.styles.width = width
            self._pixels.styles.height = height
            self.update("")
            self.mount(self._pixels)
        else:
            assert self._pixels is not None
            self._pixels.styles.width = width
            self._pixels.styles.height = height
            self._pixels.image = scaled


@dataclass(frozen=True)
class _Request:
    """One grid to draw: the file, the mode and the cells it has."""

    path: Path
    mode: str
    cols: int
    rows: int
    run_dir: Path | None

    def draw(self) -> Text | tuple[Any, int, int]:
        """Text to show, or (the scaled image, its width and height in cells) for a
        pixel mode; a damaged or missing file is a line of text. Any thread."""
        try:
            if self.mode in terminal_image.PIXEL_MODES:
                # The same checks as for text: a regular file of the run folder,
                # within the pixel budget, decoded by us before textual-image sees it.
                image = terminal_image.load_png(self.path, run_dir=self.run_dir)
                try:
                    cell = terminal_image.cell_pixels()
                    # A row to spare: a Sixel image reaching its widget's last row
                    # scrolled the whole screen up by one in xterm -ti vt340 (the
                    # terminal moves the cursor below an image), covering the line
                    # above it.
                    width, height = terminal_image.fit_cells(
                        image.size, self.cols, max(1, self.rows - 1), cell
                    )
                    return terminal_image.scale_to_cells(image, width, height, cell), width, height
                finally:
                    image.close()
            return terminal_image.render_png(
                self.path,
                max_cols=self.cols,
                max_rows=self.rows,
                color=self.mode != "ascii",
                run_dir=self.run_dir,
            )
        except FileNotFoundError:
            return Text("no samples yet", style="dim")
        except (UnreadableFile, OSError, ValueError) as exc:
            # Over the pixel budget, damaged, or caught mid-replace: one line instead
            # of the grid; the next change of the file is tried again.
            return Text(clean_text(exc, 300), style="red")
