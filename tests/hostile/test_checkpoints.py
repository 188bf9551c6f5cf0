"""Hostile checkpoint contents (issue #26, round 2: #43, #44, #48, #53).

A checkpoint's tensors are checked before any is used, by `--resume` and by
`genbench eval`: every dtype is one the rebuilt model and optimiser keep (a real
floating tensor where they keep floats, never a complex one), everything is finite
(genbench never saves non-finite weights or optimiser state, so such a file is
damaged, not a run that diverged), and the trainer's loss meter is one sum per
named loss. A damaged one is one line naming the file and the first offending
entry, exit 2, no torch warning, and the run folder is left exactly as it was
(run.json is not rewritten to failed or diverged).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from genbench.cli import main

TOY = [
    "--model",
    "gan",
    "--dataset",
    "ring8",
    "--steps",
    "40",
    "--log-every",
    "5",
    "--checkpoint-every",
    "20",
    "--sample-every",
    "20",
    "--eval-every",
    "1000",
    "--threads",
    "1",
]
RESUME = ["run", "--headless", "--quiet", "--steps", "44", "--threads", "1", "--resume"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One short finished gan run on ring8, copied by each test."""
    root = tmp_path_factory.mktemp("template")
    assert main(["run", "--headless", "--quiet", *TOY, "--runs-dir", str(root), "--name", "r"]) == 0
    return root / "r"


@pytest.fixture
def run(trained, tmp_path) -> Path:
    dest = tmp_path / "runs" / "victim"
    shutil.copytree(trained, dest)
    return dest


def damage(run: Path, change: Callable[[dict], Any]) -> None:
    path = run / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def refused(capsys, recwarn, run: Path, argv: list[str]) -> str:
    """Run argv on a damaged run: one line on stderr, exit 2, no warning, and the
    folder byte for byte as it was."""
    before = snapshot(run)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert str(run / "checkpoints" / "last.pt") in err, err
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)], [
        str(w.message) for w in recwarn
    ]
    assert snapshot(run) == before
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    return err


def resume(run: Path) -> list[str]:
    return [*RESUME, str(run)]


def evaluate(run: Path) -> list[str]:
    return ["eval", str(run), "-n", "100", "--quiet", "--threads", "1"]


# -- the cases the attacker trial broke ------------------------------------------------


@pytest.mark.parametrize("command", [resume, evaluate], ids=["resume", "eval"])
def test_43_complex_weights_are_refused_without_a_casting_warning(run, capsys, recwarn, command):
    damage(
        run,
        lambda s: s["model"]["G"].__setitem__(
            "0.weight", s["model"]["G"]["0.weight"].to(torch.complex64)
        ),
    )
    err = refused(capsys, recwarn, run, command(run))
    assert "G.0.weight" in err and "complex64" in err and "float32" in err


@pytest.mark.parametrize("command", [resume, evaluate], ids=["resume", "eval"])
def test_44_nan_weights_are_damage_not_divergence(run, capsys, recwarn, command):
    def poison(s):
        s["model"]["G"]["0.weight"][0, 0] = float("nan")

    damage(run, poison)
    err = refused(capsys, recwarn, run, command(run))
    assert "model.G.0.weight" in err and "NaN or infinite" in err and "damaged" in err
    assert "diverge" not in err and "lr" not in err


def test_48_meter_names_that_miss_a_loss_are_one_line_not_a_failed_run(run, capsys, recwarn):
    damage(run, lambda s: s["meter"].__setitem__("names", [f"x{i}" for i in range(100_000)]))
    err = refused(capsys, recwarn, run, resume(run))
    assert "loss meter" in err and "1024" in err


def test_53_an_infinite_adam_step_is_damage_not_divergence(run, capsys, recwarn):
    damage(
        run,
        lambda s: s["model"]["opt_g"]["state"][0].__setitem__("step", torch.tensor(float("inf"))),
    )
    err = refused(capsys, recwarn, run, resume(run))
    assert "model.opt_g.state.0.step" in err and "diverge" not in err


# -- a wider set of hostile contents ----------------------------------------------------


def _model(part: str, key: str, value: Callable[[torch.Tensor], Any]):
    def change(s):
        s["model"][part][key] = value(s["model"][part][key])

    return change


def _moment(part: str, key: str, value: Callable[[Any], Any], index: int = 0):
    def change(s):
        entry = s["model"][part]["state"][index]
        entry[key] = value(entry[key])

    return change


def _meter(key: str, value: Callable[[Any], Any]):
    def change(s):
        s["meter"][key] = value(s["meter"].get(key))

    return change


def _poke(value: float):
    def put(t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        t.view(-1)[-1] = value
        return t

    return put


def _drop(*path: Any):
    def change(s):
        where = s
        for key in path[:-1]:
            where = where[key]
        del where[path[-1]]

    return change


# name -> (damage, text the one line must hold), for --resume
RESUME_DAMAGE: dict[str, tuple[Callable[[dict], Any], str]] = {
    # wrong dtype, one entry at a time
    "weight complex128": (
        _model("D", "2.weight", lambda t: t.to(torch.complex128)),
        "D.2.weight is torch.complex128",
    ),
    "weight int64": (_model("G", "4.weight", lambda t: t.long()), "G.4.weight is torch.int64"),
    "bias bool": (_model("D", "0.bias", lambda t: t > 0), "D.0.bias is torch.bool"),
    "exp_avg complex64": (
        _moment("opt_g", "exp_avg", lambda t: t.to(torch.complex64)),
        "opt_g.state.0.exp_avg is torch.complex64",
    ),
    "exp_avg_sq int32": (
        _moment("opt_d", "exp_avg_sq", lambda t: t.int(), index=3),
        "opt_d.state.3.exp_avg_sq is torch.int32",
    ),
    "step int64 tensor": (
        _moment("opt_g", "step", lambda t: t.long()),
        "opt_g.state.0.step is torch.int64",
    ),
    "step complex": (
        _moment("opt_d", "step", lambda t: t.to(torch.complex64)),
        "opt_d.state.0.step is torch.complex64",
    ),
    "step negative": (_moment("opt_g", "step", lambda t: -t), "negative"),
    "step negative number": (_moment("opt_g", "step", lambda t: -5), "negative"),
    # NaN and infinities
    "exp_avg NaN": (
        _moment("opt_d", "exp_avg", _poke(float("nan")), index=1),
        "model.opt_d.state.1.exp_avg",
    ),
    "exp_avg_sq +inf": (
        _moment("opt_g", "exp_avg_sq", _poke(float("inf")), index=5),
        "model.opt_g.state.5.exp_avg_sq",
    ),
    "weight -inf": (_model("D", "4.weight", _poke(float("-inf"))), "model.D.4.weight"),
    "complex weight with inf": (
        _model("G", "2.bias", lambda t: _poke(float("inf"))(t.to(torch.complex64))),
        "model.G.2.bias",
    ),
    "step NaN": (
        _moment("opt_d", "step", lambda t: torch.tensor(float("nan"))),
        "model.opt_d.state.0.step",
    ),
    # the loss meter
    "meter 100k names": (
        _meter("names", lambda n: [*n, *(f"l{i}" for i in range(100_000))]),
        "loss meter",
    ),
    "meter names without d": (_meter("names", lambda n: [x for x in n if x != "d"]), "loss meter"),
    "meter name 10k chars": (_meter("names", lambda n: ["d" * 10_000, *n[1:]]), "loss meter"),
    "meter names repeated": (_meter("names", lambda n: [*n, n[0]]), "loss meter"),
    "meter names not strings": (_meter("names", lambda n: list(range(len(n)))), "loss meter"),
    "meter names a string": (_meter("names", lambda n: "dgr"), "loss meter"),
    "meter sum NaN": (
        _meter("sums", lambda s: {**s, "d": torch.tensor(float("nan"))}),
        "loss meter",
    ),
    "meter sum a vector": (_meter("sums", lambda s: {**s, "g": torch.zeros(3)}), "loss meter"),
    "meter sum complex": (
        _meter("sums", lambda s: {**s, "g": torch.zeros((), dtype=torch.cfloat)}),
        "loss meter",
    ),
    "meter count float": (_meter("count", lambda c: 2.5), "loss meter"),
    "meter count negative": (_meter("count", lambda c: -1), "loss meter"),
    "meter step float": (_meter("step", lambda t: t.float()), "loss meter"),
    "meter step beyond 2**53": (_meter("step", lambda t: torch.tensor(2**62)), "loss meter"),
    "meter counts over count": (_meter("counts", lambda c: {"d": 10**9}), "loss meter"),
    # missing keys
    "meter missing sums": (_drop("meter", "sums"), "loss meter"),
    "meter missing step": (_drop("meter", "step"), "loss meter"),
    "meter missing": (_drop("meter"), "'meter'"),
    "exp_avg missing": (_drop("model", "opt_g", "state", 0, "exp_avg"), "exp_avg"),
    "weight missing": (_drop("model", "G", "0.weight"), "0.weight"),
    "optimiser missing": (_drop("model", "opt_d"), "opt_d"),
}


@pytest.mark.parametrize("case", sorted(RESUME_DAMAGE))
def test_hostile_checkpoint_contents_are_one_line_on_resume(run, capsys, recwarn, case):
    change, expected = RESUME_DAMAGE[case]
    damage(run, change)
    err = refused(capsys, recwarn, run, resume(run))
    assert expected in err, err


# eval restores the model alone: the same dtype and finite checks apply to it
EVAL_CASES = [
    "weight complex128",
    "weight int64",
    "exp_avg complex64",
    "step int64 tensor",
    "exp_avg NaN",
    "weight -inf",
    "step NaN",
    "weight missing",
]


@pytest.mark.parametrize("case", EVAL_CASES)
def test_hostile_checkpoint_contents_are_one_line_on_eval(run, capsys, recwarn, case):
    change, expected = RESUME_DAMAGE[case]
    damage(run, change)
    err = refused(capsys, recwarn, run, evaluate(run))
    assert expected in err, err


# -- what the checks still accept ------------------------------------------------------


def test_an_intact_checkpoint_and_other_float_widths_still_resume(run, capsys):
    """The checks refuse only damage: float64 weights and moments (torch casts them
    exactly, as a changed --precision would) and a step kept as a plain number (as
    older torch saved it) resume and train on."""

    def widen(s):
        s["model"]["G"] = {k: v.double() for k, v in s["model"]["G"].items()}
        s["model"]["opt_d"]["state"][0]["exp_avg"] = s["model"]["opt_d"]["state"][0][
            "exp_avg"
        ].double()
        s["model"]["opt_g"]["state"][0]["step"] = 40.0

    damage(run, widen)
    assert main(resume(run)) == 0, capsys.readouterr().err
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed" and record["step"] == 44


def test_first_non_finite_names_the_first_entry_and_survives_deep_nests():
    from genbench.training.checkpoint import first_non_finite

    nan = torch.tensor([1.0, float("nan")])
    state = {"a": {"b": [torch.ones(2), nan]}, "c": torch.tensor(float("inf"))}
    assert first_non_finite(state, "model") == "model.a.b.1"
    assert first_non_finite({"k": torch.arange(3)}) is None  # integers: always finite
    deep: Any = torch.tensor(float("inf"))
    for _ in range(20_000):  # past the recursion limit
        deep = [deep]
    assert first_non_finite({"m": deep}, "model").startswith("…")


def test_the_finite_check_finds_one_nan_deep_in_a_dcgan_checkpoint():
    """The whole model state of dcgan (both networks, both Adams) is walked: an
    intact one passes, and a single NaN in the last optimiser moment is named.
    (Its cost, 28-45 ms on one thread, is measured, not asserted: no timed tests.)"""
    from genbench import DataSpec
    from genbench.registry import load_registry
    from genbench.training.checkpoint import first_non_finite

    cls = load_registry().get("dcgan").cls
    model = cls(cls.Config(), DataSpec("image", (3, 32, 32), None), torch.device("cpu"))
    for opt in model.checkpointed().values():
        if isinstance(opt, torch.optim.Optimizer):
            for group in opt.param_groups:
                for p in group["params"]:
                    p.grad = torch.zeros_like(p)
            opt.step()
    state = model.state_dict()
    assert first_non_finite(state) is None
    moments = [t for t in _tensors(state) if t.is_floating_point() and t.numel() > 1]
    last = moments[-1]
    last[(-1,) * last.dim()] = float("nan")
    assert first_non_finite(state) is not None


def _tensors(obj):
    """Every tensor in a nest of dicts and lists, in order."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)
