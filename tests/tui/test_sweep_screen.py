"""A sweep in the workbench: its members grouped under one foldable row of the runs
list, and the sweep screen (a row per configuration, mean ± std over seeds, charts).

The sweep is tests/fixtures/tui_sweep (written by make_tui_sweep.py: a record and
member run folders, nothing trained), beside the ordinary fixture runs. Snapshots
at 80x24, 120x40 and 200x60; after a deliberate change to how they look:
    .venv/bin/pytest tests/tui/test_sweep_screen.py --snapshot-update
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest
from textual.widgets import DataTable

from genbench.tui.app import GenbenchApp
from genbench.tui.sweep_groups import sweep_key
from tests.tui_support import copy_fixture_runs, fixed_run_choices, wait_for, wait_until_still

SWEEP_FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "tui_sweep"
SIZES = [(80, 24), (120, 40), (200, 60)]
at_each_size = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    copy_fixture_runs(tmp_path / "runs")
    shutil.copytree(SWEEP_FIXTURE, tmp_path / "runs", dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return Path("runs")  # relative, so the title never varies


def app_for(runs: Path) -> GenbenchApp:
    return GenbenchApp(runs, run_choices_loader=fixed_run_choices)


def screen_name(app) -> str:
    return type(app.screen).__name__


def table_keys(app, selector: str = "#runs") -> list[str]:
    table = app.screen.query_one(selector, DataTable)
    return [str(row.key.value) for row in table.ordered_rows]


async def to_sweep_row(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: sweep_key("lrs") in table_keys(app), what="the sweep's row")
    table = app.screen.query_one("#runs", DataTable)
    table.move_cursor(row=table_keys(app).index(sweep_key("lrs")))


def settled(*keys: str, ready=None):
    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: app.run_choices is not None, what="run choices")
        await to_sweep_row(pilot)
        if keys:
            await pilot.press(*keys)
        if ready is not None:
            await wait_for(pilot, lambda: ready(app), what="the screen")
        await pilot.wait_for_scheduled_animations()
        await wait_until_still(pilot)

    return run_before


def unfolded(app) -> bool:
    return str(Path("runs") / "lrs-000") in table_keys(app)


def sweep_drawn(app) -> bool:
    if screen_name(app) != "SweepScreen":
        return False
    metric = app.screen.query_one("#sweep-metric-chart")
    curve = app.screen.query_one("#sweep-curve-chart")
    return metric.points > 0 and curve.points > 0


def test_runs_list_sweep_folded(snap_compare, runs):
    assert snap_compare(app_for(runs), terminal_size=(80, 24), run_before=settled())


@at_each_size
def test_runs_list_sweep_unfolded(snap_compare, runs, size):
    assert snap_compare(app_for(runs), terminal_size=size, run_before=settled("f", ready=unfolded))


@at_each_size
def test_sweep_screen(snap_compare, runs, size):
    assert snap_compare(
        app_for(runs), terminal_size=size, run_before=settled("enter", ready=sweep_drawn)
    )


# -- what the screens say ------------------------------------------------------------


def member_values(run: Path) -> dict[str, float]:
    """A member's last live FD and classes covered and its last images/s, read from
    its own metrics.jsonl."""
    out: dict[str, float] = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "eval":
            out["fd"] = rec["eval"]["fd"]
            out["coverage"] = rec["eval"]["classes_covered"]
        else:
            out["img_per_s"] = rec["img_per_s"]
    return out


def mean_std(values: list[float], big: bool) -> str:
    """As the sweep screen writes it: 3 significant digits and 2 for the spread,
    thousands as whole numbers with separators."""
    mean, std = statistics.mean(values), statistics.stdev(values)
    if big:
        return f"{mean:,.0f} ± {std:,.0f}"
    return f"{mean:.3g} ± {std:.2g}"


async def test_mean_and_std_shown_are_the_members_own(runs):
    app = app_for(runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await to_sweep_row(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: sweep_drawn(app), what="the sweep screen")
        table = app.screen.query_one("#sweep-configs", DataTable)
        record = json.loads((runs / ".sweeps" / "lrs" / "sweep.json").read_text())
        checked = 0
        fd_means = []
        for row in table.ordered_rows:
            model = str(table.get_cell(row.key, "key:model"))
            lr = str(table.get_cell(row.key, "key:lr"))
            names = [
                m["name"]
                for m in record["members"]
                if m["point"]["model"] == model and m["point"]["lr"] == lr
            ]
            got = [member_values(runs / n) for n in names if (runs / n).is_dir()]
            assert len(got) >= 2, names
            for column, big in (("fd", False), ("coverage", False), ("img_per_s", True)):
                values = [g[column] for g in got]
                assert str(table.get_cell(row.key, column)) == mean_std(values, big), (
                    model,
                    lr,
                    column,
                )
            fd_means.append(statistics.mean(g["fd"] for g in got))
            checked += 1
        assert checked == 4
        assert fd_means == sorted(fd_means)  # best (lowest FD) first


async def test_folding_hides_and_shows_the_members(runs):
    app = app_for(runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await to_sweep_row(pilot)
        members = {str(runs / f"lrs-{i:03d}") for i in range(11)}
        own_runs = {str(runs / n) for n in ("ring8-gan", "grid25-gan", "ring8-lost")}
        # 12 members: folded to start with; the runs of their own are there as ever.
        assert not members & set(table_keys(app))
        assert own_runs <= set(table_keys(app))
        await pilot.press("f")
        await wait_for(pilot, lambda: members <= set(table_keys(app)), what="unfolded")
        keys = table_keys(app)
        at = keys.index(sweep_key("lrs"))
        assert set(keys[at + 1 : at + 12]) == members  # right under the sweep's row
        await pilot.press("down", "f")  # on a member: folds its sweep
        await wait_for(pilot, lambda: not members & set(table_keys(app)), what="folded")
        assert own_runs <= set(table_keys(app))
        table = app.screen.query_one("#runs", DataTable)
        assert table_keys(app)[table.cursor_row] == sweep_key("lrs")


async def test_sweep_screen_follows_its_members(runs):
    """A member that logs a new evaluation changes its configuration's row."""
    app = app_for(runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await to_sweep_row(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: sweep_drawn(app), what="the sweep screen")
        table = app.screen.query_one("#sweep-configs", DataTable)

        def fd_of(model: str, lr: str) -> str:
            for row in table.ordered_rows:
                if (
                    str(table.get_cell(row.key, "key:model")),
                    str(table.get_cell(row.key, "key:lr")),
                ) == (model, lr):
                    return str(table.get_cell(row.key, "fd"))
            raise AssertionError("no such configuration")

        before = fd_of("dcgan", "2e-4")
        failed = runs / "lrs-004"  # dcgan 2e-4 seed 1, failed at step 350 (FD of step 200)
        with open(failed / "metrics.jsonl", "a") as fh:
            ev = {"samples": 1000, "fd": 49.25, "classes_covered": 10, "classes": 10}
            fh.write(json.dumps({"step": 350, "time": 7.0, "kind": "eval", "eval": ev}) + "\n")
        await wait_for(pilot, lambda: fd_of("dcgan", "2e-4") != before, what="the new FD")
        values = [member_values(runs / n)["fd"] for n in ("lrs-003", "lrs-004", "lrs-005")]
        assert fd_of("dcgan", "2e-4") == mean_std(values, big=False)


async def test_members_open_and_best_k_compare(runs):
    app = app_for(runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await to_sweep_row(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: sweep_drawn(app), what="the sweep screen")
        await pilot.press("enter")  # the best configuration's members
        await wait_for(pilot, lambda: screen_name(app) == "MembersDialog", what="members")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(app) == "RunScreen", what="a member's run")
        assert app.screen.run_dir.name.startswith("lrs-")
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen_name(app) == "SweepScreen", what="back")
        await pilot.press("c")
        await wait_for(pilot, lambda: screen_name(app) == "CompareScreen", what="compare")
        # The best 3 members by their latest FD, from their own folders.
        fds = {d.name: member_values(d)["fd"] for d in runs.glob("lrs-*")}
        best = sorted(fds, key=fds.__getitem__)[:3]
        assert [t.path.name for t in app.screen.tails] == best


async def test_keys_sort_and_pick_what_is_charted(runs):
    app = app_for(runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await to_sweep_row(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: sweep_drawn(app), what="the sweep screen")
        screen = app.screen
        assert "by FD (best first)" in screen.sub_title
        await pilot.press("o")  # covered next: the most classes covered first
        await wait_for(pilot, lambda: "by covered" in screen.sub_title, what="sorted")
        means = [c.spread("coverage").mean for c in screen.configs]
        assert means == sorted(means, reverse=True)
        table = screen.query_one("#sweep-configs", DataTable)
        shown = [str(table.get_cell(r.key, "coverage")) for r in table.ordered_rows]
        assert shown == [c.spread("coverage").text() for c in screen.configs]

        metric = screen.query_one("#sweep-metric-chart")
        curve = screen.query_one("#sweep-curve-chart")
        assert str(metric.title).startswith("FD by model")
        await pilot.press("x", "m")
        await wait_for(
            pilot, lambda: str(metric.title).startswith("covered by lr"), what="the new chart"
        )
        assert str(curve.title).startswith("d ·")
        await pilot.press("v")
        await wait_for(pilot, lambda: str(curve.title).startswith("g ·"), what="the next curve")
