"""genbench show: one run's summary and a preview of its latest samples."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from genbench.cli.common import print_json
from genbench.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from genbench.runfolder.record import RunRecord
    from genbench.runfolder.runs import RunSummary

NAME = "show"
MIN_ROWS = 8  # a grid smaller than this says little; the terminal scrolls instead


def add_parser(sub) -> None:
    s = sub.add_parser(NAME, help="summary and sample preview of one run")
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("--json", action="store_true", help="print run.json and the last metrics")


def run(args) -> int:
    from genbench.runfolder.runs import LATEST_SAMPLE, read_run_json, summarize

    run_dir = Path(args.run_dir)
    meta = read_run_json(run_dir)
    summary = summarize(run_dir)
    # Any file of the run unreadable (run.json, metrics, eval.json): one line, exit 2.
    if summary.error or summary.side_error:
        raise UsageError(summary.error or summary.side_error or "")
    if args.json:
        print_json({"run": meta.to_dict(), "summary": summary.describe()})
        return 0
    from genbench.presentation import console as terminal_console

    console = terminal_console()
    lines = _summary_lines(summary, meta)
    for line in lines:
        console.print(line, highlight=False)
    latest = run_dir / LATEST_SAMPLE
    cols, rows = preview_box(console, lines, latest)
    _warn_unknown_preview_setting()
    _print_preview(console, _preview_mode(console), run_dir, latest, cols, rows)
    return 0


def _summary_lines(summary: RunSummary, meta: RunRecord) -> list[Text]:
    """The run's summary above the preview: where it stands, how it was started, its
    config, last losses and quality.

    Every string from the run folder is shown as Text with control characters
    removed: `[/]` in run.json is printed, never parsed; no escape reaches the
    terminal."""
    from rich.text import Text

    from genbench.presentation import format_losses, img_per_s_text, plain, quality_line, step_text

    lines = [
        Text.assemble(
            (plain(summary.id), "bold"),
            f"  {plain(summary.model)} on {plain(summary.dataset)}  ",
            (plain(summary.status), "bold"),
            f" at step {step_text(summary.step, summary.steps)}",
        )
    ]
    if summary.message:
        lines.append(Text(plain(summary.message, 2000)))
    plugin = meta.plugin
    lines.append(
        Text(
            plain(
                f"plugin {plugin.distribution if plugin else '?'} "
                f"{plugin.version if plugin else ''}  "
                f"device {meta.device}  seed {meta.seed}  "
                f"batch {meta.batch_size}",
                1000,
            )
        )
    )
    config = meta.config
    if config:
        lines.append(
            Text(
                "config " + "  ".join(f"{plain(k, 60)}={plain(v, 200)}" for k, v in config.items())
            )
        )
    if summary.losses:
        speed = img_per_s_text(summary.img_per_s)
        lines.append(
            Text(f"last losses {format_losses(summary.losses)}" + (f"  {speed}" if speed else ""))
        )
    quality = quality_line(summary)
    if quality is not None:
        lines.append(quality)
    return lines


def _warn_unknown_preview_setting() -> None:
    """A typo in the preview setting should not pass for detection silently; the
    summary still prints."""
    from genbench import terminal_image as preview
    from genbench.presentation import plain

    raw = os.environ.get(preview.PREVIEW_ENV, "").strip()
    if raw and raw.lower() != "auto" and preview.preview_setting() == "auto":
        print(
            f"warning: {preview.PREVIEW_ENV}={plain(raw, 40)} is none of auto, "
            f"{', '.join(preview.MODES)}; detecting instead",
            file=sys.stderr,
        )


def _preview_mode(console: Console) -> str:
    """How to draw the samples on this console: the setting, else detection."""
    from genbench import terminal_image as preview

    if console.is_terminal and preview.preview_setting() == "auto":
        preview.probe_terminal()  # Sixel? asked before anything else reads the terminal
    mode = preview.preview_mode()
    if mode == "halfblock" and console.color_system not in ("truecolor", "256"):
        mode = "ascii"  # piped, or a terminal without enough colours
    return mode


def _print_preview(
    console: Console, mode: str, run_dir: Path, latest: Path, cols: int, rows: int
) -> None:
    """The latest sample grid in ``cols`` x ``rows`` cells, or a line saying why not."""
    from rich.text import Text

    from genbench import terminal_image as preview
    from genbench.presentation import console as terminal_console
    from genbench.presentation import plain
    from genbench.runfolder.untrusted import UnreadableFile

    try:
        # Decoded under a pixel budget, from a regular file of this run folder only.
        if mode in preview.PIXEL_MODES:
            image = preview.load_png(latest, run_dir=run_dir)
            try:
                grid = preview.pixel_renderable(image, mode, cols, rows)
            finally:
                image.close()
        else:
            grid = preview.render_png(
                latest, max_cols=cols, max_rows=rows, color=mode != "ascii", run_dir=run_dir
            )
    except FileNotFoundError:
        console.print("no samples yet", highlight=False)
        return
    except (UnreadableFile, OSError, ValueError) as exc:
        console.print(
            Text.assemble(("samples unreadable", "red"), f": {plain(exc, 500)}"), highlight=False
        )
        return
    if mode in preview.PIXEL_MODES and not console.is_terminal:
        # Asked for by GENBENCH_PREVIEW (detection never picks pixels for a
        # pipe): Rich drops escape sequences on a pipe, so write them as to a terminal.
        terminal_console(force_terminal=True, width=console.width, height=console.height).print(
            grid
        )
    else:
        console.print(grid)
    console.print(Text(f"samples: {plain(latest, 1000)}"), highlight=False, soft_wrap=True)


def preview_box(console: Console, lines: list[Text], latest: Path) -> tuple[int, int]:
    """Cells for the preview: the console's width, and its height less the lines
    above (as wrapped), the samples line below and the shell prompt, so the summary
    and the grid fit on one screen. Piped, the console's size is $COLUMNS x $LINES,
    or 80x25."""
    from rich.text import Text

    from genbench.presentation import plain

    used = sum(len(line.wrap(console, console.width)) for line in lines)
    below = len(Text(f"samples: {plain(latest, 1000)}").wrap(console, console.width)) + 1
    return max(2, console.width - 1), max(MIN_ROWS, console.height - used - below)
