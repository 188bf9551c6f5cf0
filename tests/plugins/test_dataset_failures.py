"""#31: a plugin dataset's failure is told as that dataset's, in one line: the dataset,
its plugin, what it raised and the plugin's line that raised it; never as the
model's bug ("model 'toy' raised RuntimeError") or the run folder's disk ("cannot
write the run folder: disk read error"). `DatasetUnavailable` is the plugin's own
words with no type; before a run folder exists every failure is exit 2, no
traceback; mid-run the run fails with that line as its message, in run.json (the
workbench's "Run failed" toast) and on the terminal."""

from __future__ import annotations

import json

import pytest

from genbench.cli import main
from genbench.tui.app import GenbenchApp
from genbench.tui.launcher import LaunchRequest
from tests.conftest import toy_model_source
from tests.tui.test_notifications import record_notifications
from tests.tui_support import wait_for

# One distribution, a dataset per failure: "<when>-<kind>" raises <kind> in prepare()
# or in its sampler's fourth draw (mid-run, after the checkpoint at step 2).
FAILING_PLUGIN = """
import torch
from genbench import DataSpec, Dataset, DatasetUnavailable, hookimpl

KINDS = ("unavailable", "oserror", "valueerror", "filenotfound", "runtimeerror")


def fail(kind):
    if kind == "unavailable":
        raise DatasetUnavailable("no spiral.npz in /nowhere; run `make-spiral /nowhere`")
    if kind == "oserror":
        raise OSError(5, "disk read error")
    if kind == "valueerror":
        raise ValueError("spiral.npz has no 'points' array")
    if kind == "filenotfound":
        open("/nowhere/spiral.npz")
    raise RuntimeError("shard 3 is corrupt")


class Failing(Dataset):
    title = "fails on purpose"
    size = None

    def __init__(self, when, kind):
        self.name, self.when, self.kind = f"{when}-{kind}", when, kind
        self.spec = DataSpec(kind="points", shape=(2,))

    def prepare(self):
        if self.when == "prepare":
            fail(self.kind)

    def sampler(self, batch_size, device, seed):
        return Sampler(self.kind if self.when == "sampler" else None, batch_size, device, seed)


class Sampler:
    def __init__(self, kind, batch_size, device, seed):
        self.kind, self.n, self.device, self.drawn = kind, batch_size, device, 0
        self.g = torch.Generator(device=device).manual_seed(seed)

    def next(self):
        self.drawn += 1
        if self.kind and self.drawn > 3:
            fail(self.kind)
        return torch.randn(self.n, 2, generator=self.g, device=self.device), None

    def state_dict(self):
        return {"drawn": self.drawn, "g": self.g.get_state()}

    def load_state_dict(self, state):
        self.drawn = state["drawn"]
        self.g.set_state(state["g"])


@hookimpl
def genbench_datasets():
    return [Failing(when, kind) for when in ("prepare", "sampler") for kind in KINDS]
"""

PREPARE = {
    "unavailable": "no spiral.npz in /nowhere; run `make-spiral /nowhere`",
    "oserror": "prepare() raised OSError: [Errno 5] disk read error (at ",
    "valueerror": "prepare() raised ValueError: spiral.npz has no 'points' array (at ",
    "filenotfound": "prepare() raised FileNotFoundError: [Errno 2] No such file or directory: ",
    "runtimeerror": "prepare() raised RuntimeError: shard 3 is corrupt (at ",
}
SAMPLER = {
    "unavailable": "no spiral.npz in /nowhere; run `make-spiral /nowhere`",
    "oserror": "its sampler raised OSError: [Errno 5] disk read error (at ",
    "runtimeerror": "its sampler raised RuntimeError: shard 3 is corrupt (at ",
}


@pytest.fixture
def failing(plugin_site, monkeypatch):
    """The failing datasets' module name (installed as gb-failing 0.3) and a toy model."""
    module = plugin_site.add("gb-failing", FAILING_PLUGIN, version="0.3")
    plugin_site.add("gb-toy", toy_model_source())
    monkeypatch.setenv("PYTHONPATH", plugin_site.env()["PYTHONPATH"])  # the workbench's children
    return module


def run(runs_dir, dataset: str, name: str = "r") -> int:
    return main(
        [
            "run",
            "--headless",
            "--quiet",
            "--model",
            "toy",
            "--dataset",
            dataset,
            "--steps",
            "10",
            "--log-every",
            "2",
            "--checkpoint-every",
            "2",
            "--runs-dir",
            str(runs_dir),
            "--name",
            name,
        ]
    )


@pytest.mark.parametrize("kind", sorted(PREPARE))
def test_prepare_failing_is_the_datasets_one_line(failing, runs_dir, capsys, kind):
    assert run(runs_dir, f"prepare-{kind}") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert f"dataset 'prepare-{kind}' (plugin gb-failing 0.3): " in err
    assert PREPARE[kind] in err
    if kind == "unavailable":
        assert "DatasetUnavailable" not in err and "(at " not in err
    else:  # the plugin's own line, not numpy's or genbench's
        line = 'open("/nowhere' if kind == "filenotfound" else "raise "
        assert f" (at {failing}.py:" in err, err
        number = int(err.split(f"{failing}.py:")[1].split(")")[0])
        assert line in FAILING_PLUGIN.splitlines()[number - 1]
        assert "the dataset's own error (bad data, or a bug for its author)" in err
    assert "model" not in err and "run folder" not in err
    assert not runs_dir.exists() or not any(runs_dir.iterdir()), "no run folder is left"


@pytest.mark.parametrize("kind", sorted(SAMPLER))
def test_a_sampler_failing_mid_run_is_the_datasets(failing, runs_dir, capsys, kind):
    assert run(runs_dir, f"sampler-{kind}") == 1
    out = capsys.readouterr()
    meta = json.loads((runs_dir / "r" / "run.json").read_text())
    assert meta["status"] == "failed" and meta["step"] == 3
    message = meta["message"]
    assert message.startswith(f"dataset 'sampler-{kind}' (plugin gb-failing 0.3): "), message
    assert SAMPLER[kind] in message
    assert message.endswith("resume from the last checkpoint (--resume RUN)")
    if kind != "unavailable":
        assert f" (at {failing}.py:" in message
    assert "model 'toy'" not in message and "cannot write the run folder" not in message
    assert message in out.out and "Traceback" not in out.out + out.err


async def test_the_workbench_says_whose_failure_it_was(failing, runs_dir):
    app = GenbenchApp(runs_dir, run_choices_loader=None)
    told = record_notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        for dataset in ("prepare-oserror", "sampler-runtimeerror"):
            request = LaunchRequest(
                model="toy",
                dataset=dataset,
                runs_dir=runs_dir,
                name=dataset,
                steps=10,
                log_every=2,
                checkpoint_every=2,
            )
            app._start(runs_dir / dataset, request.argv())  # launch(), without the run view
        await wait_for(
            pilot,
            lambda: len([n for n in told if n["title"] == "Run failed"]) == 2,
            120,
            "both runs to fail",
        )
    failed = {n["message"].split(":")[0]: n["message"] for n in told if n["title"] == "Run failed"}
    prepare, sampler = failed["prepare-oserror"], failed["sampler-runtimeerror"]
    assert "dataset 'prepare-oserror' (plugin gb-failing 0.3): prepare() raised OSError" in prepare
    assert f"(at {failing}.py:" in prepare and "Traceback" not in prepare
    assert (
        "dataset 'sampler-runtimeerror' (plugin gb-failing 0.3): its sampler raised "
        "RuntimeError: shard 3 is corrupt" in sampler
    )
    assert "model 'toy'" not in sampler
