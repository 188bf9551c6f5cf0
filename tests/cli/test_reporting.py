"""What the headless progress display prints besides its progress bar."""

from __future__ import annotations

import io

from rich.console import Console

from genbench.cli.reporting import RichReporter, format_quality


def _printed(events) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    report = RichReporter(console, previews=False)
    for event in events:
        report(event)
    report.close()
    return console.file.getvalue()


def test_quality_lines_for_toys_and_images():
    assert (
        format_quality({"modes": 8, "modes_covered": 7, "high_quality": 0.036})
        == "7/8 modes covered, 3.6% high quality"
    )
    assert (
        format_quality({"fd": 1.3866, "classes": 10, "classes_covered": 9})
        == "FD 1.387, 9/10 classes covered"
    )
    assert (
        format_quality({"error": "evaluation turned off: OSError: disk"})
        == "evaluation turned off: OSError: disk"
    )


def test_live_evals_and_warnings_are_printed_under_the_bar():
    out = _printed(
        [
            {
                "event": "start",
                "model": "gan",
                "dataset": "ring8",
                "device": "cpu",
                "run_dir": "runs/x",
                "step": 0,
                "steps": 1000,
                "config_for_data": {},
            },
            {"event": "eval", "step": 500, "modes": 8, "modes_covered": 2, "high_quality": 0.01},
            {
                "event": "warning",
                "step": 1000,
                "kind": "mode_collapse",
                "message": "mode collapse: 2 of 8 modes covered, at the end of the run",
            },
            {
                "event": "end",
                "status": "completed",
                "step": 1000,
                "message": "trained 1000 steps",
                "run_dir": "runs/x",
            },
        ]
    )
    assert "quality at step 500: 2/8 modes covered, 1.0% high quality" in out
    assert "warning at step 1000: mode collapse: 2 of 8 modes covered, at the end of the run" in out
    assert "defaults for this data" not in out  # nothing came from defaults_for
