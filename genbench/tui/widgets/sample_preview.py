"""The latest sample grid of a run, drawn with half blocks (or ASCII)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from genbench import preview

MIN_REDRAW_S = 1.0   # a fast run may write a grid every few steps; redraw at most this often


def colour_wanted() -> bool:
    return not os.environ.get("NO_COLOR")


class SamplePreview(Static):
    """Shows ``path`` scaled to fit; call :meth:`reload` when the file changed."""

    DEFAULT_CSS = """
    SamplePreview { width: 1fr; height: 1fr; content-align: center middle; }
    """

    def __init__(self, path: Path, *, colour: bool | None = None, **kwargs):
        super().__init__("", **kwargs)
        self.path = Path(path)
        self.colour = colour_wanted() if colour is None else colour
        self._drawn_at = 0.0
        self._pending = False

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
            if not self._pending:   # draw once the quiet period is over
                self._pending = True
                self.set_timer(wait, lambda: self.reload(force=True))
            return
        self._pending = False
        self._drawn_at = time.monotonic()
        cols, rows = self.content_size.width, self.content_size.height
        if cols < 2 or rows < 1:
            return
        if not self.path.is_file():
            self.update(Text("no samples yet", style="dim"))
            return
        try:
            self.update(preview.render_png(self.path, max_cols=cols, max_rows=rows,
                                           color=self.colour))
        except (OSError, ValueError) as exc:
            # Caught mid-replace or damaged: say so and try again at the next change.
            self.update(Text(f"cannot read {self.path.name}: {exc}", style="red"))
