"""Contract checks for model plugins: ``check_model`` runs a model through
everything the workbench will ask of it, on tiny random data, in a second or two.

Use it in a plugin's own tests::

    from genbench.testing import check_model
    from my_plugin.model import MyGAN

    def test_contract():
        check_model(MyGAN)                                         # a spec it supports
        check_model(MyGAN, DataSpec("image", (1, 28, 28), 10))     # or a chosen one

A failed check raises :class:`ContractError` (an AssertionError, so pytest shows
it as a plain test failure) whose message names the model, the check and what to
change. The checks, in order:

``class``        name, kinds and conditional are valid; the model supports the spec
``config``       every Config field has a default, a help string and a type that
                 ``--set`` can convert (bool, int, float, str); defaults respect their
                 own bounds; the Config survives run.json (to_dict -> from_dict)
``construct``    the constructor works and keeps a network or optimiser as an attribute;
                 batches_per_step(config) is a whole number >= 1
``train_step``   fed what the trainer feeds it ((k, B, ...) for a k-batch model), returns
                 a mapping of finite, detached, 0-dim floating tensors (never
                 Python floats: ``.item()`` would stall the GPU every step) with the
                 same names every step
``sample``       shape (n, *spec.shape), floating, finite, images in [-1, 1], on the
                 model's device; the same generator seed gives the same samples;
                 networks are left in the training mode they were in
``global rng``   sample(generator=g) draws nothing from torch's global generator, so
                 drawing previews never changes the course of training
``labels``       (conditional models) with the same noise, different labels give
                 different samples
``determinism``  two instances loaded from one state and stepped under one seed
                 agree exactly (on CPU): what exact resume and CUDA-graph capture rely on
``round trip``   state_dict() -> torch.save -> torch.load(weights_only=True) ->
                 load_state_dict() into a fresh instance gives identical samples and an
                 identical next step: networks, optimisers and counters are all saved.
                 The model is told a run of PLANNED_STEPS (plan_steps(0, ...)) before
                 its first step and the copy where it stands (plan_steps(2, ...)), as
                 the trainer does on a resume, so a schedule must continue exactly too

This module imports torch; the workbench itself never imports it.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import math
import re
from collections.abc import Mapping
from typing import Any, NoReturn

import torch

from genbench import config as cfg
from genbench.api import (
    DataSpec,
    GenerativeModel,
    batches_per_step,
    class_problem,
    losses_problem,
)
from genbench.dataset import Dataset, dataset_problem, where_looked
from genbench.errors import UsageError

__all__ = [
    "CANDIDATE_SPECS",
    "ContractError",
    "check_dataset",
    "check_model",
    "losses_problem",
    "pick_spec",
]

# What check_model trains on when no spec is given: the first one the model
# supports. They mirror the built-in datasets: ring8, the MNIST family, CIFAR-10.
CANDIDATE_SPECS: tuple[DataSpec, ...] = (
    DataSpec("points", (2,), 8),
    DataSpec("image", (1, 28, 28), 10),
    DataSpec("image", (3, 32, 32), 10),
)

BATCH = 16  # >1 so batch norm works; small so conv models stay fast on CPU
N_SAMPLES = 6
SEED = 1234
# The run length the model is told (plan_steps): short enough that a schedule over it
# changes the rate at every step the checks take.
PLANNED_STEPS = 8


class ContractError(AssertionError):
    """A model (or, from check_dataset, a dataset) broke the plugin contract;
    ``check`` names which part."""

    def __init__(self, model: str, check: str, detail: str, by: str = "check_model"):
        self.model, self.check, self.detail = model, check, detail
        super().__init__(f"{model} failed {by} [{check}]: {detail}")


def pick_spec(model_cls: type[GenerativeModel]) -> DataSpec | None:
    """The first of CANDIDATE_SPECS the model can train on, or None."""
    for spec in CANDIDATE_SPECS:
        if model_cls.unsupported_reason(spec) is None:
            return spec
    return None


def check_model(
    model_cls: type[GenerativeModel],
    spec: DataSpec | None = None,
    device: str | torch.device = "cpu",
    config: Any = None,
) -> list[str]:
    """Check ``model_cls`` against the plugin contract; raise ContractError on the
    first broken check, return the names of the checks that ran.

    spec:   the data to check on (default: the first of CANDIDATE_SPECS it supports).
    device: where to build the model; exact comparisons are made on CPU only.
    config: a Config instance, or a mapping of field overrides (for example
            ``{"hidden": 32}`` to keep the check fast), or None for the defaults.

    torch's global random state is restored afterwards, so the check does not
    disturb the caller's seeding.
    """
    device = torch.device(device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        return _Checker(model_cls, spec, device, config).run()


class _Checker:
    def __init__(
        self,
        model_cls: type[GenerativeModel],
        spec: DataSpec | None,
        device: torch.device,
        config: Any,
    ) -> None:
        self.cls = model_cls
        name = getattr(model_cls, "name", None)
        self.label = f"{getattr(model_cls, '__name__', model_cls)!s} ({name!r})"
        self.requested_spec = spec
        self.spec: DataSpec  # the requested one, or picked by check_class
        self.device = device
        self.config_arg = config
        self.exact = device.type == "cpu"
        self.batches = 1  # real batches a train_step consumes (batches_per_step)
        self.passed: list[str] = []

    # -- helpers ---------------------------------------------------------------

    def fail(self, check: str, detail: str) -> NoReturn:
        raise ContractError(self.label, check, detail)

    def build(self, seed: int) -> GenerativeModel:
        torch.manual_seed(seed)
        return self.cls(self.config, self.spec, self.device)

    def batch(self, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Random data of the spec, with labels when the spec has classes (the
        trainer passes labels to every model when the dataset has them): one batch
        (B, ...), or k distinct ones as (k, B, ...) and labels (k, B) for a model
        whose batches_per_step is k > 1, as the trainer hands them."""
        g = torch.Generator().manual_seed(seed)
        lead = (BATCH,) if self.batches == 1 else (self.batches, BATCH)
        shape = (*lead, *self.spec.shape)
        if self.spec.kind == "image":
            x = torch.rand(shape, generator=g) * 2 - 1
        else:
            x = torch.randn(shape, generator=g)
        y = None
        if self.spec.num_classes:
            y = torch.randint(self.spec.num_classes, lead, generator=g)
            y = y.to(self.device)
        return x.to(self.device), y

    def labels(self, shift: int = 0) -> torch.Tensor | None:
        if not (self.cls.conditional and self.spec.num_classes):
            return None
        k = self.spec.num_classes
        return (torch.arange(N_SAMPLES) + shift).remainder(k).to(self.device)

    def generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    def draw(self, model: GenerativeModel, seed: int = 7, shift: int = 0) -> torch.Tensor:
        with torch.no_grad():  # as the trainer's previewer calls it
            return model.sample(
                N_SAMPLES, labels=self.labels(shift), generator=self.generator(seed)
            )

    def step(
        self, model: GenerativeModel, data_seed: int, rng_seed: int
    ) -> Mapping[str, torch.Tensor]:
        x, y = self.batch(data_seed)
        torch.manual_seed(rng_seed)
        return model.train_step(x, y)

    def same(self, a: torch.Tensor, b: torch.Tensor) -> bool:
        if a.shape != b.shape:
            return False
        if self.exact:
            return torch.equal(a, b)
        return torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5)

    def diff(self, a: torch.Tensor, b: torch.Tensor) -> str:
        if a.shape != b.shape:
            return f"shapes {tuple(a.shape)} and {tuple(b.shape)}"
        return f"max abs difference {(a.float() - b.float()).abs().max().item():.3g}"

    # -- the checks --------------------------------------------------------------

    def run(self) -> list[str]:
        self.check_class()
        self.config = self.check_config()
        model = self.check_construct()
        self.plan(model, 0)
        self.check_train_step(model)
        self.check_sample(model)
        self.check_latent(model)
        if self.cls.conditional:
            self.check_labels(model)
        state = self.check_serialisable(model)
        if self.exact:
            self.check_determinism(state)
        self.check_round_trip(model, state)
        return self.passed

    def check_class(self) -> None:
        # The same class checks that run when a model class is created (a class
        # changed after creation, or built around them, is caught here).
        if problem := class_problem(self.cls):
            self.fail("class", problem)
        spec = self.requested_spec
        if spec is None:
            spec = pick_spec(self.cls)
            if spec is None:
                reasons = "; ".join(self.cls.unsupported_reason(s) or "" for s in CANDIDATE_SPECS)
                self.fail(
                    "class",
                    f"supports none of the standard specs ({reasons}); "
                    "pass spec=DataSpec(...) of data it does train on",
                )
        elif reason := self.cls.unsupported_reason(spec):
            self.fail("class", f"does not support {spec}: {reason}")
        self.spec = spec
        self.label += f" on {self.spec.kind} {tuple(self.spec.shape)}"
        self.passed.append("class")

    def check_config(self) -> Any:
        C = self.cls.Config
        problem = cfg.config_problem(C)  # the words the registry refuses it with
        if problem:
            self.fail("config", problem)
        fields = cfg.fields(C)
        for f in fields:
            where = f"Config.{f.name}"
            t = cfg.field_type(C, f)
            ok = isinstance(f.default, t) and not (t is int and isinstance(f.default, bool))
            if t is float and isinstance(f.default, int) and not isinstance(f.default, bool):
                ok = True
            if not ok:
                self.fail(
                    "config", f"{where} is declared {t.__name__} but its default is {f.default!r}"
                )
            try:
                cfg.check(f, f.default)
            except UsageError as exc:
                self.fail("config", f"{where}: its default breaks its own bounds: {exc}")
        try:
            for_data = cfg.data_defaults(self.cls, self.spec)
        except Exception as exc:  # noqa: BLE001
            self.fail("config", f"defaults_for({self.spec}) is wrong: {exc}")
        try:
            defaults = C(**for_data)
        except Exception as exc:  # noqa: BLE001
            self.fail(
                "config",
                f"Config() with the defaults for {self.spec.kind} data raised "
                f"{type(exc).__name__}: {exc}",
            )
        try:
            again = cfg.from_dict(C, cfg.to_dict(defaults))
        except UsageError as exc:
            self.fail("config", f"the defaults do not survive run.json: {exc}")
        if again != defaults:
            self.fail(
                "config",
                f"the defaults do not survive run.json: {defaults!r} came back as {again!r}",
            )
        self.passed.append("config")
        return self.config_with_overrides(defaults)

    def config_with_overrides(self, defaults: Any) -> Any:
        arg = self.config_arg
        if arg is None:
            return defaults
        if isinstance(arg, self.cls.Config):
            return arg
        if isinstance(arg, Mapping):
            names = {f.name for f in cfg.fields(self.cls.Config)}
            unknown = sorted(set(arg) - names)
            if unknown:
                raise TypeError(
                    f"check_model: {self.label} has no hyperparameters "
                    f"{unknown}; valid: {sorted(names)}"
                )
            return dataclasses.replace(defaults, **arg)
        raise TypeError(
            f"check_model: config must be a {self.cls.__name__}.Config, a "
            f"mapping of overrides or None, not {type(arg).__name__}"
        )

    def check_construct(self) -> GenerativeModel:
        try:
            model = self.build(SEED)
        except Exception as exc:  # noqa: BLE001
            self.fail(
                "construct",
                f"{self.cls.__name__}(config, spec, device) raised {type(exc).__name__}: {exc}",
            )
        if not model.checkpointed():
            self.fail(
                "construct",
                "has no torch.nn.Module or optimiser attributes, so "
                "nothing would be checkpointed; keep networks and "
                "optimisers as attributes (or override checkpointed())",
            )
        try:
            self.batches = batches_per_step(self.cls, self.config)
        except Exception as exc:  # noqa: BLE001
            self.fail("construct", f"batches_per_step(config) is wrong: {exc}")
        self.passed.append("construct")
        return model

    def check_losses(self, losses: Any, step: int) -> dict[str, torch.Tensor]:
        where = f"train_step() at step {step}"
        if problem := losses_problem(losses, step):
            self.fail("train_step", problem)
        for name, value in losses.items():
            if value.dim() != 0:
                self.fail(
                    "train_step",
                    f"{where}: loss {name!r} has shape "
                    f"{tuple(value.shape)}; return a 0-dim tensor "
                    "(e.g. loss.mean())",
                )
            if not value.is_floating_point():
                self.fail(
                    "train_step",
                    f"{where}: loss {name!r} has dtype {value.dtype}; "
                    "return a floating-point tensor",
                )
            if value.requires_grad:
                self.fail(
                    "train_step",
                    f"{where}: loss {name!r} still holds its autograd graph; return loss.detach()",
                )
            if value.device.type != self.device.type:
                self.fail(
                    "train_step",
                    f"{where}: loss {name!r} is on {value.device}, the "
                    f"model on {self.device}; keep losses on the device",
                )
            if not math.isfinite(value.item()):
                self.fail(
                    "train_step",
                    f"{where}: loss {name!r} is {value.item()} on "
                    "random data with the default hyperparameters",
                )
        return dict(losses)

    def check_train_step(self, model: GenerativeModel) -> None:
        first = self.check_losses(self.stepped(model, 1, 11), 1)
        second = self.check_losses(self.stepped(model, 2, 12), 2)
        if list(first) != list(second):
            self.fail(
                "train_step",
                f"loss names changed between steps: {list(first)} then "
                f"{list(second)}; return the same names every step",
            )
        self.passed.append("train_step")

    def stepped(
        self, model: GenerativeModel, data_seed: int, rng_seed: int
    ) -> Mapping[str, torch.Tensor]:
        """step(), with a train_step that raises named in one line; a k-batch model
        is told how its batches arrive (a subclass inherits batches_per_step, and
        with it (k, B, ...) batches its own train_step may not expect)."""
        try:
            return self.step(model, data_seed, rng_seed)
        except Exception as exc:  # noqa: BLE001 - the plugin's own error, named
            detail = f"train_step() raised {type(exc).__name__}: {exc}"
            if self.batches > 1:
                owner = next(
                    c.__name__ for c in type(model).__mro__ if "batches_per_step" in vars(c)
                )
                detail += (
                    f"; batches_per_step(config) is {self.batches} (defined by "
                    f"{owner}), so train_step gets {self.batches} real batches "
                    f"stacked as ({self.batches}, B, ...): take them apart, or return "
                    "1 from batches_per_step"
                )
            self.fail("train_step", " ".join(detail.split())[:600])

    def check_sample(self, model: GenerativeModel) -> None:
        modes = {
            n: m.training for n, m in model.modules().items() if isinstance(m, torch.nn.Module)
        }
        cpu_rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        try:
            out = self.draw(model)
        except Exception as exc:  # noqa: BLE001
            self.fail(
                "sample",
                f"sample({N_SAMPLES}, labels={self.labels()!r}, generator=g) "
                f"raised {type(exc).__name__}: {exc}",
            )
        touched = not torch.equal(cpu_rng, torch.get_rng_state())
        if cuda_rng is not None:
            touched |= not torch.equal(cuda_rng, torch.cuda.get_rng_state(self.device))

        want = (N_SAMPLES, *self.spec.shape)
        if not isinstance(out, torch.Tensor):
            self.fail("sample", f"sample() returned {type(out).__name__}, not a tensor")
        if tuple(out.shape) != want:
            self.fail(
                "sample", f"sample({N_SAMPLES}) has shape {tuple(out.shape)}, expected {want}"
            )
        if not out.is_floating_point():
            self.fail("sample", f"sample() has dtype {out.dtype}; return floating point")
        if out.device.type != self.device.type:
            self.fail("sample", f"sample() is on {out.device}, the model on {self.device}")
        if not torch.isfinite(out).all():
            self.fail("sample", "sample() has non-finite values after two training steps")
        if self.spec.kind == "image":
            lo, hi = out.min().item(), out.max().item()
            if lo < -1 or hi > 1:
                self.fail(
                    "sample",
                    f"images must lie in [-1, 1]; got [{lo:.3g}, {hi:.3g}] "
                    "(end the generator with tanh, or rescale)",
                )
        for n, m in model.modules().items():
            if isinstance(m, torch.nn.Module) and m.training != modes[n]:
                self.fail(
                    "sample",
                    f"sample() left {n} in {'train' if m.training else 'eval'} "
                    "mode; restore it (genbench.nn.evaluating does)",
                )
        again = self.draw(model)
        if not self.same(out, again):
            self.fail(
                "sample",
                f"two calls with the same generator seed differ "
                f"({self.diff(out, again)}); draw all sampling randomness "
                "from `generator` so previews use fixed noise",
            )
        self.passed.append("sample")
        if touched:
            self.fail(
                "global rng",
                "sample(generator=g) changed torch's global random state; "
                "pass generator=generator to every torch.randn/randint/... "
                "(and sample in eval mode so dropout draws nothing)",
            )
        self.passed.append("global rng")

    def check_latent(self, model: GenerativeModel) -> None:
        """A model that offers its latent (walks, truncation, export) samples from it
        exactly as sample() does: the same noise gives the same images."""
        with torch.no_grad():
            try:
                z = model.latent(N_SAMPLES, generator=self.generator(7))
            except Exception as exc:  # noqa: BLE001
                self.fail("latent", f"latent({N_SAMPLES}, g) raised {type(exc).__name__}: {exc}")
            if z is None:
                return  # no latent offered: nothing to check
            if not isinstance(z, torch.Tensor) or z.ndim < 1 or len(z) != N_SAMPLES:
                self.fail(
                    "latent",
                    f"latent({N_SAMPLES}) returned {type(z).__name__} "
                    f"{tuple(getattr(z, 'shape', ()))}; return a tensor of {N_SAMPLES} rows",
                )
            try:
                out = model.sample_from(z, self.labels())
            except Exception as exc:  # noqa: BLE001
                self.fail(
                    "latent",
                    f"latent() returns noise but sample_from(z, labels) raised "
                    f"{type(exc).__name__}: {exc}",
                )
        want = self.draw(model)
        if not isinstance(out, torch.Tensor) or not self.same(out, want):
            got = self.diff(out, want) if isinstance(out, torch.Tensor) else type(out).__name__
            self.fail(
                "latent",
                f"sample_from(latent(n, g), labels) differs from sample(n, labels, g) "
                f"({got}); sample() should draw latent() and call sample_from()",
            )
        self.passed.append("latent")

    def check_labels(self, model: GenerativeModel) -> None:
        a, b = self.draw(model, shift=0), self.draw(model, shift=1)
        same_rows = [i for i in range(N_SAMPLES) if torch.equal(a[i], b[i])]
        if same_rows:
            self.fail(
                "labels",
                f"with the same noise, samples {same_rows} are identical for "
                "different labels; a conditional model must use `labels`",
            )
        self.passed.append("labels")

    def check_serialisable(self, model: GenerativeModel) -> dict[str, Any]:
        try:
            state = model.state_dict()
            buffer = io.BytesIO()
            torch.save(state, buffer)
            buffer.seek(0)
            return torch.load(buffer, weights_only=True, map_location=self.device)
        except Exception as exc:  # noqa: BLE001
            self.fail(
                "round trip",
                f"state_dict() does not load with torch.load("
                f"weights_only=True) ({_load_error(exc)}); keep it to "
                "tensors and plain Python data (dict, list, tuple, "
                "str, int, float, bool, None)",
            )

    def plan(self, model: GenerativeModel, done: int) -> None:
        """Tell the model where its run stands, as the trainer does before training."""
        try:
            model.plan_steps(done, PLANNED_STEPS)
        except Exception as exc:  # noqa: BLE001
            self.fail(
                "round trip",
                f"plan_steps({done}, {PLANNED_STEPS}) raised {type(exc).__name__}: {exc}",
            )

    def load(self, state: dict[str, Any], seed: int) -> GenerativeModel:
        """A fresh instance from ``state``, resumed where the checked model stands
        (two steps into a run of PLANNED_STEPS)."""
        model = self.build(seed)
        try:
            model.load_state_dict(copy.deepcopy(state))
        except Exception as exc:  # noqa: BLE001
            self.fail(
                "round trip",
                f"load_state_dict(state_dict()) into a fresh instance "
                f"raised {type(exc).__name__}: {exc}",
            )
        self.plan(model, 2)
        return model

    def compare_steps(self, check: str, a: GenerativeModel, b: GenerativeModel, hint: str) -> None:
        """Two steps of ``a`` and ``b`` under one data and RNG seed must agree."""
        for k in (1, 2):
            la = self.step(a, 100 + k, 200 + k)
            lb = self.step(b, 100 + k, 200 + k)
            if list(la) != list(lb):
                self.fail(check, f"step {k}: loss names {list(la)} vs {list(lb)}; {hint}")
            for name in la:
                if not self.same(la[name], lb[name]):
                    self.fail(
                        check,
                        f"step {k}: loss {name!r} is {la[name].item():.6g} vs "
                        f"{lb[name].item():.6g}; {hint}",
                    )
            sa, sb = self.draw(a), self.draw(b)
            if not self.same(sa, sb):
                self.fail(check, f"after step {k}, samples differ ({self.diff(sa, sb)}); {hint}")

    def check_determinism(self, state: dict[str, Any]) -> None:
        # Both built from the same seed too, so anything left out of the state is
        # equal in both: a difference here can only come from the step itself.
        a, b = self.load(state, SEED + 1), self.load(state, SEED + 1)
        self.compare_steps(
            "determinism",
            a,
            b,
            "from identical state and seed, train_step must give identical "
            "results: draw randomness only from torch's global generator "
            "(not Python's random or NumPy, which checkpoints do not save) "
            "and avoid non-deterministic ops",
        )
        self.passed.append("determinism")

    def check_round_trip(self, model: GenerativeModel, state: dict[str, Any]) -> None:
        # Built from another seed, so any tensor missing from the state shows.
        fresh = self.load(state, SEED + 2)
        sa, sb = self.draw(model), self.draw(fresh)
        if not self.same(sa, sb):
            self.fail(
                "round trip",
                f"after load_state_dict, samples differ from the "
                f"original's ({self.diff(sa, sb)}); every network must "
                "be an attribute (or listed by modules())",
            )
        self.compare_steps(
            "round trip",
            model,
            fresh,
            "the loaded copy trains differently; save optimiser state and "
            "counters too (extra_state/load_extra_state)",
        )
        self.passed.append("round trip")


def _load_error(exc: Exception) -> str:
    """The informative line of a weights_only load failure: torch puts it after
    several lines of general advice."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
    for line in lines:
        if "Unsupported global" in line or "WeightsUnpickler error" in line:
            return line.split(". Please")[0]  # the rest is advice to trust the file
    first = next((line for line in lines if line), "")
    return f"{type(exc).__name__}: {first}"


# -- datasets --------------------------------------------------------------------------


def check_dataset(
    dataset: Any, device: str | torch.device = "cpu", batch_size: int = BATCH
) -> list[str]:
    """Check a plugin's dataset against what the trainer asks of it; raise
    ContractError on the first broken check, return the names of the checks run.

    ``dataset`` is a ``genbench.Dataset`` or what ``genbench_datasets`` may return
    for one (a callable building it). The data must be here (``availability()``).

    ``contract``  a name, a spec, and for points a well-formed ``means``/``std``
    ``batches``   ``sampler(B, device, seed).next()`` gives ``x`` of shape
                  (B, *spec.shape), floating, finite, on the device, images in
                  [-1, 1]; labels ``y`` only when the spec has classes, int64 of
                  shape (B,) on the device, each in 0..K-1 (what models rely on)
    ``seed``      two samplers of one seed draw the same batches
    ``resume``    ``state_dict()`` survives torch.save/torch.load(weights_only=True),
                  and a fresh sampler loaded from it draws the batch that came next
    """
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        return _DatasetChecker(dataset, device, batch_size).run()


class _DatasetChecker:
    def __init__(self, dataset: Any, device: torch.device, batch_size: int):
        self.arg, self.device, self.batch_size = dataset, device, batch_size
        self.label = f"dataset {getattr(dataset, 'name', dataset)!r}"
        self.passed: list[str] = []

    def fail(self, check: str, detail: str) -> NoReturn:
        raise ContractError(self.label, check, detail, by="check_dataset")

    def run(self) -> list[str]:
        ds = self.check_contract()
        first = self.check_batches(ds)
        self.check_seed(ds, first)
        self.check_resume(ds)
        return self.passed

    def check_contract(self) -> Dataset:
        ds = self.arg
        if not isinstance(ds, Dataset) and callable(ds):
            try:
                ds = ds()
            except Exception as exc:  # noqa: BLE001 - the factory's own bug
                self.fail("contract", f"building it raised {type(exc).__name__}: {exc}")
        problem = dataset_problem(ds)
        if problem:
            self.fail("contract", problem)
        self.label = f"{type(ds).__name__} ({ds.name!r})"
        size = ds.size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            self.fail(
                "contract",
                f"size is {size!r}; give the examples per epoch, or None "
                "for data generated on the fly",
            )
        found = ds.availability()
        if not found.ok:
            self.fail(
                "contract", f"the data is not here ({where_looked(found.where)}); {found.how}"
            )
        try:
            ds.prepare()
        except Exception as exc:  # noqa: BLE001
            self.fail("contract", f"prepare() raised {type(exc).__name__}: {exc}")
        self.passed.append("contract")
        return ds

    def sampler(self, ds: Dataset, seed: int) -> Any:
        try:
            return ds.sampler(self.batch_size, self.device, seed)
        except Exception as exc:  # noqa: BLE001
            self.fail(
                "batches",
                f"sampler({self.batch_size}, {self.device}, {seed}) raised "
                f"{type(exc).__name__}: {exc}",
            )

    def draw(self, sampler: Any, check: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        try:
            out = sampler.next()
        except Exception as exc:  # noqa: BLE001
            self.fail(check, f"next() raised {type(exc).__name__}: {exc}")
        if not (isinstance(out, tuple) and len(out) == 2):
            self.fail(
                check,
                f"next() returned {type(out).__name__}; return (x, y), with y "
                "None for unlabelled data",
            )
        return out

    def check_batches(self, ds: Dataset) -> tuple[torch.Tensor, torch.Tensor | None]:
        spec, b = ds.spec, self.batch_size
        x, y = batch = self.draw(self.sampler(ds, SEED), "batches")
        want = (b, *spec.shape)
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != want:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            self.fail("batches", f"x is {got}, not a tensor of shape {want} (batch, *spec.shape)")
        if not x.is_floating_point():
            self.fail(
                "batches", f"x has dtype {x.dtype}; give floating point (images scaled to [-1, 1])"
            )
        if x.device.type != self.device.type:
            self.fail(
                "batches",
                f"x is on {x.device}, not {self.device}; draw batches on the "
                "device the sampler was given",
            )
        if not torch.isfinite(x).all():
            self.fail("batches", "x holds non-finite values")
        if spec.kind == "image" and (x.min() < -1 or x.max() > 1):
            self.fail(
                "batches",
                f"images span [{x.min().item():.3g}, {x.max().item():.3g}]; scale them to [-1, 1]",
            )
        k = spec.num_classes
        if not k:
            if y is not None:
                self.fail(
                    "batches",
                    "the spec has no classes but next() gives labels; give "
                    "y = None, or set num_classes",
                )
        else:
            if not isinstance(y, torch.Tensor):
                self.fail(
                    "batches",
                    f"the spec has {k} classes but y is {type(y).__name__}; "
                    "give the labels as a tensor",
                )
            if y.dtype != torch.int64 or tuple(y.shape) != (b,):
                self.fail(
                    "batches",
                    f"labels have dtype {y.dtype} and shape {tuple(y.shape)}; "
                    f"models get int64 of shape ({b},) (torch.long)",
                )
            if y.device.type != self.device.type:
                self.fail("batches", f"labels are on {y.device}, not {self.device}")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
                self.fail(
                    "batches",
                    f"labels span {int(y.min())}..{int(y.max())}; the spec "
                    f"has {k} classes, so use 0..{k - 1}",
                )
        self.passed.append("batches")
        return batch

    def check_seed(self, ds: Dataset, first: tuple[torch.Tensor, torch.Tensor | None]) -> None:
        again = self.draw(self.sampler(ds, SEED), "seed")
        if not _same_batch(first, again):
            self.fail(
                "seed",
                "two samplers of one seed drew different first batches; draw "
                "from a torch.Generator seeded with `seed`",
            )
        self.passed.append("seed")

    def check_resume(self, ds: Dataset) -> None:
        a = self.sampler(ds, SEED)
        self.draw(a, "resume")
        try:
            buf = io.BytesIO()
            torch.save(a.state_dict(), buf)
            buf.seek(0)
            state = torch.load(buf, weights_only=True)
        except Exception as exc:  # noqa: BLE001
            self.fail(
                "resume",
                f"state_dict() does not survive torch.load(weights_only=True): "
                f"{_load_error(exc)}; keep tensors and plain data only",
            )
        b = self.sampler(ds, SEED + 1)
        try:
            b.load_state_dict(state)
        except Exception as exc:  # noqa: BLE001
            self.fail("resume", f"load_state_dict raised {type(exc).__name__}: {exc}")
        if not _same_batch(self.draw(a, "resume"), self.draw(b, "resume")):
            self.fail(
                "resume",
                "a sampler loaded from state_dict() drew another batch than "
                "the one it was saved before; save the generator's state "
                "(and any position in an epoch)",
            )
        self.passed.append("resume")


def _same_batch(
    a: tuple[torch.Tensor, torch.Tensor | None], b: tuple[torch.Tensor, torch.Tensor | None]
) -> bool:
    (xa, ya), (xb, yb) = a, b
    if ya is None or yb is None:
        return ya is yb and torch.equal(xa, xb)
    return torch.equal(xa, xb) and torch.equal(ya, yb)
