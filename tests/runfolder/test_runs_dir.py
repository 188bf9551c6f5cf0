"""Reading run folders: truncated metrics, lost runs, the runs table and show."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from genbench.cli import main
from genbench.runfolder.record import RunRecord
from genbench.runfolder.runs import (
    effective_status,
    list_runs,
    read_metrics,
    summarize,
    truncate_metrics_after,
    write_json_atomic,
)


def make_run(folder, **meta):
    folder.mkdir(parents=True)
    base = {
        "model": "gan",
        "dataset": "ring8",
        "status": "completed",
        "step": 30,
        "steps": 30,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "heartbeat": time.time(),
    }
    write_json_atomic(folder / "run.json", {**base, **meta})
    return folder


def test_truncated_last_metrics_line_is_skipped(tmp_path):
    run = make_run(tmp_path / "r")
    (run / "metrics.jsonl").write_text(
        '{"step": 10, "losses": {"d": 1.0}}\n'
        '{"step": 20, "losses": {"d": 0.5}}\n'
        '{"step": 30, "losses": {"d": 0.2'
    )  # the writer was mid-line
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [10, 20]
    assert summarize(run).losses == {"d": 0.5}


def test_garbage_lines_do_not_hide_good_ones(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'\xff\xfe\n[1,2]\n{"step": "x"}\n{"step": 5, "losses": {}}\n\n')
    assert [r["step"] for r in read_metrics(path)] == [5]


def test_truncate_metrics_after_checkpoint_step(tmp_path):
    run = make_run(tmp_path / "r")
    (run / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s}) + "\n" for s in (10, 20, 30)) + '{"step": 4'
    )
    truncate_metrics_after(run, 20)
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [10, 20]


def test_a_running_run_whose_process_is_gone_is_lost(tmp_path):
    here = socket.gethostname()

    def status(**fields):
        return effective_status(RunRecord.from_dict({"model": "gan", "dataset": "ring8", **fields}))

    # With no lock to judge, run.json's writer must be a live genbench process (an
    # older genbench's trainer): this one's command line says genbench.
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "genbench"])
    try:
        alive = {"status": "running", "host": here, "pid": writer.pid, "heartbeat": time.time()}
        assert status(**alive) == "running"
    finally:
        writer.kill()
        writer.wait()
    assert status(**alive) == "lost"
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    assert status(**{**alive, "pid": dead_pid}) == "lost"
    elsewhere = {"status": "running", "host": "other-host", "pid": 1}
    assert status(**elsewhere, heartbeat=time.time()) == "running"
    assert status(**elsewhere, heartbeat=time.time() - 3600) == "lost"


def test_runs_lists_every_run_and_reports_unreadable_ones(runs_dir, capsys):
    make_run(runs_dir / "a")
    make_run(runs_dir / "b", status="stopped", step=12)
    (runs_dir / "junk").mkdir()
    (runs_dir / "junk" / "run.json").write_text("")
    summaries = {r.id: r for r in list_runs(runs_dir)}
    assert summaries["a"].status == "completed" and summaries["b"].step == 12
    assert summaries["junk"].error and "is not valid JSON" in summaries["junk"].error

    assert main(["runs", "--runs-dir", str(runs_dir), "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["b"]["status"] == "stopped" and rows["junk"]["error"]

    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert "unreadable" in out and "stopped" in out


def test_runs_and_show_after_a_real_run(runs_dir, capsys):
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
                "40",
                "--log-every",
                "10",
                "--sample-every",
                "20",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "real",
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert "real" in out and "completed" in out and "40/40" in out

    assert main(["show", str(runs_dir / "real")]) == 0
    out = capsys.readouterr().out
    assert "completed" in out and "samples:" in out and "latest.png" in out
    # The preview is drawn: ASCII here, since pytest's output is not a colour terminal.
    assert any(ch in out for ch in ".:-=+*#%@")


def test_runs_table_is_one_line_a_run_with_short_ids_at_80_columns(runs_dir, monkeypatch, capsys):
    """Issue 30: at 80 columns a generated id gives way to its date and minute (the
    workbench's short id), not the model and dataset; --json has the whole ids."""
    long_id = "20261123-154852-dcgan-fashion-mnist"
    for name in (long_id, "b"):
        make_run(runs_dir / name)
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not any(long_id in line for line in lines)
    rows = [line for line in lines if line.startswith((" 20261123-1548 ", " b "))]
    assert len(rows) == 2 and all(" gan " in r and " ring8 " in r for r in rows)
    assert all(len(line) <= 80 for line in lines)
    assert "whole ids: --json" in lines[-1]  # says where the whole ids are

    monkeypatch.setenv("COLUMNS", "140")
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    assert "losses" in capsys.readouterr().out


def test_genbench_runs_env_variable_sets_the_default_folder(runs_dir, monkeypatch, capsys):
    make_run(runs_dir / "from-env")
    monkeypatch.setenv("GENBENCH_RUNS", str(runs_dir))
    assert main(["runs", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["from-env"]


def test_runs_table_at_80_columns_keeps_step_and_coverage_whole(runs_dir, monkeypatch, capsys):
    """Seen: `9/10` cut to `9/1` with no ellipsis while the id stayed whole. What says
    where a run stands is never cut; the model's and dataset's names give way first."""
    long_id = "20261123-154852-wgan-gp-fashion-mnist-x"
    run = make_run(
        runs_dir / long_id,
        model="wgan-gp",
        dataset="fashion-mnist",
        step=12000,
        steps=20000,
        status="completed",
    )
    (run / "metrics.jsonl").write_text(
        json.dumps(
            {
                "step": 12000,
                "kind": "eval",
                "eval": {"fd": 12.5, "classes_covered": 9, "classes": 10, "samples": 500},
            }
        )
        + "\n"
    )
    for columns in (80, 60):
        monkeypatch.setenv("COLUMNS", str(columns))
        assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
        lines = capsys.readouterr().out.splitlines()
        (row,) = [line for line in lines if "20261123" in line]
        assert "12000/20000" in row and "9/10*" in row and "12.50*" in row, row
        assert "completed" in row
        assert all(len(line) <= columns for line in lines)
        assert "a wider terminal" in "\n".join(lines)
    assert long_id in row or columns == 60


def test_runs_are_listed_in_the_order_they_were_started_named_or_not(runs_dir, capsys):
    """A named run sorted by its name came after every timestamped one."""
    make_run(runs_dir / "baseline", created="2026-11-01T09:00:00")
    make_run(runs_dir / "20261115-120000-gan-ring8", created="2026-11-15T12:00:00")
    make_run(runs_dir / "zz-latest", created="2026-11-20T08:00:00")
    make_run(runs_dir / "aa-broken-date", created="[not a date]")  # the folder's own time
    assert main(["runs", "--json", "--runs-dir", str(runs_dir)]) == 0
    ids = [r["id"] for r in json.loads(capsys.readouterr().out)]
    assert ids == ["baseline", "20261115-120000-gan-ring8", "zz-latest", "aa-broken-date"]
