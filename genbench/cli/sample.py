"""genbench sample: draw N samples of a run to a folder of PNGs or an .npz, or walk its
latent space (--interpolate) into a grid PNG or a GIF. A thin layer over
genbench.trained (drawing) and genbench.sampling (files and walks)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from genbench.errors import UsageError
from genbench.options import THREADS_HELP, TRUNCATION_MIN
from genbench.options import parse_seed as seed_type

NAME = "sample"
# genbench eval measures 10,000 samples by default: what `sample` draws, so the two
# chain without -n. (Inception FID of papers takes 50,000: -n 50000.)
DEFAULT_SAMPLES = 10_000
SAMPLES_MAX = 10_000_000
SAMPLE_BATCH_MAX = 65_536
KEYS_MAX = 64
BETWEEN_MAX = 256
DEFAULT_BETWEEN = 8
DEFAULT_FRAME_MS = 100
WALK_SUFFIXES = (".png", ".gif")


def add_parser(sub) -> None:
    s = sub.add_parser(
        NAME,
        help="draw samples of a run to PNGs or an .npz, or a latent walk",
        description="Draw -n samples from a run's last checkpoint (or one kept with "
        "--keep-every, --step) into a folder of PNG files (000000.png, ...) or an .npz "
        "(arr_0: uint8 N,H,W,C; labels for a conditional model), as `genbench eval "
        "PATH --dataset D`, pytorch-fid and clean-fid read them. The same seed gives "
        "the same samples whatever the batch size. With --interpolate K: a latent walk "
        "through K noise vectors, written as a grid PNG or an animated GIF.",
    )
    s.add_argument("run_dir", metavar="RUN", help="a run folder")
    s.add_argument(
        "-n",
        "--samples",
        type=_whole(1, SAMPLES_MAX, "-n"),
        default=DEFAULT_SAMPLES,
        metavar="N",
        help=f"samples to draw (default {DEFAULT_SAMPLES:,}, what genbench eval measures)",
    )
    s.add_argument(
        "--out",
        metavar="PATH",
        help="a folder of PNGs, or a file ending .npz (default: samples-RUN-seedS in "
        "the current folder); for a walk, a file ending .png or .gif (default "
        "walk-RUN-seedS.png)",
    )
    s.add_argument("--force", action="store_true", help="replace an existing output")
    s.add_argument("--seed", type=seed_type, default=0, help="seed of the noise (default 0)")
    s.add_argument(
        "--batch-size",
        type=_whole(1, SAMPLE_BATCH_MAX, "--batch-size"),
        default=256,
        metavar="B",
        help="samples drawn at once (default 256); the samples do not depend on it",
    )
    which = s.add_mutually_exclusive_group()
    which.add_argument(
        "--label", metavar="K", help="conditional models: every sample of class K (index or name)"
    )
    which.add_argument(
        "--labels",
        choices=["all"],
        help="conditional models: all = an equal share of every class, in class order "
        "(default: a class drawn for each sample)",
    )
    s.add_argument(
        "--truncation",
        type=_truncation,
        metavar="T",
        help=f"redraw noise entries beyond +-T, T at least {TRUNCATION_MIN} (the "
        "truncation trick; models with standard normal noise): sharper, less varied samples",
    )
    s.add_argument(
        "--step",
        type=_whole(0, 10**12, "--step"),
        metavar="K",
        help="draw from the checkpoint kept at step K (genbench run --keep-every)",
    )
    s.add_argument("--device", help="auto (default: the run's device if here), cpu, cuda, ...")
    s.add_argument("--threads", metavar="N|auto", help=THREADS_HELP)
    # The workbench's generate view (genbench.cli.sample_serve), hidden from --help.
    s.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)
    w = s.add_argument_group("latent walks")
    w.add_argument(
        "--interpolate",
        type=_whole(2, KEYS_MAX, "--interpolate"),
        metavar="K",
        help="walk through K noise vectors of --seed (slerp) instead of sampling",
    )
    w.add_argument(
        "--steps-between",
        type=_whole(0, BETWEEN_MAX, "--steps-between"),
        metavar="M",
        help=f"frames between each two noise vectors (default {DEFAULT_BETWEEN})",
    )
    w.add_argument(
        "--across-labels",
        action="store_true",
        help="conditional models: the same walk once per class (a row, or side by side in a GIF)",
    )
    w.add_argument(
        "--frame-ms",
        type=_whole(10, 60_000, "--frame-ms"),
        metavar="MS",
        help=f"a GIF's time per frame (default {DEFAULT_FRAME_MS})",
    )


def _whole(low: int, high: int, flag: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{flag} must be from {low:,} to {high:,}, got {value}"
            )
        return value

    return parse


def _truncation(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text[:40]!r}") from None
    if not (math.isfinite(value) and value >= TRUNCATION_MIN):
        raise argparse.ArgumentTypeError(
            f"must be a number of at least {TRUNCATION_MIN} (e.g. 0.7), got {text[:40]}"
        )
    return value


class Stopped(Exception):
    """SIGTERM or SIGHUP while drawing: stop as Ctrl+C does, leaving no half output."""


def _stop(signum: int, frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


def run(args) -> int:
    if args.serve is not None:
        from genbench.cli.sample_serve import serve

        return serve(args)
    run_dir = Path(args.run_dir)
    walk = args.interpolate is not None
    _check_flags(args, walk)
    out = _out_path(args, run_dir, walk)
    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _walk(args, run_dir, out) if walk else _sample(args, run_dir, out)
    except (KeyboardInterrupt, Stopped) as exc:
        why = str(exc) if isinstance(exc, Stopped) else "Ctrl+C"
        print(f"genbench: stopped by {why}; nothing written", file=sys.stderr)
        return 130
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _check_flags(args, walk: bool) -> None:
    if walk:
        if args.labels is not None:
            raise UsageError(
                "--labels all is for samples; a walk takes --label K or --across-labels"
            )
        if args.across_labels and args.label is not None:
            raise UsageError(
                "give --label K (one class) or --across-labels (every class), not both"
            )
        return
    for flag, given in (
        ("--across-labels", args.across_labels),
        ("--steps-between", args.steps_between is not None),
        ("--frame-ms", args.frame_ms is not None),
    ):
        if given:
            raise UsageError(f"{flag} is for latent walks: add --interpolate K")


def _out_path(args, run_dir: Path, walk: bool) -> Path:
    """--out, or the default, checked before anything is loaded."""
    from genbench.sampling.files import check_file_out, check_folder_out, is_npz, shown

    name = run_dir.resolve().name or "run"
    if args.out is None:
        out = Path(
            f"walk-{name}-seed{args.seed}.png" if walk else f"samples-{name}-seed{args.seed}"
        )
    else:
        out = Path(args.out)
    suffix = out.suffix.lower()
    if walk and suffix not in WALK_SUFFIXES:
        raise UsageError(f"a walk is written to a file ending .png or .gif, not {shown(out)}")
    if not walk and suffix in WALK_SUFFIXES:
        raise UsageError(
            f"{shown(out)} is a walk's output (with --interpolate K); samples go to a "
            "folder or a file ending .npz"
        )
    real, home = os.path.realpath(out), os.path.realpath(run_dir)
    if os.path.commonpath([real, home]) == home:
        raise UsageError(
            f"{shown(out)} is inside the run folder, which is the trainer's; write "
            "the samples elsewhere"
        )
    if walk or is_npz(out):
        check_file_out(out, args.force)
    else:
        check_folder_out(out, args.force)
    return out


def _open(args, run_dir: Path):
    from genbench.host.threads import ThreadShare, parse_threads
    from genbench.trained import load

    # Beside running trainers it takes a share of the CPUs, as they do.
    ThreadShare(parse_threads(args.threads)).apply(force=True)
    run = load(run_dir, device=args.device, step=args.step)
    if args.truncation is not None:
        run.latent(1, truncation=args.truncation)  # refused for a model without N(0, I)
    asked = [
        flag
        for flag, given in (
            ("--label", args.label is not None),
            ("--labels", args.labels is not None),
            ("--across-labels", args.across_labels),
        )
        if given
    ]
    if asked and not run.conditional:
        raise UsageError(
            f"{asked[0]} is for conditional models; {run.record.model!r} is not conditional"
        )
    if args.label is not None:
        run.class_index(args.label)  # a class it has, before anything is drawn
    return run


def _labels_of(args, run, n: int):
    """One label per sample (--label, --labels all), or None: drawn, or none at all."""
    import torch

    if args.label is not None:
        return torch.full((n,), run.class_index(args.label), dtype=torch.long)
    if args.labels == "all":
        k = len(run.classes)
        return torch.arange(n, dtype=torch.long) * k // n
    return None


def _sample(args, run_dir: Path, out: Path) -> int:
    from genbench.cli.eval import progress_bar, stderr_is_terminal
    from genbench.sampling.files import is_npz, shown, writer_for

    n = args.samples
    with progress_bar(stderr_is_terminal(), first="restore") as tell:
        run = _open(args, run_dir)
        points = run.dataset.spec.kind != "image"
        if points and not is_npz(out):
            raise UsageError(
                f"{run.record.model} draws points ({run.record.dataset}), not images: "
                "write them to a file ending .npz"
            )
        # float32 (N, D) points, the layout genbench eval reads them in; images NHWC
        shape, dtype = ((n, *run.shape), "float32") if points else (_nhwc(n, run.shape), "uint8")
        try:
            writer = writer_for(out, shape, dtype)
        except OSError as exc:  # the partial file or folder cannot be made beside it
            raise UsageError(f"cannot write {shown(out)}: {exc.strerror or exc}") from None
        drawing, total = _draw(run, args, writer, tell)
    size = "x".join(str(d) for d in run.shape)
    print(
        f"wrote {n:,} samples of {run.record.model} ({size}, step {run.step}) to "
        f"{shown(out)}: {n / max(drawing, 1e-9):,.0f} samples/s drawing, "
        f"{n / max(total, 1e-9):,.0f} samples/s with writing ({total:.1f} s, "
        f"{run.device.type}, batch {args.batch_size})"
    )
    return 0


def _nhwc(n: int, chw: tuple[int, ...]) -> tuple[int, ...]:
    c, h, w = chw
    return (n, h, w, c)


def _draw(run, args, writer, tell) -> tuple[float, float]:
    """Stream the samples into ``writer`` and put its output in place: (seconds
    drawing, seconds in all). Nothing is left behind when it fails or is stopped."""
    import numpy as np

    from genbench.sampling.files import shown, to_uint8

    n, points = args.samples, writer.dtype != np.uint8
    labels = _labels_of(args, run, n)
    kept: list = []
    start, drawing = time.perf_counter(), 0.0
    try:
        batches = run.stream(n, args.seed, labels, args.truncation, args.batch_size)
        while True:
            t0 = time.perf_counter()
            batch = next(batches, None)
            if batch is None:
                break
            # the copy to the CPU waits for the device: counted as drawing
            data = batch[0].float().cpu().numpy() if points else to_uint8(batch[0])
            drawing += time.perf_counter() - t0
            writer.write(data)
            if batch[1] is not None:
                kept.append(batch[1].cpu().numpy())
            if tell:
                tell("samples", writer.rows, n)
        writer.finish(np.concatenate(kept) if kept else None)
    except OSError as exc:
        writer.abort()
        raise UsageError(f"cannot write {shown(writer.path)}: {exc.strerror or exc}") from None
    except BaseException:
        writer.abort()
        raise
    return drawing, time.perf_counter() - start


def _walk(args, run_dir: Path, out: Path) -> int:
    from genbench.runfolder.runs import write_atomic
    from genbench.sampling.files import shown, to_uint8
    from genbench.sampling.walks import animated_gif, grid_png

    run = _open(args, run_dir)
    if run.dataset.spec.kind != "image":
        raise UsageError(
            f"a walk draws images; {run.record.model} draws points ({run.record.dataset})"
        )
    rows: list[int | None] = [None]
    if run.conditional:
        if args.across_labels:
            rows = list(range(len(run.classes)))
        elif args.label is not None:
            rows = [run.class_index(args.label)]
        else:
            raise UsageError(
                f"{run.record.model!r} is conditional: walk one class (--label K) or "
                "every class (--across-labels)"
            )
    keys = args.interpolate
    between = DEFAULT_BETWEEN if args.steps_between is None else args.steps_between
    frames = run.walk(keys, args.seed, between, rows, args.truncation)
    pixels = to_uint8(frames.flatten(0, 1)).reshape(*frames.shape[:2], *frames.shape[3:], -1)
    if out.suffix.lower() == ".gif":
        data = animated_gif(pixels, args.frame_ms or DEFAULT_FRAME_MS)
    else:
        data = grid_png(pixels, keys, between)
    try:
        write_atomic(out, data)
    except OSError as exc:
        raise UsageError(f"cannot write {shown(out)}: {exc.strerror or exc}") from None
    print(
        f"wrote a walk through {keys} noise vectors of seed {args.seed} ({frames.shape[1]} "
        f"frames{f' x {len(rows)} classes' if len(rows) > 1 else ''}) of "
        f"{run.record.model} at step {run.step} to {shown(out)}"
    )
    return 0
