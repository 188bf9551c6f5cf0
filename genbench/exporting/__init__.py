"""A trained generator out of genbench: a ``torch.export`` program (pt2), ONNX, or
safetensors weights with a config, each with a JSON sidecar that says how to call it.

    from genbench.trained import load
    from genbench.exporting import export

    result = export(load("runs/my-dcgan", device="cpu"), "pt2", Path("my-dcgan.pt2"))
    result.files, result.max_abs_diff

Each export is written atomically (temporary files, checked, then renamed) and,
unless ``check=False``, loaded back in a fresh ``python -I`` process that cannot
import genbench (``loadback.py``), fed the same noise, and compared with this
process's generator. docs/export.md is the user's side of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genbench import __version__
from genbench.errors import UsageError
from genbench.runfolder.runs import folder_id
from genbench.runfolder.untrusted import clean_text

if TYPE_CHECKING:
    import torch

    from genbench.trained import TrainedRun

FORMATS = ("pt2", "onnx", "safetensors")

# What each format needs beyond genbench's own dependencies: (module, extra). The
# check loads ONNX with onnxruntime, so it is needed only when checking.
NEEDS: dict[str, list[tuple[str, str]]] = {
    "pt2": [],
    "onnx": [("onnx", "onnx"), ("onnxscript", "onnx")],
    "safetensors": [("safetensors", "safetensors")],
}
CHECK_NEEDS: dict[str, list[tuple[str, str]]] = {"onnx": [("onnxruntime", "onnx")]}

# Noise vectors the check feeds both generators: a batch other than the one traced
# (2), so a batch size fixed into the program would show.
CHECK_BATCH = 5
TRACE_BATCH = 2
CHECK_TIMEOUT_S = 300


@dataclass
class ExportResult:
    files: list[Path]  # the export, then its sidecar JSON
    meta: dict[str, Any]
    max_abs_diff: float | None = None  # None with check=False
    check: dict[str, Any] = field(default_factory=dict)


def missing_packages(fmt: str, check: bool = True) -> str | None:
    """One line naming the extra to install when ``fmt`` cannot be written (or
    checked) here, else None. Asked before a run is loaded."""
    import importlib.util

    needs = NEEDS[fmt] + (CHECK_NEEDS.get(fmt, []) if check else [])
    missing = [module for module, _ in needs if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    extra = needs[0][1]
    return f"--format {fmt} needs {', '.join(missing)}: pip install 'genbench[{extra}]'" + (
        " (or --no-check to skip loading it back with onnxruntime)"
        if missing == ["onnxruntime"]
        else ""
    )


def sidecar_path(out: Path) -> Path:
    """The JSON that says how to call ``out``: beside it, its name plus .json."""
    return out.with_name(out.name + ".json")


def check_destination(out: Path, run_dir: Path, force: bool) -> None:
    """Refuse a path inside the run folder (genbench writes there only while
    training), a folder, and an existing file without ``force``."""
    where = out.resolve()
    if where.is_relative_to(run_dir.resolve()):
        raise UsageError(
            f"{clean_text(out, 300)} is inside the run folder; genbench never writes "
            "exports there: give --out a path outside it"
        )
    if not where.parent.is_dir():
        raise UsageError(f"folder {clean_text(out.parent, 300)} does not exist")
    for path in (out, sidecar_path(out)):
        if os.path.lexists(path) and (path.is_dir() or not force):
            what = "a folder" if path.is_dir() else "there already"
            raise UsageError(
                f"{clean_text(path, 300)} is {what}; "
                + ("name a file" if path.is_dir() else "use --force to replace it")
            )


def export(
    run: TrainedRun, fmt: str, out: Path, *, force: bool = False, check: bool = True
) -> ExportResult:
    """Write ``run``'s generator as ``fmt`` to ``out`` and its sidecar to
    ``out``.json; with ``check``, loaded back without genbench and compared."""
    import torch

    from genbench.exporting import program as prog

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    if problem := missing_packages(fmt, check):
        raise UsageError(problem)
    out = Path(out)
    check_destination(out, run.path, force)
    z, labels = _noise(run, TRACE_BATCH, seed=0)
    module = prog.generator_module(run.model, z, labels)
    with torch.no_grad():
        images = module(*prog.example_inputs(z, labels))
    meta = metadata(run, fmt, out, z, images, module)
    meta_json = json.dumps(meta, indent=2)
    try:
        return _write(run, fmt, out, module, z, labels, meta, meta_json, check)
    except OSError as exc:  # a name too long, a folder not writable, a full disk
        raise UsageError(f"cannot write {clean_text(out, 300)}: {exc.strerror or exc}") from None


def _write(
    run: TrainedRun,
    fmt: str,
    out: Path,
    module: torch.nn.Module,
    z: torch.Tensor,
    labels: torch.Tensor | None,
    meta: dict[str, Any],
    meta_json: str,
    check: bool,
) -> ExportResult:
    """The export staged, checked and renamed into place, with its sidecar."""
    from genbench.exporting import program as prog

    case: dict[str, Any]
    with _staging(out) as tmp:
        if fmt == "safetensors":
            state = prog.save_safetensors(module, tmp, meta_json)
            case = {"z": None, "labels": None, "expected": state}
        else:
            program = prog.export_program(module, prog.example_inputs(z, labels))
            if fmt == "pt2":
                prog.save_pt2(program, tmp, meta_json)
            else:
                prog.save_onnx(program, tmp, ["z", "labels"][: 1 + (labels is not None)], meta_json)
            zc, lc = _noise(run, CHECK_BATCH, seed=1)
            expected = run.generator(zc, lc).cpu()
            case = {"z": zc, "labels": lc, "expected": expected}
        result = ExportResult([out, sidecar_path(out)], meta)
        if check:
            result.check = check_in_fresh_process(fmt, tmp, case)
            result.max_abs_diff = result.check["max_abs_diff"]
            meta["check"] = {
                "max_abs_diff": result.max_abs_diff,
                "batch": CHECK_BATCH if fmt != "safetensors" else None,
                "how": "loaded back in a fresh python -I without genbench importable",
            }
        _write_atomically(sidecar_path(out), json.dumps(meta, indent=2) + "\n")
        _ordinary_mode(tmp)  # what each writer made it (safetensors: private to its owner)
        os.replace(tmp, out)
    return result


def _noise(run: TrainedRun, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` noise vectors of the run (one line when the model has no latent) and,
    for a conditional model, labels that cycle through its classes."""
    import torch

    z = run.latent(n, seed)
    if not run.conditional:
        return z, None
    return z, torch.arange(n, device=run.device) % max(1, len(run.classes))


def metadata(
    run: TrainedRun,
    fmt: str,
    out: Path,
    z: torch.Tensor,
    images: torch.Tensor,
    module: torch.nn.Module,
) -> dict[str, Any]:
    """What a user needs to call the export without genbench: inputs, output, range."""
    record = run.record
    plugin = record.plugin
    inputs: dict[str, Any] = {
        "z": {
            "shape": ["batch", *z.shape[1:]],
            "dtype": _dtype_name(z),
            "distribution": "standard normal, N(0, I)"
            if run.model.normal_latent
            else "the model's own (see its plugin)",
        }
    }
    if run.conditional:
        inputs["labels"] = {"shape": ["batch"], "dtype": "int64", "classes": run.classes}
    return {
        "format": fmt,
        "file": out.name,
        "genbench": __version__,
        "run": folder_id(run.path),  # not run.json's id: a renamed run is its folder's name
        "step": run.step,
        "model": record.model,
        "plugin": None
        if plugin is None
        else {"name": plugin.name, "distribution": plugin.distribution, "version": plugin.version},
        "config": record.config,
        "dataset": record.dataset,
        "inputs": inputs,
        "output": {
            "name": "images",
            "shape": ["batch", *images.shape[1:]],
            "dtype": _dtype_name(images),
            # Images are in [-1, 1]; points (2D toys) are in the data's own coordinates.
            "range": [-1, 1] if run.dataset.spec.kind == "image" else None,
            "layout": "NCHW" if images.dim() == 4 else "batch, features",
        },
        "device": str(run.device),
        "networks": sorted({k.split(".")[0] for k in module.state_dict()}),
        "max_batch": None if fmt == "safetensors" else _max_batch(),
    }


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _max_batch() -> int:
    from genbench.exporting.program import MAX_BATCH

    return MAX_BATCH


@contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A temporary path named like ``out`` in a scratch folder beside it (the same
    file system, so the rename is atomic; the same name, which a pt2 archive takes
    as its root folder), removed with the folder when anything fails before the
    rename."""
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp = scratch / out.name
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)
        scratch.rmdir()


def _ordinary_mode(path: Path) -> None:
    """What open() would have made (mkstemp's files are private to their owner)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def _write_atomically(path: Path, text: str) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        _ordinary_mode(Path(name))
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def check_in_fresh_process(fmt: str, export_path: Path, case: dict[str, Any]) -> dict[str, Any]:
    """Load ``export_path`` in ``python -I`` from a scratch folder with genbench
    blocked (loadback.py), feed it ``case``'s noise, and return what it says:
    max_abs_diff, the output's shape, whether genbench was importable."""
    import torch

    script = Path(__file__).with_name("loadback.py")
    with tempfile.TemporaryDirectory(prefix="genbench-export-check-") as scratch:
        case_path = Path(scratch) / "case.pt"
        torch.save(case, case_path)
        try:
            done = subprocess.run(
                [
                    sys.executable,
                    "-I",
                    str(script),
                    fmt,
                    str(export_path.resolve()),
                    str(case_path),
                ],
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=CHECK_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise UsageError(
                f"loading the {fmt} export back took over {CHECK_TIMEOUT_S} s; "
                "nothing was written (--no-check skips the check)"
            ) from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        raise UsageError(
            f"the {fmt} export did not load back without genbench: "
            + clean_text(lines[-1] if lines else f"exit {done.returncode}", 400)
            + "; nothing was written"
        )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if found["genbench_importable"]:
        raise UsageError("the export check could import genbench; it must run without it")
    return found
