"""The sweep record: ``RUNS/.sweeps/ID/sweep.json``, one small file per sweep.

It holds the spec, the executor and its settings, and the members (name, point,
the flags that start it, the executor's handle); the members' run folders stay
the source of truth for how each is doing. Written atomically, read as untrusted
input like every run file (a regular file, a size cap, bounded JSON, every field
checked): a bad one is one line naming the file and the field. torch-free.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from genbench.errors import UsageError
from genbench.options import SWEEP_ID_RE, parse_point
from genbench.runfolder.runs import validate_name, write_atomic
from genbench.runfolder.untrusted import UnreadableFile, read_json
from genbench.sweep.spec import MEMBERS_HARD_MAX, SweepSpec

SWEEPS_DIR = ".sweeps"  # hidden: the runs list shows run folders only
SWEEP_FILE = "sweep.json"
SWEEP_JSON_MAX = 64 << 20  # 100,000 members of a few hundred bytes each
# What a sweep as a whole is doing: the command runs it, its jobs were handed to a
# scheduler, it was stopped (resumable) or cancelled, or every member ended.
STATES = ("running", "submitted", "stopped", "cancelled", "done")


@dataclass
class MemberRecord:
    name: str  # its run folder's name, in the runs folder holding .sweeps
    point: dict[str, Any]
    args: list[str]  # `genbench run` flags of the new run (--resume is built when needed)
    handle: str | None = None  # the executor's handle (a pid, a job id) of its last start
    trial: int | None = None  # Bayesian search: the Optuna trial it belongs to
    pruned: str | None = None  # why the search stopped it early; never restarted


@dataclass
class SweepRecord:
    id: str
    spec: SweepSpec
    executor: str = "local"
    settings: dict[str, Any] = field(default_factory=dict)  # the executor's options
    members: list[MemberRecord] = field(default_factory=list)
    state: str = "running"
    created: str = ""
    updated: str = ""
    best: dict[str, Any] | None = None  # Bayesian search: the best trial so far

    # -- where ---------------------------------------------------------------------

    @staticmethod
    def folder(runs_dir: Path, sweep_id: str) -> Path:
        return Path(runs_dir) / SWEEPS_DIR / sweep_id

    def member(self, name: str) -> MemberRecord:
        return next(m for m in self.members if m.name == name)

    # -- writing --------------------------------------------------------------------

    def write(self, runs_dir: Path) -> None:
        self.updated = datetime.now().isoformat(timespec="seconds")
        data = {**asdict(self), "spec": self.spec.to_dict()}
        path = self.folder(runs_dir, self.id) / SWEEP_FILE
        write_atomic(path, (json.dumps(data, indent=1, allow_nan=False) + "\n").encode())

    # -- reading --------------------------------------------------------------------

    @classmethod
    def read(cls, runs_dir: Path, sweep_id: str) -> SweepRecord:
        check_id(sweep_id)
        folder = cls.folder(runs_dir, sweep_id)
        path = folder / SWEEP_FILE
        try:
            raw = read_json(path, SWEEP_JSON_MAX, run_dir=folder)
        except FileNotFoundError:
            known = ", ".join(list_sweep_ids(runs_dir)[-5:]) or "none"
            raise UsageError(
                f"no sweep {sweep_id!r} in {runs_dir} (sweeps there: {known}; "
                "`genbench sweeps` lists them)"
            ) from None
        except UnreadableFile as exc:
            raise UsageError(str(exc)) from None
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> SweepRecord:
        def fail(what: str) -> UsageError:
            return UsageError(f"{where}: {what}")

        if not isinstance(raw, dict):
            raise fail("is not a sweep record (a JSON object with id, spec and members)")
        sweep_id = raw.get("id")
        if not isinstance(sweep_id, str):
            raise fail("id must be a string")
        members = raw.get("members")
        if not isinstance(members, list) or len(members) > MEMBERS_HARD_MAX:
            raise fail(f"members must be a list of at most {MEMBERS_HARD_MAX:,}")
        state = raw.get("state")
        if state not in STATES:
            raise fail(f"state must be one of {', '.join(STATES)}, got {str(state)[:40]!r}")
        settings = raw.get("settings") or {}
        if not isinstance(settings, dict) or not all(
            v is None or isinstance(v, (str, int, float, bool)) for v in settings.values()
        ):
            raise fail("settings must be an object of numbers, strings and bools")
        best = raw.get("best")
        if best is not None and not isinstance(best, dict):
            raise fail("best must be an object")
        return cls(
            id=check_id(sweep_id, where),
            spec=SweepSpec.from_dict(raw.get("spec"), where),
            executor=_text(raw.get("executor", "local"), "executor", where),
            settings=settings,
            members=[_member(m, where) for m in members],
            state=state,
            created=_text(raw.get("created", ""), "created", where),
            updated=_text(raw.get("updated", ""), "updated", where),
            best=best,
        )


def _text(value: Any, name: str, where: str, limit: int = 200) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise UsageError(f"{where}: {name} must be a string of at most {limit} characters")
    return value


def _member(raw: Any, where: str) -> MemberRecord:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: each member must be an object")
    name = _text(raw.get("name"), "members.name", where)
    try:
        validate_name(name)  # never a path, an escape sequence or a hidden folder
    except UsageError:
        raise UsageError(f"{where}: member name {name[:40]!r} is not a run folder's name") from None
    args = raw.get("args")
    if not isinstance(args, list) or not all(isinstance(a, str) and len(a) < 8192 for a in args):
        raise UsageError(f"{where}: member {name}'s args must be a list of strings")
    if any(_names_a_folder(a) for a in args):
        # the sweep adds these itself, to its own runs folder: never taken from a file
        raise UsageError(f"{where}: member {name}'s args may not name a folder")
    try:
        point = parse_point(raw.get("point", {}), "point")
    except UsageError as exc:
        raise UsageError(f"{where}: member {name}'s {exc}") from None
    handle = raw.get("handle")
    trial = raw.get("trial")
    pruned = raw.get("pruned")
    if handle is not None:
        handle = _text(handle, "members.handle", where)
    if trial is not None and (isinstance(trial, bool) or not isinstance(trial, int)):
        raise UsageError(f"{where}: member {name}'s trial must be a whole number")
    if pruned is not None:
        pruned = _text(pruned, "members.pruned", where, 1000)
    return MemberRecord(name, point, list(args), handle, trial, pruned)


# The flags a sweep gives each member itself; argparse also takes any prefix of a
# flag (--runs) and the --flag=value form, so those are refused in a record too.
SWEEP_OWN_FLAGS = ("--resume", "--runs-dir", "--name", "--sweep", "--sweep-point")


def _names_a_folder(arg: str) -> bool:
    flag = arg.split("=", 1)[0]
    return (
        len(flag) > 2 and flag.startswith("--") and any(f.startswith(flag) for f in SWEEP_OWN_FLAGS)
    )


def check_id(sweep_id: str, where: str = "sweep id") -> str:
    import re

    if not re.fullmatch(SWEEP_ID_RE, sweep_id):
        raise UsageError(
            f"{where}: {sweep_id[:40]!r} is not a sweep id (letters, digits, . _ -, at most 80)"
        )
    return sweep_id


def new_sweep_id(now: datetime | None = None) -> str:
    return "sweep-" + (now or datetime.now()).strftime("%Y%m%d-%H%M%S")


def list_sweep_ids(runs_dir: Path) -> list[str]:
    """The sweeps of a runs folder, oldest first (ids start with their time)."""
    root = Path(runs_dir) / SWEEPS_DIR
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [n for n in names if (root / n / SWEEP_FILE).is_file() and not n.startswith(".")]


class SweepLock:
    """One `genbench sweep` process drives a sweep at a time (another --resume of it
    is refused while the first runs): an flock on the sweep's folder, released
    with the process however it ends."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / ".driver.lock"
        self._fd: int | None = None

    def acquire(self, sweep_id: str) -> SweepLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UsageError(
                f"sweep {sweep_id} is being run by another genbench sweep process; "
                "wait for it, or stop it (Ctrl+C there) and then --resume"
            ) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> SweepLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def iter_sweeps(runs_dir: Path) -> Iterator[SweepRecord | UsageError]:
    """Every sweep of a runs folder; one that cannot be read is its error."""
    for sweep_id in list_sweep_ids(runs_dir):
        try:
            yield SweepRecord.read(runs_dir, sweep_id)
        except UsageError as exc:
            yield exc
