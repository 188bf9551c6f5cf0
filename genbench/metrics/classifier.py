"""The small classifiers whose last convolutional layer is genbench's feature space.

FID measures distances in the pool3 layer of an ImageNet Inception network (its
last convolutional features, averaged over positions), whose weights must be
downloaded and which has never seen a garment or a digit. genbench instead
ships, per dataset, a small convolutional classifier trained on that dataset's
training split (``python -m genbench.metrics.train_classifier``). The same
layer of it, the last conv block averaged over positions (128 numbers), is the
feature space of FD, KID and precision / recall; its predictions give class
coverage. Numbers measured this way are comparable with each other (same
classifier id), not with published Inception FIDs, and every report names the
classifier it used.

Why not the 128-unit fully connected layer before the logits? It is trained
to sort everything into the ten classes, and it does so with noise too: on
Fashion-MNIST, images of uniform noise land inside the real test set's k-NN
manifold there (precision 0.90 against 10,000 test images) while in the pooled
conv features their precision is 0.00, and blurred or noised images fall
off the manifold in proportion to the damage. FD and KID order damage
correctly in both spaces.

Shipped weights live in ``genbench/metrics/weights/<dataset>.pt`` beside a JSON
card (``<dataset>.json``: architecture id, test accuracy, seed, training
settings). Any other image dataset with labels and a reference split (a
plugin's, or a built-in one genbench ships no classifier for) gets one from
``genbench train-classifier DATASET``, written to the user's classifiers folder
(:func:`user_dir`: ``$GENBENCH_CLASSIFIERS``, else ``classifiers/`` in the user
data folder) as ``<dataset>/classifier.pt`` and ``<dataset>/classifier.json``.
A dataset's classifier is looked up by its name, shipped weights first (so the
figures of a built-in dataset stay comparable between users), then the user's.

Either file may have been replaced or damaged since it was written, so both are
read as untrusted input: the card's size is capped and every field checked, the
weights must match the card's checksum and be no larger than the network the
card describes, they load with ``torch.load(weights_only=True)``, and the
card's channels and classes must be the dataset's. Each problem is one line.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genbench.errors import UsageError, one_line

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
ENV = "GENBENCH_CLASSIFIERS"  # overrides the user's classifiers folder
USER_WEIGHTS, USER_CARD = "classifier.pt", "classifier.json"
CARD_MAX = 64 << 10  # a card is under 2 KB; a bigger one is not a card
MIN_SIZE, MAX_SIZE = 8, 512  # three 2x2 poolings need 8; 512 keeps the net < 0.6 GB
MAX_CLASSES = 10_000
ARCHITECTURE = "convnet3-128-v2"  # bump when the network below changes
FEATURE_LAYER = "conv3-avg"  # which activations are the features (part of the id)
FEATURE_DIM = 128


class ConvNet(nn.Module):
    """Three conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool rounding up, so
    28 -> 14 -> 7 -> 4 keeps the last row and column) of 32, 64 and 128 channels,
    then a 128-unit hidden layer, then the class logits.

    Features are the last block's 128 channels averaged over positions (see the
    module docstring). It is small enough to train in minutes on two CPU cores.
    """

    def __init__(self, channels: int, size: int, classes: int):
        super().__init__()
        self.channels, self.size, self.classes = channels, size, classes

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            )

        self.conv = nn.Sequential(block(channels, 32), block(32, 64), block(64, 128))
        side = size
        for _ in range(3):
            side = (side + 1) // 2  # ceil_mode pooling: 28 -> 14 -> 7 -> 4
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * side * side, FEATURE_DIM), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(FEATURE_DIM, classes)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (N, 128), class logits) of images in [-1, 1], in one pass."""
        c = self.conv(x)
        return c.mean((2, 3)), self.head(self.dropout(self.hidden(c)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.hidden(self.conv(x))))


@dataclass(frozen=True)
class ClassifierCard:
    """What the JSON beside the weights says."""

    dataset: str
    architecture: str
    channels: int
    size: int
    classes: int
    accuracy: float  # on the dataset's test (reference) split
    seed: int
    sha256: str  # of the .pt file, so a report pins the exact weights
    source: str = "shipped"  # "shipped" with genbench, or "user" (train-classifier)

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.architecture}/{FEATURE_LAYER}@{self.sha256[:8]}"

    def describe(self) -> dict:
        return {
            "id": self.id,
            "dataset": self.dataset,
            "architecture": self.architecture,
            "features": FEATURE_LAYER,
            "test_accuracy": self.accuracy,
            "seed": self.seed,
            "source": self.source,
        }


@dataclass(frozen=True)
class Located:
    """Where a dataset's classifier was found."""

    weights: Path
    card: Path
    source: str  # "shipped" or "user"


def _plain(dataset: str) -> bool:
    # Names that can be a file name: a built-in's, or a plugin's (one word without
    # ':' or '/'); "folder:/some/path" never names a file here.
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}", dataset) is not None


def _name(dataset: Any) -> str:
    return dataset if isinstance(dataset, str) else str(dataset.name)


def user_dir() -> Path:
    """The user's classifiers folder: ``$GENBENCH_CLASSIFIERS``, else ``classifiers``
    in genbench's user data folder (never inside the installed package, which may
    be read-only and is replaced on upgrade)."""
    env = os.environ.get(ENV)
    if env:
        return Path(os.path.abspath(Path(env).expanduser()))
    from genbench.data.locate import user_data_dir

    return user_data_dir() / "classifiers"


def user_paths(dataset: str) -> tuple[Path, Path]:
    """(weights, card) of ``dataset``'s classifier in the user's folder."""
    folder = user_dir() / dataset
    return folder / USER_WEIGHTS, folder / USER_CARD


def locate(dataset: Any) -> Located | None:
    """The classifier of ``dataset`` (a name or a Dataset): shipped first, then the
    user's; None when neither has both files."""
    name = _name(dataset)
    if not _plain(name):
        return None
    shipped = Located(WEIGHTS_DIR / f"{name}.pt", WEIGHTS_DIR / f"{name}.json", "shipped")
    if shipped.weights.is_file() and shipped.card.is_file():
        return shipped
    weights, card = user_paths(name)
    if weights.is_file() and card.is_file():
        return Located(weights, card, "user")
    return None


def weights_path(dataset: str) -> Path:
    """The weights file of ``dataset``'s classifier (the shipped one's place if none)."""
    found = locate(dataset)
    return found.weights if found else WEIGHTS_DIR / f"{dataset}.pt"


def card_path(dataset: str) -> Path:
    found = locate(dataset)
    return found.card if found else WEIGHTS_DIR / f"{dataset}.json"


def available() -> list[str]:
    """Datasets with a classifier: shipped, or trained into the user's folder."""
    names = {p.stem for p in WEIGHTS_DIR.glob("*.pt") if (WEIGHTS_DIR / f"{p.stem}.json").is_file()}
    root = user_dir()
    if root.is_dir():
        names |= {
            p.name
            for p in root.iterdir()
            if _plain(p.name) and (p / USER_WEIGHTS).is_file() and (p / USER_CARD).is_file()
        }
    return sorted(names)


def has_classifier(dataset: Any) -> bool:
    """Whether ``dataset`` (a name or a Dataset) has a classifier (not yet checked)."""
    return locate(dataset) is not None


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_command(dataset: str) -> str:
    """The command that trains ``dataset``'s classifier, to paste into a shell."""
    return f"genbench train-classifier {shlex.quote(dataset)}"


def _missing(name: str) -> UsageError:
    if not _plain(name):
        return UsageError(
            f"no feature classifier for {name!r}: classifiers are found by a "
            "dataset's name, so FD and class coverage need a named image "
            "dataset with labels (a built-in one or a plugin's)"
        )
    have = ", ".join(available()) or "none"
    return UsageError(
        f"no feature classifier for dataset {name!r} (classifiers: {have}); "
        f"train one with `{train_command(name)}` (it writes to "
        f"{user_dir() / name})"
    )


def _field(raw: dict, key: str, kind: type, where: Path, ok=lambda v: True, want: str = ""):
    value = raw.get(key)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, kind) or not ok(value):
        raise UsageError(
            f"classifier card {where}: `{key}` is {value!r:.60}; expected {want or kind.__name__}"
        )
    return value


def _resolve(name: str):
    """The built-in dataset called ``name``, to check a card against; None if unknown."""
    from genbench.data import get_dataset

    try:
        return get_dataset(name)
    except UsageError:
        return None


def read_card(dataset: Any) -> ClassifierCard:
    """The validated card of ``dataset``'s classifier (a name or a Dataset).

    The card's channels and classes are checked against the dataset: the one given,
    or for a name, the built-in dataset of that name (a plugin's dataset is known to
    the command's registry: give the Dataset)."""
    name = _name(dataset)
    found = locate(name)
    if found is None:
        raise _missing(name)
    from genbench.runfolder.untrusted import read_json

    path = found.card
    raw = read_json(path, CARD_MAX)
    if not isinstance(raw, dict):
        raise UsageError(f"classifier card {path} is not a JSON object")
    card = ClassifierCard(
        dataset=_field(raw, "dataset", str, path, lambda v: v == name, f"{name!r}"),
        architecture=_field(raw, "architecture", str, path, lambda v: len(v) <= 100),
        channels=_field(raw, "channels", int, path, lambda v: v in (1, 3), "1 or 3"),
        size=_field(
            raw,
            "size",
            int,
            path,
            lambda v: MIN_SIZE <= v <= MAX_SIZE,
            f"an integer from {MIN_SIZE} to {MAX_SIZE}",
        ),
        classes=_field(
            raw,
            "classes",
            int,
            path,
            lambda v: 2 <= v <= MAX_CLASSES,
            f"an integer from 2 to {MAX_CLASSES}",
        ),
        accuracy=_field(
            raw, "test_accuracy", float, path, lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1"
        ),
        seed=_field(raw, "seed", int, path, lambda v: v >= 0, "a whole number"),
        sha256=_field(
            raw,
            "sha256",
            str,
            path,
            lambda v: re.fullmatch(r"[0-9a-f]{64}", v) is not None,
            "64 hexadecimal digits",
        ),
        source=found.source,
    )
    target = _resolve(name) if isinstance(dataset, str) else dataset
    spec = getattr(target, "spec", None)
    if spec is not None:
        fix = (
            "reinstall genbench"
            if found.source == "shipped"
            else f"retrain it with `{train_command(name)}`"
        )
        if spec.kind != "image":
            raise UsageError(
                f"dataset {name!r} is {spec.kind}, not images; the classifier "
                f"in {path} cannot measure it"
            )
        if spec.num_classes is not None and spec.num_classes != card.classes:
            raise UsageError(
                f"classifier card {path} says {card.classes} classes; dataset "
                f"{name!r} has {spec.num_classes}: {fix}"
            )
        if spec.shape[0] != card.channels:
            raise UsageError(
                f"classifier card {path} says {card.channels} channels; dataset "
                f"{name!r} has {spec.shape[0]}: {fix}"
            )
    return card


def _nbytes(net: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in net.state_dict().values())


class FeatureClassifier:
    """A loaded classifier: features and predicted classes for batches of images.

    Images of another size than the classifier's (a run trained at 32x32 on
    28x28 data) are resized with antialiasing to the classifier's size, the same
    for real and generated images.
    """

    def __init__(self, card: ClassifierCard, net: ConvNet, device: torch.device):
        self.card, self.net, self.device = card, net.eval().to(device), device

    @classmethod
    def load(cls, dataset: Any, device: torch.device | str = "cpu") -> FeatureClassifier:
        """The classifier of ``dataset`` (a name or a Dataset), checked (see the module
        docstring); UsageError, one line, for anything wrong."""
        name = _name(dataset)
        card = read_card(dataset)
        found = locate(name)
        assert found is not None  # read_card found it
        fix = (
            "reinstall genbench"
            if found.source == "shipped"
            else f"retrain it with `{train_command(name)}`"
        )
        if card.architecture != ARCHITECTURE:
            raise UsageError(
                f"classifier for {name!r} is {card.architecture!r}; this genbench "
                f"builds {ARCHITECTURE!r}; {fix}"
            )
        net = ConvNet(card.channels, card.size, card.classes)
        from genbench.runfolder.untrusted import read_bytes

        path = found.weights
        # Written as float16 (train_classifier); a float32 copy plus torch's framing
        # is the most a genuine file can be.
        data = read_bytes(path, 2 * _nbytes(net) + (1 << 20))
        if hashlib.sha256(data).hexdigest() != card.sha256:
            raise UsageError(f"{path} does not match the checksum in {found.card}; {fix}")
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except Exception as exc:  # noqa: BLE001 - any unloadable file is one line
            raise UsageError(
                f"{path} does not hold the weights its card describes "
                f"({one_line(exc)[:200]}); {fix}"
            ) from None
        return cls(card, net, torch.device(device))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, torch.float32)
        if x.shape[1] != self.card.channels:
            if x.shape[1] == 3 and self.card.channels == 1:  # ITU-R 601 luma
                x = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, True)
            elif x.shape[1] == 1:
                x = x.expand(-1, self.card.channels, -1, -1)
            else:
                raise UsageError(
                    f"images have {x.shape[1]} channels; classifier "
                    f"{self.card.id} takes {self.card.channels}"
                )
        if x.shape[-2:] != (self.card.size, self.card.size):
            x = F.interpolate(
                x,
                size=(self.card.size, self.card.size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
        return x.clamp(-1, 1)

    @torch.no_grad()
    def __call__(
        self, images: torch.Tensor, batch_size: int = 500
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(features float64 on the CPU (N, 128), predicted classes (N,)) of ``images``."""
        feats, preds = [], []
        for i in range(0, len(images), batch_size):
            f, logits = self.net.features_and_logits(self.prepare(images[i : i + batch_size]))
            feats.append(f.double().cpu())
            preds.append(logits.argmax(1).cpu())
        if not feats:
            return (
                torch.zeros(0, FEATURE_DIM, dtype=torch.float64),
                torch.zeros(0, dtype=torch.long),
            )
        return torch.cat(feats), torch.cat(preds)
