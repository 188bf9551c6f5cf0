"""What a new run can be made of, as the New run form offers it: models, datasets,
devices (RunChoices), and each dataset as a choice for one model (DatasetChoice).
Built in a thread.

Loading the registry imports every plugin, and plugins import torch, which takes
seconds; the app builds this off the UI thread after its first paint. (Not to be
confused with genbench.data.CATALOGUE, the built-in datasets by name; this lists
those and the plugins' datasets, as `genbench datasets` does.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genbench.errors import UsageError
from genbench.registry import ModelEntry, Registry, qualified


@dataclass(frozen=True)
class DatasetChoice:
    name: str
    title: str
    kind: str
    shape: tuple[int, ...]
    classes: int | None
    available: bool
    where: str
    how: str
    problem: str | None  # why the model cannot train on it, or None
    spec: Any = None  # its DataSpec: the model's defaults can depend on it

    @property
    def label(self) -> str:
        shape = "x".join(map(str, self.shape))
        return f"{self.name}  {self.kind} {shape}"


@dataclass
class RunChoices:
    registry: Registry
    datasets: list = field(default_factory=list)  # Dataset objects
    devices: list[str] = field(default_factory=lambda: ["auto", "cpu"])
    dataset_errors: list[str] = field(default_factory=list)
    # id(dataset) -> DIST:NAME for a plugin dataset whose name another plugin also
    # provides: the name the form offers and launches with.
    dataset_keys: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls) -> RunChoices:
        """The installed models, and the datasets `genbench datasets` lists: built-in
        then plugin ones, looked for in ``$GENBENCH_DATA`` first as the launched
        child does."""
        from genbench.data import dataset_builders
        from genbench.registry import load_registry

        registry = load_registry()
        datasets, errors, keys = [], [], {}
        for name, build in dataset_builders(plugins=registry.datasets):
            try:
                datasets.append(build())
            except Exception as exc:  # noqa: BLE001 - one bad provider must not hide the rest
                errors.append(f"dataset {name}: {type(exc).__name__}: {exc}")
                continue
            if name != datasets[-1].name:
                keys[id(datasets[-1])] = name
        return cls(registry, datasets, _devices(), errors, keys)

    def entries(self) -> list[ModelEntry]:
        return [entry for _, entry in self.registry.model_keys()]

    def key(self, entry: ModelEntry) -> str:
        """The name ``entry`` is filed under: DIST:NAME when its name is not its own."""
        return next(k for k, e in self.registry.models.items() if e is entry)

    def find(self, name: str | None) -> str | None:
        """The key of the model ``name`` means (bare or DIST:NAME, as typed or as a
        cloned run records it), or None when it is not installed; never a warning."""
        if name is None:
            return None
        try:
            entry = self.registry.get(name, warn=lambda _: None)
        except UsageError:  # its distribution gone: whoever provides the name now
            bare = name.partition(":")[2]
            return self.find(bare) if bare else None
        return self.key(entry)

    def label(self, entry: ModelEntry) -> str:
        """The model's name in a list: with its distribution when another one
        provides that name too, "lsgan (genbench)" beside "lsgan (genbench-lsgan)"."""
        if entry.name in self.registry.conflicts:
            return f"{entry.name} ({entry.plugin.distribution})"
        return entry.name

    def launch_name(self, entry: ModelEntry) -> str:
        """What a launched run is given as --model: qualified when the name clashes,
        so the run says which one without a warning."""
        return qualified(entry) if entry.name in self.registry.conflicts else entry.name

    def datasets_for(self, entry: ModelEntry) -> list[DatasetChoice]:
        """Every dataset with whether this model can train on it and whether it is here."""
        out = []
        for ds in self.datasets:
            try:
                d = ds.describe()
            except Exception as exc:  # noqa: BLE001
                out.append(
                    DatasetChoice(
                        ds.name, ds.name, "?", (), None, False, "", "", f"cannot describe: {exc}"
                    )
                )
                continue
            key = self.dataset_keys.get(id(ds))
            out.append(
                DatasetChoice(
                    name=key or d["name"],
                    title=d.get("title", "") + (f" ({key.partition(':')[0]})" if key else ""),
                    kind=d["kind"],
                    shape=tuple(d["shape"]),
                    classes=d.get("classes"),
                    available=bool(d.get("available", True)),
                    where=str(d.get("where", "")),
                    how=str(d.get("how", "")),
                    problem=entry.cls.unsupported_reason(ds.spec),
                    spec=ds.spec,
                )
            )
        return out


def _devices() -> list[str]:
    """auto and cpu always; accelerators when torch sees them (torch is loaded by now)."""
    devices = ["auto", "cpu"]
    try:
        import torch

        if torch.cuda.is_available():
            n = torch.cuda.device_count()
            devices += ["cuda"] + ([f"cuda:{i}" for i in range(n)] if n > 1 else [])
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            devices.append("mps")
    except Exception:  # noqa: BLE001 - no torch here still lets the form offer cpu
        pass
    return devices
