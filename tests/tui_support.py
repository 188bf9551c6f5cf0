"""Shared pieces of the workbench's tests: a torch-free model, fixed run choices,
the fixture runs folder, and a wait helper for pilots."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from genbench.api import DataSpec, GenerativeModel, param
from genbench.data.toys import grid25, ring8
from genbench.dataset import Availability, Dataset
from genbench.registry import BrokenPlugin, ModelEntry, PluginInfo, Registry
from genbench.runfolder.ownership import RunLock
from genbench.tui.choices import RunChoices

FIXTURE_RUNS = Path(__file__).resolve().parent / "fixtures" / "tui_runs"


@dataclass
class ToyConfig:
    lr: float = param(0.001, "learning rate", min=0.0)
    hidden: int = param(32, "units per hidden layer", min=1, max=4096)
    loss: str = param("bce", "loss function", choices=("bce", "hinge"))
    spectral: bool = param(False, "spectral normalisation in the critic")


class ToyGAN(GenerativeModel):
    """Only what the form and the Models screen read; never trained."""

    name = "toygan"
    title = "Toy GAN"
    summary = "A model that exists only in tests."
    paper = "Nobody 2026, A model for screenshots"
    kinds = frozenset({"points", "image"})
    Config = ToyConfig

    def train_step(self, x, y=None):
        raise NotImplementedError("a screenshot model is never trained")

    def sample(self, n, labels=None, generator=None):
        raise NotImplementedError("a screenshot model is never sampled")


class MissingImages(Dataset):
    name, title, size = "tinyimg", "Tiny images", 100
    spec = DataSpec("image", (1, 8, 8), 10)

    def availability(self) -> Availability:
        return Availability(False, "/nowhere", "run `genbench datasets --download tinyimg`")


def fixed_run_choices() -> RunChoices:
    plugin = PluginInfo("toygan", "tests.toygan", "genbench-toy", "1.0")
    registry = Registry(models={"toygan": ModelEntry(ToyGAN, plugin)})
    registry.broken.append(
        BrokenPlugin(
            PluginInfo("tfgan", "tfgan", "genbench-tf", "0.3"),
            "import failed: ModuleNotFoundError: No module named 'tensorflow'",
        )
    )
    return RunChoices(registry, [ring8(), grid25(), MissingImages()], ["auto", "cpu"])


def copy_fixture_runs(dest: Path) -> Path:
    shutil.copytree(FIXTURE_RUNS, dest)
    return dest


def text_of(widget) -> str:
    """What a Static shows, as plain text (whatever renderable it holds)."""
    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return console.file.getvalue()


async def wait_for(pilot, predicate, timeout: float = 20.0, what: str = "condition"):
    """Let the app run until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.1)


async def wait_until_still(pilot, polls: int = 3, timeout: float = 20.0) -> None:
    """Let the app run until its screen looks the same ``polls`` polls in a row: the
    layout and redraws a screen schedules for itself once shown have all landed
    (what a screenshot needs, on a loaded machine as on a quiet one)."""
    from genbench.tui.widgets.sample_preview import SamplePreview

    deadline = time.monotonic() + timeout
    last, same = None, 0
    while same < polls:
        if time.monotonic() > deadline:
            raise AssertionError(f"the screen still changed after {timeout}s")
        await pilot.pause(0.1)
        # A sample grid decoded on a thread lands when it is done, however long a
        # loaded machine takes: the screen is not still while one is on its way.
        if any(p.busy for p in pilot.app.screen.query(SamplePreview)):
            same, last = 0, None
            continue
        shot = pilot.app.export_screenshot()
        same = same + 1 if shot == last else 0
        last = shot


# The runs whose trainer this test process stands in for: their locks, held.
_STOOD_IN: dict[str, RunLock] = {}


def stand_in_for_trainer(run_dir: Path) -> None:
    """This process plays the run's trainer: it holds the run's lock open, as a trainer
    does from before its first run.json write until after its last (a run.json saying
    running with no lock held is not a live run, whatever pid it names)."""
    if str(run_dir) not in _STOOD_IN:
        _STOOD_IN[str(run_dir)] = RunLock(run_dir).acquire()


def trainer_done(run_dir: Path) -> None:
    """The stand-in trainer lets go of the run's lock, as a trainer does after its
    last run.json write."""
    lock = _STOOD_IN.pop(str(run_dir), None)
    if lock is not None:
        lock.release()


def write_run(run_dir: Path, **meta) -> None:
    """run.json as a trainer writes it, with this process standing in for the trainer
    (its pid, alive; it holds the run's lock while the run is running)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    base = {
        "id": run_dir.name,
        "model": "gan",
        "dataset": "ring8",
        "status": "running",
        "step": 0,
        "steps": 1000,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "heartbeat": 0,
    }
    record = {**base, **meta}
    running = record["status"] == "running"
    if running:
        stand_in_for_trainer(run_dir)
    (run_dir / "run.json").write_text(json.dumps(record))
    if not running:
        trainer_done(run_dir)


def metric(step: int) -> str:
    """One metrics.jsonl line of a two-loss GAN at ``step``."""
    return (
        json.dumps(
            {
                "step": step,
                "time": step / 100,
                "img_per_s": 6400.0,
                "losses": {"d": 1.0 + step / 1000, "g": 0.5},
            }
        )
        + "\n"
    )
