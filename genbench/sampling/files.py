"""Samples to disk as a stream, so any number of them takes the memory of one batch:
a folder of PNG files or one .npz, each appearing whole at its path or not at all.

* a folder: ``000000.png``, ``000001.png``, ... (one sample each, in order; grey
  PNGs for one channel, RGB for three), plus ``labels.npy`` for a conditional model.
  Written into a hidden folder beside it, renamed into place at the end.
* an .npz (a zip of .npy files, stored, as numpy.savez writes it): ``arr_0`` the
  images, uint8 (N, H, W, C), the layout the guided-diffusion and StudioGAN
  evaluators read; ``labels`` (N,) int64 for a conditional model. ``arr_0`` is
  written a batch at a time into a zip entry whose .npy header already holds the
  final shape; the file is written under a hidden name and renamed at the end.

The same images give the same bytes (fixed zip timestamps; PNG has none).
"""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genbench.errors import UsageError
from genbench.runfolder.untrusted import clean_text

if TYPE_CHECKING:
    import torch

# What a folder of samples holds; --force replaces only a folder that holds nothing else.
SAMPLE_PNG = re.compile(r"\d{6,}\.png")
LABELS_FILE = "labels.npy"
# A fixed time for the zip entries (the earliest a zip can say), so the same samples
# give the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] (N, C, H, W) as uint8 (N, H, W, C) on the CPU: the rounding
    the trainer's sample grids use; a non-finite value is black."""
    import torch

    x = torch.nan_to_num(images.detach().float(), nan=-1.0, posinf=1.0, neginf=-1.0)
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def shown(path: Path) -> str:
    return clean_text(str(path), 160)


def _temp_beside(path: Path, what: str) -> Path:
    return path.parent / f".{path.name}.{what}-{os.getpid()}"


# -- checking where the output goes, before anything is drawn ----------------------------


def check_file_out(path: Path, force: bool) -> None:
    """A file to write: in an existing folder; an existing file only with --force."""
    if path.is_symlink():
        raise UsageError(f"{shown(path)} is a link; give the path of a file to write")
    if path.is_dir():
        raise UsageError(f"{shown(path)} is a folder; give the path of a file to write")
    if path.exists() and not force:
        raise UsageError(f"{shown(path)} exists; --force replaces it")
    if not path.parent.is_dir():
        raise UsageError(f"folder {shown(path.parent)} does not exist (for {shown(path)})")


def check_folder_out(path: Path, force: bool) -> None:
    """A folder of samples to write: new, empty, or (--force) one that holds only
    samples genbench wrote."""
    if path.is_symlink():
        raise UsageError(f"{shown(path)} is a link; give a folder to write the samples into")
    if path.exists() and not path.is_dir():
        raise UsageError(
            f"{shown(path)} exists and is not a folder; give a new folder, or a file ending in .npz"
        )
    if not path.parent.is_dir():
        raise UsageError(f"folder {shown(path.parent)} does not exist (for {shown(path)})")
    if not path.exists():
        return
    names = os.listdir(path)
    if not names:
        return
    if not force:
        raise UsageError(f"folder {shown(path)} is not empty; --force replaces its samples")
    other = [n for n in names if not (SAMPLE_PNG.fullmatch(n) or n == LABELS_FILE)]
    if other:
        raise UsageError(
            f"folder {shown(path)} holds files genbench did not write (e.g. "
            f"{clean_text(other[0], 60)}); --force only replaces a folder of samples"
        )


# -- writers --------------------------------------------------------------------------


class NpzWriter:
    """``arr_0`` (n, H, W, C) uint8 (or points, (n, D) float32) written a batch at a
    time, ``labels`` at the end."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: str = "uint8"):
        from numpy.lib import format as npy

        self.path, self.shape, self.rows = path, shape, 0
        self.dtype = np.dtype(dtype)
        self.temp = _temp_beside(path, "partial")
        self._zip = zipfile.ZipFile(self.temp, "w", zipfile.ZIP_STORED, allowZip64=True)
        self._entry = self._zip.open(_entry("arr_0.npy"), "w", force_zip64=True)
        header = {"descr": npy.dtype_to_descr(self.dtype), "fortran_order": False}
        npy.write_array_header_1_0(self._entry, {**header, "shape": shape})

    def write(self, batch: np.ndarray) -> None:
        if batch.shape[1:] != self.shape[1:] or self.rows + len(batch) > self.shape[0]:
            raise ValueError(f"batch of shape {batch.shape} does not fit {self.shape}")
        self._entry.write(np.ascontiguousarray(batch, dtype=self.dtype).data)
        self.rows += len(batch)

    def finish(self, labels: np.ndarray | None) -> Path:
        from numpy.lib import format as npy

        if self.rows != self.shape[0]:
            raise ValueError(f"{self.rows} rows written of {self.shape[0]}")
        self._entry.close()
        if labels is not None:
            with self._zip.open(_entry("labels.npy"), "w", force_zip64=True) as fh:
                npy.write_array(fh, np.asarray(labels, dtype=np.int64), allow_pickle=False)
        self._zip.close()
        _sync(self.temp)
        os.replace(self.temp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._entry.close()
            self._zip.close()
        except (OSError, ValueError, zipfile.BadZipFile):
            pass  # the partial file goes anyway
        self.temp.unlink(missing_ok=True)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PngFolderWriter:
    """One PNG a sample, into a hidden folder renamed into place at the end."""

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.path, self.shape, self.rows = path, shape, 0
        self.dtype = np.dtype(np.uint8)
        self.width = max(6, len(str(shape[0] - 1)))
        self.temp = _temp_beside(path, "partial")
        self.temp.mkdir()

    def write(self, batch: np.ndarray) -> None:
        from PIL import Image

        if batch.shape[1:] != self.shape[1:] or self.rows + len(batch) > self.shape[0]:
            raise ValueError(f"batch of shape {batch.shape} does not fit {self.shape}")
        for image in batch:
            pixels = image[..., 0] if image.shape[-1] == 1 else image
            Image.fromarray(pixels).save(self.temp / f"{self.rows:0{self.width}d}.png")
            self.rows += 1

    def finish(self, labels: np.ndarray | None) -> Path:
        if self.rows != self.shape[0]:
            raise ValueError(f"{self.rows} samples written of {self.shape[0]}")
        if labels is not None:
            np.save(self.temp / LABELS_FILE, np.asarray(labels, dtype=np.int64))
        old = None
        if self.path.exists() and os.listdir(self.path):
            # --force (checked by check_folder_out): the old samples make way, and
            # go once the new ones are in place
            old = _temp_beside(self.path, "old")
            os.rename(self.path, old)
        os.replace(self.temp, self.path)  # onto an empty folder, or a new name
        if old is not None:
            _remove_samples(old)
        return self.path

    def abort(self) -> None:
        shutil.rmtree(self.temp, ignore_errors=True)


def _remove_samples(folder: Path) -> None:
    """Remove a folder of samples genbench wrote (its PNGs and labels, nothing else)."""
    for name in os.listdir(folder):
        if SAMPLE_PNG.fullmatch(name) or name == LABELS_FILE:
            os.unlink(folder / name)
    os.rmdir(folder)


def writer_for(
    path: Path, shape: tuple[int, ...], dtype: str = "uint8"
) -> NpzWriter | PngFolderWriter:
    """The writer of ``path``: an .npz file, else a folder of PNGs (images only)."""
    return NpzWriter(path, shape, dtype) if is_npz(path) else PngFolderWriter(path, shape)


def is_npz(path: Path) -> bool:
    return path.suffix.lower() == ".npz"
