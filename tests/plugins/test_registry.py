"""The plugin registry: good, broken and clashing plugins, through real entry points."""

from __future__ import annotations

import json

from genbench.cli import main
from genbench.registry import load_registry
from tests.conftest import toy_model_source


def test_builtin_models_are_registered_through_the_entry_point_group():
    registry = load_registry()
    gan = registry.get("gan")
    assert gan.plugin.builtin and gan.plugin.distribution == "genbench"
    assert gan.cls.__module__ == "genbench_plugins.gan"
    assert not registry.broken


def test_third_party_plugin_is_listed_with_its_distribution(plugin_site, capsys):
    plugin_site.add("gb-toy", toy_model_source("toy"), version="2.3")
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    toy = next(m for m in listing["models"] if m["name"] == "toy")
    assert (toy["distribution"], toy["version"], toy["builtin"]) == ("gb-toy", "2.3", False)
    assert "gan" in {m["name"] for m in listing["models"]}


def test_broken_plugins_are_listed_and_everything_else_keeps_working(plugin_site, capsys):
    plugin_site.add("gb-good", toy_model_source("good"))
    plugin_site.add("gb-import", "raise ImportError('needs libfoo 9')\n")
    plugin_site.add(
        "gb-hook",
        """
        from genbench import hookimpl
        @hookimpl
        def genbench_models():
            raise RuntimeError("hook exploded\\nsecond line")
    """,
    )
    plugin_site.add(
        "gb-notamodel",
        """
        from genbench import hookimpl
        @hookimpl
        def genbench_models():
            return [object, "nonsense"]
    """,
    )
    registry = load_registry()
    assert {"gan", "good"} <= set(registry.models)
    errors = {b.plugin.distribution: b.error for b in registry.broken}
    assert "ImportError: needs libfoo 9" in errors["gb-import"]
    assert "RuntimeError: hook exploded" in errors["gb-hook"]
    assert "\n" not in errors["gb-hook"]
    assert "not a GenerativeModel subclass" in errors["gb-notamodel"]

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "broken plugin" in out and "gb-import" in out and "good" in out


def test_two_plugins_claiming_one_name_are_both_reported_and_neither_wins(
    plugin_site, capsys, runs_dir
):
    plugin_site.add("gb-first", toy_model_source("twin"))
    plugin_site.add("gb-second", toy_model_source("twin"))
    registry = load_registry()
    assert "twin" not in registry.models
    assert {e.plugin.distribution for e in registry.conflicts["twin"]} == {"gb-first", "gb-second"}

    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert {c["distribution"] for c in listing["conflicts"]} == {"gb-first", "gb-second"}

    code = main(
        ["run", "--headless", "--model", "twin", "--dataset", "ring8", "--runs-dir", str(runs_dir)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "gb-first" in err and "gb-second" in err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_genbench_plugins_variable_restricts_third_party_plugins(plugin_site, monkeypatch):
    plugin_site.add("gb-toy", toy_model_source("toy"))
    monkeypatch.setenv("GENBENCH_PLUGINS", "")
    assert set(load_registry().models) >= {"gan"} and "toy" not in load_registry().models
    monkeypatch.setenv("GENBENCH_PLUGINS", "gb-toy")
    assert "toy" in load_registry().models
