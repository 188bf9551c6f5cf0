"""#31: a plugin whose import is slow slows every command that loads plugins; it is
named once, on stderr, with its seconds and what to do, and `genbench models
--timings` lists every plugin's import time. The built-in plugins load first, so a
third party is not charged for importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

from genbench import registry
from genbench.cli import main
from tests.conftest import toy_model_source

# Sleeps at import: the slowness is what is tested, not a wait for something to happen.
SLOW = """
import time

time.sleep(0.3)

from genbench import hookimpl


@hookimpl
def genbench_models():
    return []
"""


def test_a_slow_import_is_named_once(plugin_site, monkeypatch, capsys):
    monkeypatch.setattr(registry, "SLOW_IMPORT_S", 0.25)
    plugin_site.add("gb-slow", SLOW, version="0.4", ep_name="slowpoke")
    plugin_site.add("gb-quick", toy_model_source())
    assert main(["models", "--timings"]) == 0
    out = capsys.readouterr()
    named = [line for line in out.err.splitlines() if "to import" in line]
    assert len(named) == 1, out.err
    assert named[0].startswith("genbench: warning: plugin slowpoke (gb-slow 0.4) took 0.")
    assert "GENBENCH_PLUGINS can leave it out" in named[0]
    assert "gb-quick" not in out.err
    table = out.out[out.out.index("Plugin imports") :]
    assert "slowpoke" in table and "gb-slow 0.4" in table and "built-in" in table


def test_models_json_lists_import_times_built_ins_first(plugin_site, capsys):
    plugin_site.add("gb-slow", SLOW, version="0.4", ep_name="slowpoke")
    assert main(["models", "--json"]) == 0
    imports = json.loads(capsys.readouterr().out)["imports"]
    [slow] = [i for i in imports if i["distribution"] == "gb-slow"]
    assert slow["plugin"] == "slowpoke" and slow["seconds"] >= 0.3
    builtin = [i["distribution"] == "genbench" for i in imports]
    assert builtin == sorted(builtin, reverse=True), "the built-in plugins load first"


def test_torch_is_not_charged_to_a_plugin_where_the_built_ins_did_not_load(plugin_site):
    """`genbench datasets` loads only the third-party plugins: one that imports torch
    there is not named for torch's seconds; one slow on its own still is."""
    plugin_site.add("gb-torchy", "import torch\n", ep_name="torchy")
    plugin_site.add("gb-slow", SLOW, version="0.4", ep_name="slowpoke")
    code = (
        "import sys; from genbench import registry; registry.SLOW_IMPORT_S = 0.25; "
        "from genbench.cli import main; sys.exit(main(['datasets', '--json']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=plugin_site.env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    named = [line for line in done.stderr.splitlines() if "to import" in line]
    assert len(named) == 1 and "plugin slowpoke (gb-slow 0.4)" in named[0], done.stderr
