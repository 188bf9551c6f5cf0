"""Shared fixtures: temporary run folders and throwaway plugin distributions."""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# --- The device switch: GENBENCH_TEST_DEVICE=cuda pytest runs the suite on a GPU. ---
#
# Most tests train through `genbench run` with no --device, and `auto` picks cuda
# when there is one, so on a GPU machine they exercise the CUDA path as they are;
# tests that pin --device cpu (gloo, the CPU sampler's own checks) stay on the CPU.
# The switch only makes that explicit: set to cuda it checks that the
# device exists (every test is skipped, with the reason, where it does not), makes
# cuBLAS and cuDNN deterministic for the tests that compare two runs, and marks the
# tests whose bit-exact promise is made for the CPU only as expected failures that
# may pass (xfail, not strict: on a GPU they still run and report XPASS/XFAIL).
# Unset (CI) or cpu: nothing here runs and torch is not imported.
TEST_DEVICE = os.environ.get("GENBENCH_TEST_DEVICE", "").strip()

# Bit-exact comparisons of two trainings (a run stopped and resumed against one
# trained straight through). docs/training.md promises this "on CPU".
CPU_EXACT = {
    "tests/training/test_headless_run.py::test_stopped_and_resumed_run_logs_exactly_what_an_uninterrupted_run_logs",
    "tests/metrics/test_metrics.py::test_exact_resume_holds_with_live_evaluation",
}


def _cuda_problem(name: str) -> str | None:
    """Why the suite cannot run on ``name``, or None when it can."""
    if name != "cuda":
        raise pytest.UsageError(
            f"GENBENCH_TEST_DEVICE={name!r}: valid values are cpu and cuda "
            f"(choose the GPU with CUDA_VISIBLE_DEVICES)"
        )
    import torch

    if not torch.cuda.is_available():
        return (
            f"GENBENCH_TEST_DEVICE=cuda but torch {torch.__version__} sees no CUDA device "
            f"(torch.cuda.is_available() is False)"
        )
    return None


def pytest_configure(config):
    if TEST_DEVICE in ("", "cpu"):
        return
    config._genbench_cuda_problem = _cuda_problem(TEST_DEVICE)
    if config._genbench_cuda_problem is None:
        # Before any CUDA context: deterministic cuBLAS in this process and its children.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch

        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def pytest_report_header(config):
    if TEST_DEVICE in ("", "cpu"):
        return None
    problem = getattr(config, "_genbench_cuda_problem", None)
    if problem:
        return f"genbench test device: none ({problem}); every test skipped"
    import torch

    return (
        f"genbench test device: {TEST_DEVICE} ({torch.cuda.get_device_name(0)}), "
        f"torch {torch.__version__}"
    )


def pytest_collection_modifyitems(config, items):
    if TEST_DEVICE in ("", "cpu"):
        return
    problem = getattr(config, "_genbench_cuda_problem", None)
    for item in items:
        if problem:
            item.add_marker(pytest.mark.skip(reason=problem))
        elif item.nodeid.split("[")[0] in CPU_EXACT:
            item.add_marker(
                pytest.mark.xfail(
                    strict=False,
                    reason="bit-exact resume is promised on CPU (docs/training.md); on CUDA "
                    "some kernels may round differently between two runs",
                )
            )


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test runs in its own folder with no stray plugin filter or runs dir, no
    classifiers a developer trained into their own user folder, and a cache of its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GENBENCH_PLUGINS", raising=False)
    monkeypatch.delenv("GENBENCH_RUNS", raising=False)
    monkeypatch.setenv("GENBENCH_CLASSIFIERS", str(tmp_path / "user-classifiers"))
    # `genbench models` keeps its listing in the cache folder (genbench.listing_cache)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


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
TOY_MODEL = """
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
"""


def toy_model_source(name: str = "toy", conditional: bool = False) -> str:
    return TOY_MODEL.format(name=name, conditional=conditional)
