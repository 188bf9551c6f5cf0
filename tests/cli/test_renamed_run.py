"""A run renamed after it was made (R in the workbench: notes.rename_run moves the
folder, run.json keeps the id it was made with) is its new name everywhere: `genbench
eval` reports and writes it, its loggers are told it, and a resume writes it into
run.json."""

from __future__ import annotations

import json

from genbench.cli import main
from genbench.runfolder.export_metrics import logged_run
from genbench.runfolder.notes import rename_run
from genbench.runfolder.record import RunRecord


def test_a_renamed_run_evaluates_and_resumes_under_its_new_id(runs_dir, capsys):
    common = ["--runs-dir", str(runs_dir), "--threads", "1"]
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
                "--eval-every",
                "1000",
                "--name",
                "first-name",
                *common,
            ]
        )
        == 0
    )
    capsys.readouterr()
    run = rename_run(runs_dir / "first-name", "second-name")
    assert RunRecord.read(run).id == "first-name"  # what the rename leaves as it was

    assert main(["eval", str(run), "--json", "--samples", "500"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["run"] == "second-name"
    assert json.loads((run / "eval.json").read_text())["run"] == "second-name"
    assert main(["eval", str(run), "--samples", "500"]) == 0
    assert capsys.readouterr().out.count("second-name") >= 1
    assert logged_run(RunRecord.read(run), run, 20, resumed=True).id == "second-name"

    assert main(["run", "--resume", str(run), "--steps", "30", "--headless", "--threads", "1"]) == 0
    assert RunRecord.read(run).id == "second-name"
