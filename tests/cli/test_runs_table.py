"""`genbench runs` at any width: whole ids where everything fits, else the short ids
and the workbench's column priority (presentation.fit_columns); tags and --tag."""

from __future__ import annotations

import json
import os

import pytest

from genbench.cli import main
from genbench.runfolder.notes import TAGS_FILE
from tests.tui.test_runs_tags_and_search import make_runs


@pytest.fixture
def runs(tmp_path):
    made = make_runs(tmp_path / "runs")
    (made["20261201-091542-dcgan-fashion-mnist"] / TAGS_FILE).write_text("baseline\nkeeper\n")
    (made["lr-sweep-best"] / TAGS_FILE).write_text("keeper\n")
    return made


def table(capsys, monkeypatch, runs, width: int, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    root = next(iter(runs.values())).parent
    assert main(["runs", "--runs-dir", str(root), *args]) == 0
    return capsys.readouterr().out


def test_at_80_columns_the_ids_are_short_and_model_and_dataset_stay(runs, capsys, monkeypatch):
    out = table(capsys, monkeypatch, runs, 80)
    lines = out.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines)
    header = next(line for line in lines if line.lstrip().startswith("id"))
    for column in ("model", "dataset", "status", "step", "coverage"):
        assert column in header
    row = next(line for line in lines if "20261201-09154" in line)
    assert row.split()[:4] == ["20261201-09154", "dcgan", "fashion-mnist", "stopped"]
    assert "20261201-091542-dcgan-fashion-mnist" not in out
    # What gave way is said, the tags among it (they come after quality and step).
    assert "losses, img/s, tags: a wider terminal" in out and "whole ids: --json" in out


def test_at_200_columns_the_ids_are_whole(runs, capsys, monkeypatch):
    out = table(capsys, monkeypatch, runs, 200)
    for name in runs:
        assert name in out
    assert "losses" in out.splitlines()[2] and "whole ids" not in out


def test_tag_lists_the_runs_with_every_tag_and_json_has_them(runs, capsys, monkeypatch):
    out = table(capsys, monkeypatch, runs, 200, "--tag", "keeper")
    assert "lr-sweep-best" in out and "20261201-091542-dcgan-fashion-mnist" in out
    assert "20261201-091500" not in out and "wgan-gp" not in out
    out = table(capsys, monkeypatch, runs, 200, "--tag", "keeper", "--tag", "baseline")
    assert "20261201-091542-dcgan-fashion-mnist" in out and "lr-sweep-best" not in out
    out = table(capsys, monkeypatch, runs, 200, "--tag", "nobody")
    assert out.startswith("no runs tagged nobody in")
    listed = json.loads(table(capsys, monkeypatch, runs, 200, "--json", "--tag", "baseline"))
    assert [r["id"] for r in listed] == ["20261201-091542-dcgan-fashion-mnist"]
    assert listed[0]["tags"] == ["baseline", "keeper"]


def test_a_bad_tag_or_tags_file_is_one_line(runs, capsys, monkeypatch, tmp_path):
    root = str(tmp_path / "runs")
    assert main(["runs", "--runs-dir", root, "--tag", "a b$"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'$'" in err
    os.mkfifo(runs["20261202-141000-wgan-gp-cifar10"] / TAGS_FILE)
    out = table(capsys, monkeypatch, runs, 200)
    assert "unreadable" in out and "FIFO" in out  # the cell, and the line under the table
    listed = json.loads(table(capsys, monkeypatch, runs, 200, "--json"))
    bad = next(r for r in listed if r["id"] == "20261202-141000-wgan-gp-cifar10")
    assert bad["tags"] is None and "FIFO" in bad["tags_error"]
