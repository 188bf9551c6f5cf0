"""A run's sample grid: real pixels (Kitty graphics, Sixel) where the terminal
shows them, half blocks in colour otherwise, ASCII on request."""

from __future__ import annotations

import time
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
        # samples/latest.png of a run folder: it must not lead out of that folder.
        run_dir = self.path.parent.parent if self.path.parent.name == "samples" else None
        try:
            if mode in terminal_image.PIXEL_MODES:
                # The same checks as for text: a regular file of the run folder,
                # within the pixel budget, decoded by us before textual-image sees it.
                image = terminal_image.load_png(self.path, run_dir=run_dir)
                try:
                    self._show_pixels(image, mode, cols, rows)
                finally:
                    image.close()
                return
            text = terminal_image.render_png(
                self.path, max_cols=cols, max_rows=rows, color=mode != "ascii", run_dir=run_dir
            )
        except FileNotFoundError:
            self._show_text(Text("no samples yet", style="dim"))
        except (UnreadableFile, OSError, ValueError) as exc:
            # Over the pixel budget, damaged, or caught mid-replace: one line instead
            # of the grid; the next change of the file is tried again.
            self._show_text(Text(clean_text(exc, 300), style="red"))
        else:
            self._show_text(text)

    def _show_text(self, text: Text) -> None:
        if self._pixels is not None:
            self._pixels.remove()
            self._pixels = None
        self.update(text)

    def _show_pixels(self, image: Any, mode: str, cols: int, rows: int) -> None:
        terminal_image.pixel_backend()  # textual-image, its terminal queries off
        from textual_image.widget import SixelImage, TGPImage

        cell = terminal_image.cell_pixels()
        # A row to spare: a Sixel image reaching its widget's last row scrolled
        # the whole screen up by one in xterm -ti vt340 (the terminal moves the
        # cursor below an image), covering the line above it.
        width, height = terminal_image.fit_cells(image.size, cols, max(1, rows - 1), cell)
        scaled = terminal_image.scale_to_cells(image, width, height, cell)
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
