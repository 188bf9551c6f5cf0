"""``genbench new-plugin``: write a complete, installable model plugin package.

The package it writes works as generated: ``pip install -e .`` registers it
through the ``genbench`` entry-point group, ``genbench models`` lists it,
``genbench run --headless --model NAME --dataset ring8`` trains it, and its test
runs ``genbench.testing.check_model``. The model is a small least-squares GAN
with multilayer perceptrons, chosen because it trains on both 2D points and
images and shows every part of the contract in a page of code.

Every input is checked before anything is written; the files are written into a
temporary sibling folder and renamed into place, so a failure leaves nothing.
"""

from __future__ import annotations

import importlib.util
import keyword
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from string import Template

from genbench import __version__
from genbench.errors import UsageError

# A distribution name that is also a sensible package name once normalised:
# letters, digits, single - or _ between them, starting with a letter.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*$")
_PREFIX = "genbench-"


@dataclass(frozen=True)
class PluginNames:
    distribution: str    # pip name, as given:        genbench-mygan
    package: str         # import name:               genbench_mygan
    model: str           # --model id and entry point: mygan
    cls: str             # model class name:          Mygan

    @classmethod
    def from_name(cls, name: str) -> "PluginNames":
        if not _NAME.match(name) or len(name) > 64:
            raise UsageError(f"plugin name {name!r} is not valid: use letters, digits and "
                             "single - or _ between them, starting with a letter "
                             "(e.g. genbench-mygan)")
        package = name.lower().replace("-", "_")
        model = name.lower()
        if model.startswith(_PREFIX) and len(model) > len(_PREFIX):
            model = model[len(_PREFIX):]
        elif model.startswith("genbench_") and len(model) > len("genbench_"):
            model = model[len("genbench_"):]
        model = model.replace("_", "-")
        cls_name = "".join(part.capitalize() for part in re.split(r"[-_]", model))
        if keyword.iskeyword(package) or package in ("genbench", "genbench_plugins"):
            raise UsageError(f"plugin name {name!r} would make the package {package!r}, "
                             "which is reserved; pick another name")
        return cls(distribution=name, package=package, model=model, cls=cls_name)


def _check_free(names: PluginNames, target: Path) -> None:
    """Refuse names that would shadow something importable, or an occupied folder."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "folder" if target.is_dir() else "file"
        raise UsageError(f"{target} already exists and is a non-empty {what}; "
                         "choose another --dir or remove it")
    try:
        taken = importlib.util.find_spec(names.package) is not None
    except (ImportError, ValueError):
        taken = True
    if taken:
        raise UsageError(f"a module named {names.package!r} is already importable here; "
                         "pick another plugin name so the two cannot shadow each other")
    from genbench.registry import load_registry   # loads plugins: only once the name is sane

    registry = load_registry()
    if names.model in registry.models or names.model in registry.conflicts:
        raise UsageError(f"a model named {names.model!r} is already installed; pick another "
                         "plugin name (see `genbench models`)")


def files_for(names: PluginNames) -> dict[str, str]:
    """Relative path -> contents of every file of the new plugin package."""
    major_minor = ".".join(__version__.split(".")[:2])
    values = {"dist": names.distribution, "pkg": names.package, "model": names.model,
              "Class": names.cls, "genbench_req": f"genbench>={major_minor}"}
    return {Template(path).substitute(values): Template(text).substitute(values)
            for path, text in _TEMPLATES.items()}


def create_plugin(name: str, target: Path | None = None) -> tuple[PluginNames, Path, list[str]]:
    """Write the plugin package for ``name`` into ``target`` (default ./NAME).

    Returns its names, the folder, and the relative paths written.
    """
    names = PluginNames.from_name(name)
    target = Path(target) if target is not None else Path(name)
    _check_free(names, target)
    files = files_for(names)

    target = target.absolute()
    existed = target.is_dir()           # empty, or _check_free would have refused
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{names.package}-", dir=parent))
    moved: list[Path] = []
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        if existed:
            # Move the entries in rather than renaming over the folder: it may be
            # the shell's current directory (`--dir .`).
            for entry in list(staging.iterdir()):
                os.replace(entry, target / entry.name)
                moved.append(target / entry.name)
            staging.rmdir()
        else:
            staging.chmod(0o777 & ~_umask())   # mkdtemp made it private
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for path in moved:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
        raise
    return names, target, list(files)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- the files -------------------------------------------------------------------
# string.Template placeholders: $dist, $pkg, $model, $Class, $genbench_req.

_PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$Class: a generative model plugin for genbench"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["$genbench_req"]

[project.optional-dependencies]
test = ["pytest>=8"]

# genbench finds models through this entry-point group: name = module whose
# genbench_models() hook returns the model classes.
[project.entry-points.genbench]
$model = "$pkg.model"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

_README = '''\
# $dist

A model plugin for genbench, the terminal workbench for generative models: the model
`$model` (class `$Class` in `src/$pkg/model.py`), a least-squares GAN with
multilayer perceptrons to start from. It trains on 2D points (`ring8`,
`grid25`) and on images of any size.

## Install, list, train

```
pip install -e .                       # offline: pip install --no-build-isolation -e .
genbench models                        # $model appears, with $dist 0.1.0 as its plugin
genbench run --headless --model $model --dataset ring8 --steps 2000
genbench show runs/<id>                # or open `genbench` and watch it in the workbench
```

Hyperparameters are the fields of `Config` in `model.py`; set them per run with
`--set latent_dim=32 --set lr=1e-4`.

## Test

```
pip install -e '.[test]'
pytest
```

`tests/test_model.py` runs `genbench.testing.check_model`, which checks the
whole plugin contract (config schema, loss tensors, sample shape and range,
seeded sampling, exact save/load and determinism) on tiny random data, and
trains the model for a few steps headless as genbench would.

## Make it yours

Edit `src/$pkg/model.py`: keep the class attributes, `Config`, `train_step`
(one update, returning detached scalar loss tensors) and `sample` (drawing all
noise from `generator`). Networks and optimisers kept as attributes are
checkpointed automatically; other state goes in `extra_state` /
`load_extra_state`. Rename the model by changing `name` and the entry point in
`pyproject.toml` together, then `pip install -e .` again so the entry point is
updated. The contract and the hooks (including `genbench_datasets`, to ship a
dataset) are described in genbench's docs/plugins.md.
'''

_GITIGNORE = '''\
__pycache__/
*.egg-info/
build/
dist/
runs/
.pytest_cache/
'''

_INIT = '''\
"""$dist: a genbench model plugin. The model and its hook are in `model.py`."""

__version__ = "0.1.0"
'''

_MODEL = '''\
"""$Class: a least-squares GAN with multilayer perceptrons, as a genbench plugin.

Mao et al. 2017, "Least Squares Generative Adversarial Networks": the
discriminator regresses real examples to 1 and generated ones to 0 with a
squared error, and the generator pulls its samples' scores towards 1:

    L_D = 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]
    L_G = 1/2 E[(D(G(z)) - 1)^2]

Both networks are small MLPs, so it trains on 2D points and on images
(flattened). This is a starting point written by `genbench new-plugin`:
replace the networks and the update rule; keep the contract, which
`genbench.testing.check_model` checks in tests/test_model.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genbench import DataSpec, GenerativeModel, hookimpl, param


@dataclass
class Config:
    # Every field needs a default and one line of help; types bool, int, float
    # or str. This dataclass is the schema for `--set`, the workbench's form and
    # the config recorded in run.json.
    latent_dim: int = param(16, "size of the noise vector z", min=1)
    hidden: int = param(256, "units in each hidden layer of both networks", min=1)
    lr: float = param(2e-4, "Adam learning rate of both networks", min=0.0)
    beta1: float = param(0.5, "Adam beta1", min=0.0, max=1.0)


def mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, n_out))


class $Class(GenerativeModel):
    name = "$model"                      # the id on the command line: --model $model
    title = "$Class (least-squares GAN, MLP)"
    summary = "A least-squares GAN with multilayer perceptrons, made by genbench new-plugin."
    paper = "Mao et al. 2017, Least Squares Generative Adversarial Networks"
    kinds = frozenset({"points", "image"})   # the data kinds it can train on
    conditional = False                  # True: train_step gets labels, sample() takes them
    Config = Config

    def __init__(self, config: Config, spec: DataSpec, device: torch.device):
        super().__init__(config, spec, device)
        # Networks and optimisers kept as attributes are saved and restored by
        # the default state_dict()/load_state_dict(); other state (counters,
        # schedules) goes in extra_state()/load_extra_state().
        self.G = mlp(config.latent_dim, config.hidden, spec.dim).to(device)
        self.D = mlp(spec.dim, config.hidden, 1).to(device)
        betas = (config.beta1, 0.999)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr, betas=betas)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        out = self.G(z).view(len(z), *self.spec.shape)
        # Images are scaled to [-1, 1] by the workbench, so end with tanh;
        # points are unbounded.
        return torch.tanh(out) if self.spec.kind == "image" else out

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(x.flatten(1)).squeeze(1)

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None = None):
        # Training noise comes from torch's global generator: the trainer seeds
        # it and saves it in checkpoints, so a resumed run continues exactly.
        z = torch.randn(len(x), self.config.latent_dim, device=self.device)
        fake = self.generate(z)

        d_loss = 0.5 * ((self.score(x) - 1).square().mean()
                        + self.score(fake.detach()).square().mean())
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        # This backward also leaves gradients on D; opt_d.zero_grad clears them
        # before D's next update, and opt_g only steps G.
        g_loss = 0.5 * (self.score(fake) - 1).square().mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()

        # Detached tensors, never .item(): reading a number would make the host
        # wait for the GPU on every step. The trainer reads them once per interval.
        return {"d": d_loss.detach(), "g": g_loss.detach()}

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        # All noise from `generator`, so every preview renders the same z.
        z = torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)
        return self.generate(z)


@hookimpl
def genbench_models():
    return [$Class]
'''

_TEST = '''\
"""The plugin contract, checked the way genbench checks its own models."""

import json

from genbench import DataSpec
from genbench.cli import main
from genbench.testing import check_model

from $pkg.model import $Class


def test_contract_on_points():
    check_model($Class, DataSpec("points", (2,), 8))


def test_contract_on_images():
    # A narrower network keeps the check fast; the defaults are checked above.
    check_model($Class, DataSpec("image", (1, 28, 28), 10), config={"hidden": 32})


def test_trains_headless_in_the_workbench(tmp_path):
    # genbench finds the model through the entry point, so this needs the
    # plugin installed (pip install -e .).
    code = main(["run", "--headless", "--model", "$model", "--dataset", "ring8",
                 "--steps", "20", "--log-every", "10", "--runs-dir", str(tmp_path),
                 "--quiet"])
    assert code == 0
    (run_json,) = tmp_path.glob("*/run.json")
    assert json.loads(run_json.read_text())["plugin"]["distribution"] == "$dist"
'''

_TEMPLATES: dict[str, str] = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    ".gitignore": _GITIGNORE,
    "src/$pkg/__init__.py": _INIT,
    "src/$pkg/model.py": _MODEL,
    "tests/test_model.py": _TEST,
}
