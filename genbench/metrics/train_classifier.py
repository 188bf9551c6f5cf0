"""Train the feature classifier of one dataset.

    genbench train-classifier DATASET          # any image dataset with labels
    python -m genbench.metrics.train_classifier --dataset fashion-mnist

Trains :class:`~genbench.metrics.classifier.ConvNet` on the training split with
a fixed recipe and seed, measures accuracy once on the test (reference) split
(the recipe is not tuned against it), and writes the weights (float16 tensors,
loadable with ``weights_only=True``) and their card (a JSON file: dataset,
shape, classes, accuracy, seed, recipe, genbench version, checksum). The same
seed, thread count and torch version give the same weights.

``genbench train-classifier`` (genbench.cli.train_classifier) writes into the
user's classifiers folder, where lookup finds it by the dataset's name; this
module's own command line is the maintainers' and writes the shipped weights
beside genbench's code (``weights/<dataset>.pt`` and ``.json``).

Recipe: AdamW (weight decay 1e-4) with a one-cycle learning rate peaking at
3e-3, batch 128, 6 epochs, random horizontal flips as the only augmentation (a
mirrored garment or CIFAR object is the same class; flips are skipped for
digits, and for every dataset genbench does not know: a plugin's classes may
be left and right). No label smoothing and no random shifts: at this size and
budget the net needs fitting more than regularising (docs/experiments.md).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from genbench import __version__
from genbench.data.sampler import to_unit_range
from genbench.errors import UsageError
from genbench.host.threads import cpu_budget, parse_threads
from genbench.metrics.classifier import ARCHITECTURE, MAX_SIZE, MIN_SIZE, WEIGHTS_DIR, ConvNet
from genbench.metrics.reference import load_split

if TYPE_CHECKING:
    from genbench.registry import Registry

# Datasets whose classes survive a mirror (a mirrored 2 is not a 2, so not mnist);
# a plugin's may not (its classes could be "bar on the left" and "on the right").
FLIP = {"fashion-mnist", "cifar10"}


def augment(x: torch.Tensor, generator: torch.Generator, flip: bool) -> torch.Tensor:
    """Mirror half the images left to right (when the dataset allows it)."""
    if not flip:
        return x
    n = len(x)
    mirrored = torch.rand(n, generator=generator) < 0.5
    return torch.where(mirrored.view(n, 1, 1, 1), x.flip(3), x)


@torch.no_grad()
def accuracy(net: ConvNet, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    net.eval()
    correct = sum(
        int((net(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
        for i in range(0, len(x), batch)
    )
    return correct / len(x)


class Settings:
    """torch's process-wide settings that training changes, put back afterwards, so a
    program (or a test) that trains a classifier in-process keeps its own."""

    def __enter__(self) -> Settings:
        self.threads = torch.get_num_threads()
        self.deterministic = torch.are_deterministic_algorithms_enabled()
        return self

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self.threads)
        torch.use_deterministic_algorithms(self.deterministic)


def classes_of(dataset, labels: list) -> int:
    """The number of classes: the dataset's spec, else the largest label + 1."""
    declared = dataset.spec.num_classes
    found = int(max(int(y.max()) for y in labels)) + 1
    return int(declared) if declared else found


def check_trainable(dataset) -> None:
    """A UsageError unless ``dataset`` is images with labels."""
    if dataset.spec.kind != "image":
        raise UsageError(
            f"dataset {dataset.name!r} is 2D points; a feature classifier is "
            "for image datasets (points are measured by their modes)"
        )
    if dataset.spec.num_classes is None:
        raise UsageError(
            f"dataset {dataset.name!r} has no labels (its spec has no "
            "num_classes); a feature classifier learns its classes"
        )


def train(
    dataset_name: str,
    epochs: int,
    seed: int,
    batch_size: int,
    lr: float,
    out_dir: Path,
    threads: int | None,
    log=print,
    *,
    stem: str | None = None,
    command: str | None = None,
    data_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    registry: Registry | None = None,
) -> dict:
    """Train, measure and write ``out_dir/<stem>.pt`` and ``<stem>.json`` (stem
    default: the dataset's name); returns the card. ``progress(done, total)`` is
    called after each training step."""
    from genbench.data import get_dataset

    dataset = get_dataset(dataset_name, data_dir=data_dir, registry=registry)
    check_trainable(dataset)
    # Both splits are read (and checked) before a minute is spent training.
    images_train, labels_train = load_split(dataset, "train")
    images_test, labels_test = load_split(dataset, "test")
    if images_train.shape[1:] != images_test.shape[1:]:
        raise UsageError(
            f"dataset {dataset_name!r}: train images are "
            f"{tuple(images_train.shape[1:])}, test images "
            f"{tuple(images_test.shape[1:])}; the two splits must match"
        )
    channels, height, size = images_train.shape[1:]
    if height != size:
        raise UsageError(
            f"dataset {dataset_name!r} has {height}x{size} images; the classifier takes square ones"
        )
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise UsageError(
            f"{dataset_name} images are {size}x{size}; the classifier takes "
            f"{MIN_SIZE}x{MIN_SIZE} (its three 2x2 poolings) to "
            f"{MAX_SIZE}x{MAX_SIZE}"
        )
    if channels not in (1, 3):
        raise UsageError(
            f"{dataset_name} images have {channels} channels; the classifier takes 1 or 3"
        )
    classes = classes_of(dataset, [labels_train, labels_test])
    if classes < 2:
        raise UsageError(f"dataset {dataset_name!r} has one class; a classifier needs two")
    with Settings():
        return _train(
            dataset_name,
            dataset,
            (images_train, labels_train),
            (images_test, labels_test),
            classes,
            epochs,
            seed,
            batch_size,
            lr,
            out_dir,
            threads,
            log,
            stem or dataset_name,
            command
            or f"python -m genbench.metrics.train_classifier --dataset "
            f"{dataset_name} --epochs {epochs} --seed {seed}",
            progress,
        )


def _train(
    dataset_name,
    dataset,
    train_split,
    test_split,
    classes,
    epochs,
    seed,
    batch_size,
    lr,
    out_dir: Path,
    threads,
    log,
    stem: str,
    command: str,
    progress,
) -> dict:
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    x_train, x_test = to_unit_range(train_split[0]), to_unit_range(test_split[0])
    y_train, y_test = torch.from_numpy(train_split[1]), torch.from_numpy(test_split[1])
    channels, size = x_train.shape[1], x_train.shape[2]

    net = ConvNet(channels, size, classes)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    # A dataset smaller than one batch still takes a step an epoch.
    steps_per_epoch = max(1, len(x_train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch
    )
    gen = torch.Generator().manual_seed(seed)
    flip = dataset_name in FLIP
    started = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            x = augment(x_train[idx], gen, flip)
            loss = F.cross_entropy(net(x), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            if progress is not None:
                progress(epoch * steps_per_epoch + i + 1, epochs * steps_per_epoch)
        log(
            f"epoch {epoch + 1}/{epochs}  loss {total / steps_per_epoch:.4f}  "
            f"{time.perf_counter() - started:.0f} s"
        )
    seconds = time.perf_counter() - started
    net.eval()
    acc = accuracy(net, x_test, y_test)
    train_acc = accuracy(net, x_train[:10000], y_train[:10000])
    log(f"test accuracy {acc:.4f} (train, first 10k: {train_acc:.4f}) after {seconds:.0f} s")

    # float16 halves the file; features are computed in float32 after loading,
    # and the accuracy recorded below is that of the float16 weights.
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
    reloaded = ConvNet(channels, size, classes)
    reloaded.load_state_dict(state)
    acc16 = accuracy(reloaded, x_test, y_test)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    out_dir.mkdir(parents=True, exist_ok=True)
    weights, card_file = out_dir / f"{stem}.pt", out_dir / f"{stem}.json"

    card = {
        "dataset": dataset_name,
        "architecture": ARCHITECTURE,
        "channels": channels,
        "size": size,
        "shape": [channels, size, size],
        "classes": classes,
        "class_names": [str(c) for c in dataset.class_names] if dataset.class_names else None,
        "test_accuracy": round(acc16, 4),
        "test_accuracy_float32": round(acc, 4),
        "test_size": len(x_test),
        "train_size": len(x_train),
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "max_lr": lr,
        "threads": torch.get_num_threads(),
        "train_seconds": round(seconds, 1),
        "torch": torch.__version__,
        "genbench": __version__,
        "created": datetime.now().isoformat(timespec="seconds"),
        "command": command,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    # Each file is written whole under a temporary name and renamed, the card last:
    # an interrupted write leaves the old pair or no card, never a card whose
    # checksum names weights that are not there.
    _write(weights, data)
    _write(card_file, (json.dumps(card, indent=2) + "\n").encode())
    log(
        f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and its card; "
        f"test accuracy {acc16:.4f}"
    )
    return card


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m genbench.metrics.train_classifier",
        description="Train the feature classifier genbench's sample "
        "quality metrics use for one dataset.",
    )
    p.add_argument("--dataset", required=True, help="dataset name, e.g. fashion-mnist")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (one-cycle)")
    p.add_argument(
        "--threads",
        default="1",
        help="CPU threads, at most this machine's CPUs, or auto (default 1: fixed "
        "for determinism, and on a shared machine one thread beats two "
        "oversubscribed ones)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=WEIGHTS_DIR,
        help=f"where to write the weights and card (default {WEIGHTS_DIR})",
    )
    args = p.parse_args(argv)
    try:
        train(
            args.dataset,
            args.epochs,
            args.seed,
            args.batch_size,
            args.lr,
            args.out,
            parse_threads(args.threads) or cpu_budget().cpus,
        )
    except UsageError as exc:
        print(f"train_classifier: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
