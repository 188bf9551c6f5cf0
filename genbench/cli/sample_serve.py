"""``genbench sample RUN --serve DIR``: the generator behind the workbench's generate
view, as a process (internal; the workbench starts it, hidden from ``--help``).

The workbench imports no torch and neither training nor the trained-run library, so
it asks this process for images. Once the run is loaded it writes one line, what
the model is::

    {"ready": true, "run": ..., "model": ..., "dataset": ..., "step": 300,
     "kind": "image", "conditional": true, "classes": [...],
     "has_latent": true, "normal_latent": true, "device": "cpu"}

(or ``{"error": "one line"}`` and exits 1). Then it reads one JSON request a line on
stdin and answers each with one JSON line on stdout::

    {"id": 7, "seed": 3, "n": 16, "cols": 8, "labels": [..] | null,
     "walk": {"from": 3, "to": 4, "t": 0.25} | null, "truncation": 0.7 | null}
    -> {"id": 7, "png": "DIR/grid-000007.png", "step": 300, "ms": 41.2}
    or {"id": 7, "error": "one line"}

Without a walk the grid is ``TrainedRun.sample(n, seed, labels, truncation)``; a
walk draws the noise of both seeds and generates their slerp (lerp for a latent
that is not standard normal) at t, so t=0 is the seed ``from`` and t=1 the seed
``to``. A bad request is an error answer, never the end of the process; stdin
closing (the workbench gone) is: it then removes the grids it wrote, and DIR when
that leaves it empty, so a workbench killed outright leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genbench.errors import UsageError, one_line
from genbench.options import SEED_MAX
from genbench.runfolder.untrusted import clean_text

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from genbench.trained import TrainedRun

SERVE_HELP = "internal: the workbench's generate view (JSON requests on stdin, grids into DIR)"
LINE_MAX = 64 * 1024  # bytes of one request line
IMAGES_MAX = 512  # samples of one image request: a grid of 16 classes x 32 columns
POINTS_MAX = 5000  # points of one scatter request
COLS_MAX = 64
UPSCALE_TO = 1024  # a small grid is enlarged (nearest) towards this many pixels wide
UPSCALE_MAX = 8


# Where the answers go: stdout as the process started. sys.stdout itself is stderr
# while serving, so what a model plugin or a library prints cannot break the protocol.
_answers = sys.stdout


def serve(args: Any) -> int:
    """Load the run, say what it is, then answer requests until stdin closes."""
    global _answers
    _answers, sys.stdout = sys.stdout, sys.stderr
    try:
        return _serve(args)
    finally:
        sys.stdout = _answers


def _serve(args: Any) -> int:
    folder = Path(args.serve)
    if not folder.is_dir():
        _say({"error": f"{clean_text(folder, 300)} is not a folder to write grids into"})
        return 1
    try:
        from genbench.host.threads import ThreadShare, parse_threads
        from genbench.trained import load

        # It draws beside trainers: a share of the CPUs, as they take (--threads).
        ThreadShare(parse_threads(getattr(args, "threads", None))).apply(force=True)
        run = load(args.run_dir, device=getattr(args, "device", None))
        hello = describe(run)
    except UsageError as exc:
        _say({"error": clean_text(exc, 1000)})
        return 1
    _say(hello)
    written: list[Path] = []
    try:
        return _answer_all(run, folder, written)
    except KeyboardInterrupt:
        return 130
    finally:
        _clean_up(folder, written)


def _clean_up(folder: Path, written: list[Path]) -> None:
    for path in written:
        path.unlink(missing_ok=True)
    try:
        folder.rmdir()  # only when empty: nothing of anyone else's goes
    except OSError:
        pass


def _answer_all(run: TrainedRun, folder: Path, written: list[Path]) -> int:
    stdin = sys.stdin.buffer
    count = 0
    while True:
        line = stdin.readline(LINE_MAX + 1)
        if not line:
            return 0
        if len(line) > LINE_MAX and not line.endswith(b"\n"):
            stdin.readline()  # the rest of the line: one error for it, not several
            _say({"id": None, "error": f"request line over {LINE_MAX} bytes"})
            continue
        if not line.strip():
            continue
        count += 1
        reply = answer(run, folder, line, count)
        if "png" in reply:
            written.append(Path(reply["png"]))
        _say(reply)


def describe(run: TrainedRun) -> dict[str, Any]:
    """The first line: what the view may offer (labels, walks, truncation)."""
    has_latent = run.has_latent
    return {
        "ready": True,
        "run": run.path.name,
        "model": run.record.model,
        "dataset": run.record.dataset,
        "step": run.step,
        "kind": run.dataset.spec.kind,
        "conditional": run.conditional,
        "classes": run.classes if run.conditional else [],
        "has_latent": has_latent,
        "normal_latent": bool(has_latent and run.model.normal_latent),
        "device": str(run.device),
    }


def answer(run: TrainedRun, folder: Path, line: bytes, count: int) -> dict[str, Any]:
    """One request line answered: the grid's PNG, or one line saying why not."""
    started = time.perf_counter()
    ident: Any = None
    try:
        try:
            request = json.loads(line)
        except ValueError as exc:
            why = one_line(exc, with_type=False)
            raise UsageError(f"a request is one line of JSON: {why}") from None
        if not isinstance(request, dict):
            raise UsageError("a request is a JSON object")
        ident = request.get("id")
        if ident is not None and not isinstance(ident, (int, str)):
            raise UsageError("id must be a number or a string")
        image = grid(run, request)
        path = folder / f"grid-{count:06d}.png"
        _write_png(image, path)
    except (ValueError, UsageError) as exc:  # JSON, the request, the library's checks
        return {"id": ident, "error": clean_text(one_line(exc, with_type=False), 300)}
    except Exception as exc:  # noqa: BLE001 - out of memory, a plugin's bug: one line, next request
        return {"id": ident, "error": clean_text(one_line(exc), 300)}
    ms = (time.perf_counter() - started) * 1000
    return {"id": ident, "png": str(path), "step": run.step, "ms": round(ms, 1)}


def grid(run: TrainedRun, request: dict[str, Any]) -> Image.Image:
    """The request's samples drawn and laid out as the PNG the view shows."""
    points = run.dataset.spec.kind != "image"
    n = _int(request, "n", 1, POINTS_MAX if points else IMAGES_MAX, default=16)
    cols = _int(request, "cols", 1, COLS_MAX, default=8)
    labels = request.get("labels")
    if labels is not None and not (
        isinstance(labels, list) and all(type(v) is int for v in labels)
    ):
        raise UsageError("labels must be a list of whole numbers, or null")
    truncation = _truncation(request.get("truncation"))
    walk = request.get("walk")
    if walk is None:
        seed = _int(request, "seed", 0, SEED_MAX, default=0)
        samples = run.sample(n, seed, labels=labels, truncation=truncation)
    else:
        samples = walked(run, n, walk, labels, truncation)
    return render(run, samples, cols)


def walked(
    run: TrainedRun, n: int, walk: Any, labels: list[int] | None, truncation: float | None
) -> torch.Tensor:
    """The samples at t on the way from seed ``from``'s noise to seed ``to``'s."""
    import torch

    from genbench.sampling.walks import slerp

    if not isinstance(walk, dict):
        raise UsageError('walk must be {"from": seed, "to": seed, "t": 0..1} or null')
    a = _int(walk, "from", 0, SEED_MAX)
    b = _int(walk, "to", 0, SEED_MAX)
    t = walk.get("t")
    if not (isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 1):
        raise UsageError("walk t must be a number from 0 to 1")
    za = run.latent(n, a, truncation)
    zb = run.latent(n, b, truncation)
    z = slerp(za, zb, float(t)) if run.model.normal_latent else za + (zb - za) * float(t)
    if labels is None and run.conditional:  # one set of labels for the whole walk
        rng = torch.Generator(device=run.device).manual_seed(a + 1)
        labels = torch.randint(len(run.classes), (n,), generator=rng, device=run.device).tolist()
    return run.generator(z, labels)


def render(run: TrainedRun, samples: torch.Tensor, cols: int) -> Image.Image:
    """Images as a grid with ``cols`` columns (as the run's sample grids are drawn),
    enlarged by a whole factor so a 28x28 sample is more than a speck; 2D points as
    a scatter over the dataset's modes."""
    from PIL import Image

    from genbench.training.samples import image_grid, scatter

    samples = samples.float().cpu()
    if run.dataset.spec.kind != "image":
        modes = getattr(run.dataset, "means", None)
        return Image.fromarray(scatter(samples.numpy(), _modes(modes)))
    image = image_grid(samples, cols)
    factor = max(1, min(UPSCALE_MAX, UPSCALE_TO // max(image.size)))
    if factor > 1:
        image = image.resize(
            (image.width * factor, image.height * factor), Image.Resampling.NEAREST
        )
    return image


def _modes(modes: Any) -> Any:
    import numpy as np

    return None if modes is None else np.asarray(modes, dtype=np.float32)


def _int(request: dict[str, Any], key: str, low: int, high: int, default: int | None = None) -> int:
    value = request.get(key, default)
    if type(value) is not int or not low <= value <= high:
        raise UsageError(f"{key} must be a whole number from {low} to {high}")
    return value


def _truncation(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError("truncation must be a number above 0, or null")
    if not (math.isfinite(value) and value > 0):
        raise UsageError("truncation must be a number above 0, or null")
    return float(value)


def _write_png(image: Image.Image, path: Path) -> None:
    """Written whole, then renamed into place: the view never reads half a file."""
    partial = path.with_name(f".{path.name}.part")
    image.save(partial, format="PNG")
    os.replace(partial, path)


def _say(message: dict[str, Any]) -> None:
    _answers.write(json.dumps(message) + "\n")
    _answers.flush()
