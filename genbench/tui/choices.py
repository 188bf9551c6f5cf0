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

from genbench.registry import ModelEntry, Registry


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

    @classmethod
    def load(cls) -> RunChoices:
        """The installed models, and the datasets `genbench datasets` lists: built-in
        then plugin ones, looked for in ``$GENBENCH_DATA`` first as the launched
        child does."""
        from genbench.data import dataset_builders
        from genbench.registry import load_registry

        registry = load_registry()
        datasets, errors = [], []
        for name, build in dataset_builders(plugins=registry.datasets):
            try:
                datasets.append(build())
            except Exception as exc:  # noqa: BLE001 - one bad provider must not hide the rest
                errors.append(f"dataset {name}: {type(exc).__name__}: {exc}")
        return cls(registry, datasets, _devices(), errors)

    def entries(self) -> list[ModelEntry]:
        return sorted(self.registry.models.values(), key=lambda e: (not e.plugin.builtin, e.name))

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
            out.append(
                DatasetChoice(
                    name=d["name"],
                    title=d.get("title", ""),
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
