"""The layers hold: import-linter's contracts (pyproject.toml) are kept, each one
can fail, and the modules that must answer fast import no torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path, env_path: list[Path] | None = None) -> subprocess.CompletedProcess:
    env = None
    if env_path is not None:
        import os

        env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in env_path))
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_every_import_contract_is_kept():
    out = lint(REPO)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "0 broken" in out.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """genbench and its built-in plugins copied, to break one rule at a time."""
    root = tmp_path_factory.mktemp("arch")
    ignore = shutil.ignore_patterns("__pycache__", "*.pt", "*.json")
    shutil.copytree(REPO / "genbench", root / "genbench", ignore=ignore)
    shutil.copytree(REPO / "plugins", root / "plugins", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.parametrize(
    "module, line, contract",
    [
        ("genbench/runfolder/runs.py", "import genbench.cli", "Layers"),
        ("genbench/data/toys.py", "from genbench.training import loop", "Layers"),
        ("genbench/training/loop.py", "import genbench.metrics.evaluate", "Training never imports"),
        ("genbench/tui/app.py", "import genbench.training.launch", "The TUI starts trainers"),
        (
            "plugins/genbench_plugins/gan.py",
            "import genbench.runfolder.runs",
            "Built-in models import only",
        ),
    ],
)
def test_each_contract_fails_when_its_rule_is_broken(copy, module, line, contract):
    path = copy / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # a deliberate violation\n")
    try:
        # The copies come first on the path, ahead of the installed genbench and plugins.
        out = lint(copy, env_path=[copy, copy / "plugins"])
    finally:
        path.write_text(original)
    assert out.returncode != 0
    broken = [row for row in out.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(row.startswith(contract) for row in broken), out.stdout[-2000:]


def test_the_contract_the_run_folder_and_the_workbench_import_no_torch():
    modules = [
        "genbench",
        "genbench.api",
        "genbench.dataset",
        "genbench.hookspecs",
        "genbench.runfolder.runs",
        "genbench.runfolder.record",
        "genbench.runfolder.ownership",
        "genbench.host.threads",
        "genbench.cli",
        "genbench.tui.app",
        "genbench.data",
    ]
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "heavy = sorted(m for m in ('torch', 'torchvision') if m in sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_no_import_circle_between_genbench_packages():
    """Collapsing every module into its package under genbench (genbench.data,
    genbench.runfolder.runs, ...), the import graph has no circle: function-level imports
    included, since grimp reads every import statement."""
    import grimp

    graph = grimp.build_graph("genbench")

    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = package(module), package(imported)
            if a != b and a != "genbench" and b != "genbench":
                edges.setdefault(a, set()).add(b)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and not seen.add(nxt) and reaches(nxt, goal, seen)):
                return True
        return False

    circles = sorted(a for a in edges if reaches(a, a, set()))
    assert not circles, f"packages on an import circle: {circles}"
