"""Fetching a dataset with torchvision, only when asked (`genbench datasets --download`).

Training never downloads on its own: a run must not depend on the network, and
tests must never touch it. Without a network this fails within seconds: the
download hosts are probed with a short timeout before torchvision (whose
urlopen has no timeout of its own) is let loose.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from pathlib import Path

from genbench.data.locate import user_data_dir
from genbench.errors import UsageError, one_line

# genbench name -> torchvision dataset class
TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}
# The hosts torchvision 0.19-0.29 downloads them from. Probed before torchvision is
# even imported (its import alone takes seconds); torchvision's own list is used
# for the download itself.
HOSTS = {
    "mnist": ["ossci-datasets.s3.amazonaws.com", "yann.lecun.com"],
    "fashion-mnist": ["fashion-mnist.s3-website.eu-central-1.amazonaws.com"],
    "cifar10": ["www.cs.toronto.edu"],
}
PROBE_TIMEOUT = 5.0
READ_TIMEOUT = 60.0


def reachable(host: str) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def download(name: str, data_dir: Path | None = None) -> Path:
    """Download dataset ``name`` into ``data_dir`` (default: the user data folder)
    in torchvision's layout, where genbench finds it; returns the folder."""
    if name not in TORCHVISION:
        raise UsageError(
            f"dataset {name!r} cannot be downloaded; downloadable: {', '.join(TORCHVISION)}"
        )
    if not any(reachable(host) for host in HOSTS[name]):
        raise UsageError(
            f"cannot reach {', '.join(HOSTS[name])} to download {name} (no "
            "network?); copy the files in by hand instead (see `genbench datasets`)"
        )
    import torchvision.datasets

    cls = getattr(torchvision.datasets, TORCHVISION[name])
    root = Path(data_dir) if data_dir is not None else user_data_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {root}: {exc.strerror or exc}") from None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(READ_TIMEOUT)  # a stalled transfer fails instead of hanging
    try:
        with contextlib.redirect_stdout(sys.stderr):  # torchvision prints progress
            cls(str(root), train=True, download=True)
    except Exception as exc:  # noqa: BLE001 - torchvision raises RuntimeError, URLError, OSError...
        raise UsageError(
            f"downloading {name} into {root} failed: {one_line(exc, with_type=False)}"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    return root
