"""`genbench models` answers from its last listing while no plugin changed, without
importing a plugin (so without torch), and lists afresh when anything did."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from genbench.cli import main
from genbench.listing_cache import CACHE_FILE, cache_dir
from tests.conftest import toy_model_source

LIST_AND_SAY_TORCH = (
    "import sys; from genbench.cli import main; main(['models']); "
    "print('torch imported:', 'torch' in sys.modules)"
)


def test_a_second_listing_imports_no_torch_and_reads_the_same(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))

    def listing() -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", LIST_AND_SAY_TORCH],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.splitlines()

    first, second = listing(), listing()
    assert first[-1] == "torch imported: True" and second[-1] == "torch imported: False"
    assert first[:-1] == second[:-1] and any("dcgan" in line for line in second)


def _models(capsys) -> dict:
    assert main(["models", "--json"]) == 0
    return {m["use"]: m for m in json.loads(capsys.readouterr().out)["models"]}


def test_an_installed_or_edited_plugin_is_listed_afresh(plugin_site, capsys):
    assert "toyish" not in _models(capsys)
    module = plugin_site.add("gb-toyish", toy_model_source("toyish"), ep_name="toyish")
    assert _models(capsys)["toyish"]["title"] == "Toy"
    path = plugin_site.root / f"{module}.py"
    path.write_text(path.read_text().replace('title = "Toy"', 'title = "Toy, edited"'))
    sys.modules.pop(module, None)
    assert _models(capsys)["toyish"]["title"] == "Toy, edited"
    assert (cache_dir() / CACHE_FILE).is_file()


def test_a_listing_with_a_broken_plugin_is_never_kept(plugin_site, capsys):
    plugin_site.add("gb-broken", "raise ImportError('no such library')", ep_name="broken")
    assert main(["models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["broken"]
    assert not (cache_dir() / CACHE_FILE).exists()


def test_a_damaged_cache_is_listed_afresh(capsys):
    listed = _models(capsys)
    path = cache_dir() / CACHE_FILE
    kept = json.loads(path.read_text())
    for damage in (b"\x00garbage", b"[]", json.dumps({**kept, "listing": {"models": 7}}).encode()):
        path.write_bytes(damage)
        assert _models(capsys) == listed
        assert json.loads(path.read_text()) == kept  # and written again whole
