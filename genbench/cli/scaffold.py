"""``genbench new-plugin``: write a complete, installable model (or dataset) plugin
package.

The package it writes works as generated: ``pip install -e .`` registers it
through the ``genbench`` entry-point group, ``genbench models`` lists it,
``genbench run --headless --model NAME --dataset ring8`` trains it, and its test
runs ``genbench.testing.check_model``. The model is a small least-squares GAN
with multilayer perceptrons, chosen because it trains on both 2D points and
images and shows every part of the contract in a page of code.

With ``--dataset points`` or ``--dataset image`` it writes a dataset plugin
instead: a ring of Gaussians with its modes (so ``genbench eval`` measures mode
coverage), or labelled images kept on the device; ``genbench datasets`` lists
it, a built-in model trains on it, and its tests run
``genbench.testing.check_dataset`` and a short headless run.

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


# What new-plugin can write: a model, or a dataset of 2D points or of images.
KINDS = ("model", "points", "image")


@dataclass(frozen=True)
class PluginNames:
    distribution: str  # pip name, as given:        genbench-mygan
    package: str  # import name:               genbench_mygan
    model: str  # --model (or --dataset) id and entry point: mygan
    cls: str  # model (or dataset) class name: Mygan

    @classmethod
    def from_name(cls, name: str) -> PluginNames:
        if not _NAME.match(name) or len(name) > 64:
            raise UsageError(
                f"plugin name {name!r} is not valid: use letters, digits and "
                "single - or _ between them, starting with a letter "
                "(e.g. genbench-mygan)"
            )
        package = name.lower().replace("-", "_")
        model = name.lower()
        if model.startswith(_PREFIX) and len(model) > len(_PREFIX):
            model = model[len(_PREFIX) :]
        elif model.startswith("genbench_") and len(model) > len("genbench_"):
            model = model[len("genbench_") :]
        model = model.replace("_", "-")
        cls_name = "".join(part.capitalize() for part in re.split(r"[-_]", model))
        if keyword.iskeyword(package) or package in ("genbench", "genbench_plugins"):
            raise UsageError(
                f"plugin name {name!r} would make the package {package!r}, "
                "which is reserved; pick another name"
            )
        return cls(distribution=name, package=package, model=model, cls=cls_name)


def _check_free(names: PluginNames, target: Path, kind: str = "model") -> None:
    """Refuse names that would shadow something importable, or an occupied folder."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "folder" if target.is_dir() else "file"
        raise UsageError(
            f"{target} already exists and is a non-empty {what}; choose another --dir or remove it"
        )
    try:
        taken = importlib.util.find_spec(names.package) is not None
    except (ImportError, ValueError):
        taken = True
    if taken:
        raise UsageError(
            f"a module named {names.package!r} is already importable here; "
            "pick another plugin name so the two cannot shadow each other"
        )
    from genbench.registry import load_registry  # loads plugins: only once the name is sane

    registry = load_registry()
    if kind != "model":
        from genbench.dataset import BUILTIN_DATASETS

        if (
            names.model in BUILTIN_DATASETS
            or names.model in registry.datasets
            or names.model in registry.dataset_conflicts
        ):
            raise UsageError(
                f"a dataset named {names.model!r} is already installed; pick "
                "another plugin name (see `genbench datasets`)"
            )
        return
    if names.model in registry.models or names.model in registry.conflicts:
        raise UsageError(
            f"a model named {names.model!r} is already installed; pick another "
            "plugin name (see `genbench models`)"
        )


def files_for(names: PluginNames, kind: str = "model") -> dict[str, str]:
    """Relative path -> contents of every file of the new plugin package."""
    major_minor = ".".join(__version__.split(".")[:2])
    values = {
        "dist": names.distribution,
        "pkg": names.package,
        "model": names.model,
        "Class": names.cls,
        "genbench_req": f"genbench>={major_minor}",
    }
    templates = _TEMPLATES if kind == "model" else _dataset_templates(kind)
    return {
        Template(path).substitute(values): Template(text).substitute(values)
        for path, text in templates.items()
    }


def create_plugin(
    name: str, target: Path | None = None, kind: str = "model"
) -> tuple[PluginNames, Path, list[str]]:
    """Write the plugin package for ``name`` into ``target`` (default ./NAME): a
    model plugin, or with ``kind`` "points" or "image" a dataset plugin.

    Returns its names, the folder, and the relative paths written.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown plugin kind {kind!r}; valid: {', '.join(KINDS)}")
    names = PluginNames.from_name(name)
    target = Path(target) if target is not None else Path(name)
    _check_free(names, target, kind)
    files = files_for(names, kind)

    target = target.absolute()
    existed = target.is_dir()  # empty, or _check_free would have refused
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
            staging.chmod(0o777 & ~_umask())  # mkdtemp made it private
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

_PYPROJECT = """\
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
"""

_README = """\
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

Hyperparameters are the fields of `${Class}Config` in `model.py`; set them per run with
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

Edit `src/$pkg/model.py`: keep the class attributes (`Config` among them), `train_step`
(one update, returning detached scalar loss tensors) and `sample` (drawing all
noise from `generator`). Networks and optimisers kept as attributes are
checkpointed automatically; other state goes in `extra_state` /
`load_extra_state`. Rename the model by changing `name` and the entry point in
`pyproject.toml` together, then `pip install -e .` again so the entry point is
updated. The contract and the hooks (including `genbench_datasets`, to ship a
dataset) are described in genbench's docs/plugins.md.
"""

_GITIGNORE = """\
__pycache__/
*.egg-info/
build/
dist/
runs/
.pytest_cache/
"""

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
class ${Class}Config:
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
    # The contract reads the schema from the attribute `Config`. The dataclass has
    # a name of its own so that `config` below can be annotated with it: inside the
    # class body the name Config is this attribute, a variable to a type checker.
    Config = ${Class}Config

    def __init__(self, config: ${Class}Config, spec: DataSpec, device: torch.device):
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
        return self.sample_from(self.latent(n, generator), labels)

    # Optional: the generator as a function of its noise. With these two a run gets
    # latent walks, truncation and `genbench export`.
    normal_latent = True  # latent() draws N(0, I): --truncation may redraw its tails

    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        # All noise from `generator`, so every preview renders the same z.
        return torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)

    def sample_from(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
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


# -- a dataset plugin (new-plugin --dataset points|image) -----------------------------
# The same placeholders; $model is the dataset's name.

_DATA_PYPROJECT = _PYPROJECT.replace(
    'description = "$Class: a generative model plugin for genbench"',
    'description = "$Class: a dataset plugin for genbench"',
).replace(
    "# genbench finds models through this entry-point group: name = module whose\n"
    "# genbench_models() hook returns the model classes.\n"
    "[project.entry-points.genbench]\n"
    '$model = "$pkg.model"\n',
    "# genbench finds plugins through this entry-point group: name = module whose\n"
    "# genbench_datasets() hook returns the datasets.\n"
    "[project.entry-points.genbench]\n"
    '$model = "$pkg.data"\n',
)

_DATA_INIT = '''\
"""$dist: a genbench dataset plugin. The dataset and its hook are in `data.py`."""

__version__ = "0.1.0"
'''

_DATA_README = """\
# $dist

A dataset plugin for genbench, the terminal workbench for generative models: the
dataset `$model` (class `$Class` in `src/$pkg/data.py`):
$$what.

## Install, list, train

```
pip install -e .                       # offline: pip install --no-build-isolation -e .
genbench datasets                      # $model appears, from $dist 0.1.0
genbench run --headless --model gan --dataset $model --steps 2000
genbench eval runs/<id>                $$evalnote
```

## Test

```
pip install -e '.[test]'
pytest
```

`tests/test_data.py` runs `genbench.testing.check_dataset`, which draws batches
as the trainer does and checks their shapes, dtypes, device, range and labels,
seeding and exact resume, then trains a built-in model on the dataset for a few
steps headless.

## Make it yours

Edit `src/$pkg/data.py`. A dataset reads no data when it is built: read or
generate it in `prepare()` or `sampler()`. The sampler draws batches on the
device, and its state makes a resumed run draw the same batches. The whole
contract (labels, modes, `--data-dir`/`--image-size`) is in genbench's
docs/plugins.md.
"""

_POINTS = '''\
"""$Class: five Gaussians on a ring, as a genbench dataset plugin.

A mixture with known modes is the classic test of mode collapse: `means` and
`std` tell genbench where the modes are, so `genbench eval`, the live quality
checks and the collapse alarm measure how many of them a model covers. This is
a starting point written by `genbench new-plugin --dataset points`; change the
modes, keep the contract, which `genbench.testing.check_dataset` checks in
tests/test_data.py.
"""

from __future__ import annotations

import math

import torch

from genbench import DataSpec, Dataset, hookimpl

MODES = 5
RADIUS = 1.0
STD = 0.05


class $Class(Dataset):
    name = "$model"                       # the id on the command line: --dataset $model
    title = "$Class"                      # one line in listings and the form: what the data is
    size = None                           # generated on the fly: --steps, not --epochs

    def __init__(self):
        # Building a dataset must read no data: genbench builds every dataset to
        # list them. The modes: a list of K tuples of D numbers, and their spread.
        self.means = [(RADIUS * math.cos(2 * math.pi * i / MODES),
                       RADIUS * math.sin(2 * math.pi * i / MODES)) for i in range(MODES)]
        self.std = STD
        # Labelled by the mode each point came from, so conditional models train on it.
        self.spec = DataSpec(kind="points", shape=(2,), num_classes=MODES)

    def sampler(self, batch_size, device, seed):
        return RingSampler(self.means, self.std, batch_size, device, seed)


class RingSampler:
    """Draws batches on the device from its own generator, whose state is the
    sampler's: a resumed run draws the batches that would have come next."""

    def __init__(self, means, std, batch_size, device, seed):
        self.means = torch.tensor(means, dtype=torch.float32, device=device)
        self.std, self.batch_size = std, batch_size
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def next(self):
        g, device = self.generator, self.means.device
        # Labels: int64 of shape (B,) on the device, in 0..K-1, as models expect.
        y = torch.randint(0, len(self.means), (self.batch_size,), generator=g, device=device)
        noise = torch.randn(self.batch_size, 2, generator=g, device=device)
        return self.means[y] + self.std * noise, y

    def state_dict(self):
        # Tensors and plain data only: checkpoints load with weights_only=True.
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])


@hookimpl
def genbench_datasets():
    return [$Class()]
'''

_IMAGE = '''\
"""$Class: labelled images of bars, as a genbench dataset plugin.

Each 1-channel image holds one bright bar, horizontal (label 0) or vertical
(label 1), at a random position. The images are made here so the plugin works
as generated; to ship your own data, read it in `load()` instead (from
`self.data_dir`, which `--data-dir` sets) and say where you looked in
`availability()`. This is a starting point written by
`genbench new-plugin --dataset image`; keep the contract, which
`genbench.testing.check_dataset` checks in tests/test_data.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench import Availability, DataSpec, Dataset, hookimpl
from genbench.data.sampler import DeviceBatchSampler, upload

EXAMPLES = 4096
SIDE = 28


class $Class(Dataset):
    name = "$model"                       # the id on the command line: --dataset $model
    title = "$Class"                      # one line in listings and the form: what the data is
    size = EXAMPLES                       # examples per epoch: --epochs counts these
    class_names = ("horizontal", "vertical")

    # genbench passes --data-dir and --image-size to a factory that takes them.
    def __init__(self, data_dir: Path | None = None, image_size: int | None = None):
        # Building a dataset must read no data: genbench builds every dataset to list it.
        self.data_dir = data_dir
        self.image_size = image_size or SIDE
        self.spec = DataSpec(kind="image", shape=(1, self.image_size, self.image_size),
                             num_classes=len(self.class_names))

    def availability(self):
        # Where the data is, or every place looked and how to get it. Made on the fly here.
        return Availability(True, "generated on the fly")

    def load(self):
        """(images (N, 1, S, S) uint8, labels (N,)) in memory, from a fixed seed: the
        same examples for every run, so a resumed run continues on the same data."""
        return self._bars(EXAMPLES, seed=0)

    def load_split(self, split):
        """The held-out "test" split that `genbench eval` and the live checks measure
        samples against (and `genbench train-classifier` checks its accuracy on):
        other examples than load()'s, from another seed. "train" is load()'s."""
        return self._bars(EXAMPLES // 4, seed=1) if split == "test" else None

    def _bars(self, n, seed):
        rng = np.random.default_rng(seed)
        side = self.image_size
        images = np.zeros((n, 1, side, side), dtype=np.uint8)
        labels = rng.integers(0, 2, n)
        where = rng.integers(0, side - 2, n)
        for i, (label, at) in enumerate(zip(labels, where)):
            if label == 0:
                images[i, 0, at:at + 3, :] = 255
            else:
                images[i, 0, :, at:at + 3] = 255
        return images, labels

    def sampler(self, batch_size, device, seed):
        # upload puts the uint8 images (and int64 labels) on the device once; the
        # sampler shuffles epochs there and gives images scaled to [-1, 1].
        images, labels = upload(*self.load(), device)
        return DeviceBatchSampler(images, labels, batch_size, seed)


@hookimpl
def genbench_datasets():
    # The class itself, a callable: genbench builds one per run, passing
    # --data-dir and --image-size.
    return [$Class]
'''

_DATA_TEST = '''\
"""The dataset contract, checked the way genbench uses the dataset."""

import json

from genbench.cli import main
from genbench.testing import check_dataset

from $pkg.data import $Class


def test_contract():
    check_dataset($Class())


def test_a_builtin_model_trains_on_it(tmp_path):
    # genbench finds the dataset through the entry point, so this needs the
    # plugin installed (pip install -e .).
    code = main(["run", "--headless", "--model", "gan", "--dataset", "$model",
                 "--set", "hidden=32", "--steps", "20", "--log-every", "10",
                 "--runs-dir", str(tmp_path), "--name", "r", "--quiet"])
    assert code == 0
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["data"]["plugin"]["distribution"] == "$dist"
'''

_POINTS_TEST = (
    _DATA_TEST
    + """

def test_eval_measures_mode_coverage(tmp_path):
    assert main(["run", "--headless", "--model", "gan", "--dataset", "$model",
                 "--set", "hidden=32", "--steps", "20", "--runs-dir", str(tmp_path),
                 "--name", "r", "--quiet"]) == 0
    assert main(["eval", str(tmp_path / "r"), "--quiet"]) == 0
    record = json.loads((tmp_path / "r" / "eval.json").read_text())
    (covered,) = [m for m in record["metrics"] if m["metric"] == "modes_covered"]
    assert covered["of"] == len($Class().means)     # every mode of the dataset
"""
)


def _dataset_templates(kind: str) -> dict[str, str]:
    points = kind == "points"
    what = (
        "five Gaussians on a ring with known modes, to start from"
        if points
        else "labelled images of horizontal and vertical bars, to start from"
    )
    evalnote = (
        "# modes covered, as on ring8"
        if points
        else "# needs a feature classifier for this dataset, which genbench does "
        "not take from a plugin yet"
    )
    # Filled in before the common placeholders: Template would refuse these names.
    readme = _DATA_README.replace("$$what", what).replace("$$evalnote", evalnote)
    return {
        "pyproject.toml": _DATA_PYPROJECT,
        "README.md": readme,
        ".gitignore": _GITIGNORE,
        "src/$pkg/__init__.py": _DATA_INIT,
        "src/$pkg/data.py": _POINTS if points else _IMAGE,
        "tests/test_data.py": _POINTS_TEST if points else _DATA_TEST,
    }
