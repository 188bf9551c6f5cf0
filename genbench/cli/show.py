"""genbench show: one run's summary and a preview of its latest samples."""

from __future__ import annotations

from pathlib import Path

from genbench.cli.common import print_json
from genbench.errors import UsageError

NAME = "show"


def add_parser(sub) -> None:
    s = sub.add_parser(NAME, help="summary and sample preview of one run")
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("--json", action="store_true", help="print run.json and the last metrics")


def run(args) -> int:
    from genbench.runs import LATEST_SAMPLE, read_run_json, summarize

    run_dir = Path(args.run_dir)
    meta = read_run_json(run_dir)
    summary = summarize(run_dir)
    if summary.error:       # another file of the run (metrics, eval.json) is unreadable
        raise UsageError(summary.error)
    if args.json:
        print_json({"run": meta.to_dict(), "summary": summary.describe()})
        return 0
    from rich.console import Console
    from rich.text import Text

    from genbench import terminal_image as preview
    from genbench.presentation import (format_losses, img_per_s_text, plain, quality_line,
                                       step_text)
    from genbench.untrusted import UnreadableFile

    # Every string from the run folder is shown as Text with control characters
    # removed: `[/]` in run.json is printed, never parsed; no escape reaches the terminal.
    console = Console()
    console.print(Text.assemble(
        (plain(summary.id), "bold"), f"  {plain(summary.model)} on {plain(summary.dataset)}  ",
        (plain(summary.status), "bold"), f" at step {step_text(summary.step, summary.steps)}"),
        highlight=False)
    if summary.message:
        console.print(Text(plain(summary.message, 2000)), highlight=False)
    plugin = meta.plugin
    console.print(Text(plain(f"plugin {plugin.distribution if plugin else '?'} "
                             f"{plugin.version if plugin else ''}  "
                             f"device {meta.device}  seed {meta.seed}  "
                             f"batch {meta.batch_size}", 1000)), highlight=False)
    config = meta.config
    if config:
        console.print(Text("config " + "  ".join(f"{plain(k, 60)}={plain(v, 200)}"
                                                 for k, v in config.items())), highlight=False)
    if summary.losses:
        speed = img_per_s_text(summary.img_per_s)
        console.print(Text(f"last losses {format_losses(summary.losses)}"
                           + (f"  {speed}" if speed else "")), highlight=False)
    quality = quality_line(summary)
    if quality is not None:
        console.print(quality, highlight=False)
    latest = run_dir / LATEST_SAMPLE
    colour = console.color_system in ("truecolor", "256")
    try:
        # Decoded under a pixel budget, from a regular file of this run folder only.
        grid = preview.render_png(latest, max_cols=min(64, console.width - 2), max_rows=20,
                                  color=colour, run_dir=run_dir)
    except FileNotFoundError:
        console.print("no samples yet", highlight=False)
    except (UnreadableFile, OSError, ValueError) as exc:
        console.print(Text.assemble(("samples unreadable", "red"), f": {plain(exc, 500)}"),
                      highlight=False)
    else:
        console.print(grid)
        console.print(Text(f"samples: {plain(latest, 1000)}"), highlight=False, soft_wrap=True)
    return 0
