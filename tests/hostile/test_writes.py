"""Writes that must never land outside the run folder (issue #26, round 2: cases 6,
8, 9, 122 and 126): a hard link planted for metrics.jsonl, samples/ or checkpoints/
swapped for a link while a trainer runs, a runs folder inside a run folder, and a
runs folder path with control characters.

The live cases start a real `genbench run --headless` process and wait on
conditions, never on fixed sleeps."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from genbench.cli import main
from genbench.runfolder.runs import CHECKPOINT, LOCK_FILE, read_run_json
from tests.cli.test_bad_input import assert_one_line_error
from tests.waiting import wait_until

GENBENCH = [sys.executable, "-m", "genbench"]
QUICK = ["--headless", "--model", "gan", "--dataset", "ring8", "--threads", "1", "--quiet"]


def run(*args: str) -> int:
    return main(["run", "--headless", "--threads", "1", "--quiet", *args])


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# -- #6: a hard link planted for metrics.jsonl ------------------------------------


def test_resume_refuses_a_hard_linked_metrics_file_and_writes_nothing(runs_dir, tmp_path, capsys):
    """`--resume` cut metrics.jsonl back to the checkpoint and appended to it in
    place: a hard link to a file outside (here a stand-in for ~/.bashrc) had that
    file overwritten with metrics. Now: one line, exit 2, nothing written anywhere."""
    assert (
        run(
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            "20",
            "--log-every",
            "5",
            "--checkpoint-every",
            "10",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "hl",
        )
        == 0
    )
    capsys.readouterr()
    folder = runs_dir / "hl"
    victim = tmp_path / "victim.txt"
    victim.write_text("VICTIM\n")
    (folder / "metrics.jsonl").unlink()
    os.link(victim, folder / "metrics.jsonl")
    before = folder_bytes(folder)

    assert run("--resume", str(folder), "--steps", "40") == 2
    assert_one_line_error(capsys, "metrics.jsonl", "hard link")
    assert victim.read_text() == "VICTIM\n"
    assert folder_bytes(folder) == before  # run.json, lock, metrics: all untouched
    assert not (folder / LOCK_FILE).exists()


def test_a_hard_link_made_after_the_check_is_still_not_cut(runs_dir, tmp_path):
    """The in-place cut checks the file it opened, not only the path it checked."""
    from genbench.errors import UsageError
    from genbench.runfolder.runs import truncate_metrics_after

    folder = runs_dir / "r"
    folder.mkdir(parents=True)
    victim = tmp_path / "victim.jsonl"
    victim.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n')
    os.link(victim, folder / "metrics.jsonl")
    with pytest.raises(UsageError, match="hard link"):
        truncate_metrics_after(folder, 1)
    assert victim.read_text().count("\n") == 3


# -- #8 / #9: samples/ or checkpoints/ swapped for a link mid-run ---------------------


def exchange(a: Path, b: Path) -> None:
    """Swap two names atomically (renameat2 RENAME_EXCHANGE): the trainer never sees
    the folder missing, only the real folder one moment and the link the next."""
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        pytest.skip("renameat2 is not available")
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange):
        err = ctypes.get_errno()
        if err in (38, 22):  # ENOSYS, EINVAL: a filesystem without the flag
            pytest.skip(f"RENAME_EXCHANGE unsupported here: {os.strerror(err)}")
        raise OSError(err, os.strerror(err), str(a))


@pytest.mark.parametrize(
    "entry, written", [("samples", "samples/latest.png"), ("checkpoints", CHECKPOINT)]
)
def test_a_live_trainer_never_writes_through_a_link_swapped_in(runs_dir, tmp_path, entry, written):
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = runs_dir / "live"
    proc = subprocess.Popen(
        GENBENCH
        + [
            "run",
            *QUICK,
            "--steps",
            "1000000",
            "--log-every",
            "5",
            "--sample-every",
            "5",
            "--checkpoint-every",
            "5",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "live",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: (folder / written).is_file() or proc.poll() is not None,
            120,
            what=f"the trainer's first {written}",
        )
        assert proc.poll() is None, proc.communicate()
        link = folder / f"{entry}.link"
        link.symlink_to(outside, target_is_directory=True)
        exchange(link, folder / entry)  # now `entry` is the link, `entry.link` the folder
        # The old trainer went on writing through the link: it would never end.
        wait_until(
            lambda: proc.poll() is not None or any(outside.iterdir()),
            120,
            what="the trainer to end (or to write through the link)",
        )
        assert not any(outside.iterdir()), sorted(p.name for p in outside.iterdir())
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 1, err
    assert "Traceback" not in out + err, err
    meta = read_run_json(folder)
    assert meta.status == "failed", meta
    assert f"{entry}/ was replaced by a link" in meta.message, meta.message
    assert str(folder / entry) in meta.message, meta.message
    assert len(meta.message.splitlines()) == 1
    # What was written before the swap is in the real folder, not lost.
    real = folder / f"{entry}.link" / Path(written).name
    assert real.is_file() and real.stat().st_size > 0
    assert not any(outside.iterdir())


# -- #122 / #126: where runs may be made ------------------------------------------


@pytest.mark.parametrize("inside", ["samples", "checkpoints", ".", "samples/deeper/still"])
def test_a_runs_dir_inside_a_run_folder_is_refused(runs_dir, capsys, inside):
    assert (
        run(
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            "2",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "base",
        )
        == 0
    )
    capsys.readouterr()
    base = runs_dir / "base"
    before = sorted(p.relative_to(base) for p in base.rglob("*"))
    assert (
        run(
            "--model", "gan", "--dataset", "ring8", "--steps", "2", "--runs-dir", str(base / inside)
        )
        == 2
    )
    assert_one_line_error(
        capsys,
        "lies inside the run folder" if inside != "." else "is the run folder",
        str(base.resolve()),
    )
    assert sorted(p.relative_to(base) for p in base.rglob("*")) == before


def test_a_runs_dir_linked_into_a_run_folder_is_refused(runs_dir, tmp_path, capsys):
    assert (
        run(
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            "2",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "base",
        )
        == 0
    )
    capsys.readouterr()
    link = tmp_path / "elsewhere"
    link.symlink_to(runs_dir / "base" / "samples")
    assert run("--model", "gan", "--dataset", "ring8", "--steps", "2", "--runs-dir", str(link)) == 2
    assert_one_line_error(capsys, "lies inside the run folder")
    assert sorted(p.name for p in (runs_dir / "base" / "samples").iterdir()) == [
        "latest.png",
        "step-0000002.png",
    ]


@pytest.mark.parametrize("char", ["\n", "\x1b", "\r", "\u202e"])
def test_a_runs_dir_with_control_characters_is_refused(tmp_path, capsys, char):
    path = tmp_path / f"r{char}x"
    assert run("--model", "gan", "--dataset", "ring8", "--steps", "2", "--runs-dir", str(path)) == 2
    line = assert_one_line_error(capsys, "control characters", repr(char))
    assert char not in line
    assert not os.path.lexists(path)


# -- the workbench's launch.log, appended to when it resumes a received run -----------


@pytest.mark.parametrize("plant", ["hard link", "symlink", "fifo"])
def test_the_workbench_never_appends_a_trainers_output_outside_the_folder(tmp_path, plant):
    """Resuming from the workbench appended the trainer's output to the run folder's
    launch.log, following a link (or a hard link's other name) out of the folder, and
    a FIFO there hung the app. Now the launch is refused, naming the file."""
    from genbench.errors import UsageError
    from genbench.tui import launcher

    folder = tmp_path / "runs" / "received"
    folder.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("VICTIM\n")
    log = folder / launcher.LOG_NAME
    if plant == "hard link":
        os.link(victim, log)
    elif plant == "symlink":
        log.symlink_to(victim)
    else:
        os.mkfifo(log)
    outcome: list = []

    def launch() -> None:
        try:
            outcome.append(launcher.spawn(folder, ["--version"]))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome.append(exc)

    # In a thread: the old code's open() of a FIFO with no reader never returned.
    thread = threading.Thread(target=launch, daemon=True)
    thread.start()
    thread.join(60)
    assert outcome, "spawn hung opening launch.log"
    if isinstance(outcome[0], launcher.Child):
        outcome[0].proc.wait(60)
    assert isinstance(outcome[0], UsageError), outcome
    assert "launch.log" in str(outcome[0]) and "\n" not in str(outcome[0])
    assert victim.read_text() == "VICTIM\n"
