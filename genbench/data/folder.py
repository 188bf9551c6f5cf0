"""``folder:PATH``: any folder of images, resized and centre-cropped to a square.

Labels: when the images lie in sub-folders of PATH and none directly in it, each
sub-folder is a class (sorted by name, as torchvision's ImageFolder does);
otherwise the dataset is unlabelled and every image under PATH is used.

Colour: RGB (3 channels) unless every image looked at is grayscale, then L (1
channel). Up to MODE_PROBE images spread over the folder are looked at (only their
headers), so a huge folder is not opened twice; any image is converted to the
chosen mode when read.

Up to STREAM_ABOVE images are decoded once into a uint8 tensor on the device,
like MNIST. Larger folders are streamed through a DataLoader with worker
processes (see genbench.data.stream).

The folder may come from a run.json someone sent (``"dataset": "folder:/"``), so
the scan is bounded: links to folders are never followed (no loops, no counting
an image twice), only regular files are taken (a FIFO named x.png is skipped
without being opened), and a scan that meets more than MAX_ENTRIES files and
folders stops with one line. Images are opened through
genbench.runfolder.untrusted.open_regular, so a file swapped for a FIFO cannot hang a read.
16-bit grayscale images are scaled to 8 bits, not clipped.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from genbench.api import DataSpec
from genbench.data.decode import load_image, open_image
from genbench.data.images import check_image_size
from genbench.dataset import Availability, Dataset
from genbench.errors import UsageError
from genbench.host.memory import check_fits

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

PREFIX = "folder:"
EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)
DEFAULT_SIZE = 64
STREAM_ABOVE = 20_000
MODE_PROBE = 1000
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
# Files and folders a scan may meet before it gives up: far above any folder of
# images (ImageNet's training set is 1.3 M files), far below a whole filesystem.
MAX_ENTRIES = 2_000_000


def is_image(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in EXTENSIONS


class _Budget:
    """Counts the entries a scan meets; too many is one line naming the folder."""

    def __init__(self, root: Path, limit: int | None = None):
        self.root, self.seen = root, 0
        self.limit = MAX_ENTRIES if limit is None else limit

    def spend(self, n: int) -> None:
        self.seen += n
        if self.seen > self.limit:
            raise UsageError(
                f"{PREFIX}{self.root} has more than {self.limit:,} files and "
                f"folders; point {PREFIX} at a folder of images"
            )


def _entries(folder: Path, budget: _Budget) -> tuple[list[str], list[str]]:
    """(image files, sub-folders) directly in ``folder``, sorted, hidden ones left
    out. Only regular files (or links to them) count as images; links to folders
    and anything else (FIFOs, devices, sockets) are left out without being opened."""
    files, dirs = [], []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                budget.spend(1)
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        dirs.append(entry.name)
                    elif is_image(entry.name) and stat.S_ISREG(entry.stat().st_mode):
                        files.append(entry.name)  # stat follows a link to a file
                except OSError:
                    continue  # a broken link, or gone since the listing
    except OSError as exc:
        if folder == budget.root:
            raise UsageError(f"cannot read image folder {folder}: {exc.strerror or exc}") from None
        return [], []  # an unreadable sub-folder is skipped, as os.walk does
    return sorted(files), sorted(dirs)


def images_under(folder: Path, budget: _Budget | None = None) -> list[Path]:
    """Every image below ``folder``, in a stable order (each folder's files, then
    its sub-folders in name order, as os.walk gives them); hidden entries skipped,
    links to folders not followed."""
    budget = budget or _Budget(folder)
    found: list[Path] = []
    stack = [Path(folder)]
    while stack:
        here = stack.pop()
        files, dirs = _entries(here, budget)
        found += [here / f for f in files]
        stack += [here / d for d in reversed(dirs)]
    return found


def scan(
    root: Path, limit: int | None = None
) -> tuple[list[Path], list[int] | None, tuple[str, ...] | None]:
    """(files, labels, class names); labels and names are None when unlabelled."""
    budget = _Budget(root, limit)
    top_files, top_dirs = _entries(root, budget)
    if top_files:
        return images_under(root, budget), None, None
    files: list[Path] = []
    labels: list[int] = []
    names: list[str] = []
    for entry in top_dirs:
        images = images_under(root / entry, budget)
        if images:  # a sub-folder with no images is not a class
            labels += [len(names)] * len(images)
            names.append(entry)
            files += images
    return files, labels, tuple(names)


def colour_mode(files: list[Path]) -> str:
    """ "L" when every probed image is grayscale, else "RGB"."""
    from PIL import Image

    step = max(1, len(files) // MODE_PROBE)
    for path in files[::step]:
        try:
            with open_image(path) as fh, Image.open(fh) as im:
                if im.mode not in GRAY_MODES:
                    return "RGB"
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise UsageError(f"cannot read image {path}: {exc}") from None
    return "L"


class ImageFolder(Dataset):
    image_size: int  # always set: DEFAULT_SIZE unless asked

    def __init__(
        self,
        path: str | Path,
        image_size: int | None = None,
        stream_above: int = STREAM_ABOVE,
        workers: int | None = None,
    ):
        if not str(path):
            raise UsageError(f"give a folder after {PREFIX!r}, e.g. {PREFIX}~/faces")
        root = Path(os.path.abspath(Path(path).expanduser()))  # no '..' in the name
        if not root.is_dir():
            raise UsageError(f"image folder {root} does not exist or is not a folder")
        self.root = root
        self.files, self.labels, self.class_names = scan(root)
        if not self.files:
            raise UsageError(
                f"no images in {root} (looked for "
                f"{', '.join(sorted(EXTENSIONS))}, in sub-folders too)"
            )
        self.name = f"{PREFIX}{root}"
        self.title = f"images in {root}"
        self.image_size = check_image_size(image_size) or DEFAULT_SIZE
        self.mode = colour_mode(self.files)
        channels = 1 if self.mode == "L" else 3
        self.spec = DataSpec(
            kind="image",
            shape=(channels, self.image_size, self.image_size),
            num_classes=len(self.class_names) if self.class_names else None,
        )
        self.streaming = len(self.files) > stream_above
        self.workers = workers if workers is not None else min(4, max(1, (os.cpu_count() or 2) - 1))
        self._loaded: tuple[np.ndarray, np.ndarray | None] | None = None

    @property
    def size(self) -> int:  # type: ignore[override]
        return len(self.files)

    def availability(self) -> Availability:
        return Availability(True, str(self.root))

    def prepare(self) -> None:
        """Decode every image now (small folders), so a bad file is a UsageError
        before any run folder exists. Streamed folders are read during training."""
        if self.streaming or self._loaded is not None:
            return
        import numpy as np

        s, c = self.image_size, self.spec.shape[0]
        check_fits(self._held(), f"{len(self.files):,} images of {c}x{s}x{s} in {self.root}")
        images = np.empty((len(self.files), c, s, s), dtype=np.uint8)
        # PIL releases the GIL while decoding and resizing, so threads do overlap.
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for i, array in enumerate(pool.map(lambda p: load_image(p, s, self.mode), self.files)):
                images[i] = array
        labels = None if self.labels is None else np.asarray(self.labels, dtype=np.int64)
        self._loaded = (images, labels)

    def _held(self) -> int:
        s, c = self.image_size, self.spec.shape[0]
        return len(self.files) * (c * s * s + (8 if self.labels is not None else 0))

    def device_bytes(self, device_type: str = "cpu") -> int:
        # Decoded at image_size by prepare; on the CPU those arrays become the tensor.
        return 0 if self.streaming or device_type == "cpu" else self._held()

    def sampler(self, batch_size, device, seed):
        if self.streaming:
            from genbench.data.stream import StreamingSampler

            return StreamingSampler(
                self.files,
                self.labels,
                self.image_size,
                self.mode,
                batch_size,
                device,
                seed,
                self.workers,
            )
        from genbench.data.sampler import DeviceBatchSampler, upload

        self.prepare()
        images, labels = self._loaded  # type: ignore[misc]
        x, y = upload(images, labels, device)
        self._loaded = None
        return DeviceBatchSampler(x, y, batch_size, seed)
