"""Plugins round 3 (#31): a name two distributions provide keeps both usable
(DIST:NAME), the bare name means the built-in one with a warning, and a run keeps
its provider; hook mistakes pluggy passes over in silence are named at load."""

from __future__ import annotations

import json

import pytest

import genbench
from genbench.cli import main
from genbench.registry import load_registry
from tests.conftest import toy_model_source
from tests.plugins.test_plugin_mistakes import run_args


def meta_of(run) -> dict:
    return json.loads((run / "run.json").read_text())


def made(runs_dir, capsys, model: str, name: str) -> tuple[str, dict]:
    """A two-step run of ``model`` named ``name``: its stderr and run.json."""
    code = main([*run_args(runs_dir, model), "--name", name, "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    return err, meta_of(runs_dir / name)


def test_a_plugin_clashing_with_a_builtin_keeps_both_and_old_runs_working(
    plugin_site, capsys, runs_dir
):
    # A run of the built-in lsgan, made before the clashing plugin is installed.
    _, before = made(runs_dir, capsys, "lsgan", "old")
    assert before["plugin"]["distribution"] == "genbench"

    plugin_site.add("genbench-lsgan", toy_model_source("lsgan"), version="0.3", ep_name="lsgan")
    registry = load_registry()
    assert registry.models["lsgan"].plugin.builtin
    assert registry.models["genbench-lsgan:lsgan"].plugin.distribution == "genbench-lsgan"
    assert not registry.broken

    # The bare name: the built-in, with one warning naming the qualified alternative.
    err, bare = made(runs_dir, capsys, "lsgan", "bare")
    assert bare["plugin"]["distribution"] == "genbench" and bare["model"] == "lsgan"
    assert err.strip().splitlines() == [
        "genbench: warning: model 'lsgan' means genbench's (built in); genbench-lsgan 0.3 "
        "also provides one: name it genbench-lsgan:lsgan, or genbench:lsgan to keep this "
        "one without this warning"
    ]
    # Qualified: either one, without a word.
    err, theirs = made(runs_dir, capsys, "genbench-lsgan:lsgan", "theirs")
    assert err == "" and theirs["plugin"]["distribution"] == "genbench-lsgan"
    assert theirs["model"] == "lsgan" and "mse" in (runs_dir / "theirs/metrics.jsonl").read_text()
    err, ours = made(runs_dir, capsys, "genbench:lsgan", "ours")
    assert err == "" and ours["plugin"]["distribution"] == "genbench"

    # Runs resolve by the distribution they recorded: no warning, their own model.
    for run, steps in (("old", "4"), ("theirs", "4")):
        resume = ["run", "--headless", "--resume", str(runs_dir / run), "--steps", steps]
        assert main([*resume, "--quiet"]) == 0
        assert capsys.readouterr().err == ""
        assert meta_of(runs_dir / run)["step"] == 4
    assert meta_of(runs_dir / "theirs")["plugin"]["distribution"] == "genbench-lsgan"
    assert main(["eval", str(runs_dir / "old"), "--threads", "1", "--quiet", "--no-log"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert (runs_dir / "old" / "eval.json").is_file()

    # genbench models lists both, each by the name to type, with no "not loaded" row.
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    uses = {(m["use"], m["distribution"]) for m in listing["models"] if m["name"] == "lsgan"}
    assert uses == {("lsgan", "genbench"), ("genbench-lsgan:lsgan", "genbench-lsgan")}
    assert main(["models"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "genbench-lsgan:lsgan" in out and "not loaded" not in out
    assert (
        f"name clash model 'lsgan' is provided by genbench {genbench.__version__} (built in) and "
        "genbench-lsgan 0.3; 'lsgan' means genbench's, genbench-lsgan:lsgan the other's" in out
    )


def test_two_third_parties_clashing_refuse_the_bare_name_and_genbench_plugins_picks(
    plugin_site, capsys, runs_dir, monkeypatch
):
    plugin_site.add("gb-first", toy_model_source("twin"))
    plugin_site.add("gb-second", toy_model_source("twin"), version="2.0")
    registry = load_registry()
    assert "twin" not in registry.models
    assert {"gb-first:twin", "gb-second:twin"} <= set(registry.models)

    assert main(run_args(runs_dir, "twin")) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "genbench: error: model 'twin' is provided by both gb-first 1.0 and gb-second 2.0, "
        "neither built in, so the bare name is ambiguous: use gb-first:twin or "
        "gb-second:twin (or let the bare name mean one with "
        "GENBENCH_PLUGINS=gb-first:twin,...)"
    )
    assert not runs_dir.exists() or not any(runs_dir.iterdir())

    _, meta = made(runs_dir, capsys, "gb-second:twin", "second")
    assert meta["plugin"]["distribution"] == "gb-second"
    # No such provider: which ones there are.
    assert main(run_args(runs_dir, "gb-third:twin")) == 2
    err = capsys.readouterr().err
    assert "no model 'twin' from 'gb-third' is installed" in err and "gb-first:twin" in err

    # GENBENCH_PLUGINS=DIST:NAME loads DIST and makes the bare name mean its model.
    monkeypatch.setenv("GENBENCH_PLUGINS", "gb-second:twin,gb-first")
    err, meta = made(runs_dir, capsys, "twin", "picked")
    assert err == "" and meta["plugin"]["distribution"] == "gb-second"
    # ... and picking the built-in over a plugin works the same way.
    plugin_site.add("genbench-gan2", toy_model_source("gan"))
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench-gan2:gan")
    assert load_registry().models["gan"].plugin.distribution == "genbench-gan2"
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench:gan,genbench-gan2")
    registry = load_registry()
    assert registry.models["gan"].plugin.builtin and not registry.warnings
    assert registry.get("gan", warn=pytest.fail).plugin.builtin  # picked: no warning
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench-gan2:gann")  # a typo picks nothing
    assert load_registry().warnings == [
        "GENBENCH_PLUGINS picks genbench-gan2:gann, but genbench-gan2 provides no 'gann'"
    ]
    monkeypatch.setenv("GENBENCH_PLUGINS", "gb-first:gan,genbench-gan2")
    assert load_registry().warnings == [
        "GENBENCH_PLUGINS picks gb-first:gan, but gb-first provides no 'gan'; 'gan' is "
        f"provided by genbench {genbench.__version__} (built in) and genbench-gan2 1.0"
    ]


def test_a_run_of_a_plugin_whose_name_now_clashes_resumes_by_its_distribution(
    plugin_site, capsys, runs_dir
):
    plugin_site.add("gb-first", toy_model_source("twin"))
    made(runs_dir, capsys, "twin", "r")
    plugin_site.add("gb-second", toy_model_source("twin"))
    resume = ["run", "--headless", "--resume", str(runs_dir / "r"), "--steps", "4", "--quiet"]
    assert main(resume) == 0
    assert capsys.readouterr().err == ""
    assert meta_of(runs_dir / "r")["plugin"]["distribution"] == "gb-first"


# -- hook mistakes ---------------------------------------------------------------------


def errors_of(dist: str) -> list[str]:
    return [b.error for b in load_registry().broken if b.plugin.distribution == dist]


def test_a_misspelt_hook_is_named_with_the_closest_hook(plugin_site, capsys, runs_dir):
    plugin_site.add(
        "gb-typo",
        toy_model_source("typo").replace("def genbench_models", "def genbench_model"),
    )
    assert errors_of("gb-typo") == [
        "hook genbench_model() is no genbench hook (did you mean genbench_models?)"
    ]
    assert main(run_args(runs_dir, "gb-typo:typo")) == 2  # qualified: the same reason
    assert capsys.readouterr().err.strip() == (
        "genbench: error: no model 'typo' from 'gb-typo' is installed (plugin gb-typo 1.0 "
        "is broken: hook genbench_model() is no genbench hook (did you mean genbench_models?))"
    )
    assert main(run_args(runs_dir, "typo")) == 2
    err = capsys.readouterr().err
    assert (
        "plugin gb-typo 1.0 may be meant to provide it" in err
        and "did you mean genbench_models?" in err
    )
    assert main(["models"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "broken plugin gb-typo (gb-typo 1.0): hook genbench_model() is no genbench" in out


def test_a_hook_without_hookimpl_is_named(plugin_site):
    plugin_site.add("gb-bare", toy_model_source("bare").replace("@hookimpl\n", ""))
    plugin_site.add(
        "gb-barer",
        toy_model_source("barer").replace("@hookimpl\ndef genbench_models", "def genbench_modls"),
    )
    assert errors_of("gb-bare") == [
        "genbench_models() is not marked @hookimpl (from genbench import hookimpl), "
        "so it is never called"
    ]
    assert errors_of("gb-barer") == [
        "genbench_modls() is not marked @hookimpl (from genbench import hookimpl), so it "
        "is never called, and is no genbench hook (did you mean genbench_models?)"
    ]


def test_a_plugin_implementing_no_hook_is_named(plugin_site):
    plugin_site.add("gb-empty", "X = 1\n")
    (error,) = errors_of("gb-empty")
    assert error.startswith("implements no genbench hook: mark its functions with @hookimpl")
    assert "genbench_datasets" in error and "genbench_models" in error


@pytest.mark.parametrize(
    ("hook", "returned", "words"),
    [
        (
            "genbench_models",
            "Toy",
            "genbench_models() returned the class Toy, not a list: return a list of "
            "GenerativeModel subclasses ([Toy])",
        ),
        (
            "genbench_models",
            "Toy()",
            "genbench_models() raised",  # building it fails first: named as its own error
        ),
        (
            "genbench_datasets",
            "'spiral'",
            "genbench_datasets() returned 'spiral', not a list: return a list of "
            "genbench.Dataset instances or callables returning one",
        ),
        (
            "genbench_executors",
            "Toy",
            "genbench_executors() returned the class Toy, not a list: return a list of "
            "genbench.Executor subclasses ([Toy])",
        ),
        (
            "genbench_loggers",
            "42",
            "genbench_loggers() returned 42, not a list: return a list of "
            "genbench.Logger subclasses",
        ),
    ],
)
def test_a_hook_returning_something_else_than_a_list_says_return_a_list(
    plugin_site, hook, returned, words
):
    source = toy_model_source("shape").replace(
        "@hookimpl\ndef genbench_models():\n    return [Toy]",
        f"@hookimpl\ndef {hook}():\n    return {returned}",
    )
    plugin_site.add("gb-shape", source)
    (error,) = errors_of("gb-shape")
    assert error.startswith(words)
    assert "not iterable" not in error


def test_a_list_of_instances_says_return_classes(plugin_site):
    source = toy_model_source("inst").replace("return [Toy]", "return [Toy.__new__(Toy)]")
    plugin_site.add("gb-inst", source)
    (error,) = errors_of("gb-inst")
    assert "which is not a GenerativeModel subclass (return a list of classes)" in error


# -- the workbench ----------------------------------------------------------------------


async def test_the_form_and_models_screen_list_both_providers_and_launch_the_one_picked(
    plugin_site, runs_dir, monkeypatch
):
    from textual.widgets import DataTable, Select

    from genbench.tui.app import GenbenchApp
    from tests.plugins.test_plugin_datasets_tui import LOADED, SIZE, form_datasets
    from tests.tui_support import text_of, wait_for

    plugin_site.add("genbench-lsgan", toy_model_source("lsgan"), version="0.3", ep_name="lsgan")
    app = GenbenchApp(runs_dir)
    launched = []
    monkeypatch.setattr(app, "launch", launched.append)
    async with app.run_test(size=SIZE) as pilot:
        assert await form_datasets(app, pilot, "genbench-lsgan:lsgan") == ["ring8", "grid25"]
        select = app.screen.query_one("#field-model", Select)
        labels = {value: str(label) for label, value in select._options}
        assert labels["lsgan"].startswith("lsgan (genbench)")
        assert labels["genbench-lsgan:lsgan"].startswith("lsgan (genbench-lsgan)")
        assert select.value == "genbench-lsgan:lsgan"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: launched, 10, "the launch")
        assert launched[0].model == "genbench-lsgan:lsgan"
        app.pop_screen()
        await pilot.pause()

        await pilot.press("m")
        await wait_for(pilot, lambda: app.run_choices is not None, LOADED, "run choices")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count, 20, "the models table")
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert "lsgan (genbench)" in names and "lsgan (genbench-lsgan)" in names
        problems = " ".join(text_of(app.screen.query_one("#models-problems")).split())
        assert "name clash model 'lsgan' is provided by genbench" in problems
        assert "'lsgan' means genbench's, genbench-lsgan:lsgan the other's" in problems


def test_a_cloned_run_keeps_its_provider_in_the_form(plugin_site):
    from genbench.tui.choices import RunChoices

    plugin_site.add("genbench-lsgan", toy_model_source("lsgan"), ep_name="lsgan")
    choices = RunChoices(load_registry())
    # What app.clone_run hands the form: the run's model qualified by its distribution.
    assert choices.find("genbench:lsgan") == "lsgan"
    assert choices.find("genbench-lsgan:lsgan") == "genbench-lsgan:lsgan"
    assert choices.find("gone-dist:lsgan") == "lsgan"  # its plugin gone: the name's owner
    assert choices.find("gone-dist:nothing") is None
    entry = choices.registry.models["lsgan"]
    assert (choices.label(entry), choices.launch_name(entry)) == (
        "lsgan (genbench)",
        "genbench:lsgan",
    )
    gan = choices.registry.models["gan"]  # no clash: as before
    assert (choices.label(gan), choices.launch_name(gan)) == ("gan", "gan")


def test_a_plugin_dataset_two_plugins_provide_trains_and_resumes_by_qualified_name(
    plugin_site, capsys, runs_dir
):
    from tests.plugins.test_third_party_plugins import SPIRAL_PLUGIN

    plugin_site.add("gb-spiral", SPIRAL_PLUGIN, version="0.2")
    plugin_site.add("gb-spiral-twin", SPIRAL_PLUGIN)
    assert main(run_args(runs_dir, "gan", "spiral")) == 2
    assert "use gb-spiral:spiral or gb-spiral-twin:spiral" in capsys.readouterr().err
    code = main([*run_args(runs_dir, "gan", "gb-spiral-twin:spiral"), "--name", "s", "--quiet"])
    assert code == 0, capsys.readouterr().err
    meta = meta_of(runs_dir / "s")
    assert (meta["dataset"], meta["data"]["plugin"]["distribution"]) == ("spiral", "gb-spiral-twin")
    resume = ["run", "--headless", "--resume", str(runs_dir / "s"), "--steps", "4", "--quiet"]
    assert main(resume) == 0, capsys.readouterr().err
    assert "warning" not in capsys.readouterr().err  # its provider, as recorded
    assert meta_of(runs_dir / "s")["data"]["plugin"]["distribution"] == "gb-spiral-twin"
