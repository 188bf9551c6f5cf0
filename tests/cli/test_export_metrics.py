"""genbench export RUN --tensorboard / --csv on run folders that are not what
genbench wrote: every file is untrusted input, so each problem is one line and
exit 2, never a traceback, and a garbled metrics line is skipped."""

from __future__ import annotations

import csv
import io
import os
import shutil
import threading

import pytest

from genbench.cli import main

pytest.importorskip("tensorboard")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A short gan run on ring8 with metrics, two grids and live evaluations."""
    root = tmp_path_factory.mktemp("runs")
    argv = ["run", "--headless", "--quiet", "--threads", "1", "--model", "gan"]
    argv += ["--dataset", "ring8", "--steps", "20", "--log-every", "5", "--sample-every", "10"]
    assert main([*argv, "--eval-every", "10", "--runs-dir", str(root), "--name", "r"]) == 0
    return root / "r"


@pytest.fixture
def run(made, tmp_path):
    copy = tmp_path / "r"
    shutil.copytree(made, copy)
    return copy


def export(run, *flags):
    return main(["export", str(run), *flags])


def one_line_error(capsys, code, needle):
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("genbench: error: ") and err.count("\n") == 1, err
    assert needle in err, err
    assert "Traceback" not in err


def test_garbled_and_cut_metrics_lines_are_skipped(run, capsys):
    metrics = run / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "{not json", '{"step": "ten"}', *lines[1:], '{"st']))
    assert export(run, "--csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["step"] for r in rows] == ["5", "10", "15", "20"]


def test_eval_json_not_json_is_one_line(run, capsys):
    (run / "eval.json").write_text("{]")
    one_line_error(capsys, export(run, "--tensorboard"), "eval.json")
    assert not (run / "tensorboard").exists() or not any((run / "tensorboard").iterdir())


def test_a_sample_grid_that_is_not_a_png_is_one_line(run, tmp_path, capsys):
    (run / "samples" / "step-0000010.png").write_bytes(b"GIF89a" + bytes(100))
    one_line_error(
        capsys,
        export(run, "--tensorboard", str(tmp_path / "tb")),
        "is not a sample grid genbench wrote",
    )
    assert not (tmp_path / "tb").exists()  # what the export began is gone again


def test_a_failed_export_into_an_existing_folder_leaves_no_event_file(run, tmp_path, capsys):
    tb = tmp_path / "tb"
    tb.mkdir()
    (tb / "notes.txt").write_text("mine")
    good = (run / "samples" / "step-0000010.png").read_bytes()
    (run / "samples" / "step-0000020.png").write_bytes(b"GIF89a" + bytes(100))
    one_line_error(
        capsys, export(run, "--tensorboard", str(tb)), "is not a sample grid genbench wrote"
    )
    assert sorted(p.name for p in tb.iterdir()) == ["notes.txt"]  # no half-written events
    # so once the grid is mended, the export runs (it refuses a folder with event files)
    (run / "samples" / "step-0000020.png").write_bytes(good)
    assert export(run, "--tensorboard", str(tb)) == 0
    assert (tb / "notes.txt").read_text() == "mine"


def test_a_sample_grid_linked_out_of_the_run_is_one_line(run, tmp_path, capsys):
    outside = tmp_path / "secret.png"
    shutil.copy(run / "samples" / "step-0000010.png", outside)
    (run / "samples" / "step-0000010.png").unlink()
    (run / "samples" / "step-0000010.png").symlink_to(outside)
    one_line_error(
        capsys, export(run, "--tensorboard", str(tmp_path / "tb")), "leading out of the run folder"
    )
    # The export's event writer was closed before its folder went: no writer thread
    # is left to write into a folder that is gone (pytest saw one raise).
    writers = [t for t in threading.enumerate() if type(t).__name__ == "_AsyncWriterThread"]
    assert not writers
    assert not (tmp_path / "tb").exists()


def test_metrics_as_a_fifo_is_one_line_not_a_hang(run, capsys):
    (run / "metrics.jsonl").unlink()
    os.mkfifo(run / "metrics.jsonl")
    one_line_error(capsys, export(run, "--csv"), "is a FIFO")


def test_a_linked_tensorboard_folder_is_not_written_through(run, tmp_path, capsys):
    (tmp_path / "elsewhere").mkdir()
    (run / "tensorboard").symlink_to(tmp_path / "elsewhere")
    one_line_error(capsys, export(run, "--tensorboard"), "is a link")
    assert not any((tmp_path / "elsewhere").iterdir())


def test_not_a_run_folder_and_both_flags_are_one_line(run, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    one_line_error(capsys, export(tmp_path / "empty", "--csv"), "run.json")
    one_line_error(capsys, export(run, "--csv", "--tensorboard"), "one export per call")


def test_csv_into_a_file_keeps_an_existing_one_without_force(run, tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert export(run, "--csv", str(out)) == 0
    assert out.read_text().startswith("step,loss/d,loss/g,loss/r1,speed/img_per_s,quality/")
    out.write_text("mine")
    one_line_error(capsys, export(run, "--csv", str(out)), "--force")
    assert out.read_text() == "mine"
    assert export(run, "--csv", str(out), "--force") == 0 and out.read_text() != "mine"


def test_csv_is_never_written_into_the_run_folder(run, tmp_path, capsys):
    metrics = (run / "metrics.jsonl").read_bytes()
    link = tmp_path / "link"
    link.symlink_to(run)
    for target in (run / "metrics.jsonl", run / "m.csv", link / "run.json"):
        one_line_error(
            capsys, export(run, "--csv", str(target), "--force"), "inside the run folder"
        )
    assert (run / "metrics.jsonl").read_bytes() == metrics and not (run / "m.csv").exists()
    assert (run / "run.json").read_text().startswith("{")
