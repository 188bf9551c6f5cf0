"""Headless training end to end: the run folder, signals, resume, divergence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch
from PIL import Image

from genbench.cli import main
from genbench.registry import load_registry
from genbench.runfolder.runs import read_metrics
from genbench.training.launch import RunRequest, new_run, resume_run
from tests.conftest import toy_model_source


def only_run(runs_dir):
    (run,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return run


def test_headless_ring8_run_writes_every_file_of_the_run_directory(runs_dir, capsys):
    code = main(
        [
            "run",
            "--headless",
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            "120",
            "--log-every",
            "20",
            "--sample-every",
            "60",
            "--checkpoint-every",
            "60",
            "--runs-dir",
            str(runs_dir),
            "--json",
        ]
    )
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Set-up says its phases first (importing torch, loading, building), then the run.
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases[0] == "starting: importing torch" and len(phases) == 3, phases
    assert [e["event"] for e in events[:3]] == ["phase"] * 3
    events = events[3:]
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    assert events[-1]["status"] == "completed"
    # eval: the live sample-quality check at the last step; warning: when it finds a collapse
    assert {e["event"] for e in events} - {"warning"} == {
        "start",
        "metrics",
        "sample",
        "checkpoint",
        "eval",
        "end",
    }

    run = only_run(runs_dir)
    assert events[-1]["run_dir"] == str(run)
    assert run.name.endswith("-gan-ring8")
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "completed" and meta["step"] == 120
    assert meta["model"] == "gan" and meta["dataset"] == "ring8"
    assert meta["plugin"]["distribution"] == "genbench"
    assert meta["config"]["latent_dim"] == 64 and meta["seed"] == 0
    assert meta["pid"] == os.getpid() and meta["heartbeat"] > 0 and meta["versions"]["torch"]

    records = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in records] == [20, 40, 60, 80, 100, 120]
    assert set(records[-1]["losses"]) == {"d", "g", "r1"}  # R1, gan's default on points
    assert all(r["img_per_s"] > 0 for r in records)

    samples = sorted(p.name for p in (run / "samples").iterdir())
    assert samples == ["latest.png", "step-0000060.png", "step-0000120.png"]
    with Image.open(run / "samples" / "latest.png") as im:
        assert im.size[0] > 0 and im.mode == "RGB"
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 120 and "G" in state["model"]


def test_set_changes_hyperparameters_with_their_types(runs_dir, capsys):
    code = main(
        [
            "run",
            "--headless",
            "--model",
            "gan",
            "--dataset",
            "grid25",
            "--steps",
            "5",
            "--set",
            "latent_dim=8",
            "--set",
            "lr=1e-3",
            "--set",
            "hidden=32",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "typed",
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f"run: {runs_dir / 'typed'}"
    config = json.loads((runs_dir / "typed" / "run.json").read_text())["config"]
    assert config["latent_dim"] == 8 and config["lr"] == 1e-3 and config["hidden"] == 32


class StopAfter:
    """Wraps a batch sampler and sends this process SIGINT after k batches,
    so a run is interrupted mid-interval through the real signal handler."""

    def __init__(self, sampler, k):
        self.sampler, self.k, self.drawn = sampler, k, 0

    def next(self):
        self.drawn += 1
        if self.drawn == self.k:
            os.kill(os.getpid(), signal.SIGINT)
        return self.sampler.next()

    def state_dict(self):
        return self.sampler.state_dict()

    def load_state_dict(self, state):
        self.sampler.load_state_dict(state)


def request(runs_dir, name, steps, model="gan", dataset="ring8", sets=()):
    return RunRequest(
        model=model,
        dataset=dataset,
        steps=steps,
        runs_dir=runs_dir,
        name=name,
        sets=list(sets),
        seed=3,
        log_every=25,
        sample_every=100,
        checkpoint_every=100,
        device="cpu",
    )


def test_stopped_and_resumed_run_logs_exactly_what_an_uninterrupted_run_logs(runs_dir):
    registry = load_registry()
    whole = new_run(request(runs_dir, "whole", 300), registry, lambda e: None).run()
    assert whole.status == "completed"

    trainer = new_run(request(runs_dir, "split", 300), registry, lambda e: None)
    trainer.sampler = StopAfter(trainer.sampler, 137)  # mid log interval
    stopped = trainer.run()
    assert (stopped.status, stopped.step, stopped.exit_code) == ("stopped", 137, 130)
    assert json.loads((runs_dir / "split" / "run.json").read_text())["status"] == "stopped"

    resumed = resume_run(runs_dir / "split", registry, lambda e: None).run()
    assert (resumed.status, resumed.step) == ("completed", 300)

    def losses(name):
        return [(r["step"], r["losses"]) for r in read_metrics(runs_dir / name / "metrics.jsonl")]

    assert losses("split") == losses("whole")  # bit-exact floats, every interval
    a = torch.load(runs_dir / "whole/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(runs_dir / "split/checkpoints/last.pt", weights_only=True)["model"]
    for net in ("G", "D"):
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), key


def test_resume_cli_continues_to_more_steps(runs_dir, capsys):
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "gan",
                "--dataset",
                "ring8",
                "--steps",
                "40",
                "--log-every",
                "10",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "r",
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(["run", "--headless", "--resume", str(runs_dir / "r"), "--steps", "80", "--quiet"])
        == 0
    )
    steps = [r["step"] for r in read_metrics(runs_dir / "r" / "metrics.jsonl")]
    assert steps == [10, 20, 30, 40, 50, 60, 70, 80]
    meta = json.loads((runs_dir / "r" / "run.json").read_text())
    assert (meta["status"], meta["step"], meta["steps"]) == ("completed", 80, 80)


def test_non_finite_loss_marks_the_run_diverged_and_keeps_the_last_good_checkpoint(
    plugin_site, runs_dir, capsys
):
    plugin_site.add("gb-toy", toy_model_source("toy"))
    code = main(
        [
            "run",
            "--headless",
            "--model",
            "toy",
            "--dataset",
            "ring8",
            "--steps",
            "100",
            "--set",
            "nan_at=37",
            "--log-every",
            "10",
            "--checkpoint-every",
            "20",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "nan",
            "--quiet",
        ]
    )
    assert code == 1
    assert "diverged at step 37" in capsys.readouterr().out
    meta = json.loads((runs_dir / "nan" / "run.json").read_text())
    assert meta["status"] == "diverged"
    assert "'mse'" in meta["message"] and "step 37" in meta["message"]
    state = torch.load(runs_dir / "nan/checkpoints/last.pt", weights_only=True)
    assert state["step"] == 20
    assert all(torch.isfinite(t).all() for t in state["model"]["net"].values())
    assert [r["step"] for r in read_metrics(runs_dir / "nan" / "metrics.jsonl")] == [10, 20, 30]


def test_sigint_finishes_the_step_checkpoints_and_exits_130(runs_dir):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genbench",
            "run",
            "--headless",
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            "1000000",
            "--log-every",
            "10",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "sig",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        for line in proc.stdout:  # wait until it is really training
            if json.loads(line)["event"] == "metrics":
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read()
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert code == 130, proc.stderr.read()
    end = json.loads(rest.strip().splitlines()[-1])
    assert end["event"] == "end" and end["status"] == "stopped"
    meta = json.loads((runs_dir / "sig" / "run.json").read_text())
    assert meta["status"] == "stopped" and 0 < meta["step"] < 1000000
    state = torch.load(runs_dir / "sig/checkpoints/last.pt", weights_only=True)
    assert state["step"] == meta["step"]


def test_python_dash_m_genbench_and_help_do_not_import_torch():
    start = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from genbench.cli import main\n"
            "try: main(['--help'])\n"
            "except SystemExit: pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().endswith("NO-TORCH")
    assert time.perf_counter() - start < 30  # sanity only; speed is measured in benchmarks
