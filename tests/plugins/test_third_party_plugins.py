"""The third-party plugin path: new-plugin, a generated plugin registered and
trained, plugin datasets, and runs whose plugin changed or went away."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import tomllib

from genbench.cli import main
from genbench.registry import load_registry
from genbench.testing import check_model
from tests.conftest import toy_model_source


def unique_name() -> str:
    return f"genbench-t{uuid.uuid4().hex[:8]}"


def register(plugin_dir: Path, site, monkeypatch) -> None:
    """Make a generated plugin findable exactly as `pip install -e` would: its src/ on
    sys.path and a dist-info whose metadata and entry points come from its own
    pyproject.toml (so a wrong pyproject fails here). No network, no pip."""
    project = tomllib.loads((plugin_dir / "pyproject.toml").read_text())["project"]
    info = site.root / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    points = project["entry-points"]["genbench"]
    (info / "entry_points.txt").write_text(
        "[genbench]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    )
    monkeypatch.syspath_prepend(str(plugin_dir / "src"))
    package = project["name"].replace("-", "_")
    site.modules += [package, f"{package}.model"]


def generate(tmp_path, capsys) -> tuple[str, Path]:
    name = unique_name()
    target = tmp_path / "work" / name
    assert main(["new-plugin", name, "--dir", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"created {name}" in out and "pip install -e ." in out
    return name, target


def test_new_plugin_writes_a_package_that_lists_trains_and_passes_check_model(
    tmp_path, plugin_site, monkeypatch, capsys, runs_dir
):
    dist, target = generate(tmp_path, capsys)
    package, model = dist.replace("-", "_"), dist.removeprefix("genbench-")
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "pyproject.toml",
        f"src/{package}/__init__.py",
        f"src/{package}/model.py",
        "tests/test_model.py",
    ]
    pyproject = tomllib.loads((target / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["genbench"] == {model: f"{package}.model"}
    assert any(d.startswith("genbench") for d in pyproject["project"]["dependencies"])

    register(target, plugin_site, monkeypatch)
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    (entry,) = [m for m in listing["models"] if m["name"] == model]
    assert (entry["distribution"], entry["version"], entry["builtin"]) == (dist, "0.1.0", False)
    assert entry["module"] == f"{package}.model" and entry["kinds"] == ["image", "points"]
    assert not listing["broken"]

    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                model,
                "--dataset",
                "ring8",
                "--steps",
                "40",
                "--log-every",
                "10",
                "--sample-every",
                "40",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "first",
                "--json",
            ]
        )
        == 0
    )
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["status"] == "completed" and events[-1]["step"] == 40
    assert {"d", "g"} == set(next(e for e in events if e["event"] == "metrics")["losses"])
    meta = json.loads((runs_dir / "first" / "run.json").read_text())
    assert meta["plugin"] == {"name": model, "distribution": dist, "version": "0.1.0"}
    assert (runs_dir / "first" / "samples" / "latest.png").is_file()

    model_cls = load_registry().get(model).cls
    check_model(model_cls)
    check_model(
        model_cls,
        config={"hidden": 32},
        spec=__import__("genbench").DataSpec("image", (1, 28, 28), 10),
    )


def _can_build_without_network() -> bool:
    """pip can build a wheel from the venv's own setuptools (70.1+ has bdist_wheel
    built in; older ones need the `wheel` package)."""
    try:
        import setuptools
    except ImportError:
        return False
    version = tuple(int(p) for p in setuptools.__version__.split(".")[:2] if p.isdigit())
    return version >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.mark.slow
def test_generated_plugin_pip_installs_and_its_own_tests_pass(tmp_path, capsys):
    """The real thing: pip builds and installs the generated package (into a target
    folder, not this venv), then the plugin's own generated tests run against it."""
    dist, target = generate(tmp_path, capsys)
    site = tmp_path / "installed"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-input",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(site),
        str(target),
    ]
    if _can_build_without_network():
        cmd.insert(5, "--no-build-isolation")
    built = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    assert list(site.glob(f"{dist.replace('-', '_')}-0.1.0.dist-info/entry_points.txt"))

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    env.pop("GENBENCH_PLUGINS", None)
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "3 passed" in tests.stdout


# -- new-plugin bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, words",
    [
        ("9lives", "not valid"),
        ("my plugin", "not valid"),
        ("bad--name", "not valid"),
        ("trailing-", "not valid"),
        ("genbench", "reserved"),
        ("class", "reserved"),
        ("json", "already importable"),
        ("gan", "already installed"),
    ],
)
def test_new_plugin_refuses_bad_names_and_writes_nothing(tmp_path, capsys, name, words):
    target = tmp_path / "out"
    assert main(["new-plugin", name, "--dir", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and err.startswith("genbench: error:")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_new_plugin_refuses_a_non_empty_folder_and_leaves_it_alone(tmp_path, capsys):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    assert main(["new-plugin", unique_name(), "--dir", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert "already exists and is a non-empty folder" in err and len(err.splitlines()) == 1
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]  # no staging left over


def test_new_plugin_fills_an_empty_current_folder(tmp_path, capsys, monkeypatch):
    here = tmp_path / "empty"
    here.mkdir()
    monkeypatch.chdir(here)
    name = unique_name()
    assert main(["new-plugin", name, "--dir", "."]) == 0
    assert "cd ." not in capsys.readouterr().out
    assert (here / "pyproject.toml").is_file() and Path.cwd() == here
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_new_plugin_defaults_to_a_folder_named_after_the_plugin(tmp_path, capsys):
    name = unique_name()
    assert main(["new-plugin", name]) == 0  # the autouse fixture chdir'd to tmp_path
    assert (tmp_path / name / "src" / name.replace("-", "_") / "model.py").is_file()


# -- datasets shipped by plugins -----------------------------------------------------------

# The example from docs/plugins.md: a spiral of 2D points, generated on the device.
SPIRAL_PLUGIN = """
import math
import torch
from genbench import DataSpec, Dataset, hookimpl


class Spiral(Dataset):
    title = "Two-armed spiral"
    size = None                                   # generated on the fly: no epochs

    def __init__(self, name="spiral", turns=2.0):
        self.name, self.turns = name, turns
        self.spec = DataSpec(kind="points", shape=(2,), num_classes=2)

    def sampler(self, batch_size, device, seed):
        return SpiralSampler(self.turns, batch_size, device, seed)


class SpiralSampler:
    def __init__(self, turns, batch_size, device, seed):
        self.turns, self.batch_size, self.device = turns, batch_size, device
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def next(self):
        g, n = self.generator, self.batch_size
        t = torch.rand(n, generator=g, device=self.device)
        arm = torch.randint(0, 2, (n,), generator=g, device=self.device)
        angle = 2 * math.pi * self.turns * t + math.pi * arm
        x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], 1)
        return x + 0.02 * torch.randn(n, 2, generator=g, device=self.device), arm

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])


@hookimpl
def genbench_datasets():
    return [Spiral(), lambda: Spiral("spiral3", turns=3.0)]
"""


def test_a_plugin_dataset_is_listed_and_trained_on(plugin_site, capsys, runs_dir):
    plugin_site.add("gb-spiral", SPIRAL_PLUGIN, version="0.2")
    registry = load_registry()
    assert set(registry.datasets) == {"spiral", "spiral3"} and not registry.broken
    assert registry.datasets["spiral"].plugin.distribution == "gb-spiral"

    assert main(["datasets", "--json"]) == 0
    rows = {d["name"]: d for d in json.loads(capsys.readouterr().out)["datasets"]}
    assert {"ring8", "spiral", "spiral3"} <= set(rows)
    assert rows["spiral"]["kind"] == "points" and rows["spiral"]["classes"] == 2

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
                "6",
                "--log-every",
                "3",
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
    meta = json.loads((runs_dir / "s" / "run.json").read_text())
    assert meta["dataset"] == "spiral3" and meta["status"] == "completed"
    assert meta["data"]["plugin"] == {
        "name": "gb-spiral",
        "distribution": "gb-spiral",
        "version": "0.2",
    }


def test_plugin_datasets_that_are_broken_clash_or_take_no_options_say_so(
    plugin_site, capsys, runs_dir
):
    plugin_site.add("gb-spiral", SPIRAL_PLUGIN)
    plugin_site.add("gb-spiral-twin", SPIRAL_PLUGIN.replace('Spiral("spiral3"', 'Spiral("s9"'))
    plugin_site.add(
        "gb-badsets",
        """
        from genbench import hookimpl
        from genbench.data.toys import ring8

        def explodes():
            raise RuntimeError("no data here")

        @hookimpl
        def genbench_datasets():
            return [ring8(), explodes, "not a dataset"]
    """,
    )
    registry = load_registry()
    errors = [b.error for b in registry.broken if b.plugin.distribution == "gb-badsets"]
    assert len(errors) == 3
    assert any("taken by a built-in dataset" in e for e in errors)
    assert any("RuntimeError: no data here" in e for e in errors)
    assert any("neither a genbench.Dataset nor a callable" in e for e in errors)
    assert "spiral" in registry.dataset_conflicts and "spiral" not in registry.datasets
    assert "s9" in registry.datasets and "ring8" not in registry.datasets

    code = main(
        ["run", "--headless", "--model", "gan", "--dataset", "spiral", "--runs-dir", str(runs_dir)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "gb-spiral" in err and "gb-spiral-twin" in err
    code = main(
        [
            "run",
            "--headless",
            "--model",
            "gan",
            "--dataset",
            "s9",
            "--image-size",
            "32",
            "--runs-dir",
            str(runs_dir),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "does not take --image-size" in err
    code = main(
        ["run", "--headless", "--model", "gan", "--dataset", "nope", "--runs-dir", str(runs_dir)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "s9" in err and "ring8" in err  # valid names include plugin ones
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


# -- runs whose plugin changed or went away --------------------------------------------------


def set_version(site, dist: str, version: str | None) -> None:
    """Reinstall (or, with None, uninstall) distribution ``dist`` at another version."""
    (info,) = site.root.glob(f"{dist.replace('-', '_')}-*.dist-info")
    if version is None:
        shutil.rmtree(info)
        return
    metadata = (info / "METADATA").read_text().splitlines()
    new = info.with_name(f"{dist.replace('-', '_')}-{version}.dist-info")
    info.rename(new)
    (new / "METADATA").write_text(
        "\n".join(
            f"Version: {version}" if line.startswith("Version:") else line for line in metadata
        )
    )


def first_run(runs_dir, capsys) -> Path:
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "toy",
                "--dataset",
                "ring8",
                "--steps",
                "4",
                "--log-every",
                "2",
                "--checkpoint-every",
                "2",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "r",
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    return runs_dir / "r"


def test_resuming_with_another_plugin_version_warns_and_records_it(plugin_site, capsys, runs_dir):
    plugin_site.add("gb-toy", toy_model_source("toy"), version="1.0")
    run = first_run(runs_dir, capsys)
    set_version(plugin_site, "gb-toy", "1.1")

    assert main(["run", "--headless", "--resume", str(run), "--steps", "6", "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "genbench: warning: model 'toy' was trained with gb-toy 1.0; 1.1 is "
        "installed here: continuing with 1.1, results may differ"
    ]
    meta = json.loads((run / "run.json").read_text())
    assert meta["plugin"]["version"] == "1.1" and meta["step"] == 6
    assert meta["previous_plugins"] == [
        {"name": "gb-toy", "distribution": "gb-toy", "version": "1.0"}
    ]


def test_resuming_without_the_plugin_is_one_clear_line(plugin_site, capsys, runs_dir, monkeypatch):
    plugin_site.add("gb-toy", toy_model_source("toy"), version="1.0")
    run = first_run(runs_dir, capsys)
    before = (run / "run.json").read_text()

    monkeypatch.setenv("GENBENCH_PLUGINS", "")
    assert main(["run", "--headless", "--resume", str(run), "--steps", "6"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "GENBENCH_PLUGINS='' excludes it" in err
    monkeypatch.delenv("GENBENCH_PLUGINS")

    set_version(plugin_site, "gb-toy", None)
    assert main(["run", "--headless", "--resume", str(run), "--steps", "6"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "genbench: error: this run was trained with model 'toy' from plugin gb-toy "
        "1.0, which is not available here; install it "
        "(pip install 'gb-toy==1.0') to continue"
    )
    assert (run / "run.json").read_text() == before


def test_resuming_with_a_broken_plugin_names_its_error(plugin_site, capsys, runs_dir):
    module = plugin_site.add("gb-toy", toy_model_source("toy"), version="1.0")
    run = first_run(runs_dir, capsys)
    (plugin_site.root / f"{module}.py").write_text("raise ImportError('needs libfoo 9')\n")
    sys.modules.pop(module, None)
    assert main(["run", "--headless", "--resume", str(run), "--steps", "6"]) == 2
    err = capsys.readouterr().err.strip()
    assert "installed but broken" in err and "needs libfoo 9" in err


def test_models_json_says_where_each_model_comes_from(capsys):
    assert main(["models", "--json"]) == 0
    gan = next(m for m in json.loads(capsys.readouterr().out)["models"] if m["name"] == "gan")
    assert gan["builtin"] and gan["module"] == "genbench_plugins.gan"
    assert gan["class"] == "genbench_plugins.gan.GAN"


def test_public_api_exposes_dataset_classes_without_torch():
    code = (
        "import sys, genbench; from genbench import Dataset, Availability, BatchSampler; "
        "assert Dataset.__module__ == 'genbench.dataset'; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_evaluating_a_run_without_its_plugin_is_one_clear_line(plugin_site, capsys, runs_dir):
    plugin_site.add("gb-toy", toy_model_source("toy"), version="1.0")
    run = first_run(runs_dir, capsys)
    set_version(plugin_site, "gb-toy", None)
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'gb-toy==1.0'" in err


def test_evaluating_with_another_plugin_version_warns(plugin_site, capsys, runs_dir):
    from genbench.training.launch import restore_model

    plugin_site.add("gb-toy", toy_model_source("toy"), version="1.0")
    run = first_run(runs_dir, capsys)
    set_version(plugin_site, "gb-toy", "2.0")
    warnings = []
    model, dataset, meta, step = restore_model(run, load_registry(), warn=warnings.append)
    assert step == 4 and dataset.name == "ring8"
    assert warnings == [
        "model 'toy' was trained with gb-toy 1.0; 2.0 is installed here: "
        "continuing with 2.0, results may differ"
    ]
