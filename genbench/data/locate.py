"""Where dataset files are looked for, in order.

1. the folder given by ``--data-dir``, else ``$GENBENCH_DATA``;
2. the user data folder (``~/.local/share/genbench`` on Linux, honouring
   ``$XDG_DATA_HOME``; the platform's own place elsewhere);
3. system folders that a package manager fills, per dataset (Debian's
   ``dataset-fashion-mnist`` installs into /usr/share/datasets/fashion-mnist).

Inside a root a dataset may lie in its own sub-folder (``<root>/mnist``) or in
torchvision's layout (``<root>/MNIST/raw``); an explicitly given folder may also
hold the files directly. The user data folder is not searched flat because
MNIST and Fashion-MNIST use the same file names: a flat folder there would be
ambiguous.
"""

from __future__ import annotations

import os
from pathlib import Path

from genbench.errors import UsageError

ENV = "GENBENCH_DATA"

# Folders a package manager fills, by dataset name. Tests replace this mapping.
SYSTEM_DIRS: dict[str, list[Path]] = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
}


def user_data_dir() -> Path:
    """genbench's folder in the user data folder; torchvision downloads land here."""
    # platformdirs comes with Textual; it knows XDG on Linux and the right place
    # on macOS and Windows.
    from platformdirs import user_data_dir as platform_dir

    return Path(platform_dir("genbench", appauthor=False))


def explicit_dir(data_dir: str | Path | None) -> Path | None:
    """``--data-dir`` if given, else ``$GENBENCH_DATA`` if set, as an absolute path
    (so a run records a folder that still means the same thing on resume)."""
    if data_dir in (None, ""):
        data_dir = os.environ.get(ENV) or None
        if data_dir is None:
            return None
        source = f"${ENV}"
    else:
        source = "--data-dir"
    path = Path(os.path.abspath(Path(data_dir).expanduser()))
    if path.exists() and not path.is_dir():
        raise UsageError(f"{source} {path} is a file; give the folder that holds the data")
    return path


def search_folders(name: str, subdirs: list[str], data_dir: Path | None) -> list[Path]:
    """Every folder that may hold dataset ``name``, most specific first.

    ``subdirs`` are the dataset's layouts relative to a root, e.g.
    ``["mnist", "MNIST/raw"]``.
    """
    folders: list[Path] = []
    if data_dir is not None:
        folders.append(data_dir)
        folders += [data_dir / s for s in subdirs]
    user = user_data_dir()
    folders += [user / s for s in subdirs]
    folders += SYSTEM_DIRS.get(name, [])
    return list(dict.fromkeys(folders))  # in order, each once


def looked_in(folders: list[Path]) -> str:
    return ", ".join(str(f) for f in folders)


def recorded_folder(recorded: str | Path | None, run_dir: Path, what: str) -> None:
    """Refuse a data folder named by a run's run.json (``data.dir``, or the PATH of a
    ``folder:PATH`` dataset) that lies inside that run folder. A run folder may come
    from someone else, and so may any data inside it: a run's data is read from the
    folders genbench reads datasets from (the run's --data-dir, $GENBENCH_DATA, the
    user data folder, the system's), never from one that came with the run."""
    if recorded in (None, ""):
        return
    root = os.path.realpath(run_dir)
    real = os.path.realpath(Path(recorded).expanduser())
    if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
        shown = str(recorded)[:200].encode("ascii", "backslashreplace").decode()
        raise UsageError(
            f"{Path(run_dir) / 'run.json'}: {what} {shown!r} lies inside the "
            "run folder; a run's data is read from genbench's data folders "
            f"(--data-dir, ${ENV}, {user_data_dir()}), never from files that "
            "came with the run"
        )
