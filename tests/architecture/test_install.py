"""genbench installs as a user would install it, both ways: a regular install
(`pip install .`) and an editable one (`pip install -e .`). Each lists the built-in
models from another folder, carries its package data, and installs no top-level
package but genbench and genbench_plugins.

pip runs offline (--no-index --no-deps --no-build-isolation: the build backend is
this venv's setuptools) into a fresh venv's site-packages with --target, so it never
touches the venv the tests run in. The fresh venv borrows the dependencies (torch,
textual, ...) through a .pth line naming this venv's site-packages: a plain path, so
this venv's own editable genbench is not activated there, and the fresh install,
which comes first on the path, is the genbench that venv imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL = {"genbench", "genbench_plugins"}
# Names a packaging mistake would install (the folders at the project's top level).
STRAY = ("plugins", "tests", "benchmarks", "docs", "runs", "build")

pytestmark = pytest.mark.slow  # two installs and four processes that import torch: ~25 s

# Run in the fresh venv: where genbench, its plugins and its package data come from,
# the installed distribution's top-level names, and which stray names import at all.
PROBE = """
import importlib.metadata as md, importlib.util, json, sys
from pathlib import Path
import genbench, genbench_plugins
package = Path(genbench.__file__).parent
dist = md.distribution("genbench")
top_level = (dist.read_text("top_level.txt") or "").split()
record = sorted({f.parts[0] for f in dist.files or () if f.parts[0] != ".."})
stray = {}
for name in sys.argv[1:]:
    spec = importlib.util.find_spec(name)
    if spec is not None:
        stray[name] = spec.origin or list(spec.submodule_search_locations or ())
print(json.dumps({
    "genbench": str(package),
    "genbench_plugins": str(Path(genbench_plugins.__file__).parent),
    "weights": sorted(p.name for p in (package / "metrics" / "weights").iterdir()),
    "tcss": sorted(p.name for p in (package / "tui").glob("*.tcss")),
    "py.typed": (package / "py.typed").is_file(),
    "top_level": top_level,
    "record": record,
    "dist_at": str(dist.locate_file("")),
    "scripts": [f"{e.name}={e.value}" for e in dist.entry_points.select(group="console_scripts")],
    "stray": {k: str(v) for k, v in stray.items()},
}))
"""


def _skip_names(folder: str, names: list[str]) -> set[str]:
    """What a checkout has that is not the project: hidden files, caches, and at the
    top, the venv and earlier builds."""
    top = Path(folder) == REPO
    return {
        n
        for n in names
        if n.startswith(".")
        or n == "__pycache__"
        or n.endswith(".pyc")
        or (top and (n in ("build", "dist") or n.endswith(".egg-info")))
    }


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The project copied (setuptools writes build/ and *.egg-info into the tree it
    builds, and a stale build/ would be installed too)."""
    root = tmp_path_factory.mktemp("source") / "genbench"
    shutil.copytree(REPO, root, ignore=_skip_names)
    return root


def _deps_paths() -> list[str]:
    paths = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    return sorted(p for p in paths if p)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "GENBENCH_"))}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _install(source: Path, root: Path, editable: bool) -> Path:
    """A fresh venv under ``root`` with genbench installed from ``source``; its python."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
        env=_clean_env(),
    ).stdout.strip()
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index"]
    pip += ["--no-build-isolation", "--disable-pip-version-check", "--target", site]
    pip += ["-e", str(source)] if editable else [str(source)]
    out = subprocess.run(pip, cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    # After the install: a .pth line is a plain path, so this venv's own .pth files
    # (its editable genbench's finder among them) are not run there.
    (Path(site) / "zz_genbench_test_deps.pth").write_text("\n".join(_deps_paths()) + "\n")
    return python


@pytest.fixture(scope="module", params=["regular", "editable"])
def installed(request, source, tmp_path_factory) -> tuple[str, Path, Path]:
    root = tmp_path_factory.mktemp(request.param)
    return request.param, _install(source, root, request.param == "editable"), root


def _run(python: Path, cwd: Path, *args: str) -> str:
    out = subprocess.run(
        [str(python), *args], cwd=cwd, env=_clean_env(), capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def _builtin_models(listing: str) -> list[str]:
    data = json.loads(listing)
    assert data["broken"] == [], data["broken"]
    return sorted(m["name"] for m in data["models"] if m["builtin"])


@pytest.fixture(scope="module")
def expected_models() -> list[str]:
    """The built-in models of the install the tests run in."""
    listing = subprocess.run(
        [sys.executable, "-m", "genbench", "models", "--json"],
        capture_output=True, text=True, check=True, timeout=180,
    ).stdout  # fmt: skip
    return _builtin_models(listing)


def test_the_install_lists_the_builtin_models_from_elsewhere(installed, expected_models):
    kind, python, root = installed
    elsewhere = root / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    models = _builtin_models(_run(python, elsewhere, "-m", "genbench", "models", "--json"))
    assert "gan" in models and models == expected_models, kind


def test_the_install_has_its_package_data_and_no_stray_package(installed, source):
    kind, python, root = installed
    elsewhere = root / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    found = json.loads(_run(python, elsewhere, "-c", PROBE, *STRAY))
    site = Path(found["dist_at"])
    if kind == "regular":
        # The installed copy, not the source or the venv the tests run in.
        assert Path(found["genbench"]) == site / "genbench"
        assert Path(found["genbench_plugins"]) == site / "genbench_plugins"
        assert set(found["record"]) == TOP_LEVEL | {f"{n}.dist-info" for n in _dist_names(site)}
    else:
        assert Path(found["genbench"]) == source / "genbench"
        assert Path(found["genbench_plugins"]) == source / "plugins" / "genbench_plugins"
    assert set(found["top_level"]) == TOP_LEVEL
    assert found["scripts"] == ["genbench=genbench.cli:main"]
    # Only what this install put there: the borrowed site-packages may hold a `tests`
    # of some other distribution's.
    ours = (str(root), str(source))
    stray = {
        name: where
        for name, where in found["stray"].items()
        if ours[0] in where or ours[1] in where
    }
    assert stray == {}, f"{kind} install has stray top-level packages"

    package = source / "genbench"
    weights = sorted(p.name for p in (package / "metrics" / "weights").iterdir())
    assert any(n.endswith(".pt") for n in weights)
    assert found["weights"] == weights
    assert found["tcss"] == sorted(p.name for p in (package / "tui").glob("*.tcss"))
    assert found["tcss"] and found["py.typed"]


def _dist_names(site: Path) -> list[str]:
    return [p.name.removesuffix(".dist-info") for p in site.glob("genbench-*.dist-info")]
