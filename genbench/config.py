"""A model's Config dataclass as the one schema for --set, run.json and the TUI form."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from genbench.errors import UsageError
from genbench.options import INT64_MAX

if TYPE_CHECKING:  # pragma: no cover - for annotations only
    from genbench.api import GenerativeModel

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}

# Models train in 32-bit floats (or bf16) with 64-bit sizes: a float hyperparameter
# beyond float32's range becomes infinity at the first step, an int beyond int64
# cannot even be passed to torch.
FLOAT32_MAX = 3.4028234663852886e38
# A whole-number hyperparameter whose field declares no max: hyperparameters are sizes
# and counts (units, layers, updates a step), and beyond 2**31-1 of any of them no
# model is built (a layer of 2**31 units is 8 GiB a row) while torch's size
# arithmetic can overflow on the way (a traceback, not an answer). A field that
# truly needs more (a seed of its own) declares its max, up to INT64_MAX.
INT_SETTING_MAX = 2**31 - 1
# --seed's bounds (SEED_MAX, check_seed) are a run option's: genbench.options.


def fields(config_cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(config_cls) if f.init]


def field_type(config_cls: type, f: dataclasses.Field[Any]) -> type:
    """The field's runtime type (resolves string annotations from ``from __future__``)."""
    hints = typing.get_type_hints(config_cls)
    return hints.get(f.name, type(f.default))


CONVERTIBLE = (bool, int, float, str)


def config_problem(config_cls: type) -> str | None:
    """What makes a Config unusable as the one schema for --set, the form and
    run.json, or None: every field needs a plain default, a help string (what
    param() gives it) and a type --set converts. The registry refuses such a model
    when its plugin loads, so no command accepts it silently; check_model reports
    the same words under its ``config`` check."""
    try:
        declared = fields(config_cls)
        types = {f.name: field_type(config_cls, f) for f in declared}
    except Exception as exc:  # noqa: BLE001 - any failure here is the Config's fault
        return f"Config's annotations do not resolve: {exc}"
    for f in declared:
        where = f"Config.{f.name}"
        if f.default is dataclasses.MISSING:
            how = (
                "uses default_factory"
                if f.default_factory is not dataclasses.MISSING
                else "has no default"
            )
            return (
                f"{where} {how}; give it a plain default with param(default, 'help'), "
                "so --set, the TUI form and run.json can rebuild it"
            )
        help_text = f.metadata.get("help")
        if not isinstance(help_text, str) or not help_text.strip():
            return (
                f"{where} is declared without param(), so it has no help string; "
                f"declare it as {f.name} = param({f.default!r}, 'one line of help')"
            )
        t = types[f.name]
        if t not in CONVERTIBLE:
            return (
                f"{where} has type {t!r}, which --set cannot convert; use bool, int, float or str"
            )
        if "old_runs" in f.metadata:
            try:  # the value old runs are rebuilt with must be valid
                convert(config_cls, f, str(f.metadata["old_runs"]))
            except UsageError as exc:
                return (
                    f"{where}: old_runs={f.metadata['old_runs']!r} is not a valid "
                    f"value ({exc}); give the value runs saved before it existed had"
                )
    return None


def describe(config_cls: type) -> list[dict[str, Any]]:
    """Each field as plain data: name, type, default, help, choices, bounds."""
    out = []
    for f in fields(config_cls):
        t = field_type(config_cls, f)
        out.append(
            {
                "name": f.name,
                "type": getattr(t, "__name__", str(t)),
                "default": f.default,
                "help": f.metadata.get("help", ""),
                "choices": f.metadata.get("choices"),
                "min": f.metadata.get("min"),
                "max": f.metadata.get("max"),
            }
        )
    return out


def convert(config_cls: type, f: dataclasses.Field[Any], text: str) -> Any:
    """Turn the string ``text`` into a value for field ``f``, checking its bounds."""
    t = field_type(config_cls, f)
    raw = text.strip()
    try:
        if t is bool:
            low = raw.lower()
            if low not in _TRUE | _FALSE:
                raise ValueError
            value: Any = low in _TRUE
        elif t is int:
            value = int(raw)
        elif t is float:
            value = float(raw)
        elif t is str:
            value = raw
        else:
            raise UsageError(f"field {f.name!r} has type {t}, which --set cannot convert")
    except ValueError:
        raise UsageError(f"{f.name}={text!r} is not a valid {t.__name__}") from None
    check(f, value)
    return value


def check(f: dataclasses.Field[Any], value: Any) -> None:
    meta = f.metadata
    if "choices" in meta and value not in meta["choices"]:
        raise UsageError(
            f"{f.name}={value!r} is not one of: " + ", ".join(map(str, meta["choices"]))
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise UsageError(f"{f.name} must be a finite number")
        if isinstance(value, float) and abs(value) > FLOAT32_MAX:
            raise UsageError(
                f"{f.name}={value:g} is beyond the 32-bit floats models train "
                f"in (at most {FLOAT32_MAX:.3g} in size)"
            )
        # The field's own bounds first: they are what the user can act on.
        if "min" in meta and value < meta["min"]:
            raise UsageError(f"{f.name}={str(value)[:40]} is below its minimum {meta['min']}")
        if "max" in meta and value > meta["max"]:
            raise UsageError(f"{f.name}={str(value)[:40]} is above its maximum {meta['max']}")
        if isinstance(value, int) and "max" not in meta and value > INT_SETTING_MAX:
            raise UsageError(
                f"{f.name}={str(value)[:40]} is above the maximum of a "
                f"hyperparameter, {INT_SETTING_MAX} (2**31-1), unless the model "
                "declares more"
            )
        if isinstance(value, int) and abs(value) > INT64_MAX:
            raise UsageError(
                f"{f.name}={str(value)[:40]} is too large (at most {INT64_MAX}, 2**63-1)"
            )


def _build(config_cls: type, values: Mapping[str, Any]) -> Any:
    try:
        return config_cls(**values)
    except (ValueError, TypeError) as exc:  # a Config's own __post_init__ validation
        raise UsageError(f"invalid hyperparameters: {exc}") from None


def data_defaults(model_cls: type[GenerativeModel], spec: Any) -> dict[str, Any]:
    """The model's own defaults for this data (``GenerativeModel.defaults_for``), checked.

    A name the Config lacks or a value outside a field's bounds is the plugin's
    bug, not the user's: it raises ValueError naming the model, which
    ``genbench.testing.check_model`` reports before any user meets it.
    """
    config_cls = model_cls.Config
    by_name = {f.name: f for f in fields(config_cls)}
    out: dict[str, Any] = {}
    for key, value in dict(model_cls.defaults_for(spec)).items():
        if key not in by_name:
            raise ValueError(f"{model_cls.name}.defaults_for names {key!r}, which its Config lacks")
        try:
            out[key] = convert(config_cls, by_name[key], str(value))
        except UsageError as exc:
            raise ValueError(f"{model_cls.name}.defaults_for: {exc}") from None
    return out


def defaults(model_cls: type[GenerativeModel], spec: Any = None) -> dict[str, Any]:
    """Every hyperparameter's default, on data of ``spec`` when it is given."""
    base = {f.name: f.default for f in fields(model_cls.Config)}
    if spec is not None:
        base.update(data_defaults(model_cls, spec))
    return base


def from_assignments(
    config_cls: type, assignments: Iterable[str], base: Mapping[str, Any] | None = None
) -> Any:
    """Build a Config from ``key=value`` strings (``--set``) over ``base``
    (the data's defaults from :func:`data_defaults`), the Config's defaults elsewhere."""
    by_name = {f.name: f for f in fields(config_cls)}
    values: dict[str, Any] = dict(base or {})
    for item in assignments:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {item!r}")
        if key not in by_name:
            raise UsageError(f"unknown hyperparameter {key!r}; valid keys: " + ", ".join(by_name))
        values[key] = convert(config_cls, by_name[key], text)
    return _build(config_cls, values)


def from_dict(config_cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a Config saved in run.json, checking names and types."""
    by_name = {f.name: f for f in fields(config_cls)}
    values = {}
    for key, value in data.items():
        if key not in by_name:
            raise UsageError(f"run.json has unknown hyperparameter {key!r} for this model")
        try:
            values[key] = convert(config_cls, by_name[key], str(value))
        except UsageError as exc:  # say where the value came from: not a --set typed here
            raise UsageError(f"run.json's config: {exc}") from None
    return _build(config_cls, {**older_than(config_cls, values), **values})


def older_than(config_cls: type, saved: Mapping[str, Any]) -> dict[str, Any]:
    """For the fields ``saved`` (a run's config) lacks that declare ``old_runs``: the
    value runs saved before the field existed were built with (see param)."""
    return {
        f.name: convert(config_cls, f, str(f.metadata["old_runs"]))
        for f in fields(config_cls)
        if f.name not in saved and "old_runs" in f.metadata
    }


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
