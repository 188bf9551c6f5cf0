"""A run folder someone else made cannot take down what shows it: text from it is
shown as text (never markup, no terminal escapes), images are decoded under a
pixel budget, metrics are tailed at a bounded cost, unreadable files make only
their run `unreadable`, and a crash of the workbench exits non-zero."""

from __future__ import annotations

import json
import os
import shutil
import time
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image
from textual.app import App
from textual.widgets import DataTable

from genbench import terminal_image as preview
from genbench.cli import main
from genbench.runfolder.untrusted import UnreadableFile, clean_text
from genbench.tui.app import GenbenchApp
from genbench.tui.run_tail import POLL_BYTES, SERIES_MAX, BoundedSeries, RunTail
from genbench.tui.screens.run import RunScreen
from genbench.tui.screens.runs import RunsScreen
from genbench.tui.widgets.sample_preview import SamplePreview
from tests.tui_support import FIXTURE_RUNS, text_of, wait_for

SIZE = (120, 40)
BUDGET_LINE = "samples/latest.png is 30000x30000 pixels, over the 4096x4096 budget"
MARKUP = "[bold red]boom[/] [/]"
ESCAPES = "\u001b]0;pwned\u0007\u001b[2Jcleared"
ESC_NAME = "esc\u001b[31mname"


@pytest.fixture(scope="session")
def pixel_bomb(tmp_path_factory) -> Path:
    """A 30000x30000 1-bit PNG: about 110 KB on disk, 900 M pixels decoded."""
    path = tmp_path_factory.mktemp("bomb") / "latest.png"
    Image.new("1", (30000, 30000)).save(path, optimize=True)
    assert path.stat().st_size < 200_000
    return path


def fixture_run(runs: Path, name: str, **fields) -> Path:
    """A copy of the completed ring8 fixture run named ``name``, run.json fields changed."""
    run = runs / name
    shutil.copytree(FIXTURE_RUNS / "ring8-gan", run)
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "id": name, **fields}))
    return run


def hostile_runs(runs: Path) -> dict[str, Path]:
    return {
        "markup": fixture_run(
            runs,
            "markup",
            dataset="[/]",
            message=MARKUP,
            config={"[/]": "[/x]", "lr": "[link=http://x]y"},
        ),
        "escapes": fixture_run(runs, "escapes", dataset=ESCAPES, message="\u001b[2Jwiped"),
        "esc_name": fixture_run(runs, ESC_NAME),
        "click_name": fixture_run(runs, "[@click=app.quit]click"),
    }


# -- images --------------------------------------------------------------------------


def test_render_png_refuses_a_pixel_bomb_before_decoding(pixel_bomb, tmp_path):
    tracemalloc.start()
    try:
        with pytest.raises(UnreadableFile) as info:
            preview.render_png(pixel_bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value).endswith("/latest.png is 30000x30000 pixels, over the 4096x4096 budget")
    assert peak < 5 << 20, f"{peak} bytes: the bomb was decoded"
    # Damaged and non-regular files are one line too, never a traceback.
    (tmp_path / "cut.png").write_bytes(pixel_bomb.read_bytes()[:40])
    os.mkfifo(tmp_path / "fifo.png")
    for bad in ("cut.png", "fifo.png"):
        with pytest.raises(UnreadableFile) as info:
            preview.render_png(tmp_path / bad)
        assert "\n" not in str(info.value)


def test_show_prints_one_line_for_a_pixel_bomb(pixel_bomb, runs_dir, capsys):
    run = fixture_run(runs_dir, "bomb")
    shutil.copy(pixel_bomb, run / "samples" / "latest.png")
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out
    assert BUDGET_LINE in " ".join(out.split())
    assert "Traceback" not in out


async def test_workbench_previews_show_a_pixel_bomb_as_one_line(pixel_bomb, runs_dir):
    fixture_run(runs_dir, "a-good")
    bomb = fixture_run(runs_dir, "bomb")
    shutil.copy(pixel_bomb, bomb / "samples" / "latest.png")
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        preview_widget = screen.query_one(SamplePreview)
        await pilot.press("down")  # the cursor reaches the bomb
        await wait_for(pilot, lambda: preview_widget.path == bomb / "samples/latest.png")
        await wait_for(pilot, lambda: "budget" in text_of(preview_widget), what="the refusal")
        assert BUDGET_LINE in " ".join(text_of(preview_widget).split())
        await pilot.press("enter")  # the run's own view
        view = app.screen
        assert isinstance(view, RunScreen)
        samples = view.query_one(SamplePreview)
        await wait_for(pilot, lambda: "budget" in text_of(samples), what="the run view's refusal")
        assert app.is_running and app._exception is None


# -- markup and escapes --------------------------------------------------------------------


def test_runs_and_show_print_run_folder_strings_as_text(runs_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    runs = hostile_runs(runs_dir)
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out, "an escape sequence from a run folder reached the terminal"
    assert "[/]" in out and "esc[31mname" in out and "[@click=app.quit]click" in out
    assert clean_text(ESCAPES) in out  # the text is there, its control characters are not

    for run in runs.values():
        assert main(["show", str(run)]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out
    assert main(["show", str(runs["markup"])]) == 0
    out = capsys.readouterr().out
    assert MARKUP in out and "[/]=[/x]" in out


async def test_workbench_shows_run_folder_strings_literally(runs_dir):
    runs = hostile_runs(runs_dir)
    with open(runs["markup"] / "metrics.jsonl", "a") as fh:
        fh.write(
            json.dumps({"step": 2001, "time": 1.0, "losses": {"[/]": 1.0, "\u001b[2J": 2.0}}) + "\n"
        )
        fh.write(
            json.dumps(
                {
                    "step": 2001,
                    "kind": "eval",
                    "eval": {"fd": 1.5, "[/]": 2, "warning": "[/] \u001b[2J"},
                }
            )
            + "\n"
        )
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 4)

        def cell(run: Path, column: str) -> str:
            return str(table.get_cell(str(run), column))

        assert cell(runs["markup"], "dataset") == "[/]"
        assert cell(runs["escapes"], "dataset") == clean_text(ESCAPES)
        assert cell(runs["esc_name"], "run") == "esc[31mname"
        # A name over 20 characters shows as its short id; the detail pane has it whole.
        assert cell(runs["click_name"], "run") == "[@click=app.quit]cl…"
        assert screen.detail(runs["click_name"])[0] == "[@click=app.quit]click"
        for run in runs.values():  # the cursor passes every run: its preview title too
            assert "\x1b" not in cell(run, "run") + cell(run, "dataset")
            await pilot.press("down")
            await pilot.pause()
        assert app.is_running

        table.move_cursor(row=list(screen.summaries).index(str(runs["markup"])))
        await pilot.press("enter")
        view = app.screen
        assert isinstance(view, RunScreen)
        await wait_for(pilot, lambda: "[/]" in view.charts, what="the chart of the loss named [/]")
        await pilot.pause()
        assert MARKUP in text_of(view.query_one("#run-message"))
        assert "[/]" in text_of(view.query_one("#run-info"))
        assert "[/] 2" in text_of(view.query_one("#run-eval"))
        for chart in view.charts.values():
            assert "\x1b" not in (chart.border_title or "")
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        assert app.is_running and app._exception is None


# -- unreadable files -------------------------------------------------------------------


async def test_unreadable_runs_show_one_line_while_others_list_fine(runs_dir):
    good = fixture_run(runs_dir, "good")
    zero = fixture_run(runs_dir, "zero-metrics")
    (zero / "metrics.jsonl").unlink()
    (zero / "metrics.jsonl").symlink_to("/dev/zero")
    fifo = runs_dir / "fifo-run"
    fifo.mkdir()
    os.mkfifo(fifo / "run.json")
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 3)

        def status(run: Path) -> str:
            return str(table.get_cell(str(run), "status"))

        assert status(good) == "completed"
        # A side file (metrics.jsonl) unreadable: named in the row, the status still
        # run.json's; run.json unreadable: the run is.
        assert status(zero) == "completed" and status(fifo) == "unreadable"
        assert str(table.get_cell(str(zero), "quality")).startswith(
            "metrics.jsonl is a link leading out of the run folder"
        )
        assert "FIFO" in str(table.get_cell(str(fifo), "quality"))

        app.open_run(zero)  # the run's own view: one line, no chart, no hang
        view = app.screen
        await wait_for(pilot, lambda: view.tail.error is not None, what="the error")
        await pilot.pause()
        assert view.tail.status == "completed"
        assert "/dev/zero" in text_of(view.query_one("#run-message"))
        await pilot.press("escape")
        app.open_run(fifo)
        view = app.screen
        await wait_for(pilot, lambda: view.tail.status == "unreadable", what="unreadable")
        await pilot.pause()
        assert "FIFO" in text_of(view.query_one("#run-message"))
        await pilot.press("escape")
        await pilot.pause()
        assert status(good) == "completed" and app.is_running


# -- metrics at a bounded cost -----------------------------------------------------------


def metric_line(step: int, d: float = 1.0) -> bytes:
    return (
        json.dumps(
            {"step": step, "time": step / 100, "img_per_s": 6400.0, "losses": {"d": d, "g": 0.5}}
        ).encode()
        + b"\n"
    )


def test_a_200_mb_metrics_file_is_read_with_bounded_memory_and_points(tmp_path):
    run = fixture_run(tmp_path, "huge")
    path = run / "metrics.jsonl"
    # Real lines at the start (more than a series keeps), a sparse hole, real lines at the end.
    with open(path, "wb") as fh:
        fh.write(b"".join(metric_line(s) for s in range(1, 50_001)))
        fh.truncate(200 << 20)
        fh.seek(0, os.SEEK_END)
        fh.write(b"\n" + b"".join(metric_line(s) for s in range(10_000_000, 10_001_000)))
    size = path.stat().st_size
    assert size > 200 << 20
    tail = RunTail(run)
    tracemalloc.start()
    try:
        changed, _ = tail.poll()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert changed
    assert peak < 40 << 20, f"peak {peak / 2**20:.0f} MiB while reading a 200 MB log"
    h = tail.history
    for steps, values in h.losses.values():
        assert 0 < len(steps) <= SERIES_MAX and len(steps) == len(values)
    assert len(h.steps) <= SERIES_MAX
    assert h.steps[-1] == 10_000_999 == tail.step  # the newest point is kept
    assert h.steps[0] < 50_000  # and the early history is sampled
    assert h.skimmed
    assert not tail.behind
    # A lost run's huge log is read once; then only when it grows.
    assert tail.poll() == (False, False)
    with open(path, "ab") as fh:
        fh.write(metric_line(10_001_000))
    assert tail.poll()[0] and tail.history.steps[-1] == 10_001_000


def test_one_poll_reads_at_most_poll_bytes_and_catches_up(tmp_path):
    run = fixture_run(tmp_path, "long")
    lines = [metric_line(s) for s in range(1, 60_001)]
    (run / "metrics.jsonl").write_bytes(b"".join(lines))
    size = (run / "metrics.jsonl").stat().st_size
    assert POLL_BYTES < size
    tail = RunTail(run)
    tail.poll()
    assert tail.behind and tail._offset <= POLL_BYTES
    polls = 1
    while tail.behind:
        tail.poll()
        polls += 1
    assert polls == -(-size // POLL_BYTES)
    assert tail.history.records == 60_000 and tail.history.steps[-1] == 60_000
    assert len(tail.history.losses["d"][0]) <= SERIES_MAX


def test_bounded_series_keeps_the_newest_point_and_the_extremes():
    series = BoundedSeries(2000)
    for step in range(1, 100_001):
        value = 1000.0 if step == 31_337 else -5.0 if step == 77_777 else (step % 7) / 7
        series.add(step, value)
        assert len(series.columns()[0]) <= 2000 if step % 9973 == 0 else True
    xs, ys = series.columns()
    assert len(xs) <= 2000 and xs == sorted(xs)
    assert xs[-1] == 100_000 and ys[-1] == pytest.approx((100_000 % 7) / 7)
    assert max(ys) == 1000.0 and min(ys) == -5.0
    assert 31_337 in xs and 77_777 in xs
    short = BoundedSeries(2000)
    for step in (10, 20, 30):
        short.add(step, float(step))
    assert short.columns() == ([10, 20, 30], [10.0, 20.0, 30.0])


def test_hostile_metrics_lines_are_skipped(tmp_path):
    run = fixture_run(tmp_path, "odd")
    (run / "metrics.jsonl").write_bytes(
        b"[" * 100_000
        + b"\n"  # nesting bomb
        + b'{"step": 1e999}\n{"step": 10'
        + b"0" * 400
        + b"}\n"  # not a step
        + b'{"step": true}\n{"step": NaN}\n'
        + b"x" * (3 << 20)
        + b"\n"  # an overlong line
        + json.dumps({"step": 5, "losses": {f"l{i}": 1.0 for i in range(1000)}}).encode()
        + b"\n"
        + metric_line(7)
    )
    tail = RunTail(run)
    while True:
        tail.poll()
        if not tail.behind:
            break
    assert tail.history.steps == [5, 7]
    assert len(tail.history.losses) <= 16


# -- a crash exits non-zero ------------------------------------------------------------------


def test_a_crash_of_the_workbench_exits_non_zero(runs_dir, monkeypatch, capsys):
    def boom(self) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(GenbenchApp, "run", lambda self: App.run(self, headless=True))
    monkeypatch.setattr(RunsScreen, "on_mount", boom)
    assert main(["--runs-dir", str(runs_dir)]) == 1
    err = capsys.readouterr().err
    assert "genbench: error: the workbench stopped after an error: RuntimeError: boom" in err


def test_a_normal_quit_exits_zero(runs_dir, monkeypatch):
    def quit_at_once(self) -> None:
        self.set_timer(0.2, self.exit)

    monkeypatch.setattr(GenbenchApp, "run", lambda self: App.run(self, headless=True))
    monkeypatch.setattr(GenbenchApp, "_painted", quit_at_once)
    started = time.monotonic()
    assert main(["--runs-dir", str(runs_dir)]) == 0
    assert time.monotonic() - started < 30


async def test_no_color_run_view_stays_up(runs_dir, monkeypatch):
    """NO_COLOR=1: Textual's monochrome filter met a segment without a style (the
    charts' canvas before it has a size) and the run view crashed."""
    run = fixture_run(runs_dir, "plain")
    monkeypatch.setenv("NO_COLOR", "1")
    app = GenbenchApp(runs_dir, watch=run, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        view = app.screen
        assert isinstance(view, RunScreen)
        # Drawn, then rendered on screen (where the monochrome filter met the canvas).
        await wait_for(
            pilot,
            lambda: any(c.points and c._scale_rectangle.width > 0 for c in view.charts.values()),
            what="a chart drawn and rendered",
        )
        assert app.is_running and app._exception is None


def test_without_a_terminal_the_workbench_refuses_in_one_line(tmp_path):
    """`genbench watch RUN < /dev/null | head` drew into the pipe and then spun at a
    full core for as long as it was left; now it is one line and exit 2."""
    import subprocess
    import sys

    for argv in (["watch", str(tmp_path)], ["--runs-dir", str(tmp_path)]):
        if argv[0] == "watch":
            (tmp_path / "run.json").write_text(json.dumps({"model": "gan", "dataset": "ring8"}))
        out = subprocess.run(
            [sys.executable, "-m", "genbench", *argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, out.stderr[-500:]
        assert out.stderr.strip().count("\n") == 0 and "needs a terminal" in out.stderr
