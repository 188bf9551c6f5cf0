"""Small formatting helpers shared by the screens."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

STATUS_STYLE = {"running": "bold cyan", "completed": "green", "stopped": "yellow",
                "failed": "bold red", "diverged": "bold red", "lost": "magenta",
                "starting": "dim", "unreadable": "red"}


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def losses_text(losses: dict) -> str:
    return "  ".join(f"{k} {v:.3g}" if isinstance(v, (int, float)) else f"{k} –"
                     for k, v in losses.items())


def step_text(step: int, steps: int | None) -> str:
    return f"{step}/{steps}" if steps else str(step)


def speed_text(img_per_s: float | None) -> str:
    return f"{img_per_s:,.0f}" if isinstance(img_per_s, (int, float)) else ""


def shown_path(path: Path) -> str:
    """A path as short as it can be told: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


def quality_text(s) -> Text:
    """FD and coverage of a RunSummary; red on mode collapse, dim when it is the
    trainer's quick live estimate rather than `genbench eval`'s."""
    parts = []
    fd = getattr(s, "fd", None)
    coverage = getattr(s, "coverage", None)
    if isinstance(fd, (int, float)):
        parts.append(f"FD {fd:.3g}")
    if coverage:
        parts.append(f"{coverage[0]}/{coverage[1]}")
    style = "bold red" if getattr(s, "collapse", False) else \
        ("dim" if getattr(s, "quality_source", None) == "live" else "")
    return Text(" ".join(parts), style=style)
