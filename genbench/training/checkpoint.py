"""Checkpoints: written atomically, read with weights_only so a run folder from
someone else cannot run code on this machine."""

from __future__ import annotations

import io
import math
import pickle
import re
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import torch

from genbench.errors import UsageError, one_line
from genbench.host.memory import check_fits, human_bytes
from genbench.runfolder.runs import write_atomic
from genbench.runfolder.untrusted import CHECKPOINT_MAX, clean_text, open_regular

FORMAT = 1


def checkpoint_bytes(state: dict[str, Any]) -> bytes:
    """A checkpoint file's bytes (a trainer writes them with RunWriter.write_checkpoint)."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    return buffer.getvalue()


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    # Never parents=True: a run folder moved away mid-run must not be made again,
    # empty, at its old path (the write then fails, and the trainer says why).
    Path(path).parent.mkdir(exist_ok=True)
    write_atomic(Path(path), checkpoint_bytes(state))


# What a trainer checkpoint holds besides the model's own state (Trainer.state_dict).
_PARTS = {"model": dict, "sampler": dict, "meter": dict, "rng": dict}


def load_checkpoint(
    path: Path, device: torch.device | str = "cpu", max_step: int | None = None
) -> dict[str, Any]:
    """The checkpoint's contents, or a UsageError naming what is wrong with it.

    The file is untrusted: it must be a regular file of the run folder under the
    size cap, it is unpickled with ``weights_only=True`` (no code runs), and its
    shape is checked (a step from 0 to ``max_step``, the parts a trainer saves), so
    a damaged or hostile checkpoint is one line, never a traceback."""
    path = Path(path)
    try:
        fh = open_regular(path, CHECKPOINT_MAX, run_dir=path.parent.parent)
    except FileNotFoundError:
        raise UsageError(f"no checkpoint at {path}; this run cannot be resumed") from None
    with fh:
        # The archive's own account of its records, read from its end (a few KB), is
        # checked before torch reads any of them: it allocates what a record declares.
        check_records(path, fh)
        fh.seek(0)
        try:
            with warnings.catch_warnings():
                # torch warns (a pickle protocol it did not write, ...) before it
                # refuses: the refusal below is the one line the user gets.
                warnings.simplefilter("ignore")
                state = torch.load(fh, map_location=device, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - the unpickler raises many kinds on bad bytes
            raise UsageError(f"checkpoint {path} {refusal(exc)}") from None
    if (
        not isinstance(state, dict)
        or type(state.get("format")) is not int
        or state["format"] != FORMAT
    ):
        raise UsageError(
            f"checkpoint {path} is not a genbench checkpoint (format {FORMAT} expected)"
        )
    step = state.get("step")
    if (
        isinstance(step, bool)
        or not isinstance(step, int)
        or step < 0
        or (max_step is not None and step > max_step)
    ):
        bound = f" to {max_step}" if max_step is not None else " up"
        raise UsageError(f"checkpoint {path} has step {step!r}; a step from 0{bound} was expected")
    for key, kind in _PARTS.items():
        if not isinstance(state.get(key), kind):
            raise UsageError(
                f"checkpoint {path} has no valid {key!r} part "
                "(a genbench trainer checkpoint has model, sampler, meter, rng)"
            )
    elapsed = state.get("elapsed", 0.0)
    if (
        isinstance(elapsed, bool)
        or not isinstance(elapsed, (int, float))
        or not math.isfinite(elapsed)
        or elapsed < 0
    ):
        raise UsageError(
            f"checkpoint {path} has elapsed {elapsed!r}; a time in seconds was expected"
        )
    check_finite(path, state)
    return state


_GLOBAL = re.compile(r"GLOBAL ([\w.]{1,120})")
_OPCODE = re.compile(r"Unsupported operand (\d{1,3})")


def refusal(exc: BaseException) -> str:
    """Why torch.load(weights_only=True) refused a file, in one line of genbench's
    words. torch's own message advises loading it again with weights_only=False: for
    a file from someone else that would run whatever code it holds, so that advice
    (and the allow-listing it suggests) is never passed on."""
    if isinstance(exc, pickle.UnpicklingError) and "weights_only" in str(exc):
        found, opcode = _GLOBAL.search(str(exc)), _OPCODE.search(str(exc))
        what = (
            f" ({found.group(1)})"
            if found
            else f" (pickle opcode {opcode.group(1)})"
            if opcode
            else ""
        )
        return (
            f"is unsafe to load: it holds pickled Python objects{what}, not only "
            "tensors and plain values; genbench never unpickles those, so nothing "
            "in it ran (a genbench checkpoint holds tensors and numbers only)"
        )
    text = one_line(exc)
    if "weights_only" in text:  # any other torch message carrying the same advice
        text = type(exc).__name__
    return f"is corrupt or unsafe to load: {text[:240]}"


# A checkpoint holds one record per tensor and a few more (the pickle, its version):
# a big model with its optimiser has thousands. More, or a central directory larger
# than this, is not an archive torch.save wrote, and would cost memory to list.
RECORDS_MAX = 100_000
DIRECTORY_MAX = 16 << 20
_END = b"PK\x05\x06"  # end of central directory record
_END64_LOCATOR = b"PK\x06\x07"
_TAIL = 22 + 0xFFFF  # the end record and the longest archive comment


def check_records(path: Path, fh: BinaryIO) -> None:
    """Refuse, in one line, a checkpoint whose zip records cannot be what torch.save
    wrote or would not fit in memory, before any of them is read.

    torch.load allocates each record at the size the archive declares, so a small
    file can claim gigabytes (a deflated record of zeros, or a size that lies).
    Checked here, from the archive's directory alone: it is a zip (torch's format;
    the legacy pickle format is refused), its directory and record count are
    bounded, each record's stored bytes lie inside the file, a stored record
    declares the size it stores, and all records together fit under
    CHECKPOINT_MAX and in the memory this process has free."""
    size = fh.seek(0, 2)
    entries, directory = _directory_size(fh, size)
    if entries is None:
        raise UsageError(
            f"checkpoint {path} is corrupt or unsafe to load: not a zip "
            "archive (torch.save writes one)"
        )
    if entries > RECORDS_MAX or directory > DIRECTORY_MAX:
        raise UsageError(
            f"checkpoint {path} lists {entries:,} records in a "
            f"{human_bytes(directory)} directory, over the {RECORDS_MAX:,} "
            f"records and {human_bytes(DIRECTORY_MAX)} a genbench checkpoint "
            "can have"
        )
    fh.seek(0)
    try:
        records = zipfile.ZipFile(fh).infolist()
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        ValueError,
        EOFError,
        struct.error,
        NotImplementedError,
    ) as exc:
        raise UsageError(
            f"checkpoint {path} is corrupt or unsafe to load: its zip "
            f"directory is unreadable ({one_line(exc)[:160]})"
        ) from None
    declared = 0
    for record in records:
        name = record.filename[:80]
        if record.header_offset + record.compress_size > size:
            raise UsageError(
                f"checkpoint {path} is corrupt: record {name!r} claims "
                f"{human_bytes(record.compress_size)} beyond the file's end "
                f"({human_bytes(size)} in all)"
            )
        if record.compress_type == zipfile.ZIP_STORED and record.file_size != record.compress_size:
            raise UsageError(
                f"checkpoint {path} is corrupt: stored record {name!r} declares "
                f"{human_bytes(record.file_size)} but holds "
                f"{human_bytes(record.compress_size)}"
            )
        declared += record.file_size
    what = f"checkpoint {path} declares {len(records):,} records of {human_bytes(declared)} in all"
    if declared > CHECKPOINT_MAX:
        raise UsageError(
            f"{what}, over the {human_bytes(CHECKPOINT_MAX)} a genbench "
            "checkpoint can hold; refused before reading it"
        )
    check_fits(declared, what)


def _directory_size(fh: BinaryIO, size: int) -> tuple[int | None, int]:
    """(records, bytes) of the zip's central directory, from its end record (and the
    zip64 one torch writes for big archives); (None, 0) when there is no end record."""
    tail_at = max(0, size - _TAIL)
    fh.seek(tail_at)
    tail = fh.read(size - tail_at)
    at = tail.rfind(_END)
    if at < 0 or len(tail) - at < 22:
        return None, 0
    entries, directory = struct.unpack("<6xHL", tail[at + 4 : at + 16])
    if entries != 0xFFFF and directory != 0xFFFFFFFF:
        return entries, directory
    locator = tail[at - 20 : at] if at >= 20 else b""
    if not locator.startswith(_END64_LOCATOR):
        return None, 0
    (end64_at,) = struct.unpack("<Q", locator[8:16])
    if end64_at + 56 > size:
        return None, 0
    fh.seek(end64_at)
    end64 = fh.read(56)
    if not end64.startswith(b"PK\x06\x06"):
        return None, 0
    entries64, directory64 = struct.unpack("<QQ", end64[32:48])
    return entries64, directory64


def first_non_finite(state: Any, where: str = "") -> str | None:
    """The dotted name of the first floating or complex tensor in a (nested) state
    that holds a NaN or an infinity, or None. Walked with a stack, not recursion: a
    hostile file may nest lists far deeper than Python's recursion limit."""
    # Each entry carries its parent's path as a link, joined into a name only for the
    # one entry returned: a deep nest costs no quadratic string building.
    stack: list[tuple[Any, Any]] = [((where, None), state)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, torch.Tensor):
            if (value.is_floating_point() or value.is_complex()) and not bool(
                torch.isfinite(value).all()
            ):
                return _dotted(path)
        elif isinstance(value, (dict, list, tuple)):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend(reversed([((k, path), v) for k, v in items]))
    return None


def _dotted(path: Any, most: int = 12) -> str:
    """A linked path (key, parent) as 'a.b.c', its last ``most`` keys (a hostile nest
    can be thousands deep)."""
    keys: list[str] = []
    while path is not None and len(keys) <= most:
        keys.append(str(path[0])[:40])
        path = path[1]
    if path is not None:
        keys[-1] = "…"
    return ".".join(k for k in reversed(keys) if k)


def all_finite(state: Any) -> bool:
    """Whether every floating-point tensor in a (nested) state is finite: a
    checkpoint of weights or optimiser moments gone infinite is not one to resume."""
    return first_non_finite(state) is None


def check_finite(path: Path, state: dict[str, Any]) -> None:
    """Refuse a checkpoint whose model state (weights, buffers, optimiser moments and
    step counts) holds a NaN or an infinity: the trainer never saves one (it keeps
    the last finite checkpoint instead), so such a file is damaged, and resuming it
    would only 'diverge' at the next step and blame the learning rate."""
    bad = first_non_finite(state["model"], "model")
    if bad is not None:
        raise UsageError(
            f"checkpoint {path} holds NaN or infinite values in "
            f"{clean_text(bad, 120)}; genbench never saves non-finite weights "
            "or optimiser state, so this file is damaged (resume from an "
            "intact copy of the run)"
        )


def _takes(own: torch.dtype, theirs: torch.dtype) -> bool:
    """Whether a tensor of dtype ``theirs`` may be loaded where the model keeps
    ``own``: any real floating width for a floating one (torch casts it exactly as a
    changed --precision would), the very same dtype otherwise. A complex tensor is
    never taken for a real one: torch would drop its imaginary part with a warning."""
    return theirs.is_floating_point if own.is_floating_point else theirs == own


def check_tensor_types(parts: dict[str, Any], saved: dict[str, Any]) -> None:
    """Raise UsageError naming the first tensor of a checkpoint's model state
    (``saved``) whose dtype the rebuilt model's ``parts`` (its checkpointed networks
    and optimisers) do not keep, before any of it is loaded; also an optimiser step
    count that is negative. The entries missing or of another shape are left to the
    loads, which name them."""
    for name, part in parts.items():
        theirs = saved.get(name)
        if not isinstance(theirs, dict):
            continue
        if isinstance(part, torch.nn.Module):
            for key, own in part.state_dict().items():
                other = theirs.get(key)
                if (
                    isinstance(own, torch.Tensor)
                    and isinstance(other, torch.Tensor)
                    and not _takes(own.dtype, other.dtype)
                ):
                    raise UsageError(
                        f"{name}.{clean_text(key, 80)} is {other.dtype} in the "
                        f"checkpoint; the model keeps {own.dtype}"
                    )
        elif isinstance(part, torch.optim.Optimizer) and isinstance(theirs.get("state"), dict):
            _check_optimiser_types(name, part, theirs["state"])


def _check_optimiser_types(
    name: str, optimiser: torch.optim.Optimizer, entries: dict[Any, Any]
) -> None:
    reference: dict[str, Any] = {}
    for state in _probe_states(optimiser) or []:
        reference.update(state)
    kind = type(optimiser).__name__
    for index, entry in entries.items():
        if not isinstance(entry, dict):
            continue
        for key, value in entry.items():
            where = f"{name}.state.{clean_text(index, 20)}.{clean_text(key, 40)}"
            own = reference.get(key)
            if (
                isinstance(value, torch.Tensor)
                and isinstance(own, torch.Tensor)
                and not _takes(own.dtype, value.dtype)
            ):
                raise UsageError(
                    f"{where} is {value.dtype} in the checkpoint; {kind} keeps it as {own.dtype}"
                )
            if key == "step" and _negative(value):
                raise UsageError(
                    f"{where} is negative in the checkpoint; {kind} counts its steps from 0"
                )


def _negative(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and not value.is_complex() and bool(value.reshape(()) < 0)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0


def _probe_states(optimiser: torch.optim.Optimizer) -> list[dict[str, Any]] | None:
    """The per-parameter state a fresh copy of the optimiser, with the same settings,
    creates in one step on a one-number parameter, one per parameter group; None
    when this probe cannot build or step it (a custom optimiser)."""
    groups = [
        {
            **{k: v for k, v in g.items() if k != "params"},
            "params": [torch.zeros(1, requires_grad=True)],
        }
        for g in optimiser.param_groups
    ]
    try:
        probe = type(optimiser)(groups)  # type: ignore[call-arg]  # a subclass: groups suffice
        for group in probe.param_groups:
            for p in group["params"]:
                p.grad = torch.zeros_like(p)
        probe.step()
    except Exception:  # noqa: BLE001 - an optimiser this probe cannot build: nothing to compare
        return None
    return [dict(probe.state[group["params"][0]]) for group in probe.param_groups]


def check_optimiser_state(optimiser: torch.optim.Optimizer) -> None:
    """Raise ValueError when a loaded optimiser's per-parameter state lacks entries
    the optimiser keeps, or holds them in the wrong shape: a damaged checkpoint that
    ``load_state_dict`` accepts unchecked, and the first step after a resume would
    trip over. The entries expected are those a fresh copy of the optimiser, with
    the same settings, creates in one step on a one-number parameter."""
    if not optimiser.state:
        return
    probes = _probe_states(optimiser)
    if probes is None:
        return
    for group, reference in zip(optimiser.param_groups, probes, strict=True):
        expected = set(reference)
        for p in group["params"]:
            state = optimiser.state.get(p)
            if state is None:
                continue
            if set(state) != expected:
                raise ValueError(
                    f"{type(optimiser).__name__} state holds {sorted(state)}, "
                    f"not {sorted(expected)}"
                )
            for name, value in state.items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != p.shape:
                    raise ValueError(
                        f"{type(optimiser).__name__} state {name!r} has shape "
                        f"{tuple(value.shape)}, its parameter {tuple(p.shape)}"
                    )


# How an optimiser computes its step, not what it computes: this genbench's choice
# wins over the checkpoint's (a run saved before cgan used fused Adam resumes fused).
IMPLEMENTATION_FLAGS = ("foreach", "fused", "capturable", "differentiable")


def check_optimiser_settings(optimiser: torch.optim.Optimizer, built: list[dict[str, Any]]) -> None:
    """Raise ValueError when a loaded optimiser's settings differ from ``built``, the
    settings the run's config gave a fresh optimiser: a checkpoint with another beta
    or epsilon is damaged (or from another run), and would train on wrong settings or
    fail at its first step. The learning rate may differ (a model may schedule it),
    but must be a finite number of at least 0; keys the file adds (a scheduler's
    ``initial_lr``) are kept; implementation flags (fused, foreach, ...) are set to
    what this genbench builds."""
    name = type(optimiser).__name__
    if len(optimiser.param_groups) != len(built):
        raise ValueError(
            f"{name} has {len(optimiser.param_groups)} parameter groups, "
            f"the run's config builds {len(built)}"
        )
    for group, settings in zip(optimiser.param_groups, built, strict=True):
        for key, value in settings.items():
            if key in IMPLEMENTATION_FLAGS:
                group[key] = value
                continue
            if key not in group:
                raise ValueError(f"{name} settings lack {key!r}")
            if key == "lr":
                lr = float(group[key])
                if not (math.isfinite(lr) and lr >= 0):
                    raise ValueError(f"{name} learning rate is {lr}, not a finite number >= 0")
            elif not _same(group[key], value):
                raise ValueError(
                    f"{name} {key} is {group[key]!r} in the checkpoint, "
                    f"{value!r} from the run's config"
                )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.shape == b.shape
            and bool(torch.equal(a.cpu(), b.cpu()))
        )
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return (
        bool(a == b)
        and type(a) is type(b)
        or (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and not isinstance(a, bool)
            and a == b
        )
    )
