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

Weights live in ``genbench/metrics/weights/<dataset>.pt`` beside a JSON card
(``<dataset>.json``: architecture id, test accuracy, seed, training settings).
They hold tensors only and load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genbench.errors import UsageError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
ARCHITECTURE = "convnet3-128-v2"    # bump when the network below changes
FEATURE_LAYER = "conv3-avg"         # which activations are the features (part of the id)
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
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                 nn.MaxPool2d(2, ceil_mode=True))

        self.conv = nn.Sequential(block(channels, 32), block(32, 64), block(64, 128))
        side = size
        for _ in range(3):
            side = (side + 1) // 2      # ceil_mode pooling: 28 -> 14 -> 7 -> 4
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(128 * side * side, FEATURE_DIM),
                                    nn.ReLU(inplace=True))
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
    accuracy: float        # on the dataset's test split
    seed: int
    sha256: str            # of the .pt file, so a report pins the exact weights

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.architecture}/{FEATURE_LAYER}@{self.sha256[:8]}"

    def describe(self) -> dict:
        return {"id": self.id, "dataset": self.dataset, "architecture": self.architecture,
                "features": FEATURE_LAYER, "test_accuracy": self.accuracy, "seed": self.seed}


def _plain(dataset: str) -> bool:
    # Built-in dataset names only: "folder:/some/path" never names a file here.
    return re.fullmatch(r"[a-z0-9][a-z0-9_-]*", dataset) is not None


def weights_path(dataset: str) -> Path:
    return WEIGHTS_DIR / f"{dataset}.pt"


def card_path(dataset: str) -> Path:
    return WEIGHTS_DIR / f"{dataset}.json"


def available() -> list[str]:
    """Datasets with a shipped classifier."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt") if card_path(p.stem).is_file())


def has_classifier(dataset: str) -> bool:
    return _plain(dataset) and weights_path(dataset).is_file() and card_path(dataset).is_file()


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_card(dataset: str) -> ClassifierCard:
    if not has_classifier(dataset):
        have = ", ".join(available()) or "none"
        raise UsageError(f"no feature classifier for dataset {dataset!r} (classifiers: {have}); "
                         f"train one with `python -m genbench.metrics.train_classifier "
                         f"--dataset {dataset}`")
    raw = json.loads(card_path(dataset).read_text())
    return ClassifierCard(dataset=raw["dataset"], architecture=raw["architecture"],
                          channels=int(raw["channels"]), size=int(raw["size"]),
                          classes=int(raw["classes"]), accuracy=float(raw["test_accuracy"]),
                          seed=int(raw["seed"]), sha256=raw["sha256"])


class FeatureClassifier:
    """A loaded classifier: features and predicted classes for batches of images.

    Images of another size than the classifier's (a run trained at 32x32 on
    28x28 data) are resized with antialiasing to the classifier's size, the same
    for real and generated images.
    """

    def __init__(self, card: ClassifierCard, net: ConvNet, device: torch.device):
        self.card, self.net, self.device = card, net.eval().to(device), device

    @classmethod
    def load(cls, dataset: str, device: torch.device | str = "cpu") -> "FeatureClassifier":
        card = read_card(dataset)
        if card.architecture != ARCHITECTURE:
            raise UsageError(f"classifier for {dataset!r} is {card.architecture!r}; this genbench "
                             f"builds {ARCHITECTURE!r}; retrain it with "
                             f"`python -m genbench.metrics.train_classifier --dataset {dataset}`")
        path = weights_path(dataset)
        if sha256(path) != card.sha256:
            raise UsageError(f"{path} does not match the checksum in {card_path(dataset)}; "
                             "retrain or reinstall it")
        net = ConvNet(card.channels, card.size, card.classes)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return cls(card, net, torch.device(device))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, torch.float32)
        if x.shape[1] != self.card.channels:
            if x.shape[1] == 3 and self.card.channels == 1:    # ITU-R 601 luma
                x = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, True)
            elif x.shape[1] == 1:
                x = x.expand(-1, self.card.channels, -1, -1)
            else:
                raise UsageError(f"images have {x.shape[1]} channels; classifier "
                                 f"{self.card.id} takes {self.card.channels}")
        if x.shape[-2:] != (self.card.size, self.card.size):
            x = F.interpolate(x, size=(self.card.size, self.card.size), mode="bilinear",
                              antialias=True, align_corners=False)
        return x.clamp(-1, 1)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch_size: int = 500
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """(features float64 on the CPU (N, 128), predicted classes (N,)) of ``images``."""
        feats, preds = [], []
        for i in range(0, len(images), batch_size):
            f, logits = self.net.features_and_logits(self.prepare(images[i:i + batch_size]))
            feats.append(f.double().cpu())
            preds.append(logits.argmax(1).cpu())
        if not feats:
            return (torch.zeros(0, FEATURE_DIM, dtype=torch.float64),
                    torch.zeros(0, dtype=torch.long))
        return torch.cat(feats), torch.cat(preds)
