"""Managing runs from the runs list, part two: R renames a run's folder (never a
running one), N keeps a note in note.txt and the table shows it (a hostile note.txt
never hangs or breaks the table), a running run's progress column, C clones, and
the per-run resource monitor (CPU and memory of the trainer named by pid *and*
start time)."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from genbench.errors import UsageError
from genbench.runfolder.notes import NOTE_FILE, NOTE_MAX, read_note, rename_run, write_note
from genbench.runfolder.ownership import process_start
from genbench.runfolder.record import RunRecord
from genbench.tui.app import GenbenchApp
from genbench.tui.resources import ResourceMonitor, Usage
from genbench.tui.screens.dialogs import HelpScreen, NoteDialog, RenameDialog
from genbench.tui.screens.runs import Pace, RunsScreen, progress_text
from tests.tui_support import copy_fixture_runs, stand_in_for_trainer, wait_for

SIZE = (120, 40)


def rows(app: GenbenchApp) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [Path(str(row.key.value)).name for row in table.ordered_rows]


def cursor_run(app: GenbenchApp) -> str:
    return rows(app)[app.screen.query_one(DataTable).cursor_row]


def cell(app: GenbenchApp, run: Path, column: str) -> str:
    # The row's cell whether or not its column is shown (the note column is left out
    # while no run has a note).
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    return screen.cell_text(str(run), column)


def make_running(run: Path, **fields) -> None:
    """Make a fixture run look as if this test process were training it (holding its
    lock, as a trainer does)."""
    stand_in_for_trainer(run)
    meta = json.loads((run / "run.json").read_text())
    meta.update(
        status="running",
        host=socket.gethostname(),
        pid=os.getpid(),
        pid_start=process_start(os.getpid()),
        heartbeat=time.time(),
        **fields,
    )
    (run / "run.json").write_text(json.dumps(meta))


def recording(app: GenbenchApp) -> list[str]:
    notes: list[str] = []
    original = app.notify

    def record(message, **kwargs):
        notes.append(str(message))
        return original(message, **kwargs)

    app.notify = record  # type: ignore[method-assign]
    return notes


# -- rename ---------------------------------------------------------------------------


async def test_rename_refuses_a_running_run(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    live = runs / "ring8-gan"
    make_running(live)
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        notes = recording(app)
        await pilot.press("j")
        assert cursor_run(app) == "ring8-gan"
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen), "no dialog for a running run"
        assert notes and "running" in notes[-1]
        assert live.is_dir() and rows(app) == ["grid25-gan", "ring8-gan", "ring8-lost"]
    # The core refuses too, whoever calls it (the list may be a second old).
    with pytest.raises(UsageError, match="running"):
        rename_run(live, "renamed")
    assert live.is_dir() and not (runs / "renamed").exists()


async def test_rename_moves_a_finished_run_and_its_mark_and_cursor_follow(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await pilot.press("j", "space", "k")  # mark ring8-gan (space moves on)
        assert screen.marked == {runs / "ring8-gan"} and cursor_run(app) == "ring8-gan"
        await pilot.press("R")
        assert isinstance(app.screen, RenameDialog)
        box = app.screen.query_one("#rename-name", Input)
        assert box.value == "ring8-gan"
        box.value = "ring8-lost"  # taken: refused, dialog stays
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RenameDialog)
        assert "already exists" in str(app.screen.query_one("#rename-error").content)
        box.value = "bad/name"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RenameDialog)
        assert "'/'" in str(app.screen.query_one("#rename-error").content)
        box.value = "baseline-ring8"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "baseline-ring8" in rows(app), what="the new row")
        assert not (runs / "ring8-gan").exists()
        assert (runs / "baseline-ring8" / "run.json").is_file()
        assert rows(app) == ["baseline-ring8", "grid25-gan", "ring8-lost"]
        assert cursor_run(app) == "baseline-ring8"
        assert screen.marked == {runs / "baseline-ring8"}
        assert cell(app, runs / "baseline-ring8", "mark") == "●"
        await pilot.press("R", "escape")  # escape renames nothing
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and (runs / "baseline-ring8").is_dir()


def test_rename_never_moves_a_link_or_onto_a_taken_name(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (runs / "link").symlink_to(outside)
    with pytest.raises(UsageError, match="not a run folder"):
        rename_run(runs / "link", "moved")
    with pytest.raises(UsageError, match="already exists"):
        rename_run(runs / "grid25-gan", "ring8-gan")
    with pytest.raises(UsageError, match="not a valid folder name"):
        rename_run(runs / "grid25-gan", "../escape")
    assert (runs / "grid25-gan").is_dir() and outside.is_dir() and (runs / "link").is_symlink()


# -- notes ----------------------------------------------------------------------------


async def test_a_note_written_in_the_dialog_lands_in_note_txt_and_the_table(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        await pilot.press("j", "N")
        assert isinstance(app.screen, NoteDialog)
        await pilot.press(*"lr 2e-4 [bold]x[/bold]")  # markup stays text
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        note = runs / "ring8-gan" / NOTE_FILE
        assert note.read_text() == "lr 2e-4 [bold]x[/bold]\n"
        assert cell(app, runs / "ring8-gan", "note") == "lr 2e-4 [bold]x[/bold]"
        assert cell(app, runs / "grid25-gan", "note") == ""
        # Edited: the dialog starts from the note; an empty one removes the file.
        await pilot.press("N")
        box = app.screen.query_one("#note-text", Input)
        assert box.value == "lr 2e-4 [bold]x[/bold]"
        box.value = ""
        await pilot.press("enter")
        await pilot.pause()
        assert not note.exists() and cell(app, runs / "ring8-gan", "note") == ""
        # A note written elsewhere (another shell, a copied run) shows on the next poll.
        write_note(runs / "grid25-gan", "from the CLI")
        await wait_for(
            pilot,
            lambda: cell(app, runs / "grid25-gan", "note") == "from the CLI",
            what="the note from elsewhere",
        )


def hostile_notes(runs: Path) -> dict[str, str]:
    """note.txt in each fixture run made hostile; what the note cell must contain."""
    fifo = runs / "grid25-gan" / NOTE_FILE
    os.mkfifo(fifo)  # no writer: a plain open blocks forever
    (runs / "ring8-gan" / NOTE_FILE).symlink_to("/dev/zero")
    with open(runs / "ring8-lost" / NOTE_FILE, "wb") as fh:
        fh.truncate(10 << 20)  # 10 MB
    return {"grid25-gan": "FIFO", "ring8-gan": "link", "ring8-lost": "MiB"}


async def test_a_hostile_note_never_hangs_or_breaks_the_table(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    expected = hostile_notes(runs)
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        for name, why in expected.items():
            text = cell(app, runs / name, "note")
            assert text.startswith("note unreadable") and why in text, (name, text)
            assert cell(app, runs / name, "status") != "unreadable"  # the run itself is fine
        # A note of control characters and escapes shows as harmless text.
        os.unlink(runs / "grid25-gan" / NOTE_FILE)
        (runs / "grid25-gan" / NOTE_FILE).write_text("ok\x1b[31m red\x07\r\nnext\x1b]0;t\x07")
        await wait_for(
            pilot,
            lambda: cell(app, runs / "grid25-gan", "note").startswith("ok"),
            what="the control-character note",
        )
        text = cell(app, runs / "grid25-gan", "note")
        assert not any(ord(c) < 32 or ord(c) == 0x7F for c in text), repr(text)
        # A new note over a link to /dev/zero is refused, never written through.
        await pilot.press("j", "N")
        assert isinstance(app.screen, NoteDialog)
        assert app.screen.query_one("#note-text", Input).value == ""
        await pilot.press(*"fresh", "enter")
        await pilot.pause()
        assert (runs / "ring8-gan" / NOTE_FILE).is_symlink()  # untouched: the write refused
        assert cell(app, runs / "ring8-gan", "note").startswith("note unreadable")


def test_write_note_is_capped_and_read_note_refuses_what_it_did_not_write(tmp_path):
    run = copy_fixture_runs(tmp_path / "runs") / "ring8-gan"
    with pytest.raises(UsageError, match="at most 4096 bytes"):
        write_note(run, "x" * (NOTE_MAX + 1))
    write_note(run, "é" * 100)
    assert read_note(run) == "é" * 100 + "\n"
    (run / NOTE_FILE).write_bytes(b"\xff\xfe not text")
    with pytest.raises(UsageError, match="not UTF-8"):
        read_note(run)


# -- progress and clone -----------------------------------------------------------------


async def test_progress_column_for_a_half_done_running_run(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    live = runs / "ring8-gan"
    make_running(live, step=1000, steps=2000)
    # 1000 steps in 50 s of training: 20 steps/s, 1000 left: 50 s.
    (live / "metrics.jsonl").write_text(
        json.dumps(
            {"step": 1000, "time": 50.0, "img_per_s": 1280.0, "losses": {"d": 1.0, "g": 0.5}}
        )
        + "\n"
    )
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        assert cell(app, live, "progress") == "50% 50s"
        # Finished, stopped or lost runs have no progress to show.
        assert {cell(app, runs / n, "progress") for n in ("grid25-gan", "ring8-lost")} == {"—"}
        # The trainer's CPU and memory (this process: the pid and start time match).
        assert cell(app, live, "cpu").endswith("%")
        assert cell(app, live, "mem")[-1] in "KMG"
        assert cell(app, runs / "grid25-gan", "cpu") == cell(app, runs / "grid25-gan", "mem") == ""
        # Later: the pace over the last records, not the average since the start.
        with open(live / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps({"step": 1500, "time": 100.0, "losses": {"d": 1.0}}) + "\n")
        make_running(live, step=1500, steps=2000)
        # 500 steps in 50 s: 10 steps/s, 500 left.
        await wait_for(pilot, lambda: cell(app, live, "progress") == "75% 50s", what="the new pace")


def test_progress_text_and_pace():
    assert progress_text("running", 500, 2000, None) == "25%"
    assert progress_text("running", 500, 2000, 10.0) == "25% 2m30s"
    assert progress_text("running", 500, None, 10.0) == "—"
    assert progress_text("completed", 2000, 2000, 10.0) == "—"
    pace = Pace()
    assert pace.per_second() is None
    pace.add(100, 10.0)
    assert pace.per_second() == 10.0
    pace.add(100, 10.0)  # the same record again: no change
    pace.add(300, 30.0)
    assert pace.per_second() == 10.0
    pace.add(400, 130.0)  # slowed down
    assert pace.per_second() == pytest.approx(300 / 120)
    pace.add(200, 20.0)  # resumed from the checkpoint at step 200
    assert pace.per_second() == 10.0


async def test_shift_c_clones_through_the_app_or_says_it_cannot(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    cloned: list[Path] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        notes = recording(app)
        # The app's own clone_run (the new-run form's side) is stood in for.
        app.clone_run = cloned.append  # type: ignore[attr-defined]
        await pilot.press("j", "C")
        await pilot.pause()
        assert cloned == [runs / "ring8-gan"]
        app.clone_run = None  # type: ignore[attr-defined]
        await pilot.press("C")
        await pilot.pause()
        assert cloned == [runs / "ring8-gan"] and "not available" in notes[-1]


async def test_help_lists_the_new_keys_after_genbench_s_own_first(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        names = [key for key, _ in app.screen.keys]
        listed = dict(app.screen.keys)
        assert listed["R"].startswith("rename") and "not while running" in listed["R"]
        assert "note.txt" in listed["N"] and listed["C"].startswith("new run with this run's")
        assert names[0] == "⏎"
        assert max(names.index(k) for k in ("R", "N", "C")) < names.index("↑")


# -- resources --------------------------------------------------------------------------


def own_record(**fields) -> RunRecord:
    base = dict(
        model="gan",
        dataset="ring8",
        host=socket.gethostname(),
        pid=os.getpid(),
        pid_start=process_start(os.getpid()),
        heartbeat=time.time(),
    )
    return RunRecord(**{**base, **fields})


def test_the_monitor_measures_this_process_by_pid_and_start_time():
    monitor = ResourceMonitor()
    first = monitor.sample(own_record())
    assert isinstance(first, Usage) and first.cpu_percent >= 0 and first.rss > 0
    sum(i * i for i in range(300_000))  # some CPU between the two looks
    second = monitor.sample(own_record())
    assert second is not None and second.cpu_percent >= 0 and second.rss > 0
    assert second.text().startswith("CPU ") and " MEM " in second.text()
    assert second.gpu_percent is None and "GPU" not in second.text()  # trains on cpu


@pytest.mark.parametrize(
    "fields",
    [
        {"pid_start": (process_start(os.getpid()) or 0) + 1},  # the pid, reused by another
        {"host": "another-machine"},
        {"pid": None},
    ],
)
def test_the_monitor_never_attributes_another_process(fields):
    assert ResourceMonitor().sample(own_record(**fields)) is None


def test_no_nvml_means_no_gpu_figures_and_no_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    usage = ResourceMonitor().sample(own_record(device="cuda:0"))
    assert usage is not None and usage.rss > 0
    assert usage.gpu_percent is None and usage.gpu_memory is None and usage.gpu_text() == ""


def test_runs_json_has_each_note_and_says_why_one_cannot_be_read(tmp_path, capsys):
    from genbench.cli import main

    runs = copy_fixture_runs(tmp_path / "runs")
    write_note(runs / "ring8-gan", "baseline\x1b[31m")
    os.mkfifo(runs / "ring8-lost" / NOTE_FILE)
    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0
    out = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert out["ring8-gan"]["note"] == "baseline\x1b[31m"  # JSON escapes it: \u001b
    assert out["grid25-gan"]["note"] == ""
    assert out["ring8-lost"]["note"] is None and "FIFO" in out["ring8-lost"]["note_error"]


class FakeNvml:
    """NVML as nvidia-ml-py presents it, with one GPU on which ``pid`` holds 2 GiB."""

    def __init__(self, pid: int):
        self.pid, self.shut = pid, False

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shut = True

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        from types import SimpleNamespace

        if handle == 0:  # someone else's job on GPU 0
            return [SimpleNamespace(pid=1, usedGpuMemory=40 << 30)]
        return [SimpleNamespace(pid=self.pid, usedGpuMemory=2 << 30)]

    def nvmlDeviceGetUtilizationRates(self, handle):
        from types import SimpleNamespace

        return SimpleNamespace(gpu=[99, 71][handle], memory=0)


def test_a_cuda_trainer_gets_its_gpu_and_memory_from_nvml(monkeypatch):
    nvml = FakeNvml(os.getpid())
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monitor = ResourceMonitor()
    usage = monitor.sample(own_record(device="cuda:1"))
    assert usage is not None
    # The GPU it is on (71%), not the busier one it is not on; only its own memory.
    assert (usage.gpu_percent, usage.gpu_memory) == (71.0, 2 << 30)
    assert usage.text().endswith("GPU 71% 2.0G")
    cpu_only = monitor.sample(own_record(device="cpu"))
    assert cpu_only is not None and cpu_only.gpu_percent is None
    monitor.close()
    assert nvml.shut


async def test_the_run_view_shows_a_running_trainers_cpu_and_memory(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    run = runs / "ring8-gan"
    make_running(run)
    app = GenbenchApp(runs, watch=run, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunScreen", what="run view")
        box = app.screen.query_one("#samples-box")
        await wait_for(
            pilot,
            lambda: "CPU" in str(box.border_subtitle),
            timeout=10,
            what="resource use under the samples",
        )
        assert "MEM" in str(box.border_subtitle)
