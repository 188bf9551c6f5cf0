"""How a headless run talks to its terminal: a rich progress bar, JSON lines, or quiet.

The trainer emits events as plain dicts (start, metrics, sample, checkpoint, end,
traceback); a reporter turns them into output. No torch here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from genbench import terminal_image
from genbench.presentation import format_losses, format_quality, img_per_s_text, plain, status_style
from genbench.runfolder.runs import finite
from genbench.runfolder.untrusted import UnreadableFile

__all__ = [
    "JsonReporter",
    "QuietReporter",
    "RichReporter",
    "final_line",
    "format_losses",
    "format_quality",
]  # the last two: written in genbench.presentation


def final_line(event: dict) -> str:
    return f"{event['status']} at step {event['step']}: {event['message']}\nrun: {event['run_dir']}"


class JsonReporter:
    """One JSON object per line on stdout, for scripts."""

    def __call__(self, event: dict) -> None:
        if event["event"] == "traceback":
            sys.stderr.write(event["text"])
            return
        # Strict JSON: a NaN loss (a diverging run) is null, which every parser reads.
        print(json.dumps(finite(event), allow_nan=False, default=str), flush=True)

    def close(self) -> None:
        pass


class QuietReporter:
    """Only the final line (or, with final=False, only tracebacks)."""

    def __init__(self, final: bool = True):
        self.final = final

    def __call__(self, event: dict) -> None:
        if event["event"] == "traceback":
            sys.stderr.write(event["text"])
        elif event["event"] == "end" and self.final:
            print(final_line(event), flush=True)

    def close(self) -> None:
        pass


class RichReporter:
    """Progress bar with losses, images/s and ETA; a small sample preview at each
    sample interval (half blocks in colour, ASCII when the output has no colour)."""

    def __init__(self, console: Console | None = None, previews: bool = True):
        self.console = console or Console()
        self.previews = previews
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[losses]}", markup=False),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task: TaskID | None = None

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "start":
            # On --resume these come from run.json: text, never markup.
            self.console.print(
                Text.assemble(
                    (plain(event["model"]), "bold"),
                    " on ",
                    (plain(event["dataset"]), "bold"),
                    f" ({plain(event['device'])}, {plain(event.get('precision', '?'))})"
                    f" -> {plain(event['run_dir'], 1000)}",
                )
            )
            if why := event.get("precision_why"):
                self.console.print(Text(f"  precision: {plain(why)}"), highlight=False)
            if own := event.get("config_for_data"):
                self.console.print(
                    Text(
                        f"  {plain(event['model'])}'s defaults for this data: "
                        + ", ".join(f"{plain(k)}={plain(v)}" for k, v in own.items())
                        + " (--set to change)"
                    ),
                    highlight=False,
                )
            if event.get("threads"):
                self.console.print(Text(f"  cpu: {plain(event['threads'])}"), highlight=False)
            self.progress.start()
            self.task = self.progress.add_task(
                "train", total=event["steps"], completed=event["step"], losses="", speed=""
            )
        elif kind == "metrics" and self.task is not None:
            speed = img_per_s_text(event.get("img_per_s"))
            self.progress.update(
                self.task,
                completed=event["step"],
                total=event["steps"],
                losses=format_losses(event["losses"]),
                speed=speed,
            )
        elif kind == "eval":
            line = format_quality(event)
            if line:
                self.progress.console.print(
                    Text(f"quality at step {event['step']}: {plain(line, 1000)}"), highlight=False
                )
        elif kind == "warning":
            self.progress.console.print(
                Text.assemble(
                    ("warning", "yellow"),
                    f" at step {event['step']}: {plain(event.get('message'), 1000)}",
                ),
                highlight=False,
            )
        elif kind == "sample" and self.previews:
            self._preview(Path(event["path"]), event["step"])
        elif kind == "traceback":
            self.console.print(event["text"], markup=False, highlight=False)
        elif kind == "end":
            if self.task is not None:
                self.progress.update(self.task, completed=event["step"])
            self.progress.stop()
            colour = status_style(event["status"], bold=False, default="red")
            self.console.print(
                Text.assemble(
                    (plain(event["status"]), colour),
                    f" at step {event['step']}: {plain(event['message'], 2000)}",
                ),
                highlight=False,
            )
            self.console.print(
                Text(f"run: {plain(event['run_dir'], 1000)}"), highlight=False, soft_wrap=True
            )

    def _preview(self, path: Path, step: int) -> None:
        colour = self.console.color_system in ("truecolor", "256")
        try:
            text = terminal_image.render_png(
                path, max_cols=min(48, self.console.width - 2), max_rows=12, color=colour
            )
        except (UnreadableFile, OSError, ValueError):
            return
        self.progress.console.print(
            Text(f"samples at step {step}: {plain(path, 1000)}"), highlight=False, soft_wrap=True
        )
        self.progress.console.print(text)

    def close(self) -> None:
        self.progress.stop()
