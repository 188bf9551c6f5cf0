"""Bad input: one clear line on stderr, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import pickle

import pytest

from genbench.api import DataSpec
from genbench.cli import main
from genbench.registry import load_registry
from tests.conftest import toy_model_source


def run(*args):
    return main(["run", "--headless", *args])


def assert_one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("genbench: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--model", "nope", "--dataset", "ring8"], ["unknown model 'nope'", "gan"]),
        (["--model", "gan", "--dataset", "nope"], ["unknown dataset 'nope'", "ring8", "grid25"]),
        (
            ["--model", "gan", "--dataset", "ring8", "--set", "colour=red"],
            ["unknown hyperparameter 'colour'", "latent_dim", "lr"],
        ),
        (
            ["--model", "gan", "--dataset", "ring8", "--set", "latent_dim=big"],
            ["latent_dim='big' is not a valid int"],
        ),
        (["--model", "gan", "--dataset", "ring8", "--set", "lr"], ["key=value"]),
        (["--model", "gan", "--dataset", "ring8", "--set", "latent_dim=0"], ["below its minimum"]),
        (["--model", "gan", "--dataset", "ring8", "--steps", "0"], ["--steps must be a positive"]),
        (
            ["--model", "gan", "--dataset", "ring8", "--batch-size", "-4"],
            ["--batch-size must be a positive"],
        ),
        (["--model", "gan", "--dataset", "ring8", "--steps", "ten"], ["invalid int value"]),
        (["--model", "gan", "--dataset", "ring8", "--epochs", "2"], ["no epochs", "--steps"]),
        (
            ["--model", "gan", "--dataset", "ring8", "--device", "tpu"],
            ["device 'tpu' is not available", "cpu"],
        ),
        (["--model", "gan"], ["--dataset"]),
    ],
)
def test_bad_run_arguments(runs_dir, capsys, args, needles):
    assert run(*args, "--runs-dir", str(runs_dir)) == 2
    assert_one_line_error(capsys, *needles)
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_model_on_a_data_kind_it_does_not_support(plugin_site, runs_dir, capsys):
    plugin_site.add(
        "gb-img",
        toy_model_source("imgonly").replace(
            'kinds = frozenset({"points"})', 'kinds = frozenset({"image"})'
        ),
    )
    assert run("--model", "imgonly", "--dataset", "ring8", "--runs-dir", str(runs_dir)) == 2
    assert_one_line_error(capsys, "trains on image data, not points")
    assert not runs_dir.exists()


def test_conditional_model_needs_labelled_data(plugin_site):
    plugin_site.add("gb-cond", toy_model_source("cond", conditional=True))
    cls = load_registry().get("cond").cls
    assert "conditional and needs labelled data" in cls.unsupported_reason(
        DataSpec("points", (2,), None)
    )
    assert cls.unsupported_reason(DataSpec("points", (2,), 8)) is None


def test_runs_dir_that_cannot_be_written(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert run("--model", "gan", "--dataset", "ring8", "--runs-dir", str(blocker / "runs")) == 2
    assert_one_line_error(capsys, "cannot be created")
    assert blocker.read_text() == "not a folder"


def test_existing_name_is_refused(runs_dir, capsys):
    (runs_dir / "taken").mkdir(parents=True)
    (runs_dir / "taken" / "run.json").write_text("{}")
    assert (
        run("--model", "gan", "--dataset", "ring8", "--runs-dir", str(runs_dir), "--name", "taken")
        == 2
    )
    assert_one_line_error(capsys, "already exists")
    assert (runs_dir / "taken" / "run.json").read_text() == "{}"


@pytest.fixture
def finished_run(runs_dir, capsys):
    assert (
        run(
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            "10",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "done",
            "--quiet",
        )
        == 0
    )
    capsys.readouterr()
    return runs_dir / "done"


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run("--resume", str(tmp_path / "empty")) == 2
    assert_one_line_error(capsys, "not a genbench run")
    assert run("--resume", str(tmp_path / "missing")) == 2
    assert_one_line_error(capsys, "is not a folder")


def test_resume_with_missing_checkpoint(finished_run, capsys):
    (finished_run / "checkpoints" / "last.pt").unlink()
    before = snapshot(finished_run)
    assert run("--resume", str(finished_run), "--steps", "20") == 2
    assert_one_line_error(capsys, "no checkpoint")
    assert snapshot(finished_run) == before


def test_resume_with_corrupt_checkpoint(finished_run, capsys):
    (finished_run / "checkpoints" / "last.pt").write_bytes(b"\x00garbage" * 10)
    before = snapshot(finished_run)
    assert run("--resume", str(finished_run), "--steps", "20") == 2
    assert_one_line_error(capsys, "corrupt or unsafe")
    assert snapshot(finished_run) == before


class Payload:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_resume_refuses_a_checkpoint_crafted_to_run_code(finished_run, tmp_path, capsys):
    import torch

    torch.save(
        {"format": 1, "model": Payload()},
        finished_run / "checkpoints" / "last.pt",
        pickle_module=pickle,
    )
    assert run("--resume", str(finished_run), "--steps", "20") == 2
    assert_one_line_error(capsys, "unsafe to load", "pickled Python objects")
    assert not (tmp_path / "PWNED").exists()


def test_resume_of_a_finished_run_without_more_steps(finished_run, capsys):
    assert run("--resume", str(finished_run)) == 2
    assert_one_line_error(capsys, "already at step 10", "--steps")


def test_resume_rejects_options_that_belong_to_the_run(finished_run, capsys):
    assert run("--resume", str(finished_run), "--model", "gan") == 2
    assert_one_line_error(capsys, "--model cannot change on --resume")


def test_unknown_command_and_flag(capsys):
    assert main(["trian"]) == 2
    assert_one_line_error(capsys, "invalid choice")
    assert main(["runs", "--bogus"]) == 2
    assert_one_line_error(capsys, "unrecognized arguments")


def test_show_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "run.json").write_text("{truncated")
    assert main(["show", str(tmp_path / "x")]) == 2
    assert_one_line_error(capsys, "run.json is not valid JSON")
