"""Find model plugins and the models they provide.

Plugins are modules named by entry points in the ``genbench`` group; the built-in
models are registered the same way by genbench's own distribution. A plugin that
fails to import, whose hook raises, or that returns something other than a model
class is recorded as broken with a one-line error; every other model keeps
working. Two plugins claiming one model name are both reported and neither wins.

``GENBENCH_PLUGINS`` restricts which third-party plugins load: a comma-separated
list of entry-point or distribution names; set but empty means built-ins only. A
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
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterable
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

    def executor(self, name: str) -> ExecutorEntry:
        """The executor called ``name``, or UsageError naming the ones there are."""
        if name in self.executor_conflicts:
            raise _provided_twice("executor", name, self.executor_conflicts[name])
        if name not in self.executors:
            valid = ", ".join(sorted(self.executors)) or "none installed"
            raise UsageError(
                f"unknown executor {name!r}{self.why_unknown(name, 'executor')}; "
                f"valid executors: {valid}"
            )
        return self.executors[name]

    def logger(self, name: str) -> LoggerEntry:
        """The logger called ``name``, ready to use: UsageError naming the loggers there
        are when it is unknown, or saying what to install when its library is missing."""
        if name in self.logger_conflicts:
            raise _provided_twice("logger", name, self.logger_conflicts[name])
        if name not in self.loggers:
            valid = ", ".join(sorted(self.loggers)) or "none installed"
            raise UsageError(
                f"unknown logger {name!r}{self.why_unknown(name, 'logger')}; valid loggers: {valid}"
            )
        entry = self.loggers[name]
        problem = missing_message(entry.cls)
        if problem:
            raise UsageError(problem)
        return entry

    def partly_broken(self, info: PluginInfo) -> bool:
        """Whether ``info``, which provides something, also had an item refused."""
        return any(b.plugin == info for b in self.broken)

    def dataset(self, name: str) -> DatasetEntry | None:
        """The plugin dataset called ``name``; None when no plugin ships it."""
        if name in self.dataset_conflicts:
            raise _provided_twice("dataset", name, self.dataset_conflicts[name])
        return self.datasets.get(name)

    def _add_dataset(self, entry: DatasetEntry) -> None:
        _add_named(self.datasets, self.dataset_conflicts, entry)

    def get(self, name: str) -> ModelEntry:
        if name in self.models:
            return self.models[name]
        if name in self.conflicts:
            raise _provided_twice("model", name, self.conflicts[name])
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
        _add_named(self.models, self.conflicts, entry)


_Entry = TypeVar("_Entry", ModelEntry, DatasetEntry, ExecutorEntry, LoggerEntry)


def _add_named(
    entries: dict[str, _Entry], conflicts: dict[str, list[_Entry]], entry: _Entry
) -> None:
    """File ``entry`` under its name; a name that a second plugin also provides
    moves to ``conflicts`` with every provider, and is used from neither."""
    name = entry.name
    if name in conflicts:
        conflicts[name].append(entry)
    elif name in entries:
        conflicts[name] = [entries.pop(name), entry]
    else:
        entries[name] = entry


def _provided_twice(
    kind: str,
    name: str,
    providers: list[ModelEntry] | list[DatasetEntry] | list[ExecutorEntry] | list[LoggerEntry],
) -> UsageError:
    owners = " and ".join(f"{e.plugin.distribution} ({e.plugin.name})" for e in providers)
    return UsageError(
        f"{kind} {name!r} is provided by both {owners}; "
        f"uninstall one or restrict plugins with GENBENCH_PLUGINS"
    )


def model_class_problem(obj: object) -> str | None:
    """Why ``obj`` is not a usable model class, or None."""
    if not (isinstance(obj, type) and issubclass(obj, GenerativeModel)):
        return f"returned {obj!r}, which is not a GenerativeModel subclass"
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
    env = os.environ.get("GENBENCH_PLUGINS")
    return None if env is None else {p.strip() for p in env.split(",") if p.strip()}


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
    none): every plugin loaded when a third-party one is installed, else none
    imported (nor torch), with GENBENCH_PLUGINS' warnings said all the same."""
    return load_registry() if third_party_installed() else Registry(warnings=filter_warnings())


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


def load_registry(extra: Iterable[tuple[PluginInfo, object]] = ()) -> Registry:
    """Load every installed plugin (plus ``extra`` in-process ones) and collect models.

    ``extra`` pairs a PluginInfo with a module or object implementing the hooks;
    tests and embedding applications use it to register without installing.
    """
    allow = _allow_list()

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    loaded: list[tuple[PluginInfo, object]] = []
    installed = list(_installed_plugins())
    registry.warnings.extend(filter_warnings(installed))

    for info, ep in installed:
        if not _allowed(info, allow):
            registry.excluded.append(info)
            continue
        try:
            loaded.append((info, ep.load()))
        except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything at import
            if isinstance(exc, KeyboardInterrupt):
                raise
            registry.broken.append(BrokenPlugin(info, f"import failed: {one_line(exc)}"))
    loaded.extend(extra)

    for info, plugin in loaded:
        try:
            pm.register(plugin, name=f"{info.distribution}:{info.name}")
        except Exception as exc:  # noqa: BLE001 - pluggy validates hook signatures on register
            registry.broken.append(BrokenPlugin(info, f"could not register: {one_line(exc)}"))
            continue
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
    return registry


# A plugin's hook may return anything (Any, not object: what it returned is checked
# item by item below, after list() has had its chance to fail).
def _collect(registry: Registry, info: PluginInfo, hook: Callable[[], Any]) -> None:
    try:
        returned = hook()
        classes = list(returned or [])
    except Exception as exc:  # noqa: BLE001
        registry.broken.append(BrokenPlugin(info, f"genbench_models() raised {one_line(exc)}"))
        return
    for obj in classes:
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

    try:
        returned = list(hook() or [])
    except Exception as exc:  # noqa: BLE001
        registry.broken.append(BrokenPlugin(info, f"genbench_datasets() raised {one_line(exc)}"))
        return
    for obj in returned:
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
    try:
        returned = list(hook() or [])
    except Exception as exc:  # noqa: BLE001
        registry.broken.append(BrokenPlugin(info, f"{hook_name}() raised {one_line(exc)}"))
        return
    for obj in returned:
        problem = problem_of(obj)
        if problem:
            registry.broken.append(BrokenPlugin(info, f"{hook_name}() {problem}"))
        else:
            add(obj)


def _collect_executors(registry: Registry, info: PluginInfo, hook: Callable[[], Any]) -> None:
    def add(obj: Any) -> None:
        _add_named(registry.executors, registry.executor_conflicts, ExecutorEntry(obj, info))

    _collect_classes(registry, info, hook, "genbench_executors", executor_class_problem, add)


def _collect_loggers(registry: Registry, info: PluginInfo, hook: Callable[[], Any]) -> None:
    def add(obj: Any) -> None:
        _add_named(registry.loggers, registry.logger_conflicts, LoggerEntry(obj, info))

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
    if name not in registry.models and name not in registry.conflicts:
        raise UsageError(
            f"this run was trained with model {name!r} from "
            f"{_origin(recorded)}, which is not available here"
            f"{_why_missing(registry, recorded)}"
        )
    entry = registry.get(name)
    _compare(f"model {name!r}", recorded, entry.plugin, warn)

    data_plugin = dataclasses.asdict(meta.data.plugin) if meta.data.plugin else None
    if data_plugin:
        dataset = meta.dataset
        found = registry.dataset(dataset)
        if found is None:
            raise UsageError(
                f"this run was trained on dataset {dataset!r} from "
                f"{_origin(data_plugin)}, which is not available here"
                f"{_why_missing(registry, data_plugin)}"
            )
        _compare(f"dataset {dataset!r}", data_plugin, found.plugin, warn)
    return entry


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
