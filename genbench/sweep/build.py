"""A sweep spec from ``genbench sweep``'s flags and, optionally, a TOML file.

The TOML file has up to four tables, each key optional::

    [sweep]                       # how: search, trials, seeds, name, executor, ...
    search = "grid"
    seeds = "0-4"                 # or [0, 1, 2]

    [run]                         # `genbench run` options: a value, or a list to vary
    model = ["dcgan", "lsgan"]
    dataset = "fashion-mnist"
    steps = 2000

    [set]                         # model hyperparameters: a value, a list, or a range
    lr = [1e-4, 2e-4, 4e-4]
    beta1 = { low = 0.0, high = 0.9 }            # random and optuna search only
    # lr = { low = 1e-5, high = 1e-3, log = true }

    [executor]                    # the executor's options, by name (parallel, partition, ...)
    parallel = 2

Flags given on the command line win over the file's value for the same key. An
unknown table or key is one line naming it and what is valid.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genbench.errors import UsageError
from genbench.options import flag_of
from genbench.runfolder.untrusted import UnreadableFile, read_bytes
from genbench.sweep.spec import (
    DEFAULT_MAX_MEMBERS,
    SEARCHES,
    Axis,
    SweepSpec,
    option_values,
    parse_seeds,
    range_axis,
    set_axis,
    sweepable_fields,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TOML_MAX = 1 << 20
SWEEP_KEYS = (
    "name",
    "search",
    "trials",
    "search_seed",
    "seeds",
    "objective",
    "pruner",
    "max_members",
    "executor",
)
OBJECTIVES = ("fd", "coverage")
PRUNERS = ("median", "halving", "none")


@dataclass
class Request:
    """A sweep as asked: the spec, and what is not part of it (its name, executor)."""

    spec: SweepSpec
    name: str | None = None
    executor: str = "local"
    settings: dict[str, Any] = field(default_factory=dict)  # the executor's, by key


def read_toml(path: Path) -> dict[str, Any]:
    try:
        data = read_bytes(path, TOML_MAX)
    except FileNotFoundError:
        raise UsageError(f"sweep file {path} not found") from None
    except UnreadableFile as exc:
        raise UsageError(str(exc)) from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - {"sweep", "run", "set", "executor"})
    if unknown:
        raise UsageError(
            f"{path}: unknown table [{unknown[0]}]; a sweep file has [sweep], [run], [set] "
            "and [executor]"
        )
    for table in raw.values():
        if not isinstance(table, dict):
            raise UsageError(f"{path}: [sweep], [run], [set] and [executor] must be tables")
    return raw


def build(
    toml: dict[str, Any] | None,
    run_flags: dict[str, list[str]],
    set_flags: list[str],
    sweep_flags: dict[str, Any],
    where: str = "the sweep file",
) -> Request:
    """The request: the file's tables overlaid by the flags given (``run_flags``: a
    run option's field name -> the texts given; ``sweep_flags``: the [sweep] keys given)."""
    toml = toml or {}
    how = {**_sweep_table(toml.get("sweep", {}), where), **sweep_flags}
    spec = SweepSpec(
        search=str(how.get("search", "grid")),
        trials=_whole(how.get("trials"), "trials", 1),
        search_seed=_whole(how.get("search_seed"), "search_seed", 0) or 0,
        objective=str(how.get("objective", "fd")),
        pruner=str(how.get("pruner", "median")),
        max_members=_whole(how.get("max_members"), "max_members", 1) or DEFAULT_MAX_MEMBERS,
    )
    if spec.search not in SEARCHES:
        raise UsageError(f"search {spec.search!r} is not one of: {', '.join(SEARCHES)}")
    if spec.objective not in OBJECTIVES:
        raise UsageError(f"objective {spec.objective!r} is not one of: {', '.join(OBJECTIVES)}")
    if spec.pruner not in PRUNERS:
        raise UsageError(f"pruner {spec.pruner!r} is not one of: {', '.join(PRUNERS)}")
    _run_options(spec, toml.get("run", {}), run_flags, where)
    _sets(spec, toml.get("set", {}), set_flags, where)
    if "seeds" in how:
        spec.seeds = parse_seeds(how["seeds"], "--seeds")
    spec.check()
    executor = how.get("executor", "local")
    settings = dict(toml.get("executor", {}))
    for key, value in settings.items():
        if not (value is None or isinstance(value, (str, int, float, bool))):
            raise UsageError(f"{where}: [executor] {key} must be a number, string or bool")
    return Request(spec, how.get("name"), str(executor), settings)


def _sweep_table(table: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(table) - set(SWEEP_KEYS))
    if unknown:
        raise UsageError(
            f"{where}: unknown key {unknown[0]!r} in [sweep]; valid keys: {', '.join(SWEEP_KEYS)}"
        )
    return table


def _whole(value: Any, name: str, low: int) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if isinstance(value, (bool, float)) or number < low:
        raise UsageError(f"{name} must be a whole number from {low}, got {str(value)[:40]}")
    return number


def _run_options(
    spec: SweepSpec, table: dict[str, Any], flags: dict[str, list[str]], where: str
) -> None:
    by_name = {f.name: f for f in sweepable_fields() if f.name != "sets"}
    unknown = sorted(set(table) - set(by_name))
    if unknown:
        raise UsageError(
            f"{where}: unknown run option {unknown[0]!r} in [run]; valid options: "
            + ", ".join(sorted(by_name))
        )
    for name, f in by_name.items():
        given: list[Any] | None = None
        if name in table:
            value = table[name]
            given = value if isinstance(value, list) else [value]
            src = f"{where} [run] {name}:"
        if flags.get(name):
            given, src = flags[name], ""
        if given is None:
            continue
        values = option_values(f, given, src or "")
        if name == "seed":
            spec.seeds = parse_seeds(values, flag_of(f))
        elif name == "threads" and len(values) > 1:
            raise UsageError("--threads cannot vary in a sweep; the executor shares the CPUs")
        elif len(values) == 1:
            spec.fixed[name] = values[0]
        else:
            spec.axes.append(Axis(name, "option", values))


def _sets(spec: SweepSpec, table: dict[str, Any], flags: list[str], where: str) -> None:
    entries: dict[str, Axis | str] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"low", "high", "log"})
            if unknown or "low" not in value or "high" not in value:
                raise UsageError(
                    f"{where}: [set] {key} as a table is a range: {{ low = ..., high = ..., "
                    "log = true|false }"
                )
            entries[key] = range_axis(
                key, value["low"], value["high"], bool(value.get("log", False)), where
            )
        elif isinstance(value, list):
            if not value:
                raise UsageError(f"{where}: [set] {key} is an empty list; give values to vary")
            texts = [_text(v) for v in value]
            entries[key] = (
                Axis(key, "set", list(dict.fromkeys(texts)))
                if len(set(texts)) > 1
                else f"{key}={texts[0]}"
            )
        else:
            entries[key] = f"{key}={_text(value)}"
    for text in flags:
        key, entry = set_axis(text)
        entries[key] = entry
    option_names = {f.name for f in sweepable_fields()}
    for key, entry in entries.items():
        if key in option_names:
            raise UsageError(f"{key} is a run option, not a hyperparameter: give it as --{key}")
        if isinstance(entry, Axis):
            spec.axes.append(entry)
        else:
            spec.sets.append(entry)


def _text(value: Any) -> str:
    """A TOML value as --set takes it (true, not True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
