"""Small formatting helpers shared by the screens."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from genbench.untrusted import clean_text

STATUS_STYLE = {"running": "bold cyan", "completed": "green", "stopped": "yellow",
                "failed": "bold red", "diverged": "bold red", "lost": "magenta",
                "starting": "dim", "unreadable": "red"}


def plain(value, max_len: int = 200) -> str:
    """A value from a run folder (a name, a message, a folder name) as plain text:
    control characters removed, at most ``max_len`` characters. Show it as ``Text``
    (or escape it): Rich and Textual parse a ``str`` as markup, and `[/]` crashes them."""
    return clean_text("" if value is None else value, max_len)


def status_text(status: str) -> Text:
    return Text(plain(status, 20), style=STATUS_STYLE.get(status, ""))


def losses_text(losses: dict) -> str:
    """Plain text (names cleaned): show it inside a Text, never as markup."""
    return "  ".join(f"{plain(k, 40)} {v:.3g}" if isinstance(v, (int, float)) and
                     not isinstance(v, bool) else f"{plain(k, 40)} –"
                     for k, v in losses.items())


def step_text(step: int, steps: int | None) -> str:
    return f"{step}/{steps}" if steps else str(step)


def speed_text(img_per_s: float | None) -> str:
    return f"{img_per_s:,.0f}" if isinstance(img_per_s, (int, float)) else ""


def shown_path(path: Path) -> str:
    """A path as short as it can be told: relative to the current folder when inside
    it; cleaned of control characters (still text for a Text, not markup)."""
    try:
        shown = str(Path(path).resolve().relative_to(Path.cwd().resolve())) or "."
    except (ValueError, OSError):
        shown = str(path)
    return plain(shown, 1000)


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
