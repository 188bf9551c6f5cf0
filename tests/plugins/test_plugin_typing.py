"""A plugin types its config without `type: ignore`: the model `genbench new-plugin`
writes passes mypy, and its `config` is the dataclass to mypy (a misspelt field is
an error), because the dataclass has a name of its own (`Config = MyganConfig`).
The built-in models are checked by the project's own mypy run ([tool.mypy])."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import genbench
from genbench.cli.scaffold import PluginNames, files_for

pytestmark = pytest.mark.slow  # one mypy run over the plugin and genbench's API: ~10 s

REPO = Path(__file__).resolve().parents[2]

# A third party's mypy: genbench read as an installed package (its own errors are not
# the plugin's), torch and the TUI's libraries skipped, since only the plugin's own
# annotations are in question here.
MYPY_INI = """\
[mypy]
ignore_missing_imports = True
check_untyped_defs = True
warn_unused_ignores = True
[mypy-genbench.*]
follow_imports = silent
[mypy-torch.*,torchvision.*,numpy.*,textual.*,rich.*,PIL.*,pluggy.*]
follow_imports = skip
"""


def mypy(cwd: Path, *files: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYPY")}
    where = Path(genbench.__file__).resolve().parents[1]
    if "site-packages" not in where.parts:  # an editable install: mypy cannot follow its finder
        env["MYPYPATH"] = str(where)
    (cwd / "mypy.ini").write_text(MYPY_INI)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-incremental",
         "--cache-dir", os.devnull, *files],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_new_plugin_template_types_its_config_without_an_ignore(tmp_path):
    names = PluginNames.from_name("genbench-mygan")
    for rel, text in files_for(names).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    model = tmp_path / "src" / names.package / "model.py"
    source = model.read_text()
    assert "type: ignore" not in source
    assert re.search(r"def __init__\(self, config: MyganConfig\b", source), source

    # The same model with a misspelt field: an error only if `config` is typed.
    typo = source.replace("config.latent_dim", "config.latnet_dim", 1)
    assert typo != source
    (model.parent / "model_typo.py").write_text(typo)

    out = mypy(tmp_path, f"src/{names.package}", "tests/test_model.py")
    errors = [line for line in out.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, out.stdout + out.stderr
    assert "model_typo.py" in errors[0], errors
    assert '"MyganConfig" has no attribute "latnet_dim"' in errors[0], errors


def test_the_builtin_models_annotate_their_config_without_an_ignore():
    """Each is written as the template is: its config annotated with the dataclass,
    which mypy accepts ([tool.mypy] checks them) with no valid-type to silence."""
    for path in sorted((REPO / "plugins" / "genbench_plugins").glob("*.py")):
        assert "ignore[valid-type]" not in path.read_text(), path.name
