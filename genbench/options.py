"""Run options: one schema for what a run is asked to do, and the names and
defaults the layers share.

Each field of :class:`RunOptions` is one option of ``genbench run``; its
:class:`Option` metadata generates the command's argparse options (and ``bench``'s,
for those it shares), the workbench's new-run form, the launcher's command line and
what run.json records, and is checked in one place (:meth:`RunOptions.check`).
Adding a run option is adding a field here. Model hyperparameters have their own
schema, a model's ``Config`` (genbench.config).

Everything here is plain Python, no torch: the CLI's help, the run folder and the
workbench's first paint read it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genbench.errors import UsageError

# -- shared names -------------------------------------------------------------------

# The real-image augmentations (genbench.augment.augment), in the order they apply.
AUGMENTS = ("flip", "translate", "scale", "rotate")
# What `--augment default` means: the mirror image alone. The generator is trained
# to match the augmented images, so it learns to draw every warp it is shown; a
# mirrored garment is still a garment, while shifted, frame-cut ones are not what
# the data looks like: shifts make FD worse where a flip does not
# (docs/experiments.md, "Augmentation on small subsets").
DEFAULT_AUGMENT = ("flip",)
PRECISIONS = ("fp32", "bf16")  # fp32, or bf16 autocast around each step (what a run trains in)
# What --precision takes: auto is resolved to one of PRECISIONS before a run starts
# (genbench.training.precision.choose_precision), and run.json records what it chose.
PRECISION_CHOICES = (*PRECISIONS, "auto")
# The largest int64: what torch takes as a size, a count or a tensor's value.
INT64_MAX = 2**63 - 1
# --seed: torch.manual_seed takes 0..2**64-1; genbench derives further seeds by
# adding small offsets (seed + 1, + 2, + 3, and per rank), so seeds stop at 2**63-1.
SEED_MAX = INT64_MAX
# Steps, and counts of steps: exact in a double (JSON readers, the charts' float
# axes), and far beyond any run (a billion steps a day for 24,000 years).
STEP_MAX = 2**53
# --truncation's smallest threshold (BigGAN's curves go down to 0.04): redrawing each
# noise entry beyond +-t until none is takes about 1/t rounds, so a t near 0 (1e-9)
# would never finish.
TRUNCATION_MIN = 0.01
# Examples per step: 16.8 million, far above any batch trained (the largest known
# are around a million 2D points or 65,536 images); what fits in memory is checked
# again where it is allocated.
BATCH_MAX = 1 << 24
# The statuses a trainer writes into run.json ...
TRAINER_STATUSES = ("running", "completed", "stopped", "failed", "diverged")
# ... and those the run list shows: also "lost" (the trainer died without a word)
# and "unreadable" (run.json cannot be read).
LISTED_STATUSES = (*TRAINER_STATUSES, "lost", "unreadable")

THREADS_HELP = (
    "CPU threads, at most this machine's CPUs (default auto: this process's "
    "CPUs, from affinity, cgroup quota, SLURM_CPUS_PER_TASK or OMP_NUM_THREADS, "
    "shared among the genbench trainers on this host)"
)

# -- the defaults of a run: the fields below take them, everyone else reads them here ---

DEFAULT_STEPS = 2000  # when neither --steps nor --epochs is given
DEFAULT_BATCH_SIZE = 64
DEFAULT_SEED = 0
DEFAULT_LOG_EVERY = 50
DEFAULT_SAMPLE_EVERY = 500
DEFAULT_CHECKPOINT_EVERY = 1000
# Steps between live sample-quality checks (a few hundred samples each; see
# genbench.metrics.evaluate.LiveEvaluator). The last step is always checked.
DEFAULT_EVAL_EVERY = 500
DEFAULT_PRECISION = "fp32"
DEFAULT_THREADS = "auto"


# -- checks and argparse types ---------------------------------------------------------


def positive(value: Any, flag: str, hi: int = STEP_MAX) -> Any:
    """``value`` when it is None or a positive integer of at most ``hi``: the bounds
    run.json holds (genbench.runfolder.record), so a run never writes a record that it,
    or anyone it is sent to, would then refuse to read."""
    if value is not None and not 0 < value <= hi:
        raise UsageError(
            f"{flag} must be a positive integer (at most {hi:,}), got {str(value)[:40]}"
        )
    return value


def check_seed(seed: Any, flag: str = "--seed") -> int:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= SEED_MAX:
        raise UsageError(
            f"{flag} must be a whole number from 0 to {SEED_MAX} (2**63-1), got {str(seed)[:40]}"
        )
    return seed


def parse_seed(text: str) -> int:
    """--seed as argparse reads it: a whole number torch can seed with (SEED_MAX)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text[:40]!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(
            f"{text[:40]} is not a valid seed; give a whole number from 0 to {SEED_MAX} (2**63-1)"
        )
    return value


def folder(text: str) -> Path | None:
    """A folder flag's text as a path; empty is not given."""
    return Path(text) if text else None


def _steps(value: Any, flag: str) -> Any:
    return positive(value, flag)


def _batch(value: Any, flag: str) -> Any:
    return positive(value, flag, BATCH_MAX)


def _seed(value: Any, flag: str) -> Any:
    return check_seed(value, flag)


SWEEP_ID_RE = r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"
POINT_MAX = 64  # entries of a sweep point: what a sweep may vary at once


def _sweep_id(value: Any, flag: str) -> Any:
    if not isinstance(value, str) or not re.fullmatch(SWEEP_ID_RE, value):
        raise UsageError(
            f"{flag} must be a sweep id (letters, digits, . _ -, at most 80), "
            f"got {str(value)[:40]!r}"
        )
    return value


def parse_point(value: Any, flag: str = "--sweep-point") -> dict[str, Any]:
    """A sweep point as JSON text: an object of at most POINT_MAX numbers, strings
    and bools (what run.json's sweep.point holds)."""
    try:
        point = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        point = None
    if (
        not isinstance(point, dict)
        or len(point) > POINT_MAX
        or not all(
            isinstance(k, str)
            and isinstance(v, (str, int, float, bool))
            and not (isinstance(v, float) and not math.isfinite(v))
            for k, v in point.items()
        )
    ):
        raise UsageError(
            f"{flag} must be a JSON object of at most {POINT_MAX} numbers, strings or bools"
        )
    return point


def json_point(point: Mapping[str, Any]) -> str:
    """A sweep point as --sweep-point takes it."""
    return json.dumps(dict(point), separators=(",", ":"), allow_nan=False)


def _point(value: Any, flag: str) -> Any:
    parse_point(value, flag)
    return value


LOGGER_NAME_RE = r"[a-z][a-z0-9_-]{0,39}"  # a logger's name (genbench.logger.Logger.name)
LOGGERS_MAX = 8  # loggers one run may send to


def logger_names(value: Any, flag: str = "--log") -> list[str]:
    """--log's values (each a name or a comma list of names, repeatable) as one list of
    names, each once, in the order given; the names are checked against the installed
    loggers where the registry is known (genbench.training.launch)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise UsageError(f"{flag} takes logger names, e.g. {flag} tensorboard")
    names: list[str] = []
    for item in items:
        for name in (part.strip() for part in item.split(",")):
            if not name or name in names:
                continue
            if not re.fullmatch(LOGGER_NAME_RE, name):
                raise UsageError(
                    f"{flag} takes logger names (lower-case letters, digits, - _), "
                    f"got {name[:40]!r}"
                )
            names.append(name)
    if len(names) > LOGGERS_MAX:
        raise UsageError(f"{flag} names at most {LOGGERS_MAX} loggers, got {len(names)}")
    return names


# -- the schema ------------------------------------------------------------------------

RECORD_OPTIONS = "options"  # run.json's section for options without a field of their own
_OWN_SECTION = "<own>"  # Option.record's default: run.json's "options" section, by name


@dataclass(frozen=True)
class Option:
    """One run option: how each place that shows or takes it spells it."""

    help: str  # --help's text; "{default}" is replaced by the default
    type: Callable[[str], Any] | None = None  # argparse's type (None: the text)
    metavar: str | None = None
    choices: tuple[str, ...] | None = None  # the values argparse and check() allow
    # Why a resume keeps the run's own value (None: a resume may change it).
    fixed_on_resume: str | None = None
    commands: tuple[str, ...] = ("run",)  # the commands that take it (run, bench, ...)
    # check(value, flag) -> value, raising UsageError: the one check of a given value.
    check: Callable[[Any, str], Any] | None = None
    # The new-run form: its label (None: not a plain form field), group, short help,
    # the picker's choices (a text box where None), the smallest whole number it takes,
    # and the text that stands for None (auto, off, blank).
    label: str | None = None
    group: str = "Run"
    form_help: str = ""
    form_choices: tuple[str, ...] | None = None
    form_min: int | None = None
    unset_text: str = ""
    # Where run.json records it: a dotted path (intervals.log), None for not at all;
    # by default its own entry in run.json's "options".
    record: str | None = _OWN_SECTION
    shown_default: Any = None  # the default --help names where the field's is None
    dest: str | None = None  # argparse's dest where it differs (repeatable: sets)
    flag: str | None = None  # --name by default


def option(default: Any, help: str, **meta: Any) -> Any:
    """A RunOptions field: its default and its Option metadata."""
    spec = Option(help=help, **meta)
    if isinstance(default, list):
        return field(default_factory=list, metadata={"option": spec})
    return field(default=default, metadata={"option": spec})


@dataclass
class RunOptions:
    """Everything ``genbench run`` may be asked, with a new run's defaults. The order
    of the fields is the order of --help and of the form."""

    model: str = option(
        "",
        "model name (see `genbench models`)",
        fixed_on_resume="the run's model",
        record="model",
    )
    dataset: str = option(
        "",
        "dataset name, e.g. ring8, fashion-mnist, folder:PATH (see `genbench datasets`)",
        fixed_on_resume="the run's dataset",
        record="dataset",
    )
    sets: list[str] = option(
        [],
        "set a hyperparameter of the model (repeatable)",
        flag="--set",
        metavar="KEY=VALUE",
        record="config",
    )
    device: str | None = option(
        None,
        "auto (default), cpu, cuda, cuda:N or mps",
        commands=("run", "bench"),
        label="device",
        form_help="auto picks an accelerator when there is one",
        unset_text="auto",
    )
    steps: int | None = option(
        None,
        "train up to this step (default {default})",
        type=int,
        check=_steps,
        shown_default=DEFAULT_STEPS,
        label="steps",
        form_help="updates to train",
        form_min=1,
        record="steps",
    )
    epochs: int | None = option(
        None,
        "train this many passes over the dataset",
        type=int,
        check=_steps,
        record=None,  # run.json records the steps they come to
    )
    batch_size: int = option(
        DEFAULT_BATCH_SIZE,
        "examples per step (default {default})",
        type=int,
        check=_batch,
        fixed_on_resume="the run's batch size (another would break exact resume)",
        commands=("run", "bench"),
        label="batch size",
        form_help="examples per step",
        form_min=1,
        record="batch_size",
    )
    seed: int = option(
        DEFAULT_SEED,
        "random seed (default {default})",
        type=parse_seed,
        check=_seed,
        fixed_on_resume="the run's seed (the random streams continue from the checkpoint)",
        label="seed",
        form_help="random seed; the same seed repeats a run",
        form_min=0,
        record="seed",
    )
    precision: str = option(
        DEFAULT_PRECISION,
        "{default} (default); bf16: autocast around each step, fast only where the "
        "CPU or GPU runs bf16 natively; auto: bf16 where native and measured faster",
        choices=PRECISION_CHOICES,
        commands=("run", "bench"),
        label="precision",
        form_help="bf16: fast only where native; auto: bf16 where native and faster",
        record="precision",
    )
    threads: str = option(
        DEFAULT_THREADS,
        THREADS_HELP,
        metavar="N|auto",
        commands=("run", "bench"),
        label="CPU threads",
        form_help="auto: a fair share of the CPUs among runs here; or a number",
    )
    name: str | None = option(
        None,
        "folder name for this run (default: time-model-dataset)",
        fixed_on_resume="the run folder's name",
        label="name",
        form_help="run folder name (blank: time-model-dataset)",
        record=None,  # run.json's id is the folder's name
    )
    log_every: int = option(
        DEFAULT_LOG_EVERY,
        "steps per metrics line (default {default})",
        type=int,
        check=_steps,
        label="log every",
        form_help="steps per metrics line",
        form_min=1,
        record="intervals.log",
    )
    sample_every: int = option(
        DEFAULT_SAMPLE_EVERY,
        "steps per sample grid (default {default})",
        type=int,
        check=_steps,
        label="sample every",
        form_help="steps per sample grid",
        form_min=1,
        record="intervals.sample",
    )
    checkpoint_every: int = option(
        DEFAULT_CHECKPOINT_EVERY,
        "steps per checkpoint (default {default})",
        type=int,
        check=_steps,
        label="ckpt every",
        form_help="steps per checkpoint (where a stopped run resumes)",
        form_min=1,
        record="intervals.checkpoint",
    )
    keep_every: int | None = option(
        None,
        "also keep the checkpoint of every K-th step, as checkpoints/step-NNNNNNN.pt "
        "(for `genbench sample --step`; each is as big as last.pt). Default: only the "
        "last checkpoint is kept",
        type=int,
        check=_steps,
        metavar="K",
        label="keep every",
        form_help="keep the checkpoint of every K-th step (blank: only the last)",
        form_min=1,
    )
    eval_every: int = option(
        DEFAULT_EVAL_EVERY,
        "steps per live sample-quality check into metrics.jsonl: FD and class "
        "coverage of 500 samples, or mode coverage on 2D toys "
        "(default {default}; the last step is always checked)",
        type=int,
        check=_steps,
        label="eval every",
        form_help="steps per live quality check (FD, coverage); the last step too",
        form_min=1,
        record="intervals.eval",
    )
    augment: str | None = option(
        None,
        "augment every real training image on the device: a comma list of "
        "flip (left-right mirror; fine for Fashion-MNIST, CIFAR-10 and faces, "
        "wrong for digits and text), translate (shift up to 1/8 of the side), "
        "scale (zoom by up to 10%%), rotate (up to 10 degrees), or default "
        "(flip), or off. The generator learns to draw what it is "
        "shown, shifts and turns included; images only. On --resume: "
        "changed from the resumed step on, recorded in run.json",
        metavar="OPS",
        label="augment",
        form_help="images: warp each real batch (flips suit clothes, not digits)",
        form_choices=("off", "flip", "flip,translate", "flip,translate,scale,rotate"),
        unset_text="off",
        record="augment",
    )
    subset: int | None = option(
        None,
        "train on the first N training examples only (the same N whatever "
        "the seed; at least one batch); evaluation still uses the whole "
        "held-out split",
        type=int,
        metavar="N",
        fixed_on_resume="the run's training examples (other data would break exact resume)",
        label="subset",
        form_help="train on the first N training examples only (blank: all)",
        form_min=1,
        record="data.subset",
    )
    data_dir: Path | None = option(
        None,
        "folder searched first for dataset files (default $GENBENCH_DATA)",
        type=folder,
        fixed_on_resume="the data folder recorded in the run",
        commands=("run", "bench"),
        record="data.dir",
    )
    image_size: int | None = option(
        None,
        "resize images to SxS (default: native size; 64 for folder:PATH)",
        type=int,
        metavar="S",
        fixed_on_resume="the run's image size",
        commands=("run", "bench"),
        record="data.image_size",
    )
    log: list[str] = option(
        [],
        "also send the run's metrics, sample grids and evaluations to a logger: "
        "tensorboard (event files in RUN/tensorboard/), wandb, mlflow, or one a "
        "plugin adds; a comma list, repeatable. On --resume: added to the loggers "
        "the run already sends to",
        metavar="NAME[,NAME]",
        check=logger_names,
        label="log to",
        form_help="send metrics to: tensorboard, ... (comma list; blank: none)",
    )

    sweep: str | None = option(
        None,
        "the sweep this run is a member of (genbench sweep sets it)",
        metavar="ID",
        check=_sweep_id,
        fixed_on_resume="the sweep it is a member of",
        record=None,  # run.json's sweep.id
    )
    sweep_point: str | None = option(
        None,
        "its point in the sweep, a JSON object (genbench sweep sets it)",
        metavar="JSON",
        check=_point,
        fixed_on_resume="its point in the sweep",
        record=None,  # run.json's sweep.point
    )

    def point(self) -> dict[str, Any]:
        """The sweep point asked for (--sweep-point), as a dict."""
        return {} if self.sweep_point is None else parse_point(self.sweep_point)

    def check(self) -> None:
        """Every option's own check (ranges, choices): the one place a given value is
        judged before a run is built; what depends on the model or data is checked
        where those are known (genbench.training.request)."""
        for f in option_fields(type(self)):
            setattr(self, f.name, check_value(f, getattr(self, f.name)))

    def command_line(self) -> list[str]:
        """These options as ``genbench run`` flags: what is unset (None, empty) is left
        out, as the CLI leaves it out."""
        args: list[str] = []
        for f in option_fields(type(self)):
            value = getattr(self, f.name)
            for item in value if isinstance(value, list) else [value]:
                if item is not None and item != "":
                    args += [flag_of(f), str(item)]
        return args

    def own_section(self) -> dict[str, Any]:
        """run.json's "options": the options recorded with no field of their own (a
        repeatable one given no value, --log, is left out)."""
        return {
            f.name: _jsonable(getattr(self, f.name))
            for f in option_fields(type(self))
            if meta(f).record == _OWN_SECTION and getattr(self, f.name) != []
        }

    @classmethod
    def from_args(cls, args: argparse.Namespace, command: str = "run", **more: Any) -> Any:
        """A new run's options from ``command``'s parsed flags: what was left out takes
        its default."""
        given = {}
        for f in option_fields(cls):
            if command not in meta(f).commands:
                continue
            value = getattr(args, dest_of(f), None)
            if value is not None:
                given[f.name] = value
        return cls(**given, **more)


@dataclass
class RunRequest(RunOptions):
    """A new run: its options, and the runs folder it is made in (not an option of
    the run itself: the folder holding it)."""

    runs_dir: Path = Path("runs")

    def argv(self) -> list[str]:
        """``genbench run``'s arguments for this request."""
        return ["--runs-dir", str(self.runs_dir), *self.command_line()]


class ResumeRequest:
    """What a resume may change: the options not fixed on resume, each None where
    not given (the run keeps its own), checked when made."""

    def __init__(self, **given: Any) -> None:
        by_name = {f.name: f for f in resumable_fields()}
        unknown = sorted(set(given) - set(by_name))
        if unknown:
            raise TypeError(f"not an option a resume may change: {', '.join(unknown)}")
        self.given = {
            name: check_value(by_name[name], value)
            for name, value in given.items()
            if value is not None and value != []
        }

    def __getattr__(self, name: str) -> Any:
        if name in {f.name for f in resumable_fields()}:
            value = self.__dict__["given"].get(name)
            return [] if value is None and name == "sets" else value
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"ResumeRequest({self.given!r})"

    def own_section(self) -> dict[str, Any]:
        """The entries of run.json's "options" this resume asks anew (the rest keep the
        run's own): a clone of the resumed run then starts from what it trains with."""
        return {
            f.name: _jsonable(self.given[f.name])
            for f in resumable_fields()
            if meta(f).record == _OWN_SECTION and f.name in self.given
        }

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ResumeRequest:
        return cls(**{f.name: getattr(args, dest_of(f), None) for f in resumable_fields()})


# -- reading the schema ----------------------------------------------------------------


def meta(f: dataclasses.Field[Any]) -> Option:
    return f.metadata["option"]


def option_fields(cls: type = RunOptions) -> list[dataclasses.Field[Any]]:
    """The run options of ``cls`` (a RunRequest's runs folder is not one), in order."""
    return [f for f in dataclasses.fields(cls) if "option" in f.metadata]


def resumable_fields() -> list[dataclasses.Field[Any]]:
    return [f for f in option_fields(RunOptions) if meta(f).fixed_on_resume is None]


def flag_of(f: dataclasses.Field[Any]) -> str:
    return meta(f).flag or "--" + f.name.replace("_", "-")


def dest_of(f: dataclasses.Field[Any]) -> str:
    return meta(f).dest or f.name


def default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def check_value(f: dataclasses.Field[Any], value: Any) -> Any:
    spec = meta(f)
    if value is None:
        return value
    if spec.check is not None:
        return spec.check(value, flag_of(f))
    if spec.choices is not None and value not in spec.choices:
        raise UsageError(f"{f.name} {value!r} is not one of: {', '.join(spec.choices)}")
    return value


def add_arguments(
    parser: argparse.ArgumentParser, command: str, machine_help: dict[str, str] | None = None
) -> None:
    """The options ``command`` takes, as argparse options. No argparse defaults: a
    resume must tell what was typed from what was left out (RunOptions.from_args
    fills in a new run's defaults). machine_help: what the CLI knows of this machine
    for an option's help (precision: whether bf16 is native here), appended to it."""
    for f in option_fields(RunOptions):
        spec = meta(f)
        if command not in spec.commands:
            continue
        shown = spec.shown_default if spec.shown_default is not None else default_of(f)
        text = spec.help.replace("{default}", str(shown))
        if machine_help and f.name in machine_help:
            text = f"{text} ({machine_help[f.name]})"
        kwargs: dict[str, Any] = {"help": text}
        if spec.type is not None:
            kwargs["type"] = spec.type
        if spec.metavar is not None:
            kwargs["metavar"] = spec.metavar
        if spec.choices is not None:
            kwargs["choices"] = spec.choices
        if isinstance(default_of(f), list):
            kwargs.update(action="append", default=[])
        if spec.dest is not None or flag_of(f) != "--" + f.name.replace("_", "-"):
            kwargs["dest"] = dest_of(f)
        parser.add_argument(flag_of(f), **kwargs)


def fixed_on_resume(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """(flag, why) for each option given that a resume cannot honour."""
    for f in option_fields(RunOptions):
        why = meta(f).fixed_on_resume
        if why is not None and getattr(args, dest_of(f), None) not in (None, []):
            yield flag_of(f), why


def form_fields() -> list[dataclasses.Field[Any]]:
    """The options the new-run form shows as plain fields, in order."""
    return [f for f in option_fields(RunOptions) if meta(f).label is not None]


def form_text(f: dataclasses.Field[Any], value: Any) -> str:
    """A value as the form shows it: None as the default a run will take where one is
    named (steps: 2000, although --steps and --epochs both default to None), else as
    its unset text (auto, off, blank)."""
    if value is None:
        spec = meta(f)
        return spec.unset_text if spec.shown_default is None else str(spec.shown_default)
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or meta(f).unset_text
    return str(value)


def form_value(f: dataclasses.Field[Any], text: str) -> Any:
    """The form's text as the option's value, raising UsageError with the reason."""
    spec = meta(f)
    text = text.strip()
    if default_of(f) is None and text == spec.unset_text:
        return None
    if not text and spec.form_min is None:
        return default_of(f)
    if isinstance(default_of(f), list):  # a repeatable option: a comma list
        return [item.strip() for item in text.split(",") if item.strip()]
    if spec.form_min is not None:
        return whole_number(text, spec.label or f.name, spec.form_min)
    return text


def whole_number(text: str, label: str, low: int) -> int:
    """A form's whole number of at least ``low``, or UsageError saying why not."""
    try:
        value = int(text.strip())
    except ValueError:
        raise UsageError(f"{label} must be a whole number") from None
    if value < low:
        raise UsageError(f"{label} must be at least {low}")
    return value


def recorded(record: Mapping[str, Any], f: dataclasses.Field[Any]) -> Any:
    """The value run.json (as a dict) holds for option ``f``, or None."""
    path = meta(f).record
    if path is None:
        return None
    keys = [RECORD_OPTIONS, f.name] if path == _OWN_SECTION else path.split(".")
    value: Any = record
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value
