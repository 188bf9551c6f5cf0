"""The record of a run: run.json as one typed, validated dataclass.

This is the single place the run-folder contract for run.json lives. The trainer
writes it through :meth:`RunRecord.write`; every reader (the runs table, show,
eval, resume, the workbench) gets it from :meth:`RunRecord.read`, which opens the
file as untrusted input (regular file, size cap, bounded JSON) and checks every
field's type and range. A malformed run.json becomes one line naming the file,
the field and what would be valid.

Fields a newer genbench adds are kept (in ``extra``) and written back unchanged,
so an older reader never drops them. torch-free.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from genbench.options import (
    AUGMENTS,
    BATCH_MAX,
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_EVAL_EVERY,
    DEFAULT_LOG_EVERY,
    DEFAULT_PRECISION,
    DEFAULT_SAMPLE_EVERY,
    DEFAULT_SEED,
    PRECISIONS,
    RECORD_OPTIONS,
    SEED_MAX,
    STEP_MAX,
    TRAINER_STATUSES,
)
from genbench.runfolder.untrusted import RUN_JSON_MAX, UnreadableFile, read_json

RUN_FILE = "run.json"
# Every whole number of run.json has an upper bound (seeds, steps and batches:
# genbench.options), so that a received run.json cannot carry a value that
# overflows where it is used (a float, an int64 tensor, a size torch allocates) and
# end as a traceback after the run was touched.
# Processes of one run under torch.distributed, and classes of a dataset.
WORLD_MAX = 1 << 16
CLASSES_MAX = 1 << 20
FLOAT_MAX = sys.float_info.max  # an int above it cannot be read as a float


class InvalidRecord(UnreadableFile):
    """run.json is readable JSON but not a valid run record."""


@dataclass
class PluginRecord:
    """Which plugin distribution a model or dataset came from."""

    name: str
    distribution: str | None = None
    version: str | None = None


@dataclass
class DataRecord:
    """What resume needs to rebuild the same data."""

    kind: str = "image"
    shape: list[int] = field(default_factory=list)
    classes: int | None = None
    plugin: PluginRecord | None = None
    dir: str | None = None
    image_size: int | None = None
    subset: int | None = None  # --subset: trained on the first N examples only


@dataclass
class Intervals:
    log: int = DEFAULT_LOG_EVERY
    sample: int = DEFAULT_SAMPLE_EVERY
    checkpoint: int = DEFAULT_CHECKPOINT_EVERY
    eval: int = DEFAULT_EVAL_EVERY


@dataclass
class Change:
    """A hyperparameter changed on resume: at ``step``, ``key`` went ``old`` -> ``new``."""

    step: int
    key: str
    old: Any
    new: Any


@dataclass
class SweepRef:
    """The sweep a run is a member of (genbench sweep), and its point in the sweep:
    the values of what the sweep varies (model, a hyperparameter, the seed, ...)."""

    id: str
    point: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobRecord:
    """The scheduler job the run's trainer last ran in (SLURM's job id and log)."""

    scheduler: str
    id: str
    log: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> JobRecord | None:
        """The SLURM job this process runs in (its array task too), and the log the
        executor that submitted it named (GENBENCH_JOB_LOG); None outside a job."""
        job = env.get("SLURM_ARRAY_JOB_ID") or env.get("SLURM_JOB_ID")
        if not job:
            return None
        task = env.get("SLURM_ARRAY_TASK_ID")
        return cls(
            scheduler="slurm",
            id=(f"{job}_{task}" if env.get("SLURM_ARRAY_JOB_ID") and task else job)[:100],
            log=env.get("GENBENCH_JOB_LOG", "")[:4096] or None,
        )


@dataclass
class RunRecord:
    model: str
    dataset: str
    id: str = ""
    plugin: PluginRecord | None = None
    data: DataRecord = field(default_factory=DataRecord)
    config: dict[str, Any] = field(default_factory=dict)
    config_for_data: dict[str, Any] = field(default_factory=dict)
    seed: int = DEFAULT_SEED
    batch_size: int = DEFAULT_BATCH_SIZE
    steps: int = 0
    precision: str = DEFAULT_PRECISION
    # why it trains in that precision (--precision auto's choice, or bf16 where it is
    # native or emulated); empty in run.json files older than it
    precision_why: str = ""
    # --augment: the real-image augmentations (genbench.augment.AUGMENTS) applied to
    # every training batch; empty for none, and in run.json files older than the option.
    augment: list[str] = field(default_factory=list)
    intervals: Intervals = field(default_factory=Intervals)
    device: str = "cpu"  # the device it trains on (what --device auto picked)
    # The run options recorded with no field of their own (genbench.options: the
    # device and threads asked for, ...); empty in run.json files older than it.
    options: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    host: str = ""
    pid: int | None = None
    pid_start: int | None = None  # the owner's start time (clock ticks since boot)
    world_size: int = 1
    created: str = ""
    # When this trainer started (epoch seconds; a resume sets it anew): with the last
    # heartbeat, the span its trainer ran (a sweep's members' overlap is read from it).
    started: float = 0.0
    status: str = "running"
    step: int = 0
    message: str = ""
    command: list[str] = field(default_factory=list)
    heartbeat: float = 0.0
    updated: str = ""
    sample_step: int | None = None
    checkpoint_step: int | None = None
    resumed: int = 0
    # None where a run.json lists null (read as written; nothing reads the entries).
    previous_plugins: list[PluginRecord | None] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)  # hyperparameters changed on resume
    sweep: SweepRef | None = None  # the sweep it is a member of
    job: JobRecord | None = None  # the scheduler job it trains in, where one does
    extra: dict[str, Any] = field(default_factory=dict)  # fields of a newer genbench, kept

    # -- reading ---------------------------------------------------------------

    @classmethod
    def read(cls, run_dir: Path) -> RunRecord:
        """The record of ``run_dir``, or an UnreadableFile/InvalidRecord naming the problem."""
        run_dir = Path(run_dir)
        path = run_dir / RUN_FILE
        try:
            raw = read_json(path, RUN_JSON_MAX, run_dir=run_dir)
        except FileNotFoundError:
            raise UnreadableFile(f"{run_dir} is not a genbench run (no {RUN_FILE})") from None
        return cls.from_dict(raw, path)

    @classmethod
    def from_dict(cls, raw: Any, where: Path | str = RUN_FILE) -> RunRecord:
        check = _Checker(where)
        if not isinstance(raw, dict):
            raise InvalidRecord(
                f"{where} is not a genbench run description (a JSON object with model and dataset)"
            )
        known = {f.name for f in fields(cls)} - {"extra"}
        d = check
        plugin = d.plugin(raw.get("plugin"), "plugin")
        data = raw.get("data") or {}
        if not isinstance(data, dict):
            d.fail("data", "must be an object")
        iv = raw.get("intervals") or {}
        if not isinstance(iv, dict):
            d.fail("intervals", "must be an object")
        changes = raw.get("changes") or []
        if not isinstance(changes, list):
            d.fail("changes", "must be a list")
        previous = raw.get("previous_plugins") or []
        if not isinstance(previous, list):
            d.fail("previous_plugins", "must be a list")
        return cls(
            model=d.name(raw.get("model"), "model"),
            dataset=d.text(raw.get("dataset"), "dataset", required=True, limit=4096),
            id=d.text(raw.get("id", ""), "id"),
            plugin=plugin,
            data=DataRecord(
                kind=d.text(data.get("kind", "image"), "data.kind"),
                shape=d.shape(data.get("shape", []), "data.shape"),
                classes=d.integer(
                    data.get("classes"), "data.classes", lo=1, hi=CLASSES_MAX, optional=True
                ),
                plugin=d.plugin(data.get("plugin"), "data.plugin"),
                dir=d.text(data.get("dir"), "data.dir", optional=True, limit=4096),
                image_size=d.integer(
                    data.get("image_size"), "data.image_size", lo=1, hi=16384, optional=True
                ),
                subset=d.integer(
                    data.get("subset"), "data.subset", lo=1, hi=STEP_MAX, optional=True
                ),
            ),
            config=d.scalars(raw.get("config", {}), "config"),
            config_for_data=d.scalars(raw.get("config_for_data") or {}, "config_for_data"),
            seed=d.integer(raw.get("seed", DEFAULT_SEED), "seed", lo=0, hi=SEED_MAX),
            batch_size=d.integer(
                raw.get("batch_size", DEFAULT_BATCH_SIZE), "batch_size", lo=1, hi=BATCH_MAX
            ),
            steps=d.integer(raw.get("steps", 0), "steps", lo=0, hi=STEP_MAX),
            precision=d.choice(raw.get("precision", DEFAULT_PRECISION), "precision", PRECISIONS),
            precision_why=d.text(raw.get("precision_why", ""), "precision_why", limit=1024),
            augment=[
                d.choice(a, "augment", AUGMENTS)
                for a in d.sequence(raw.get("augment") or [], "augment")
            ],
            intervals=Intervals(
                **{
                    k: d.integer(iv[k], f"intervals.{k}", lo=1, hi=STEP_MAX)
                    for k in ("log", "sample", "checkpoint", "eval")
                    if k in iv
                }
            ),
            device=d.text(raw.get("device", "cpu"), "device"),
            options=d.scalars(raw.get(RECORD_OPTIONS) or {}, RECORD_OPTIONS),
            versions={
                k: d.text(v, f"versions.{k}")
                for k, v in d.mapping(raw.get("versions") or {}, "versions").items()
            },
            host=d.text(raw.get("host", ""), "host"),
            pid=d.integer(raw.get("pid"), "pid", lo=1, hi=2**32, optional=True),
            pid_start=d.integer(
                raw.get("pid_start"), "pid_start", lo=0, hi=SEED_MAX, optional=True
            ),
            world_size=d.integer(raw.get("world_size", 1), "world_size", lo=1, hi=WORLD_MAX),
            created=d.text(raw.get("created", ""), "created"),
            started=d.number(raw.get("started", 0.0), "started"),
            status=d.choice(raw.get("status", "failed"), "status", TRAINER_STATUSES),
            step=d.integer(raw.get("step", 0), "step", lo=0, hi=STEP_MAX),
            message=d.text(raw.get("message") or "", "message", limit=8192),
            command=[
                d.text(c, "command", limit=8192)
                for c in d.sequence(raw.get("command") or [], "command")
            ],
            heartbeat=d.number(raw.get("heartbeat", 0.0), "heartbeat"),
            updated=d.text(raw.get("updated", ""), "updated"),
            sample_step=d.integer(
                raw.get("sample_step"), "sample_step", lo=0, hi=STEP_MAX, optional=True
            ),
            checkpoint_step=d.integer(
                raw.get("checkpoint_step"), "checkpoint_step", lo=0, hi=STEP_MAX, optional=True
            ),
            resumed=d.integer(raw.get("resumed", 0), "resumed", lo=0, hi=STEP_MAX),
            previous_plugins=[d.plugin(p, "previous_plugins") for p in previous],
            changes=[d.change(c) for c in changes],
            sweep=d.sweep(raw.get("sweep")),
            job=d.job(raw.get("job")),
            extra={k: v for k, v in raw.items() if k not in known},
        )

    # -- writing ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        extra = out.pop("extra")
        return {**extra, **out}

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n").encode()

    def update(self, **values: Any) -> None:
        for key, value in values.items():
            if not hasattr(self, key) or key == "extra":
                raise AttributeError(f"run record has no field {key!r}")
            setattr(self, key, value)


class _Checker:
    """Field checks that fail with one line: '<file>: <field> must be ..., got ...'."""

    def __init__(self, where: Path | str):
        self.where = where

    def fail(self, name: str, must: str, value: Any = ...) -> None:
        got = "" if value is ... else f", got {_short(value)}"
        raise InvalidRecord(f"{self.where}: {name} {must}{got}")

    def text(
        self,
        value: Any,
        name: str,
        *,
        required: bool = False,
        optional: bool = False,
        limit: int = 1024,
    ) -> Any:
        if value is None and optional:
            return None
        if not isinstance(value, str) or (required and not value):
            self.fail(name, "must be a" + (" non-empty" if required else "") + " string", value)
        if len(value) > limit:
            self.fail(name, f"must be at most {limit} characters", f"{len(value)} characters")
        return value

    def name(self, value: Any, name: str) -> str:
        value = self.text(value, name, required=True, limit=200)
        return value

    def integer(
        self,
        value: Any,
        name: str,
        *,
        lo: int | None = None,
        hi: int | None = None,
        optional: bool = False,
    ) -> Any:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, "must be an integer", value)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"from {lo}" + (f" to {hi}" if hi is not None else " up")
            self.fail(name, f"must be an integer {bounds}", value)
        return value

    def number(self, value: Any, name: str) -> float:
        # An int too large for a float (JSON allows 10**400) is not a finite number
        # here: math.isfinite and float() would raise OverflowError on it.
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (isinstance(value, int) and abs(value) > FLOAT_MAX)
            or not math.isfinite(value)
        ):
            self.fail(name, "must be a finite number", value)
        return float(value)

    def choice(self, value: Any, name: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            self.fail(name, "must be one of " + ", ".join(choices), value)
        return value

    def mapping(self, value: Any, name: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(name, "must be an object", value)
        return value

    def sequence(self, value: Any, name: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(name, "must be a list", value)
        return value

    def scalars(self, value: Any, name: str) -> dict[str, Any]:
        """A flat object of JSON scalars (hyperparameters); lists of scalars too."""
        for key, item in self.mapping(value, name).items():
            items = item if isinstance(item, list) else [item]
            if not all(v is None or isinstance(v, (str, int, float, bool)) for v in items):
                self.fail(f"{name}.{key}", "must be a number, string, bool or list of them", item)
        return value

    def shape(self, value: Any, name: str) -> list[int]:
        if not isinstance(value, list) or len(value) > 8:
            self.fail(name, "must be a list of at most 8 positive integers", value)
        return [self.integer(v, name, lo=1, hi=1 << 20) for v in value]

    def plugin(self, value: Any, name: str) -> PluginRecord | None:
        if value is None:
            return None
        value = self.mapping(value, name)
        return PluginRecord(
            name=self.text(value.get("name"), f"{name}.name", required=True),
            distribution=self.text(
                value.get("distribution"), f"{name}.distribution", optional=True
            ),
            version=self.text(value.get("version"), f"{name}.version", optional=True),
        )

    def sweep(self, value: Any) -> SweepRef | None:
        if value is None:
            return None
        value = self.mapping(value, "sweep")
        point = self.scalars(value.get("point") or {}, "sweep.point")
        if len(point) > 64:
            self.fail("sweep.point", "must have at most 64 entries", f"{len(point)} entries")
        return SweepRef(id=self.name(value.get("id"), "sweep.id"), point=point)

    def job(self, value: Any) -> JobRecord | None:
        if value is None:
            return None
        value = self.mapping(value, "job")
        return JobRecord(
            scheduler=self.text(value.get("scheduler"), "job.scheduler", required=True, limit=40),
            id=self.text(value.get("id"), "job.id", required=True, limit=100),
            log=self.text(value.get("log"), "job.log", optional=True, limit=4096),
        )

    def change(self, value: Any) -> Change:
        value = self.mapping(value, "changes")
        return Change(
            step=self.integer(value.get("step"), "changes.step", lo=0, hi=STEP_MAX),
            key=self.text(value.get("key"), "changes.key", required=True),
            old=value.get("old"),
            new=value.get("new"),
        )


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
