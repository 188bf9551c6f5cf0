"""`genbench sample`: N samples of a trained run streamed to a folder of PNGs or an
.npz that genbench eval and pytorch-fid read as they are, reproducible for a seed
whatever the batch size, in bounded memory; latent walks whose key frames are the
samples of their noise; checkpoints kept with --keep-every and drawn with --step;
every bad input one line, exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from genbench.sampling.files import to_uint8
from genbench.sampling.walks import key_frames, scale_for, slerp, walk_path
from genbench.trained import STREAM_BLOCK, block_seed, load
from tests.waiting import wait_until

DCGAN_STEPS, KEEP = 60, 20
# cgan draws the asked classes recognisably only after some training: at 100 steps the
# classifier agreed with 28% of the labels (chance 10%), at 200 with 66%, at 300 72%.
CGAN_STEPS = 200


def run_cli(*args) -> int:
    from genbench.cli import main

    return main([str(a) for a in args])


def one_line_error(capsys, *args) -> str:
    assert run_cli("sample", *args) == 2, args
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err


def _train(root: Path, model: str, steps: int, *more: str) -> Path:
    args = ["run", "--headless", "--model", model, "--dataset", "fashion-mnist"]
    args += ["--steps", steps, "--threads", "1", "--eval-every", steps, *more]
    assert run_cli(*args, "--runs-dir", root, "--name", model) == 0
    return root / model


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    from genbench.data import get_dataset

    if not get_dataset("fashion-mnist").availability().ok:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    root = tmp_path_factory.mktemp("sample") / "runs"
    return {
        "dcgan": _train(root, "dcgan", DCGAN_STEPS, "--keep-every", str(KEEP)),
        "cgan": _train(root, "cgan", CGAN_STEPS),
    }


def read_pngs(folder: Path) -> np.ndarray:
    names = sorted(p.name for p in folder.glob("*.png"))
    return np.stack([np.asarray(Image.open(folder / n)) for n in names])[..., None]


def expected(run, n: int, seed: int = 0) -> np.ndarray:
    """What the stream promises, from TrainedRun.sample itself: sample i is row
    i % STREAM_BLOCK of sample(STREAM_BLOCK, block_seed(seed, i // STREAM_BLOCK))."""
    blocks = -(-n // STREAM_BLOCK)
    drawn = [run.sample(STREAM_BLOCK, seed=block_seed(seed, b)) for b in range(blocks)]
    return to_uint8(torch.cat(drawn)[:n])


def test_samples_are_the_run_s_own_as_pngs_and_as_an_npz(runs, tmp_path, capsys):
    folder, npz = tmp_path / "pngs", tmp_path / "s.npz"
    assert run_cli("sample", runs["dcgan"], "-n", 300, "--out", folder, "--batch-size", 64) == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and "wrote 300 samples of dcgan" in line
    assert "samples/s drawing" in line and "samples/s with writing" in line
    names = sorted(os.listdir(folder))
    assert names == [f"{i:06d}.png" for i in range(300)]
    with Image.open(folder / names[0]) as first:
        assert first.size == (28, 28) and first.mode == "L"
    assert run_cli("sample", runs["dcgan"], "-n", 300, "--out", npz) == 0
    with np.load(npz) as data:
        assert data.files == ["arr_0"]  # no labels for an unconditional model
        images = data["arr_0"]
    assert images.shape == (300, 28, 28, 1) and images.dtype == np.uint8
    assert images.std() > 10  # real images, not a constant
    run = load(runs["dcgan"], device="cpu")
    want = expected(run, 300)
    # The CPU's convolutions may round differently at another batch size: within 1 level.
    assert np.abs(images.astype(int) - want).max() <= 1
    assert np.array_equal(read_pngs(folder), images)  # both layouts hold the same pixels
    assert not list(tmp_path.glob(".*"))  # no temporary left beside them


def test_the_same_seed_gives_the_same_bytes_whatever_the_batch_size(runs, tmp_path, capsys):
    def npz(name: str, *args) -> bytes:
        path = tmp_path / f"{name}.npz"
        assert run_cli("sample", runs["dcgan"], "--out", path, *args) == 0
        return path.read_bytes()

    a = npz("a", "-n", 600)
    assert npz("again", "-n", 600) == a
    # another batch size (straddling the noise blocks): the same file
    assert npz("b100", "-n", 600, "--batch-size", 100) == a
    assert npz("b1000", "-n", 600, "--batch-size", 1000) == a
    with np.load(tmp_path / "a.npz") as whole:
        first = whole["arr_0"][:100]
    npz("first", "-n", 100)
    with np.load(tmp_path / "first.npz") as part:
        assert np.array_equal(part["arr_0"], first)  # the first N of any longer draw
    npz("seed1", "-n", 600, "--seed", 1)
    with np.load(tmp_path / "seed1.npz") as other:
        assert not np.array_equal(other["arr_0"][:100], first)


@pytest.mark.slow
def test_forty_thousand_samples_take_the_memory_of_a_few_hundred(runs, tmp_path):
    """Peak RSS of the sampling process (os.wait4's rusage of that child) for 2,000 and
    40,000 samples into an .npz. Holding 40,000 Fashion-MNIST samples would take 31 MB
    as uint8 and 125 MB as the generator's float32; streamed, the peak grows by less than
    the noise between two runs (measured here: 16 MB at most, about 830 MB each)."""

    def peak_mb(n: int) -> float:
        args = [sys.executable, "-m", "genbench", "sample", str(runs["dcgan"]), "-n", str(n)]
        args += ["--out", str(tmp_path / f"{n}.npz"), "--threads", "1"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read()
        return usage.ru_maxrss / 1024  # KiB on Linux

    small, large = peak_mb(2_000), peak_mb(40_000)
    assert large - small < 24, (small, large)
    with np.load(tmp_path / "40000.npz") as data:
        assert data["arr_0"].shape == (40_000, 28, 28, 1)


def test_label_rows_are_the_asked_classes_by_genbench_s_classifier(runs, tmp_path, capsys):
    from genbench.metrics.classifier import FeatureClassifier

    classifier = FeatureClassifier.load("fashion-mnist")

    def predicted(path: Path) -> tuple[np.ndarray, np.ndarray]:
        with np.load(path) as data:
            images, labels = data["arr_0"], data["labels"]
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
        return classifier(x)[1].numpy(), labels

    every = tmp_path / "all.npz"
    assert run_cli("sample", runs["cgan"], "-n", 500, "--labels", "all", "--out", every) == 0
    pred, labels = predicted(every)
    assert np.array_equal(labels, np.repeat(np.arange(10), 50))  # an equal share, in order
    # 4x chance after 200 steps (66% measured over 1,000)
    assert (pred == labels).mean() > 0.4
    for label, index in (("1", 1), ("sneaker", 7)):  # an index, a name in any case
        one = tmp_path / f"{index}.npz"
        assert run_cli("sample", runs["cgan"], "-n", 100, "--label", label, "--out", one) == 0
        pred, labels = predicted(one)
        assert (labels == index).all() and (pred == index).mean() > 0.5, label
    drawn = tmp_path / "drawn.npz"  # no label asked: one drawn per sample, recorded
    assert run_cli("sample", runs["cgan"], "-n", 300, "--out", drawn) == 0
    pred, labels = predicted(drawn)
    assert len(set(labels.tolist())) == 10 and (pred == labels).mean() > 0.4


def test_genbench_eval_takes_the_folder_and_the_npz_as_they_are(runs, tmp_path, capsys):
    folder, npz = tmp_path / "pngs", tmp_path / "s.npz"
    assert run_cli("sample", runs["cgan"], "-n", 500, "--labels", "all", "--out", folder) == 0
    assert run_cli("sample", runs["cgan"], "-n", 500, "--labels", "all", "--out", npz) == 0
    assert np.array_equal(np.load(folder / "labels.npy"), np.load(npz)["labels"])
    capsys.readouterr()
    records = {}
    for path in (folder, npz):
        assert run_cli("eval", path, "--dataset", "fashion-mnist", "-n", 500, "--json") == 0
        records[path.suffix] = json.loads(capsys.readouterr().out)
    png, arr = records[""], records[".npz"]
    assert png["source"]["format"] == "png" and png["source"]["files"] == 500
    assert arr["source"]["format"] == "npz" and arr["source"]["labels"].endswith(":labels")
    assert arr["summary"]["fd"] == pytest.approx(png["summary"]["fd"])  # the same pixels
    assert arr["summary"]["class_consistency"] > 0.4  # the npz's labels were used


def test_pytorch_fid_s_folder_reader_reads_the_samples_as_they_are(runs, tmp_path):
    """pytorch-fid's own file listing (compute_statistics_of_path) and dataset class
    (what calculate_activation_statistics feeds Inception): no weights involved."""
    fid = pytest.importorskip("pytorch_fid.fid_score")
    import torchvision.transforms as TF

    folder = tmp_path / "pngs"
    assert run_cli("sample", runs["dcgan"], "-n", 120, "--out", folder) == 0
    files = sorted([file for ext in fid.IMAGE_EXTENSIONS for file in folder.glob(f"*.{ext}")])
    dataset = fid.ImagePathDataset(files, transforms=TF.ToTensor())
    assert len(dataset) == 120
    theirs = torch.stack([dataset[i] for i in range(len(dataset))])
    assert theirs.shape == (120, 3, 28, 28)  # grey read as RGB, as for any dataset
    ours = torch.from_numpy(read_pngs(folder)).permute(0, 3, 1, 2).float() / 255
    assert torch.equal(theirs, ours.expand(-1, 3, -1, -1))


def test_slerp_keeps_the_norm_and_ends_on_its_keys():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 100, generator=g), torch.randn(4, 100, generator=g)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    assert torch.equal(slerp(a, b, 0), a) and torch.equal(slerp(a, b, 1), b)
    middle = slerp(a, b, 0.5)
    assert torch.allclose(middle.norm(dim=1), a.norm(dim=1), rtol=1e-5)
    assert torch.allclose(
        (a + b) / (a + b).norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True),
        middle,
        atol=1e-5,
    )  # halfway along the arc
    path = walk_path(a[:3], between=4)
    assert len(path) == 11 and key_frames(3, 4) == [0, 5, 10]
    assert all(torch.equal(path[f], a[k]) for k, f in enumerate(key_frames(3, 4)))


def test_a_walk_s_key_frames_are_the_samples_of_its_noise(runs, tmp_path, capsys):
    run = load(runs["dcgan"], device="cpu")
    keys = run.generator(run.latent(3, seed=5))
    frames = run.walk(3, seed=5, between=4)
    assert frames.shape == (1, 11, 1, 28, 28)
    assert torch.allclose(frames[0, key_frames(3, 4)], keys, atol=1e-5)
    assert not torch.allclose(frames[0, 2], keys[0], atol=0.05)  # it moves in between
    want = to_uint8(keys)[..., 0].astype(int)

    png = tmp_path / "walk.png"
    assert (
        run_cli(
            "sample",
            runs["dcgan"],
            "--interpolate",
            3,
            "--steps-between",
            4,
            "--seed",
            5,
            "--out",
            png,
        )
        == 0
    )
    assert "11 frames" in capsys.readouterr().out
    grid = np.asarray(Image.open(png))
    s = scale_for(28, 28)  # 3: 84 pixels a side
    side = 28 * s + 2
    # a row per pair of keys, 6 frames each: key 0 starts row 0, key 1 ends it and starts
    # row 1, key 2 ends row 1
    assert grid.shape == (2 * side + 2, 6 * side + 2)

    def cell(r: int, c: int) -> np.ndarray:
        y, x = 2 + r * side, 2 + c * side
        block = grid[y : y + 28 * s, x : x + 28 * s].astype(int)
        assert (block == np.kron(block[::s, ::s], np.ones((s, s), int))).all()  # nearest
        return block[::s, ::s]

    for (r, c), k in {(0, 0): 0, (0, 5): 1, (1, 0): 1, (1, 5): 2}.items():
        assert np.abs(cell(r, c) - want[k]).max() <= 1, (r, c)

    gif = tmp_path / "walk.gif"
    assert (
        run_cli(
            "sample",
            runs["dcgan"],
            "--interpolate",
            3,
            "--steps-between",
            4,
            "--seed",
            5,
            "--out",
            gif,
            "--frame-ms",
            50,
        )
        == 0
    )
    with Image.open(gif) as movie:
        assert movie.info["duration"] == 50 and movie.info["loop"] == 0
        shown = [np.asarray(f.convert("L")).astype(int) for f in ImageSequence.Iterator(movie)]
    assert len(shown) == 11
    for k, f in enumerate(key_frames(3, 4)):
        assert np.abs(shown[f][2 : 2 + 28 * s : s, 2 : 2 + 28 * s : s] - want[k]).max() <= 1


def test_a_walk_across_labels_is_a_row_per_class_at_the_same_noise(runs, tmp_path, capsys):
    run = load(runs["cgan"], device="cpu")
    png = tmp_path / "labels.png"
    assert (
        run_cli(
            "sample",
            runs["cgan"],
            "--interpolate",
            2,
            "--steps-between",
            2,
            "--across-labels",
            "--out",
            png,
        )
        == 0
    )
    grid = np.asarray(Image.open(png)).astype(int)
    s = scale_for(28, 28)
    side = 28 * s + 2
    assert grid.shape == (10 * side + 2, 4 * side + 2)
    z = run.latent(2, seed=0)
    for label in (0, 3, 9):
        want = to_uint8(run.generator(z, [label, label]))[..., 0].astype(int)
        for column, k in ((0, 0), (3, 1)):
            y, x = 2 + label * side, 2 + column * side
            got = grid[y : y + 28 * s : s, x : x + 28 * s : s]
            assert np.abs(got - want[k]).max() <= 1, (label, column)
    one = tmp_path / "one.png"
    assert (
        run_cli("sample", runs["cgan"], "--interpolate", 2, "--label", "Trouser", "--out", one) == 0
    )
    assert Image.open(one).size == (10 * side + 2, side + 2)  # one row of 10 frames


def test_kept_checkpoints_are_drawn_with_step(runs, tmp_path, capsys):
    run_dir = runs["dcgan"]
    kept = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert kept == ["last.pt", "step-0000020.pt", "step-0000040.pt", "step-0000060.pt"]
    assert json.loads((run_dir / "run.json").read_text())["options"]["keep_every"] == KEEP
    early, late = tmp_path / "early.npz", tmp_path / "late.npz"
    assert run_cli("sample", run_dir, "-n", 50, "--step", 20, "--out", early) == 0
    assert "step 20" in capsys.readouterr().out
    assert run_cli("sample", run_dir, "-n", 50, "--out", late) == 0
    assert not np.array_equal(np.load(early)["arr_0"], np.load(late)["arr_0"])
    want = expected(load(run_dir, device="cpu", step=20), 50)
    assert np.abs(np.load(early)["arr_0"].astype(int) - want).max() <= 1
    err = one_line_error(capsys, run_dir, "--step", 30, "--out", tmp_path / "x.npz")
    assert "no checkpoint at step 30; it has steps 20, 40, 60" in err


def test_a_resumed_run_keeps_its_keep_every(runs, tmp_path):
    import shutil

    copy = tmp_path / "runs" / "dcgan"
    shutil.copytree(runs["dcgan"], copy)
    assert run_cli("run", "--headless", "--resume", copy, "--steps", 80, "--threads", 1) == 0
    assert (copy / "checkpoints" / "step-0000080.pt").is_file()


def test_ctrl_c_leaves_nothing_half_written(runs, tmp_path):
    out = tmp_path / "big.npz"
    args = [sys.executable, "-m", "genbench", "sample", str(runs["dcgan"]), "-n", "2000000"]
    proc = subprocess.Popen(
        [*args, "--out", str(out), "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        partial = tmp_path / f".big.npz.partial-{proc.pid}"
        wait_until(
            lambda: partial.exists() and partial.stat().st_size > 10**6,
            120,
            proc,
            "the first batches written",
        )
        proc.send_signal(signal.SIGINT)
        out_text, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "stopped" in err and "nothing written" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_bad_input_is_one_line(runs, tmp_path, capsys, monkeypatch):
    dcgan, cgan = runs["dcgan"], runs["cgan"]
    out = ("--out", tmp_path / "x.npz")
    assert "-n must be from 1" in one_line_error(capsys, dcgan, "-n", 0, *out)
    assert "is for conditional models" in one_line_error(capsys, dcgan, "--label", 1, *out)
    err = one_line_error(capsys, cgan, "--label", "Boot", *out)
    assert "no class 'Boot'" in err and "9 Ankle boot" in err
    assert "no class '10'" in one_line_error(capsys, cgan, "--label", 10, *out)
    for t in (0, 1e-9):  # near 0 the redrawing would never end
        assert "at least 0.01" in one_line_error(capsys, dcgan, "--truncation", t, *out)
    from genbench_plugins.dcgan import DCGAN

    monkeypatch.setattr(DCGAN, "normal_latent", False)
    assert "does not support truncation" in one_line_error(capsys, dcgan, "--truncation", 0.7, *out)
    monkeypatch.undo()
    assert not (tmp_path / "x.npz").exists()

    (tmp_path / "x.npz").write_bytes(b"mine")
    assert "exists; --force replaces it" in one_line_error(capsys, dcgan, "-n", 5, *out)
    assert (tmp_path / "x.npz").read_bytes() == b"mine"
    assert run_cli("sample", dcgan, "-n", 5, *out, "--force") == 0
    assert np.load(tmp_path / "x.npz")["arr_0"].shape == (5, 28, 28, 1)

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    assert "is not empty" in one_line_error(capsys, dcgan, "-n", 5, "--out", folder)
    err = one_line_error(capsys, dcgan, "-n", 5, "--out", folder, "--force")
    assert "files genbench did not write" in err and (folder / "notes.txt").exists()
    samples = tmp_path / "samples"
    assert run_cli("sample", dcgan, "-n", 8, "--out", samples) == 0
    assert run_cli("sample", dcgan, "-n", 3, "--out", samples, "--force") == 0
    assert sorted(os.listdir(samples)) == ["000000.png", "000001.png", "000002.png"]

    assert "inside the run folder" in one_line_error(capsys, dcgan, "--out", dcgan / "s")
    assert "ending .png or .gif" in one_line_error(capsys, dcgan, "--interpolate", 2, *out)
    assert "a walk's output" in one_line_error(capsys, dcgan, "--out", tmp_path / "w.png")
    assert "add --interpolate" in one_line_error(capsys, dcgan, "--across-labels", *out)
    walk = ("--interpolate", 2, "--out", tmp_path / "w.png")
    assert "--label K" in one_line_error(capsys, cgan, *walk)  # which class to walk
    assert "--interpolate must be from 2" in one_line_error(
        capsys, dcgan, "--interpolate", 1, "--out", tmp_path / "w.png"
    )
    one_line_error(capsys, tmp_path / "nowhere", "--out", tmp_path / "y.npz")  # not a run


def test_points_of_a_2d_toy_go_to_an_npz_that_eval_reads(tmp_path, capsys):
    root = tmp_path / "runs"
    args = ["run", "--headless", "--model", "gan", "--dataset", "ring8", "--steps", 20]
    assert run_cli(*args, "--threads", 1, "--runs-dir", root, "--name", "ring") == 0
    npz = tmp_path / "ring.npz"
    assert run_cli("sample", root / "ring", "-n", 2500, "--out", npz) == 0
    with np.load(npz) as data:
        assert data["arr_0"].shape == (2500, 2) and data["arr_0"].dtype == np.float32
    capsys.readouterr()
    assert run_cli("eval", npz, "--dataset", "ring8", "--json") == 0
    assert json.loads(capsys.readouterr().out)["summary"]["modes"] == 8
    err = one_line_error(capsys, root / "ring", "--out", tmp_path / "pngs")
    assert "draws points (ring8), not images" in err
    err = one_line_error(capsys, root / "ring", "--interpolate", 2, "--out", tmp_path / "w.png")
    assert "a walk draws images" in err
    long = tmp_path / ("a" * 246 + ".npz")  # its partial file's name is over 255 bytes
    assert "cannot write" in one_line_error(capsys, root / "ring", "-n", 5, "--out", long)


def test_truncation_draws_the_library_s_truncated_stream(runs, tmp_path):
    run = load(runs["dcgan"], device="cpu")
    plain, cut = tmp_path / "plain.npz", tmp_path / "cut.npz"
    assert run_cli("sample", runs["dcgan"], "-n", 300, "--out", plain) == 0
    assert run_cli("sample", runs["dcgan"], "-n", 300, "--truncation", 0.5, "--out", cut) == 0
    want = np.concatenate([to_uint8(x) for x, _ in run.stream(300, truncation=0.5)])
    got = np.load(cut)["arr_0"]
    assert np.array_equal(got, want)
    assert not np.array_equal(got, np.load(plain)["arr_0"])
    # truncated noise is less varied: the samples spread less around their mean
    assert got.astype(float).std(0).mean() < np.load(plain)["arr_0"].astype(float).std(0).mean()
