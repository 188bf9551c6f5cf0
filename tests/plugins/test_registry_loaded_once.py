"""A command loads the plugins once and hands the registry down: a plugin's hooks are
called once per command, and what is wrong with GENBENCH_PLUGINS is said once, however
many times the command looks a dataset up (new run, resume, eval, train-classifier)."""

from __future__ import annotations

from genbench.cli import main
from tests.plugins.test_plugin_mistakes import RING5_PLUGIN

# The same dataset plugin, saying on stderr each time its hook is asked.
COUNTED = RING5_PLUGIN.replace(
    "def genbench_datasets():\n",
    "def genbench_datasets():\n"
    "    import sys\n"
    "    print('gb-ring5: hook called', file=sys.stderr)\n",
)


def test_each_command_loads_the_plugins_once(plugin_site, runs_dir, capsys, monkeypatch):
    plugin_site.add("gb-ring5", COUNTED)
    # A filter naming the plugin and one not installed: a warning every command says once.
    monkeypatch.setenv("GENBENCH_PLUGINS", "gb-ring5,gb-not-here")

    def said(argv: list[str]) -> str:
        assert main(argv) == 0
        return capsys.readouterr().err

    small = ["--steps", "4", "--log-every", "2", "--eval-every", "4", "--threads", "1"]
    new = said(
        ["run", "--headless", "--quiet", "--model", "gan", "--dataset", "ring5"]
        + ["--set", "hidden=8", "--runs-dir", str(runs_dir), "--name", "r5", *small]
    )
    resumed = said(
        ["run", "--headless", "--quiet", "--resume", str(runs_dir / "r5")]
        + ["--steps", "6", "--threads", "1"]
    )
    evaluated = said(["eval", str(runs_dir / "r5"), "--json", "--samples", "200"])
    for err in (new, resumed, evaluated):
        assert err.count("gb-ring5: hook called") == 1, err
        assert err.count("gb-not-here") == 1, err
