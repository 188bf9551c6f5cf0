"""`genbench sweep --search optuna`, end to end: real `genbench run` members of a
plugin model whose live mode coverage on ring8 is known in advance (all 8 modes, or
one), the sweep command in its own process, optuna's real sampler and pruner."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from genbench.sweep.record import SweepRecord
from tests.waiting import wait_until

pytest.importorskip("optuna")  # the `sweep` extra; CI installs it with `test`

# Samples exactly on the 8 modes of ring8 (spread=1: 8 of 8 covered at every live
# evaluation) or all on one mode (spread=0: 1 of 8), whatever it trains; each step
# takes step_s seconds, so a member lives long enough to be pruned mid-run.
MODES_MODEL = """
import math
import time
from dataclasses import dataclass

import torch
from genbench import GenerativeModel, hookimpl, param

RING = [(math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)) for i in range(8)]


@dataclass
class Config:
    spread: int = param(1, "1: samples on all 8 modes of ring8; 0: on one", min=0, max=1)
    step_s: float = param(0.0, "seconds each training step takes", min=0.0)


class Modes(GenerativeModel):
    name = "modes"
    title = "Modes"
    kinds = frozenset({"points"})
    Config = Config

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        self.net = torch.nn.Linear(spec.dim, spec.dim).to(device)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01)
        self.means = torch.tensor(RING, device=device)

    def train_step(self, x, y=None):
        time.sleep(self.config.step_s)
        loss = (self.net(x) - x).pow(2).mean()
        self.opt.zero_grad(); loss.backward(); self.opt.step()
        return {"mse": loss.detach()}

    def sample(self, n, labels=None, generator=None):
        which = torch.arange(n, device=self.device) % 8
        return self.means[which * self.config.spread]

    def extra_state(self):
        return {}

    def load_extra_state(self, state):
        pass


@hookimpl
def genbench_models():
    return [Modes]
"""

STEPS = 200


@pytest.fixture
def modes(plugin_site):
    plugin_site.add("genbench-modes", MODES_MODEL)
    return plugin_site


def _sweep(env, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "genbench", "sweep", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def _meta(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def test_the_pruner_stops_a_collapsed_trial_early_and_the_best_trial_is_reported(modes, runs_dir):
    # One member at a time, so each trial after the first meets a completed one: the
    # median pruner (it waits for one completed trial in a sweep this small) stops a
    # one-mode trial at its first evaluation past the warm-up (a tenth of --steps).
    done = _sweep(
        modes.env(),
        "--name", "opt",
        "--runs-dir", str(runs_dir),
        "--model", "modes",
        "--dataset", "ring8",
        "--set", "spread=1,0",
        "--set", "step_s=0.02",
        "--search", "optuna",
        "--trials", "3",
        "--search-seed", "10",
        "--objective", "coverage",
        "--steps", str(STEPS),
        "--log-every", "10",
        "--eval-every", "20",
        "--threads", "1",
        "--parallel", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    record = SweepRecord.read(runs_dir, "opt")
    assert len(record.members) == 3 and {m.trial for m in record.members} == {0, 1, 2}

    # Which trial got which value is the sampler's (seeded) choice; what must hold:
    # every one-mode trial started after an eight-mode trial completed was pruned.
    order = sorted(record.members, key=lambda m: m.trial or 0)
    spread = [m.point["spread"] for m in order]
    assert "1" in spread[:-1] and "0" in spread[spread.index("1") + 1 :], (
        f"search seed 10 no longer puts a one-mode trial after an eight-mode one: {spread}; "
        "pick another --search-seed"
    )
    after_good = order[spread.index("1") + 1 :]
    pruned = [m for m in after_good if m.point["spread"] == "0"]
    for m in pruned:
        meta = _meta(runs_dir / m.name)
        assert meta["status"] == "stopped", meta
        assert m.pruned and m.pruned.startswith("pruned by optuna at step ")
        assert "below the median 8 of" in m.pruned, m.pruned
        assert m.pruned in meta["message"], meta["message"]
        assert meta["step"] <= STEPS // 2, f"{m.name} stopped only at step {meta['step']}"
        assert f"  pruned   {m.name}: pruned by optuna at step " in done.stdout
    for m in order:  # every eight-mode trial ran to the end
        if m.point["spread"] == "1":
            assert _meta(runs_dir / m.name)["status"] == "completed"

    good = next(m for m in order if m.point["spread"] == "1")
    assert record.best == {
        "trial": good.trial,
        "point": {"spread": "1"},
        "value": 8.0,
        "objective": "coverage",
    }
    assert f"best so far: trial {good.trial} spread=1: coverage 8" in done.stdout
    assert "1 pruned" in done.stdout.splitlines()[-1]

    shown = _sweep(modes.env(), "show", "opt", "--runs-dir", str(runs_dir), "--json")
    assert shown.returncode == 0, shown.stderr
    table = json.loads(shown.stdout)
    assert table["best"] == record.best
    configs = table["configurations"]
    assert [c["point"] for c in configs] == [{"spread": "1"}, {"spread": "0"}]
    assert configs[0]["coverage"]["mean"] == 8.0
    assert configs[1]["members"].get("pruned") == len(pruned)

    text = _sweep(modes.env(), "show", "opt", "--runs-dir", str(runs_dir))
    rows = [line.split() for line in text.stdout.splitlines() if line.split()[:1] in (["1"], ["0"])]
    assert [r[0] for r in rows] == ["1", "0"], text.stdout  # best coverage first


def test_a_search_without_optuna_is_one_line_and_leaves_nothing(modes, runs_dir):
    blocked = (
        "import sys; sys.modules['optuna'] = None\n"  # what a missing package looks like
        "from genbench.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [
            sys.executable, "-c", blocked,
            "sweep", "--name", "no-optuna", "--runs-dir", str(runs_dir),
            "--model", "modes", "--dataset", "ring8", "--set", "spread=1,0",
            "--search", "optuna", "--trials", "2", "--steps", "10",
        ],
        env=modes.env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == ["genbench: error: --search optuna needs optuna: pip install 'genbench[sweep]'"]
    assert not (runs_dir / ".sweeps" / "no-optuna").exists()


def test_sigterm_stops_the_search_resumably_and_resume_continues_the_trial(modes, runs_dir):
    import optuna

    args = (
        "--runs-dir", str(runs_dir),
        "--model", "modes",
        "--dataset", "ring8",
        "--set", "spread=1,0",
        "--set", "step_s=0.02",
        "--search", "optuna",
        "--trials", "2",
        "--search-seed", "10",  # its first trial is spread=1 (see the test above)
        "--objective", "coverage",
        "--steps", str(STEPS),
        "--log-every", "10",
        "--eval-every", "20",
        "--checkpoint-every", "20",
        "--threads", "1",
        "--parallel", "1",
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "genbench", "sweep", "--name", "sig", *args],
        env=modes.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    first = runs_dir / "sig-000"
    try:

        def evaluated() -> bool:
            path = first / "metrics.jsonl"
            return path.exists() and '"kind": "eval"' in path.read_text()

        wait_until(evaluated, 240, proc, "the first member's first live evaluation")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    record = SweepRecord.read(runs_dir, "sig")
    assert record.state == "stopped" and record.best is None
    meta = _meta(first)
    assert meta["status"] == "stopped" and meta["step"] < STEPS, meta
    assert [m.name for m in record.members] == ["sig-000"]  # nothing more was asked

    done = _sweep(modes.env(), "--resume", "sig", "--runs-dir", str(runs_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    record = SweepRecord.read(runs_dir, "sig")
    assert record.state == "done" and len(record.members) == 2
    meta = _meta(first)
    assert meta["status"] == "completed" and meta["step"] == STEPS and meta["resumed"] == 1
    records = [json.loads(line) for line in (first / "metrics.jsonl").read_text().splitlines()]
    for kind in (None, "eval"):
        steps = [r["step"] for r in records if r.get("kind") == kind]
        assert steps == sorted(set(steps)), f"a step logged twice: {steps}"

    # The trial it was stopped in is marked failed (samplers and pruners ignore it) and
    # goes on as a new trial of the same configuration, with the member resumed.
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(
            str(SweepRecord.folder(runs_dir, "sig") / "optuna.journal")
        )
    )
    trials = optuna.load_study(study_name="sig", storage=storage).trials
    by_number = {t.number: t for t in trials}
    assert by_number[0].state == optuna.trial.TrialState.FAIL
    continued = by_number[record.member("sig-000").trial]
    assert continued.number != 0 and continued.params == by_number[0].params
    assert continued.state == optuna.trial.TrialState.COMPLETE and continued.value == 8.0
    assert record.best is not None and record.best["value"] == 8.0


def test_the_eval_follower_reads_complete_eval_lines_once_and_again_after_a_cut(tmp_path):
    from genbench.sweep.optuna_search import EvalFollower, objective_value

    path = tmp_path / "metrics.jsonl"
    follower = EvalFollower(path)
    assert follower.new_evaluations() == []  # not written yet
    loss = json.dumps({"step": 10, "losses": {"d": 1.0}})
    ev = json.dumps({"step": 20, "kind": "eval", "eval": {"modes_covered": 3, "modes": 8}})
    path.write_text(loss + "\n" + ev[:25])  # the trainer is half way through a line
    assert follower.new_evaluations() == []
    with path.open("a") as fh:
        fh.write(ev[25:] + "\n" + "{not json\n")
    assert follower.new_evaluations() == [(20, {"modes_covered": 3, "modes": 8})]
    assert follower.new_evaluations() == []  # each line once
    path.write_text(ev + "\n")  # cut back (a resumed run drops lines after its checkpoint)
    assert follower.new_evaluations() == [(20, {"modes_covered": 3, "modes": 8})]

    assert objective_value({"modes_covered": 3}, "coverage") == 3.0
    assert objective_value({"classes_covered": 9, "fd": 1.5}, "coverage") == 9.0
    assert objective_value({"classes_covered": 9, "fd": 1.5}, "fd") == 1.5
    for bad in ({"fd": True}, {"fd": "1"}, {"fd": float("nan")}, {}, None, [1]):
        assert objective_value(bad, "fd") is None


def test_a_member_of_a_trial_pruned_before_it_started_reads_as_pruned(runs_dir):
    from genbench.sweep.record import MemberRecord
    from genbench.sweep.results import MISSING, PRUNED, member_result

    never = MemberRecord("s-001", {"seed": 1}, [], trial=0, pruned="pruned by optuna at step 20")
    assert member_result(runs_dir, never).status == PRUNED
    assert member_result(runs_dir, never).message == never.pruned
    never.pruned = None
    assert member_result(runs_dir, never).status == MISSING
