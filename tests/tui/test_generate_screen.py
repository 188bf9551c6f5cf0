"""The generate view: opened from the run view with `g`, grids drawn on request by a
`genbench sample --serve` process (new noise, a walk stepped with ←/→, a label
picker for a conditional model), the process gone when the view closes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from genbench.tui.app import GenbenchApp
from genbench.tui.generator import GeneratorProcess
from genbench.tui.screens.generate import WALK_STEPS, GenerateScreen
from tests.tui_support import copy_fixture_runs, text_of, wait_for, wait_until_still

LOAD_S = 120  # the generator imports torch and restores the run: seconds on a busy CI


def _train(root: Path, model: str) -> Path:
    from genbench.cli import main

    args = ["run", "--headless", "--model", model, "--dataset", "fashion-mnist"]
    args += ["--steps", "30", "--threads", "1", "--eval-every", "30"]
    assert main([*args, "--runs-dir", str(root), "--name", model]) == 0
    return root / model


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    from genbench.data import get_dataset

    if not get_dataset("fashion-mnist").availability().ok:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    root = tmp_path_factory.mktemp("generate") / "runs"
    return {m: _train(root, m) for m in ("dcgan", "cgan")}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Grids:
    """The grids the view shows, read the moment they appear (the view removes a
    grid's file once the next one is on screen)."""

    def __init__(self, pilot) -> None:
        self.pilot = pilot
        self.path: Path | None = None
        self.bytes = b""

    @property
    def screen(self) -> GenerateScreen:
        screen = self.pilot.app.screen
        assert isinstance(screen, GenerateScreen)
        return screen

    def _settled(self) -> bool:
        s = self.screen
        if s.shown is None or s.in_flight is not None or s.pending is not None:
            return False
        if s.shown != self.path:
            self.path, self.bytes = s.shown, s.shown.read_bytes()
        return True

    async def next(self, *keys: str) -> bytes:
        """Press ``keys``; the grid of the last wish, once drawn."""
        before = self.path
        await self.pilot.press(*keys)
        await wait_for(
            self.pilot,
            lambda: self._settled() and self.path != before,
            timeout=LOAD_S,
            what=f"the grid after {keys}",
        )
        return self.bytes


async def open_generate(pilot) -> Grids:
    await pilot.press("g")
    grids = Grids(pilot)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, GenerateScreen), what="the view")
    await wait_for(pilot, grids._settled, timeout=LOAD_S, what="the first grid")
    return grids


async def test_new_noise_and_a_walk_there_and_back(runs):
    app = GenbenchApp(runs["dcgan"].parent, watch=runs["dcgan"], run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        grids = await open_generate(pilot)
        screen = grids.screen
        first = grids.bytes
        assert first.startswith(b"\x89PNG")
        title = text_of(screen.query_one("#generate-title"))
        assert "dcgan on fashion-mnist" in title and "checkpoint step 30" in title
        assert "seed 0" in text_of(screen.query_one("#generate-status"))

        noise = await grids.next("n")
        assert noise != first and screen.wanted["seed"] == 1
        walked = await grids.next("right")
        assert walked not in (noise, first)
        assert screen.wanted["walk"] == {"from": 1, "to": 2, "t": 1 / WALK_STEPS}
        assert "seed 1 → 2" in text_of(screen.query_one("#generate-status"))
        back = await grids.next("left")
        assert back == noise and screen.wanted["walk"] is None

        pid, folder = screen.generator.pid, screen.generator.folder
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, GenerateScreen), what="back")
        await wait_for(pilot, lambda: gone(pid), what="the generator process to end")
        assert not folder.exists()


async def test_a_held_key_does_not_queue_stale_grids(runs):
    app = GenbenchApp(runs["dcgan"].parent, watch=runs["dcgan"], run_choices_loader=None)
    async with app.run_test(size=(80, 24)) as pilot:
        grids = await open_generate(pilot)
        screen = grids.screen
        sent: list[dict] = []
        send = screen._send
        screen._send = lambda wish: (sent.append(wish), send(wish))  # type: ignore[method-assign]
        pid = screen.generator.pid
        # The worker held still while the key is held: however fast or slow this
        # machine presses keys, the first press's request stays in flight meanwhile.
        os.kill(pid, signal.SIGSTOP)
        try:
            await pilot.press(*["right"] * 12)
        finally:
            os.kill(pid, signal.SIGCONT)
        await grids.next()
        # one request in flight at a time, and only the newest wish behind it
        assert [w["walk"] for w in sent] == [
            {"from": 0, "to": 1, "t": 1 / WALK_STEPS},
            {"from": 1, "to": 2, "t": 4 / WALK_STEPS},
        ]
    await wait_for_gone(pid)  # the app closed with the view open


async def wait_for_gone(pid: int) -> None:
    from tests.waiting import wait_until

    wait_until(lambda: gone(pid), timeout=30, what="the generator process to end")


async def test_the_label_picker_of_a_conditional_run(runs):
    app = GenbenchApp(runs["cgan"].parent, watch=runs["cgan"], run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        grids = await open_generate(pilot)
        screen = grids.screen
        everything = grids.bytes
        # all classes: a row of 8 per class
        assert screen.wanted["labels"] == [c for c in range(10) for _ in range(8)]
        assert "label all classes" in text_of(screen.query_one("#generate-status"))
        trousers = await grids.next("l", "down", "down", "enter")  # all, T-shirt, Trouser
        assert screen.wanted["labels"] == [1] * 16 and trousers != everything
        assert "label Trouser" in text_of(screen.query_one("#generate-status"))
        walked = await grids.next("right")  # the picker gave the keys back to the screen
        assert screen.wanted["labels"] == [1] * 16 and walked != trousers
        truncated = await grids.next("t")
        assert screen.wanted["truncation"] == 1.0 and truncated != walked


async def test_a_run_without_a_checkpoint_says_so_and_starts_nothing(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, watch=runs / "ring8-gan", run_choices_loader=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GenerateScreen), what="the view")
        assert app.screen.generator is None
        assert "no checkpoint yet" in text_of(app.screen.query_one("#generate-message"))


async def test_a_generator_that_dies_is_one_line(runs):
    app = GenbenchApp(runs["dcgan"].parent, watch=runs["dcgan"], run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        grids = await open_generate(pilot)
        screen = grids.screen
        screen.generator.proc.kill()
        await wait_for(pilot, lambda: screen.problem is not None, what="the line")
        line = text_of(screen.query_one("#generate-message"))
        assert "the generator stopped (exit code -9)" in line and "Traceback" not in line
        await pilot.press("n")  # asking a dead generator is the same line, not a crash
        await wait_until_still(pilot)
        assert "the generator stopped" in text_of(screen.query_one("#generate-message"))
        await grids.next("r")  # r starts it again
        assert screen.problem is None and screen.generator.alive()


# Screenshots of the view without a checkpoint only: a grid's pixels come from torch's
# arithmetic, which differs in the last bits between CPUs (and its kernels), and a
# changed bit of one sample changes a half-block's colour in the SVG.
@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_without_a_checkpoint(snap_compare, tmp_path, size):
    copy_fixture_runs(tmp_path / "runs")
    runs = Path("runs")  # relative to the test's own folder, so the title never varies

    async def run_before(pilot) -> None:
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, GenerateScreen))
        await wait_until_still(pilot)

    app = GenbenchApp(runs, watch=runs / "ring8-gan", run_choices_loader=None)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_a_workbench_killed_outright_leaves_no_process_and_no_grids(runs):
    """The app killed (SIGKILL, a closed terminal): the OS closes the generator's
    stdin, nothing else; the generator ends and takes its grids and folder along."""
    from tests.waiting import wait_until

    generator = GeneratorProcess(runs["dcgan"])
    try:
        assert generator.read()["ready"] is True
        assert generator.send({"id": 1, "seed": 0})
        grid = generator.grid(generator.read())
        assert grid is not None and grid.is_file()
        generator.proc.stdin.close()  # what the app's death does, and only that
        wait_until(lambda: not generator.alive(), timeout=60, what="the generator to end")
        assert generator.proc.returncode == 0 and not generator.folder.exists()
    finally:
        generator.close()
