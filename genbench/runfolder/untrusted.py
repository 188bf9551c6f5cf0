"""Reading and writing inside a run folder, which is untrusted input.

A run folder may come from another machine or another person. Anything in it can
be a link to /dev/zero, a FIFO that never answers, a sparse 50 GB file, JSON
nested 100,000 deep, or text full of terminal escapes and Rich markup. Every
reader of a run folder opens files through this module, so that such a file costs
a bounded amount of time and memory and ends as one :class:`UnreadableFile`
naming the file and the problem; every writer goes through :func:`safe_target`,
so that nothing is ever written outside the run folder.

This module imports neither torch nor Textual.
"""

from __future__ import annotations

import json
import os
import stat
import unicodedata
from pathlib import Path
from typing import Any, BinaryIO

from genbench.errors import UsageError, one_line

# Size caps: far above anything genbench writes (a run.json is a few KB, an
# eval.json a few tens of KB), far below what would hurt a reader.
RUN_JSON_MAX = 1 << 20  # 1 MiB
EVAL_JSON_MAX = 4 << 20  # 4 MiB
LOCK_MAX = 4096
# A checkpoint holds weights; the biggest built-in model's is a few tens of MB.
CHECKPOINT_MAX = 8 << 30  # 8 GiB
PNG_MAX = 64 << 20  # 64 MiB of compressed PNG
# Pixels decoded from one PNG: a 4096x4096 grid is 16.8 M; a pixel bomb is refused.
PIXELS_MAX = 4096 * 4096
# JSON deeper than this is not something genbench wrote.
JSON_DEPTH_MAX = 64


class UnreadableFile(UsageError):
    """A file of a run folder that cannot be read safely; one line says why."""


def _inside(root: Path, path: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def resolve_inside(run_dir: Path, path: Path) -> Path:
    """The real path of ``path`` (a file of ``run_dir``), refusing one whose links
    lead out of the run folder (a link to another file of the folder is fine)."""
    root = Path(os.path.realpath(run_dir))
    real = Path(os.path.realpath(path))
    if not _inside(root, real):
        raise UnreadableFile(
            f"{path} is a link leading out of the run folder "
            f"(to {real}); a run folder's files must be its own"
        )
    return real


def open_regular(path: Path, max_bytes: int | None, *, run_dir: Path | None = None) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file of at most
    ``max_bytes`` (None: any size); inside ``run_dir`` when given.

    FIFOs, devices, sockets and folders are refused without blocking (the open is
    non-blocking, so a FIFO with no writer does not hang), and so is a file larger
    than the cap. Raises FileNotFoundError for a missing file, UnreadableFile for
    anything else wrong with it.
    """
    path = Path(path)
    real = resolve_inside(run_dir, path) if run_dir is not None else path
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnreadableFile(f"{path} cannot be opened: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(f"{path} is {_kind(info.st_mode)}, not a regular file")
        if max_bytes is not None and info.st_size > max_bytes:
            raise UnreadableFile(
                f"{path} is {_size(info.st_size)}, over the "
                f"{_size(max_bytes)} a genbench file of its kind can be"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: Path, max_bytes: int, *, run_dir: Path | None = None) -> bytes:
    """The whole of a regular file no larger than ``max_bytes``. A file that grows
    past the cap while being read is refused too."""
    with open_regular(path, max_bytes, run_dir=run_dir) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnreadableFile(f"{path} grew over {_size(max_bytes)} while being read")
    return data


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.0f} {unit}"
        n /= 1024
    return f"{n} bytes"


# -- JSON ----------------------------------------------------------------------


def parse_json(data: bytes | str, what: str | Path) -> Any:
    """JSON from untrusted bytes: any parse error, nesting beyond JSON_DEPTH_MAX,
    a number too long to convert, or a NaN becomes one UnreadableFile line."""
    if _too_deep(data):
        raise UnreadableFile(
            f"{what} is nested deeper than {JSON_DEPTH_MAX} levels; not a file genbench wrote"
        )
    try:
        return json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise UnreadableFile(f"{what} is nested too deeply to read") from None
    except UnicodeDecodeError:
        raise UnreadableFile(f"{what} is not UTF-8 text") from None
    except ValueError as exc:
        raise UnreadableFile(
            f"{what} is not valid JSON: {one_line(exc, with_type=False)}"
        ) from None


def loads_line(line: bytes) -> Any:
    """One metrics.jsonl line, or None when it is garbled, truncated or hostile."""
    try:
        return parse_json(line, "line")
    except UnreadableFile:
        return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_deep(data: bytes | str) -> bool:
    """Whether JSON nests deeper than JSON_DEPTH_MAX, found before the recursive
    parser sees it (brackets inside strings do not count)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if data.count(b"[") + data.count(b"{") <= JSON_DEPTH_MAX:
        return False  # fewer brackets in all than the limit: the common case, in C
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > JSON_DEPTH_MAX:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def read_json(path: Path, max_bytes: int, *, run_dir: Path | None = None) -> Any:
    return parse_json(read_bytes(path, max_bytes, run_dir=run_dir), path)


# -- text for the screen -------------------------------------------------------


def clean_text(value: Any, max_len: int = 200) -> str:
    """A value from a run folder as plain text safe to print: control characters
    (escape sequences, carriage returns, newlines) removed, and at most
    ``max_len`` characters. Show the result as rich ``Text``, never as markup."""
    text = value if isinstance(value, str) else str(value)
    text = "".join(
        c if unicodedata.category(c)[0] != "C" else " " if c in "\t\n\r" else ""
        for c in text[: max_len * 4]
    )
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


# -- writing -------------------------------------------------------------------


def check_own_folder(run_dir: Path) -> Path:
    """``run_dir`` when it names a folder of its own, not a link to one; UsageError
    (one line, saying where the link leads) otherwise. Every command that writes
    into a run folder asks this first, before anything is written.

    Only the run folder's own entry is checked, not the folders above it: a link
    there is something a received folder can bring (``inbox/evil -> ../victim``)
    and a user cannot see by its name, while a runs folder that is itself a link
    (``/shared/runs -> /mnt/x``) is the user's own setup, and refusing it would
    break it. A folder reached through a link is refused rather than resolved: the
    user named ``inbox/evil`` and meant that run, not whatever it points at today.
    Reading (``runs``, ``show``) may follow such a link: what it reads is bounded
    like every file of a run folder, and reading changes nothing."""
    run_dir = Path(run_dir)
    if run_dir.is_symlink():
        target = clean_text(os.path.realpath(run_dir), 300)
        raise UsageError(
            f"{clean_text(run_dir, 300)} is a link (to {target}); genbench "
            "writes only into a run folder of its own, never through a link: "
            "name the folder it leads to if that run is yours, or copy the run"
        )
    return run_dir


def safe_target(run_dir: Path, rel: str | Path) -> Path:
    """The path to write ``run_dir/rel`` to, after checking that neither the run
    folder itself (check_own_folder), nor it, nor any folder on the way is a link:
    a write must never land outside the run folder. Raises UsageError naming the
    linked entry."""
    run_dir = check_own_folder(run_dir)
    path = run_dir
    for part in Path(rel).parts:
        path = path / part
        if path.is_symlink():
            raise UsageError(
                f"{path} is a link; genbench writes only the run folder's own "
                "files (remove the link, or copy the run)"
            )
    return path
