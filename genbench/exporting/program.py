"""The generator as a plain ``torch.nn.Module`` and the three files made from it.

``GeneratorModule(model)`` calls the model's ``sample_from`` and owns the networks
that call touches as its submodules, so their parameters and buffers are the state
of what ``torch.export`` traces and of the weights file. Nothing here knows a run
folder; ``genbench.exporting`` hands it a restored model.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genbench.errors import UsageError

if TYPE_CHECKING:
    import torch

    from genbench.api import GenerativeModel

# The largest batch the exported programs promise to take (torch.export needs a bound).
MAX_BATCH = 1 << 16


def generator_networks(
    model: GenerativeModel, z: torch.Tensor, labels: torch.Tensor | None
) -> dict[str, torch.nn.Module]:
    """The model's networks (its ``torch.nn.Module`` attributes) that ``sample_from``
    calls, by attribute name: the generator without the discriminator or encoder."""
    import torch

    networks = {k: v for k, v in vars(model).items() if isinstance(v, torch.nn.Module)}
    called: set[str] = set()
    handles = [
        net.register_forward_pre_hook(lambda *_, name=name: called.add(name))
        for name, net in networks.items()
    ]
    try:
        with torch.no_grad():
            model.sample_from(z, labels)
    finally:
        for h in handles:
            h.remove()
    if not called:
        raise UsageError(
            f"model {model.name!r}: sample_from() calls none of its networks "
            "(torch.nn.Module attributes), so there are no generator weights to export"
        )
    return {name: networks[name] for name in networks if name in called}


def generator_module(
    model: GenerativeModel, z: torch.Tensor, labels: torch.Tensor | None
) -> torch.nn.Module:
    """A module whose forward(z[, labels]) is ``model.sample_from``, owning the
    networks that call touches, in eval mode."""
    import torch

    class GeneratorModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for name, net in generator_networks(model, z, labels).items():
                # A network named like a Module attribute ("training") gets a prefix.
                self.add_module(name if not hasattr(self, name) else f"net_{name}", net)

        if model.conditional:

            def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
                return model.sample_from(z, labels)

        else:

            def forward(self, z: torch.Tensor) -> torch.Tensor:  # type: ignore[misc]
                return model.sample_from(z)

    # An exported generator is for drawing: its loaded parameters need no gradients,
    # so a user's images come out without requires_grad (and without autograd's cost).
    return GeneratorModule().eval().requires_grad_(False)


def example_inputs(z: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    return (z,) if labels is None else (z, labels)


def export_program(
    module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]
) -> torch.export.ExportedProgram:
    """``torch.export`` of ``module`` with a dynamic batch (the first dimension of
    every input). The strict (TorchDynamo) tracer first: it keeps ``len(z)`` symbolic,
    which the non-strict one fixes to the example's batch; the non-strict one where
    TorchDynamo cannot trace the model's Python."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    shapes = tuple({0: batch} for _ in inputs)
    problems = []
    for strict in (True, False):
        try:
            with warnings.catch_warnings(), torch.no_grad():
                # Dynamo notes that evaluating() sets the modules' mode: harmless here.
                warnings.simplefilter("ignore")
                return torch.export.export(module, inputs, dynamic_shapes=shapes, strict=strict)
        except Exception as exc:  # noqa: BLE001 - any tracer failure: try the other, then say
            problems.append(_first_line(exc))
    raise UsageError(
        "torch.export cannot trace this model's sample_from() with a dynamic batch: "
        + "; ".join(problems)
    )


def save_pt2(program: torch.export.ExportedProgram, path: Path, meta_json: str) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No complete tensor found in the group": CPU weights
        torch.export.save(program, path, extra_files={"genbench.json": meta_json})


def save_onnx(
    program: torch.export.ExportedProgram, path: Path, names: list[str], meta_json: str
) -> None:
    """ONNX through the torch.export-based exporter (onnxscript), from the same
    program as pt2: the TorchScript exporter traced ``len(z)`` as a constant."""
    import contextlib
    import io

    import torch

    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),  # its progress lines
    ):
        warnings.simplefilter("ignore")
        try:
            onnx_program = torch.onnx.export(
                program,
                input_names=names,
                output_names=["images"],
                dynamo=True,
                optimize=True,
                external_data=False,
                verbose=False,
            )
        except Exception as exc:  # noqa: BLE001 - an operator ONNX lacks, ...: one line
            raise UsageError(
                f"torch.onnx cannot convert the generator: {_first_line(exc)}"
            ) from None
    if onnx_program is None:  # the signature allows it; the dynamo exporter returns one
        raise UsageError("torch.onnx.export returned no program")
    onnx_program.model.metadata_props["genbench"] = meta_json
    onnx_program.save(str(path), external_data=False)


def save_safetensors(module: torch.nn.Module, path: Path, meta_json: str) -> dict[str, Any]:
    """The generator networks' parameters and buffers, by ``network.name``, on the
    CPU; returns the tensors written."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(path), metadata={"genbench": meta_json})
    return state


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
