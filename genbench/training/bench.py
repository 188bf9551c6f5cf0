"""`genbench bench`: training throughput in images per second.

Each model is built with its default hyperparameters for the data, trained for a warm-up,
then timed over N steps of exactly the trainer's hot loop (batch drawn on the
device, train_step, losses accumulated on the device), with one host sync at the
end of the timed window, so the figure is what `genbench run` can reach.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from genbench import config as cfg
from genbench.api import GenerativeModel, batches_per_step, losses_problem
from genbench.data import get_dataset
from genbench.data.failures import prepared
from genbench.data.sampler import next_batches
from genbench.dataset import Dataset, where_looked
from genbench.errors import UsageError
from genbench.registry import ModelEntry, Registry
from genbench.training.device import resolve_device, seed_everything
from genbench.training.loop import LossMeter
from genbench.training.precision import autocast, choose_precision


@dataclass
class BenchResult:
    model: str
    dataset: str
    shape: list[int]
    batch_size: int
    steps: int
    seconds: float
    img_per_s: float
    ms_per_step: float
    skipped: str = ""  # why the model was not measured
    samples_per_s: float = 0.0  # generation: sample() of a batch, after training


class _BrokenContract(Exception):
    """train_step returned something other than a dict of loss tensors."""


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def bench_model(
    entry: ModelEntry,
    dataset: Dataset,
    batch_size: int,
    steps: int,
    warmup: int,
    device: torch.device,
    precision: str,
    sets: list[str] | None = None,
) -> BenchResult:
    spec = dataset.spec
    result = BenchResult(entry.name, dataset.name, list(spec.shape), batch_size, steps, 0, 0, 0)
    reason = entry.cls.unsupported_reason(spec)
    if reason:
        result.skipped = reason
        return result
    seed_everything(0)
    try:
        for_data = cfg.data_defaults(entry.cls, spec)
    except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the others
        result.skipped = f"{entry.name}.defaults_for raised {type(exc).__name__}: {exc}"
        return result
    config = cfg.from_assignments(entry.cls.Config, list(sets or []), for_data)
    model = entry.cls(config, spec, device)
    sampler = dataset.sampler(batch_size=batch_size, device=device, seed=1)
    meter = LossMeter(device)
    k = batches_per_step(entry.cls, config)  # real batches a step consumes

    def step() -> None:
        x, y = next_batches(sampler, k)
        with autocast(device, precision):
            losses = model.train_step(x, y)
        if problem := losses_problem(losses, 1):
            # As the trainer does: the plugin's mistake in check_model's words, not an
            # AttributeError from inside the meter.
            raise _BrokenContract(problem)
        meter.add(losses)

    try:
        step()
    except _BrokenContract as exc:
        result.skipped = str(exc)
        return result
    for _ in range(warmup - 1):
        step()
    meter.read()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    meter.read()  # the one host sync of the window, as in training
    synchronize(device)
    result.seconds = time.perf_counter() - start
    result.img_per_s = steps * k * batch_size / result.seconds  # every real image consumed
    result.ms_per_step = 1000 * result.seconds / steps
    result.samples_per_s = generation_speed(model, batch_size, device)
    return result


@torch.no_grad()
def generation_speed(
    model: GenerativeModel, batch_size: int, device: torch.device, repeats: int = 5
) -> float:
    """Samples per second of ``model.sample`` in batches of ``batch_size`` (labels
    cycling through the classes for a conditional model), after one warm-up call."""
    classes = model.spec.num_classes if model.conditional else None
    labels = torch.arange(batch_size, device=device) % classes if classes else None
    model.sample(batch_size, labels=labels)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        model.sample(batch_size, labels=labels)
    synchronize(device)
    return repeats * batch_size / max(time.perf_counter() - start, 1e-9)


def run_bench(
    registry: Registry,
    models: list[str] | None,
    dataset_name: str | None,
    batch_size: int,
    steps: int,
    warmup: int,
    device_name: str | None,
    precision: str,
    image_size: int | None = None,
    data_dir: str | None = None,
    sets: list[str] | None = None,
) -> dict[str, Any]:
    device = resolve_device(device_name)
    choice = choose_precision(precision, device)  # auto resolved; bf16 emulated: warned
    precision = choice.precision
    names = models or sorted(registry.models)
    entries = [registry.get(n) for n in names]
    results = []
    for entry in entries:
        name = dataset_name or _default_dataset(entry)
        dataset = get_dataset(name, data_dir=data_dir, image_size=image_size, registry=registry)
        available = dataset.availability()
        if not available.ok:
            raise UsageError(
                f"dataset {name!r} not found ({where_looked(available.where)}); {available.how}"
            )
        prepared(dataset, registry, name)
        results.append(
            bench_model(entry, dataset, batch_size, steps, warmup, device, precision, sets)
        )
    return {
        "device": str(device),
        "device_name": _device_name(device),
        "torch": torch.__version__,
        "precision": precision,
        "precision_why": choice.why,
        "precision_warning": choice.warning,
        # How the step ran: eager PyTorch, always (no CUDA graph or compiled step).
        "execution": "eager",
        # Deprecated, always False: "execution" says it plainly. Kept while the
        # table of genbench/cli/bench.py and --json readers (tests/cli/test_bench.py)
        # still read it; drop it once they read "execution".
        "fast_path": False,
        "results": [asdict(r) for r in results],
    }


def _default_dataset(entry: ModelEntry) -> str:
    return "fashion-mnist" if "image" in entry.cls.kinds else "ring8"


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"cpu, {torch.get_num_threads()} threads"
    return device.type
