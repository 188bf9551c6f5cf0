"""Managing runs from the runs list: vim keys and Home/End move the cursor, `/`
filters the rows, d/Delete removes a finished run's folder after asking and refuses
a running one."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from textual.widgets import DataTable, Input

from genbench.tui.app import GenbenchApp
from genbench.tui.screens.dialogs import ConfirmDelete, HelpScreen
from genbench.tui.screens.runs import SORT_KEYS as SORT_ORDER
from genbench.tui.screens.runs import RunsScreen
from tests.tui_support import copy_fixture_runs, stand_in_for_trainer, text_of, wait_for

SIZE = (120, 40)


def rows(app: GenbenchApp) -> list[str]:
    """The run folder names the table shows, top to bottom."""
    table = app.screen.query_one(DataTable)
    return [Path(str(row.key.value)).name for row in table.ordered_rows]


def cursor_run(app: GenbenchApp) -> str:
    table = app.screen.query_one(DataTable)
    return rows(app)[table.cursor_row]


async def test_vim_keys_and_home_end_move_between_runs(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        order = rows(app)
        table = app.screen.query_one(DataTable)
        assert table.cursor_row == 0
        for key, row in [
            ("j", 1),
            ("j", 2),
            ("j", 2),
            ("k", 1),
            ("G", 2),
            ("g", 0),
            ("end", 2),
            ("home", 0),
            ("end", 2),
            ("k", 1),
            ("home", 0),
        ]:
            await pilot.press(key)
            await pilot.pause()
            assert table.cursor_row == row, f"after {key}"
            assert cursor_run(app) == order[row]
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = app.screen.keys
        listed = dict(keys)
        assert listed["j"].startswith("next run") and listed["k"].startswith("previous run")
        assert listed["home"] == "first run" and listed["end"] == "last run"
        assert listed["g"].startswith("first run") and listed["G"].startswith("last run")
        assert listed["/"].startswith("filter") and "removed (no trash)" in listed["d"]
        assert any(key.startswith("del") for key in listed), listed
        # genbench's own keys come before the table's generic ones.
        names = [key for key, _ in keys]
        assert names[0] == "⏎" and names.index("?") < names.index("↑") > names.index("j")
        assert names.index("q") < names.index("j") < names.index("tab")


async def test_slash_filters_the_rows_and_escape_restores_them(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        everything = rows(app)
        box = app.screen.query_one("#runs-filter", Input)
        assert not box.display
        await pilot.press("slash")
        assert box.display and box.has_focus
        await pilot.press(*"RING8")  # case-insensitive, on the id
        await pilot.pause()
        assert rows(app) == ["ring8-gan", "ring8-lost"]
        await pilot.press(*"-l")
        await pilot.pause()
        assert rows(app) == ["ring8-lost"]
        for _ in range(len("RING8-l")):
            await pilot.press("backspace")
        await pilot.press(*"grid25")  # the dataset
        await pilot.pause()
        assert rows(app) == ["grid25-gan"]
        box.value = "lost"  # the status
        await pilot.pause()
        assert rows(app) == ["ring8-lost"]
        box.value = "nothing-like-this"
        await pilot.pause()
        assert rows(app) == []
        await pilot.press("escape")
        await pilot.pause()
        assert rows(app) == everything and box.value == "" and not box.display
        assert app.screen.query_one(DataTable).has_focus
        # enter keeps the filter and hands the keys back to the table
        await pilot.press("slash", *"ring8", "enter")
        await pilot.pause()
        assert rows(app) == ["ring8-gan", "ring8-lost"]
        assert isinstance(app.screen, RunsScreen) and app.screen.query_one(DataTable).has_focus
        await pilot.press("j")
        assert cursor_run(app) == "ring8-lost"
        await pilot.press("escape")
        await pilot.pause()
        assert rows(app) == everything


async def test_delete_asks_then_removes_the_folder_and_cancel_keeps_it(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        assert cursor_run(app) == "grid25-gan"
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDelete)
        text = text_of(app.screen.query_one("#confirm-text"))
        assert "Delete grid25-gan? (its folder is removed" in " ".join(text.split())
        await pilot.press("n")  # keep it
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and (runs / "grid25-gan").is_dir()
        await pilot.press("d", "escape")  # escape keeps it too
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and (runs / "grid25-gan").is_dir()
        await pilot.press("d", "y")
        await pilot.pause()
        assert not (runs / "grid25-gan").exists()
        assert sorted(p.name for p in runs.iterdir()) == ["ring8-gan", "ring8-lost"]
        await wait_for(pilot, lambda: rows(app) == ["ring8-gan", "ring8-lost"], what="the row")
        await pilot.press("end", "delete")  # the Delete key asks the same
        assert isinstance(app.screen, ConfirmDelete)
        await pilot.click("#yes")
        await pilot.pause()
        assert not (runs / "ring8-lost").exists() and (runs / "ring8-gan").is_dir()


async def test_delete_refuses_a_running_run(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    live = runs / "ring8-gan"
    meta = json.loads((live / "run.json").read_text())
    meta.update(status="running", host=socket.gethostname(), pid=os.getpid(), heartbeat=time.time())
    meta.pop("pid_start", None)
    stand_in_for_trainer(live)  # this process holds the run's lock, as its trainer would
    (live / "run.json").write_text(json.dumps(meta))
    app = GenbenchApp(runs, run_choices_loader=None)
    notes: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        assert screen.summaries[str(live)].status == "running"
        original = app.notify

        def record(message, **kwargs):
            notes.append(message)
            return original(message, **kwargs)

        app.notify = record  # type: ignore[method-assign]
        await pilot.press("j")
        assert cursor_run(app) == "ring8-gan"
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen), "no question for a running run"
        await pilot.press("delete", "y")
        await pilot.pause()
        assert live.is_dir() and (live / "run.json").is_file()
        assert len(notes) == 2 and all("running" in note for note in notes)
        assert rows(app) == ["grid25-gan", "ring8-gan", "ring8-lost"]


async def test_o_and_a_header_click_sort_the_rows(tmp_path):
    # grid25-gan: stopped at 1200; ring8-gan: completed at 2000; ring8-lost: lost at 650.
    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        folder_order = rows(app)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await pilot.press("j")  # the cursor stays on its run
        assert cursor_run(app) == "ring8-gan"
        seen = []
        for _ in range(len(SORT_ORDER) + 1):
            await pilot.press("o")
            await pilot.pause()
            seen.append((screen.sort_column, rows(app)))
            assert cursor_run(app) == "ring8-gan"
            if screen.sort_column == "step":
                assert screen.sub_title.endswith("by step")
        assert seen[3] == ("status", ["ring8-gan", "ring8-lost", "grid25-gan"])
        assert seen[4] == ("step", ["ring8-lost", "grid25-gan", "ring8-gan"])
        assert seen[-1] == (None, folder_order) and "by" not in screen.sub_title
        table = screen.query_one(DataTable)
        keys = [column.key.value for column in table.ordered_columns]
        before = table.ordered_columns[: keys.index("step")]  # columns come and go by width
        x = sum(column.get_render_width(table) for column in before)
        await pilot.click("#runs", offset=(x + 1, 0))  # the step header
        await pilot.pause()
        assert (screen.sort_column, rows(app)) == (
            "step",
            ["ring8-lost", "grid25-gan", "ring8-gan"],
        )
        await pilot.click("#runs", offset=(x + 1, 0))  # again: the other way round
        await pilot.pause()
        assert rows(app) == ["ring8-gan", "grid25-gan", "ring8-lost"]
        assert "reversed" in screen.sub_title
        await pilot.press("slash", *"ring8")  # a filter keeps the order
        await pilot.pause()
        assert rows(app) == ["ring8-gan", "ring8-lost"]


async def test_enter_in_the_delete_question_keeps_the_run(tmp_path):
    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDelete)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and (runs / "grid25-gan").is_dir()
        await pilot.press("slash")  # the filter is one line
        assert app.screen.query_one("#runs-filter", Input).size.height == 1


async def test_keys_typed_in_a_burst_act_in_order_enter_opens_the_run_moved_to(tmp_path):
    """`down down enter` arriving in one read (a fast typist, tmux send-keys) opened
    the first run: enter was a priority key, acted on before the table had moved."""
    from textual import events

    runs = copy_fixture_runs(tmp_path / "runs")
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 3, what="three runs")
        third = rows(app)[2]
        for key, char in (("down", None), ("down", None), ("enter", "\r")):
            app.post_message(events.Key(key, char))  # all queued before any is handled
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunScreen", what="run view")
        assert app.screen.run_dir.name == third
