"""IDX files, the format of MNIST and Fashion-MNIST, plain or gzipped.

Layout (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the
number of dimensions, then each dimension as a big-endian uint32, then the data
in row-major order, big-endian.

numpy is imported only where arrays are made: reading a header (for the size
shown by `genbench datasets`) needs nothing but the standard library.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genbench.errors import UsageError
from genbench.host.memory import check_fits, human_bytes

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# type code -> big-endian numpy dtype
DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 24
# Deflate writes at most 258 bytes of output per 2 bits of input: no honest gzip
# file holds more than 1032 times its size (a header claiming more lies).
DEFLATE_RATIO_MAX = 1032


@dataclass(frozen=True)
class IdxHeader:
    dtype: str  # numpy dtype string, big-endian (">u1" for uint8)
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        n = int(self.dtype[-1])
        for d in self.shape:
            n *= d
        return n


def _bad(path: Path, problem: str) -> UsageError:
    return UsageError(f"{path} is not a valid IDX file: {problem}")


@contextmanager
def _reader(path: Path) -> Iterator[io.BufferedIOBase]:
    """The file's bytes, decompressed when it is gzipped. Gzip is told by the magic
    bytes, not the name: torchvision keeps both forms and people rename files."""
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise UsageError(f"cannot open {path}: {exc.strerror or exc}") from None
    with raw:
        zipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        try:
            yield gzip.GzipFile(fileobj=raw, mode="rb") if zipped else raw
        except (OSError, EOFError, zlib.error) as exc:  # corrupt gzip stream, I/O error
            raise _bad(path, f"unreadable ({type(exc).__name__}: {exc})") from None


def _header(f: io.BufferedIOBase, path: Path) -> IdxHeader:
    head = f.read(4)
    if len(head) < 4:
        raise _bad(path, f"{len(head)} bytes, too short for a header")
    if head[0] != 0 or head[1] != 0 or head[2] not in DTYPES:
        raise _bad(
            path,
            f"magic number 0x{head.hex()} (expected 0x0000TTNN with type "
            f"TT one of {', '.join(f'{t:02x}' for t in DTYPES)})",
        )
    ndim = head[3]
    if ndim == 0:
        raise _bad(path, "zero dimensions")
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise _bad(path, f"header ends inside its {ndim} dimensions")
    return IdxHeader(DTYPES[head[2]], struct.unpack(f">{ndim}I", raw))


def read_idx_header(path: str | Path) -> IdxHeader:
    """The dtype and shape in ``path``'s header; reads a few bytes only."""
    path = Path(path)
    with _reader(path) as f:
        return _header(f, path)


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in ``path`` (native byte order, writable).

    Every inconsistency is a UsageError naming the file: a bad magic number, a
    header cut short, fewer data bytes than the header promises, or more.
    """
    import numpy as np

    path = Path(path)
    with _reader(path) as f:
        header = _header(f, path)
        _check_declared(path, header)
        # Into one buffer of the declared size, checked above against the file and
        # the memory free: a header could claim terabytes, and a gzip stream is never
        # read past what its header declares (a gzip bomb ends there).
        data = bytearray(header.nbytes)  # a bytearray, so the array is writable
        view, got = memoryview(data), 0
        while got < header.nbytes:
            n = f.readinto(view[got : got + CHUNK])
            if not n:
                break
            got += n
        view.release()
        if got < header.nbytes:
            raise _bad(
                path,
                f"truncated: header {header.shape} promises {header.nbytes} "
                f"data bytes, found {got}",
            )
        if f.read(1):
            raise _bad(
                path, f"trailing bytes after the {header.nbytes} data bytes of shape {header.shape}"
            )
    array = np.frombuffer(data, dtype=header.dtype).reshape(header.shape)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _check_declared(path: Path, header: IdxHeader) -> None:
    """Refuse a header that declares more data than the file can hold (all of it
    for a plain file; 1032 times its size, deflate's limit, for a gzipped one) or
    than this process has memory free for, before anything is allocated."""
    size = path.stat().st_size
    with open(path, "rb") as raw:
        zipped = raw.read(2) == GZIP_MAGIC
    if not zipped and header.nbytes > size - (4 + 4 * len(header.shape)):
        raise _bad(
            path,
            f"truncated: header {header.shape} promises {header.nbytes} "
            f"data bytes, found {max(0, size - 4 - 4 * len(header.shape))}",
        )
    if zipped and header.nbytes > DEFLATE_RATIO_MAX * size:
        raise _bad(
            path,
            f"truncated or forged: header {header.shape} promises "
            f"{human_bytes(header.nbytes)} of data, more than a "
            f"{human_bytes(size)} gzipped file can hold (deflate expands at "
            f"most {DEFLATE_RATIO_MAX} times)",
        )
    check_fits(
        header.nbytes, f"{path} declares {header.shape} values of {human_bytes(header.nbytes)}"
    )


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzipped when ``compress`` or the name ends in .gz).
    Used by the tests and handy for making small datasets by hand."""
    import numpy as np

    path = Path(path)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in DTYPES.items()}
    native = np.dtype(array.dtype).newbyteorder("=")
    if native not in codes:
        raise UsageError(
            f"IDX cannot store dtype {array.dtype}; valid: "
            f"{', '.join(str(np.dtype(v)) for v in DTYPES.values())}"
        )
    code = codes[native]
    body = (
        bytes([0, 0, code, array.ndim])
        + struct.pack(f">{array.ndim}I", *array.shape)
        + np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()
    )
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(body) if compress else body)
