"""A sweep's spec: what is fixed, what varies, the seeds and how points are searched.

A spec comes from ``genbench sweep``'s flags (every ``run`` option once or as a
list, ``--set KEY=V1,V2``, ``--seeds 0-4``) or from a TOML file, and expands into
members, each an ordinary ``genbench run`` with its point in the sweep. Everything
here is checked before anything is made: an unknown key, an empty list, a range
where a grid needs values, more members than ``max_members``, each is one line.
Whether the model takes a value is checked by the caller, which has the registry
(genbench.cli.sweep). torch-free.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

from genbench.errors import UsageError
from genbench.options import (
    SEED_MAX,
    RunOptions,
    check_value,
    flag_of,
    meta,
    option_fields,
)

SEARCHES = ("grid", "random", "optuna")
DEFAULT_MAX_MEMBERS = 256
MEMBERS_HARD_MAX = 100_000  # what a sweep record holds at most, whatever --max-members says
# The run options a sweep sets itself, per member: never part of a spec.
SWEEP_OWN = ("name", "sweep", "sweep_point")
# Options whose one value is itself a comma list: a list of them is given by
# repeating the flag (or a TOML list), never by commas.
COMMA_VALUED = ("augment", "log")
SEED = "seed"


@dataclass
class Axis:
    """One thing a sweep varies: a run option (``kind="option"``, by field name) or a
    model hyperparameter (``kind="set"``), over ``values`` or a range."""

    key: str
    kind: str  # "option" | "set"
    values: list[Any] = field(default_factory=list)
    # A range, for random and Bayesian search: [low, high], log-uniform where ``log``.
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None

    def describe(self) -> str:
        if self.is_range:
            scale = "log " if self.log else ""
            return f"{self.key} in {scale}[{self.low:g}, {self.high:g}]"
        return f"{self.key} in {', '.join(map(str, self.values))}"

    def sample(self, rng: random.Random) -> Any:
        if not self.is_range:
            return rng.choice(self.values)
        assert self.low is not None and self.high is not None
        if self.integer:
            return rng.randint(int(self.low), int(self.high))
        if self.log:
            return float(f"{math.exp(rng.uniform(math.log(self.low), math.log(self.high))):.4g}")
        return float(f"{rng.uniform(self.low, self.high):.4g}")


@dataclass
class SweepSpec:
    """What a sweep trains: ``fixed`` run options (by field name), ``sets`` fixed
    hyperparameters (KEY=VALUE), ``axes`` varied, each point once per seed."""

    fixed: dict[str, Any] = field(default_factory=dict)
    sets: list[str] = field(default_factory=list)
    axes: list[Axis] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    search: str = "grid"
    trials: int | None = None  # configurations for random and Bayesian search
    search_seed: int = 0  # random search's own seed (the same spec, the same points)
    objective: str = "fd"  # what Bayesian search minimises (fd) or maximises (coverage)
    pruner: str = "median"  # Bayesian search's early stopping: median, halving or none
    max_members: int = DEFAULT_MAX_MEMBERS

    # -- checks ----------------------------------------------------------------------

    def check(self) -> None:
        for key in ("model", "dataset"):
            if not self.fixed.get(key) and not self.axis(key):
                raise UsageError(f"a sweep needs --{key} (one, or a comma list to compare)")
        if self.search not in SEARCHES:
            raise UsageError(f"--search {self.search!r} is not one of: {', '.join(SEARCHES)}")
        if self.search == "grid":
            ranged = [a.key for a in self.axes if a.is_range]
            if ranged:
                raise UsageError(
                    f"{ranged[0]} is a range; a grid needs a list of values "
                    "(or use --search random or optuna with --trials N)"
                )
            if self.trials is not None:
                raise UsageError("--trials applies to --search random or optuna, not a grid")
        elif self.trials is None:
            raise UsageError(f"--search {self.search} needs --trials N (configurations to try)")
        elif self.search == "random" and all(not a.is_range for a in self.axes):
            space = math.prod(len(a.values) for a in self.axes)
            if self.trials > space:
                raise UsageError(
                    f"--trials {self.trials} is more than the {space} configurations the lists "
                    "make; use a grid, fewer trials, or a range (KEY=LOW..HIGH)"
                )
        if not 1 <= self.max_members <= MEMBERS_HARD_MAX:
            raise UsageError(f"--max-members must be from 1 to {MEMBERS_HARD_MAX:,}")
        count = self.member_count()
        if count > self.max_members:
            raise UsageError(
                f"this sweep has {count:,} members ({self.shape()}), more than "
                f"--max-members {self.max_members}; vary less, or raise --max-members"
            )

    def axis(self, key: str) -> Axis | None:
        return next((a for a in self.axes if a.key == key), None)

    def configurations(self) -> int:
        if self.search != "grid":
            return self.trials or 0
        return math.prod(len(a.values) for a in self.axes)

    def member_count(self) -> int:
        return self.configurations() * len(self.seeds)

    def shape(self) -> str:
        """The sweep's size in words: '2 models x 3 lr x 5 seeds'."""
        if self.search != "grid":
            parts = [f"{self.trials} trials"]
        else:
            parts = [f"{len(a.values)} {a.key}" for a in self.axes] or ["1 configuration"]
        return " x ".join([*parts, f"{len(self.seeds)} seed" + "s" * (len(self.seeds) != 1)])

    # -- points ------------------------------------------------------------------------

    def grid_points(self) -> list[dict[str, Any]]:
        """Every point of a grid (or the sampled configurations of a random search),
        seeds outermost: every configuration runs once before any runs twice."""
        if self.search == "random":
            configs = self._drawn()
        else:
            keys = [a.key for a in self.axes]
            configs = [
                dict(zip(keys, values, strict=True))
                for values in itertools.product(*(a.values for a in self.axes))
            ]
        return [{**config, SEED: seed} for seed in self.seeds for config in configs]

    def probe_points(self) -> list[dict[str, Any]]:
        """Points that bound a search's space: every value of each list and both ends
        of each range, the other axes at their first value (or low end). A search's
        points are known only as it runs, so these are what is checked before it
        starts: a value the model refuses is one line then, not a failed trial."""

        def ends(axis: Axis) -> list[Any]:
            if not axis.is_range:
                return list(axis.values)
            low, high = axis.low, axis.high
            return [int(low), int(high)] if axis.integer else [low, high]  # type: ignore[arg-type]

        base = {a.key: ends(a)[0] for a in self.axes}
        points = [base] + [{**base, a.key: v} for a in self.axes for v in ends(a)[1:]]
        return [{**p, SEED: self.seeds[0]} for p in points]

    def _drawn(self) -> list[dict[str, Any]]:
        """Random search's configurations: drawn with this spec's seed, never the same
        one twice (a space of lists alone is drawn from without replacement)."""
        rng = random.Random(self.search_seed)
        assert self.trials is not None
        if all(not a.is_range for a in self.axes):
            keys = [a.key for a in self.axes]
            space = list(itertools.product(*(a.values for a in self.axes)))
            return [dict(zip(keys, c, strict=True)) for c in rng.sample(space, self.trials)]
        drawn: list[dict[str, Any]] = []
        for _ in range(self.trials * 100):  # a range's draws repeat only by chance
            config = {a.key: a.sample(rng) for a in self.axes}
            if config not in drawn:
                drawn.append(config)
            if len(drawn) == self.trials:
                break
        return drawn

    def run_args(self, point: dict[str, Any]) -> list[str]:
        """``genbench run``'s flags for a member at ``point`` (its name and sweep aside):
        what the spec gives, no more, so a member takes ``run``'s defaults as a run
        started by hand would."""
        values = dict(self.fixed)
        sets = list(self.sets)
        for axis in self.axes:
            if axis.key in point:
                if axis.kind == "set":
                    sets.append(f"{axis.key}={point[axis.key]}")
                else:
                    values[axis.key] = point[axis.key]
        values["seed"] = point[SEED]
        values["sets"] = sets
        args: list[str] = []
        for f in sweepable_fields():
            value = values.get(f.name)
            for item in value if isinstance(value, list) else [value]:
                if item is not None and item != "":
                    args += [flag_of(f), str(item)]
        return args

    # -- as plain data (the sweep record) ------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> SweepSpec:
        """A spec as a sweep record holds it, checked as untrusted input."""
        if not isinstance(raw, dict):
            raise UsageError(f"{where}: spec must be an object")
        try:
            axes = [Axis(**a) for a in raw.get("axes", [])]
            spec = cls(**{**raw, "axes": axes})
        except TypeError as exc:
            raise UsageError(f"{where}: spec is not a sweep spec ({exc})") from None
        for axis in spec.axes:
            if (
                not isinstance(axis.key, str)
                or not KEY_RE.fullmatch(axis.key)
                or axis.kind not in ("option", "set")
                or not isinstance(axis.values, list)
                or not all(_scalar(v) for v in axis.values)
                or not _range_ok(axis)
            ):
                raise UsageError(
                    f"{where}: axis {str(axis.key)[:40]!r} is not a sweep axis (a name, "
                    "option or set, and a list of numbers, strings or bools)"
                )
        if not isinstance(spec.fixed, dict) or not all(
            isinstance(k, str) and _scalar(v) for k, v in spec.fixed.items()
        ):
            raise UsageError(f"{where}: spec.fixed must be an object of run options")
        if not isinstance(spec.sets, list) or not all(
            isinstance(x, str) and len(x) < 1024 for x in spec.sets
        ):
            raise UsageError(f"{where}: spec.sets must be a list of KEY=VALUE strings")
        whole = (spec.search_seed, spec.max_members, 0 if spec.trials is None else spec.trials)
        if (
            spec.search not in SEARCHES
            or spec.objective not in ("fd", "coverage")
            or spec.pruner not in ("median", "halving", "none")
            or not all(isinstance(n, int) and 0 <= n <= SEED_MAX for n in whole)
        ):
            raise UsageError(
                f"{where}: spec's search, trials, objective, pruner or max_members is not valid"
            )
        if not isinstance(spec.seeds, list) or not all(
            isinstance(s, int) and 0 <= s <= SEED_MAX for s in spec.seeds
        ):
            raise UsageError(f"{where}: seeds must be a list of whole numbers")
        return spec


# What a varied key may be called (a run option's field, a hyperparameter's name).
KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)  # JSON's 1e999 reads as inf, which JSON cannot write
    return (
        value is None
        or isinstance(value, (int, bool))
        or (isinstance(value, str) and len(value) < 1024)
    )


def _range_ok(axis: Axis) -> bool:
    """A range's bounds as a record may hold them: finite numbers, LOW < HIGH, LOW > 0
    on a log scale, and flags that are flags."""
    if axis.low is None and axis.high is None:
        return isinstance(axis.log, bool) and isinstance(axis.integer, bool)
    bounds = (axis.low, axis.high)
    return (
        all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b)
            for b in bounds
        )
        and axis.low < axis.high  # type: ignore[operator]
        and (not axis.log or axis.low > 0)  # type: ignore[operator]
        and isinstance(axis.log, bool)
        and isinstance(axis.integer, bool)
    )


# -- building a spec from flags or TOML --------------------------------------------------


def sweepable_fields() -> list[dataclasses.Field[Any]]:
    """The run options a sweep takes, once or as a list."""
    return [
        f
        for f in option_fields(RunOptions)
        if "run" in meta(f).commands and f.name not in SWEEP_OWN
    ]


def option_values(f: dataclasses.Field[Any], given: list[Any], where: str) -> list[Any]:
    """The values given for run option ``f``: comma lists split (not for options whose
    value is a comma list), each converted and checked as ``genbench run`` would."""
    items: list[Any] = []
    for item in given:
        if isinstance(item, str) and f.name not in COMMA_VALUED:
            items += [part.strip() for part in item.split(",")]
        else:
            items.append(item)
    if not items or any(v == "" for v in items):
        raise UsageError(
            f"{where} {flag_of(f)}".strip() + " has an empty value; give one or a comma list"
        )
    out = []
    for item in items:
        value = item
        convert = meta(f).type
        if isinstance(item, str) and convert is not None:
            try:
                value = convert(item)
            except (ValueError, TypeError) as exc:
                raise UsageError(f"{where} {flag_of(f)} {item!r}: {exc}".strip()) from None
        checked = check_value(f, value)
        # a list-valued option (--log) as one member flag's text: tensorboard,wandb
        out.append(",".join(checked) if isinstance(checked, list) else checked)
    return list(dict.fromkeys(out))  # each value once, in the order given


_RANGE = re.compile(r"^(log:)?\s*([^.][^ ]*?)\s*\.\.\s*(\S+)$")


def set_axis(text: str, where: str = "--set") -> tuple[str, Axis | str]:
    """``KEY=V`` (fixed: returned as text), ``KEY=V1,V2`` (an axis over values) or
    ``KEY=LOW..HIGH`` / ``KEY=log:LOW..HIGH`` (an axis over a range)."""
    key, eq, value = text.partition("=")
    key = key.strip()
    if not eq or not key:
        raise UsageError(f"{where} {text!r} must be KEY=VALUE, KEY=V1,V2 or KEY=LOW..HIGH")
    match = _RANGE.match(value.strip())
    if match:
        return key, range_axis(key, match.group(2), match.group(3), bool(match.group(1)), where)
    values = [v.strip() for v in value.split(",")]
    if any(not v for v in values):
        raise UsageError(f"{where} {key}= has an empty value; give one or a comma list")
    if len(values) == 1:
        return key, f"{key}={values[0]}"
    return key, Axis(key, "set", list(dict.fromkeys(values)))


def range_axis(key: str, low: Any, high: Any, log: bool, where: str) -> Axis:
    try:
        lo, hi = float(low), float(high)
    except (TypeError, ValueError):
        raise UsageError(f"{where} {key}: a range is LOW..HIGH of two numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise UsageError(f"{where} {key}: a range needs LOW < HIGH, got {low}..{high}")
    if log and lo <= 0:
        raise UsageError(f"{where} {key}: a log range needs LOW > 0")
    integer = all(
        isinstance(v, int) or (isinstance(v, str) and v.lstrip("-").isdigit()) for v in (low, high)
    )
    return Axis(key, "set", low=lo, high=hi, log=log, integer=integer and not log)


def parse_seeds(text: Any, where: str = "--seeds") -> list[int]:
    """``0-4``, ``0,3,7`` or a mix (``0-2,10``); a TOML list of whole numbers too."""
    parts = text if isinstance(text, list) else str(text).split(",")
    seeds: list[int] = []
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            seeds.append(part)
            continue
        first, dash, last = str(part).strip().partition("-")
        try:
            lo = int(first)
            hi = int(last) if dash else lo
        except ValueError:
            raise UsageError(
                f"{where} {str(part)[:40]!r} is not a seed or a range of them (0-4, 0,3,7)"
            ) from None
        if hi < lo or hi - lo >= MEMBERS_HARD_MAX:
            raise UsageError(f"{where} {part}: a range of seeds goes up, FIRST-LAST")
        seeds += range(lo, hi + 1)
    if not seeds:
        raise UsageError(f"{where} is empty; give seeds like 0-4 or 0,3,7")
    for seed in seeds:
        if not 0 <= seed <= SEED_MAX:
            raise UsageError(f"{where}: {seed} is not a seed (0 to 2**63-1)")
    return list(dict.fromkeys(seeds))
