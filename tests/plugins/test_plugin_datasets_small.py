"""#31's smaller dataset items: `genbench datasets` with a third-party dataset plugin
installed imports no torch (only the third-party plugins load); $GENBENCH_DATA
reaches a plugin factory that takes data_dir, as it does the built-in datasets; a
`where` that already says "looked in" is not said twice; the table shows whole paths."""

from __future__ import annotations

import json
import subprocess
import sys

from genbench.cli import main
from genbench.dataset import where_looked

# A folder-backed dataset that imports nothing heavy: here when its folder holds dots.txt.
FOLDER_PLUGIN = """
from pathlib import Path
from genbench import Availability, DataSpec, Dataset, hookimpl


class Dots(Dataset):
    name, title, size = "dots", "dots from a folder", None
    spec = DataSpec(kind="points", shape=(2,))

    def __init__(self, data_dir=None):
        self.data_dir = data_dir

    def availability(self):
        folder = Path(self.data_dir or "/nowhere") / "dots"
        if (folder / "dots.txt").is_file():
            return Availability(True, str(folder))
        return Availability(False, f"looked in {folder}", "make dots.txt there")


@hookimpl
def genbench_datasets():
    return [Dots]
"""


def test_datasets_with_a_plugin_imports_no_torch(plugin_site, tmp_path):
    plugin_site.add("gb-dots", FOLDER_PLUGIN)
    code = (
        "import sys; from genbench.cli import main; code = main(['datasets', '--json']); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(code)"
    )
    env = dict(plugin_site.env(), XDG_DATA_HOME=str(tmp_path))
    env.pop("GENBENCH_DATA", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "dots" in done.stdout


def test_genbench_data_reaches_a_plugin_factory(plugin_site, tmp_path, monkeypatch, capsys):
    plugin_site.add("gb-dots", FOLDER_PLUGIN)
    (tmp_path / "data" / "dots").mkdir(parents=True)
    (tmp_path / "data" / "dots" / "dots.txt").write_text("0 0\n")
    monkeypatch.setenv("GENBENCH_DATA", str(tmp_path / "data"))
    assert main(["datasets", "--json"]) == 0
    [dots] = [d for d in json.loads(capsys.readouterr().out)["datasets"] if d["name"] == "dots"]
    assert dots["available"] and dots["where"] == str(tmp_path / "data" / "dots")


def test_looked_in_is_said_once(plugin_site, monkeypatch, capsys):
    plugin_site.add("gb-dots", FOLDER_PLUGIN)
    monkeypatch.delenv("GENBENCH_DATA", raising=False)
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "dots: looked in /nowhere/dots; make dots.txt there" in out
    assert "looked in looked in" not in out
    assert where_looked("/a, /b") == "looked in /a, /b"
    assert where_looked("Looked everywhere") == "Looked everywhere"


def test_the_table_shows_whole_paths(tmp_path, monkeypatch, capsys):
    deep = tmp_path / ("a-long-folder-name-" * 4) / "data"
    (deep / "dots").mkdir(parents=True)
    (deep / "dots" / "dots.txt").write_text("0 0\n")
    monkeypatch.setenv("COLUMNS", "80")
    from tests.conftest import PluginSite

    site = PluginSite(tmp_path / "site", monkeypatch)
    site.add("gb-dots", FOLDER_PLUGIN)
    try:
        assert main(["datasets", "--data-dir", str(deep)]) == 0
    finally:
        site.cleanup()
    table = capsys.readouterr().out.split("\n└")[0]
    cells = "".join(line.split("│")[-2].strip() for line in table.splitlines() if "│" in line)
    assert str(deep / "dots") in cells and "…" not in table


def test_a_run_without_live_checks_says_why_once(plugin_site, runs_dir, capsys):
    from tests.metrics.test_train_classifier import BARS_PLUGIN

    plugin_site.add("gb-bars", BARS_PLUGIN)
    bars = json.loads(_datasets_json(capsys))
    name = next(d["name"] for d in bars["datasets"] if d["provider"].startswith("gb-bars"))
    argv = ["run", "--headless", "--quiet", "--model", "gan", "--dataset", name, "--steps", "2"]
    assert main([*argv, "--set", "hidden=16", "--runs-dir", str(runs_dir), "--name", "b"]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "no live quality checks" in line]
    assert said == [
        f"genbench: note: no live quality checks on {name!r}: it has no feature classifier "
        f"yet; `genbench train-classifier {name}` makes one, and then new runs, resumed "
        "ones and `genbench eval` measure it"
    ], err


def _datasets_json(capsys) -> str:
    assert main(["datasets", "--json"]) == 0
    return capsys.readouterr().out


def test_new_plugin_dataset_titles_and_next_steps(tmp_path, capsys):
    """The template's own data is no part of the title an author would have to find and
    change; the next steps are printed after the package is written."""
    for kind in ("points", "image"):
        target = tmp_path / kind
        argv = ["new-plugin", f"genbench-my{kind}", "--dir", str(target), "--dataset", kind]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "next:" in out and "pip install -e ." in out and "genbench datasets" in out
        data = (target / "src" / f"genbench_my{kind}" / "data.py").read_text()
        [title] = [line for line in data.splitlines() if line.strip().startswith("title = ")]
        assert title.split("#")[0].strip() == f'title = "My{kind}"', title
