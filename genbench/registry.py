"""Find model plugins and the models they provide.

Plugins are modules named by entry points in the ``genbench`` group; the built-in
models are registered the same way by genbench's own distribution. A plugin that
fails to import, whose hook raises, or that returns something other than a model
class is recorded as broken with a one-line error; every other model keeps
working.

Names may be qualified by the distribution that provides them, ``DIST:NAME``
(``genbench-lsgan:lsgan``, ``genbench:lsgan`` for the built-in one), wherever a
model, dataset, executor or logger is named. When two distributions provide one
name, both stay usable by their qualified names; the bare name means the built-in
one (with a warning naming the other), or the one ``GENBENCH_PLUGINS`` picks with a
``DIST:NAME`` entry, and is refused, listing the qualified names, when neither is
built in (which third party wins should not depend on what was installed last). A
run records its provider's distribution and is resolved by it later, so a run of a
built-in model keeps resuming and evaluating after a clashing plugin is installed.

``GENBENCH_PLUGINS`` restricts which third-party plugins load: a comma-separated
list of entry-point or distribution names; set but empty means built-ins only.
An entry ``DIST:NAME`` also loads DIST and makes the bare NAME mean DIST's. A
name in it that matches no installed plugin is a warning (a typo, or a plugin's
import name, would otherwise hide every third-party plugin without a word), and
"unknown model" says when the filter, or a plugin that failed to load, is why.

A plugin's items stand alone: a bad model class or dataset is recorded as broken
and the plugin's other models and datasets still load, as one broken plugin does
not stop the others; the listings mark such a plugin as partly broken.

A plugin may also ship datasets through the ``genbench_datasets`` hook. They are
collected the same way (broken ones listed, a name claimed twice loads for
neither, a name of a built-in dataset is refused) and ``genbench.data.get_dataset``
finds them by name, so the trainer, ``genbench datasets`` and the workbench see
them beside the built-in ones. Executors, where a sweep's members run
(``genbench_executors``, genbench.executor), and loggers, where a run's metrics
are sent (``genbench_loggers``, genbench.logger), are collected the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from genbench import hookspecs
from genbench.api import GenerativeModel, class_problem
from genbench.config import config_problem
from genbench.dataset import BUILTIN_DATASETS, Dataset, dataset_problem
from genbench.errors import UsageError, one_line
from genbench.executor import Executor
from genbench.logger import Logger, missing_message

if TYPE_CHECKING:
    from genbench.runfolder.record import RunRecord

BUILTIN_DISTRIBUTION = "genbench"


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin came from."""

    name: str  # entry-point name
    module: str  # module path the entry point names
    distribution: str  # pip distribution that ships it
    version: str

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION

    def record(self) -> dict[str, Any]:
        """What run.json keeps of a plugin, to check it on resume and evaluation."""
        return {"name": self.name, "distribution": self.distribution, "version": self.version}


@dataclass(frozen=True)
class ModelEntry:
    cls: type[GenerativeModel]
    plugin: PluginInfo

    @property
    def name(self) -> str:
        return self.cls.name

    def describe(self) -> dict[str, Any]:
        """Plain-data description for tables and --json."""
        c = self.cls
        return {
            "name": c.name,
            "title": c.title,
            "summary": c.summary,
            "paper": c.paper,
            "kinds": sorted(c.kinds),
            "conditional": bool(c.conditional),
            "plugin": self.plugin.name,
            "distribution": self.plugin.distribution,
            "version": self.plugin.version,
            "builtin": self.plugin.builtin,
            "module": self.plugin.module,
            "class": f"{c.__module__}.{c.__qualname__}",
        }


@dataclass(frozen=True)
class ExecutorEntry:
    cls: type[Executor]
    plugin: PluginInfo

    @property
    def name(self) -> str:
        return self.cls.name


@dataclass(frozen=True)
class LoggerEntry:
    cls: type[Logger]
    plugin: PluginInfo

    @property
    def name(self) -> str:
        return self.cls.name


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset a plugin ships: a factory, and an instance built at load time."""

    name: str
    factory: Callable[..., Any]  # returns a genbench.dataset.Dataset
    example: Any  # factory() as called when the plugin loaded
    plugin: PluginInfo

    def accepts(self) -> set[str]:
        """Which of data_dir and image_size the factory takes as keywords."""
        try:
            params = inspect.signature(self.factory).parameters.values()
        except (TypeError, ValueError):
            return set()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return set(DATASET_OPTIONS)
        return {
            p.name
            for p in params
            if p.name in DATASET_OPTIONS and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }

    def build(
        self,
        data_dir: str | Path | None = None,
        image_size: int | None = None,
        lenient: bool = False,
    ) -> Any:
        """A fresh instance for a run. An option the factory does not take is a
        UsageError, unless ``lenient`` (listings), which drops it and falls back to
        the load-time instance if building fails."""
        given: dict[str, Any] = {
            k: v
            for k, v in (("data_dir", data_dir), ("image_size", image_size))
            if v not in (None, "")
        }
        accepted = self.accepts()
        refused = sorted(set(given) - accepted)
        if refused and not lenient:
            flags = " or ".join("--" + k.replace("_", "-") for k in refused)
            raise UsageError(
                f"dataset {self.name!r} (plugin {self.plugin.distribution}) does not take {flags}"
            )
        kwargs = {
            k: (Path(v).expanduser() if k == "data_dir" else v)
            for k, v in given.items()
            if k in accepted
        }
        try:
            dataset = self.factory(**kwargs)
            problem = dataset_problem(dataset)
        except UsageError:
            if lenient:
                return self.example
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's factory may raise anything
            if lenient:
                return self.example
            raise UsageError(
                f"dataset {self.name!r} from plugin {self.plugin.distribution} "
                f"{self.plugin.version} failed to build: {one_line(exc)}"
            ) from None
        if problem:
            if lenient:
                return self.example
            raise UsageError(
                f"dataset {self.name!r} from plugin {self.plugin.distribution}: {problem}"
            )
        return dataset


@dataclass(frozen=True)
class BrokenPlugin:
    plugin: PluginInfo
    error: str  # one line
    # The model names it tried to provide, where known (a class that failed its
    # checks), so "unknown model" can say why; an import failure knows none.
    models: tuple[str, ...] = ()
    # A hook misspelt or left undecorated: whatever it meant to provide is missing.
    hooks: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin.name,
            "distribution": self.plugin.distribution,
            "version": self.plugin.version,
            "error": self.error,
        }


@dataclass
class Registry:
    models: dict[str, ModelEntry] = field(default_factory=dict)
    conflicts: dict[str, list[ModelEntry]] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)
    datasets: dict[str, DatasetEntry] = field(default_factory=dict)
    dataset_conflicts: dict[str, list[DatasetEntry]] = field(default_factory=dict)
    # Plugins GENBENCH_PLUGINS left out, and what is wrong with the filter itself.
    excluded: list[PluginInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Where a sweep's members may run (genbench.executor), by name.
    executors: dict[str, ExecutorEntry] = field(default_factory=dict)
    executor_conflicts: dict[str, list[ExecutorEntry]] = field(default_factory=dict)
    # Where a run's metrics may be sent (genbench.logger, --log NAME), by name.
    loggers: dict[str, LoggerEntry] = field(default_factory=dict)
    logger_conflicts: dict[str, list[LoggerEntry]] = field(default_factory=dict)
    # Each dict above is keyed by the name a user types: the bare name, or DIST:NAME
    # for a provider whose name another distribution also provides; the *_conflicts
    # dicts list every provider of such a name. picks: GENBENCH_PLUGINS' DIST:NAME
    # entries, bare name -> normalised distribution.
    picks: dict[str, str] = field(default_factory=dict)
    # Seconds each installed plugin's module took to import (load_registry), in
    # load order: the built-in ones first, so a third party is not charged for torch.
    import_seconds: list[tuple[PluginInfo, float]] = field(default_factory=list)
    _warned: set[str] = field(default_factory=set)

    def _resolve(
        self,
        kind: str,
        entries: dict[str, _Entry],
        conflicts: dict[str, list[_Entry]],
        name: str,
        warn: Callable[[str], None] | None,
    ) -> _Entry | None:
        """The entry ``name`` (bare or DIST:NAME) means, or None when nothing of that
        name is here. A bare name two third parties provide is a UsageError listing
        the qualified names; one the built-in wins warns (once) of the other."""
        if name in entries:
            if name in conflicts and name not in self.picks and warn and name not in self._warned:
                self._warned.add(name)
                warn(_shadowed(kind, entries[name], conflicts[name]))
            return entries[name]
        if name in conflicts:
            raise _provided_twice(kind, name, conflicts[name])
        dist, colon, bare = name.partition(":")
        if not colon:
            return None
        for entry in entries.values():
            if entry.name == bare and _normal(entry.plugin.distribution) == _normal(dist):
                return entry
        others = [e for e in entries.values() if e.name == bare]
        reason = self._dist_reason(dist)
        if not (others or reason):
            return None  # the caller's "unknown", with the valid names
        provided = (
            f"; {kind} {bare!r} is provided by {_providers(others)}: use "
            f"{' or '.join(qualified(e) for e in others)}"
            if others
            else ""
        )
        raise UsageError(f"no {kind} {bare!r} from {dist!r} is installed{reason}{provided}")

    def _dist_reason(self, dist: str) -> str:
        """Why distribution ``dist`` provides nothing here, as " (...)", when known."""
        for b in self.broken:
            if _normal(b.plugin.distribution) == _normal(dist):
                return f" (plugin {b.plugin.distribution} {b.plugin.version} is broken: {b.error})"
        for info in self.excluded:
            if _normal(info.distribution) == _normal(dist):
                env = os.environ.get("GENBENCH_PLUGINS", "")
                return f" (GENBENCH_PLUGINS={env!r} leaves it out)"
        return ""

    def key_of(self, entries: dict[str, _Entry], name: str, distribution: str | None) -> str:
        """The key under which ``entries`` hold ``name`` from ``distribution`` (as a
        run recorded it); ``name`` itself when that distribution provides none."""
        for key, entry in entries.items():
            if entry.name == name and _normal(entry.plugin.distribution) == _normal(
                distribution or ""
            ):
                return key
        return name

    def executor(self, name: str) -> ExecutorEntry:
        """The executor called ``name``, or UsageError naming the ones there are."""
        entry = self._resolve("executor", self.executors, self.executor_conflicts, name, _warn)
        if entry is None:
            valid = ", ".join(sorted(self.executors)) or "none installed"
            raise UsageError(
                f"unknown executor {name!r}{self.why_unknown(name, 'executor')}; "
                f"valid executors: {valid}"
            )
        return entry

    def logger(self, name: str) -> LoggerEntry:
        """The logger called ``name``, ready to use: UsageError naming the loggers there
        are when it is unknown, or saying what to install when its library is missing."""
        found = self._resolve("logger", self.loggers, self.logger_conflicts, name, _warn)
        if found is None:
            valid = ", ".join(sorted(self.loggers)) or "none installed"
            raise UsageError(
                f"unknown logger {name!r}{self.why_unknown(name, 'logger')}; valid loggers: {valid}"
            )
        entry = found
        problem = missing_message(entry.cls)
        if problem:
            raise UsageError(problem)
        return entry

    def model_keys(self) -> list[tuple[str, ModelEntry]]:
        """(the name to type, entry) for every model, built-in ones first."""
        return sorted(self.models.items(), key=lambda kv: (not kv[1].plugin.builtin, kv[0]))

    def clash_lines(self, kind: str = "model") -> list[str]:
        """One line for each name two distributions provide: who, and what to type
        for each (``kind``: model or dataset)."""
        entries: Mapping[str, _Provider] = self.models if kind == "model" else self.datasets
        conflicts: Mapping[str, Sequence[_Provider]] = (
            self.conflicts if kind == "model" else self.dataset_conflicts
        )
        out = []
        for name, unsorted in sorted(conflicts.items()):
            group = _by_distribution(unsorted)
            bare = entries.get(name)
            names = " or ".join(qualified(e) for e in group if e is not bare)
            if bare is not None:
                how = f"{name!r} means {bare.plugin.distribution}'s, {names} the other's"
            else:
                how = f"neither is built in, so {name!r} alone is refused: name it {names}"
            out.append(f"{kind} {name!r} is provided by {_providers(group)}; {how}")
        return out

    def partly_broken(self, info: PluginInfo) -> bool:
        """Whether ``info``, which provides something, also had an item refused."""
        return any(b.plugin == info for b in self.broken)

    def dataset(self, name: str, warn: Callable[[str], None] | None = None) -> DatasetEntry | None:
        """The plugin dataset called ``name`` (bare or DIST:NAME); None when no
        plugin ships it."""
        return self._resolve("dataset", self.datasets, self.dataset_conflicts, name, warn or _warn)

    def _add_dataset(self, entry: DatasetEntry) -> None:
        _add_named(self.datasets, self.dataset_conflicts, entry, self.picks)

    def get(self, name: str, warn: Callable[[str], None] | None = None) -> ModelEntry:
        """The model ``name`` (bare or DIST:NAME) means; a UsageError saying why when
        there is none. ``warn`` (default: stderr) hears once that a bare name the
        built-in won is also another distribution's."""
        entry = self._resolve("model", self.models, self.conflicts, name, warn or _warn)
        if entry is not None:
            return entry
        valid = ", ".join(sorted(self.models)) or "none installed"
        raise UsageError(f"unknown model {name!r}{self.why_unknown(name)}; valid models: {valid}")

    def why_unknown(self, name: str, kind: str = "model") -> str:
        """Why ``kind`` (model or dataset) ``name`` is not here when a reason is
        known, as "; ..." (else ""). A plugin of that name (entry point, distribution
        or genbench-NAME) that failed to load comes first, then one GENBENCH_PLUGINS
        left out, then the filter itself, since a typo in it hides every
        third-party model and dataset."""
        for b in self.broken:
            if (kind == "model" and name in b.models) or _names_plugin(name, b.plugin):
                return (
                    f"; plugin {b.plugin.distribution} {b.plugin.version} "
                    f"(entry point {b.plugin.name!r}) failed to load: {b.error}"
                )
        for b in self.broken:
            if b.hooks:
                return (
                    f"; plugin {b.plugin.distribution} {b.plugin.version} may be meant to "
                    f"provide it: {b.error}"
                )
        env = os.environ.get("GENBENCH_PLUGINS")
        if env is None:
            return ""
        for info in self.excluded:
            if _names_plugin(name, info):
                return (
                    f"; GENBENCH_PLUGINS={env!r} leaves out plugin {info.distribution} "
                    f"(entry point {info.name!r}); add {info.distribution} to it"
                )
        names = ", ".join(sorted(_allow_list() or ()))
        loaded = f"the built-in {kind}s and plugins {names}" if names else f"the built-in {kind}s"
        return f"; GENBENCH_PLUGINS={env!r} is set, so only {loaded} load"

    def _add(self, entry: ModelEntry) -> None:
        _add_named(self.models, self.conflicts, entry, self.picks)


_Entry = TypeVar("_Entry", ModelEntry, DatasetEntry, ExecutorEntry, LoggerEntry)
_Provider = ModelEntry | DatasetEntry | ExecutorEntry | LoggerEntry
_P = TypeVar("_P", bound=_Provider)


def qualified(entry: _Provider) -> str:
    """``DIST:NAME``: the name that means this provider whatever else is installed."""
    return f"{entry.plugin.distribution}:{entry.name}"


def _add_named(
    entries: dict[str, _Entry],
    conflicts: dict[str, list[_Entry]],
    entry: _Entry,
    picks: dict[str, str] | None = None,
) -> None:
    """File ``entry`` under its name. When another distribution provides that name
    too, every provider is filed under its qualified name and listed in
    ``conflicts``, except the one the bare name means (the GENBENCH_PLUGINS pick,
    else the built-in one), which keeps the bare name; with neither, the bare name
    means none of them."""
    name = entry.name
    if name in conflicts:
        providers = conflicts[name]
    elif name in entries:
        providers = [entries[name]]
    else:
        entries[name] = entry
        return
    providers.append(entry)
    conflicts[name] = providers
    entries.pop(name, None)
    for old in providers:
        entries.pop(qualified(old), None)
    default = _default_provider(providers, (picks or {}).get(name))
    for provider in providers:
        entries[name if provider is default else qualified(provider)] = provider


def _default_provider(providers: list[_Entry], pick: str | None) -> _Entry | None:
    """The provider a bare name means: the distribution picked, else the only
    built-in one, else none."""
    for wanted in (
        [p for p in providers if pick and _normal(p.plugin.distribution) == pick],
        [p for p in providers if p.plugin.builtin],
    ):
        if len(wanted) == 1:
            return wanted[0]
    return None


def _by_distribution(providers: Sequence[_P]) -> list[_P]:
    """Providers in a stable order, whatever order they were installed in."""
    return sorted(providers, key=lambda e: (not e.plugin.builtin, e.plugin.distribution))


def _providers(
    providers: Sequence[_Provider],
) -> str:
    return " and ".join(
        f"{e.plugin.distribution} {e.plugin.version}" + (" (built in)" if e.plugin.builtin else "")
        for e in providers
    )


def _shadowed(
    kind: str,
    entry: _Provider,
    providers: Sequence[_Provider],
) -> str:
    others = [e for e in providers if e is not entry]
    return (
        f"{kind} {entry.name!r} means {entry.plugin.distribution}'s (built in); "
        f"{_providers(others)} also provides one: name it "
        f"{' or '.join(qualified(e) for e in others)}, or {qualified(entry)} to keep "
        "this one without this warning"
    )


def _provided_twice(
    kind: str,
    name: str,
    providers: Sequence[_Provider],
) -> UsageError:
    providers = _by_distribution(providers)
    names = " or ".join(qualified(e) for e in providers)
    first = providers[0]
    return UsageError(
        f"{kind} {name!r} is provided by both {_providers(providers)}, neither built in, "
        f"so the bare name is ambiguous: use {names} (or let the bare name mean one with "
        f"GENBENCH_PLUGINS={qualified(first)},...)"
    )


def model_class_problem(obj: object) -> str | None:
    """Why ``obj`` is not a usable model class, or None."""
    if not (isinstance(obj, type) and issubclass(obj, GenerativeModel)):
        return (
            f"returned {' '.join(repr(obj).split())[:80]}, which is not a GenerativeModel subclass "
            "(return a list of classes)"
        )
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name or any(ch.isspace() for ch in name):
        return f"{obj.__name__} has no valid `name` (a non-empty word)"
    config = getattr(obj, "Config", None)
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        return f"{obj.__name__}.Config is not a dataclass"
    problem = class_problem(obj) or config_problem(config)  # the contract's own checks
    return f"{obj.__name__}: {problem}" if problem else None


DATASET_OPTIONS = ("data_dir", "image_size")


def _allow_list() -> set[str] | None:
    """The plugins GENBENCH_PLUGINS names (a DIST:NAME entry names DIST), or None."""
    env = os.environ.get("GENBENCH_PLUGINS")
    if env is None:
        return None
    return {p.strip().partition(":")[0].strip() for p in env.split(",") if p.strip()} - {""}


def _picks() -> dict[str, str]:
    """GENBENCH_PLUGINS' DIST:NAME entries: bare NAME -> the distribution it means."""
    picks = {}
    for part in os.environ.get("GENBENCH_PLUGINS", "").split(","):
        dist, colon, name = part.strip().partition(":")
        if colon and dist.strip() and name.strip():
            picks[name.strip()] = _normal(dist.strip())
    return picks


def _normal(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): My_Plugin == my-plugin."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _allowed(info: PluginInfo, allow: set[str] | None) -> bool:
    if info.builtin or allow is None:
        return True
    return info.name in allow or _normal(info.distribution) in {_normal(a) for a in allow}


def _names_plugin(name: str, info: PluginInfo) -> bool:
    """Whether ``name`` (a model name the user typed) is this plugin's own name: its
    entry point, its distribution, or its distribution without "genbench-"."""
    dist = _normal(info.distribution)
    return name == info.name or _normal(name) in (dist, dist.removeprefix("genbench-"))


def _allow_list_warnings(
    allow: set[str], installed: list[tuple[PluginInfo, EntryPoint]]
) -> list[str]:
    """One line for each GENBENCH_PLUGINS name that matches no installed plugin,
    naming the installed plugin distributions, and the one to use when the name is
    a plugin's import (module) name."""
    third = [(info, ep) for info, ep in installed if not info.builtin]
    out = []
    for name in sorted(allow):
        if any(
            info.builtin and name in (info.name, info.distribution) for info, _ in installed
        ) or any(_allowed(info, {name}) for info, _ in third):
            continue
        module_of = [
            info
            for info, ep in third
            if name in (ep.value.split(":")[0], ep.value.split(":")[0].split(".")[0])
        ]
        if module_of:
            dist = module_of[0].distribution
            out.append(
                f"GENBENCH_PLUGINS names {name!r}, the import name of plugin {dist}; "
                f"it takes distribution or entry-point names: use "
                f"GENBENCH_PLUGINS={dist}"
            )
            continue
        dists = (
            ", ".join(
                sorted({f"{info.distribution} (entry point {info.name})" for info, _ in third})
            )
            or "none"
        )
        out.append(
            f"GENBENCH_PLUGINS names {name!r}, which matches no installed plugin, so "
            f"it loads nothing; installed plugin distributions: {dists}"
        )
    return out


def filter_warnings(installed: list[tuple[PluginInfo, EntryPoint]] | None = None) -> list[str]:
    """What is wrong with GENBENCH_PLUGINS (see _allow_list_warnings), each printed
    to stderr (a process loads the registry once). Reads metadata only, so a command
    that skips importing plugins (none of the allowed ones is installed: exactly the
    typo case) still warns."""
    allow = _allow_list()
    if allow is None:
        return []
    messages = _allow_list_warnings(
        allow, list(_installed_plugins()) if installed is None else installed
    )
    for message in messages:
        _warn(message)
    return messages


def _warn(message: str) -> None:
    print(f"genbench: warning: {message}", file=sys.stderr, flush=True)


def third_party_installed() -> bool:
    """Whether any allowed non-built-in plugin is installed; reads metadata only,
    so a caller can skip importing plugins (and torch) when there are none."""
    allow = _allow_list()
    return any(not info.builtin and _allowed(info, allow) for info, _ in _installed_plugins())


def load_dataset_registry() -> Registry:
    """The registry of a command that needs only datasets (the built-in plugins ship
    none): the third-party plugins loaded when one is installed, else none
    imported (nor torch), with GENBENCH_PLUGINS' warnings said all the same."""
    if not third_party_installed():
        return Registry(warnings=filter_warnings())
    # Only the third-party plugins: the built-in ones ship no dataset and import torch.
    return load_registry(builtins=False)


def _installed_plugins() -> Iterable[tuple[PluginInfo, EntryPoint]]:
    """(info, entry point) for each entry point in the genbench group."""
    for ep in entry_points(group=hookspecs.PROJECT):
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=dist.metadata["Name"] if dist else "unknown",
            version=dist.version if dist else "unknown",
        )
        yield info, ep


def load_registry(
    extra: Iterable[tuple[PluginInfo, object]] = (), builtins: bool = True
) -> Registry:
    """Load every installed plugin (plus ``extra`` in-process ones) and collect models.

    ``extra`` pairs a PluginInfo with a module or object implementing the hooks;
    tests and embedding applications use it to register without installing.
    ``builtins=False`` leaves genbench's own plugins out (a registry for datasets).
    """
    allow = _allow_list()

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry(picks=_picks())
    loaded: list[tuple[PluginInfo, object]] = []
    installed = list(_installed_plugins())
    registry.warnings.extend(filter_warnings(installed))
    installed.sort(key=lambda pair: not pair[0].builtin)  # they import torch: see _timed

    for info, ep in installed:
        if info.builtin and not builtins:
            continue
        if not _allowed(info, allow):
            registry.excluded.append(info)
            continue
        try:
            loaded.append((info, _timed(registry, info, ep)))
        except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything at import
            if isinstance(exc, KeyboardInterrupt):
                raise
            registry.broken.append(BrokenPlugin(info, f"import failed: {one_line(exc)}"))
    loaded.extend(extra)

    for info, plugin in loaded:
        _register(registry, pm, info, plugin)
    for message in _pick_problems(registry):
        _warn(message)
        registry.warnings.append(message)
    return registry


# A third-party plugin whose import takes longer slows every command that loads
# plugins (`genbench models`, `run`, the workbench's form): named once, on stderr.
SLOW_IMPORT_S = 1.0


def _timed(registry: Registry, info: PluginInfo, ep: EntryPoint) -> object:
    """``ep.load()``, its seconds kept in ``registry.import_seconds`` and a slow
    third-party import named in one warning. The built-in plugins load first and
    import torch and genbench.nn, so what a third party is timed for is its own;
    where they are not loaded (``genbench datasets``) a plugin that imports torch
    is not named for torch's seconds."""
    torch_loaded = "torch" in sys.modules
    started = time.perf_counter()
    try:
        return ep.load()
    finally:
        seconds = time.perf_counter() - started
        registry.import_seconds.append((info, seconds))
        own = torch_loaded or "torch" not in sys.modules  # torch's import not among them
        if seconds > SLOW_IMPORT_S and not info.builtin and own:
            message = (
                f"plugin {info.name} ({info.distribution} {info.version}) took {seconds:.1f} s "
                "to import, and every genbench command that loads plugins waits for it "
                "(its author can import heavy modules inside functions; "
                "GENBENCH_PLUGINS can leave it out; `genbench models --timings` lists them)"
            )
            _warn(message)
            registry.warnings.append(message)


def _register(
    registry: Registry, pm: pluggy.PluginManager, info: PluginInfo, plugin: object
) -> None:
    """Register one plugin and collect what its hooks return."""
    # pluggy registers a misspelt or undecorated hook without a word; say so here.
    registry.broken.extend(BrokenPlugin(info, p, hooks=True) for p in hook_problems(pm, plugin))
    try:
        pm.register(plugin, name=f"{info.distribution}:{info.name}")
    except Exception as exc:  # noqa: BLE001 - pluggy validates hook signatures on register
        registry.broken.append(BrokenPlugin(info, f"could not register: {one_line(exc)}"))
        return
    # Call each plugin's hooks on their own, so one raising hook breaks only itself.
    for impl in pm.hook.genbench_models.get_hookimpls():
        if impl.plugin is plugin:
            _collect(registry, info, impl.function)
    for impl in pm.hook.genbench_datasets.get_hookimpls():
        if impl.plugin is plugin:
            _collect_datasets(registry, info, impl.function)
    for impl in pm.hook.genbench_executors.get_hookimpls():
        if impl.plugin is plugin:
            _collect_executors(registry, info, impl.function)
    for impl in pm.hook.genbench_loggers.get_hookimpls():
        if impl.plugin is plugin:
            _collect_loggers(registry, info, impl.function)


def _pick_problems(registry: Registry) -> list[str]:
    """A GENBENCH_PLUGINS DIST:NAME whose DIST provides no NAME picks nothing: say so
    (with who does provide NAME), or the bare name goes on meaning another's."""
    everything: list[_Provider] = [
        *registry.models.values(),
        *registry.datasets.values(),
        *registry.executors.values(),
        *registry.loggers.values(),
    ]
    out = []
    for name, dist in sorted(registry.picks.items()):
        providers = _by_distribution([e for e in everything if e.name == name])
        if any(_normal(e.plugin.distribution) == dist for e in providers) or not any(
            _normal(e.plugin.distribution) == dist for e in everything
        ):
            continue  # picked as asked, or DIST itself is missing: the filter's warning says so
        others = f"; {name!r} is provided by {_providers(providers)}" if providers else ""
        out.append(f"GENBENCH_PLUGINS picks {dist}:{name}, but {dist} provides no {name!r}{others}")
    return out


SPEC_NAMES = tuple(sorted(n for n in vars(hookspecs) if n.startswith("genbench_")))


def hook_problems(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """The hook mistakes pluggy passes over in silence, one line each: a function
    marked @hookimpl whose name is no genbench hook (with the closest one), a
    genbench_* function of the plugin's own without @hookimpl, and a plugin that
    implements no hook at all."""
    problems, hooks = [], 0
    own = plugin.__name__ if inspect.ismodule(plugin) else None
    for attr in dir(plugin):
        try:
            obj = getattr(plugin, attr)
            opts = pm.parse_hookimpl_opts(plugin, attr)
        except Exception:  # noqa: BLE001 - an attribute that raises is no hook
            continue
        if opts is not None:
            hooks += attr in SPEC_NAMES
            if attr not in SPEC_NAMES:
                problems.append(f"hook {attr}() is no genbench hook{_closest(attr)}")
        elif (
            attr.startswith("genbench_")
            and inspect.isfunction(obj)
            and (own is None or obj.__module__ == own)
        ):
            misspelt = "" if attr in SPEC_NAMES else f", and is no genbench hook{_closest(attr)}"
            problems.append(
                f"{attr}() is not marked @hookimpl (from genbench import hookimpl), so it "
                f"is never called{misspelt}"
            )
    if not hooks and not problems:
        problems.append(
            "implements no genbench hook: mark its functions with @hookimpl "
            f"(from genbench import hookimpl); the hooks are {', '.join(SPEC_NAMES)}"
        )
    return problems


def _closest(name: str) -> str:
    match = difflib.get_close_matches(name, SPEC_NAMES, n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else f"; the hooks are {', '.join(SPEC_NAMES)}"


# What each hook returns, for "return a list of ..." when it returns something else.
RETURNS = {
    "genbench_models": "GenerativeModel subclasses",
    "genbench_datasets": "genbench.Dataset instances or callables returning one",
    "genbench_executors": "genbench.Executor subclasses",
    "genbench_loggers": "genbench.Logger subclasses",
}


def _hook_items(
    registry: Registry, info: PluginInfo, hook: Callable[[], Any], hook_name: str
) -> list[Any] | None:
    """What a hook returned, as a list; None (the plugin listed as broken, one line)
    when it raised or returned something that is not a list."""
    try:
        returned = hook()
        if returned is None:
            return []
        if isinstance(returned, type | str | bytes | dict) or not isinstance(returned, Iterable):
            shown = (
                f"the class {returned.__name__}"
                if isinstance(returned, type)
                else " ".join(repr(returned).split())[:80]
            )
            example = f" ([{returned.__name__}])" if isinstance(returned, type) else ""
            registry.broken.append(
                BrokenPlugin(
                    info,
                    f"{hook_name}() returned {shown}, not a list: return a list of "
                    f"{RETURNS[hook_name]}{example}",
                    (name,) if isinstance(name := getattr(returned, "name", None), str) else (),
                )
            )
            return None
        return list(returned)
    except Exception as exc:  # noqa: BLE001 - a plugin's hook may raise anything
        registry.broken.append(BrokenPlugin(info, f"{hook_name}() raised {one_line(exc)}"))
        return None


# A plugin's hook may return anything (Any, not object: what it returned is checked
# item by item below, after list() has had its chance to fail).
def _collect(registry: Registry, info: PluginInfo, hook: Callable[[], Any]) -> None:
    classes = _hook_items(registry, info, hook, "genbench_models")
    for obj in classes or ():
        problem = model_class_problem(obj)
        if problem:
            name = getattr(obj, "name", None)
            registry.broken.append(
                BrokenPlugin(
                    info, f"genbench_models() {problem}", (name,) if isinstance(name, str) else ()
                )
            )
        else:
            registry._add(ModelEntry(obj, info))


def _collect_datasets(registry: Registry, info: PluginInfo, hook: Callable[[], Any]) -> None:
    returned = _hook_items(registry, info, hook, "genbench_datasets")
    for obj in returned or ():
        # An instance serves every run; a factory (a Dataset subclass or a function)
        # builds one per run, with --data-dir/--image-size when it takes them.
        factory = (lambda obj=obj: obj) if isinstance(obj, Dataset) else obj
        if not callable(factory):
            registry.broken.append(
                BrokenPlugin(
                    info,
                    f"genbench_datasets() returned {obj!r}, which is neither a "
                    "genbench.Dataset nor a callable returning one",
                )
            )
            continue
        try:
            example = factory()
        except Exception as exc:  # noqa: BLE001
            registry.broken.append(
                BrokenPlugin(
                    info,
                    f"genbench_datasets(): {getattr(obj, '__name__', obj)!s}() raised "
                    f"{one_line(exc)}",
                )
            )
            continue
        problem = dataset_problem(example)
        if not problem and example.name in BUILTIN_DATASETS:
            problem = f"dataset name {example.name!r} is taken by a built-in dataset"
        if problem:
            registry.broken.append(BrokenPlugin(info, f"genbench_datasets() {problem}"))
        else:
            registry._add_dataset(DatasetEntry(example.name, factory, example, info))


def _collect_classes(
    registry: Registry,
    info: PluginInfo,
    hook: Callable[[], Any],
    hook_name: str,
    problem_of: Callable[[object], str | None],
    add: Callable[[Any], None],
) -> None:
    """A hook that returns classes (executors, loggers): each one ``problem_of``
    finds nothing wrong with is added; a raising hook or a wrong class is listed
    as broken with one line, and the other plugins load."""
    returned = _hook_items(registry, info, hook, hook_name)
    for obj in returned or ():
        problem = problem_of(obj)
        if problem:
            registry.broken.append(BrokenPlugin(info, f"{hook_name}() {problem}"))
        else:
            add(obj)


def _collect_executors(registry: Registry, info: PluginInfo, hook: Callable[[], Any]) -> None:
    def add(obj: Any) -> None:
        entry = ExecutorEntry(obj, info)
        _add_named(registry.executors, registry.executor_conflicts, entry, registry.picks)

    _collect_classes(registry, info, hook, "genbench_executors", executor_class_problem, add)


def _collect_loggers(registry: Registry, info: PluginInfo, hook: Callable[[], Any]) -> None:
    def add(obj: Any) -> None:
        _add_named(
            registry.loggers, registry.logger_conflicts, LoggerEntry(obj, info), registry.picks
        )

    _collect_classes(registry, info, hook, "genbench_loggers", logger_class_problem, add)


def _named_class_problem(obj: object, base: type, what: str) -> str | None:
    """Why ``obj`` is not a concrete subclass of ``base`` (``what``, as a plugin
    author reads it) with a short lower-case name, or None."""
    if not (isinstance(obj, type) and issubclass(obj, base)):
        return f"returned {obj!r}, which is not a {what} subclass (return a list of classes)"
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", name):
        return (
            f"{obj.__name__}.name must be a short lower-case name "
            f"(letters, digits, - _), got {name!r}"
        )
    if abstract := getattr(obj, "__abstractmethods__", None):
        return f"{obj.__name__} does not implement {', '.join(sorted(abstract))}"
    return None


def executor_class_problem(obj: object) -> str | None:
    """Why ``obj`` is not an executor class a sweep can use, or None."""
    return _named_class_problem(obj, Executor, "genbench.Executor")


def logger_class_problem(obj: object) -> str | None:
    """Why ``obj`` is not a logger class a run can use, or None."""
    return _named_class_problem(obj, Logger, "genbench.Logger")


# -- runs recorded with a plugin ---------------------------------------------------


def run_model_entry(registry: Registry, meta: RunRecord, warn: Callable[[str], None]) -> ModelEntry:
    """The model a recorded run (its run.json ``meta``) was trained with, checked
    against the plugin recorded there: missing is a UsageError saying what to
    install; another version or distribution is a warning, and the run goes on.
    The same check applies to a dataset that came from a plugin."""
    name = meta.model
    recorded = dataclasses.asdict(meta.plugin) if meta.plugin else {}
    # By the recorded distribution first: a run keeps its provider whatever else
    # provides that name now (its bare name may mean another, or be ambiguous).
    key = registry.key_of(registry.models, name, recorded.get("distribution"))
    if key not in registry.models and name not in registry.conflicts:
        raise UsageError(
            f"this run was trained with model {name!r} from "
            f"{_origin(recorded)}, which is not available here"
            f"{_why_missing(registry, recorded)}"
        )
    entry = registry.get(key, warn=lambda _: None)  # _compare says what changed
    _compare(f"model {name!r}", recorded, entry.plugin, warn)

    data_plugin = dataclasses.asdict(meta.data.plugin) if meta.data.plugin else None
    if data_plugin:
        dataset = meta.dataset
        found = registry.dataset(recorded_dataset(registry, meta), warn=lambda _: None)
        if found is None:
            raise UsageError(
                f"this run was trained on dataset {dataset!r} from "
                f"{_origin(data_plugin)}, which is not available here"
                f"{_why_missing(registry, data_plugin)}"
            )
        _compare(f"dataset {dataset!r}", data_plugin, found.plugin, warn)
    return entry


def recorded_dataset(registry: Registry, meta: RunRecord) -> str:
    """The name that means the dataset a run was trained on: DIST:NAME when another
    distribution also provides its name, else the name run.json records."""
    plugin = meta.data.plugin
    if plugin is None:
        return meta.dataset
    return registry.key_of(registry.datasets, meta.dataset, plugin.distribution)


def _origin(recorded: dict[str, Any]) -> str:
    dist, version = recorded.get("distribution"), recorded.get("version")
    if not dist:
        return "an unrecorded plugin"
    return (
        f"genbench {version} (built in)"
        if dist == BUILTIN_DISTRIBUTION
        else f"plugin {dist} {version}"
    )


def _why_missing(registry: Registry, recorded: dict[str, Any]) -> str:
    dist, version = recorded.get("distribution"), recorded.get("version")
    if dist == BUILTIN_DISTRIBUTION:
        return f"; this genbench is {_genbench_version()}, which no longer has it"
    for b in registry.broken:
        if b.plugin.distribution == dist:
            return f"; {dist} {b.plugin.version} is installed but broken: {b.error}"
    allow = _allow_list()
    if (
        allow is not None
        and dist
        and not _allowed(PluginInfo(str(recorded.get("name")), "", dist, ""), allow)
    ):
        return f"; GENBENCH_PLUGINS={os.environ.get('GENBENCH_PLUGINS', '')!r} excludes it"
    if dist:
        return f"; install it (pip install '{dist}=={version}') to continue"
    return ""


def _compare(
    what: str, recorded: dict[str, Any], now: PluginInfo, warn: Callable[[str], None]
) -> None:
    dist, version = recorded.get("distribution"), recorded.get("version")
    if dist and dist != now.distribution:
        warn(
            f"{what} was trained from {_origin(recorded)}; here it comes from "
            f"{now.distribution} {now.version}, so results may differ"
        )
    elif version and version != now.version:
        warn(
            f"{what} was trained with {dist} {version}; {now.version} is installed here: "
            f"continuing with {now.version}, results may differ"
        )


def _genbench_version() -> str:
    from genbench import __version__

    return __version__
