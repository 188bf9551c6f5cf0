"""Reading back what W&B wrote offline: the records of a ``run-ID.wandb`` file.

wandb (0.2x and later) has no Python reader of its own any more (wandb-core, in Go,
writes the file), so the tests read it as the format is: LevelDB's log format (32 KiB
blocks of records, each a CRC-32, a length, a type FULL/FIRST/MIDDLE/LAST and its
bytes) after a 7-byte ``:W&B`` header, each record one protobuf ``Record`` of wandb's
own ``wandb_internal_pb2``. A change of either fails here loudly (the header, a
checksum, a record that does not parse), not as a silently empty history.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK = 32768
HEADER = 7  # each record's: crc32 (4), length (2), type (1); the file's: ":W&B", magic, version
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[Any]:
    """Each wandb ``Record`` in the file, in order."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} does not start with W&B's header: {data[:7]!r}"
    pos, parts = HEADER, b""
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # a block's trailer: too short for a record
            pos += BLOCK - pos % BLOCK
            continue
        crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:  # zero padding: the end of what was written
            break
        assert zlib.crc32(chunk, zlib.crc32(bytes([kind]))) == crc, f"{path}: bad checksum"
        parts = chunk if kind in (FULL, FIRST) else parts + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            yield record


@dataclass
class OfflineRun:
    """One offline session of a W&B run (one ``offline-run-*`` folder)."""

    folder: Path
    id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: dict[int, dict[str, Any]] = field(default_factory=dict)  # step -> values
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None


def read_offline_run(folder: Path) -> OfflineRun:
    (log,) = folder.glob("run-*.wandb")
    run = OfflineRun(folder)
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.id = record.run.run_id
        elif kind == "config":
            for item in record.config.update:
                run.config[item.key] = json.loads(item.value_json)
        elif kind == "history":
            values = {_key(i): json.loads(i.value_json) for i in record.history.item}
            step = values.pop("_step")
            assert step not in run.history, f"step {step} logged twice in {folder.name}"
            run.history[step] = {k: v for k, v in values.items() if not k.startswith("_")}
        elif kind == "summary":
            for item in record.summary.update:
                run.summary[_key(item)] = json.loads(item.value_json)
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def offline_runs(wandb_dir: Path) -> list[OfflineRun]:
    """The run folder's offline sessions, oldest first (the order ``wandb sync`` sends
    the sessions of one resumed run in)."""
    return [read_offline_run(f) for f in sorted(wandb_dir.glob("offline-run-*"))]


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)
