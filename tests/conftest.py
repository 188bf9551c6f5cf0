"""Shared fixtures: temporary run folders and throwaway plugin distributions."""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test runs in its own folder with no stray plugin filter or runs dir."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GENBENCH_PLUGINS", raising=False)
    monkeypatch.delenv("GENBENCH_RUNS", raising=False)


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    return tmp_path / "runs"


class PluginSite:
    """A folder on sys.path holding throwaway plugin distributions (dist-info + module),
    found by importlib.metadata exactly like a pip-installed plugin."""

    def __init__(self, root: Path, monkeypatch):
        self.root = root
        root.mkdir(exist_ok=True)
        monkeypatch.syspath_prepend(str(root))
        self.modules: list[str] = []

    def add(self, dist: str, source: str, version: str = "1.0", ep_name: str | None = None) -> str:
        """Install a distribution whose one module is ``source``; returns the module name."""
        module = f"gbtest_{dist.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[genbench]\n{ep_name or dist} = {module}\n")
        self.modules.append(module)
        return module

    def env(self) -> dict:
        """Environment for a child process that should see these plugins."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(self.root), env.get("PYTHONPATH", "")])
        return env

    def cleanup(self) -> None:
        for m in self.modules:
            sys.modules.pop(m, None)


@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    site = PluginSite(tmp_path / "site", monkeypatch)
    yield site
    site.cleanup()


# A tiny model for tests of the trainer itself: one linear map trained towards
# the data mean. NAN_AT makes it return a NaN loss from that step on.
TOY_MODEL = '''
from dataclasses import dataclass
import torch
from genbench import GenerativeModel, hookimpl, param

@dataclass
class Config:
    lr: float = param(0.1, "learning rate", min=0.0)
    nan_at: int = param(0, "return a NaN loss from this step on (0: never)", min=0)

class Toy(GenerativeModel):
    name = "{name}"
    title = "Toy"
    kinds = frozenset({{"points"}})
    conditional = {conditional}
    Config = Config

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        self.net = torch.nn.Linear(spec.dim, spec.dim).to(device)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=config.lr)
        self.steps = 0

    def train_step(self, x, y=None):
        self.steps += 1
        loss = (self.net(torch.randn_like(x)) - x).pow(2).mean()
        self.opt.zero_grad(); loss.backward(); self.opt.step()
        if self.config.nan_at and self.steps >= self.config.nan_at:
            loss = loss * float("nan")
        return {{"mse": loss.detach()}}

    def sample(self, n, labels=None, generator=None):
        with torch.no_grad():
            return self.net(torch.randn(n, self.spec.dim, generator=generator, device=self.device))

    def extra_state(self):
        return {{"steps": self.steps}}

    def load_extra_state(self, state):
        self.steps = state["steps"]

@hookimpl
def genbench_models():
    return [Toy]
'''


def toy_model_source(name: str = "toy", conditional: bool = False) -> str:
    return TOY_MODEL.format(name=name, conditional=conditional)
