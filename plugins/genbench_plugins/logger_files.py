"""What the W&B and MLflow loggers keep in a run folder between a run and its resumes:
their own folder (never a link a received run folder brought) and a small JSON state
in it (the service's run id, ...), written atomically and read as untrusted.

Not a plugin itself (no hook); uses only the standard library.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE = "genbench.json"
_STATE_MAX_BYTES = 64 << 10


def own_folder(folder: Path, *inside: str) -> Path:
    """``folder`` made (or found) as a real folder of the run's, with none of ``inside``
    a link: a received run folder's link is never written through."""
    for path in (folder, *(folder / name for name in inside)):
        if path.is_symlink():
            raise RuntimeError(f"{path} is a link; the logger writes only into its own folder")
    folder.mkdir(exist_ok=True)
    return folder


def read_state(folder: Path) -> dict[str, Any]:
    """What an earlier start kept, or {} when there is none or it is not to be trusted."""
    path = folder / STATE
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _STATE_MAX_BYTES:
            return {}
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def write_state(folder: Path, state: dict[str, Any]) -> None:
    """Keep ``state`` in ``folder`` atomically (a link there is replaced, not followed)."""
    path = folder / STATE
    part = folder / f".{STATE}.part"
    part.unlink(missing_ok=True)
    with open(part, "x", encoding="utf-8") as fh:  # O_EXCL: never through a link
        json.dump(state, fh)
    os.replace(part, path)
