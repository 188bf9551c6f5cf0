"""Run options have one schema (genbench.options.RunOptions), and the names and
defaults the layers share are defined once.

Adding a run option is one field in RunOptions: a field added here, as a developer
would add it to the class, reaches `genbench run --help`, the new-run form, the
launcher's command line and run.json with nothing else edited.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from textual.widgets import Input

import genbench
from genbench import options
from genbench.cli import main
from genbench.errors import UsageError
from genbench.options import ResumeRequest, RunOptions, option
from genbench.runfolder.record import RunRecord
from genbench.tui.app import GenbenchApp
from genbench.tui.launcher import LaunchRequest
from genbench.tui.screens.new_run import NewRunScreen, clone_values
from tests.tui_support import fixed_run_choices, wait_for

# -- adding an option ----------------------------------------------------------------


def _dataclass_subclasses(cls: type) -> list[type]:
    """cls's dataclass subclasses, parents before children (each reads its parents'
    fields when it is made)."""
    out = []
    for sub in cls.__subclasses__():
        if "__dataclass_params__" in vars(sub):
            out.append(sub)
        out += _dataclass_subclasses(sub)
    return out


@contextmanager
def one_more_option(name: str, annotation: str, spec: dataclasses.Field) -> Iterator[None]:
    """RunOptions with one more field, as if its class statement had one more line:
    the class (and its dataclass subclasses, RunRequest) made again in place, so every
    module that imported them sees the field; restored afterwards."""
    classes = [RunOptions, *_dataclass_subclasses(RunOptions)]
    saved = {cls: dict(vars(cls)) for cls in classes}
    own_annotations = RunOptions.__dict__["__annotations__"]
    try:
        own_annotations[name] = annotation
        setattr(RunOptions, name, spec)
        for cls in classes:
            own = cls.__dict__.get("__annotations__", {})
            for f in cls.__dict__["__dataclass_fields__"].values():
                if f.name in own and f.name != name:
                    setattr(cls, f.name, f)  # the Field again, so its metadata is kept
            for made in ("__init__", "__repr__", "__eq__", "__match_args__"):
                if made in vars(cls):
                    delattr(cls, made)
            dataclasses.dataclass(cls)
        yield
    finally:
        own_annotations.pop(name, None)
        for cls, attrs in saved.items():
            for key in set(vars(cls)) - set(attrs):
                delattr(cls, key)
            for key, value in attrs.items():
                if key not in ("__dict__", "__weakref__") and vars(cls).get(key) is not value:
                    setattr(cls, key, value)


@pytest.fixture
def warmup():
    """A run option that is not there: steps trained before the clock starts."""
    with one_more_option(
        "warmup",
        "int",
        option(
            0,
            "steps trained before the first metrics line (default {default})",
            type=int,
            label="warm-up",
            form_help="steps before the first metrics line",
            form_min=0,
        ),
    ):
        yield
    assert "warmup" not in {f.name for f in dataclasses.fields(RunOptions)}


def test_an_option_added_to_run_options_is_in_help_argv_and_run_json(warmup, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--warmup WARMUP steps trained before the first metrics line (default 0)" in help_text

    request = LaunchRequest(model="gan", dataset="ring8", runs_dir=tmp_path, name="w", warmup=3)
    argv = request.argv()
    assert argv[argv.index("--warmup") + 1] == "3"
    assert "--warmup" not in LaunchRequest(model="gan", dataset="ring8", warmup=None).argv()

    # Not fixed on resume: a resume may change it, and it is checked there too.
    assert ResumeRequest(warmup=5).warmup == 5

    code = main(
        [
            *["run", "--headless", "--quiet", "--model", "gan", "--dataset", "ring8"],
            *["--steps", "2", "--threads", "1", "--warmup", "3"],
            *["--runs-dir", str(tmp_path), "--name", "warm"],
        ]
    )
    assert code == 0
    record = json.loads((tmp_path / "warm" / "run.json").read_text())
    assert record["options"]["warmup"] == 3, record["options"]
    # ... and a clone of that run starts from it.
    meta = RunRecord.read(tmp_path / "warm")
    assert clone_values(meta, tmp_path, "warm")["warmup"] == "3"


def _choices():
    return fixed_run_choices()


async def test_an_option_added_to_run_options_is_a_field_of_the_form(warmup, runs_dir, monkeypatch):
    app = GenbenchApp(runs_dir, run_choices_loader=_choices)
    launched: list = []
    monkeypatch.setattr(app, "launch", launched.append)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.run_choices is not None, what="the models")
        app.open_new_run("toygan")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, NewRunScreen) and app.screen.query("#field-warmup"),
            what="the warm-up field",
        )
        form = app.screen
        field = form.query_one("#field-warmup", Input)
        assert field.value == "0", "its default"
        labels = [str(label.render()) for label in form.query(".form-label")]
        assert "warm-up" in labels

        field.value = "-1"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: field.parent.parent.has_class("-invalid"), what="the refusal")
        assert not launched

        field.value = "7"
        await wait_for(pilot, lambda: not field.parent.parent.has_class("-invalid"), what="ok")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(launched), what="the launch")
        assert launched[-1].warmup == 7
        argv = launched[-1].argv()
        assert argv[argv.index("--warmup") + 1] == "7"


def test_options_fixed_on_resume_are_refused_there_and_the_rest_taken():
    fixed = {f.name for f in options.option_fields() if options.meta(f).fixed_on_resume}
    assert {"model", "dataset", "batch_size", "seed", "subset"} <= fixed
    for f in options.resumable_fields():
        assert f.name not in fixed
    with pytest.raises(TypeError, match="batch_size"):
        ResumeRequest(batch_size=8)
    with pytest.raises(UsageError, match="--steps must be a positive integer"):
        ResumeRequest(steps=0)
    assert ResumeRequest(steps=9).steps == 9 and ResumeRequest().device is None


def test_run_json_of_an_older_genbench_still_reads_and_clones(tmp_path):
    fixture = Path(__file__).parents[1] / "fixtures" / "tui_runs"
    for run_json in sorted(fixture.glob("*/run.json")):
        meta = RunRecord.read(run_json.parent)
        values = clone_values(meta, run_json.parent.parent, run_json.parent.name)
        assert values["batch_size"] == str(meta.batch_size) and meta.options == {}
    # Older run.json has no "options": the device and threads asked for were not
    # recorded, and the command line is not read for them: the form keeps its own.
    old = tmp_path / "old"
    old.mkdir()
    (old / "run.json").write_text(
        json.dumps(
            {
                "model": "gan",
                "dataset": "ring8",
                "seed": 4,
                "device": "cuda:0",
                "command": ["genbench", "run", "--threads", "3", "--device", "cpu"],
            }
        )
    )
    values = clone_values(RunRecord.read(old), tmp_path, "old")
    assert values["seed"] == "4" and "threads" not in values and "device" not in values


# -- no constant or default defined twice ---------------------------------------------------

SHARED = [name for name in dir(options) if name.isupper() and not name.startswith("_")]


def _genbench_modules() -> list:
    names = [
        info.name
        for info in pkgutil.walk_packages(genbench.__path__, "genbench.")
        if not info.name.endswith("__main__")
    ]
    return [importlib.import_module(name) for name in names]


def test_every_module_that_names_a_shared_constant_has_options_own():
    seen = {}
    for module in _genbench_modules():
        for name in SHARED:
            if name in vars(module) and module is not options:
                assert vars(module)[name] is getattr(options, name), (
                    f"{module.__name__}.{name} is its own, not genbench.options.{name}"
                )
                seen.setdefault(name, []).append(module.__name__)
        # The same tuple under another name (STATUSES, a form's choices) is a copy.
        for key, value in vars(module).items():
            if module is options or not isinstance(value, tuple) or not value:
                continue
            for name in SHARED:
                shared = getattr(options, name)
                if value == shared and value is not shared:
                    raise AssertionError(f"{module.__name__}.{key} copies options.{name}")
    # The names the issue found copied are now imported where they are used.
    assert (
        "genbench.augment" in seen["AUGMENTS"] and "genbench.runfolder.record" in seen["AUGMENTS"]
    )
    assert "genbench.training.precision" in seen["PRECISION_CHOICES"]  # and auto
    assert "genbench.runfolder.record" in seen["PRECISIONS"]
    assert "genbench.runfolder.record" in seen["SEED_MAX"]
    assert "genbench.runfolder.record" in seen["TRAINER_STATUSES"]


# Literal re-definitions of what genbench.options holds, in any module but options.py.
COPIES = {
    "the augmentations": re.compile(r"""\(\s*["']flip["'],\s*["']translate["']"""),
    "the precisions": re.compile(r"""\(\s*["']fp32["'],\s*["']bf16["']\s*\)"""),
    "the statuses": re.compile(r"""["']running["'],\s*["']completed["'],\s*["']stopped["']"""),
    "int64's largest (SEED_MAX)": re.compile(r"=\s*(2\s*\*\*\s*63\s*-\s*1|9223372036854775807)"),
    "STEP_MAX": re.compile(r"=\s*(2\s*\*\*\s*53|1\s*<<\s*53)\b"),
}
# A run's defaults, under the names a dataclass field or a run.json read gives them.
DEFAULTS = {
    ("steps",): options.DEFAULT_STEPS,
    ("batch_size", "batch"): options.DEFAULT_BATCH_SIZE,
    ("seed",): options.DEFAULT_SEED,
    ("log_every", "log"): options.DEFAULT_LOG_EVERY,
    ("sample_every", "sample"): options.DEFAULT_SAMPLE_EVERY,
    ("checkpoint_every", "checkpoint"): options.DEFAULT_CHECKPOINT_EVERY,
    ("eval_every", "eval"): options.DEFAULT_EVAL_EVERY,
    ("precision",): options.DEFAULT_PRECISION,
}
for names, value in DEFAULTS.items():
    alternatives = "|".join(names)
    literal = re.escape(json.dumps(value)).replace('"', "[\"']")
    COPIES[f"the default of {names[0]}"] = re.compile(
        rf"^[ \t]*({alternatives})[ \t]*:[^=\n]*=[ \t]*{literal}[ \t]*(#.*)?$"
        rf"""|\.get\(\s*["']({alternatives})["']\s*,\s*{literal}\s*\)""",
        re.M,
    )


def test_no_module_but_options_writes_a_shared_constant_or_default_out():
    root = Path(genbench.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "options.py":
            continue
        text = path.read_text()
        for what, pattern in COPIES.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(root)}:{line}: {what}: {match.group().strip()}")
    assert not found, "defined again outside genbench/options.py:\n" + "\n".join(found)


def test_a_resume_records_the_device_and_threads_it_asks_for(tmp_path):
    """run.json's "options" follow a resume that asks anew (what a clone starts from),
    and keep the run's own where the resume is silent."""
    common = ["--headless", "--quiet"]
    first = ["run", *common, "--runs-dir", str(tmp_path), "--model", "gan", "--dataset", "ring8"]
    first += ["--name", "r"]
    assert main([*first, "--steps", "2", "--threads", "1", "--device", "cpu"]) == 0
    own = {"device": "cpu", "threads": "1", "keep_every": None}  # None: only the last kept
    assert RunRecord.read(tmp_path / "r").options == own

    assert main(["run", *common, "--resume", str(tmp_path / "r"), "--steps", "4",
                 "--threads", "2"]) == 0  # fmt: skip
    meta = RunRecord.read(tmp_path / "r")
    assert meta.step == 4 and meta.options == {**own, "threads": "2"}
    assert clone_values(meta, tmp_path, "r")["threads"] == "2"
