"""genbench export --format pt2|onnx|safetensors: each export of a trained dcgan and cgan
loads in a process where genbench cannot be imported, through the snippets
docs/export.md gives users, and gives genbench's own generator's images on the same
noise; bad inputs are one line and exit 2."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.cli import main
from tests.conftest import REPO, toy_model_source

DOCS = REPO / "docs" / "export.md"
EXT = {"pt2": "pt2", "onnx": "onnx", "safetensors": "safetensors"}

# The largest differences allowed from genbench's generator on the same noise. pt2
# runs torch's own kernels on the same graph: exact (0 seen on dcgan and cgan).
# onnxruntime has its own convolution kernels: 6e-8 (dcgan) and 2e-7 (cgan) seen.
TOLERANCE = {"pt2": 1e-6, "onnx": 1e-4}


def fashion_mnist_or_skip() -> None:
    from genbench.data import get_dataset

    if not get_dataset("fashion-mnist").availability().ok:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A tiny dcgan and cgan trained once for the module (30 steps, one thread)."""
    fashion_mnist_or_skip()
    root = tmp_path_factory.mktemp("runs")
    for model in ("dcgan", "cgan"):
        argv = ["run", "--headless", "--quiet", "--model", model, "--dataset", "fashion-mnist"]
        argv += ["--steps", "30", "--batch-size", "16", "--threads", "1", "--name", model]
        argv += ["--log-every", "10", "--sample-every", "1000", "--eval-every", "1000"]
        argv += ["--checkpoint-every", "10", "--keep-every", "10"]  # steps 10 and 20 kept
        assert main([*argv, "--runs-dir", str(root)]) == 0
    return {m: root / m for m in ("dcgan", "cgan")}


def snippet(fmt: str, model: str) -> str:
    """The docs' plain-Python loader for ``fmt`` (the python block under its heading),
    with its file names made this model's."""
    text = DOCS.read_text()
    section = text.split(f"### {fmt}\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, f"docs/export.md has no python block under ### {fmt}"
    return code.group(1).replace("my-dcgan", f"my-{model}")


def run_without_genbench(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """``code`` in ``python -I -S`` with only the installed libraries on its path:
    no site processing, so the editable install's finder of genbench is never set up;
    the child first checks that genbench cannot be imported."""
    prelude = (
        "import sys\n"
        f"sys.path.extend({[sysconfig.get_path('purelib'), sysconfig.get_path('platlib')]!r})\n"
        "try:\n"
        "    import genbench\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('genbench was importable: ' + genbench.__file__)\n"
        "try:\n"
        "    import genbench_plugins\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('genbench_plugins was importable')\n"
    )
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", prelude + code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def export(run: Path, fmt: str, out: Path, capsys, *extra: str) -> str:
    assert main(["export", str(run), "--format", fmt, "--out", str(out), *extra]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}\n" in printed and f"wrote {out}.json\n" in printed
    return printed


def printed_diff(printed: str) -> float:
    found = re.search(r"max abs diff (\S+) \(", printed)
    assert found, printed
    return float(found.group(1))


def in_process_images(run: Path, z: torch.Tensor, labels) -> torch.Tensor:
    from genbench.trained import load

    trained = load(run, device="cpu")
    return trained.generator(z, None if labels is None else torch.as_tensor(labels))


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_pt2_runs_without_genbench_and_matches_the_generator(runs, model, tmp_path, capsys):
    out = tmp_path / f"my-{model}.pt2"
    printed = export(runs[model], "pt2", out, capsys)
    assert printed_diff(printed) <= TOLERANCE["pt2"]
    code = snippet("pt2", model) + (
        "one = generator(*[t[:1] for t in inputs])\n"  # a batch of one, too
        "torch.save({'z': z, 'labels': inputs[1] if len(inputs) > 1 else None,"
        " 'images': images.detach(), 'one': one.detach(),"
        " 'grad': generator(*inputs).requires_grad}, 'result.pt')\n"
    )
    done = run_without_genbench(code, tmp_path)
    assert done.returncode == 0, done.stderr
    got = torch.load(tmp_path / "result.pt", weights_only=True)
    assert got["images"].shape == (16, 1, 28, 28)
    assert got["grad"] is False  # drawn images, not a graph to backpropagate through
    assert (got["labels"] is not None) == (model == "cgan")
    want = in_process_images(runs[model], got["z"], got["labels"])
    assert (got["images"] - want).abs().max().item() <= TOLERANCE["pt2"]
    assert (got["one"] - want[:1]).abs().max().item() <= TOLERANCE["pt2"]
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["check"]["max_abs_diff"] == printed_diff(printed)


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_onnx_runs_in_onnxruntime_without_genbench_and_matches(runs, model, tmp_path, capsys):
    out = tmp_path / f"my-{model}.onnx"
    printed = export(runs[model], "onnx", out, capsys)
    assert printed_diff(printed) <= TOLERANCE["onnx"]
    code = snippet("onnx", model) + (
        "np.savez('result.npz', z=z, images=images, **({'labels': feeds['labels']}"
        " if 'labels' in feeds else {}))\n"
    )
    done = run_without_genbench(code, tmp_path)
    assert done.returncode == 0, done.stderr
    got = np.load(tmp_path / "result.npz")
    assert got["images"].shape == (16, 1, 28, 28) and got["images"].dtype == np.float32
    labels = got["labels"] if "labels" in got else None
    assert (labels is not None) == (model == "cgan")
    want = in_process_images(runs[model], torch.from_numpy(got["z"]), labels)
    assert np.abs(got["images"] - want.numpy()).max() <= TOLERANCE["onnx"]


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_safetensors_hold_the_generator_weights_and_a_config(runs, model, tmp_path, capsys):
    from genbench.trained import load

    out = tmp_path / f"my-{model}.safetensors"
    printed = export(runs[model], "safetensors", out, capsys)
    assert printed_diff(printed) == 0
    code = snippet("safetensors", model) + (
        "import torch\ntorch.save({'weights': weights, 'state': state, 'meta': meta},"
        " 'result.pt')\n"
    )
    done = run_without_genbench(code, tmp_path)
    assert done.returncode == 0, done.stderr
    got = torch.load(tmp_path / "result.pt", weights_only=True)
    trained = load(runs[model], device="cpu")
    generator = trained.model.G.state_dict()
    # the generator's whole state and nothing of the discriminator
    assert set(got["weights"]) == {f"G.{k}" for k in generator}
    assert set(got["state"]) == set(generator)
    for name, tensor in generator.items():
        assert torch.equal(got["state"][name], tensor), name
    meta = got["meta"]
    assert meta["model"] == model and meta["networks"] == ["G"]
    assert meta["config"] == trained.record.config and meta["step"] == trained.step == 30
    assert meta["plugin"]["name"] == model and meta["plugin"]["version"]
    assert meta["inputs"]["z"]["shape"] == ["batch", trained.record.config["latent_dim"]]
    assert meta["output"]["shape"] == ["batch", 1, 28, 28]
    assert meta["output"]["range"] == [-1, 1]
    if model == "cgan":
        assert meta["inputs"]["labels"]["classes"][0] == "T-shirt/top"
        assert len(meta["inputs"]["labels"]["classes"]) == 10
    else:
        assert "labels" not in meta["inputs"]


def one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_an_existing_export_is_kept_without_force_and_replaced_with_it(runs, tmp_path, capsys):
    out = tmp_path / "g.pt2"
    out.write_bytes(b"mine")
    assert main(["export", str(runs["dcgan"]), "--format", "pt2", "--out", str(out)]) == 2
    one_line_error(capsys, str(out), "--force")
    assert out.read_bytes() == b"mine" and not Path(f"{out}.json").exists()
    export(runs["dcgan"], "pt2", out, capsys, "--force", "--no-check")
    assert out.read_bytes()[:2] == b"PK"  # a pt2 archive is a zip
    assert json.loads(Path(f"{out}.json").read_text())["format"] == "pt2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pt2", "g.pt2.json"]  # no temp left


def test_the_default_output_is_named_after_the_run_in_the_current_folder(runs, capsys):
    import os
    import stat

    assert main(["export", str(runs["dcgan"]), "--format", "safetensors", "--no-check"]) == 0
    assert "not checked" in capsys.readouterr().out
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("dcgan.safetensors", "dcgan.safetensors.json"):
        # an ordinary file, as open() makes one (not the scratch files' owner-only mode)
        assert stat.S_IMODE(Path(name).stat().st_mode) == 0o666 & ~umask, name


def test_an_export_is_never_written_into_the_run_folder(runs, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(runs["dcgan"], run)
    before = sorted(p.name for p in run.rglob("*"))
    out = run / "samples" / "g.pt2"
    assert main(["export", str(run), "--format", "pt2", "--out", str(out)]) == 2
    one_line_error(capsys, "inside the run folder")
    assert sorted(p.name for p in run.rglob("*")) == before


def test_an_output_that_cannot_be_written_is_one_line(runs, tmp_path, capsys):
    out = tmp_path / ("a" * 246 + ".pt2")  # its scratch folder's name is over 255 bytes
    argv = ["export", str(runs["dcgan"]), "--format", "pt2", "--no-check", "--out", str(out)]
    assert main(argv) == 2
    one_line_error(capsys, "cannot write", "File name too long")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated"])
def test_a_run_without_a_usable_checkpoint_is_one_line(runs, tmp_path, capsys, damage):
    run = tmp_path / "runs" / "victim"
    shutil.copytree(runs["dcgan"], run)
    checkpoint = run / "checkpoints" / "last.pt"
    if damage == "missing":
        checkpoint.unlink()
    elif damage == "garbage":
        checkpoint.write_bytes(b"not a checkpoint at all" * 100)
    else:
        checkpoint.write_bytes(checkpoint.read_bytes()[:4096])
    out = tmp_path / "g.pt2"
    assert main(["export", str(run), "--format", "pt2", "--out", str(out)]) == 2
    one_line_error(capsys, "last.pt")
    assert not out.exists() and not Path(f"{out}.json").exists()


def test_onnx_without_its_packages_names_the_extra(runs, tmp_path, capsys, monkeypatch):
    # None in sys.modules: what find_spec and import see for a package not installed.
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    out = tmp_path / "g.onnx"
    assert main(["export", str(runs["dcgan"]), "--format", "onnx", "--out", str(out)]) == 2
    one_line_error(capsys, "onnxscript", "pip install 'genbench[onnx]'")
    assert not out.exists()


def test_no_format_is_one_line(runs, capsys):
    assert main(["export", str(runs["dcgan"])]) == 2
    one_line_error(capsys, "--format pt2|onnx|safetensors")


def test_a_model_without_a_latent_cannot_be_exported(plugin_site, tmp_path, capsys):
    plugin_site.add("gb-toy", toy_model_source("toy"))  # its latent() is the default None
    argv = ["run", "--headless", "--quiet", "--model", "toy", "--dataset", "ring8"]
    argv += ["--steps", "5", "--threads", "1", "--eval-every", "1000", "--name", "toy"]
    assert main([*argv, "--runs-dir", str(tmp_path / "runs")]) == 0
    out = tmp_path / "toy.pt2"
    assert (
        main(["export", str(tmp_path / "runs" / "toy"), "--format", "pt2", "--out", str(out)]) == 2
    )
    one_line_error(capsys, "offers no latent", "exported")
    assert not out.exists()


def test_step_exports_a_kept_checkpoint(runs, tmp_path, capsys):
    from genbench.trained import load

    out = tmp_path / "g.pt2"
    printed = export(runs["dcgan"], "pt2", out, capsys, "--step", "10")
    assert printed_diff(printed) <= TOLERANCE["pt2"]
    assert json.loads(Path(f"{out}.json").read_text())["step"] == 10
    z = torch.randn(3, 100, generator=torch.Generator().manual_seed(5))
    got = torch.export.load(out).module()(z)
    at = {s: load(runs["dcgan"], device="cpu", step=s).generator(z) for s in (10, 30)}
    assert (got - at[10]).abs().max().item() <= TOLERANCE["pt2"]
    assert (got - at[30]).abs().max().item() > 1e-3  # a different generator
    assert main(["export", str(runs["dcgan"]), "--format", "pt2", "--step", "7"]) == 2
    one_line_error(capsys, "no checkpoint at step 7")
