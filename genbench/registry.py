"""Find model plugins and the models they provide.

Plugins are modules named by entry points in the ``genbench`` group; the built-in
models are registered the same way by genbench's own distribution. A plugin that
fails to import, whose hook raises, or that returns something other than a model
class is recorded as broken with a one-line error; every other model keeps
working. Two plugins claiming one model name are both reported and neither wins.

``GENBENCH_PLUGINS`` restricts which third-party plugins load: a comma-separated
list of entry-point or distribution names; set but empty means built-ins only.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Iterable

import pluggy

from genbench import hookspecs
from genbench.api import GenerativeModel
from genbench.errors import UsageError

BUILTIN_DISTRIBUTION = "genbench"


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin came from."""

    name: str            # entry-point name
    module: str          # module path the entry point names
    distribution: str    # pip distribution that ships it
    version: str

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION


@dataclass(frozen=True)
class ModelEntry:
    cls: type[GenerativeModel]
    plugin: PluginInfo

    @property
    def name(self) -> str:
        return self.cls.name

    def describe(self) -> dict:
        """Plain-data description for tables and --json."""
        c = self.cls
        return {
            "name": c.name, "title": c.title, "summary": c.summary, "paper": c.paper,
            "kinds": sorted(c.kinds), "conditional": bool(c.conditional),
            "plugin": self.plugin.name, "distribution": self.plugin.distribution,
            "version": self.plugin.version, "builtin": self.plugin.builtin,
        }


@dataclass(frozen=True)
class BrokenPlugin:
    plugin: PluginInfo
    error: str           # one line

    def describe(self) -> dict:
        return {"plugin": self.plugin.name, "distribution": self.plugin.distribution,
                "version": self.plugin.version, "error": self.error}


@dataclass
class Registry:
    models: dict[str, ModelEntry] = field(default_factory=dict)
    conflicts: dict[str, list[ModelEntry]] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)

    def get(self, name: str) -> ModelEntry:
        if name in self.models:
            return self.models[name]
        if name in self.conflicts:
            owners = " and ".join(f"{e.plugin.distribution} ({e.plugin.name})"
                                  for e in self.conflicts[name])
            raise UsageError(f"model {name!r} is provided by both {owners}; "
                             f"uninstall one or restrict plugins with GENBENCH_PLUGINS")
        valid = ", ".join(sorted(self.models)) or "none installed"
        raise UsageError(f"unknown model {name!r}; valid models: {valid}")

    def _add(self, entry: ModelEntry) -> None:
        name = entry.name
        if name in self.conflicts:
            self.conflicts[name].append(entry)
        elif name in self.models:
            self.conflicts[name] = [self.models.pop(name), entry]
        else:
            self.models[name] = entry


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


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
    return None


def _allowed(info: PluginInfo, allow: set[str] | None) -> bool:
    return info.builtin or allow is None or bool({info.name, info.distribution} & allow)


def _installed_plugins() -> Iterable[tuple[PluginInfo, object]]:
    """(info, entry point) for each entry point in the genbench group."""
    for ep in entry_points(group=hookspecs.PROJECT):
        dist = getattr(ep, "dist", None)
        info = PluginInfo(name=ep.name, module=ep.value,
                          distribution=dist.metadata["Name"] if dist else "unknown",
                          version=dist.version if dist else "unknown")
        yield info, ep


def load_registry(extra: Iterable[tuple[PluginInfo, object]] = ()) -> Registry:
    """Load every installed plugin (plus ``extra`` in-process ones) and collect models.

    ``extra`` pairs a PluginInfo with a module or object implementing the hooks;
    tests and embedding applications use it to register without installing.
    """
    env = os.environ.get("GENBENCH_PLUGINS")
    allow = None if env is None else {p.strip() for p in env.split(",") if p.strip()}

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    loaded: list[tuple[PluginInfo, object]] = []

    for info, ep in _installed_plugins():
        if not _allowed(info, allow):
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
        except Exception as exc:  # pluggy validates hook signatures on register
            registry.broken.append(BrokenPlugin(info, f"could not register: {one_line(exc)}"))
            continue
        # Call each plugin's hook on its own, so one raising hook breaks only itself.
        impls = [i for i in pm.hook.genbench_models.get_hookimpls() if i.plugin is plugin]
        for impl in impls:
            _collect(registry, info, impl.function)
    return registry


def _collect(registry: Registry, info: PluginInfo, hook) -> None:
    try:
        returned = hook()
        classes = list(returned or [])
    except Exception as exc:  # noqa: BLE001
        registry.broken.append(BrokenPlugin(info, f"genbench_models() raised {one_line(exc)}"))
        return
    for obj in classes:
        problem = model_class_problem(obj)
        if problem:
            registry.broken.append(BrokenPlugin(info, f"genbench_models() {problem}"))
        else:
            registry._add(ModelEntry(obj, info))

