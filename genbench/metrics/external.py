"""`genbench eval PATH --dataset NAME`: measure samples that did not come from a
genbench run (another implementation's output), in the same feature space and
with the same metrics as a run's eval.json.

PATH is one of

* a ``.npy`` array of images, (N, C, H, W), (N, H, W, C) or, for one channel,
  (N, H, W), of uint8 (0-255) or floats in [-1, 1] or [0, 1];
* an ``.npz`` holding such an array as ``arr_0`` (what ``genbench sample`` and
  numpy.savez write, what the guided-diffusion and StudioGAN evaluators read), and
  where it holds ``labels`` (N,), the class each sample was drawn for;
* a folder of PNG files, one sample each, read in name order;
* a ``.npy`` array of points, (N, 2), for the 2D mixtures (ring8, grid25).

Images are not resized: their height, width and channels must be the dataset's,
since a resize would change what is measured. A float array whose values all lie
in [0, 1] is read as [0, 1]; one with values below 0, as [-1, 1]; ``--range``
says otherwise where that guess is wrong.

Every kind of file is untrusted input. An .npy (or an .npz) is capped in size before
anything is read, an .npz's zip directory is checked (a few plain or deflated
entries) before zipfile reads it, its header is read with numpy's own parser (numpy.lib.format)
after its length is checked, and only plain numeric data is accepted: nothing
is ever unpickled. A PNG folder is read through the same hardened decoder as a
run folder's sample grids (a regular file, within the pixel and byte budget of
genbench.runfolder.untrusted; handed in by the CLI, which may import it), with links
leading out of the folder refused and the number of files capped. Anything
wrong is one UsageError line naming the problem and what would be valid.
"""

from __future__ import annotations

import math
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

import genbench
from genbench.errors import UsageError, one_line
from genbench.runfolder.untrusted import UnreadableFile, clean_text, open_regular

if TYPE_CHECKING:
    from genbench.registry import Registry

# An .npy bigger than this is refused before it is read: 10,000 float64 CIFAR-10
# images are 246 MB, 60,000 float32 Fashion-MNIST images 188 MB.
NPY_MAX = 2 << 30  # 2 GiB
# Entries an .npz may hold (numpy.savez writes one per array), and the bytes of the
# end of a zip where its directory's record is (22, and a comment of up to 64 KiB).
NPZ_ENTRIES_MAX = 64
ZIP_TAIL = 22 + 0xFFFF
# numpy's own default for max_header_size; a header genbench accepts is ~100 bytes.
NPY_HEADER_MAX = 10_000
# PNG files read from one folder, and folder entries looked at to find them.
PNG_COUNT_MAX = 50_000
ENTRIES_MAX = 200_000
# Slack on the range of float images: float16 and rounding reach 1.0005.
RANGE_TOLERANCE = 1e-3
RANGES = ("auto", "signed", "unit", "bytes")
RANGE_WORDS = {"signed": "floats in [-1, 1]", "unit": "floats in [0, 1]", "bytes": "0-255 values"}
VALID_IMAGES = "uint8 0-255 or floats in [-1, 1] or [0, 1]"

# read_png(path, folder) -> a decoded PIL image (genbench.terminal_image.load_png).
ReadPng = Callable[[Path, Path], Any]
Progress = Callable[[str, int, "int | None"], None]


@dataclass
class Samples:
    """Samples read from PATH: images in [-1, 1] (N, C, H, W) or points (N, D),
    float32, and how they were read."""

    data: torch.Tensor
    source: dict[str, Any]


def shown(path: Path) -> str:
    """A path as a message shows it (the user typed it, but it may hold escapes)."""
    return clean_text(str(path), 160)


# -- .npy ------------------------------------------------------------------------------


def _read_header(fh, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) from an .npy header, whose length is checked
    before numpy reads it (numpy reads the whole claimed length first)."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(fh)
    except ValueError:
        raise UsageError(
            f"{name} is not a .npy file (no numpy magic string); give a .npy "
            "array or a folder of PNG files"
        ) from None
    if version not in ((1, 0), (2, 0)):
        raise UsageError(
            f"{name} is a .npy file of format {version[0]}.{version[1]}; "
            "genbench reads formats 1.0 and 2.0 (numpy.save writes them)"
        )
    size_format = "<H" if version == (1, 0) else "<I"
    where = fh.tell()
    raw = fh.read(struct.calcsize(size_format))
    if len(raw) < struct.calcsize(size_format):
        raise UsageError(f"{name} is cut short inside its .npy header")
    (length,) = struct.unpack(size_format, raw)
    if length > NPY_HEADER_MAX:
        raise UsageError(
            f"{name} has a .npy header of {length:,} bytes, over the "
            f"{NPY_HEADER_MAX:,} numpy itself accepts; not a plain array"
        )
    fh.seek(where)
    read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    try:
        shape, fortran, dtype = read(fh, max_header_size=NPY_HEADER_MAX)
    except Exception as exc:  # noqa: BLE001 - a hostile header fails in many ways
        # ValueError, SyntaxError, RecursionError, tokenize.TokenError, MemoryError, ...
        why = clean_text(one_line(exc, with_type=False), 120)
        raise UsageError(f"{name} has a damaged .npy header: {why}") from None
    if any(d < 0 for d in shape):
        raise UsageError(
            f"{name} has a damaged .npy header: shape {tuple(shape)} has a negative size"
        )
    return tuple(int(d) for d in shape), bool(fortran), np.dtype(dtype)


def read_npy(
    path: Path, n: int | None, check: Callable[[tuple[int, ...], np.dtype], None]
) -> tuple[np.ndarray, int]:
    """The first ``n`` (default: all) rows of an untrusted .npy, and how many it holds.
    ``check(shape, dtype)`` refuses an array of the wrong kind before its data is read."""
    name = shown(path)
    try:
        fh = open_regular(path, NPY_MAX)
    except FileNotFoundError:
        raise UsageError(f"{name} does not exist") from None
    with fh:
        return _read_npy_from(fh, os.fstat(fh.fileno()).st_size, name, n, check)


def _read_npy_from(
    fh, size: int, name: str, n: int | None, check: Callable[[tuple[int, ...], np.dtype], None]
) -> tuple[np.ndarray, int]:
    """read_npy of an open .npy of ``size`` bytes (a file, or an .npz's entry)."""
    shape, fortran, dtype = _read_header(fh, name)
    if dtype.hasobject or dtype.names is not None or dtype.subdtype is not None:
        raise UsageError(
            f"{name} holds {_dtype_words(dtype)}; genbench reads only plain "
            "numeric arrays (it never unpickles a file)"
        )
    check(shape, dtype)
    held = shape[0]
    per_row = math.prod(shape[1:]) * dtype.itemsize
    offset = fh.tell()
    if size - offset < held * per_row:
        raise UsageError(
            f"{name} is cut short: its header promises {held:,} rows of "
            f"{per_row:,} bytes, the file holds {max(size - offset, 0):,} "
            "bytes of data"
        )
    # The bytes np.load would read for a plain array, without allow_pickle and
    # only as far as the rows used (Fortran order keeps rows apart: read it all).
    rows = held if fortran or n is None else min(n, held)
    data = fh.read(rows * per_row)
    if len(data) < rows * per_row:
        raise UsageError(f"{name} shrank while being read")
    array = np.frombuffer(data, dtype=dtype, count=math.prod((rows, *shape[1:])))
    array = array.reshape((rows, *shape[1:]), order="F" if fortran else "C")
    return (array if n is None else array[:n]), held


def read_npz(
    path: Path,
    entry: str,
    n: int | None,
    check: Callable[[tuple[int, ...], np.dtype], None],
    required: bool = True,
) -> tuple[np.ndarray, int] | None:
    """read_npy of array ``entry`` of an untrusted .npz (None where it is missing and
    not ``required``). The zip's directory is sized before zipfile reads it, and the
    entry must be stored or deflated, unencrypted, within NPY_MAX unpacked."""
    name = shown(path)
    try:
        fh = open_regular(path, NPY_MAX)
    except FileNotFoundError:
        raise UsageError(f"{name} does not exist") from None
    with fh:
        _check_zip_directory(fh, name)
        try:
            with zipfile.ZipFile(fh) as archive:
                infos = {i.filename: i for i in archive.infolist()}
                info = infos.get(f"{entry}.npy")
                if info is None:
                    if not required:
                        return None
                    held = ", ".join(clean_text(k, 40) for k in list(infos)[:8]) or "none"
                    raise UsageError(
                        f"{name} holds no array {entry!r} (its entries: {held}); give "
                        f"an .npz whose {entry} is the images (numpy.savez(path, images))"
                    )
                _check_entry(info, name)
                with archive.open(info) as member:
                    return _read_npy_from(member, info.file_size, f"{name}:{entry}", n, check)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as exc:
            why = clean_text(one_line(exc, with_type=False), 120)
            raise UsageError(f"{name} is not a readable .npz (zip): {why}") from None


def _check_zip_directory(fh, name: str) -> None:
    """The zip's end record: a few entries in a directory of a plain size, checked
    before zipfile builds its list of entries (a huge directory would take the memory)."""
    size = os.fstat(fh.fileno()).st_size
    fh.seek(max(0, size - ZIP_TAIL))
    tail = fh.read(ZIP_TAIL)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise UsageError(
            f"{name} is not an .npz (no zip directory); give an .npz written by "
            "numpy.savez or genbench sample, an .npy, or a folder of PNGs"
        )
    entries, directory = struct.unpack("<HL", tail[at + 10 : at + 16])
    if entries > NPZ_ENTRIES_MAX or directory > NPZ_ENTRIES_MAX * 1024:
        raise UsageError(
            f"{name} is a zip of {entries:,} entries ({directory:,} bytes of directory); "
            f"an .npz genbench reads holds at most {NPZ_ENTRIES_MAX}"
        )
    fh.seek(0)


def _check_entry(info: zipfile.ZipInfo, name: str) -> None:
    if info.flag_bits & 0x1:
        raise UsageError(f"{name}: {clean_text(info.filename, 60)} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UsageError(
            f"{name}: {clean_text(info.filename, 60)} is packed with zip method "
            f"{info.compress_type}; genbench reads stored and deflated entries "
            "(numpy.savez, numpy.savez_compressed)"
        )
    if info.file_size > NPY_MAX:
        raise UsageError(
            f"{name}: {clean_text(info.filename, 60)} unpacks to {info.file_size:,} "
            f"bytes, over the {NPY_MAX:,} genbench reads"
        )


def is_npz(path: Path) -> bool:
    return path.suffix.lower() == ".npz"


def _format(path: Path) -> str:
    return "npz" if is_npz(path) else "npy"


def read_array(
    path: Path, n: int | None, check: Callable[[tuple[int, ...], np.dtype], None]
) -> tuple[np.ndarray, int]:
    """The samples of an .npy, or the ``arr_0`` of an .npz (see read_npy)."""
    if is_npz(path):
        got = read_npz(path, "arr_0", n, check)
        assert got is not None  # required
        return got
    return read_npy(path, n, check)


def _dtype_words(dtype: np.dtype) -> str:
    if dtype.hasobject:
        return "Python objects (dtype object, stored pickled)"
    if dtype.names is not None:
        return f"records with fields {', '.join(dtype.names)[:80]}"
    return f"sub-arrays ({dtype})"


# -- which layout, which range ----------------------------------------------------------


def image_layout(shape: tuple[int, ...], chw: tuple[int, int, int], name: str, dataset: str) -> str:
    """'NCHW', 'NHWC' or 'NHW' for an array of images of the dataset's shape; a
    UsageError naming the valid shapes otherwise (or when the shape fits two)."""
    c, h, w = chw
    valid = [f"(N, {c}, {h}, {w})", f"(N, {h}, {w}, {c})"] + ([f"(N, {h}, {w})"] if c == 1 else [])
    fits = []
    if len(shape) == 4 and shape[1:] == (c, h, w):
        fits.append("NCHW")
    if len(shape) == 4 and shape[1:] == (h, w, c):
        fits.append("NHWC")
    if len(shape) == 3 and c == 1 and shape[1:] == (h, w):
        fits.append("NHW")
    if len(fits) == 1:
        return fits[0]
    if fits:
        raise UsageError(
            f"{name} has shape {shape}, which reads both as channels first and "
            "as channels last; genbench cannot tell which"
        )
    raise UsageError(
        f"{name} has shape {shape}; {dataset} samples are {' or '.join(valid)} "
        f"({c} channel{'s' if c > 1 else ''} of {h}x{w}; genbench does not "
        "resize: measure at the dataset's size)"
    )


def value_range(array: np.ndarray, wanted: str, name: str) -> str:
    """Which range the values are in ('bytes', 'signed' or 'unit'), from the dtype
    and the values (``wanted`` 'auto') or as told; refuses values outside it."""
    if array.dtype == np.uint8:
        if wanted not in ("auto", "bytes"):
            raise UsageError(
                f"{name} is uint8, whose values are 0-255; --range {wanted} is for floats"
            )
        return "bytes"
    if array.dtype.kind != "f":
        raise UsageError(f"{name} holds {array.dtype} values; images must be {VALID_IMAGES}")
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        # Nothing to tell the range by; every metric will say the samples are non-finite.
        return "signed" if wanted == "auto" else wanted
    lo, hi = float(finite.min()), float(finite.max())
    tol = RANGE_TOLERANCE
    if wanted == "auto":
        if lo < -1 - tol or hi > 1 + tol:
            raise UsageError(
                f"{name} holds floats from {lo:.4g} to {hi:.4g}; float images "
                f"must lie in [-1, 1] or [0, 1] (0-255 values: save them as "
                "uint8, or pass --range bytes)"
            )
        return "unit" if lo >= -tol else "signed"
    bounds = {"signed": (-1.0, 1.0), "unit": (0.0, 1.0), "bytes": (0.0, 255.0)}[wanted]
    scale = bounds[1] - bounds[0]
    if lo < bounds[0] - tol * scale or hi > bounds[1] + tol * scale:
        raise UsageError(
            f"{name} holds values from {lo:.4g} to {hi:.4g}, outside the "
            f"{RANGE_WORDS[wanted]} that --range {wanted} says"
        )
    return wanted


def to_signed(array: np.ndarray, rng: str) -> torch.Tensor:
    """float32 images in [-1, 1] (the trainer's own range)."""
    x = torch.from_numpy(np.asarray(array, dtype=np.float32).copy())
    if rng == "bytes":
        x = x / 127.5 - 1
    elif rng == "unit":
        x = x * 2 - 1
    # Only the rounding slack is clamped: a non-finite sample stays non-finite, so the
    # metrics count it and leave it out, as they do for a diverged run's samples.
    return torch.where(torch.isfinite(x), x.clamp(-1, 1), x)


# -- reading PATH ---------------------------------------------------------------------


def load_images_npy(
    path: Path, chw: tuple[int, int, int], dataset: str, n: int | None, wanted: str
) -> Samples:
    name = shown(path)
    layout: list[str] = []

    def check(shape: tuple[int, ...], dtype: np.dtype) -> None:
        if len(shape) == 0:
            raise UsageError(f"{name} holds a single number, not an array of images")
        layout.append(image_layout(shape, chw, name, dataset))
        if dtype != np.uint8 and dtype.kind != "f":
            raise UsageError(f"{name} holds {dtype} values; images must be {VALID_IMAGES}")
        _enough(shape[0], n, name)

    array, held = read_array(path, n, check)
    rng = value_range(array, wanted, name)
    if layout[0] == "NHWC":
        array = array.transpose(0, 3, 1, 2)
    elif layout[0] == "NHW":
        array = array[:, None]
    return Samples(
        to_signed(array, rng),
        {
            "path": str(path),
            "format": _format(path),
            "dtype": str(array.dtype),
            "layout": layout[0],
            "range": RANGE_WORDS[rng],
            "held": held,
        },
    )


def load_points_npy(path: Path, dim: int, dataset: str, n: int | None) -> Samples:
    name = shown(path)

    def check(shape: tuple[int, ...], dtype: np.dtype) -> None:
        if len(shape) != 2 or shape[1] != dim:
            raise UsageError(
                f"{name} has shape {shape}; {dataset} samples are points of shape (N, {dim})"
            )
        if dtype.kind not in "fiu":
            raise UsageError(f"{name} holds {dtype} values; points must be numbers")
        _enough(shape[0], n, name)

    array, held = read_array(path, n, check)
    data = torch.from_numpy(np.asarray(array, dtype=np.float32).copy())
    return Samples(
        data, {"path": str(path), "format": _format(path), "dtype": str(array.dtype), "held": held}
    )


def png_files(folder: Path) -> list[Path]:
    """The folder's *.png entries in name order (no recursion), capped."""
    name = shown(folder)
    found: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for i, entry in enumerate(entries):
                if i >= ENTRIES_MAX:
                    raise UsageError(
                        f"{name} holds more than {ENTRIES_MAX:,} entries; give "
                        f"a folder of at most {PNG_COUNT_MAX:,} PNG files"
                    )
                if entry.name.lower().endswith(".png"):
                    found.append(entry.name)
                    if len(found) > PNG_COUNT_MAX:
                        raise UsageError(
                            f"{name} holds more than {PNG_COUNT_MAX:,} PNG "
                            "files; genbench reads at most that many (save "
                            "more samples as one .npy)"
                        )
    except OSError as exc:
        raise UsageError(f"cannot list {name}: {exc.strerror or exc}") from None
    if not found:
        raise UsageError(
            f"{name} holds no .png files; give a folder of PNG samples or an .npy array"
        )
    return [folder / f for f in sorted(found)]


def load_images_png(
    folder: Path,
    chw: tuple[int, int, int],
    dataset: str,
    n: int | None,
    read_png: ReadPng,
    tell: Progress,
) -> Samples:
    c, h, w = chw
    files = png_files(folder)
    _enough(len(files), n, shown(folder), what="PNG files")
    files = files[:n] if n is not None else files
    root = os.path.realpath(folder)
    out = np.empty((len(files), c, h, w), dtype=np.uint8)
    for i, path in enumerate(files):
        name = shown(Path(folder.name) / path.name)
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root:
            raise UsageError(
                f"{name} is a link leading out of the folder (to "
                f"{shown(Path(real))}); the samples must be the folder's own"
            )
        try:
            image = read_png(path, folder)
        except FileNotFoundError:
            raise UsageError(f"{name} disappeared while the folder was read") from None
        except UnreadableFile as exc:
            raise UsageError(str(exc)) from None
        with image:
            if image.size != (w, h):
                raise UsageError(
                    f"{name} is {image.size[0]}x{image.size[1]} pixels; "
                    f"{dataset} samples are {w}x{h} (genbench does not resize; "
                    "one sample per file, not a grid)"
                )
            if image.mode not in ("1", "L", "LA", "P", "PA", "RGB", "RGBA"):
                raise UsageError(
                    f"{name} is a {image.mode} PNG; genbench reads 8-bit "
                    "grey, palette and RGB(A) PNGs"
                )
            pixels = np.asarray(image.convert("L" if c == 1 else "RGB"))
        out[i] = pixels[None] if c == 1 else pixels.transpose(2, 0, 1)
        tell("load", i + 1, len(files))
    return Samples(
        to_signed(out, "bytes"),
        {
            "path": str(folder),
            "format": "png",
            "held": None,
            "files": len(files),
            "range": RANGE_WORDS["bytes"],
        },
    )


def load_labels(path: Path, count: int, classes: int, required: bool = True) -> torch.Tensor | None:
    """The first ``count`` labels of an .npy of integers (N,), or of an .npz's
    ``labels``: the class (or mode) each sample was generated for, in the samples'
    order. None for an .npz without labels when not ``required``."""
    name = shown(path) + (":labels" if is_npz(path) else "")

    def check(shape: tuple[int, ...], dtype: np.dtype) -> None:
        if len(shape) != 1 or dtype.kind not in "iu":
            raise UsageError(
                f"{name} holds {dtype} values of shape {shape}; labels are "
                "one whole number per sample, shape (N,)"
            )
        _enough(shape[0], count, name, what="labels")

    if is_npz(path):
        got = read_npz(path, "labels", count, check, required)
        if got is None:
            return None
        labels = got[0]
    else:
        labels, _ = read_npy(path, count, check)
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise UsageError(
            f"{name} holds labels from {int(labels.min())} to "
            f"{int(labels.max())}; this dataset's are 0 to {classes - 1}"
        )
    return torch.from_numpy(labels.astype(np.int64))


def _enough(held: int, n: int | None, name: str, what: str = "samples") -> None:
    if held == 0:
        raise UsageError(f"{name} holds no {what}")
    if n is not None and held < n:
        raise UsageError(
            f"{name} holds {held:,} {what}, fewer than the {n:,} asked for "
            f"(-n {held} measures them all)"
        )


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def load_samples(
    path: Path,
    dataset,
    n: int | None,
    read_png: ReadPng,
    wanted: str = "auto",
    tell: Progress | None = None,
) -> Samples:
    """The samples at ``path`` for ``dataset``: the first ``n`` of them (all when None)."""
    tell = tell or (lambda phase, done, total: None)
    if wanted not in RANGES:
        raise UsageError(f"--range {wanted!r}; valid: {', '.join(RANGES)}")
    points = dataset.spec.kind == "points"
    folder = _is_folder(path)
    if points:
        if folder:
            raise UsageError(
                f"{shown(path)} is a folder; {dataset.name} samples are points: "
                f"give a .npy array of shape (N, {dataset.spec.shape[0]})"
            )
        if wanted != "auto":
            raise UsageError("--range applies to images; points are read as they are")
        return load_points_npy(path, dataset.spec.shape[0], dataset.name, n)
    chw = tuple(int(d) for d in dataset.spec.shape)
    if len(chw) != 3:
        raise UsageError(
            f"dataset {dataset.name!r} has samples of shape {chw}, which "
            "genbench eval cannot read from files"
        )
    if folder:
        if wanted not in ("auto", "bytes"):
            raise UsageError("--range applies to .npy arrays; PNG files are 0-255")
        return load_images_png(path, chw, dataset.name, n, read_png, tell)
    return load_images_npy(path, chw, dataset.name, n, wanted)


# -- measuring ------------------------------------------------------------------------


def evaluate_external(
    path: Path,
    dataset_name: str,
    read_png: ReadPng,
    device: torch.device,
    n: int | None = None,
    seed: int = 0,
    inception: bool = False,
    data_dir: str | None = None,
    wanted: str = "auto",
    out: Path | None = None,
    progress: Progress | None = None,
    labels: Path | None = None,
    registry: Registry | None = None,
) -> dict:
    """Measure the samples at ``path`` against ``dataset_name``'s test split (or its
    modes); return the eval.json-shaped record, written to ``out`` when given.

    ``n`` keeps `genbench eval`'s meaning: the samples measured, 10,000 images or
    2,500 points by default, the first ``n`` of the file; a file holding fewer is
    refused, because figures at different sample counts do not compare. ``labels``:
    an .npy of the class each sample was generated for (a conditional model's), which
    adds class consistency and within-class diversity."""
    from genbench.data import get_dataset
    from genbench.metrics.evaluate import (
        DEFAULT_SAMPLES,
        TOY_SAMPLES,
        evaluate_points,
        image_reference,
        measure_images,
    )
    from genbench.metrics.run_eval import check_sample_count

    tell = progress or (lambda phase, done, total: None)
    check_sample_count(n)
    dataset = get_dataset(dataset_name, data_dir=data_dir, registry=registry)
    points = dataset.spec.kind == "points"
    mixture: Any = dataset  # on points, a 2D mixture: means and std
    if points and getattr(mixture, "means", None) is None:
        raise UsageError(f"dataset {dataset.name!r} has no known modes to measure against")
    if points:
        classes = len(mixture.means)
    else:
        from genbench.metrics.classifier import read_card

        # A UsageError naming how to train the classifier when there is none.
        classes = read_card(dataset).classes
    if out is not None:
        _check_out(out)
    count = n or (TOY_SAMPLES if points else DEFAULT_SAMPLES)
    tell("load", 0, count)
    samples = load_samples(Path(path), dataset, count, read_png, wanted, tell)
    asked = None
    if labels is not None:
        asked = load_labels(Path(labels), count, classes)
        samples.source["labels"] = str(labels)
    elif is_npz(Path(path)):
        # genbench sample keeps a conditional model's labels beside its images
        asked = load_labels(Path(path), count, classes, required=False)
        if asked is not None:
            samples.source["labels"] = f"{path}:labels"
    about: dict[str, Any]
    if points:
        tell("metrics", 0, None)
        means, std = mixture.means, mixture.std
        result = evaluate_points(samples.data, means, std, asked)
        about = {"samples": count, "reference": {"modes": len(means), "std": std}}
    else:
        tell("reference", 0, None)
        ref = image_reference(dataset, device)
        backend = None
        if inception:
            from genbench.metrics.inception import load_backend

            backend = load_backend()
        tell("metrics", 0, None)
        result, about = measure_images(samples.data, asked, dataset, ref, device, seed, backend)
    record = {
        "run": None,
        "model": None,
        "dataset": dataset.name,
        "step": None,
        "source": samples.source,
        "samples": about["samples"],
        "seed": seed,
        "device": str(device),
        "classifier": about.get("classifier"),
        "reference": about["reference"],
        "metrics": result.rows,
        "summary": result.summary,
        "genbench": genbench.__version__,
        "created": datetime.now().isoformat(timespec="seconds"),
    }
    if out is not None:
        tell("write", 0, None)
        from genbench.runfolder.runs import write_json_atomic

        try:
            write_json_atomic(out, record)
        except OSError as exc:
            raise UsageError(f"cannot write {shown(out)}: {exc.strerror or exc}") from None
    return record


def _check_out(out: Path) -> None:
    """--out FILE: a file in an existing folder, not a folder or a link (checked before
    the minutes of measuring)."""
    if out.is_symlink() or out.is_dir():
        raise UsageError(
            f"--out {shown(out)} is {'a link' if out.is_symlink() else 'a folder'};"
            " give the path of a file to write"
        )
    if not out.parent.is_dir():
        raise UsageError(f"--out {shown(out)}: folder {shown(out.parent)} does not exist")
