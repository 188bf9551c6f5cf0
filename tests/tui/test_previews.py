"""Sample previews: which kind a terminal gets (pixels, half blocks, ASCII), the
maximised sample view stepping through a run's grids, and `genbench show` sized to
the terminal."""

from __future__ import annotations

import os
import shutil
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region

from genbench import terminal_image
from genbench.cli import main
from genbench.tui.screens.samples import SamplesScreen
from genbench.tui.widgets.sample_preview import SamplePreview, colour_wanted
from tests.tui_support import FIXTURE_RUNS, text_of, wait_for


@pytest.mark.parametrize(
    ("env", "tty", "mode"),
    [
        ({"GENBENCH_PREVIEW": "sixel"}, False, "sixel"),  # forced: even into a pipe
        ({"GENBENCH_PREVIEW": "Kitty "}, False, "kitty"),
        ({"GENBENCH_PREVIEW": "halfblock", "NO_COLOR": "1"}, True, "halfblock"),
        ({"GENBENCH_PREVIEW": "ascii", "KITTY_WINDOW_ID": "1"}, True, "ascii"),
        ({"NO_COLOR": "1", "KITTY_WINDOW_ID": "1"}, True, "ascii"),
        ({"KITTY_WINDOW_ID": "1", "TERM": "xterm-kitty"}, True, "kitty"),
        ({"TERM": "foot"}, True, "sixel"),
        ({"TERM_PROGRAM": "WezTerm"}, True, "sixel"),
        ({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"}, True, "halfblock"),
        ({"TERM": "screen-256color", "TERM_PROGRAM": "WezTerm"}, True, "halfblock"),
        ({"KITTY_WINDOW_ID": "1"}, False, "halfblock"),  # not a terminal
        ({"GENBENCH_PREVIEW": "sixels-please", "TERM": "xterm"}, True, "halfblock"),
        ({"GENBENCH_PREVIEW": "auto", "TERM": "xterm-256color"}, True, "halfblock"),
    ],
)
def test_preview_mode_follows_the_setting_then_the_terminal(env, tty, mode):
    assert terminal_image.preview_mode(env, tty=tty) == mode


def test_under_pytest_the_mode_is_half_blocks_without_asking_the_terminal(monkeypatch):
    for name in ("GENBENCH_PREVIEW", "NO_COLOR", "TMUX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-kitty")
    # pytest captures fd 1: stdout is no terminal, so nothing is written to one.
    assert terminal_image.preview_mode() == "halfblock"


@pytest.mark.parametrize(
    ("env", "colour"),
    [
        ({}, True),
        ({"NO_COLOR": "1"}, False),
        ({"GENBENCH_PREVIEW": "ascii"}, False),
        ({"NO_COLOR": "1", "GENBENCH_PREVIEW": "sixel"}, True),
    ],
)
def test_the_widget_starts_in_ascii_when_asked(monkeypatch, env, colour):
    for name in ("GENBENCH_PREVIEW", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert colour_wanted() is colour


def grid_png(path: Path, shade: int, size: int = 64) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((size, size, 3), shade, np.uint8)
    pixels[: size // 2, : size // 2] = (255, 0, 0)
    Image.fromarray(pixels).save(path)


class PreviewApp(App):
    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        yield SamplePreview(self.path, id="p")


async def test_sixel_mode_draws_real_pixels_and_a_toggles_ascii(tmp_path, monkeypatch):
    monkeypatch.setenv("GENBENCH_PREVIEW", "sixel")
    monkeypatch.delenv("NO_COLOR", raising=False)
    path = tmp_path / "run" / "samples" / "latest.png"
    grid_png(path, 40)
    app = PreviewApp(path)
    async with app.run_test(size=(60, 20)) as pilot:
        preview = app.query_one(SamplePreview)
        await wait_for(pilot, lambda: preview._pixels is not None, what="a pixel widget")
        assert preview.mode == "sixel" and preview.colour
        await pilot.pause()
        # textual-image's Sixel widget puts the encoded image into its last line.
        assert preview._pixels is not None
        impl = preview._pixels.children[0]
        width, height = impl.content_size
        assert width > 0 and height > 0
        lines = impl.render_lines(Region(0, 0, width, height))
        data = "".join(segment.text for segment in lines[-1])
        assert "\x1bP" in data and "\x1b\\" in data  # a Sixel image, begun and ended
        preview.set_colour(False)  # the run view's `a`
        await wait_for(pilot, lambda: not preview.busy, what="the ASCII grid")
        assert preview._pixels is None and preview.mode == "ascii"
        assert set(text_of(preview).strip()) <= set(terminal_image.RAMP + "\n ")


class KeyCountingApp(PreviewApp):
    BINDINGS = [("x", "count", "count")]
    presses = 0

    def action_count(self) -> None:
        self.presses += 1


async def test_a_grid_is_decoded_off_the_event_loop_and_only_the_latest_drawn(
    tmp_path, monkeypatch
):
    """Decoding a grid takes tens of milliseconds (many times that under load): keys
    are answered meanwhile, and of grids asked for while one decodes only the last is
    drawn (a held j in the runs list)."""
    monkeypatch.setenv("GENBENCH_PREVIEW", "halfblock")
    monkeypatch.delenv("NO_COLOR", raising=False)
    first, second, third = (tmp_path / n / "samples" / "latest.png" for n in "abc")
    grid_png(first, 40)
    grid_png(second, 120)
    grid_png(third, 200)
    release = threading.Event()
    decoded_on: list[str] = []
    real_render = terminal_image.render_png

    def slow_render(path, **kwargs):
        decoded_on.append(threading.current_thread().name)
        release.wait(timeout=30)
        return real_render(path, **kwargs)

    monkeypatch.setattr(terminal_image, "render_png", slow_render)
    app = KeyCountingApp(first)
    async with app.run_test(size=(60, 20)) as pilot:
        preview = app.query_one(SamplePreview)
        await wait_for(pilot, lambda: decoded_on, what="the first decode")
        await pilot.press("x", "x")  # answered while the decode still waits
        assert app.presses == 2 and preview.busy
        for path in (second, third):
            preview.path = path
            preview.reload(force=True)
        release.set()
        await wait_for(pilot, lambda: not preview.busy, what="the last grid")
        assert threading.main_thread().name not in decoded_on
        assert len(decoded_on) == 2, "the grid asked for in between is never decoded"
        want = real_render(
            third,
            max_cols=preview.content_size.width,
            max_rows=preview.content_size.height,
            color=True,
            run_dir=third.parent.parent,
        )
        assert shown(preview).plain == want.plain and shown(preview).spans == want.spans


def bomb_png(path: Path) -> None:
    """A valid PNG header claiming 30000x30000 pixels (refused before decoding)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    path.write_bytes(
        terminal_image.PNG_SIGNATURE
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


def shown(preview: SamplePreview) -> Text:
    content = preview.content
    assert isinstance(content, Text)
    return content


def step_label(app) -> str:
    return text_of(app.screen.query_one("#samples-step"))


async def test_samples_screen_steps_through_the_grids_and_survives_bad_files(tmp_path, monkeypatch):
    monkeypatch.delenv("GENBENCH_PREVIEW", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    run = tmp_path / "run"
    for step, shade in ((500, 30), (1000, 120), (1500, 220)):
        grid_png(run / "samples" / f"step-{step:07d}.png", shade)
    grid_png(run / "samples" / "latest.png", 220)
    (run / "samples" / "notes.txt").write_text("not a grid")
    (run / "samples" / "step-abc.png").write_text("not a step")
    app: App = App()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = SamplesScreen(run)
        app.push_screen(screen)
        await wait_for(pilot, lambda: screen.step == 1500, what="the latest grid")
        assert "step 1500" in step_label(app) and "3 of 3" in step_label(app)
        preview = screen.query_one(SamplePreview)
        drawn = {}
        for key, step in (
            ("left", 1000),
            ("left_square_bracket", 500),
            ("left", 500),
            ("end", 1500),
            ("home", 500),
            ("right", 1000),
            ("right_square_bracket", 1500),
        ):
            await pilot.press(key)
            await pilot.pause()
            assert screen.step == step, key
            assert f"step {step} " in step_label(app)
            assert "▀" in text_of(preview)
            # Which grid was drawn: the colours of its half blocks.
            drawn[step] = " ".join(str(span.style) for span in shown(preview).spans)
        assert len(set(drawn.values())) == 3  # three different grids were drawn

        # A newer grid appears while the latest is shown: the view moves on to it.
        grid_png(run / "samples" / "step-0002000.png", 90)
        screen.rescan()
        await pilot.pause()
        assert screen.step == 2000
        await pilot.press("home")
        grid_png(run / "samples" / "step-0002500.png", 90)
        screen.rescan()
        await pilot.pause()
        assert screen.step == 500  # looking back: stays there

        # Hostile step files: a link out of the run, a pixel bomb, garbage bytes.
        outside = tmp_path / "outside.png"
        grid_png(outside, 10)
        os.symlink(outside, run / "samples" / "step-0003000.png")
        bomb_png(run / "samples" / "step-0003500.png")
        (run / "samples" / "step-0004000.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage" * 10)
        screen.rescan()
        await pilot.press("end")
        await pilot.pause()
        for step, words in (
            (4000, "cannot be read"),
            (3500, "over the"),
            (3000, "link leading out"),
        ):
            assert screen.step == step
            line = shown(preview).plain  # one message (the screen may wrap it)
            assert words in line and "\n" not in line.strip(), line
            assert preview._pixels is None
            await pilot.press("left")
            await pilot.pause()
        assert screen.step == 2500 and "▀" in text_of(preview)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is not screen


def show_run(tmp_path: Path) -> Path:
    run = tmp_path / "ring8-gan"
    shutil.copytree(FIXTURE_RUNS / "ring8-gan", run)
    return run


def preview_lines(out: str) -> list[str]:
    """The half-block or ASCII rows `genbench show` printed, between the summary
    and the 'samples:' line."""
    lines = out.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("samples: "))
    start = (
        next(
            i
            for i, line in enumerate(lines)
            if line.startswith("quality") or line.startswith("last losses")
        )
        + 1
    )
    return lines[start:end]


@pytest.mark.parametrize(("columns", "lines"), [(40, 60), (200, 70), (200, 20)])
def test_show_sizes_its_preview_to_the_terminal(tmp_path, monkeypatch, capsys, columns, lines):
    monkeypatch.delenv("GENBENCH_PREVIEW", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("LINES", str(lines))
    assert main(["show", str(show_run(tmp_path))]) == 0
    out = capsys.readouterr().out
    rows = preview_lines(out)
    width = max(len(row) for row in rows)
    assert width <= columns
    assert len(out.splitlines()) <= max(lines, 8 + 8)  # summary and grid on one screen
    if columns == 40:
        assert width >= 36  # the whole width: the square grid is width-bound
    elif lines == 70:
        assert width > 100  # far beyond the old fixed 64 columns
    else:
        assert len(rows) < 20  # height-bound: fewer rows than the old fixed 20


def test_show_draws_sixel_when_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENBENCH_PREVIEW", "sixel")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "30")
    assert main(["show", str(show_run(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "\x1bP0;0;0q" in out and "\x1b\\" in out  # a Sixel image, begun and ended
    assert "samples: " in out


def test_show_refuses_a_pixel_bomb_in_pixel_mode_too(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENBENCH_PREVIEW", "kitty")
    run = show_run(tmp_path)
    bomb_png(run / "samples" / "latest.png")
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out
    assert "samples unreadable" in out and "over the" in out and "\x1b_G" not in out


PROBE = (
    "import sys; from genbench import terminal_image as t; "
    "sixel = t.probe_terminal(); sys.stderr.write(f'{sixel} {tuple(t.cell_pixels())} "
    "{t.preview_mode()}')"
)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b"\x1b[6;18;9t\x1b[?63;1;2;4;6;9;15;22c", "True (9, 18) sixel"),  # xterm -ti vt340
        (b"\x1b[?62;22c", "False (10, 20) halfblock"),  # no Sixel, no 16t
        (None, "False (10, 20) halfblock"),  # never answers
    ],
)
def test_probe_asks_a_terminal_once_and_never_waits_forever(answer, expected):
    """On a pseudo-terminal: the answer to DA1 (and to the cell-size question)
    decides Sixel and the cell size; a terminal that says nothing costs the
    timeout, then half blocks."""
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("GENBENCH_PREVIEW", "NO_COLOR", "TMUX", "STY", "TERM_PROGRAM", "KITTY_WINDOW_ID")
    }
    env["TERM"] = "xterm"
    child = subprocess.Popen(
        [sys.executable, "-c", PROBE], stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=env
    )
    os.close(slave)
    asked = b""
    while b"\x1b[c" not in asked:
        asked += os.read(master, 100)
    assert asked.endswith(b"\x1b[16t\x1b[c")
    if answer is not None:
        os.write(master, answer)
    _, err = child.communicate(timeout=60)
    os.close(master)
    assert err.decode() == expected


def test_show_names_a_preview_setting_it_does_not_know(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENBENCH_PREVIEW", "sixels\x1b[31m")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["show", str(show_run(tmp_path))]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "\x1b" not in captured.err
    assert "GENBENCH_PREVIEW=sixels[31m is none of auto, kitty, sixel" in captured.err
    assert "▀" in captured.out or "samples: " in captured.out  # drawn as detected


async def test_v_in_the_run_view_opens_that_runs_grids_maximised(tmp_path):
    from genbench.tui.app import GenbenchApp

    run = tmp_path / "ring8-gan"
    shutil.copytree(FIXTURE_RUNS / "ring8-gan", run)
    for step, shade in ((500, 30), (1000, 120)):
        grid_png(run / "samples" / f"step-{step:07d}.png", shade)
    app = GenbenchApp(tmp_path, watch=run, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunScreen", what="run view")
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, SamplesScreen), what="samples")
        screen = app.screen
        assert isinstance(screen, SamplesScreen)
        await wait_for(pilot, lambda: screen.step == 1000, what="the latest grid")
        await pilot.press("left")
        await pilot.pause()
        assert screen.step == 500
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunScreen", what="back")


@pytest.mark.parametrize(
    "env, asks",
    [
        ({"TERM": "xterm"}, True),  # plain xterm: only asking tells
        ({"TERM": "xterm", "TMUX": "/tmp/t,1,0"}, False),  # tmux: half blocks whatever it says
        ({"TERM": "xterm-kitty"}, False),  # known by its variables
        ({"TERM": "xterm", "GENBENCH_PREVIEW": "halfblock"}, False),
        ({"TERM": "xterm", "NO_COLOR": "1"}, False),
    ],
)
def test_the_workbench_asks_the_terminal_only_when_the_answer_decides(env, asks):
    assert terminal_image.probe_would_decide(env) is asks
