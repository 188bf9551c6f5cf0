"""Ownership judged by the lock and the owner's identity, never by whether the run's
other files parse (issue 26, items 1 and 9): the workbench never deletes or renames
a live run, whatever is wrong with its eval.json or run.json; a run folder moved or
deleted under its trainer is said to be that, not a takeover; a lock naming pid 1
is not held by pid 1; and a checkpoint holding pickled objects is refused in one
line without torch's advice to load it unsafely."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from genbench.cli import main
from genbench.errors import UsageError
from genbench.runfolder.notes import is_running, rename_run
from genbench.runfolder.ownership import LOCK_FILE, RunLock, boot_id, process_start
from genbench.runfolder.runs import read_run_json, summarize
from genbench.tui import launcher
from genbench.tui.app import GenbenchApp
from genbench.tui.screens.dialogs import ConfirmDelete, RenameDialog
from genbench.tui.screens.runs import RunsScreen
from tests.runfolder.test_ownership import PAUSING_MODEL
from tests.tui_support import wait_for as wait_in_app
from tests.waiting import wait_until

GENBENCH = [sys.executable, "-m", "genbench"]
SIZE = (140, 40)


def stopped(proc: subprocess.Popen) -> bool:
    """Whether the process has stopped itself (SIGSTOP: state T)."""
    stat = Path(f"/proc/{proc.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def paused_trainer(plugin_site, runs_dir: Path, name: str) -> subprocess.Popen:
    """A real trainer (`python -m genbench run`) that checkpoints at step 20 and
    stops its own process at step 30, holding its run's lock, until SIGCONT."""
    plugin_site.add("gb-pausing", PAUSING_MODEL)
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            "--headless",
            "--json",
            "--model",
            "pausing",
            "--dataset",
            "ring8",
            "--steps",
            "60",
            "--set",
            "pause_at=30",
            "--log-every",
            "10",
            "--checkpoint-every",
            "20",
            "--sample-every",
            "1000",
            "--eval-every",
            "1000",
            "--threads",
            "1",
            "--runs-dir",
            str(runs_dir),
            "--name",
            name,
        ],
        env=plugin_site.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: stopped(proc), 120, proc)
    return proc


def finish(proc: subprocess.Popen) -> tuple[int, dict, str]:
    """Continue a paused trainer; its exit code, last JSON event and stderr."""
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, json.loads(out.strip().splitlines()[-1]), err


def rows(app: GenbenchApp) -> list[str]:
    return [Path(str(row.key.value)).name for row in app.screen.query_one(DataTable).ordered_rows]


def status_cell(app: GenbenchApp, run: Path) -> str:
    return app.screen.query_one(DataTable).get_cell(str(run), "status").plain


# -- 1. a live run is never deleted or renamed, whatever its files say ------------------


async def test_the_workbench_never_deletes_a_live_run_with_a_damaged_eval_json_or_run_json(
    plugin_site, runs_dir
):
    """A real trainer holds the run (stopped at step 30, after its checkpoint at 20).
    With `{not json` in eval.json the run still shows running, and d, y deletes
    nothing; nor does it with run.json damaged too (the lock decides). Continued, the
    trainer completes its run as if nothing happened."""
    proc = paused_trainer(plugin_site, runs_dir, "live")
    run = runs_dir / "live"
    try:
        (run / "eval.json").write_text("{not json")
        summary = summarize(run)
        assert summary.status == "running" and "eval.json" in (summary.side_error or "")
        assert is_running(run)

        app = GenbenchApp(runs_dir, run_choices_loader=None)
        async with app.run_test(size=SIZE) as pilot:
            await wait_in_app(pilot, lambda: rows(app) == ["live"], what="the live run")
            assert status_cell(app, run) == "running"
            notes: list[str] = []
            original = app.notify

            def record(message, **kwargs):
                notes.append(str(message))
                return original(message, **kwargs)

            app.notify = record  # type: ignore[method-assign]
            await pilot.press("d", "y")
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmDelete)
            assert run.is_dir() and (run / "checkpoints" / "last.pt").is_file()
            assert notes and "running" in notes[-1]

            # run.json itself damaged (the stopped trainer cannot rewrite it yet):
            # the row says why, the status is still the lock's, and the delete asked
            # after the question (a row a second old) is refused by the lock itself.
            good_meta = (run / "run.json").read_bytes()
            (run / "run.json").write_text("{not json")
            await wait_in_app(
                pilot,
                lambda: (
                    "not valid JSON"
                    in app.screen.query_one(DataTable).get_cell(str(run), "quality").plain
                ),
                what="the damaged run.json",
            )
            assert status_cell(app, run) == "running"
            await pilot.press("d", "y")
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmDelete) and run.is_dir()
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            screen.delete_run(run)
            await pilot.press("R")
            await pilot.pause()
            assert not isinstance(app.screen, RenameDialog)
            assert run.is_dir() and (run / "checkpoints" / "last.pt").is_file()
            assert sum("running" in n for n in notes) >= 4
        with pytest.raises(UsageError, match="is running"):
            rename_run(run, "elsewhere")
        (run / "run.json").write_bytes(good_meta)

        code, end, err = finish(proc)
    finally:
        proc.kill()
        proc.wait()
    assert code == 0, err
    assert end["status"] == "completed" and end["step"] == 60
    assert read_run_json(run).status == "completed"
    assert not (run / LOCK_FILE).exists()


async def test_a_finished_run_with_a_damaged_eval_json_keeps_its_status_and_can_go(runs_dir):
    """Nobody holds it: the row shows `completed` with the file named beside it, and
    d, y deletes it (the lock taken for the delete goes with the folder)."""
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "gan",
                "--dataset",
                "ring8",
                "--steps",
                "20",
                "--log-every",
                "10",
                "--threads",
                "1",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "done",
                "--quiet",
            ]
        )
        == 0
    )
    run = runs_dir / "done"
    (run / "eval.json").write_text("{not json")
    assert summarize(run).status == "completed" and not is_running(run)
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_in_app(pilot, lambda: rows(app) == ["done"], what="the run")
        assert status_cell(app, run) == "completed"
        assert "eval.json" in app.screen.query_one(DataTable).get_cell(str(run), "quality").plain
        await pilot.press("d")
        await wait_in_app(pilot, lambda: isinstance(app.screen, ConfirmDelete), what="question")
        await pilot.press("y")
        await wait_in_app(pilot, lambda: not run.exists(), what="the delete")
    assert list(runs_dir.iterdir()) == []


# -- 9a. a run folder moved or deleted under its trainer --------------------------------


@pytest.mark.parametrize("how", ["moved", "deleted"])
def test_a_run_folder_that_disappears_under_its_trainer_is_named_as_such(
    plugin_site, runs_dir, how
):
    """Not "taken over by another process" and not lost: the trainer ends `failed`,
    saying the folder disappeared at step 30. A moved folder gets that end in its
    run.json (written through the folder the trainer keeps open), keeps its
    checkpoint and resumes; nothing is made again at the old path."""
    proc = paused_trainer(plugin_site, runs_dir, "walks")
    run = runs_dir / "walks"
    moved = runs_dir.parent / "archive" / "walks"
    try:
        if how == "moved":
            moved.parent.mkdir()
            os.rename(run, moved)
        else:
            shutil.rmtree(run)
        code, end, err = finish(proc)
    finally:
        proc.kill()
        proc.wait()
    assert code == 1 and "Traceback" not in err, err
    assert end["status"] == "failed"
    assert "the run folder disappeared (moved, renamed or deleted) at step 30" in end["message"]
    assert "taken over" not in end["message"] + err
    assert not run.exists()  # nothing made again at the old path
    if how == "deleted":
        return
    meta = read_run_json(moved)
    assert meta.status == "failed" and "disappeared" in meta.message
    assert meta.checkpoint_step == 20 and not (moved / LOCK_FILE).exists()
    assert summarize(moved).status == "failed"
    import torch

    assert torch.load(moved / "checkpoints" / "last.pt", weights_only=True)["step"] == 20
    # (pause_at=0: this process must not stop itself at step 30 as the trainer did)
    assert (
        main(
            [
                "run",
                "--headless",
                "--resume",
                str(moved),
                "--steps",
                "40",
                "--set",
                "pause_at=0",
                "--threads",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert read_run_json(moved).status == "completed"


# -- 9b. a lock names its owner by identity, not by pid ------------------------------------


def completed_run(runs_dir: Path, name: str) -> Path:
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "gan",
                "--dataset",
                "ring8",
                "--steps",
                "20",
                "--log-every",
                "10",
                "--checkpoint-every",
                "10",
                "--threads",
                "1",
                "--runs-dir",
                str(runs_dir),
                "--name",
                name,
                "--quiet",
            ]
        )
        == 0
    )
    return runs_dir / name


def forged_lock(run: Path, pid: int, *, held_open: bool) -> None:
    holder = {
        "pid": pid,
        "pid_start": process_start(pid),
        "host": socket.gethostname(),
        "boot": boot_id(),
        "since": time.time(),
        "token": "0" * 32,
    }
    if held_open:
        holder["held_open"] = True
    (run / LOCK_FILE).write_text(json.dumps(holder) + "\n")


@pytest.mark.parametrize("held_open", [False, True])
def test_a_forged_lock_naming_pid_1_is_not_an_owner(runs_dir, capsys, held_open):
    """pid 1, alive, with its true start time: not a genbench trainer (its command line
    does not say genbench; it does not hold the lock open). The run is not running,
    resume takes the stale lock over, and a running run.json naming it is lost."""
    assert process_start(1) is not None
    run = completed_run(runs_dir, "forged")
    forged_lock(run, 1, held_open=held_open)
    assert summarize(run).status == "completed" and not is_running(run)
    assert RunLock(run).live() is False
    capsys.readouterr()
    assert (
        main(
            [
                "run",
                "--headless",
                "--resume",
                str(run),
                "--steps",
                "30",
                "--threads",
                "1",
                "--quiet",
            ]
        )
        == 0
    ), capsys.readouterr().err
    assert read_run_json(run).status == "completed" and not (run / LOCK_FILE).exists()

    # run.json as a trainer left it mid-run, naming pid 1 too.
    forged_lock(run, 1, held_open=held_open)
    meta = json.loads((run / "run.json").read_text())
    meta.update(
        status="running",
        pid=1,
        pid_start=process_start(1),
        host=socket.gethostname(),
        heartbeat=time.time(),
    )
    (run / "run.json").write_text(json.dumps(meta))
    assert summarize(run).status == "lost" and not is_running(run)
    launcher.check_resumable(run)
    with pytest.raises(UsageError, match="is lost, not running"):
        launcher.stop(run)


HOLDER = r"""
import sys, time
from pathlib import Path
from genbench.runfolder.ownership import RunLock
RunLock(Path(sys.argv[1])).acquire()        # held while this process lives
print("held", flush=True)
time.sleep(120)
"""


def test_a_process_that_holds_the_lock_is_the_owner_whatever_its_command_line(runs_dir, capsys):
    """The other side: a live process that took the lock as a trainer does (here a
    plain `python -c`, no genbench on its command line) owns the run: it shows
    running, resume is refused naming it, and stop signals it."""
    run = completed_run(runs_dir, "held")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        meta = json.loads((run / "run.json").read_text())
        meta.update(
            status="running",
            pid=holder.pid,
            pid_start=process_start(holder.pid),
            host=socket.gethostname(),
            heartbeat=time.time(),
        )
        (run / "run.json").write_text(json.dumps(meta))
        assert summarize(run).status == "running" and is_running(run)
        capsys.readouterr()
        assert main(["run", "--headless", "--resume", str(run), "--steps", "30"]) == 2
        assert f"still running (pid {holder.pid} on" in capsys.readouterr().err
        assert "asked held to stop" in launcher.stop(run)
        assert holder.wait(timeout=20) != 0
    finally:
        holder.kill()
        holder.wait()
    assert summarize(run).status == "lost"  # its lock is left, held by nobody


# -- 9c. a checkpoint holding pickled objects ------------------------------------------------


class Payload:
    """Unpickling this runs a command: what a checkpoint someone sent could hold."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_pickled_object_in_a_checkpoint_is_one_line_without_torchs_advice(
    runs_dir, tmp_path, protocol
):
    """`genbench eval` and `--resume` of a run whose last.pt is a torch zip holding a
    pickled call: exit 2, one line naming what it holds, no warning, no advice to
    load it with weights_only=False, and the call never ran."""
    import torch

    run = completed_run(runs_dir, "sent")
    marker = tmp_path / "ran"
    buf = io.BytesIO()
    torch.save(
        {
            "format": 1,
            "step": 10,
            "model": {},
            "sampler": {},
            "meter": {},
            "rng": {},
            "x": Payload(marker),
        },
        buf,
        pickle_protocol=protocol,
    )
    (run / "checkpoints" / "last.pt").write_bytes(buf.getvalue())
    assert pickle.HIGHEST_PROTOCOL >= protocol
    for argv in (
        ["eval", str(run), "--samples", "100"],
        ["run", "--headless", "--resume", str(run), "--steps", "30", "--threads", "1"],
    ):
        done = subprocess.run(GENBENCH + argv, capture_output=True, text=True, timeout=120)
        err = done.stderr.strip()
        assert done.returncode == 2, err
        assert len(err.splitlines()) == 1, err
        assert "weights_only" not in err and "Warning" not in err and "Traceback" not in err
        assert "holds pickled Python objects (" in err
        assert "posix.system" in err or protocol != 2
        assert "last.pt" in err
    assert not marker.exists()


def test_the_runs_list_follows_a_finished_runs_eval_json(tmp_path):
    """A finished run's row is cached until one of its files changes: eval.json is one
    of them (damaged, then mended, by `genbench eval` or by hand)."""
    from genbench.tui.run_tail import RunIndex
    from tests.tui_support import copy_fixture_runs

    runs = copy_fixture_runs(tmp_path / "runs")
    run = runs / "ring8-gan"
    index = RunIndex(runs)

    def row():
        return next(s for s in index.poll() if s.path == run)

    assert row().status == "completed" and row().side_error is None
    (run / "eval.json").write_text("{not json")
    assert row().status == "completed" and "eval.json" in (row().side_error or "")
    (run / "eval.json").unlink()
    assert row().side_error is None


# -- round 2, #28: with no lock, run.json's pid must be a genbench process --------------


def running_meta(run: Path, **fields) -> None:
    """run.json as a trainer leaves it mid-run, with ``fields`` changed (no lock)."""
    meta = json.loads((run / "run.json").read_text())
    meta.update(
        {"status": "running", "host": socket.gethostname(), "heartbeat": time.time(), **fields}
    )
    (run / "run.json").write_text(json.dumps(meta))


def live_process(argv: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    wait_until(lambda: process_start(proc.pid) is not None, 10)
    return proc


async def test_a_run_json_naming_a_live_sleep_is_lost_not_running(runs_dir, capsys):
    """No lock, and run.json names a live `sleep` with its true start time and a fresh
    heartbeat. A genbench trainer holds its lock for as long as it writes run.json,
    so a process that is not genbench is not the trainer: `runs`, the workbench and
    is_running say lost, stop signals nothing, and resume takes the run on."""
    run = completed_run(runs_dir, "sleeper")
    sleeper = live_process(["sleep", "300"])
    try:
        running_meta(run, pid=sleeper.pid, pid_start=process_start(sleeper.pid))
        assert not (run / LOCK_FILE).exists()
        assert summarize(run).status == "lost" and not is_running(run)
        capsys.readouterr()
        assert main(["runs", "--runs-dir", str(runs_dir), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)[0]["status"] == "lost"
        app = GenbenchApp(runs_dir, run_choices_loader=None)
        async with app.run_test(size=SIZE) as pilot:
            await wait_in_app(pilot, lambda: rows(app) == ["sleeper"], what="the run")
            assert status_cell(app, run) == "lost"
        launcher.check_resumable(run)
        with pytest.raises(UsageError, match="is lost, not running"):
            launcher.stop(run)
        assert sleeper.poll() is None  # never signalled
        assert (
            main(
                [
                    "run",
                    "--headless",
                    "--resume",
                    str(run),
                    "--steps",
                    "30",
                    "--threads",
                    "1",
                    "--quiet",
                ]
            )
            == 0
        ), capsys.readouterr().err
    finally:
        sleeper.kill()
        sleeper.wait()
    assert read_run_json(run).status == "completed" and read_run_json(run).step == 30


def test_with_no_lock_a_live_genbench_writer_is_still_running(runs_dir):
    """The other side of the fallback: run.json's writer alive, with its start time,
    and a command line that says genbench (an older genbench, or a trainer whose lock
    was removed by hand: it puts it back) is running; the same process named with
    another start time (its pid recycled) is not."""
    run = completed_run(runs_dir, "older")
    writer = live_process([sys.executable, "-c", "import time; time.sleep(300)", "genbench"])
    try:
        running_meta(run, pid=writer.pid, pid_start=process_start(writer.pid))
        assert summarize(run).status == "running" and is_running(run)
        running_meta(run, pid=writer.pid, pid_start=process_start(writer.pid) - 1000)
        assert summarize(run).status == "lost" and not is_running(run)
    finally:
        writer.kill()
        writer.wait()


def test_a_run_that_finishes_while_it_is_judged_is_not_shown_lost(plugin_site, runs_dir):
    """run.json read while the trainer runs (status running), and its owner judged
    after the trainer wrote its last run.json, let go of the lock and exited: the
    run completed; it was never lost (the trainer writes its end before it lets go
    of the lock, so a reader that finds no lock looks at run.json again)."""
    from genbench.runfolder.runs import effective_status

    proc = paused_trainer(plugin_site, runs_dir, "ending")
    run = runs_dir / "ending"
    try:
        seen = read_run_json(run)
        assert seen.status == "running" and summarize(run).status == "running"
        code, end, err = finish(proc)
    finally:
        proc.kill()
        proc.wait()
    assert code == 0, err
    assert not (run / LOCK_FILE).exists() and read_run_json(run).status == "completed"
    assert effective_status(seen, run_dir=run) == "completed"


# -- round 2, #34: another machine's heartbeat, within the clock skew allowed -----------

FAR_FUTURE = 4102444800.0  # 2100-01-01


def test_a_heartbeat_far_in_the_future_is_not_a_live_run(runs_dir, capsys):
    """A run from "otherhost" whose heartbeat says year 2100 (with or without that
    host's lock): clocks differ between machines, but not by 74 years. It is lost,
    and resume takes it on; it is not `running` for ever."""
    run = completed_run(runs_dir, "future")
    running_meta(run, host="otherhost", pid=12345, heartbeat=FAR_FUTURE)
    assert summarize(run).status == "lost" and not is_running(run)
    launcher.check_resumable(run)
    (run / LOCK_FILE).write_text(
        json.dumps({"pid": 12345, "host": "otherhost", "since": FAR_FUTURE}) + "\n"
    )
    assert RunLock(run).live() is False
    assert summarize(run).status == "lost" and not is_running(run)
    capsys.readouterr()
    assert (
        main(
            [
                "run",
                "--headless",
                "--resume",
                str(run),
                "--steps",
                "30",
                "--threads",
                "1",
                "--quiet",
            ]
        )
        == 0
    ), capsys.readouterr().err
    assert read_run_json(run).status == "completed" and not (run / LOCK_FILE).exists()


def test_another_machines_clock_may_run_ahead_within_the_allowance(runs_dir):
    """A heartbeat ten minutes ahead of this clock, in a run.json just written, is a
    live trainer on a machine whose clock is ahead. The same heartbeat in a run.json
    that nobody has written for two hours (its mtime, stamped by the filesystem, is
    the second clock) is not believed."""
    run = completed_run(runs_dir, "skewed")
    running_meta(run, host="otherhost", pid=12345, heartbeat=time.time() + 600)
    assert summarize(run).status == "running" and is_running(run)
    with pytest.raises(UsageError, match="still running"):
        launcher.check_resumable(run)
    written = time.time() - 7200
    os.utime(run / "run.json", (written, written))
    assert summarize(run).status == "lost" and not is_running(run)
    # A heartbeat that claims more than the allowance after the file was written.
    from genbench.runfolder.ownership import CLOCK_SKEW_S, STALE_AFTER_S

    running_meta(run, host="otherhost", pid=12345, heartbeat=time.time() + 600)
    early = time.time() + 600 - CLOCK_SKEW_S - 60
    os.utime(run / "run.json", (early, early))
    assert summarize(run).status == "lost"
    # A run.json just written whose heartbeat is older than STALE_AFTER_S: lost, as before.
    running_meta(run, host="otherhost", pid=12345, heartbeat=time.time() - STALE_AFTER_S - 5)
    assert summarize(run).status == "lost"


# -- round 2, #128: an idle workbench on a runs folder of many empty folders -------------


def test_an_idle_poll_does_not_look_inside_folders_that_hold_no_run(tmp_path, monkeypatch):
    """500 folders without run.json (and one run): once seen, and while none of them
    changes, a poll looks at nothing inside them (one stat of each folder itself,
    from the directory listing): 20,000 of them kept the workbench at a core's worth
    of stats and sorting every second. A run.json written into one is seen at the
    next poll."""
    from genbench.tui.run_tail import RunIndex
    from tests.tui_support import copy_fixture_runs

    runs = copy_fixture_runs(tmp_path / "runs")
    long_ago = time.time() - 3600
    for i in range(500):
        (runs / f"empty-{i:03d}").mkdir()
        os.utime(runs / f"empty-{i:03d}", (long_ago, long_ago))
    index = RunIndex(runs)
    first = index.poll()
    assert len(first) == 503
    assert {s.status for s in first if s.id.startswith("empty-")} == {"unreadable"}

    looked: list[str] = []
    real_stat = os.stat

    def counting_stat(path, *args, **kwargs):
        if str(path).startswith(str(runs / "empty-")):
            looked.append(str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    for _ in range(3):
        assert [s.path for s in index.poll()] == [s.path for s in first]
    assert looked == []
    monkeypatch.undo()

    make = json.loads((runs / "ring8-gan" / "run.json").read_text())
    (runs / "empty-007" / "run.json").write_text(json.dumps(make))
    row = next(s for s in index.poll() if s.id == "empty-007")
    assert row.status == "completed" and row.error is None
