"""genbench's built-in models against their reference implementations, one command.

    python benchmarks/reference_quality.py REFS [--images 25600] [--conv-images 12800]
                                                [-n 2000] [--work DIR] [--rows dcgan,vae,...]
                                                [--seeds 0,1,2]

REFS is the folder the references were fetched into, holding two checkouts:

    REFS/examples      https://github.com/pytorch/examples      (dcgan/main.py, vae/main.py)
    REFS/PyTorch-GAN   https://github.com/eriklindernoren/PyTorch-GAN
                       (implementations/wgan_gp/wgan_gp.py, cgan/cgan.py, lsgan/lsgan.py)

For each row, one after another on one CPU thread: train the genbench model
(`genbench run --headless`) and run the reference script unchanged, both at batch 64 on
the same number of real Fashion-MNIST training images (and so the same number of critic
updates for wgan-gp, where genbench draws a fresh batch per critic update as the reference
does); draw -n samples of each (genbench: `genbench eval RUN`; the reference: its
generator as the script leaves it, saved as .npy, with the labels for cgan) and measure
both with `genbench eval`, in the same feature space. Prints a Markdown table (and writes
it to WORK/table.md, the eval records to WORK/*.json, sample grids to WORK/*.png).

No reference code is kept here. The references are run by runpy in a child process of
this script, with three things patched at run time, none of them in their training loops:
torchvision's MNIST dataset is replaced by FashionMNIST read from the local IDX files
(they download MNIST, and nothing can be downloaded here); the DataLoader hands out
the row's number of full batches and then nothing, across as many epochs as that needs
(their loops run by epochs; the script asks for enough); and torch uses one thread.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import runpy
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# row (the genbench model): reference script under REFS, convolutional (smaller budget)
# In running order: the cheap MLP rows first, the slow convolutional ones last.
ROWS = {
    "vae": ("examples/vae/main.py", False),
    "wgan-gp": ("PyTorch-GAN/implementations/wgan_gp/wgan_gp.py", False),
    "cgan": ("PyTorch-GAN/implementations/cgan/cgan.py", False),
    "lsgan": ("PyTorch-GAN/implementations/lsgan/lsgan.py", True),
    "dcgan": ("examples/dcgan/main.py", True),
}
BATCH = 64
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def ref_args(row: str, epochs: int = 1, seed: int = 0) -> list[str]:
    """The reference's command line: batch 64, enough epochs for the row's budget (the
    loader is cut short at it), the row's seed where the script seeds itself, its
    defaults otherwise; PyTorch-GAN's MLPs at Fashion-MNIST's 28 px (cgan defaults to 32)."""
    n = str(epochs)
    if row == "dcgan":
        # Its networks are built for 64 px: it trains on the images resized to 64, and its
        # samples are resized back to 28 for the measurement (see --help of this script).
        return [
            "--dataset",
            "mnist",
            "--dataroot",
            "unused",
            "--batchSize",
            str(BATCH),
            "--niter",
            n,
            "--workers",
            "0",
            "--manualSeed",
            str(seed),
            "--outf",
            "out",
        ]
    if row == "vae":
        # It seeds torch with its own --seed (default 1): seed 0 keeps that default, so
        # the one-seed rows published before --seeds existed still reproduce.
        return ["--batch-size", str(BATCH), "--epochs", n, "--no-accel", "--seed", str(seed + 1)]
    if row == "lsgan":
        # Its discriminator's last layer assumes a side divisible by 16: 32 px, as above.
        return ["--batch_size", str(BATCH), "--n_epochs", n, "--img_size", "32"]
    return ["--batch_size", str(BATCH), "--n_epochs", n, "--img_size", "28"]


# --------------------------------------------------------------------------- child


def child(
    row: str, script: Path, batches: int, n: int, data: Path, out: Path, seed: int = 0
) -> None:
    """Run one reference script in this process, then save n samples of its generator."""
    import numpy as np
    import torch
    import torch.utils.data
    import torchvision.datasets
    from torchvision.utils import save_image

    torch.set_num_threads(1)
    torch.manual_seed(seed)  # PyTorch-GAN's scripts seed nothing themselves
    np.random.seed(seed)

    class LocalFashion(torchvision.datasets.FashionMNIST):
        # The scripts ask for MNIST under their own root with download=True; the files
        # are already in data/FashionMNIST/raw, so torchvision reads them and downloads
        # nothing.
        def __init__(self, root, *args, download=False, **kwargs):
            super().__init__(str(data), *args, download=False, **kwargs)

        @property
        def raw_folder(self) -> str:  # torchvision names it after the class
            return str(data / "FashionMNIST" / "raw")

    base = torch.utils.data.DataLoader

    class Limited(base):  # type: ignore[misc, valid-type]
        # Their loops run whole epochs; the row's budget is a number of training
        # batches, counted across epochs (a budget past one epoch runs as many as it
        # needs), every batch full (drop_last), so images seen = batches * 64 exactly.
        # The vae's test loader is cut at the budget too: it only prints a loss.
        left = batches  # training batches still to hand out

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "drop_last": True})

        def _train(self) -> bool:
            return getattr(self.dataset, "train", True)

        def _budget(self) -> int:
            return Limited.left if self._train() else batches

        def __iter__(self):
            # This epoch's length, fixed when it starts (the scripts divide by len()).
            self._epoch = min(self._budget(), super().__len__())
            for batch in itertools.islice(super().__iter__(), self._epoch):
                if self._train():
                    Limited.left -= 1
                yield batch

        def __len__(self):
            epoch = getattr(self, "_epoch", None)
            return min(self._budget(), super().__len__()) if epoch is None else epoch

    torchvision.datasets.MNIST = LocalFashion
    torch.utils.data.DataLoader = Limited  # type: ignore[misc]
    workdir = out.parent / f"ref-{row}" / "a" / "b"  # they write ../../data, images/, results/
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "results").mkdir(exist_ok=True)  # vae saves there without creating it
    os.chdir(workdir)
    per_epoch = 60_000 // BATCH  # full batches in one epoch
    sys.argv = [str(script), *ref_args(row, -(-batches // per_epoch), seed)]
    started = time.perf_counter()
    g = runpy.run_path(str(script), run_name="__main__")
    seconds = time.perf_counter() - started

    samples = generate(row, g, n)
    if row == "cgan":
        labels = torch.arange(n) % 10
        np.save(out.with_suffix(".labels.npy"), labels.numpy())
    np.save(out.with_suffix(".npy"), samples.numpy().astype(np.float32))
    save_image(
        samples[:100], str(out.with_suffix(".png")), nrow=10, normalize=True, value_range=(-1, 1)
    )
    out.with_suffix(".time").write_text(f"{seconds:.1f}\n")


def generate(row: str, g: dict[str, Any], n: int) -> torch.Tensor:
    """n samples as the scripts draw their own grids: the generator as training left
    it (train mode, so batch norm uses batch statistics), in batches of the training
    size, at Fashion-MNIST's 28 px."""
    import torch
    import torch.nn.functional as F

    parts = []
    with torch.no_grad():
        for start in range(0, n, BATCH):
            k = min(BATCH, n - start)
            x = _generator_batch(row, g, start, k)
            if x.shape[-1] != 28:
                # 64 or 32 px back to Fashion-MNIST's 28: antialiased bilinear, as a
                # photo viewer would; the measurement needs the dataset's own size.
                x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True)
            parts.append(x.clamp(-1, 1))
    return torch.cat(parts)


def _generator_batch(row: str, g: dict[str, Any], start: int, k: int) -> torch.Tensor:
    """k samples from the generator a reference script left in its globals ``g``
    (labels cycling through the classes from ``start`` for the cGAN)."""
    import torch

    if row == "dcgan":
        return g["netG"](torch.randn(k, g["nz"], 1, 1))
    if row == "vae":
        return g["model"].decode(torch.randn(k, 20)).view(k, 1, 28, 28) * 2 - 1
    if row == "cgan":
        y = torch.arange(start, start + k) % 10
        return g["generator"](torch.randn(k, 100), y)
    return g["generator"](torch.randn(k, 100))


# --------------------------------------------------------------------------- parent


def prepare_data(idx_dir: Path, work: Path) -> Path:
    """torchvision's FashionMNIST layout (root/FashionMNIST/raw, uncompressed IDX)."""
    raw = work / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        target = raw / name
        if not target.is_file():
            with gzip.open(idx_dir / f"{name}.gz") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return work / "data"


def genbench(*args: str) -> str:
    exe = Path(sys.executable).with_name("genbench")
    done = subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if done.returncode != 0:
        raise SystemExit(
            f"genbench {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()[-2000:]}"
        )
    return done.stdout


def measure(path: Path, n: int, idx_dir: Path, labels: Path | None = None) -> dict:
    args = [str(path), "-n", str(n), "--json", "--seed", "0", "--device", "cpu"]
    if path.suffix == ".npy":
        args += ["--dataset", "fashion-mnist", "--data-dir", str(idx_dir), "--range", "signed"]
    if labels is not None:
        args += ["--labels", str(labels)]
    record: dict = json.loads(genbench("eval", *args))
    return record


REF_N_CRITIC = 5  # PyTorch-GAN's wgan_gp.py: a generator update every 5th batch


def wgan_gp_n_critic() -> int:
    """genbench's default critic updates per step for wgan-gp (imports torch)."""
    from genbench_plugins.wgan import WGANGPConfig

    return WGANGPConfig().n_critic


def budget(row: str, images: int, n_critic: int = 1) -> tuple[int, int]:
    """(genbench steps, real batches on both sides) for a row of ``images`` images.

    wgan-gp: the same critic updates on both sides, one per fresh batch, and a whole number
    of the reference's generator updates (one every 5th batch); a genbench step is
    n_critic critic updates (its default: 1) and one generator update."""
    batches = images // BATCH
    if row != "wgan-gp":
        return batches, batches
    batches -= batches % REF_N_CRITIC
    batches -= batches % n_critic
    return batches // n_critic, batches


def run_row(
    row: str, refs: Path, images: int, n: int, idx_dir: Path, data: Path, work: Path, seed: int = 0
) -> dict:
    script, _ = ROWS[row]
    steps, batches = budget(row, images, wgan_gp_n_critic() if row == "wgan-gp" else 1)
    runs = work / "runs"
    name = f"{row}-s{seed}"
    shutil.rmtree(runs / name, ignore_errors=True)
    started = time.perf_counter()
    genbench(
        "run",
        "--headless",
        "--model",
        row,
        "--dataset",
        "fashion-mnist",
        "--steps",
        str(steps),
        "--batch-size",
        str(BATCH),
        "--threads",
        "1",
        "--seed",
        str(seed),
        "--runs-dir",
        str(runs),
        "--name",
        name,
        "--quiet",
        "--data-dir",
        str(idx_dir),
        "--eval-every",
        str(steps),
        "--sample-every",
        str(steps),
        "--checkpoint-every",
        str(steps),
    )
    ours_seconds = time.perf_counter() - started
    ours = measure(runs / name, n, idx_dir)
    (work / f"genbench-{name}.json").write_text(json.dumps(ours, indent=1))

    out = work / f"ref-{name}"
    subprocess.run(
        [
            sys.executable,
            __file__,
            "_child",
            row,
            str(refs / script),
            str(batches),
            str(n),
            str(data),
            str(out),
            str(seed),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    theirs = measure(
        out.with_suffix(".npy"),
        n,
        idx_dir,
        out.with_suffix(".labels.npy") if row == "cgan" else None,
    )
    (work / f"reference-{name}.json").write_text(json.dumps(theirs, indent=1))
    return {
        "row": row,
        "seed": seed,
        "images": batches * BATCH,
        "steps": steps,
        "genbench": ours["summary"],
        "reference": theirs["summary"],
        "genbench_s": ours_seconds,
        "reference_s": float(out.with_suffix(".time").read_text()),
    }


def fmt(s: dict, key: str, spec: str) -> str:
    v = s.get(key)
    return "-" if v is None else format(v, spec)


def mean_of(summaries: list[dict]) -> dict:
    """Numeric fields averaged over a row's seeds (classes covered to one decimal)."""
    out: dict = {}
    for key, value in summaries[0].items():
        values = [s.get(key) for s in summaries]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = sum(values) / len(values)
        else:
            out[key] = value
    return out


def table(results: list[dict], n: int) -> str:
    lines = [
        "| model | images seen | implementation | FD | FD per seed | precision | recall "
        "| classes | class consistency | within-class diversity | train s |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = list(dict.fromkeys(r["row"] for r in results))
    for row in rows:
        runs = [r for r in results if r["row"] == row]
        for who, label in (("genbench", "genbench"), ("reference", REF_NAMES[row])):
            s = mean_of([r[who] for r in runs])
            per_seed = " / ".join(fmt(r[who], "fd", ".2f") for r in runs)
            classes = s.get("classes_covered")
            covered = (
                "-"
                if classes is None
                else (f"{classes:.0f}" if float(classes).is_integer() else f"{classes:.1f}")
            )
            seconds = sum(r[who + "_s"] for r in runs) / len(runs)
            lines.append(
                f"| {row} | {runs[0]['images']:,} | {label} | {fmt(s, 'fd', '.2f')} "
                f"| {per_seed} | {fmt(s, 'precision', '.3f')} | {fmt(s, 'recall', '.3f')} "
                f"| {covered}/{runs[0][who].get('classes', '-')} "
                f"| {fmt(s, 'class_consistency', '.0%')} "
                f"| {fmt(s, 'within_class_diversity', '.2f')} | {seconds:.0f} |"
            )
    seeds = len(results) // max(1, len(rows))
    lines.append(
        f"\n{n:,} samples each against the 10,000 test images (`genbench eval -n {n}`)"
        f"; {seeds} seed{'s' if seeds != 1 else ''} per row, means shown."
    )
    return "\n".join(lines)


REF_NAMES = {
    "dcgan": "pytorch/examples dcgan (64 px)",
    "vae": "pytorch/examples vae",
    "wgan-gp": "PyTorch-GAN wgan_gp",
    "cgan": "PyTorch-GAN cgan",
    "lsgan": "PyTorch-GAN lsgan (32 px)",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        row, script, batches, n, root, out, seed = argv[1:8]
        child(row, Path(script), int(batches), int(n), Path(root), Path(out), int(seed))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("refs", type=Path, help="folder holding examples/ and PyTorch-GAN/")
    p.add_argument(
        "--images",
        type=int,
        default=25_600,
        help="real training images seen by each MLP model (default 25,600)",
    )
    p.add_argument(
        "--conv-images",
        type=int,
        default=12_800,
        help="real training images seen by dcgan and lsgan (default 12,800)",
    )
    p.add_argument("-n", "--samples", type=int, default=2000, help="samples measured (2000)")
    p.add_argument("--rows", default=",".join(ROWS), help="comma list of rows")
    p.add_argument(
        "--seeds",
        default="0",
        help="comma list of seeds: each row is run once "
        "per seed, both sides (genbench's --seed; the reference's torch seed), "
        "and the table gives the means and FD per seed (default 0)",
    )
    p.add_argument("--work", type=Path, default=Path("/tmp/reference_quality"))
    p.add_argument(
        "--fashion",
        type=Path,
        default=Path("/usr/share/datasets/fashion-mnist"),
        help="folder of the Fashion-MNIST IDX .gz files",
    )
    a = p.parse_args(argv)
    rows = [r for r in a.rows.split(",") if r]
    for row in rows:
        if row not in ROWS:
            p.error(f"unknown row {row!r}; rows: {', '.join(ROWS)}")
        if not (a.refs / ROWS[row][0]).is_file():
            p.error(f"{a.refs / ROWS[row][0]} not found: fetch the references into REFS")
    a.work.mkdir(parents=True, exist_ok=True)
    data = prepare_data(a.fashion, a.work)
    try:
        seeds = [int(s) for s in a.seeds.split(",") if s]
    except ValueError:
        p.error(f"--seeds: {a.seeds!r} is not a comma list of integers")
    results = []
    for row in rows:
        images = a.conv_images if ROWS[row][1] else a.images
        for seed in seeds:
            print(f"{row}: {images:,} images, seed {seed} ...", file=sys.stderr, flush=True)
            results.append(
                run_row(row, a.refs.resolve(), images, a.samples, a.fashion, data, a.work, seed)
            )
        (a.work / "results.json").write_text(json.dumps(results, indent=1))
        text = table(results, a.samples)
        (a.work / "table.md").write_text(text + "\n")  # rows so far, if stopped early
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
