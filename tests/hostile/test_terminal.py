"""What the terminal and the shell around genbench claim cannot break it: a size of
0, -3 or 99999 columns is bounded (a table never prints nothing, a preview's memory
is bounded), a removed current folder, a runs folder that is a file, an -n no
machine can pay, a reader that closes the pipe early, and a run folder whose name
is not UTF-8 each get one line (or nothing, for the pipe), never a traceback."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable

from genbench.cli import main
from genbench.errors import UsageError
from genbench.tui.app import GenbenchApp
from tests.tui_support import FIXTURE_RUNS, wait_for

GENBENCH = Path(sys.executable).parent / "genbench"
NOT_UTF8 = os.fsdecode(b"\xff\xfe")  # a folder name no UTF-8 decoder reads


def fixture_run(runs: Path, name: str = "base") -> Path:
    """A copy of the completed ring8 fixture run (with samples/latest.png)."""
    run = runs / name
    shutil.copytree(FIXTURE_RUNS / "ring8-gan", run)
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "id": name}))
    return run


def genbench(
    *args: str,
    cwd: Path | None = None,
    env: dict | None = None,
    stdout=subprocess.PIPE,
    limit_as: int | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """genbench in a process of its own (the environment of this one, plus ``env``),
    its address space capped at ``limit_as`` bytes when given."""

    def cap() -> None:
        if limit_as is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))

    return subprocess.run(
        [str(GENBENCH), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        preexec_fn=cap,
    )


# -- sizes the terminal claims ---------------------------------------------------------


@pytest.mark.parametrize("columns", ["0", "-3", "abc", "1", "99999"])
def test_runs_lists_the_runs_whatever_width_is_claimed(runs_dir, monkeypatch, capsys, columns):
    fixture_run(runs_dir, "the-run")
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setenv("LINES", columns)
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert "the-r" in out, out  # at 20 columns (the least) cut to 'the-r…'
    assert max(len(line) for line in out.splitlines()) <= 1000


def test_terminal_size_is_bounded_and_garbage_is_unknown():
    from genbench.presentation import terminal_size

    for claimed, expected in (
        (("0", "0"), None),
        (("-5", "x"), None),
        (("99999", "99999"), (1000, 1000)),
        (("3", "2"), (20, 5)),
        (("120", "40"), (120, 40)),
    ):
        got = terminal_size({"COLUMNS": claimed[0], "LINES": claimed[1]})
        if expected is not None:
            assert got == expected, claimed
        assert 20 <= got[0] <= 1000 and 5 <= got[1] <= 1000, (claimed, got)


@pytest.mark.parametrize("mode", ["halfblock", "ascii", "kitty", "sixel"])
def test_show_preview_memory_is_bounded_whatever_size_is_claimed(runs_dir, mode):
    """99999x99999 cells took 23 GB (SIGKILL); 0x0 was a traceback in Rich. Under a
    1.5 GB address space (the preview's bound is about 100 MB) every mode draws."""
    run = fixture_run(runs_dir)
    for size in ("0", "99999"):
        done = genbench(
            "show",
            str(run),
            limit_as=1536 << 20,
            env={
                "COLUMNS": size,
                "LINES": size,
                "GENBENCH_PREVIEW": mode,
                "FORCE_COLOR": "1",
                "COLORTERM": "truecolor",
                "OPENBLAS_NUM_THREADS": "1",
                "OMP_NUM_THREADS": "1",
            },
        )
        assert done.returncode == 0, (size, done.stderr[-2000:])
        assert "Traceback" not in done.stderr, done.stderr[-2000:]
        assert "samples: " in done.stdout, done.stdout[-500:]


def test_preview_budgets_hold_for_any_box():
    from PIL import Image

    from genbench import terminal_image as preview

    image = Image.new("RGB", (242, 242), (200, 10, 10))
    text = preview.render(image, max_cols=5000, max_rows=5000)
    cells = sum(len(line) for line in text.plain.splitlines())
    assert cells <= preview.TEXT_CELLS_MAX
    assert preview.render(image, max_cols=0, max_rows=0).plain  # never an error
    cols, rows = preview.within_budget(99999, 99999, 200, preview.PIXELS_OUT_MAX)
    assert cols * rows * 200 <= preview.PIXELS_OUT_MAX


# -- the shell around it ---------------------------------------------------------------


def test_a_removed_current_folder_is_named_in_one_line(tmp_path):
    gone = tmp_path / "was-here"
    gone.mkdir()
    # The process starts in the folder, which is then removed under it.
    proc = subprocess.Popen(
        [
            "/bin/sh",
            "-c",
            f'cd "{gone}" && rmdir "{gone}" && exec "$0" "$@"',
            str(GENBENCH),
            "models",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert err.splitlines() == [
        f"genbench: error: the current folder {gone} no longer exists; cd somewhere that does"
    ], err
    assert out == ""


@pytest.mark.parametrize("how", ["env", "flag"])
def test_a_runs_folder_that_is_a_file_is_refused(tmp_path, monkeypatch, capsys, how):
    runs_file = tmp_path / "passwd"
    runs_file.write_text("root:x:0:0\n")
    if how == "env":
        monkeypatch.setenv("GENBENCH_RUNS", str(runs_file))
        argv = ["runs"]
    else:
        argv = ["runs", "--runs-dir", str(runs_file)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"genbench: error: {'GENBENCH_RUNS' if how == 'env' else '--runs-dir'} {runs_file} is "
        "a file, not a folder; name a folder of runs (or one to be made)"
    ], err


def test_eval_sample_count_is_bounded_before_anything_is_paid(runs_dir, capsys):
    run = fixture_run(runs_dir)
    for n in ("0", "-5", "1000001", "1000000000000"):  # the cheap ones first
        assert main(["eval", str(run), "-n", n]) == 2
        err = capsys.readouterr().err
        assert err.startswith(
            "genbench: error: argument -n/--samples: must be from 10 to 1,000,000 samples, got "
        ), err
        assert len(err.splitlines()) == 1
    assert not (run / "eval.json").exists() or json.loads((run / "eval.json").read_text())


def test_eval_refuses_samples_that_do_not_fit_in_memory():
    from genbench.metrics.run_eval import check_samples_fit

    with pytest.raises(
        UsageError,
        match=r"^-n 1,000,000 samples of shape \(3, 4096, 4096\) "
        r"and their features, needing .* refused",
    ):
        check_samples_fit(1_000_000, (3, 4096, 4096))
    check_samples_fit(10_000, (2,))  # the 2D toys' default fits anywhere


@pytest.mark.parametrize("command", ["runs", "show", "eval"])
def test_a_reader_that_closes_the_pipe_is_not_a_failure(runs_dir, command):
    """`genbench runs | head -1`: Rich's answer to EPIPE was exit 1 (a failure) with
    nothing said; the reader having what it wanted is exit 0, nothing on stderr."""
    if command == "eval":  # a checkpoint to measure
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
                    "10",
                    "--log-every",
                    "5",
                    "--threads",
                    "1",
                    "--runs-dir",
                    str(runs_dir),
                    "--name",
                    "base",
                    "--quiet",
                ]
            )
            == 0
        )
        run = runs_dir / "base"
    else:
        run = fixture_run(runs_dir)
    args = {
        "runs": ["runs", "--runs-dir", str(runs_dir)],
        "show": ["show", str(run)],
        "eval": ["eval", str(run), "-n", "100", "--threads", "1"],
    }[command]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write fails
    try:
        done = genbench(*args, stdout=write, timeout=300)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("command", ["runs", "show"])
def test_output_to_a_full_device_is_one_line_not_a_traceback(runs_dir, command):
    """`genbench runs > /dev/full`: the output could not be written, so exit 1 (a
    failure, unlike a reader that closed the pipe), said in one line on stderr."""
    run = fixture_run(runs_dir)
    args = {"runs": ["runs", "--runs-dir", str(runs_dir)], "show": ["show", str(run)]}[command]
    with open("/dev/full", "wb") as full:
        done = genbench(*args, stdout=full.fileno(), timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "genbench: error: cannot write the output: No space left on device"
    ], done.stderr


# -- a run folder's name ------------------------------------------------------------------


def test_a_folder_name_that_is_not_utf8_is_shown_escaped(runs_dir, monkeypatch, capsys):
    fixture_run(runs_dir, NOT_UTF8)
    fixture_run(runs_dir, os.fsdecode(b"\xfe\xff"))
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert "\\xff\\xfe" in out and "\\xfe\\xff" in out, out
    assert main(["runs", "--runs-dir", str(runs_dir), "--json"]) == 0
    ids = sorted(r["id"] for r in json.loads(capsys.readouterr().out))
    assert ids == ["\\xfe\\xff", "\\xff\\xfe"]


async def test_workbench_shows_a_non_utf8_folder_name_escaped(runs_dir):
    run = fixture_run(runs_dir, NOT_UTF8)
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert str(table.get_cell(str(run), "run")) == "\\xff\\xfe"
