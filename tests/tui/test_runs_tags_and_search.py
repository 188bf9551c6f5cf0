"""The runs list at any width, part three: short ids and columns by priority
(presentation.short_ids, fit_columns), tags set with t (tags.txt, untrusted on the
way back), and `/` over names, notes, tags and hyperparameter values (run_search)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from genbench.presentation import RUNS_COLUMN_PRIORITY, fit_columns, short_ids
from genbench.runfolder.notes import TAGS_FILE, TAGS_MAX, read_tags
from genbench.tui import run_search
from genbench.tui.app import GenbenchApp
from genbench.tui.screens.dialogs import TagsDialog
from genbench.tui.screens.runs import RunsScreen
from tests.tui.test_rename_notes_and_monitor import make_running
from tests.tui_support import FIXTURE_RUNS, trainer_done, wait_for

# Four runs as a user's folder holds them: three with generated ids (two of one
# minute), one named; one hyperparameter apart.
RUNS = {
    "20261201-091500-dcgan-fashion-mnist": ("ring8-gan", "dcgan", "fashion-mnist", 0.0002),
    "20261201-091542-dcgan-fashion-mnist": ("grid25-gan", "dcgan", "fashion-mnist", 2e-4),
    "20261202-141000-wgan-gp-cifar10": ("ring8-lost", "wgan-gp", "cifar10", 0.001),
    "lr-sweep-best": ("ring8-gan", "gan", "ring8", None),
}


def make_runs(root: Path) -> dict[str, Path]:
    """RUNS made from the fixture runs (their metrics and samples), each run.json
    naming its own id, model, dataset and lr (None: no lr in its config)."""
    root.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, (source, model, dataset, lr) in RUNS.items():
        run = root / name
        shutil.copytree(FIXTURE_RUNS / source, run)
        meta = json.loads((run / "run.json").read_text())
        meta.update(id=name, model=model, dataset=dataset)
        if lr is None:
            meta["config"].pop("lr")
        else:
            meta["config"]["lr"] = lr
        (run / "run.json").write_text(json.dumps(meta))
        made[name] = run
    return made


def rows(app: GenbenchApp) -> list[str]:
    table = app.screen.query_one(DataTable)
    return sorted(Path(str(row.key.value)).name for row in table.ordered_rows)


def shown_columns(app: GenbenchApp) -> list[str]:
    return [str(key.value) for key in app.screen.query_one(DataTable).columns]


async def search(pilot, text: str) -> None:
    app = pilot.app
    if not app.screen.query_one("#runs-filter", Input).display:
        await pilot.press("slash")
    app.screen.query_one("#runs-filter", Input).value = text
    await pilot.pause()


# -- short ids and columns ------------------------------------------------------------


def test_short_ids_are_unique_prefixes_a_name_stays_whole():
    ids = [
        "20261201-091500-dcgan-fashion-mnist",
        "20261201-091542-dcgan-fashion-mnist",
        "20261202-141000-wgan-gp-cifar10",
        "20261202-141000-wgan-gp-cifar10-2",  # the same second: only the suffix differs
        "lr-sweep-best",
        "a-long-name-of-a-run-that-goes-on",
        "sweep-20261203-120000-000",
        "sweep-20261203-120000-001",
    ]
    short = short_ids(ids, {"sweep-20261203-120000-001": "sweep-20261203-120000"})
    assert short["20261201-091500-dcgan-fashion-mnist"] == "20261201-09150"
    assert short["20261201-091542-dcgan-fashion-mnist"] == "20261201-09154"
    # No prefix of the date and minute tells these apart: whole.
    assert short["20261202-141000-wgan-gp-cifar10"] == "20261202-141000-wgan-gp-cifar10"
    assert short["lr-sweep-best"] == "lr-sweep-best"
    assert short["a-long-name-of-a-run-that-goes-on"] == "a-long-name-of-a-ru…"
    assert short["sweep-20261203-120000-001"] == "…-001"  # under its sweep's row
    assert short["sweep-20261203-120000-000"] == "sweep-20261203-120000-000"
    # Every short id is a prefix of its id (a shell completes it) and says one run.
    for run_id, cut in short.items():
        prefix = cut.removesuffix("…")
        if not cut.startswith("…"):
            assert run_id.startswith(prefix)
            assert [i for i in ids if i.startswith(prefix)] == [run_id] or cut == run_id
    # Alone in a folder, a generated id is its date and minute.
    assert short_ids(["20261201-091500-dcgan-fashion-mnist"]) == {
        "20261201-091500-dcgan-fashion-mnist": "20261201-0915"
    }


def test_fit_columns_keeps_the_most_wanted_and_fills_what_is_left():
    widths = {key: 10 for key in RUNS_COLUMN_PRIORITY}
    # 5 columns of 12 cells: mark, run, status, progress, quality.
    assert fit_columns(widths, 60) == {"mark", "run", "status", "progress", "quality"}
    # A wide column that does not fit leaves room for a narrower one after it.
    wide = {"run": 10, "status": 10, "losses": 50, "speed": 6}
    assert fit_columns(wide, 40) == {"run", "status", "speed"}
    # The id is kept however narrow the room.
    assert fit_columns({"run": 30, "status": 9}, 10) == {"run"}
    assert fit_columns({"id": 30, "FD": 5}, 40, alias={"id": "run", "FD": "quality"}) == {
        "id",
        "FD",
    }


@pytest.mark.parametrize(
    ("size", "running", "kept", "left_out"),
    [
        # Nothing running: no progress column, room for the model and the dataset.
        ((80, 24), False, {"run", "model", "dataset", "status", "step", "quality"}, {"progress"}),
        # One running: its progress and CPU, and the dataset (13 wide) gives way.
        ((80, 24), True, {"run", "status", "progress", "quality", "step", "model"}, {"losses"}),
        ((120, 40), True, {"model", "dataset", "progress", "cpu", "mem", "tags"}, set()),
        ((200, 60), True, {"dataset", "cpu", "mem", "losses", "speed", "tags", "note"}, set()),
    ],
    ids=["80x24", "80x24-running", "120x40-running", "200x60-running"],
)
async def test_the_list_shows_short_ids_and_the_columns_that_fit(
    tmp_path, size, running, kept, left_out
):
    runs = make_runs(tmp_path / "runs")
    (runs["lr-sweep-best"] / TAGS_FILE).write_text("best\n")
    (runs["lr-sweep-best"] / "note.txt").write_text("the one to beat\n")
    if running:
        make_running(runs["20261202-141000-wgan-gp-cifar10"])
    app = GenbenchApp(tmp_path / "runs", run_choices_loader=None)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 4, what="four runs")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.query_one(DataTable)
        ids = {name: table.get_cell(str(run), "run").plain.strip() for name, run in runs.items()}
        assert ids == {
            "20261201-091500-dcgan-fashion-mnist": "20261201-09150",
            "20261201-091542-dcgan-fashion-mnist": "20261201-09154",
            "20261202-141000-wgan-gp-cifar10": "20261202-1410",
            "lr-sweep-best": "lr-sweep-best",
        }
        columns = shown_columns(app)
        assert kept <= set(columns) and not left_out & set(columns)
        # Every column shown fits the screen: no sideways scrolling.
        assert table.virtual_size.width <= size[0]
        # The highlighted run whole, under the table (no room for the preview).
        await pilot.press("home")
        name, about = screen.detail(runs["20261201-091500-dcgan-fashion-mnist"])
        assert name == "20261201-091500-dcgan-fashion-mnist"
    trainer_done(runs["20261202-141000-wgan-gp-cifar10"])


async def test_the_columns_follow_the_width_when_the_terminal_is_resized(tmp_path):
    make_runs(tmp_path / "runs")
    app = GenbenchApp(tmp_path / "runs", run_choices_loader=None)
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 4, what="four runs")
        assert "losses" in shown_columns(app)
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "losses" not in shown_columns(app), what="a refit")
        assert {"run", "model", "dataset", "status", "quality"} <= set(shown_columns(app))
        assert app.screen.query_one(DataTable).virtual_size.width <= 80


# -- tags ---------------------------------------------------------------------------------


async def test_tags_set_with_t_show_in_the_list_and_the_detail_and_filter(tmp_path):
    runs = make_runs(tmp_path / "runs")
    tagged = runs["20261201-091542-dcgan-fashion-mnist"]
    app = GenbenchApp(tmp_path / "runs", run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 4, what="four runs")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        assert "tags" not in shown_columns(app)  # no run has tags yet
        table = screen.query_one(DataTable)
        table.move_cursor(row=screen.shown.index(str(tagged)))
        await pilot.press("t")
        assert isinstance(app.screen, TagsDialog)
        box = app.screen.query_one("#tags-text", Input)
        box.value = "bad$tag"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TagsDialog), "a tag that cannot be one is refused"
        assert "'$'" in str(app.screen.query_one("#tags-error").content)
        box.value = "baseline, keeper baseline"
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.cell_text(str(tagged), "tags") == "baseline keeper")
        assert (tagged / TAGS_FILE).read_text() == "baseline\nkeeper\n"
        assert "tags" in shown_columns(app)
        assert "baseline keeper" in screen.detail(tagged)[1].plain

        await search(pilot, "tag=baseline")
        assert rows(app) == [tagged.name]
        await search(pilot, "tag=base")  # tag= is a tag exactly
        assert rows(app) == []
        await search(pilot, "KEEPER")  # a word: in the tags too, case ignored
        assert rows(app) == [tagged.name]
        await search(pilot, "tag!=baseline")
        assert len(rows(app)) == 3 and tagged.name not in rows(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(rows(app)) == 4, what="every run again")

        # t again shows the tags; an empty answer removes them and tags.txt.
        table.move_cursor(row=screen.shown.index(str(tagged)))
        await pilot.press("t")
        box = app.screen.query_one("#tags-text", Input)
        assert box.value == "baseline keeper"
        box.value = ""
        await pilot.press("enter")
        await wait_for(pilot, lambda: "tags" not in shown_columns(app), what="no tags column")
        assert not (tagged / TAGS_FILE).exists()


@pytest.mark.parametrize("kind", ["fifo", "huge", "binary", "link_out"])
async def test_a_hostile_tags_file_is_one_cell_and_never_hangs(tmp_path, kind):
    runs = make_runs(tmp_path / "runs")
    run = runs["lr-sweep-best"]
    tags = run / TAGS_FILE
    if kind == "fifo":
        os.mkfifo(tags)
    elif kind == "huge":
        tags.write_text("x\n" * TAGS_MAX)
    elif kind == "binary":
        tags.write_bytes(b"\xff\xfe\x00tag")
    else:
        (tmp_path / "elsewhere").write_text("secret\n")
        tags.symlink_to(tmp_path / "elsewhere")
    app = GenbenchApp(tmp_path / "runs", run_choices_loader=None)
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 4, what="four runs")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await wait_for(pilot, lambda: screen.cell_text(str(run), "tags") != "")
        assert screen.cell_text(str(run), "tags").startswith("tags unreadable")
        assert "secret" not in screen.cell_text(str(run), "tags")
        assert screen.cell_text(str(run), "status") == "completed"  # the run is fine
        await search(pilot, "secret")
        assert rows(app) == []


def test_tags_read_back_cleaned_and_capped(tmp_path):
    run = make_runs(tmp_path / "runs")["lr-sweep-best"]
    (run / TAGS_FILE).write_text("a\n\x1b[31mred\n\na\n" + "".join(f"t{i}\n" for i in range(40)))
    tags = read_tags(run)
    assert tags[:2] == ["a", "[31mred"]  # no escape reaches a terminal; once each
    assert len(tags) == 16


# -- search -------------------------------------------------------------------------------


def test_search_compares_numbers_as_numbers_and_words_anywhere():
    found = run_search.parse("lr=2e-4 dcgan")
    assert found.words == ("dcgan",) and found.needs_settings
    settings = {"lr": 0.0002, "batch_size": 64, "augment": ["flip"], "arch": "DCGAN"}

    def hit(text: str, texts=("20261201-0915-dcgan",), tags=(), s=settings) -> bool:
        return run_search.matches(run_search.parse(text), list(texts), list(tags), s)

    assert hit("lr=2e-4") and hit("lr=0.0002") and hit("lr=2.0E-4") and not hit("lr=2e-3")
    assert hit("lr<1e-3") and hit("lr>=2e-4") and not hit("lr>2e-4") and hit("lr!=1")
    assert hit("batch-size=64") and hit("augment=flip") and not hit("augment=cutout")
    assert hit("arch=dcgan") and not hit("arch<3")  # text: case ignored; < is for numbers
    assert not hit("missing=1") and not hit("lr=2e-4", s=None)  # run.json unreadable
    assert hit("DCGAN 0915") and not hit("dcgan wgan")  # every word
    assert hit("tag=best", tags=["best"]) and not hit("tag=best", tags=["bestest"])
    assert run_search.parse("=x").words == ("=x",)  # not a condition: a word


async def test_slash_lr_finds_the_runs_with_that_value(tmp_path):
    runs = make_runs(tmp_path / "runs")
    (runs["20261202-141000-wgan-gp-cifar10"] / "note.txt").write_text("lr 1e-3 diverged\n")
    app = GenbenchApp(tmp_path / "runs", run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 4, what="four runs")
        same = sorted(
            ["20261201-091500-dcgan-fashion-mnist", "20261201-091542-dcgan-fashion-mnist"]
        )
        await search(pilot, "lr=2e-4")
        assert rows(app) == same  # 0.0002 and 2e-4 alike
        await search(pilot, "lr=0.0002")
        assert rows(app) == same
        await search(pilot, "lr>1e-4 batch_size=64")
        assert rows(app) == sorted([*same, "20261202-141000-wgan-gp-cifar10"])
        await search(pilot, "diverged")  # a note's word
        assert rows(app) == ["20261202-141000-wgan-gp-cifar10"]
        await search(pilot, "fashion stopped")  # dataset and status, both
        assert rows(app) == ["20261201-091542-dcgan-fashion-mnist"]
        await search(pilot, "lr=2e-4 wgan")
        assert rows(app) == []
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(rows(app)) == 4, what="every run again")


async def test_a_sweeps_row_says_its_members_counts_whole_under_the_table(tmp_path):
    """The counts a sweep's row has in its losses cell give way with that column at
    120 columns and below: the detail line under the table says them whole."""
    from genbench.tui.sweep_groups import sweep_key
    from tests.tui.test_sweep_screen import SWEEP_FIXTURE
    from tests.tui_support import copy_fixture_runs, text_of

    root = copy_fixture_runs(tmp_path / "runs")
    shutil.copytree(SWEEP_FIXTURE, root, dirs_exist_ok=True)
    app = GenbenchApp(root, run_choices_loader=None)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await wait_for(pilot, lambda: sweep_key("lrs") in screen.shown, what="the sweep's row")
        assert "losses" not in shown_columns(app)
        member = next(s for k, s in screen.summaries.items() if Path(k).name == "lrs-000")
        assert screen.short_id(member) == "lrs-000"  # short already: not "…-000"
        screen.query_one(DataTable).move_cursor(row=screen.shown.index(sweep_key("lrs")))
        await pilot.pause()
        line = screen.query_one("#runs-detail")
        assert line.display
        assert text_of(line).startswith("lrs · 12 members: 9 completed, 1 stopped, 1 failed")
