"""--log: a run's loggers are called outside the training loop, each on its own
thread, and one that raises, hangs or falls behind is said once and dropped while
training goes on (genbench.training.loggers)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from genbench import LoggedRun, Logger, hookimpl
from genbench.cli import main
from genbench.options import ResumeRequest, RunRequest
from genbench.registry import PluginInfo, load_registry
from genbench.runfolder.runs import read_metrics
from genbench.training import loggers as hub_module
from genbench.training.launch import new_run, resume_run
from tests.waiting import wait_until

INFO = PluginInfo("testloggers", "tests.training.test_loggers", "gbtest-loggers", "1.0")
STEPS, LOG_EVERY = 60, 10


class Recording(Logger):
    """Keeps every call, in order, for the test to compare with the run folder."""

    name = "recording"
    calls: list[tuple] = []

    def start(self, run: LoggedRun) -> None:
        Recording.calls.append(("start", run))

    def metrics(self, step, values) -> None:
        Recording.calls.append(("metrics", step, dict(values)))

    def samples(self, step, png) -> None:
        Recording.calls.append(("samples", step, png))

    def end(self, status) -> None:
        Recording.calls.append(("end", status))


class Raising(Logger):
    name = "raising"

    def start(self, run) -> None:
        pass

    def metrics(self, step, values) -> None:
        if step >= 2 * LOG_EVERY:
            raise RuntimeError("the service said no")


class Hanging(Logger):
    """Its first metrics call blocks until the test releases it."""

    name = "hanging"
    release = threading.Event()

    def start(self, run) -> None:
        pass

    def metrics(self, step, values) -> None:
        Hanging.release.wait()


class BlockedStart(Recording):
    """A library being imported, a service being opened: start returns when released."""

    name = "blocked-start"
    release = threading.Event()

    def start(self, run: LoggedRun) -> None:
        BlockedStart.release.wait()
        super().start(run)


class Plugin:
    def __init__(self, *classes: type[Logger]) -> None:
        self.classes = classes

    @hookimpl
    def genbench_loggers(self):
        return list(self.classes)


@pytest.fixture
def registry():
    Recording.calls = []
    Hanging.release.clear()
    yield load_registry(extra=[(INFO, Plugin(Recording, Raising, Hanging))])
    Hanging.release.set()  # the abandoned thread ends with the test


def request(runs_dir, name, log, steps=STEPS):
    return RunRequest(
        model="gan",
        dataset="ring8",
        steps=steps,
        runs_dir=runs_dir,
        name=name,
        log_every=LOG_EVERY,
        sample_every=30,
        checkpoint_every=30,
        eval_every=1000,
        device="cpu",
        log=log,
    )


def train(runs_dir, registry, name, log, events=None):
    """Train a run; returns (outcome, seconds from the trainer's start to its end)."""
    events = [] if events is None else events
    trainer = new_run(request(runs_dir, name, log), registry, events.append)
    started = time.monotonic()
    outcome = trainer.run()
    return outcome, time.monotonic() - started


def logged_steps(runs_dir, name):
    return [r["step"] for r in read_metrics(runs_dir / name / "metrics.jsonl")]


def line_values_of(record):
    """What a logger is sent for a metrics.jsonl loss line, spelled out here."""
    losses = {f"loss/{k}": v for k, v in record["losses"].items()}
    return {"speed/img_per_s": record["img_per_s"], **losses}


def dropped(events, logger):
    return [
        e["message"]
        for e in events
        if e["event"] == "warning" and e.get("kind") == "logger" and repr(logger) in e["message"]
    ]


def test_a_logger_that_raises_is_said_once_and_dropped_and_the_others_get_every_line(
    runs_dir, registry, capsys
):
    events: list[dict] = []
    outcome, _ = train(runs_dir, registry, "r", ["raising,recording"], events)

    assert outcome.status == "completed" and outcome.step == STEPS
    said = dropped(events, "raising")
    assert len(said) == 1 and "metrics() raised RuntimeError: the service said no" in said[0]
    err = capsys.readouterr().err
    assert err.count("logger 'raising' dropped") == 1 and "the service said no" in err
    # The other logger saw the whole run: started, every metrics line with its losses, the
    # sample grids, the end.
    calls = Recording.calls
    assert calls[0][0] == "start" and calls[0][1].start_step == 0 and not calls[0][1].resumed
    assert calls[0][1].options["log"] == ["raising", "recording"]
    lines = read_metrics(runs_dir / "r" / "metrics.jsonl")
    expected = [(r["step"], line_values_of(r)) for r in lines]
    assert [c[1:] for c in calls if c[0] == "metrics"] == expected
    assert [c[1] for c in calls if c[0] == "samples"] == [30, 60]
    assert calls[-1] == ("end", "completed")


def test_a_hanging_logger_is_dropped_within_its_bound_and_does_not_slow_training(
    runs_dir, registry, monkeypatch
):
    """The stated bound: a run with a logger that never returns takes at most the call
    bound (CALL_TIMEOUT_S) more than the same run without it, plus slack for a loaded
    machine; its steps are all trained and logged."""
    monkeypatch.setattr(hub_module, "CALL_TIMEOUT_S", 1.0)
    baseline, without = train(runs_dir, registry, "plain", [])
    events: list[dict] = []
    outcome, with_hang = train(runs_dir, registry, "hung", ["hanging", "recording"], events)

    assert baseline.status == outcome.status == "completed"
    assert logged_steps(runs_dir, "hung") == logged_steps(runs_dir, "plain")
    said = dropped(events, "hanging")
    assert len(said) == 1 and "metrics() did not return within 1 s" in said[0]
    assert with_hang <= without + 1.0 + 10.0, (with_hang, without)
    assert Recording.calls[-1] == ("end", "completed")


@pytest.mark.parametrize("start_bound, kept", [(None, True), (0.1, False)])
def test_start_has_a_bound_of_its_own_longer_than_other_calls(
    tmp_path, monkeypatch, start_bound, kept
):
    """start() past the call bound (10 s) is kept, within its own (60 s); past that it
    is dropped like any call. Bounds shrunk here to a test's time."""
    monkeypatch.setattr(hub_module, "CALL_TIMEOUT_S", 0.05)
    if start_bound is not None:
        monkeypatch.setattr(hub_module, "START_TIMEOUT_S", start_bound)
    Recording.calls = []
    BlockedStart.release.clear()
    said: list[str] = []
    run = LoggedRun(dir=tmp_path, id="r", model="gan", dataset="ring8")
    hub = hub_module.LoggerHub(run, [BlockedStart()])
    hub.start(say=lambda message, step: said.append(message))
    (worker,) = hub.workers
    try:
        wait_until(
            lambda: worker.hung_for(time.monotonic()) > 0.2,
            timeout=30,
            what="start() busy past the call bound and the shrunk start bound",
        )
        hub.metrics({"step": 10, "img_per_s": 5.0, "losses": {"g": 0.5}})
    finally:
        BlockedStart.release.set()
    hub.end("completed")

    if kept:
        assert said == []
        assert Recording.calls == [
            ("start", run),
            ("metrics", 10, {"speed/img_per_s": 5.0, "loss/g": 0.5}),
            ("end", "completed"),
        ]
    else:
        assert len(said) == 1 and "start() did not return within 0.1 s" in said[0], said


def test_a_logger_that_falls_a_queue_behind_is_dropped(runs_dir, registry, monkeypatch):
    monkeypatch.setattr(hub_module, "QUEUE_SIZE", 2)
    monkeypatch.setattr(hub_module, "CALL_TIMEOUT_S", 60.0)  # slow, not hung
    events: list[dict] = []
    outcome, _ = train(runs_dir, registry, "r", ["hanging"], events)

    assert outcome.status == "completed"
    said = dropped(events, "hanging")
    assert len(said) == 1 and "fell 2 calls behind" in said[0], said
    # dropped at the put that found its queue full, while training went on
    (warning,) = [e for e in events if e["event"] == "warning"]
    assert warning["step"] < STEPS


def test_a_resume_goes_on_with_the_runs_loggers_and_may_add_one(runs_dir, registry):
    trainer = new_run(request(runs_dir, "r", ["raising"], steps=30), registry, lambda e: None)
    assert trainer.run().status == "completed"
    resumed = resume_run(
        runs_dir / "r", registry, lambda e: None, ResumeRequest(steps=STEPS, log=["recording"])
    )
    assert resumed.run().status == "completed"

    meta = json.loads((runs_dir / "r" / "run.json").read_text())
    assert meta["options"]["log"] == ["raising", "recording"]
    run = Recording.calls[0][1]
    assert (run.resumed, run.start_step, run.dir) == (True, 30, runs_dir / "r")
    assert [c[1] for c in Recording.calls if c[0] == "metrics"] == [40, 50, 60]


UNKNOWN_AND_MISSING = """
from genbench import Logger, hookimpl

class NeedsALibrary(Logger):
    name = "needy"
    requires = "pip install 'genbench-needy[service]'"
    packages = ("gbtest_no_such_package",)

    def start(self, run):
        pass

    def metrics(self, step, values):
        pass

@hookimpl
def genbench_loggers():
    return [NeedsALibrary, "not a class"]
"""


@pytest.mark.parametrize(
    "log, said",
    [
        (
            "nope",
            "genbench: error: unknown logger 'nope'; "
            "valid loggers: mlflow, needy, tensorboard, wandb",
        ),
        (
            "tensorboard,needy",
            "genbench: error: --log needy needs the gbtest_no_such_package package: "
            "pip install 'genbench-needy[service]'",
        ),
        ("Bad Name", "genbench: error: --log takes logger names"),
    ],
)
def test_an_unknown_logger_or_one_without_its_library_is_one_line_before_any_folder(
    runs_dir, plugin_site, capsys, log, said
):
    plugin_site.add("gbtest-needy", UNKNOWN_AND_MISSING)
    argv = ["run", "--headless", "--quiet", "--runs-dir", str(runs_dir), "--threads", "1"]
    code = main([*argv, "--model", "gan", "--dataset", "ring8", "--steps", "5", "--log", log])

    err = capsys.readouterr().err
    assert code == 2 and err.startswith(said) and err.count("\n") == 1, err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_a_broken_logger_class_is_listed_and_the_plugins_others_load(plugin_site):
    plugin_site.add("gbtest-needy", UNKNOWN_AND_MISSING)
    registry = load_registry()
    assert "needy" in registry.loggers and "tensorboard" in registry.loggers
    broken = [b.error for b in registry.broken if b.plugin.distribution == "gbtest-needy"]
    assert broken == [
        "genbench_loggers() returned 'not a class', which is not a genbench.Logger "
        "subclass (return a list of classes)"
    ]
