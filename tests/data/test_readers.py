"""Datasets: IDX files, MNIST/CIFAR-10 loaders, image folders, the on-device sampler,
resume exactness, the not-found message and `genbench datasets`.

Every dataset here is a handful of images the test writes; only the last tests
read the real Fashion-MNIST, and skip when Debian's package is not installed.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.cli import main
from genbench.data import get_dataset, list_datasets, locate
from genbench.data.folder import ImageFolder
from genbench.data.idx import read_idx, read_idx_header, write_idx
from genbench.errors import UsageError

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def no_user_data(tmp_path, monkeypatch):
    """No test sees the real $GENBENCH_DATA or the user's data folder."""
    monkeypatch.delenv("GENBENCH_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "genbench"


@pytest.fixture
def no_system_data(monkeypatch, tmp_path):
    """Debian's folder replaced by an empty one, so 'not found' is not found."""
    empty = tmp_path / "system" / "fashion-mnist"
    monkeypatch.setattr(locate, "SYSTEM_DIRS", {"fashion-mnist": [empty]})
    return empty


# -- writing small datasets ---------------------------------------------------------


def tiny_images(n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, c, h, w), dtype=np.uint8)


def write_mnist(folder: Path, n: int = 20, gz: bool = True, size: int = 28) -> np.ndarray:
    """An MNIST-shaped IDX pair in ``folder``; returns the images (N, 28, 28)."""
    folder.mkdir(parents=True, exist_ok=True)
    images = tiny_images(n, 1, size, size)[:, 0]
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # the extremes appear
    suffix = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", (np.arange(n) % 10).astype(np.uint8))
    return images


def cifar_pickle(obj, numpy_core_name: str | None = None) -> bytes:
    """Pickled like the real files (protocol 2, bytes keys); ``numpy_core_name`` rewrites
    the module numpy arrays are rebuilt from, as in files written by numpy 1.x."""
    data = pickle.dumps(obj, protocol=2)
    if numpy_core_name:
        data = data.replace(b"numpy._core.multiarray", numpy_core_name.encode())
    return data


def write_cifar(root: Path, per_batch: int = 4) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        data = tiny_images(per_batch, 3, 32, 32, seed=i).reshape(per_batch, -1)
        batch = {
            b"batch_label": b"training batch",
            b"data": data,
            b"labels": [(i + j) % 10 for j in range(per_batch)],
            b"filenames": [b"x.png"] * per_batch,
        }
        core = "numpy.core.multiarray" if i == 1 else None
        (folder / f"data_batch_{i}").write_bytes(cifar_pickle(batch, core))
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [b"airplane"] * 10, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(cifar_pickle(meta))
    return folder


def write_image(path: Path, size=(40, 30), colour=(200, 10, 10), mode="RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else colour[0]).save(path)


# -- IDX ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["data.idx", "data.idx.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_idx_round_trip_plain_and_gzipped(tmp_path, name, dtype):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, array)
    raw = (tmp_path / name).read_bytes()
    assert raw[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")

    header = read_idx_header(tmp_path / name)
    assert header.shape == (2, 3, 4)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and back.flags.writeable
    np.testing.assert_array_equal(back, array)


def test_idx_reads_the_big_endian_layout_byte_by_byte(tmp_path):
    # magic 0x00000801 (uint8, 1 dim), dim 3 as big-endian uint32, then 3 bytes
    (tmp_path / "labels").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels"), [7, 8, 9])
    # int32 big-endian: 0x00000102 = 258
    (tmp_path / "ints").write_bytes(bytes([0, 0, 0x0C, 1, 0, 0, 0, 1, 0, 0, 1, 2]))
    assert read_idx(tmp_path / "ints").tolist() == [258]


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "too short for a header"),
        (bytes([0, 0, 8]), "too short for a header"),
        (bytes([1, 2, 8, 1, 0, 0, 0, 3, 1, 2, 3]), "magic number 0x01020801"),
        (bytes([0, 0, 0x42, 1, 0, 0, 0, 3, 1, 2, 3]), "magic number"),
        (bytes([0, 0, 8, 0]), "zero dimensions"),
        (bytes([0, 0, 8, 2, 0, 0, 0, 3]), "header ends inside its 2 dimensions"),
        (
            bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]),
            "truncated: header (5,) promises 5 data bytes, found 2",
        ),
        (bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3]), "trailing bytes"),
        (
            bytes([0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1]),
            "truncated",
        ),  # a header claiming ~2^96 bytes must not try to allocate them
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_malformed_idx_is_one_clear_error(tmp_path, content, problem, gz):
    path = tmp_path / ("bad.gz" if gz else "bad")
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(UsageError) as info:
        read_idx(path)
    assert str(path) in str(info.value) and problem in str(info.value)
    assert "\n" not in str(info.value)


def test_corrupt_gzip_and_missing_file_are_usage_errors(tmp_path):
    good = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]))
    (tmp_path / "cut.gz").write_bytes(good[:-12])
    with pytest.raises(UsageError, match="cut.gz is not a valid IDX file: unreadable"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "garbled.gz").write_bytes(good[:10] + b"\xff" * 20 + good[30:])
    with pytest.raises(UsageError, match="not a valid IDX file"):
        read_idx(tmp_path / "garbled.gz")
    with pytest.raises(UsageError, match="cannot open"):
        read_idx(tmp_path / "absent.idx")


# -- MNIST family -----------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["", "mnist", "MNIST/raw"])
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_data_dir_in_every_layout(tmp_path, layout, gz):
    root = tmp_path / "data"
    images = write_mnist(root / layout, n=20, gz=gz)
    ds = get_dataset("mnist", data_dir=root)
    assert ds.availability().ok and ds.availability().where == str(root / layout).rstrip("/")
    assert ds.size == 20
    assert ds.spec.kind == "image" and ds.spec.shape == (1, 28, 28) and ds.spec.num_classes == 10

    sampler = ds.sampler(batch_size=8, device=CPU, seed=3)
    x, y = sampler.next()
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.shape == (8,)
    index = sampler.perm[:8]
    expected = torch.from_numpy(images)[index].unsqueeze(1).float() / 127.5 - 1
    assert torch.equal(x, expected)
    assert torch.equal(y, index % 10)


def test_mnist_via_genbench_data_env_and_user_data_folder(tmp_path, monkeypatch, no_user_data):
    write_mnist(tmp_path / "env", n=12)
    monkeypatch.setenv("GENBENCH_DATA", str(tmp_path / "env"))
    ds = get_dataset("mnist")
    assert ds.availability().where == str(tmp_path / "env") and ds.size == 12
    assert ds.data_dir == tmp_path / "env"  # recorded so resume finds the same files

    monkeypatch.delenv("GENBENCH_DATA")
    write_mnist(no_user_data / "MNIST" / "raw", n=14)  # where torchvision downloads it
    ds = get_dataset("mnist")
    assert ds.availability().where == str(no_user_data / "MNIST" / "raw") and ds.size == 14
    assert ds.data_dir is None


def test_every_batch_is_in_range_with_static_shape_and_epochs_drop_the_remainder(tmp_path):
    write_mnist(tmp_path, n=20)
    sampler = get_dataset("mnist", data_dir=tmp_path).sampler(batch_size=6, device=CPU, seed=0)
    seen = []
    for _ in range(3):  # one epoch: 3 batches of 6, 2 examples dropped
        x, y = sampler.next()
        assert x.shape == (6, 1, 28, 28) and -1 <= x.min() and x.max() <= 1
        seen += y.tolist()
    assert sampler.epoch == 0 and len(seen) == 18
    sampler.next()
    assert sampler.epoch == 1 and sampler.cursor == 6


def test_image_size_resizes_once_at_load_and_the_spec_says_so(tmp_path):
    write_mnist(tmp_path, n=10)
    ds = get_dataset("mnist", data_dir=tmp_path, image_size=32)
    assert ds.spec.shape == (1, 32, 32) and ds.image_size == 32
    sampler = ds.sampler(batch_size=4, device=CPU, seed=0)
    assert sampler.images.shape == (10, 1, 32, 32) and sampler.images.dtype == torch.uint8
    x, _ = sampler.next()
    assert x.shape == (4, 1, 32, 32) and -1 <= x.min() and x.max() <= 1


def test_bad_image_sizes_and_unknown_names_are_usage_errors(tmp_path):
    for bad in (0, 3, 4096, 2.5, True):
        with pytest.raises(UsageError, match="--image-size must be an integer from 4 to 1024"):
            get_dataset("mnist", image_size=bad)
    with pytest.raises(UsageError, match="--image-size applies to image datasets"):
        get_dataset("ring8", image_size=32)
    with pytest.raises(UsageError) as info:
        get_dataset("imagenet")
    message = str(info.value)
    assert all(n in message for n in ("ring8", "fashion-mnist", "mnist", "cifar10", "folder:PATH"))
    with pytest.raises(UsageError, match="--data-dir .* is not a folder"):
        get_dataset("mnist", data_dir=tmp_path / "absent")


def test_labels_beyond_the_classes_and_mismatched_counts_are_reported(tmp_path):
    write_mnist(tmp_path, n=10)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(9, 3, np.uint8))
    with pytest.raises(UsageError, match="holds \\(9,\\) labels for 10 images"):
        get_dataset("mnist", data_dir=tmp_path).prepare()
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(10, 12, np.uint8))
    with pytest.raises(UsageError, match="label 12; mnist has 10 classes"):
        get_dataset("mnist", data_dir=tmp_path).prepare()


# -- CIFAR-10 ---------------------------------------------------------------------------


def test_cifar10_from_python_batches(tmp_path):
    folder = write_cifar(tmp_path / "data", per_batch=4)
    ds = get_dataset("cifar10", data_dir=tmp_path / "data")
    assert ds.availability().where == str(folder)
    assert ds.size == 20 and ds.spec.shape == (3, 32, 32) and ds.spec.num_classes == 10
    images, labels = ds.load()
    assert images.shape == (20, 3, 32, 32) and images.dtype == np.uint8
    assert labels.tolist()[:4] == [1, 2, 3, 4] and labels.dtype == np.int64
    # row layout: 1024 red values, then green, then blue
    first = tiny_images(4, 3, 32, 32, seed=1).reshape(4, -1)
    np.testing.assert_array_equal(images[0, 1].ravel(), first[0, 1024:2048])

    x, y = (
        get_dataset("cifar10", data_dir=tmp_path / "data", image_size=64)
        .sampler(batch_size=5, device=CPU, seed=0)
        .next()
    )
    assert x.shape == (5, 3, 64, 64) and y.shape == (5,) and -1 <= x.min() and x.max() <= 1


def test_cifar10_pickles_that_ask_for_other_code_are_refused(tmp_path):
    folder = write_cifar(tmp_path, per_batch=2)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(
        UsageError,
        match="data_batch_3 is not a readable CIFAR-10 batch: "
        "refusing to load (posix|os|nt).system",
    ):
        get_dataset("cifar10", data_dir=tmp_path).prepare()


def test_cifar10_incomplete_folder_is_not_available(tmp_path, no_user_data):
    folder = write_cifar(tmp_path, per_batch=2)
    (folder / "data_batch_5").unlink()
    a = get_dataset("cifar10", data_dir=tmp_path).availability()
    assert not a.ok and str(folder) in a.where and "cifar-10-python.tar.gz" in a.how


# -- image folders ------------------------------------------------------------------------


def test_folder_with_class_subfolders_gives_labels(tmp_path):
    write_image(tmp_path / "imgs" / "cats" / "a.png", colour=(255, 0, 0))
    write_image(tmp_path / "imgs" / "cats" / "b.jpg", colour=(250, 0, 0))
    write_image(tmp_path / "imgs" / "dogs" / "deep" / "c.png", colour=(0, 0, 255))
    (tmp_path / "imgs" / "dogs" / "notes.txt").write_text("not an image")
    (tmp_path / "imgs" / "empty").mkdir()

    ds = get_dataset("folder:" + str(tmp_path / "imgs"), image_size=16)
    assert ds.name == f"folder:{tmp_path / 'imgs'}" and ds.availability().ok
    assert ds.class_names == ("cats", "dogs") and ds.size == 3
    assert ds.spec.shape == (3, 16, 16) and ds.spec.num_classes == 2
    sampler = ds.sampler(batch_size=3, device=CPU, seed=0)
    x, y = sampler.next()
    assert x.shape == (3, 3, 16, 16) and -1 <= x.min() and x.max() <= 1
    for image, label in zip(x, y.tolist(), strict=True):  # red cats, blue dogs
        assert (image[0].mean() > 0.9) == (label == 0) and (image[2].mean() > 0.9) == (label == 1)


def test_folder_without_subfolders_is_unlabelled_grayscale_and_centre_cropped(tmp_path):
    root = tmp_path / "faces"
    for i in range(3):
        # 60x30, black left and right quarters, white middle: the centre crop is all white
        image = Image.new("L", (60, 30), 0)
        image.paste(255, (15, 0, 45, 30))
        root.mkdir(exist_ok=True)
        image.save(root / f"{i}.png")
    ds = get_dataset(f"folder:{root}")
    assert ds.spec.shape == (1, 64, 64) and ds.spec.num_classes is None and ds.size == 3
    x, y = ds.sampler(batch_size=2, device=CPU, seed=0).next()
    assert y is None and x.shape == (2, 1, 64, 64)
    # The black quarters are cropped away; only the crop's edge columns blend with
    # them, as resize-then-crop does (torchvision's Resize + CenterCrop too).
    assert x[..., 2:-2].min() > 0.95 and x.mean() > 0.9


def test_folder_errors_are_one_line_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        get_dataset(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(UsageError, match="give a folder after 'folder:'"):
        get_dataset("folder:")
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text("x")
    with pytest.raises(UsageError, match="no images in"):
        get_dataset(f"folder:{tmp_path / 'txt'}")
    write_image(tmp_path / "broken" / "good.png")
    (tmp_path / "broken" / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(UsageError, match="cannot read image .*bad.png"):
        get_dataset(f"folder:{tmp_path / 'broken'}").prepare()


def make_folder(root: Path, n: int = 10) -> Path:
    for i in range(n):
        write_image(root / ("a" if i % 2 else "b") / f"{i}.png", colour=(i * 20, 255 - i * 20, 7))
    return root


def test_large_folders_stream_and_resume_exactly_mid_epoch(tmp_path):
    root = make_folder(tmp_path / "big", n=10)
    ds = ImageFolder(root, image_size=8, stream_above=5, workers=0)
    assert ds.streaming
    sampler = ds.sampler(batch_size=3, device=CPU, seed=4)
    for _ in range(4):  # one epoch is 3 batches: cross into the next
        x, y = sampler.next()
        assert x.shape == (3, 3, 8, 8) and y.dtype == torch.int64
    buffer = io.BytesIO()
    torch.save(sampler.state_dict(), buffer)
    expected = [sampler.next() for _ in range(4)]

    fresh = ImageFolder(root, image_size=8, stream_above=5, workers=0).sampler(
        batch_size=3, device=CPU, seed=4
    )
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    for (x0, y0), (x1, y1) in zip(expected, [fresh.next() for _ in range(4)], strict=True):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_streaming_with_worker_processes(tmp_path):
    root = make_folder(tmp_path / "big", n=6)
    sampler = ImageFolder(root, image_size=8, stream_above=1, workers=1).sampler(
        batch_size=4, device=CPU, seed=0
    )
    labels = [sampler.next()[1] for _ in range(3)]  # 1 batch an epoch
    assert all(lab.shape == (4,) for lab in labels) and sampler.epoch == 2

    # A file whose header reads but whose pixels do not fails in the worker; the
    # error still names the file on its first line.
    png = root / "a" / "1.png"
    png.write_bytes(png.read_bytes()[:60])
    sampler = ImageFolder(root, image_size=8, stream_above=1, workers=1).sampler(
        batch_size=6, device=CPU, seed=0
    )
    with pytest.raises(UsageError) as info:
        sampler.next()
    assert str(info.value).startswith(f"cannot read image {png}")


# -- the sampler's resume ------------------------------------------------------------------


def test_device_sampler_resumes_exactly_from_a_weights_only_checkpoint(tmp_path):
    write_mnist(tmp_path, n=20)
    sampler = get_dataset("mnist", data_dir=tmp_path).sampler(batch_size=6, device=CPU, seed=9)
    for _ in range(5):  # past the end of the first epoch
        sampler.next()
    buffer = io.BytesIO()
    torch.save({"sampler": sampler.state_dict()}, buffer)
    expected = [sampler.next() for _ in range(6)]

    fresh = get_dataset("mnist", data_dir=tmp_path).sampler(batch_size=6, device=CPU, seed=123)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer, weights_only=True)["sampler"])
    got = [fresh.next() for _ in range(6)]
    for (x0, y0), (x1, y1) in zip(expected, got, strict=True):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)
    assert fresh.epoch == sampler.epoch and fresh.cursor == sampler.cursor


def test_sampler_refuses_a_checkpoint_from_different_data(tmp_path):
    write_mnist(tmp_path / "a", n=20)
    write_mnist(tmp_path / "b", n=12)
    state = get_dataset("mnist", data_dir=tmp_path / "a").sampler(4, CPU, 0).state_dict()
    other = get_dataset("mnist", data_dir=tmp_path / "b").sampler(4, CPU, 0)
    with pytest.raises(
        UsageError, match="now has 12 examples but the checkpoint was drawn from 20"
    ):
        other.load_state_dict(state)


def test_sampler_refuses_a_checkpoint_drawn_on_another_kind_of_device(tmp_path):
    write_mnist(tmp_path, n=20)
    state = get_dataset("mnist", data_dir=tmp_path).sampler(4, CPU, 0).state_dict()
    state["device"] = "cuda"
    with pytest.raises(UsageError, match="drawn on cuda and cannot continue exactly on cpu"):
        get_dataset("mnist", data_dir=tmp_path).sampler(4, CPU, 0).load_state_dict(state)


def test_batch_larger_than_the_dataset_is_a_usage_error(tmp_path):
    write_mnist(tmp_path, n=5)
    with pytest.raises(UsageError, match="--batch-size 8 is larger than the dataset"):
        get_dataset("mnist", data_dir=tmp_path).sampler(8, CPU, 0)


# -- not found -----------------------------------------------------------------------------


def test_not_found_names_every_folder_looked_in(tmp_path, no_user_data, no_system_data):
    a = get_dataset("mnist", data_dir=tmp_path / "").availability()
    assert not a.ok
    where = a.where.split(", ")
    assert where == [
        str(tmp_path),
        str(tmp_path / "mnist"),
        str(tmp_path / "MNIST" / "raw"),
        str(no_user_data / "mnist"),
        str(no_user_data / "MNIST" / "raw"),
    ]
    assert "genbench datasets --download mnist" in a.how

    a = get_dataset("fashion-mnist").availability()
    assert str(no_system_data) in a.where and "apt-get install dataset-fashion-mnist" in a.how


def test_mnist_never_looks_in_the_fashion_mnist_system_folder(monkeypatch, tmp_path):
    # Even with Fashion-MNIST's files there, that folder must not pass for MNIST.
    system = tmp_path / "usr-share-fashion"
    write_mnist(system, n=4)
    monkeypatch.setattr(locate, "SYSTEM_DIRS", {"fashion-mnist": [system]})
    assert get_dataset("fashion-mnist").availability().ok
    a = get_dataset("mnist").availability()
    assert not a.ok and str(system) not in a.where and "/usr/share" not in a.where


TOY_IMAGE_MODEL = """
from dataclasses import dataclass
import torch
from genbench import GenerativeModel, hookimpl, param

@dataclass
class Config:
    lr: float = param(0.01, "learning rate", min=0.0)

class ToyImage(GenerativeModel):
    name = "toyimg"
    title = "Toy image model"
    kinds = frozenset({"image"})
    Config = Config

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        self.net = torch.nn.Linear(4, spec.dim).to(device)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=config.lr)

    def train_step(self, x, y=None):
        z = torch.randn(x.shape[0], 4, device=x.device)
        loss = (self.net(z) - x.flatten(1)).pow(2).mean()
        self.opt.zero_grad(); loss.backward(); self.opt.step()
        return {"mse": loss.detach()}

    def sample(self, n, labels=None, generator=None):
        with torch.no_grad():
            z = torch.randn(n, 4, generator=generator, device=self.device)
            return self.net(z).tanh().view(n, *self.spec.shape)

@hookimpl
def genbench_models():
    return [ToyImage]
"""


def test_cli_run_without_data_exits_2_with_one_line_and_no_run_folder(
    plugin_site, runs_dir, capsys, no_user_data, no_system_data
):
    plugin_site.add("gb-toyimg", TOY_IMAGE_MODEL)
    for name in ("mnist", "fashion-mnist"):
        code = main(
            [
                "run",
                "--headless",
                "--model",
                "toyimg",
                "--dataset",
                name,
                "--runs-dir",
                str(runs_dir),
            ]
        )
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert f"dataset '{name}' not found (looked in " in err
        assert str(no_user_data / name) in err
    assert "apt-get install dataset-fashion-mnist" in err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_cli_run_with_a_bad_data_file_leaves_no_run_folder(plugin_site, runs_dir, tmp_path, capsys):
    plugin_site.add("gb-toyimg", TOY_IMAGE_MODEL)
    write_mnist(tmp_path / "data", n=10, gz=False)
    path = tmp_path / "data" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    code = main(
        [
            "run",
            "--headless",
            "--model",
            "toyimg",
            "--dataset",
            "mnist",
            "--data-dir",
            str(tmp_path / "data"),
            "--runs-dir",
            str(runs_dir),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "truncated" in err and len(err.strip().splitlines()) == 1
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_run_records_data_dir_and_image_size_and_resume_rebuilds_them(
    plugin_site, runs_dir, tmp_path, capsys, monkeypatch
):
    plugin_site.add("gb-toyimg", TOY_IMAGE_MODEL)
    write_mnist(tmp_path / "data", n=30)
    monkeypatch.setenv("GENBENCH_DATA", str(tmp_path / "data"))
    code = main(
        [
            "run",
            "--headless",
            "--model",
            "toyimg",
            "--dataset",
            "mnist",
            "--image-size",
            "16",
            "--steps",
            "4",
            "--checkpoint-every",
            "2",
            "--batch-size",
            "8",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "r",
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    meta = json.loads((runs_dir / "r" / "run.json").read_text())
    assert meta["data"]["dir"] == str(tmp_path / "data")
    assert meta["data"]["image_size"] == 16 and meta["data"]["shape"] == [1, 16, 16]

    monkeypatch.delenv("GENBENCH_DATA")  # resume needs nothing but the run folder
    code = main(["run", "--headless", "--resume", str(runs_dir / "r"), "--image-size", "32"])
    assert code == 2 and "drop --image-size" in capsys.readouterr().err
    code = main(["run", "--headless", "--resume", str(runs_dir / "r"), "--steps", "7", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert json.loads((runs_dir / "r" / "run.json").read_text())["step"] == 7


def test_download_fails_fast_and_cleanly_without_a_network(monkeypatch, capsys, tmp_path):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", offline)
    code = main(["datasets", "--download", "fashion-mnist", "--data-dir", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot reach" in err
    assert not (tmp_path / "d").exists()  # nothing half-written
    assert main(["datasets", "--download", "ring8"]) == 2
    assert "cannot be downloaded; downloadable: mnist" in capsys.readouterr().err


# -- genbench datasets ----------------------------------------------------------------------


def test_datasets_json_lists_every_dataset_with_availability(tmp_path, capsys, no_system_data):
    write_mnist(tmp_path / "data" / "mnist", n=16)
    assert main(["datasets", "--json", "--data-dir", str(tmp_path / "data")]) == 0
    rows = {d["name"]: d for d in json.loads(capsys.readouterr().out)["datasets"]}
    assert list(rows) == ["ring8", "grid25", "fashion-mnist", "mnist", "cifar10"]
    assert rows["ring8"]["available"] and rows["ring8"]["size"] is None
    assert rows["ring8"]["kind"] == "points" and rows["ring8"]["shape"] == [2]
    mnist = rows["mnist"]
    assert mnist["available"] and mnist["where"] == str(tmp_path / "data" / "mnist")
    assert mnist["size"] == 16 and mnist["shape"] == [1, 28, 28] and mnist["classes"] == 10
    assert not rows["cifar10"]["available"] and rows["cifar10"]["how"]
    assert rows["cifar10"]["size"] == 50000 and rows["cifar10"]["class_names"][0] == "airplane"

    assert main(["datasets", "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "fashion-mnist" in out and "folder:PATH" in out and "looked in" in out


def test_datasets_listing_does_not_import_torch(tmp_path):
    code = (
        "import sys; from genbench.cli import main; code = main(['datasets', '--json']); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(code)"
    )
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path))
    env.pop("GENBENCH_DATA", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert {d["name"] for d in json.loads(done.stdout)["datasets"]} >= {"mnist", "cifar10"}


def test_list_datasets_is_what_the_workbench_uses():
    names = [d.name for d in list_datasets()]
    assert names == ["ring8", "grid25", "fashion-mnist", "mnist", "cifar10"]


# -- the real Fashion-MNIST ------------------------------------------------------------------

needs_fashion = pytest.mark.skipif(
    not (REAL_FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed "
    "(apt-get install dataset-fashion-mnist)",
)


@needs_fashion
def test_real_fashion_mnist_from_debians_package():
    ds = get_dataset("fashion-mnist")
    assert ds.availability().ok and ds.availability().where == str(REAL_FASHION)
    assert ds.size == 60000 and ds.spec.shape == (1, 28, 28) and ds.spec.num_classes == 10
    images, labels = ds.load()
    assert images.shape == (60000, 1, 28, 28) and images.dtype == np.uint8
    assert sorted(set(labels.tolist())) == list(range(10))
    sampler = ds.sampler(batch_size=512, device=CPU, seed=0)
    x, y = sampler.next()
    assert x.shape == (512, 1, 28, 28) and x.min() == -1 and x.max() == 1
    assert len(set(y.tolist())) == 10


def test_datasets_table_shows_a_long_path_whole_at_80_columns(tmp_path, monkeypatch, capsys):
    """A long data path folds over more rows of the 'where' cell instead of being cut
    to '…/fashion-mnist' (#31: it could not be copied, nor told from another)."""
    from genbench.cli import main

    deep = tmp_path / ("very-long-folder-name-" * 4) / "fashion-mnist"
    deep.mkdir(parents=True)
    src = Path("/usr/share/datasets/fashion-mnist")
    if not src.is_dir():
        pytest.skip("Fashion-MNIST is not installed here")
    for f in src.iterdir():
        (deep / f.name).symlink_to(f)
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["datasets", "--data-dir", str(deep.parent)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    first = next(i for i, line in enumerate(lines) if line.startswith("│ fashion-mnist"))
    assert "60,000" in lines[first]
    cell = ""
    for line in lines[first:]:
        if line.startswith("│ mnist"):
            break
        assert "…" not in line  # (the notes below may shorten a long folder list)
        cell += line.split("│")[-2].strip()
    assert cell == str(deep)
    assert any(line.startswith("│ mnist") and "see below" in line for line in lines)
