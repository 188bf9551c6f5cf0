"""`genbench eval PATH --dataset NAME`: samples that did not come from a genbench run
(an .npy array or a folder of PNGs) measured with the same metrics as a run, and
every hostile file refused in one line with exit code 2."""

from __future__ import annotations

import json
import math
import os
import pickle
import struct
import zlib

import numpy as np
import pytest


def run_cli(*args) -> int:
    from genbench.cli import main

    return main([str(a) for a in args])


def one_line_error(capsys, *args) -> str:
    assert run_cli("eval", *args) == 2, args
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    return captured.err


@pytest.fixture(scope="module")
def test_images():
    """The first 2,000 Fashion-MNIST test images, uint8 (N, 1, 28, 28)."""
    from genbench.data import get_dataset
    from genbench.metrics.reference import load_split

    ds = get_dataset("fashion-mnist")
    if not ds.availability().ok:
        pytest.skip("Fashion-MNIST is not installed")
    x, y = load_split(ds, "test")
    test_labels.update(y=y[:2000])
    return x[:2000]


test_labels: dict = {}


def evaluate_json(capsys, *args) -> dict:
    assert run_cli("eval", *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_real_test_images_from_an_npy_measure_as_real(test_images, tmp_path, capsys):
    u8 = tmp_path / "real.npy"
    np.save(u8, test_images)
    record = evaluate_json(capsys, u8, "--dataset", "fashion-mnist", "-n", 2000)
    s = record["summary"]
    assert s["fd"] < 0.1 and s["classes_covered"] == 10 and not s["collapse"]
    assert s["precision"] > 0.7 and s["recall"] > 0.7
    rows = {r["metric"]: r for r in record["metrics"]}
    assert rows["fd"]["samples"] == 2000 and rows["fd"]["reference"] == 10_000
    assert record["source"]["layout"] == "NCHW" and record["source"]["range"] == "0-255 values"
    assert record["run"] is None and record["dataset"] == "fashion-mnist"

    # The same images as floats in [-1, 1], channels last: read to the same pixels.
    signed = tmp_path / "signed.npy"
    np.save(signed, (test_images.transpose(0, 2, 3, 1) / 127.5 - 1).astype(np.float32))
    again = evaluate_json(capsys, signed, "--dataset", "fashion-mnist", "-n", 2000)
    assert again["source"]["layout"] == "NHWC" and again["source"]["range"] == "floats in [-1, 1]"
    assert again["summary"]["fd"] == pytest.approx(s["fd"], abs=1e-4)

    # Noise of the same shape is far off: "small" above means something.
    noise = tmp_path / "noise.npy"
    np.save(noise, np.random.default_rng(0).integers(0, 256, (2000, 28, 28), dtype=np.uint8))
    assert (
        evaluate_json(capsys, noise, "--dataset", "fashion-mnist", "-n", 2000)["summary"]["fd"]
        > 50 * s["fd"]
    )
    # Nothing was written beside the samples: there is no run folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.npy", "real.npy", "signed.npy"]


def test_a_folder_of_pngs_measures_like_the_same_images_in_an_npy(test_images, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(test_images[:300]):
        Image.fromarray(image[0]).save(folder / f"{i:04d}.png")
    (folder / "notes.txt").write_text("not a sample")  # other files are left alone
    array = tmp_path / "same.npy"
    np.save(array, test_images[:300])

    out = tmp_path / "eval.json"
    assert (
        run_cli("eval", folder, "--dataset", "fashion-mnist", "-n", 300, "--out", out, "--quiet")
        == 0
    )
    assert capsys.readouterr().out == f"wrote {out}\n"
    from_pngs = json.loads(out.read_text())
    assert from_pngs["source"]["format"] == "png" and from_pngs["source"]["files"] == 300
    from_npy = evaluate_json(capsys, array, "--dataset", "fashion-mnist", "-n", 300)
    assert from_pngs["summary"]["classes_covered"] == 10
    for metric in ("fd", "kid", "precision", "recall", "class_kl"):
        assert from_pngs["summary"][metric] == pytest.approx(from_npy["summary"][metric]), metric

    # The table a person sees, like a run's.
    assert run_cli("eval", folder, "--dataset", "fashion-mnist", "-n", 300) == 0
    text = capsys.readouterr().out
    assert "FD (classifier features)" in text and "classes covered" in text and "10/10" in text


def test_points_on_ring8_give_modes_covered(tmp_path, capsys):
    means = np.array(
        [(math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)) for i in range(8)]
    )
    rng = np.random.default_rng(0)
    good = tmp_path / "ring.npy"
    np.save(good, means[np.arange(2500) % 8] + 0.01 * rng.normal(size=(2500, 2)))
    s = evaluate_json(capsys, good, "--dataset", "ring8")["summary"]
    assert s["modes_covered"] == 8 and s["modes"] == 8 and s["high_quality"] > 0.95
    assert not s["collapse"]
    one = tmp_path / "one.npy"
    np.save(one, np.repeat(means[:1], 2500, 0).astype(np.float32))
    s = evaluate_json(capsys, one, "--dataset", "ring8")["summary"]
    assert s["modes_covered"] == 1 and s["collapse"] and "1 of 8 modes" in s["warning"]


class Boom:
    """Unpickling this creates a file: proof that a file was (not) unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming width x height (a pixel bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = (
        struct.pack(">I", len(ihdr))
        + b"IHDR"
        + ihdr
        + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    )
    return b"\x89PNG\r\n\x1a\n" + chunk


def test_hostile_and_wrong_inputs_are_one_line_each(tmp_path, capsys, monkeypatch):
    from PIL import Image

    fm = ("--dataset", "fashion-mnist", "-n", 10)
    marker = tmp_path / "unpickled"
    pickled = tmp_path / "pickle.npy"
    np.save(pickled, np.array([Boom(marker), 1], dtype=object), allow_pickle=True)
    assert "never unpickles" in one_line_error(capsys, pickled, *fm)
    assert not marker.exists()
    # A bare pickle with an .npy name is not an .npy at all.
    raw = tmp_path / "raw.npy"
    raw.write_bytes(pickle.dumps(Boom(marker)))
    assert "not a .npy file" in one_line_error(capsys, raw, *fm)
    assert not marker.exists()

    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((20, 3, 32, 32), np.uint8))
    err = one_line_error(capsys, wrong, *fm)
    assert "(20, 3, 32, 32)" in err and "(N, 1, 28, 28)" in err and "does not resize" in err
    floats = tmp_path / "bytes-as-floats.npy"
    np.save(floats, np.full((20, 28, 28), 200.0, np.float32))
    assert "[-1, 1] or [0, 1]" in one_line_error(capsys, floats, *fm)
    ints = tmp_path / "int64.npy"
    np.save(ints, np.zeros((20, 28, 28), np.int64))
    assert "int64" in one_line_error(capsys, ints, *fm)
    few = tmp_path / "few.npy"
    np.save(few, np.zeros((20, 28, 28), np.uint8))
    assert "holds 20 samples, fewer than the 100" in one_line_error(
        capsys, few, "--dataset", "fashion-mnist", "-n", 100
    )

    huge = tmp_path / "header.npy"  # format 2.0, a header claiming 1 GB
    huge.write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", 10**9) + b"{" * 64)
    assert "header of 1,000,000,000 bytes" in one_line_error(capsys, huge, *fm)
    nested = tmp_path / "nested.npy"
    body = b"(" * 5000 + b"\n"
    nested.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body)
    assert "damaged .npy header" in one_line_error(capsys, nested, *fm)
    short = tmp_path / "short.npy"
    np.save(short, np.zeros((20, 28, 28), np.uint8))
    short.write_bytes(short.read_bytes()[:-100])
    assert "cut short" in one_line_error(capsys, short, *fm)

    fifo = tmp_path / "fifo.npy"
    os.mkfifo(fifo)
    assert "FIFO" in one_line_error(capsys, fifo, *fm)  # refused without blocking

    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(folder / f"{i:02d}.png")
    outside = tmp_path / "outside.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(outside)
    (folder / "05.png").unlink()
    (folder / "05.png").symlink_to(outside)
    assert "link leading out of the folder" in one_line_error(capsys, folder, *fm)
    (folder / "05.png").unlink()
    os.mkfifo(folder / "05.png")
    assert "FIFO" in one_line_error(capsys, folder, *fm)
    (folder / "05.png").unlink()
    (folder / "05.png").write_bytes(png_header_only(100_000, 100_000))
    assert "budget" in one_line_error(capsys, folder, *fm)
    Image.fromarray(np.zeros((56, 56), np.uint8)).save(folder / "05.png")
    assert "56x56" in one_line_error(capsys, folder, *fm)
    from genbench.metrics import external

    monkeypatch.setattr(external, "PNG_COUNT_MAX", 5)  # the cap is 50,000: too many to make
    assert "more than 5 PNG files" in one_line_error(capsys, folder, *fm)
    monkeypatch.undo()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no .png files" in one_line_error(capsys, empty, *fm)

    # Points: the shape the dataset's points have; never a folder.
    assert "(N, 2)" in one_line_error(capsys, wrong, "--dataset", "ring8", "-n", 10)
    assert "folder" in one_line_error(capsys, folder, "--dataset", "ring8", "-n", 10)
    assert "unknown dataset" in one_line_error(capsys, wrong, "--dataset", "nope")
    out_in_nowhere = tmp_path / "nowhere" / "eval.json"
    assert "does not exist" in one_line_error(capsys, wrong, *fm, "--out", out_in_nowhere)


def test_a_run_folder_is_still_a_run_and_other_paths_need_a_dataset(runs_dir, tmp_path, capsys):
    assert (
        run_cli(
            "run",
            "--headless",
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--steps",
            5,
            "--runs-dir",
            runs_dir,
            "--name",
            "r",
            "--quiet",
        )
        == 0
    )
    capsys.readouterr()
    run = runs_dir / "r"
    assert "is a run folder" in one_line_error(capsys, run, "--dataset", "ring8")
    assert not (run / "eval.json").exists()
    samples = tmp_path / "s.npy"
    np.save(samples, np.zeros((2500, 2), np.float32))
    err = one_line_error(capsys, samples)
    assert "not a folder" in err and "give --dataset NAME" in err
    assert run_cli("eval", run, "--json") == 0  # unchanged: the run's own eval.json
    assert json.loads(capsys.readouterr().out)["run"] == "r"
    assert (run / "eval.json").is_file()


def test_labels_give_class_consistency_and_flag_within_class_collapse(
    test_images, tmp_path, capsys
):
    labels = test_labels["y"][:1000]
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "real.npy", test_images[:1000])
    fm = ("--dataset", "fashion-mnist", "-n", 1000, "--labels", tmp_path / "labels.npy")
    healthy = evaluate_json(capsys, tmp_path / "real.npy", *fm)["summary"]
    assert healthy["class_consistency"] > 0.85 and not healthy["collapse"]
    assert healthy["within_class_collapse"] == [] and healthy["within_class_diversity"] > 0.8
    # Another implementation's cgan that draws one image per label.
    first = {k: int(np.nonzero(labels == k)[0][0]) for k in range(10)}
    np.save(tmp_path / "collapsed.npy", test_images[[first[k] for k in labels]])
    record = evaluate_json(capsys, tmp_path / "collapsed.npy", *fm)
    s = record["summary"]
    assert s["classes_covered"] == 10 and s["collapse"] is True
    assert s["within_class_collapse"] == list(range(10))
    assert s["warning"].startswith("within-class collapse")
    assert record["source"]["labels"].endswith("labels.npy")

    np.save(tmp_path / "eleven.npy", np.full(1000, 10))
    assert "0 to 9" in one_line_error(
        capsys,
        tmp_path / "real.npy",
        "--dataset",
        "fashion-mnist",
        "-n",
        1000,
        "--labels",
        tmp_path / "eleven.npy",
    )
    np.save(tmp_path / "floats.npy", labels.astype(np.float32))
    assert "shape (N,)" in one_line_error(
        capsys,
        tmp_path / "real.npy",
        "--dataset",
        "fashion-mnist",
        "-n",
        1000,
        "--labels",
        tmp_path / "floats.npy",
    )
    np.save(tmp_path / "short.npy", labels[:10])
    assert "holds 10 labels, fewer than the 1,000" in one_line_error(
        capsys,
        tmp_path / "real.npy",
        "--dataset",
        "fashion-mnist",
        "-n",
        1000,
        "--labels",
        tmp_path / "short.npy",
    )


def test_an_npz_reads_as_its_arr_0_with_its_labels(test_images, tmp_path, capsys):
    """numpy.savez's layout (genbench sample's, the guided-diffusion evaluator's):
    arr_0 channels last, stored or deflated, and labels used as --labels."""
    x, y = test_images[:500], test_labels["y"][:500]
    npy = tmp_path / "same.npy"
    np.save(npy, x)
    want = evaluate_json(capsys, npy, "--dataset", "fashion-mnist", "-n", 500)
    for save in (np.savez, np.savez_compressed):
        plain = tmp_path / f"{save.__name__}.npz"
        save(plain, x.transpose(0, 2, 3, 1))
        got = evaluate_json(capsys, plain, "--dataset", "fashion-mnist", "-n", 500)
        assert got["source"]["format"] == "npz" and got["source"]["layout"] == "NHWC"
        assert got["summary"]["fd"] == pytest.approx(want["summary"]["fd"], abs=1e-9)
        assert "class_consistency" not in got["summary"]
    labelled = tmp_path / "labelled.npz"
    np.savez(labelled, x.transpose(0, 2, 3, 1), labels=np.asarray(y, dtype=np.int64))
    got = evaluate_json(capsys, labelled, "--dataset", "fashion-mnist", "-n", 500)
    # the real images' true classes: the classifier agrees with most of them
    assert got["source"]["labels"] == f"{labelled}:labels"
    assert got["summary"]["class_consistency"] > 0.8


def test_a_hostile_npz_is_one_line(tmp_path, capsys):
    import zipfile

    fm = ("--dataset", "fashion-mnist", "-n", 10)
    images = np.zeros((20, 28, 28, 1), np.uint8)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04" + os.urandom(200))
    assert "not an .npz (no zip directory)" in one_line_error(capsys, garbage, *fm)

    other = tmp_path / "other.npz"
    np.savez(other, images=images)
    assert "holds no array 'arr_0' (its entries: images.npy)" in one_line_error(capsys, other, *fm)

    marker = tmp_path / "unpickled"
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, np.array([Boom(marker), 1], dtype=object))
    assert "never unpickles" in one_line_error(capsys, pickled, *fm)
    assert not marker.exists()

    many = tmp_path / "many.npz"
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(200):
            archive.writestr(f"a{i}.npy", b"")
    assert "a zip of 200 entries" in one_line_error(capsys, many, *fm)

    bzip = tmp_path / "bzip2.npz"
    with zipfile.ZipFile(bzip, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("arr_0.npy", b"\x93NUMPY")
    assert "zip method 12" in one_line_error(capsys, bzip, *fm)

    # a deflated entry whose data is damaged: zlib's error, one line
    broken = tmp_path / "broken.npz"
    np.savez_compressed(broken, np.random.default_rng(0).integers(0, 255, (20, 28, 28, 1)))
    data = bytearray(broken.read_bytes())
    data[200:260] = os.urandom(60)
    broken.write_bytes(bytes(data))
    err = one_line_error(capsys, broken, *fm)
    assert "not a readable .npz" in err or "damaged .npy header" in err

    short = tmp_path / "short.npz"  # arr_0 promises more rows than its entry holds
    np.savez(short, images)
    with zipfile.ZipFile(short) as archive:
        entry = archive.read("arr_0.npy")
    with zipfile.ZipFile(short, "w") as archive:
        archive.writestr("arr_0.npy", entry[:-500])
    assert "cut short" in one_line_error(capsys, short, *fm)

    bad_labels = tmp_path / "labels.npz"
    np.savez(bad_labels, images, labels=np.full(20, 10, np.int64))
    assert "labels from 10 to 10; this dataset's are 0 to 9" in one_line_error(
        capsys, bad_labels, *fm
    )
