"""Formatting for the screens: written once in genbench.presentation, shared with the CLI.

The screens import these names from here; how each number and status is written
lives in genbench.presentation.
"""

from __future__ import annotations

from genbench.presentation import (
    STATUS_STYLE,
    eval_text,
    format_duration,
    losses_text,
    plain,
    quality_text,
    shown_path,
    speed_text,
    status_text,
    step_text,
)

__all__ = [
    "STATUS_STYLE",
    "eval_text",
    "format_duration",
    "losses_text",
    "plain",
    "quality_text",
    "shown_path",
    "speed_text",
    "status_text",
    "step_text",
]
