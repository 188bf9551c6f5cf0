"""Load an export back the way a user without genbench would, and compare.

Run as a script, never imported by genbench: ``python -I loadback.py FORMAT EXPORT
CASE``, from a scratch folder. CASE is a ``torch.save``d dict: the noise ``z``, the
``labels`` (or None) and ``expected``, the in-process generator's images for them
(for safetensors: the weights, by name). It prints one JSON object: the largest
absolute difference, the output's shape, and whether genbench could be imported
(never: the first thing this script does is make it unimportable, so a program that
needed genbench's code to load fails here as it would for a user).
"""

import importlib.util
import json
import sys

BLOCKED = ("genbench", "genbench_plugins")


class NoGenbench:
    """A meta-path finder, first in line, that refuses genbench's packages: an
    editable install's finder, a site-packages copy or a .pth file would otherwise
    find them even under ``python -I``."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: this check runs without genbench")
        return None


def genbench_importable():
    try:
        importlib.util.find_spec("genbench")
    except ImportError:
        return False
    return True


def run_pt2(export, case):
    import torch

    program = torch.export.load(export).module()
    inputs = [case["z"]] + ([case["labels"]] if case["labels"] is not None else [])
    with torch.no_grad():
        out = program(*inputs)
    return (out.cpu() - case["expected"]).abs().max().item(), list(out.shape)


def run_onnx(export, case):
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(export, providers=["CPUExecutionProvider"])
    feeds = {"z": case["z"].cpu().numpy()}
    if case["labels"] is not None:
        feeds["labels"] = case["labels"].cpu().numpy()
    (out,) = session.run(["images"], feeds)
    return float(np.abs(out - case["expected"].numpy()).max()), list(out.shape)


def run_safetensors(export, case):
    from safetensors.torch import load_file

    weights = load_file(export)
    expected = case["expected"]
    if set(weights) != set(expected):
        missing = sorted(set(expected) - set(weights))
        extra = sorted(set(weights) - set(expected))
        raise SystemExit(f"tensors differ by name: missing {missing[:5]}, extra {extra[:5]}")
    worst = 0.0
    for name, tensor in weights.items():
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise SystemExit(f"{name}: {tensor.dtype}{list(tensor.shape)} in the file")
        if tensor.numel():
            diff = (tensor.double() - expected[name].double()).abs().max().item()
            worst = max(worst, diff)
    return worst, [len(weights)]


def main(argv):
    sys.meta_path.insert(0, NoGenbench())
    fmt, export, case_path = argv
    import torch

    case = torch.load(case_path, weights_only=True)
    diff, shape = {"pt2": run_pt2, "onnx": run_onnx, "safetensors": run_safetensors}[fmt](
        export, case
    )
    json.dump(
        {"max_abs_diff": diff, "shape": shape, "genbench_importable": genbench_importable()},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
