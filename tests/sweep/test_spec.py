"""A sweep's spec from flags and TOML, and the sweep record read back as untrusted input."""

from __future__ import annotations

import json

import pytest

from genbench.cli import main
from genbench.errors import UsageError
from genbench.sweep.build import build, read_toml
from genbench.sweep.record import SWEEP_FILE, SWEEPS_DIR, SweepRecord
from genbench.sweep.spec import parse_seeds


def _build(toml=None, run=None, sets=(), how=None):
    return build(toml, run or {}, list(sets), how or {})


def test_flags_make_a_grid_with_seeds_outermost():
    req = _build(
        run={"model": ["dcgan,lsgan"], "dataset": ["fashion-mnist"], "steps": ["300"]},
        sets=["lr=1e-4,2e-4", "beta1=0.5"],
        how={"seeds": "0-2"},
    )
    spec = req.spec
    assert spec.shape() == "2 model x 2 lr x 3 seeds"
    points = spec.grid_points()
    assert len(points) == 12
    # every configuration once before any twice
    assert [p["seed"] for p in points] == [0] * 4 + [1] * 4 + [2] * 4
    assert points[1] == {"model": "dcgan", "lr": "2e-4", "seed": 0}
    assert spec.run_args(points[1]) == [
        "--model",
        "dcgan",
        "--dataset",
        "fashion-mnist",
        "--set",
        "beta1=0.5",
        "--set",
        "lr=2e-4",
        "--steps",
        "300",
        "--seed",
        "0",
    ]


def test_a_toml_file_and_flags_overlay(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        """
[sweep]
seeds = [0, 1]
name = "study"

[run]
model = ["dcgan", "lsgan"]
dataset = "fashion-mnist"
augment = ["flip", "flip,translate"]

[set]
lr = [1e-4, 2e-4]
beta1 = 0.5

[executor]
parallel = 2
"""
    )
    req = _build(read_toml(path), run={"model": ["gan"]})  # the flag wins
    assert req.name == "study" and req.settings == {"parallel": 2}
    assert req.spec.fixed["model"] == "gan"
    # augment's one value is itself a comma list: a TOML list varies it
    assert req.spec.axis("augment").values == ["flip", "flip,translate"]
    assert req.spec.axis("lr").values == ["0.0001", "0.0002"]
    assert req.spec.sets == ["beta1=0.5"]
    assert req.spec.member_count() == 2 * 2 * 2


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[sweeps]\nx = 1\n", "unknown table [sweeps]"),
        ("[sweep]\nsearh = 'grid'\n", "unknown key 'searh' in [sweep]"),
        ("[run]\nmodle = 'gan'\n", "unknown run option 'modle' in [run]"),
        ("[set]\nlr = []\n", "[set] lr is an empty list"),
        ("[set]\nlr = { lo = 1 }\n", "as a table is a range"),
        ("[run]\nmodel = 'gan'\n[set]\nlr = { low = 1e-5, high = 1e-3 }\n", "a grid needs a list"),
        ("[run = \n", "is not valid TOML"),
    ],
)
def test_a_bad_sweep_file_is_one_line(tmp_path, toml, message):
    path = tmp_path / "s.toml"
    path.write_text(toml)
    with pytest.raises(UsageError, match=None) as info:
        _build(read_toml(path), run={"model": ["gan"], "dataset": ["ring8"]})
    assert message in str(info.value) and "\n" not in str(info.value).strip()


def test_random_search_draws_the_same_points_for_the_same_seed():
    def points(seed):
        req = _build(
            run={"model": ["gan"], "dataset": ["ring8"]},
            sets=["lr=log:1e-5..1e-2", "d_steps=1..3", "beta1=0.0,0.5"],
            how={"search": "random", "trials": 6, "search_seed": seed},
        )
        return req.spec.grid_points()

    first = points(0)
    assert first == points(0) and first != points(1)
    assert len(first) == 6
    for p in first:
        assert 1e-5 <= p["lr"] <= 1e-2
        assert p["d_steps"] in (1, 2, 3)
        assert p["beta1"] in ("0.0", "0.5")


def test_random_search_never_draws_a_configuration_twice():
    def spec(trials):
        return _build(
            run={"model": ["gan,lsgan"], "dataset": ["ring8"]},
            sets=["lr=1e-4,2e-4"],
            how={"search": "random", "trials": trials},
        ).spec

    points = spec(4).grid_points()
    assert len({(p["model"], p["lr"]) for p in points}) == 4
    with pytest.raises(UsageError, match="more than the 4 configurations"):
        spec(5)


def test_seeds():
    assert parse_seeds("0-2,10") == [0, 1, 2, 10]
    assert parse_seeds([3, 1]) == [3, 1]
    for bad in ("", "2-1", "a", "-1"):
        with pytest.raises(UsageError):
            parse_seeds(bad)


def _record(runs_dir, sweep_id="s") -> dict:
    req = _build(run={"model": ["gan"], "dataset": ["ring8"]}, how={"seeds": "0-1"})
    record = SweepRecord(sweep_id, req.spec)
    from genbench.sweep.record import MemberRecord

    record.members = [
        MemberRecord(f"{sweep_id}-{i:03d}", p, req.spec.run_args(p))
        for i, p in enumerate(req.spec.grid_points())
    ]
    (runs_dir / SWEEPS_DIR / sweep_id).mkdir(parents=True)
    record.write(runs_dir)
    return json.loads((runs_dir / SWEEPS_DIR / sweep_id / SWEEP_FILE).read_text())


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(state="exploded"), "state must be one of"),
        (lambda d: d["members"][0].update(name="../../etc"), "is not a run folder's name"),
        (lambda d: d["members"][0]["args"].extend(["--runs-dir", "/"]), "may not name a folder"),
        (lambda d: d["members"][0].update(point={"a": [1, 2]}), "point"),
        (lambda d: d.update(members={"x": 1}), "members must be a list"),
        (lambda d: d["spec"].update(seeds=["x"]), "seeds must be a list of whole numbers"),
        (lambda d: d["spec"].update(bogus=1), "spec is not a sweep spec"),
        (lambda d: d["members"][0].update(name="a\x1b[2Jb"), "is not a run folder's name"),
        (
            lambda d: d["spec"]["axes"].append(
                {"key": "\x1b[31mred", "kind": "set", "values": [1]}
            ),
            "is not a sweep axis",
        ),
        (
            lambda d: d["spec"]["axes"].append({"key": "lr", "kind": "set", "values": [[1]]}),
            "is not a sweep axis",
        ),
        (lambda d: d["spec"].update(search="bogus"), "is not valid"),
        # argparse takes a prefix of a flag and its =value form: neither names a folder
        (lambda d: d["members"][0]["args"].append("--runs-dir=/tmp/x"), "may not name a folder"),
        (lambda d: d["members"][0]["args"].extend(["--runs", "/tmp/x"]), "may not name a folder"),
        (lambda d: d["members"][0]["args"].extend(["--nam", "x"]), "may not name a folder"),
        (
            lambda d: d["spec"]["axes"].append(
                {"key": "lr", "kind": "set", "values": [], "low": "abc", "high": 2}
            ),
            "is not a sweep axis",
        ),
        (lambda d: d["members"][0].update(point={"lr": "INFINITE"}), "point"),
        (lambda d: d["spec"].update(fixed={"model": {"a": 1}}), "spec.fixed must be"),
    ],
)
def test_a_bad_sweep_record_is_one_line_and_exit_2(runs_dir, capsys, change, message):
    raw = _record(runs_dir)
    change(raw)
    path = runs_dir / SWEEPS_DIR / "s" / SWEEP_FILE
    # 1e999: valid JSON that reads as an infinite float, which JSON cannot write back
    path.write_text(json.dumps(raw).replace('"INFINITE"', "1e999"))
    for argv in (["sweep", "show", "s"], ["sweep", "--resume", "s"], ["sweeps"]):
        code = main([*argv, "--runs-dir", str(runs_dir)])
        err = capsys.readouterr()
        if argv == ["sweeps"]:  # the list names the broken sweep and goes on
            assert code == 0 and message in err.out.replace("\n", " ")
            continue
        assert code == 2, argv
        assert message in err.err and err.err.count("\n") == 1, err.err


def test_a_sweep_record_that_is_not_a_regular_file_is_refused(runs_dir, capsys):
    _record(runs_dir)
    path = runs_dir / SWEEPS_DIR / "s" / SWEEP_FILE
    path.unlink()
    path.mkdir()
    assert main(["sweep", "show", "s", "--runs-dir", str(runs_dir)]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_log_is_one_comma_list_for_every_member():
    """--log's value is itself a comma list: every member logs to all of them."""
    req = _build(run={"model": ["gan"], "dataset": ["ring8"], "log": ["tensorboard,wandb"]})
    assert not req.spec.axes
    assert req.spec.run_args(req.spec.grid_points()[0])[-2:] == ["--log", "tensorboard,wandb"]
