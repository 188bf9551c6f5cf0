"""Plugin datasets in the workbench: the new-run form and the Models screen list them
beside the built-in ones (with the real run-choices loader, plugins installed through
entry points), $GENBENCH_DATA counts when the form checks what is here, a plugin with
two models names its plugin right for both, and resume records a newer dataset plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Select

from genbench.cli import main
from genbench.data import locate
from genbench.tui.app import GenbenchApp
from genbench.tui.choices import RunChoices
from genbench.tui.screens.models import ModelsScreen
from tests.conftest import toy_model_source
from tests.data.test_readers import write_mnist
from tests.plugins.test_third_party_plugins import SPIRAL_PLUGIN, set_version
from tests.tui_support import text_of, wait_for

SIZE = (120, 40)
LOADED = 60  # seconds: the real loader imports torch and every plugin in a thread


@pytest.fixture(autouse=True)
def no_data_here(tmp_path, monkeypatch):
    """No test sees the real $GENBENCH_DATA, the user's data folder or Debian's."""
    monkeypatch.delenv("GENBENCH_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(locate, "SYSTEM_DIRS", {"fashion-mnist": [tmp_path / "system"]})


async def form_datasets(app: GenbenchApp, pilot, model: str) -> list[str]:
    """The dataset options the new-run form offers ``model``."""
    app.open_new_run(model)
    await wait_for(pilot, lambda: app.run_choices is not None, LOADED, "run choices")
    form = app.screen
    # the whole form, its Selects composed, so the screen can be left at once
    await wait_for(
        pilot,
        lambda: form.query("#launch") and all(s.query("#label") for s in form.query(Select)),
        20,
        "the form",
    )
    await pilot.pause()
    return [v for _, v in form.query_one("#field-dataset", Select)._options]


async def model_detail(app: GenbenchApp, pilot, model: str) -> str:
    """The Models screen's details of ``model``."""
    await pilot.press("m")
    await wait_for(pilot, lambda: app.run_choices is not None, LOADED, "run choices")
    screen = app.screen
    assert isinstance(screen, ModelsScreen)
    await wait_for(pilot, lambda: getattr(screen, "entries", None), 20, "the models table")
    row = [e.name for e in screen.entries].index(model)
    screen.query_one(DataTable).move_cursor(row=row)
    await pilot.pause()
    screen.show_detail(screen.entries[row])
    await pilot.pause()
    return text_of(screen.query_one("#model-detail"))


async def test_a_plugin_dataset_is_in_the_form_and_the_models_data_defaults(plugin_site, runs_dir):
    plugin_site.add("gb-spiral", SPIRAL_PLUGIN, version="0.2")
    app = GenbenchApp(runs_dir)  # the real loader: RunChoices.load
    async with app.run_test(size=SIZE) as pilot:
        options = await form_datasets(app, pilot, "cgan")
        assert {"ring8", "grid25", "spiral", "spiral3"} <= set(options)
        app.pop_screen()
        await pilot.pause()
        detail = await model_detail(app, pilot, "wgan")
        # wgan defaults differently on every points dataset, the plugin's included
        line = next(ln for ln in detail.splitlines() if ln.startswith("on "))
        assert line.startswith("on ring8, grid25, spiral, spiral3: lr = 0.0003"), line


async def test_a_dataset_found_only_through_genbench_data_is_offered(
    tmp_path, monkeypatch, runs_dir
):
    write_mnist(tmp_path / "env", n=12)
    monkeypatch.setenv("GENBENCH_DATA", str(tmp_path / "env"))
    choices = RunChoices.load()
    mnist = next(
        c for c in choices.datasets_for(choices.registry.models["dcgan"]) if c.name == "mnist"
    )
    assert mnist.available and mnist.where == str(tmp_path / "env")

    app = GenbenchApp(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        options = await form_datasets(app, pilot, "dcgan")
        assert "mnist" in options
        assert "cifar10" not in options  # not here: listed as missing, not offered


TWO_MODELS = (
    toy_model_source("lsq")
    + """

class Other(Toy):
    name = "sngan"
    title = "Other toy"


@hookimpl
def genbench_models():
    return [Toy, Other]
"""
)


async def test_each_model_of_a_two_model_plugin_names_its_plugin_right(plugin_site, runs_dir):
    # As `genbench new-plugin lsq` scaffolds it: the entry point is named after the
    # first model, and the author added a second model to the same module.
    plugin_site.add("gb-gans", TWO_MODELS, version="0.4", ep_name="lsq")
    app = GenbenchApp(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        for model in ("sngan", "lsq"):
            detail = await model_detail(app, pilot, model)
            line = next(ln for ln in detail.splitlines() if ln.startswith("plugin "))
            assert line.strip() == "plugin gb-gans 0.4, entry point lsq (lsq, sngan)", line
            app.pop_screen()
            await pilot.pause()
        detail = await model_detail(app, pilot, "gan")  # one model an entry point: as before
        assert "plugin gan from genbench " in detail


def test_resume_with_a_newer_dataset_plugin_records_it_and_keeps_the_old(
    plugin_site, capsys, runs_dir
):
    plugin_site.add("gb-spiral", SPIRAL_PLUGIN, version="0.2")
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "cgan",
                "--dataset",
                "spiral3",
                "--steps",
                "4",
                "--log-every",
                "2",
                "--checkpoint-every",
                "2",
                "--set",
                "hidden=16",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "s",
                "--quiet",
            ]
        )
        == 0
    )
    run = runs_dir / "s"
    set_version(plugin_site, "gb-spiral", "0.3")
    capsys.readouterr()

    assert main(["run", "--headless", "--resume", str(run), "--steps", "6", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "dataset 'spiral3' was trained with gb-spiral 0.2; 0.3 is installed here" in err
    meta = json.loads(Path(run / "run.json").read_text())
    assert meta["step"] == 6
    assert meta["data"]["plugin"] == {
        "name": "gb-spiral",
        "distribution": "gb-spiral",
        "version": "0.3",
    }
    assert {"name": "gb-spiral", "distribution": "gb-spiral", "version": "0.2"} in meta[
        "previous_plugins"
    ]
    assert meta["plugin"]["distribution"] == "genbench"  # the model's plugin did not change
