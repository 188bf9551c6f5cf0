"""More bad input (issue 12, items 7 and 10): each case is one line on stderr, exit
code 2, no traceback, and no run folder left behind; ``folder:`` datasets are
scanned with bounded cost; every ``--json`` output is strict JSON."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from genbench.cli import main
from genbench.data import get_dataset
from genbench.errors import UsageError
from tests.conftest import REPO, toy_model_source
from tests.test_bad_input import assert_one_line_error


def run(*args):
    return main(["run", "--headless", *args])


def write_png(path, colour=(200, 30, 30), size=(12, 12)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def leaves_nothing(runs_dir):
    return not runs_dir.exists() or not any(runs_dir.iterdir())


def within(seconds, fn, *args, **kwargs):
    """fn(*args) in a daemon thread; fails the test (instead of hanging it) when
    it takes longer than ``seconds``. Returns fn's result or raises its error."""
    box = {}

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} still running after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


# -- item 10: folder: datasets -------------------------------------------------------


def test_folder_with_two_links_to_itself_does_not_hang_or_count_twice(tmp_path):
    root = tmp_path / "imgs"
    for i in range(3):
        write_png(root / f"{i}.png")
    os.symlink(".", root / "self")
    os.symlink(".", root / "again")
    ds = within(20, get_dataset, f"folder:{root}", image_size=8)
    assert ds.size == 3


def test_folder_with_one_link_to_itself_counts_each_image_once(tmp_path):
    root = tmp_path / "imgs"
    write_png(root / "cats" / "a.png")
    write_png(root / "dogs" / "b.png")
    os.symlink(".", root / "cats" / "self")
    os.symlink("..", root / "dogs" / "up")
    ds = within(20, get_dataset, f"folder:{root}", image_size=8)
    assert ds.size == 2 and ds.class_names == ("cats", "dogs")


def test_fifo_named_like_an_image_is_skipped_without_hanging(tmp_path):
    root = tmp_path / "imgs"
    write_png(root / "a.png")
    write_png(root / "b.png")
    os.mkfifo(root / "x.png")
    ds = within(20, get_dataset, f"folder:{root}", image_size=8)
    assert ds.size == 2
    within(20, ds.prepare)


def test_image_swapped_for_a_fifo_after_the_scan_is_one_line_not_a_hang(tmp_path):
    root = tmp_path / "imgs"
    write_png(root / "a.png")
    write_png(root / "b.png")
    ds = get_dataset(f"folder:{root}", image_size=8)
    (root / "b.png").unlink()
    os.mkfifo(root / "b.png")
    with pytest.raises(UsageError, match="b.png is a FIFO"):
        within(20, ds.prepare)


def test_sixteen_bit_grey_png_is_scaled_not_clipped(tmp_path):
    root = tmp_path / "grey16"
    root.mkdir()
    Image.fromarray(np.full((16, 16), 30000, dtype=np.uint16)).save(root / "a.png")
    Image.fromarray(np.full((16, 16), 65535, dtype=np.uint16)).save(root / "b.png")
    ds = get_dataset(f"folder:{root}", image_size=8)
    assert ds.spec.shape == (1, 8, 8)
    ds.prepare()
    images, _ = ds._loaded
    assert abs(float(images[0].mean()) - 30000 / 257) < 1.0     # 117, not 255
    assert float(images[1].mean()) == 255.0


def test_scan_of_a_huge_tree_stops_with_one_line(tmp_path, monkeypatch):
    import genbench.data.folder as folder

    monkeypatch.setattr(folder, "MAX_ENTRIES", 50)
    root = tmp_path / "big"
    for i in range(30):
        (root / f"d{i}").mkdir(parents=True)
        (root / f"d{i}" / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match=r"has more than 50 files and folders; point "
                                         r"folder: at a folder of images"):
        get_dataset(f"folder:{root}")


def test_eval_of_a_received_run_with_folder_root_is_one_line(tmp_path, runs_dir, capsys,
                                                            monkeypatch):
    import genbench.data.folder as folder

    for i in range(4):
        write_png(tmp_path / "imgs" / f"{i}.png", colour=(i * 60, 0, 0))
    assert run("--model", "gan", "--dataset", f"folder:{tmp_path / 'imgs'}", "--image-size",
               "8", "--steps", "1", "--batch-size", "2", "--runs-dir", str(runs_dir),
               "--name", "got", "--quiet", "--eval-every", "100") == 0
    capsys.readouterr()
    meta_path = runs_dir / "got" / "run.json"
    meta = json.loads(meta_path.read_text())
    meta["dataset"] = "folder:/"
    meta_path.write_text(json.dumps(meta))
    monkeypatch.setattr(folder, "MAX_ENTRIES", 2000)     # a whole filesystem is far more
    assert within(60, main, ["eval", str(runs_dir / "got"), "-n", "16"]) == 2
    assert_one_line_error(capsys, "folder:/ has more than 2,000 files and folders")


def test_show_json_is_strict_json(plugin_site, runs_dir, capsys):
    plugin_site.add("gb-toy", toy_model_source())
    assert run("--model", "toy", "--dataset", "ring8", "--steps", "4", "--log-every", "1",
               "--set", "nan_at=3", "--runs-dir", str(runs_dir), "--name", "nan",
               "--quiet") == 1
    capsys.readouterr()
    # A received folder can hold numbers that parse as infinity (1e999 is valid JSON).
    with open(runs_dir / "nan" / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 4, "time": 1e999, "img_per_s": 1e999, "losses": {"mse": 1e999}}\n')
    code = main(["show", str(runs_dir / "nan"), "--json"])
    out = capsys.readouterr().out
    assert code == 0

    def strict(name):
        raise ValueError(f"{name} in --json output")

    json.loads(out, parse_constant=strict)
    assert main(["runs", "--runs-dir", str(runs_dir), "--json"]) == 0
    json.loads(capsys.readouterr().out, parse_constant=strict)


def test_every_json_printer_is_strict(capsys):
    from genbench import cli

    cli._print_json({"a": float("nan"), "b": [float("inf"), 1.5, {"c": -float("inf")}],
                     "d": (1, float("nan"))})
    assert json.loads(capsys.readouterr().out) == {"a": None, "b": [None, 1.5, {"c": None}],
                                                   "d": [1, None]}
