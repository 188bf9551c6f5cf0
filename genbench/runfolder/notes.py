"""A user's own changes to a run folder: a note, tags, and a new name.

The note and the tags live in small files of their own (``note.txt``, ``tags.txt``),
never in run.json: run.json is the trainer's, rewritten every few seconds while it
runs, and a second writer would lose one side's change. Each is written atomically
(temp file + rename), so a reader sees the old one or the new one; each is read back
as untrusted input, like every file of a run folder (it may come from someone else's
machine).

A rename moves the run folder inside its runs folder (one os.rename: same
filesystem, nothing copied), and is refused while a trainer holds the run: its
open files and its lock name the old folder.

No torch, no Textual here: the workbench and the CLI both use it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from genbench.errors import UsageError
from genbench.runfolder.ownership import RunLock
from genbench.runfolder.record import RunRecord
from genbench.runfolder.runs import effective_status, validate_name, write_atomic
from genbench.runfolder.untrusted import UnreadableFile, clean_text, read_bytes, safe_target

NOTE_FILE = "note.txt"
# A note is a line or a paragraph; the cap keeps a hostile 10 GB note.txt a refusal,
# not a read.
NOTE_MAX = 4096  # bytes of UTF-8


def read_note(run_dir: Path) -> str:
    """The run's note as written ('' when it has none). Raises UnreadableFile (one
    line) for a note.txt that is a FIFO, a device, a link out of the folder, larger
    than NOTE_MAX or not UTF-8. Clean it (clean_text) before showing it."""
    run_dir = Path(run_dir)
    try:
        data = read_bytes(run_dir / NOTE_FILE, NOTE_MAX, run_dir=run_dir)
    except FileNotFoundError:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableFile(f"{run_dir / NOTE_FILE} is not UTF-8 text") from None


def note_line(note: str, max_len: int = 200) -> str:
    """A note on one line, safe to print: its lines joined, control characters
    removed, at most ``max_len`` characters."""
    return clean_text(" ".join(note.split()), max_len)


def write_note(run_dir: Path, text: str) -> None:
    """Set the run's note (an empty one removes note.txt). Refuses a note over
    NOTE_MAX bytes and a run folder or note.txt that is a link."""
    run_dir = Path(run_dir)
    if run_dir.is_symlink() or not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a run folder")
    text = text.strip()
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > NOTE_MAX:
        raise UsageError(f"the note is {size} bytes; a note can be at most {NOTE_MAX} bytes")
    path = safe_target(run_dir, NOTE_FILE)
    if not text:
        path.unlink(missing_ok=True)
        return
    write_atomic(path, (text + "\n").encode("utf-8", "surrogatepass"))


# -- tags ----------------------------------------------------------------------

TAGS_FILE = "tags.txt"  # one tag a line
TAGS_MAX = 2048  # bytes of UTF-8: a hostile tags.txt is a refusal, not a read
TAG_MAX_LEN = 32  # characters of one tag
TAGS_MAX_COUNT = 16  # tags of one run
# What a typed tag may hold: letters and digits of any script and - _ . : + = / (so
# `lr=2e-4` or `ablation/no-gp` are tags); no spaces or commas, which separate them.
_TAG = re.compile(r"[\w.:+=/-]+")


def parse_tags(text: str) -> list[str]:
    """Tags typed by a user, separated by spaces or commas, in order, each once;
    a UsageError (one line) for one that is not a tag or too long, or too many."""
    tags: list[str] = []
    for tag in re.split(r"[\s,]+", text.strip()):
        if not tag or tag in tags:
            continue
        if not _TAG.fullmatch(tag):
            bad = sorted({c for c in tag if not _TAG.fullmatch(c)})
            raise UsageError(
                f"tag {clean_text(tag, 40)!r} contains "
                + " ".join(repr(clean_text(c, 1) or "?") for c in bad[:5])
                + ": use letters, digits and - _ . : + = / only"
            )
        if len(tag) > TAG_MAX_LEN:
            raise UsageError(
                f"tag {clean_text(tag, 40)!r} is {len(tag)} characters; "
                f"a tag can be at most {TAG_MAX_LEN}"
            )
        tags.append(tag)
    if len(tags) > TAGS_MAX_COUNT:
        raise UsageError(f"{len(tags)} tags; a run can have at most {TAGS_MAX_COUNT}")
    return tags


def read_tags(run_dir: Path) -> list[str]:
    """The run's tags ([] when it has none), cleaned: a received tags.txt may hold
    anything, so each line is cleaned of control characters and cut to TAG_MAX_LEN,
    blank and repeated lines are dropped, and at most TAGS_MAX_COUNT are kept.
    Raises UnreadableFile (one line) for a tags.txt that is a FIFO, a device, a link
    out of the folder, larger than TAGS_MAX or not UTF-8."""
    run_dir = Path(run_dir)
    try:
        data = read_bytes(run_dir / TAGS_FILE, TAGS_MAX, run_dir=run_dir)
    except FileNotFoundError:
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableFile(f"{run_dir / TAGS_FILE} is not UTF-8 text") from None
    tags: list[str] = []
    for line in text.splitlines():
        tag = clean_text(line.strip(), TAG_MAX_LEN).strip()
        if tag and tag not in tags:
            tags.append(tag)
        if len(tags) == TAGS_MAX_COUNT:
            break
    return tags


def write_tags(run_dir: Path, tags: list[str]) -> None:
    """Set the run's tags (none removes tags.txt); each is checked as parse_tags
    checks a typed one. Refuses a run folder or tags.txt that is a link."""
    run_dir = Path(run_dir)
    if run_dir.is_symlink() or not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a run folder")
    tags = parse_tags(" ".join(tags))
    path = safe_target(run_dir, TAGS_FILE)
    if not tags:
        path.unlink(missing_ok=True)
        return
    write_atomic(path, "".join(f"{tag}\n" for tag in tags).encode("utf-8"))


# -- rename --------------------------------------------------------------------


def is_running(run_dir: Path) -> bool:
    """Whether a trainer holds the run now, decided by the lock and its owner's
    identity (ownership.holds_lock), never by whether the run's other files parse:
    a live run with a damaged eval.json, metrics.jsonl or run.json is running.
    Only a folder with no lock to judge falls back on run.json (its writer a live
    genbench process, or another machine's fresh heartbeat: see effective_status)."""
    run_dir = Path(run_dir)
    held = RunLock(run_dir).live()
    if held is not None:
        return held
    try:
        return effective_status(RunRecord.read(run_dir), run_dir=run_dir) == "running"
    except UsageError:
        return False


def check_new_name(root: Path, name: str) -> str:
    """``name`` when it can be a run's new folder name in ``root``; a UsageError
    (one line) saying why not."""
    try:
        validate_name(name)
    except UsageError as exc:
        # validate_name speaks to `genbench run --name`; here the name is typed in.
        raise UsageError(str(exc).replace("--name ", "", 1)) from None
    if os.path.lexists(Path(root) / name):
        raise UsageError(f"a run named {clean_text(name, 80)} already exists; pick another name")
    return name


def rename_run(run_dir: Path, name: str) -> Path:
    """Give a run folder a new name in the same runs folder; returns its new path.

    Refused (UsageError, one line) for a running run, a name that is taken or not
    a valid folder name, and a run folder that is a link or not directly inside
    its runs folder (a rename never moves anything out of it)."""
    run_dir = Path(run_dir)
    root = run_dir.parent
    if (
        run_dir.is_symlink()
        or not run_dir.is_dir()
        or Path(os.path.realpath(run_dir)).parent != Path(os.path.realpath(root))
    ):
        raise UsageError(
            f"{clean_text(str(run_dir), 200)} is not a run folder inside "
            f"{clean_text(str(root), 200)}"
        )
    if name == run_dir.name:
        return run_dir
    check_new_name(root, name)
    if is_running(run_dir):
        raise UsageError(
            f"{clean_text(run_dir.name, 80)} is running: its trainer holds the "
            "folder; stop it first, then rename it"
        )
    target = root / name
    # Claim the name first: mkdir fails when anyone else has it, and a rename onto
    # our own empty folder replaces it in one step (a plain rename would replace an
    # empty folder someone else had just made).
    try:
        target.mkdir()
    except FileExistsError:
        raise UsageError(
            f"a run named {clean_text(name, 80)} already exists; pick another name"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot rename to {clean_text(name, 80)}: {exc.strerror}") from None
    try:
        os.rename(run_dir, target)
    except OSError as exc:
        try:
            target.rmdir()
        except OSError:
            pass
        raise UsageError(f"cannot rename {clean_text(run_dir.name, 80)}: {exc.strerror}") from None
    return target
