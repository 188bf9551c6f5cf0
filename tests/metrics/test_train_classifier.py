"""A plugin's image dataset is evaluated like ours (#15): it gives a reference split
(`load_split`), `genbench train-classifier` trains its feature classifier into the
user's classifiers folder, lookup finds it by name, a damaged card or weights file
is refused in one line, and `genbench eval` of a run on it gives FD and classes
covered."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import torch

from genbench.cli import main
from genbench.errors import UsageError

# Four classes of 16x16 bars: horizontal in the top or bottom half, vertical in the
# left or right half (mirror images of each other: no flips for a plugin's data).
BARS_PLUGIN = """
import numpy as np
from genbench import DataSpec, Dataset, hookimpl
from genbench.data.sampler import DeviceBatchSampler, upload

SIDE = 16


def bars(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = np.zeros((n, 1, SIDE, SIDE), dtype=np.uint8)
    for i, (y, at) in enumerate(zip(labels, rng.integers(0, SIDE // 2 - 2, n))):
        at += SIDE // 2 if y % 2 else 0
        if y < 2:
            images[i, 0, at:at + 2, :] = 255
        else:
            images[i, 0, :, at:at + 2] = 255
    return images, labels


class Bars(Dataset):
    title, size = "Bars in four places", 320
    class_names = ("top", "bottom", "left", "right")

    def __init__(self, name="bars4", test=True, labels=True):
        self.name, self.test = name, test
        self.spec = DataSpec(kind="image", shape=(1, SIDE, SIDE),
                             num_classes=4 if labels else None)

    def load_split(self, split):
        if split == "test":
            return bars(160, 1) if self.test else None
        return bars(320, 0)

    def sampler(self, batch_size, device, seed):
        return DeviceBatchSampler(*upload(*bars(320, 0), device), batch_size, seed)


class Dots(Dataset):
    name, title, size = "dots2", "Two dots", None

    def __init__(self):
        self.spec = DataSpec(kind="points", shape=(2,), num_classes=2)


@hookimpl
def genbench_datasets():
    return [Bars(), Bars("bars-noref", test=False), Bars("bars-nolabels", labels=False),
            Dots()]
"""


@pytest.fixture
def classifiers(tmp_path, monkeypatch, plugin_site):
    plugin_site.add("gb-bars", BARS_PLUGIN)
    folder = tmp_path / "classifiers"
    monkeypatch.setenv("GENBENCH_CLASSIFIERS", str(folder))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return folder


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_plugin_image_dataset_gets_a_classifier_and_its_runs_are_evaluated(
    classifiers, capsys, runs_dir
):
    from genbench.data import get_dataset
    from genbench.metrics.classifier import FeatureClassifier, locate
    from genbench.registry import load_registry

    # A plugin's dataset is known to a registry; the classifier is checked against it.
    bars4 = get_dataset("bars4", registry=load_registry())
    assert (
        main(
            [
                "run",
                "--headless",
                "--model",
                "gan",
                "--dataset",
                "bars4",
                "--steps",
                "20",
                "--set",
                "hidden=16",
                "--threads",
                "1",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "b",
                "--quiet",
            ]
        )
        == 0
    )
    run = str(runs_dir / "b")
    capsys.readouterr()
    # Before the classifier exists, eval names the exact command that makes it.
    assert main(["eval", run, "-n", "200"]) == 2
    err = one_error_line(capsys)
    assert "no feature classifier for dataset 'bars4'" in err
    assert "train one with `genbench train-classifier bars4`" in err

    assert main(["train-classifier", "bars4", "--epochs", "1", "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # no progress when stderr is not a terminal
    assert "classifier for 'bars4':" in captured.out and "160 test images" in captured.out
    weights, card_file = (
        classifiers / "bars4" / "classifier.pt",
        classifiers / "bars4" / "classifier.json",
    )
    card = json.loads(card_file.read_text())
    assert card["dataset"] == "bars4" and card["shape"] == [1, 16, 16] and card["classes"] == 4
    assert 0.0 <= card["test_accuracy"] <= 1.0 and card["test_size"] == 160
    assert card["genbench"] and card["class_names"] == ["top", "bottom", "left", "right"]
    assert card["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()

    found = locate("bars4")
    assert found is not None and found.source == "user" and found.weights == weights
    clf = FeatureClassifier.load(bars4)
    assert clf.card.classes == 4 and clf.card.source == "user"

    assert main(["eval", run, "-n", "200", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    metrics = {m["metric"]: m for m in result["metrics"]}
    assert metrics["fd"]["value"] >= 0
    assert metrics["classes_covered"]["of"] == 4
    assert 0 <= metrics["classes_covered"]["value"] <= 4

    # A card that no longer describes the dataset, or weights that are not the ones
    # the card names, are refused in one line by lookup and by eval.
    good_card, good_weights = card_file.read_text(), weights.read_bytes()
    card_file.write_text(json.dumps({**card, "classes": 3}))
    with pytest.raises(UsageError, match="says 3 classes; dataset 'bars4' has 4"):
        FeatureClassifier.load(bars4)
    assert main(["eval", run, "-n", "200"]) == 2
    assert "says 3 classes" in one_error_line(capsys)
    card_file.write_text('{"dataset": "bars4", "classes": ')
    assert main(["eval", run, "-n", "200"]) == 2
    assert "is not valid JSON" in one_error_line(capsys)

    card_file.write_text(good_card)
    weights.write_bytes(good_weights[:-1] + bytes([good_weights[-1] ^ 1]))
    with pytest.raises(UsageError, match="does not match the checksum"):
        FeatureClassifier.load(bars4)
    assert main(["eval", run, "-n", "200"]) == 2
    assert "does not match the checksum" in one_error_line(capsys)
    # ...nor larger than the network its card describes (read before any parsing),
    weights.write_bytes(bytes(4 << 20))
    with pytest.raises(UsageError, match="over the"):
        FeatureClassifier.load(bars4)
    # ...and weights with a matching checksum that are not this network's are refused.
    buffer = io.BytesIO()
    torch.save({"head.weight": torch.zeros(2, 2)}, buffer)
    weights.write_bytes(buffer.getvalue())
    card_file.write_text(
        json.dumps({**card, "sha256": hashlib.sha256(buffer.getvalue()).hexdigest()})
    )
    assert main(["eval", run, "-n", "200"]) == 2
    assert "does not hold the weights its card describes" in one_error_line(capsys)


@pytest.mark.parametrize(
    "dataset, words",
    [
        ("nosuch", "unknown dataset 'nosuch'"),
        ("dots2", "dataset 'dots2' is 2D points; a feature classifier is for image datasets"),
        ("bars-nolabels", "dataset 'bars-nolabels' has no labels"),
        (
            "bars-noref",
            "dataset 'bars-noref' has no test split to measure generated samples "
            "against; its `load_split('test')` returns None",
        ),
        ("folder:/tmp", "is not a dataset name a classifier can be kept under"),
    ],
)
def test_train_classifier_refuses_what_it_cannot_train_in_one_line(
    classifiers, capsys, dataset, words
):
    assert main(["train-classifier", dataset, "--epochs", "1", "--threads", "1"]) == 2
    assert words in one_error_line(capsys)
    assert not classifiers.exists()


def test_a_plugin_split_of_the_wrong_kind_is_named(classifiers):
    from genbench.data import get_dataset
    from genbench.metrics.reference import check_split
    from genbench.registry import load_registry

    ds = get_dataset("bars4", registry=load_registry())
    images, labels = check_split(ds, "test", ds.load_split("test"))
    with pytest.raises(UsageError, match="images are float64; give uint8"):
        check_split(ds, "test", (images / 255.0, labels))
    with pytest.raises(UsageError, match="labels run from 0 to 6; the dataset has 4 classes"):
        check_split(ds, "test", (images, labels * 2))
    with pytest.raises(UsageError, match=r"give integers of shape \(160,\)"):
        check_split(ds, "test", (images, labels[:5]))
