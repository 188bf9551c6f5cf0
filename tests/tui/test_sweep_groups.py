"""The runs list's sweep rows and the sweep screen's reductions, without an app."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

from genbench.runfolder.runs import list_runs
from genbench.tui.sweep_data import band
from genbench.tui.sweep_groups import FOLD_OVER, SweepRecords, group, is_folded, rows

SWEEP_FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "tui_sweep"


def test_members_group_by_run_json_and_by_the_record(tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(SWEEP_FIXTURE, runs)
    (runs / "lrs-002" / "run.json").write_text("{not json")  # a member gone unreadable
    (runs / "solo").mkdir()  # a folder of no sweep
    summaries = list_runs(runs)
    assert summaries[0].sweep == "lrs" and summaries[0].sweep_point["lr"] == "1e-4"

    by_run_json = group(summaries)
    assert len(by_run_json["lrs"].members) == 10  # 11 folders, one unreadable

    groups = group(summaries, SweepRecords(runs).poll())
    g = groups["lrs"]
    assert {m.path.name for m in g.members} == {f"lrs-{i:03d}" for i in range(11)}
    assert g.unstarted == 1 and g.size == 12  # lrs-011 never started
    assert g.counts() == {
        "completed": 8,
        "failed": 1,
        "stopped": 1,
        "unreadable": 1,
        "not started": 1,
    }
    assert g.state == "stopped"
    assert g.cells(folded=True)["step"].plain == "8/12 done"
    assert "solo" not in {m.path.name for m in g.members}


def test_fold_puts_members_under_their_sweeps_row(tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(SWEEP_FIXTURE, runs)
    summaries = list_runs(runs)
    groups = group(summaries, SweepRecords(runs).poll())
    assert groups["lrs"].size > FOLD_OVER and is_folded("lrs", groups, {})
    assert rows(summaries, groups, {}) == ["lrs"]
    unfolded = rows(summaries, groups, {"lrs": False})
    assert unfolded[0] == "lrs" and [s.path.name for s in unfolded[1:]] == sorted(
        s.path.name for s in summaries
    )


def test_band_is_mean_min_and_max_step_by_step():
    a = ([10, 20, 30], [1.0, 2.0, 3.0])
    b = ([10, 20], [3.0, float("nan")])
    c = ([10, 20, 30], [2.0, 4.0, 6.0])
    got = band([a, b, c])
    assert got.steps == [10, 20, 30] and got.runs == 3
    assert got.mean == [statistics.mean([1.0, 3.0, 2.0]), 3.0, 4.5]
    assert got.low == [1.0, 2.0, 3.0] and got.high == [3.0, 4.0, 6.0]
