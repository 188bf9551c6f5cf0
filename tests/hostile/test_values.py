"""Hostile values and linked folders (issue #26, items 2, 7 and 8).

* A run folder reached through a link is refused by every command that writes into
  it (eval, --resume, the workbench's resume, note, rename), before anything is
  written; a runs folder that is itself a link keeps working.
* Every whole number of run.json, of a checkpoint's sampler state, of a metrics
  line and of ``--set`` is bounded: a hostile one is one line and exit 2 (or is
  skipped, for a metrics line), and run.json is never rewritten to ``failed``.
* A hostile number in one run's files is shown as what it is (``1e308``), in a
  bounded width, never at the cost of other runs' columns.

The fuzz-style cases are plain loops over values (pytest.mark.parametrize).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genbench import config as cfg
from genbench import param
from genbench.cli import main
from genbench.errors import UsageError
from genbench.runfolder.record import RunRecord, UnreadableFile
from genbench.runfolder.runs import RunSummary
from tests.data.test_readers import write_mnist

# -- helpers ---------------------------------------------------------------------


def one_line_exit_2(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


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


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One short finished gan run on ring8 (8 loss lines), copied by each test."""
    root = tmp_path_factory.mktemp("template")
    assert main(["run", "--headless", "--quiet", *TOY, "--runs-dir", str(root), "--name", "r"]) == 0
    return root / "r"


@pytest.fixture
def run(trained, tmp_path) -> Path:
    dest = tmp_path / "runs" / "victim"
    shutil.copytree(trained, dest)
    return dest


@pytest.fixture
def linked(run, tmp_path) -> Path:
    """``inbox/evil -> ../runs/victim``: a received folder that is a link."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.symlink(os.path.relpath(run, inbox), inbox / "evil")
    return inbox / "evil"


def short(value) -> str:
    """A test id for a value: 10**400 is '1e400...', not 401 digits."""
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} chars)"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# -- item 2: a run folder reached through a link is never written ------------------


def test_eval_refuses_a_linked_run_folder_and_writes_nothing(run, linked, capsys):
    before = snapshot(run)
    err = one_line_exit_2(capsys, ["eval", str(linked), "-n", "100", "--quiet", "--threads", "1"])
    assert "is a link" in err and str(run.resolve()) in err
    assert snapshot(run) == before and not (run / "eval.json").exists()


def test_resume_refuses_a_linked_run_folder_and_trains_nothing(run, linked, capsys):
    before = snapshot(run)
    err = one_line_exit_2(
        capsys,
        [
            "run",
            "--headless",
            "--quiet",
            "--resume",
            str(linked),
            "--steps",
            "60",
            "--threads",
            "1",
        ],
    )
    assert "is a link" in err
    assert snapshot(run) == before  # run.json still completed at 40; no lock left


def test_the_workbench_resume_refuses_a_linked_run_folder(run, linked):
    from genbench.tui import launcher

    with pytest.raises(UsageError, match="is a link"):
        launcher.check_resumable(linked)
    # The trainer it would start is given the link itself, not where it leads, so it
    # refuses too (the path was resolved before, and the victim trained).
    argv = launcher.resume_argv(linked, None)
    assert Path(argv[argv.index("--resume") + 1]).is_symlink()


def test_note_and_rename_refuse_a_linked_run_folder(run, linked):
    from genbench.runfolder.notes import rename_run, write_note

    before = snapshot(run)
    with pytest.raises(UsageError):
        write_note(linked, "written through a link")
    with pytest.raises(UsageError):
        rename_run(linked, "renamed")
    assert snapshot(run) == before and linked.is_symlink()


@pytest.mark.parametrize("tail", ["", "/", "/."])
def test_the_link_is_found_however_the_path_is_written(run, linked, tail):
    from genbench.runfolder.untrusted import safe_target

    with pytest.raises(UsageError, match="is a link"):
        safe_target(Path(str(linked) + tail), "eval.json")


def test_a_runs_folder_that_is_a_link_keeps_working(tmp_path, capsys):
    """/shared/runs -> /mnt/x is a user's own setup: new runs, resume and eval work
    through it (only the run folder's own entry is checked)."""
    real = tmp_path / "mnt" / "x"
    real.mkdir(parents=True)
    os.symlink(real, tmp_path / "shared-runs")
    runs = tmp_path / "shared-runs"
    assert main(["run", "--headless", "--quiet", *TOY, "--runs-dir", str(runs), "--name", "r"]) == 0
    assert (
        main(
            [
                "run",
                "--headless",
                "--quiet",
                "--resume",
                str(runs / "r"),
                "--steps",
                "50",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    assert main(["eval", str(runs / "r"), "-n", "100", "--quiet", "--threads", "1"]) == 0
    record = json.loads((real / "r" / "run.json").read_text())
    assert record["status"] == "completed" and record["step"] == 50
    assert (real / "r" / "eval.json").is_file()


def test_reading_follows_a_linked_run_folder(run, linked, capsys):
    """Reading changes nothing and costs what any run folder's files cost, so `show`
    follows the link (and says which run it shows)."""
    assert main(["show", str(linked)]) == 0
    assert "completed" in capsys.readouterr().out


# -- item 7: run.json's whole numbers are bounded; resume leaves it as it was ------


def _record(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def _write_record(run: Path, **changes) -> None:
    (run / "run.json").write_text(json.dumps({**_record(run), **changes}))


def test_a_huge_batch_size_in_run_json_is_one_line_and_not_failed(run, capsys):
    _write_record(run, batch_size=10**30)
    before = snapshot(run)
    err = one_line_exit_2(
        capsys,
        ["run", "--headless", "--quiet", "--resume", str(run), "--steps", "60", "--threads", "1"],
    )
    assert "batch_size" in err
    assert snapshot(run) == before  # not rewritten to failed: nothing was lost


# Every whole number of run.json and values a received one may hold instead.
INT_FIELDS = [
    "seed",
    "batch_size",
    "steps",
    "step",
    "pid",
    "pid_start",
    "world_size",
    "sample_step",
    "checkpoint_step",
    "resumed",
    "data.classes",
    "data.subset",
    "data.image_size",
    "intervals.log",
    "intervals.sample",
    "intervals.checkpoint",
    "intervals.eval",
    "changes.step",
    "heartbeat",
]
HOSTILE = [
    -1,
    0,
    2**53 + 1,
    2**63,
    2**64 + 5,
    10**30,
    10**400,
    -(10**400),
    1e308,
    -1e308,
    1.5,
    True,
    False,
    "7",
    None,
    [],
    {},
    float("nan"),
    float("inf"),
]


def _with(raw: dict, dotted: str, value) -> dict:
    raw = json.loads(json.dumps(raw))
    if dotted == "changes.step":
        raw["changes"] = [{"step": value, "key": "lr", "old": 1, "new": 2}]
        return raw
    *parents, key = dotted.split(".")
    target = raw
    for p in parents:
        target = target.setdefault(p, {})
    target[key] = value
    return raw


@pytest.mark.parametrize("value", HOSTILE, ids=short)
@pytest.mark.parametrize("field", INT_FIELDS)
def test_any_number_in_run_json_is_a_bounded_record_or_one_line(field, value):
    base = {"model": "gan", "dataset": "ring8"}
    # Through the bytes, as a received file is read: 10**400 is valid JSON.
    raw = json.loads(json.dumps(_with(base, field, value)))
    try:
        rec = RunRecord.from_dict(raw)
    except UnreadableFile as exc:
        assert "\n" not in str(exc) and field.split(".")[-1] in str(exc)
        return
    got = rec.to_dict()
    for part in field.replace("changes.step", "changes").split("."):
        got = got[part] if not isinstance(got, list) else got[0]["step"]
    if isinstance(got, list):
        got = got[0]["step"]
    assert got is None or not isinstance(got, bool)
    if isinstance(got, float):
        assert math.isfinite(got)
    elif isinstance(got, int):
        # A step, size or count beyond 2**63 never comes out of a record.
        assert 0 <= got < 2**63
    rec.to_json()  # and it writes back as strict JSON


# -- item 7: a checkpoint's sampler state is checked before it is used ----------------


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> Path:
    """A short gan run on a tiny MNIST-shaped set: its checkpoint holds a shuffled
    order of the examples (DeviceBatchSampler's perm)."""
    root = tmp_path_factory.mktemp("images")
    write_mnist(root / "data", n=40)
    assert (
        main(
            [
                "run",
                "--headless",
                "--quiet",
                "--model",
                "gan",
                "--dataset",
                "mnist",
                "--data-dir",
                str(root / "data"),
                "--batch-size",
                "8",
                "--steps",
                "6",
                "--log-every",
                "3",
                "--checkpoint-every",
                "3",
                "--sample-every",
                "100",
                "--eval-every",
                "1000",
                "--threads",
                "1",
                "--runs-dir",
                str(root / "runs"),
                "--name",
                "img",
            ]
        )
        == 0
    )
    return root / "runs" / "img"


def _damage_sampler(run: Path, change) -> None:
    path = run / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)
    change(state["sampler"])
    torch.save(state, path)


def _set(key, value):
    def change(sampler):
        sampler[key] = value(sampler) if callable(value) else value

    return change


SAMPLER_DAMAGE = {
    "perm out of range": _set("perm", lambda s: s["perm"] + 1000),
    "perm one index past the end": _set(
        "perm", lambda s: torch.where(s["perm"] == 0, torch.tensor(len(s["perm"])), s["perm"])
    ),
    "perm repeated index": _set("perm", lambda s: torch.zeros_like(s["perm"])),
    "perm negative": _set("perm", lambda s: -s["perm"] - 1),
    "perm too short": _set("perm", lambda s: s["perm"][:-1]),
    "perm float": _set("perm", lambda s: s["perm"].double()),
    "perm 2-D": _set("perm", lambda s: s["perm"].view(-1, 1)),
    "perm a list": _set("perm", lambda s: s["perm"].tolist()),
    "perm missing": lambda s: s.pop("perm"),
    "cursor negative": _set("cursor", -8),
    "cursor past the end": _set("cursor", 10**6),
    "cursor a float": _set("cursor", 8.0),
    "cursor a bool": _set("cursor", True),
    "cursor a tensor": _set("cursor", torch.tensor(8)),
    "epoch negative": _set("epoch", -1),
    "epoch beyond 2**63": _set("epoch", 2**64),
    "size a string": _set("size", "40"),
    "size beyond 2**63": _set("size", 2**70),
    "generator empty": _set("generator", torch.zeros(0, dtype=torch.uint8)),
    "generator floats": _set("generator", lambda s: s["generator"].float()),
    "generator a list": _set("generator", [1, 2, 3]),
}


@pytest.mark.parametrize("damage", sorted(SAMPLER_DAMAGE))
def test_a_damaged_sampler_state_is_one_line_and_run_json_kept(image_run, tmp_path, capsys, damage):
    run = tmp_path / "img"
    shutil.copytree(image_run, run)
    _damage_sampler(run, SAMPLER_DAMAGE[damage])
    before = _record(run)
    err = one_line_exit_2(
        capsys,
        ["run", "--headless", "--quiet", "--resume", str(run), "--steps", "12", "--threads", "1"],
    )
    assert "checkpoint" in err
    after = _record(run)
    assert after["status"] == before["status"] == "completed" and after == before


def test_an_intact_sampler_state_still_resumes_exactly(image_run, tmp_path):
    """The checks refuse only damage: a copy of the run resumes and trains on."""
    run = tmp_path / "img"
    shutil.copytree(image_run, run)
    assert (
        main(
            ["run", "--headless", "--quiet", "--resume", str(run), "--steps", "9", "--threads", "1"]
        )
        == 0
    )
    assert _record(run)["step"] == 9 and _record(run)["status"] == "completed"


# -- item 7: eval's stability survives hostile steps ---------------------------------


@pytest.mark.parametrize("step", [10**29, 2**63, 2**64, 10**400, -(10**400), 10**15], ids=short)
def test_eval_stability_skips_steps_that_are_not_the_runs(run, capsys, step):
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"step": step, "losses": {"d": 1e300, "g": 5.0}}) + "\n")
    assert main(["eval", str(run), "-n", "100", "--json", "--threads", "1"]) == 0
    stability = json.loads(capsys.readouterr().out)["stability"]
    # The window is the run's own last third (steps 5..40), not one stretched to the
    # hostile line's step.
    assert stability["to_step"] == 40 and 0 < stability["from_step"] < 40
    assert set(stability["loss_spread"]) >= {"d", "g"}


def test_stability_of_records_with_odd_steps_never_raises():
    from genbench.metrics.criteria import stability

    good = [{"step": 10 * i, "losses": {"d": 1.0 + i % 2}} for i in range(1, 9)]
    odd = [None, True, 1.5, "7", -5, 2**53 + 1, 10**400, -(10**400), [], {}]
    for step in odd:
        got = stability(good + [{"step": step, "losses": {"d": 3.0}}])
        assert got is not None and got["to_step"] == 80, step
    assert stability(good, max_step=70)["to_step"] == 70


# -- item 7: --set whole numbers are bounded -----------------------------------------


@pytest.mark.parametrize(
    "assignment",
    [
        "hidden=9223372036854775807",
        "latent_dim=4611686018427387904",
        "d_steps=4611686018427387904",
        "layers=1000000",
        "hidden=99999999999999999999999",
    ],
)
def test_a_huge_set_value_is_one_line_and_leaves_no_folder(tmp_path, capsys, assignment):
    runs = tmp_path / "runs"
    err = one_line_exit_2(
        capsys, ["run", "--headless", "--quiet", *TOY, "--runs-dir", str(runs), "--set", assignment]
    )
    assert assignment.split("=")[0] in err and "maximum" in err
    assert not runs.exists() or not any(runs.iterdir())


@dataclasses.dataclass
class ThirdPartyConfig:
    """A plugin's Config that declares no maximum for its sizes, and one that does."""

    units: int = param(8, "units", min=1)
    seed: int = param(0, "a seed of its own", min=0, max=2**63 - 1)


@pytest.mark.parametrize(
    "text,ok",
    [
        ("2147483647", True),
        ("2147483648", False),
        (str(2**62), False),
        ("9" * 300, False),
        ("-5", False),
        ("1e3", False),
        ("True", False),
    ],
    ids=short,
)
def test_an_int_without_a_declared_maximum_is_bounded(text, ok):
    field = next(f for f in cfg.fields(ThirdPartyConfig) if f.name == "units")
    if ok:
        assert cfg.convert(ThirdPartyConfig, field, text) == int(text)
    else:
        with pytest.raises(UsageError) as info:
            cfg.convert(ThirdPartyConfig, field, text)
        assert "\n" not in str(info.value)


def test_a_declared_maximum_allows_more_than_the_general_bound():
    field = next(f for f in cfg.fields(ThirdPartyConfig) if f.name == "seed")
    assert cfg.convert(ThirdPartyConfig, field, str(2**62)) == 2**62


def test_the_built_in_models_bound_every_size():
    """Each built-in model's whole-number hyperparameters declare a maximum, so no
    --set value reaches torch's size arithmetic unbounded."""
    from genbench.registry import load_registry

    registry = load_registry()
    for name in ("gan", "dcgan", "cgan", "lsgan", "vae", "wgan", "wgan-gp"):
        for f in cfg.fields(registry.get(name).cls.Config):
            if cfg.field_type(registry.get(name).cls.Config, f) is int:
                bound = f.metadata.get("max", cfg.INT_SETTING_MAX)
                assert bound <= cfg.INT_SETTING_MAX, (name, f.name)


# -- item 8: one run's numbers never degrade the others' ----------------------------


def test_a_hostile_fd_is_shown_as_what_it_is_beside_intact_rows(
    trained, tmp_path, capsys, monkeypatch
):
    runs = tmp_path / "runs"
    for name in ("alpha", "hostile", "omega"):
        shutil.copytree(trained, runs / name)
    (runs / "hostile" / "eval.json").write_text(
        json.dumps(
            {
                "step": 40,
                "samples": 100,
                "summary": {"fd": 1e308, "classes_covered": 3, "classes": 10},
            }
        )
    )
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.strip() and line.split()[0] in ("alpha", "hostile", "omega")
    }
    assert set(rows) == {"alpha", "hostile", "omega"}, out
    for line in rows.values():
        assert "completed" in line and "40/40" in line and "…" not in line, line
    assert "1e308" in rows["hostile"]


@pytest.mark.parametrize("fd", [1e308, 10**400, -(10**400), 1e-300, -0.0, 123456789.0], ids=short)
@pytest.mark.parametrize("coverage", [(3, 10), (10**400, 10**400), (-1, 2**64)], ids=short)
def test_hostile_quality_numbers_have_a_bounded_width_in_both_tables(fd, coverage):
    from genbench.presentation import NUMBER_WIDTH, quality_cells, quality_line, quality_text

    s = RunSummary(
        path=Path("r"),
        id="r",
        fd=fd,
        coverage=coverage,
        quality_source="eval.json",
        quality_samples=10**400,
    )
    fd_cell, cov_cell, _ = quality_cells(s)  # genbench runs
    assert len(fd_cell.plain) <= NUMBER_WIDTH
    assert len(cov_cell.plain) <= 2 * 13 + 2
    assert len(quality_text(s).plain) <= NUMBER_WIDTH + 2 * 13 + 5  # the workbench's cell
    assert len(quality_line(s).plain) < 120  # genbench show


@pytest.mark.parametrize(
    "value",
    [
        1e308,
        -1e308,
        10**400,
        -(10**400),
        2**63,
        1e-300,
        5e-324,
        0,
        -0.0,
        0.5,
        1.0,
        999999.994,
        1e6,
        12345.678,
        float("inf"),
        float("nan"),
    ],
    ids=short,
)
def test_every_number_formatter_is_bounded_and_never_raises(value):
    from genbench.presentation import (
        NUMBER_WIDTH,
        count_text,
        format_losses,
        number_text,
        significant_text,
        speed_text,
        step_text,
    )

    for text in (number_text(value), number_text(value, 0), significant_text(value)):
        assert 0 < len(text) <= NUMBER_WIDTH, (value, text)
    assert 0 < len(count_text(value)) <= 13  # up to 12 digits, then compact
    assert len(speed_text(value)) <= 16
    assert len(format_losses({"d": value})) <= NUMBER_WIDTH + 2
    if isinstance(value, int):
        assert len(step_text(value, value)) <= 2 * 13 + 1


def test_numbers_read_as_what_they_are():
    from genbench.presentation import count_text, number_text, significant_text

    assert number_text(1e308) == "1e308" and number_text(10**400) == "1e400"
    assert number_text(-2.5e-7) == "-2.5e-7" and number_text(12.345) == "12.35"
    assert number_text(1.5e12, 0) == "1.5e12" and number_text(0.0) == "0.00"
    assert significant_text(0.7215, 4) == "0.7215" and significant_text(1234567.0) == "1.23e6"
    assert count_text(60000) == "60000" and count_text(10**400) == "1e400"
    assert count_text(1_500_000) == "1500000" and count_text(2**63) == "9.22e18"


def test_a_hostile_speed_and_loss_keep_the_other_rows(trained, tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs"
    for name in ("alpha", "hostile"):
        shutil.copytree(trained, runs / name)
    with open(runs / "hostile" / "metrics.jsonl", "a") as fh:
        fh.write(
            json.dumps({"step": 40, "losses": {"d": 10**400, "g": 1e308}, "img_per_s": 1e308})
            + "\n"
        )
    monkeypatch.setenv("COLUMNS", "140")
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip().startswith(("alpha", "hostile"))]
    assert len(lines) == 2 and all("completed" in line and "40/40" in line for line in lines)
    assert "1e308" in out and "1e400" in out


async def test_the_workbench_runs_list_shows_hostile_numbers_compactly(tmp_path):
    """The workbench's runs list writes numbers through the same presentation
    functions: an int FD of 10**400 (no float holds it) is ``FD 1e400`` in a narrow
    cell, and the other runs' cells are as they were."""
    from textual.widgets import DataTable

    from genbench.tui.app import GenbenchApp
    from tests.tui_support import copy_fixture_runs, wait_for

    runs = copy_fixture_runs(tmp_path / "runs")
    hostile = runs / "ring8-gan"
    (hostile / "eval.json").write_text(
        json.dumps(
            {
                "step": 10**9,
                "samples": 10**400,
                "summary": {"fd": 10**400, "classes_covered": 10**400, "classes": 2**64},
            }
        )
    )
    with open(hostile / "metrics.jsonl", "a") as fh:
        fh.write(
            json.dumps({"step": 10**6, "losses": {"d": 1e308, "g": -(10**400)}, "img_per_s": 1e308})
            + "\n"
        )
    app = GenbenchApp(runs, run_choices_loader=None)
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one(DataTable)

        def cell(run: Path, column: str) -> str:
            return str(table.get_cell(str(run), column))

        await wait_for(
            pilot, lambda: "1e400" in cell(hostile, "quality"), what="the hostile run's quality"
        )
        assert len(cell(hostile, "quality")) <= 40
        assert "1e308" in cell(hostile, "speed") and len(cell(hostile, "speed")) <= 16
        assert len(cell(hostile, "losses")) <= 40
        other = runs / "grid25-gan"
        assert cell(other, "run") == "grid25-gan" and "/" in cell(other, "step")
        assert table.columns["run"].content_width >= len("grid25-gan")


def test_the_compare_legend_shows_a_hostile_fd_compactly(run):
    """The workbench's compare legend reads eval.json through its run tail: an FD of
    10**400 is ``FD 1e400`` (it was an OverflowError while drawing the screen)."""
    from genbench.tui.run_tail import RunTail
    from genbench.tui.widgets.run_legend import quality_cell

    (run / "eval.json").write_text(
        json.dumps(
            {
                "step": 40,
                "samples": 100,
                "summary": {"fd": 10**400, "modes_covered": 10**400, "modes": 8},
            }
        )
    )
    tail = RunTail(run)
    tail.poll()
    assert quality_cell(tail) == "FD 1e400 1e400/8"


@pytest.mark.parametrize("command", ["eval", "resume"])
@pytest.mark.parametrize(
    "key,value",
    [("hidden", 2**40), ("layers", 10**6), ("d_steps", 2**62), ("latent_dim", 10**400)],
    ids=short,
)
def test_a_huge_size_in_run_jsons_config_is_one_line_naming_run_json(
    run, capsys, command, key, value
):
    record = _record(run)
    _write_record(run, config={**record["config"], key: value})
    before = snapshot(run)
    argv = (
        ["eval", str(run), "-n", "100", "--quiet"]
        if command == "eval"
        else ["run", "--headless", "--quiet", "--resume", str(run), "--steps", "60"]
    )
    err = one_line_exit_2(capsys, [*argv, "--threads", "1"])
    assert "run.json's config" in err and key in err and "maximum" in err
    assert snapshot(run) == before


@pytest.mark.parametrize("seconds", [1e308, float("inf"), 10**400, float("nan"), -5.0], ids=short)
def test_an_eta_from_hostile_times_is_bounded_and_never_raises(seconds):
    """A metrics line's "time" of 1e400 reads as infinity (Python's JSON parser), and
    the workbench's ETA of a running run divides by it: the duration is a short
    word, never an OverflowError or 300 digits."""
    from genbench.presentation import format_duration
    from genbench.tui.screens.runs import progress_text

    assert len(format_duration(seconds)) <= 8
    assert len(progress_text("running", 10, 10**15, 1 / seconds if seconds else None)) <= 14


def test_json_reads_1e400_as_infinity_so_readers_must_expect_it():
    from genbench.runfolder.untrusted import parse_json

    assert parse_json(b'{"time": 1e400}', "line")["time"] == float("inf")


def test_eval_json_stays_strict_json_when_losses_are_near_the_float_limit(run, capsys):
    """Losses of ±1e308 (and an int 10**400) at the end of metrics.jsonl: the spread is
    computed without overflowing, so eval.json holds no NaN or Infinity (which every
    reader, genbench's own included, would refuse) and no warning is printed."""
    from genbench.runfolder.untrusted import parse_json

    with open(run / "metrics.jsonl", "a") as fh:
        for i, step in enumerate(range(26, 41, 2)):
            fh.write(
                json.dumps(
                    {
                        "step": step,
                        "losses": {"d": 1e308 if i % 2 else -1e308, "g": 10**400, "r1": "x"},
                    }
                )
                + "\n"
            )
        fh.write(json.dumps({"kind": "eval", "step": 40, "eval": {"fd": 1.7e308}}) + "\n")
        fh.write(json.dumps({"kind": "eval", "step": 40, "eval": [1, 2]}) + "\n")
    assert main(["eval", str(run), "-n", "100", "--quiet", "--threads", "1"]) == 0
    assert "Warning" not in capsys.readouterr().err
    saved = parse_json((run / "eval.json").read_bytes(), "eval.json")
    spreads = saved["stability"]["loss_spread"]
    assert spreads and all(math.isfinite(v) for v in spreads.values())


def test_stability_of_hostile_losses_is_finite_or_absent():
    from genbench.metrics.criteria import stability

    cases = [1e308, -1e308, 10**400, 5e-324, 0.0, float("inf"), float("nan"), True, "1", None]
    for value in cases:
        records = [{"step": 10 * i, "losses": {"d": 1.0 + i % 2, "x": value}} for i in range(1, 9)]
        records += [
            {"kind": "eval", "step": 80, "eval": {"fd": value}},
            {"kind": "eval", "step": 70, "eval": {"fd": value}},
            {"step": 80, "losses": [value]},
            {"kind": "eval", "step": 80, "eval": None},
        ]
        got = stability(records)
        numbers = list(got["loss_spread"].values()) + [got["fd_spread"]]
        assert all(v is None or math.isfinite(v) for v in numbers), (value, got)


def test_eval_json_is_written_as_strict_json_whatever_a_metric_gives(run, monkeypatch):
    """A metric that comes out NaN (here the stability, forced) is written as null."""
    import genbench.metrics.run_eval as run_eval
    from genbench.runfolder.untrusted import parse_json

    monkeypatch.setattr(
        run_eval,
        "_stability",
        lambda run_dir, max_step=None: {
            "from_step": 0,
            "to_step": 40,
            "loss_spread": {"d": float("nan")},
            "fd_spread": float("inf"),
        },
    )
    assert main(["eval", str(run), "-n", "100", "--quiet", "--threads", "1"]) == 0
    saved = parse_json((run / "eval.json").read_bytes(), "eval.json")
    assert saved["stability"]["loss_spread"]["d"] is None


def test_sixty_losses_in_one_run_give_way_before_other_runs_columns(
    trained, tmp_path, capsys, monkeypatch
):
    runs = tmp_path / "runs"
    for name in ("alpha", "hostile"):
        shutil.copytree(trained, runs / name)
    with open(runs / "hostile" / "metrics.jsonl", "a") as fh:
        fh.write(
            json.dumps(
                {"step": 40, "losses": {f"loss_{i}": 1.0 for i in range(60)}, "img_per_s": 1.0}
            )
            + "\n"
        )
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.strip().startswith("id"))
    assert header.split()[:5] == ["id", "model", "dataset", "status", "step"]
    for name in ("alpha", "hostile"):
        line = next(line for line in out.splitlines() if line.strip().startswith(name))
        assert "gan" in line and "ring8" in line and "completed" in line and "40/40" in line


def test_the_workbench_losses_cell_is_bounded():
    from genbench.presentation import LOSSES_CELL_MAX, losses_text

    many = {f"loss_{i}": 1.0 for i in range(60)}
    assert len(losses_text(many)) == LOSSES_CELL_MAX and losses_text(many).endswith("…")
    assert losses_text({"d": 1.3512, "g": 0.72}) == "d 1.35  g 0.72"


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--steps", 10**20),
        ("--epochs", 10**20),
        ("--epochs", 2**50),
        ("--log-every", 10**20),
        ("--sample-every", 10**20),
        ("--checkpoint-every", 10**20),
        ("--eval-every", 10**20),
        ("--batch-size", 10**8),
    ],
    ids=short,
)
def test_a_new_run_never_writes_a_run_json_it_would_refuse_to_read(tmp_path, capsys, flag, value):
    """The flags are bounded as run.json is (it held steps 10**20, and from then on
    every command called the run unreadable)."""
    runs = tmp_path / "runs"
    argv = [
        "run",
        "--headless",
        "--quiet",
        "--model",
        "gan",
        "--dataset",
        "ring8",
        "--threads",
        "1",
        "--runs-dir",
        str(runs),
        flag,
        str(value),
    ]
    if flag == "--epochs":
        argv[argv.index("ring8")] = "mnist"
        write_mnist(tmp_path / "data", n=20)
        argv += ["--data-dir", str(tmp_path / "data"), "--batch-size", "1"]
    if flag in ("--steps", "--epochs"):
        # In a child with a deadline: were the bound lost, this run would train for ever.
        out = subprocess.run(
            [sys.executable, "-m", "genbench", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert out.returncode == 2, out.stderr[-500:]
        err = out.stderr.strip()
        assert err.count("\n") == 0 and "Traceback" not in err
    else:
        err = one_line_exit_2(capsys, [*argv, "--steps", "2"])
    assert flag in err and ("at most" in err or "more than a run can record" in err)
    assert not runs.exists() or not any(runs.iterdir())


def test_resume_to_a_step_beyond_what_run_json_holds_is_refused(run):
    before = snapshot(run)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "genbench",
            "run",
            "--headless",
            "--quiet",
            "--resume",
            str(run),
            "--steps",
            str(2**60),
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=run.parent,
    )
    assert out.returncode == 2 and "--steps" in out.stderr and snapshot(run) == before
