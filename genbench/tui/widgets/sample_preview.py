"""The latest sample grid of a run, drawn with half blocks (or ASCII)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from genbench.untrusted import UnreadableFile, clean_text

MIN_REDRAW_S = 1.0   # a fast run may write a grid every few steps; redraw at most this often


def colour_wanted() -> bool:
    return not os.environ.get("NO_COLOR")


class SamplePreview(Static):
    """Shows ``path`` scaled to fit; call :meth:`reload` when the file changed."""

    DEFAULT_CSS = """
    SamplePreview { width: 1fr; height: 1fr; content-align: center middle; }
    """

    def __init__(self, path: Path, *, colour: bool | None = None, **kwargs):
        super().__init__("", markup=False, **kwargs)
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
        # Imported at the first grid drawn, not with the screens that hold this
        # widget: it brings numpy and PIL, which the runs list paints without.
        from genbench import terminal_image

        # samples/latest.png of a run folder: it must not lead out of that folder.
        run_dir = self.path.parent.parent if self.path.parent.name == "samples" else None
        try:
            self.update(terminal_image.render_png(self.path, max_cols=cols, max_rows=rows,
                                                  color=self.colour, run_dir=run_dir))
        except FileNotFoundError:
            self.update(Text("no samples yet", style="dim"))
        except (UnreadableFile, OSError, ValueError) as exc:
            # Over the pixel budget, damaged, or caught mid-replace: one line instead
            # of the grid; the next change of the file is tried again.
            self.update(Text(clean_text(exc, 300), style="red"))
