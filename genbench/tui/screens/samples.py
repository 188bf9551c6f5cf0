"""One run's sample grids, maximised, stepping back and forth through training.

Open with ``app.push_screen(SamplesScreen(run_dir))``. The grids are the run
folder's ``samples/step-NNNNNNN.png`` files: the folder is untrusted, so names
that are not such a step are ignored, at most STEPS_SCAN entries of the folder
are read, and every file is drawn through SamplePreview (a regular file of the
run folder, within the pixel budget, or one line saying why not).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from genbench.runfolder.runs import LATEST_SAMPLE, SAMPLES_DIR
from genbench.runfolder.untrusted import UnreadableFile, clean_text, resolve_inside
from genbench.tui.widgets.sample_preview import SamplePreview

STEP_NAME = re.compile(r"step-(\d{1,12})\.png")
STEPS_SCAN = 20_000  # folder entries read per listing: a grid every 500 steps is 10 M steps
POLL_S = 2.0  # new grids of a running run; a grid is written every few hundred steps


def list_steps(run_dir: Path) -> tuple[list[tuple[int, Path]], str | None]:
    """(step, path) of every samples/step-N.png of the run, by step, and a line
    saying why the folder could not be listed (None when it could)."""
    folder = Path(run_dir) / SAMPLES_DIR
    try:
        resolve_inside(run_dir, folder)  # samples/ a link out of the run: not ours to read
        found: dict[int, Path] = {}
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= STEPS_SCAN:
                    break
                match = STEP_NAME.fullmatch(entry.name)
                if match:
                    found[int(match.group(1))] = folder / entry.name
    except FileNotFoundError:
        return [], None
    except UnreadableFile as exc:
        return [], clean_text(exc, 300)
    except OSError as exc:
        return [], clean_text(f"{SAMPLES_DIR}/ cannot be listed: {exc.strerror or exc}", 300)
    return sorted(found.items()), None


class SamplesScreen(Screen):
    """The grid as large as the screen allows, with its step; follows the newest
    grid while the last one is shown."""

    DEFAULT_CSS = """
    SamplesScreen #samples-step { height: 1; padding: 0 1; }
    SamplesScreen #samples-full { width: 1fr; height: 1fr; }
    """

    BINDINGS = [
        Binding("left", "step(-1)", "Earlier", tooltip="the grid before this one"),
        Binding("right", "step(1)", "Later", tooltip="the grid after this one"),
        Binding("left_square_bracket", "step(-1)", "Earlier", show=False),
        Binding("right_square_bracket", "step(1)", "Later", show=False),
        Binding("home", "first", "First", tooltip="the first grid of the run"),
        Binding("end", "latest", "Latest", tooltip="the newest grid, and follow new ones"),
        Binding("a", "toggle_ascii", "ASCII", tooltip="switch between colour and ASCII"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.steps: list[tuple[int, Path]] = []
        self.index = -1  # into self.steps; -1: none
        self.follow = True  # at the newest grid: move on when a newer one comes
        self.problem: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="samples-step", markup=False)
        yield SamplePreview(self.run_dir / LATEST_SAMPLE, id="samples-full")
        yield Footer()

    def on_mount(self) -> None:
        self.rescan()
        self.set_interval(POLL_S, self.rescan)

    @property
    def step(self) -> int | None:
        """The step of the grid shown; None when there is no step grid."""
        return self.steps[self.index][0] if 0 <= self.index < len(self.steps) else None

    def rescan(self) -> None:
        shown = self.step
        self.steps, self.problem = list_steps(self.run_dir)
        if not self.steps:
            self.index = -1
        elif self.follow or shown is None:
            self.index = len(self.steps) - 1
        else:  # stay on the grid being looked at, wherever it now is in the list
            by_step = [s for s, _ in self.steps]
            self.index = (
                by_step.index(shown) if shown in by_step else min(self.index, len(self.steps) - 1)
            )
        if self.step != shown or shown is None:
            self._show()

    def _show(self) -> None:
        preview = self.query_one(SamplePreview)
        label = self.query_one("#samples-step", Static)
        if self.step is None:
            preview.path = self.run_dir / LATEST_SAMPLE
            label.update(
                Text(
                    self.problem or "latest samples (no step-*.png grids)",
                    style="red" if self.problem else "dim",
                )
            )
        else:
            preview.path = self.steps[self.index][1]
            last = len(self.steps)
            label.update(
                Text.assemble(
                    (f"step {self.step}", "bold"),
                    f"  {self.index + 1} of {last}",
                    ("  latest" if self.index == last - 1 else "", "green"),
                    ("   ←/→ or [ ] step  home/end first/latest", "dim"),
                )
            )
        preview.reload(force=True)

    def _go(self, index: int) -> None:
        if not self.steps:
            return
        index = max(0, min(index, len(self.steps) - 1))
        self.follow = index == len(self.steps) - 1
        if index != self.index:
            self.index = index
            self._show()

    def action_step(self, delta: int) -> None:
        self._go(self.index + delta)

    def action_first(self) -> None:
        self._go(0)

    def action_latest(self) -> None:
        self._go(len(self.steps) - 1)

    def action_toggle_ascii(self) -> None:
        preview = self.query_one(SamplePreview)
        preview.set_colour(not preview.colour)

    def action_back(self) -> None:
        self.app.pop_screen()
