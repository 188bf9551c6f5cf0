"""Open the maximised sample view on one run, alone, for checking previews in a
real terminal (xterm -ti vt340 under Xvfb for Sixel, tmux for half blocks):

    python benchmarks/samples_view.py RUN_DIR [--probe]

--probe asks the terminal about Sixel first, as `genbench show` does (the
workbench's screens cannot: Textual reads the terminal's answers once it runs).
GENBENCH_PREVIEW forces a mode as everywhere else.
"""

from __future__ import annotations

import sys
from pathlib import Path

from textual.app import App

from genbench import terminal_image
from genbench.tui.screens.samples import SamplesScreen


class SamplesApp(App):
    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir

    def on_mount(self) -> None:
        self.push_screen(SamplesScreen(self.run_dir))


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print("usage: samples_view.py RUN_DIR [--probe]", file=sys.stderr)
        return 2
    if "--probe" in argv and terminal_image.preview_setting() == "auto":
        terminal_image.probe_terminal()
    print(f"preview mode: {terminal_image.preview_mode()}")  # Textual draws on stderr
    SamplesApp(Path(argv[0])).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
