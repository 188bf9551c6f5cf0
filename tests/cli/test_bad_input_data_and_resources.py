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
from tests.cli.test_bad_input import assert_one_line_error
from tests.conftest import REPO, toy_model_source


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
    assert abs(float(images[0].mean()) - 30000 / 257) < 1.0  # 117, not 255
    assert float(images[1].mean()) == 255.0


def test_scan_of_a_huge_tree_stops_with_one_line(tmp_path, monkeypatch):
    import genbench.data.folder as folder

    monkeypatch.setattr(folder, "MAX_ENTRIES", 50)
    root = tmp_path / "big"
    for i in range(30):
        (root / f"d{i}").mkdir(parents=True)
        (root / f"d{i}" / "notes.txt").write_text("x")
    with pytest.raises(
        UsageError,
        match=r"has more than 50 files and folders; point "
        r"folder: at a folder of images",
    ):
        get_dataset(f"folder:{root}")


def test_eval_of_a_received_run_with_folder_root_is_one_line(
    tmp_path, runs_dir, capsys, monkeypatch
):
    import genbench.data.folder as folder

    for i in range(4):
        write_png(tmp_path / "imgs" / f"{i}.png", colour=(i * 60, 0, 0))
    assert (
        run(
            "--model",
            "gan",
            "--dataset",
            f"folder:{tmp_path / 'imgs'}",
            "--image-size",
            "8",
            "--steps",
            "1",
            "--batch-size",
            "2",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "got",
            "--quiet",
            "--eval-every",
            "100",
        )
        == 0
    )
    capsys.readouterr()
    meta_path = runs_dir / "got" / "run.json"
    meta = json.loads(meta_path.read_text())
    meta["dataset"] = "folder:/"
    meta_path.write_text(json.dumps(meta))
    monkeypatch.setattr(folder, "MAX_ENTRIES", 2000)  # a whole filesystem is far more
    assert within(60, main, ["eval", str(runs_dir / "got"), "-n", "16"]) == 2
    assert_one_line_error(capsys, "folder:/ has more than 2,000 files and folders")


def test_show_json_is_strict_json(plugin_site, runs_dir, capsys):
    plugin_site.add("gb-toy", toy_model_source())
    assert (
        run(
            "--model",
            "toy",
            "--dataset",
            "ring8",
            "--steps",
            "4",
            "--log-every",
            "1",
            "--set",
            "nan_at=3",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "nan",
            "--quiet",
        )
        == 1
    )
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
    from genbench.cli.common import print_json

    print_json(
        {"a": float("nan"), "b": [float("inf"), 1.5, {"c": -float("inf")}], "d": (1, float("nan"))}
    )
    assert json.loads(capsys.readouterr().out) == {
        "a": None,
        "b": [None, 1.5, {"c": None}],
        "d": [1, None],
    }


# -- item 7: bad input leaves no folder and no traceback --------------------------------

TOO_BIG_SEED = str(2**64)


def test_seed_beyond_what_torch_takes_is_refused_for_run(runs_dir, capsys):
    assert (
        run(
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--seed",
            TOO_BIG_SEED,
            "--runs-dir",
            str(runs_dir),
        )
        == 2
    )
    assert_one_line_error(capsys, "--seed", "0 to 9223372036854775807")
    assert leaves_nothing(runs_dir)


def test_seed_beyond_what_torch_takes_is_refused_for_eval(tmp_path, capsys):
    assert main(["eval", str(tmp_path), "--seed", TOO_BIG_SEED]) == 2
    assert_one_line_error(capsys, "--seed", "0 to 9223372036854775807")
    assert main(["eval", str(tmp_path), "--seed", "-1"]) == 2
    assert_one_line_error(capsys, "--seed", "0 to 9223372036854775807")


def test_largest_seed_is_taken(runs_dir, capsys):
    assert (
        run(
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--seed",
            str(2**63 - 1),
            "--steps",
            "1",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "big-seed",
            "--quiet",
            "--eval-every",
            "100",
        )
        == 0
    )
    assert json.loads((runs_dir / "big-seed" / "run.json").read_text())["seed"] == 2**63 - 1


@pytest.mark.parametrize(
    "name, needles",
    [
        ("a" * 256, ["256 bytes", "at most 255 bytes"]),
        ("é" * 128, ["256 bytes", "at most 255 bytes"]),
        ("two words", ["' '", "letters, digits, - _ ."]),
        ("line\nbreak", ["'\\n'", "letters, digits, - _ ."]),
        ("tab\there", ["'\\t'", "letters, digits, - _ ."]),
        ("semi;colon", ["';'", "letters, digits, - _ ."]),
        (".hidden", ["starts with '.'"]),
    ],
)
def test_bad_run_names(runs_dir, capsys, name, needles):
    assert (
        run("--model", "gan", "--dataset", "ring8", "--name", name, "--runs-dir", str(runs_dir))
        == 2
    )
    assert_one_line_error(capsys, *needles)
    assert leaves_nothing(runs_dir)


def test_good_run_names_are_taken():
    from genbench.runfolder.runs import validate_name

    for name in ("a" * 255, "é" * 127, "run-1_b.2", "日本語"):
        assert validate_name(name) == name


@pytest.fixture
def memory_of(monkeypatch):
    """Pretend the device has ``n`` bytes free, whatever this machine has."""
    from genbench.training import fits

    def set_free(n):
        monkeypatch.setattr(fits, "available_memory", lambda device: n)

    return set_free


@pytest.mark.parametrize(
    "setting, needles",
    [
        # Within the sizes gan declares (at most 65536), yet far beyond 16 GB.
        ("hidden=65536", ["hidden=65536", "17,184,784,387 parameters", "choose smaller sizes"]),
        ("hidden=40000", ["hidden=40000", "parameters", "choose smaller sizes"]),
    ],
)
def test_model_too_big_for_memory_is_refused_up_front(
    runs_dir, capsys, memory_of, setting, needles
):
    memory_of(16_000_000_000)
    assert (
        run("--model", "gan", "--dataset", "ring8", "--set", setting, "--runs-dir", str(runs_dir))
        == 2
    )
    assert_one_line_error(capsys, *needles, "16.0 GB of memory free on cpu")
    assert leaves_nothing(runs_dir)


def test_batch_too_big_for_memory_is_refused_up_front(runs_dir, capsys, memory_of):
    memory_of(16_000_000_000)
    # Within run.json's bound on a batch (2**24), yet far beyond 16 GB.
    assert (
        run(
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--batch-size",
            "16000000",
            "--runs-dir",
            str(runs_dir),
        )
        == 2
    )
    line = assert_one_line_error(
        capsys,
        "--batch-size 16000000 needs at least",
        "of gan on ring8",
        "16.0 GB of memory free on cpu",
        "use a --batch-size under",
    )
    fits = int(line.rsplit(" ", 1)[1].replace(",", ""))
    assert 100_000 < fits < 10_000_000
    assert leaves_nothing(runs_dir)


def test_batch_size_estimate_uses_this_machines_memory(runs_dir):
    """16 million examples of ring8 (within the bound on a batch, 2**24) need 66 GB. In a child
    process under `ulimit -v` 8 GiB: without the estimate this batch grows until the
    machine's memory is gone (the child fails instead, and so does the test)."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "genbench",
            "run",
            "--headless",
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--batch-size",
            "16000000",
            "--runs-dir",
            str(runs_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "--batch-size 16000000 needs at least" in lines[0]
    assert "of memory free on cpu" in lines[0]
    assert leaves_nothing(runs_dir)


def test_address_space_limit_counts_as_memory(monkeypatch):
    import resource

    import torch

    from genbench.training import fits

    monkeypatch.setattr(
        resource,
        "getrlimit",
        lambda which: (50 << 30, 50 << 30) if which == resource.RLIMIT_AS else (-1, -1),
    )
    free = fits.available_memory(torch.device("cpu"))
    assert free is not None and free < 50 << 30


def test_available_memory_is_known_on_this_machine():
    import torch

    from genbench.training.fits import available_memory

    free = available_memory(torch.device("cpu"))
    assert free is None or 0 < free < 1 << 50


BIG_ALLOC_MODEL = """
from dataclasses import dataclass
import torch
from genbench import GenerativeModel, hookimpl, param

@dataclass
class Config:
    width: int = param(1, "side of a scratch buffer", min=1)

class Hog(GenerativeModel):
    name = "hog"
    title = "Hog"
    kinds = frozenset({"points"})
    Config = Config

    def __init__(self, config, spec, device):
        super().__init__(config, spec, device)
        self.net = torch.nn.Linear(spec.dim, spec.dim).to(device)
        # not a parameter, so no estimate sees it: only the real build fails
        self.scratch = torch.empty(config.width, config.width, device=device)

    def train_step(self, x, y=None):
        return {"mse": self.net(x).pow(2).mean()}

    def sample(self, n, labels=None, generator=None):
        return torch.randn(n, self.spec.dim, generator=generator)

@hookimpl
def genbench_models():
    return [Hog]
"""


def test_allocation_failure_while_building_the_model_is_one_line(plugin_site, runs_dir, capsys):
    plugin_site.add("gb-hog", BIG_ALLOC_MODEL)
    # 10**7 x 10**7 floats: 400 TB, more than any address space
    assert (
        run(
            "--model",
            "hog",
            "--dataset",
            "ring8",
            "--set",
            "width=10000000",
            "--runs-dir",
            str(runs_dir),
        )
        == 2
    )
    assert_one_line_error(
        capsys, "model 'hog' with width=10000000", "does not fit in memory", "choose smaller sizes"
    )
    assert leaves_nothing(runs_dir)


def test_folder_dataset_smaller_than_the_batch_leaves_no_folder(tmp_path, runs_dir, capsys):
    for i in range(3):
        write_png(tmp_path / "few" / f"{i}.png")
    assert (
        run(
            "--model",
            "gan",
            "--dataset",
            f"folder:{tmp_path / 'few'}",
            "--image-size",
            "8",
            "--runs-dir",
            str(runs_dir),
        )
        == 2
    )
    assert_one_line_error(capsys, "--batch-size 64 is larger than the dataset (3 examples)")
    assert leaves_nothing(runs_dir)


@pytest.mark.parametrize(
    "value, needles",
    [
        ("1e308", ["lr=1e+308", "32-bit floats", "3.4e+38"]),
        ("1e39", ["lr=1e+39"]),
    ],
)
def test_learning_rate_beyond_float32_is_refused_up_front(runs_dir, capsys, value, needles):
    assert (
        run(
            "--model", "gan", "--dataset", "ring8", f"--set=lr={value}", "--runs-dir", str(runs_dir)
        )
        == 2
    )
    assert_one_line_error(capsys, *needles)
    assert leaves_nothing(runs_dir)


def test_int_beyond_int64_is_refused_up_front(runs_dir, capsys):
    assert (
        run(
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--set",
            f"latent_dim={10**19}",
            "--runs-dir",
            str(runs_dir),
        )
        == 2
    )
    assert_one_line_error(capsys, "latent_dim=10000000000000000000 is above its maximum 65536")
    assert leaves_nothing(runs_dir)


def test_huge_but_representable_learning_rate_ends_diverged_in_one_line(runs_dir, capsys):
    assert (
        run(
            "--model",
            "gan",
            "--dataset",
            "ring8",
            "--set",
            "lr=1e30",
            "--steps",
            "5",
            "--runs-dir",
            str(runs_dir),
            "--name",
            "hot",
            "--quiet",
        )
        == 1
    )
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert json.loads((runs_dir / "hot" / "run.json").read_text())["status"] == "diverged"


def fill_up(folder):
    """A full filesystem mounted at ``folder`` (needs root); False when not possible."""
    folder.mkdir()
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode:
        return False
    (folder / "runs").mkdir()
    try:
        with open(folder / "fill", "wb") as fh:
            fh.write(b"\0" * (1 << 20))
    except OSError:
        pass
    return True


def test_full_disk_at_the_start_is_one_line_and_leaves_nothing(tmp_path, capsys):
    disk = tmp_path / "disk"
    if not fill_up(disk):
        pytest.skip("mounting a tiny tmpfs needs root")
    try:
        code = run("--model", "gan", "--dataset", "ring8", "--runs-dir", str(disk / "runs"))
        err = capsys.readouterr().err
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and "No space left on device" in err, err
        assert list((disk / "runs").iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_full_disk_while_taking_the_folder_is_one_line_and_leaves_nothing(
    runs_dir, capsys, monkeypatch
):
    """Simulated: the run.json write fails after the lock was taken."""
    from genbench.runfolder import writer

    def no_space(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(writer, "write_atomic", no_space)
    assert run("--model", "gan", "--dataset", "ring8", "--runs-dir", str(runs_dir)) == 2
    assert_one_line_error(capsys, "No space left on device", "no run was started")
    assert leaves_nothing(runs_dir)


READ_ONLY_MODEL = (
    BIG_ALLOC_MODEL.replace('name = "hog"', 'name = "ro"')
    .replace("return [Hog]", "return [Hog]\n")
    .replace(
        '        return {"mse": self.net(x).pow(2).mean()}',
        '        self.width = getattr(self, "width", 0) + 1\n'
        "        if self.width == 3:\n"
        '            import os; os.environ["GB_READ_ONLY"] = "1"   # the disk turns read-only\n'
        '        return {"mse": self.net(x).pow(2).mean()}',
    )
)


def test_filesystem_turning_read_only_mid_run_ends_failed_in_one_line(
    plugin_site, runs_dir, capsys, monkeypatch
):
    plugin_site.add("gb-ro", READ_ONLY_MODEL)
    monkeypatch.setenv("GB_READ_ONLY", "0")
    root = str(runs_dir)

    def guard(fn, *paths_at):
        def wrapped(*args, **kwargs):
            if os.environ.get("GB_READ_ONLY") == "1" and any(
                str(args[i]).startswith(root) for i in paths_at if i < len(args)
            ):
                if fn is real_open and not args[1] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                    return fn(*args, **kwargs)  # reading still works
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(args[0]))
            return fn(*args, **kwargs)

        return wrapped

    real_open = os.open
    for name, at in (
        ("open", (0,)),
        ("replace", (0, 1)),
        ("rename", (0, 1)),
        ("unlink", (0,)),
        ("link", (0, 1)),
        ("mkdir", (0,)),
        ("rmdir", (0,)),
    ):
        monkeypatch.setattr(os, name, guard(getattr(os, name), *at))

    code = run(
        "--model",
        "ro",
        "--dataset",
        "ring8",
        "--steps",
        "20",
        "--log-every",
        "2",
        "--checkpoint-every",
        "2",
        "--runs-dir",
        root,
        "--name",
        "ro",
        "--quiet",
    )
    monkeypatch.setenv("GB_READ_ONLY", "0")
    captured = capsys.readouterr()
    assert code == 1, captured.err
    text = captured.out + captured.err
    assert "Traceback" not in text, text
    assert "failed" in text and "Read-only file system" in text, text


def test_a_pixel_bomb_in_a_folder_dataset_is_one_line(tmp_path, monkeypatch):
    from PIL import Image

    from genbench.data import folder

    images = tmp_path / "imgs"
    images.mkdir()
    for i in range(3):
        Image.new("L", (8, 8), 30 * i).save(images / f"ok{i}.png")
    Image.new("1", (10000, 10000)).save(images / "bomb.png")  # 100 MP, ~12 KB
    with pytest.raises(UsageError, match=r"bomb.png is 10000x10000 pixels, over the 64 mega"):
        folder.load_image(images / "bomb.png", 16, "L")
    assert folder.load_image(images / "ok1.png", 16, "L").shape == (1, 16, 16)


def test_run_json_events_are_strict_json(capsys):
    from genbench.cli.reporting import JsonReporter

    JsonReporter()(
        {"event": "metrics", "step": 3, "losses": {"g": float("nan"), "d": [float("inf"), 1.0]}}
    )
    assert json.loads(capsys.readouterr().out, parse_constant=lambda c: 1 / 0) == {
        "event": "metrics",
        "step": 3,
        "losses": {"g": None, "d": [None, 1.0]},
    }
