"""The plugin contract: what a model must be for the workbench to train it.

A plugin module implements the ``genbench_models`` hook and returns subclasses of
:class:`GenerativeModel`. The model owns its update rule (how many critic steps,
clipping, penalties, KL terms); the trainer owns everything else (data, device,
logging, samples, checkpoints, signals, resume) and never asks which family a
model belongs to.

This module must stay importable without torch: the CLI's help and the TUI's
first paint read model metadata through it.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover - for annotations only
    import torch

__all__ = ["DataSpec", "GenerativeModel", "KINDS", "param"]

# The kinds of data a model can declare in ``kinds``.
KINDS = frozenset({"image", "points"})


@dataclass(frozen=True)
class DataSpec:
    """What a model is trained on.

    kind: ``"image"`` (tensors of shape (C, H, W) scaled to [-1, 1]) or
          ``"points"`` (tensors of shape (D,), unbounded).
    shape: the shape of one example.
    num_classes: number of labels, or None for unlabelled data.
    """

    kind: str
    shape: tuple[int, ...]
    num_classes: int | None = None

    @property
    def dim(self) -> int:
        """Number of scalars in one example (784 for 1x28x28)."""
        n = 1
        for s in self.shape:
            n *= s
        return n


def param(
    default: Any,
    help: str,
    *,
    choices: tuple[Any, ...] | None = None,
    min: float | None = None,
    max: float | None = None,
    old_runs: Any = dataclasses.MISSING,
) -> Any:
    """A hyperparameter field: its default, one line of help, and optional bounds.

    The Config dataclass built from these is the single schema for ``--set``,
    the TUI form, run.json and validation.

    ``old_runs``: for a setting added in a later version of the plugin, the value
    that reproduces how runs saved before it existed were built (their run.json
    lacks the key). A run folder is rebuilt with it, so old runs still resume and
    evaluate after the default changes. Without it, a missing key takes ``default``.
    """
    meta: dict[str, Any] = {"help": help}
    if old_runs is not dataclasses.MISSING:
        meta["old_runs"] = old_runs
    if choices is not None:
        meta["choices"] = tuple(choices)
    if min is not None:
        meta["min"] = min
    if max is not None:
        meta["max"] = max
    return dataclasses.field(default=default, metadata=meta)


class GenerativeModel(abc.ABC):
    """Base class of every model plugin.

    Subclasses set the class attributes below, ``Config`` among them: a dataclass
    of hyperparameters (use :func:`param` for each field), best given a name of its
    own (``Config = MyConfig``) so ``__init__`` can annotate ``config: MyConfig``; a
    type checker reads ``Config`` in the class body as this variable, not a type.
    They implement ``__init__``, ``train_step`` and ``sample``. ``state_dict`` and
    ``load_state_dict`` have a default that saves every ``torch.nn.Module`` and
    ``torch.optim.Optimizer`` attribute, which is enough for most models.

    The contract checks itself: a class that sets ``name`` (a model, not an
    intermediate base class) and misses ``train_step`` or ``sample``, or whose
    ``name``, ``kinds``, ``conditional`` or ``Config`` is malformed, fails when the
    class is created, with a TypeError saying what to fix. The behaviour checks
    (shapes, determinism, round trips) are :func:`genbench.testing.check_model`'s.
    """

    name: ClassVar[str]  # id used on the command line, e.g. "dcgan"
    title: ClassVar[str] = ""  # human name, e.g. "Deep convolutional GAN"
    summary: ClassVar[str] = ""  # one sentence on what it is
    paper: ClassVar[str] = ""  # citation: authors, year, title
    kinds: ClassVar[frozenset[str]] = frozenset({"image", "points"})
    conditional: ClassVar[bool] = False  # needs labels; sample() takes labels
    # latent() draws a standard normal: `genbench sample --truncation t` may then redraw
    # the entries beyond +-t (the truncation trick of Brock et al., 2019, BigGAN).
    normal_latent: ClassVar[bool] = False
    # Under torchrun: convert this model's batch norm layers to SyncBatchNorm (CUDA
    # only), so statistics are taken over the global batch, not each rank's share.
    sync_batchnorm: ClassVar[bool] = False
    Config: ClassVar[type]  # a dataclass of hyperparameters

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "name"):  # a model; a base class without a name is not checked
            problem = class_problem(cls)
            if problem:
                raise TypeError(f"model class {cls.__qualname__}: {problem}")

    def __init__(self, config: Any, spec: DataSpec, device: torch.device) -> None:
        self.config = config
        self.spec = spec
        self.device = device

    # -- what the workbench asks before building a model ---------------------

    @classmethod
    def unsupported_reason(cls, spec: DataSpec) -> str | None:
        """Why this model cannot train on data of this spec, or None if it can.

        The default checks the data kind and that conditional models get labels;
        override to add architecture limits (for example image sizes).
        """
        if spec.kind not in cls.kinds:
            return (
                f"model {cls.name!r} trains on {', '.join(sorted(cls.kinds))} data, not {spec.kind}"
            )
        if cls.conditional and not spec.num_classes:
            return f"model {cls.name!r} is conditional and needs labelled data"
        return None

    @classmethod
    def defaults_for(cls, spec: DataSpec) -> Mapping[str, Any]:
        """Hyperparameters whose default differs on data of this spec, by field name.

        A paper's settings are usually tuned for one kind of data (its image
        experiments); where the same model wants other values elsewhere (the 2D
        toys, say), return them here and say why in a comment. They replace the
        Config's defaults for that data only: ``--set`` and the form still win,
        the form shows them, and run.json records the values used. Keep this
        cheap and free of torch: the form calls it while the user picks data.
        """
        return {}

    @classmethod
    def batches_per_step(cls, config: Any) -> int:
        """How many real batches one ``train_step`` consumes under ``config``: 1 by
        default; a Wasserstein GAN returns n_critic, one fresh batch per critic update.

        With k > 1 the trainer draws the k batches on the device as one tensor and
        ``train_step`` gets ``x`` of shape (k, B, *spec.shape) (``x[t]`` is batch t)
        and labels ``y`` of shape (k, B); with k == 1 it gets (B, *spec.shape) and
        (B,) as always. It is a function of the config alone, so it is fixed for the
        run and known before the model is built (--epochs counts k * B examples a
        step, images/s every one). Keep it cheap and free of torch.
        """
        return 1

    # -- the update rule ------------------------------------------------------

    def plan_steps(self, done: int, total: int) -> None:  # noqa: B027 - optional hook
        """Optional: where the run stands, before training starts or resumes: ``done``
        steps taken so far, ``total`` the step it trains up to (``--steps``; a resume
        may raise it). The trainer calls it before the first ``train_step`` of every
        session, so a schedule can end with the run (a learning rate that falls to 0 at
        the last step: :class:`genbench.nn.LrSchedule`). Derive the schedule from these
        two numbers, not from a count of your own, and a run resumed to the same
        ``total`` continues exactly. Without a call (``genbench bench``, a direct
        caller) train as if no length were planned. Default: ignored.
        """

    @abc.abstractmethod
    def train_step(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> Mapping[str, torch.Tensor]:
        """One update on a batch (k batches stacked as (k, B, ...) when
        :meth:`batches_per_step` is k > 1). Returns scalar loss tensors by name.

        Return tensors, not floats: calling ``.item()`` here would synchronise
        the host with the device on every step. The trainer reads them once per
        log interval.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def sample(
        self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw ``n`` samples of the data's shape (images in [-1, 1]).

        Draw all randomness from ``generator`` when it is given, so the
        workbench can render the same noise at every preview.
        """
        raise NotImplementedError

    # -- the latent, for walks, truncation and export (optional) -------------

    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """Optional: the noise :meth:`sample` draws for ``n`` samples, a tensor whose
        first dimension is ``n``, on the model's device, drawn from ``generator``.

        Return None (the default) for a model with no latent input to offer; genbench
        then offers no latent walks, no truncation and no export of the generator.
        A model that returns noise here implements :meth:`sample_from` too.
        """
        return None

    def sample_from(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """With :meth:`latent`: the samples of noise ``z`` (and ``labels``, one per
        row, for a conditional model), images in [-1, 1], drawn as :meth:`sample`
        draws them (evaluation mode, no state changed).

        It must be a pure function of ``z`` and ``labels``: ``sample(n, labels, g)``
        equals ``sample_from(latent(n, g'), labels)`` when ``g`` and ``g'`` start
        alike (``check_model`` checks it), a walk between two noise vectors starts and
        ends at their samples, and ``genbench export`` traces it with ``torch.export``.
        """
        raise NotImplementedError(f"{type(self).__name__} has no sample_from()")

    def discriminator_scores(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """Optional: the discriminator's verdict on a batch, one score per example,
        above 0 for "real" (logits of a sigmoid discriminator; LSGAN's output minus
        the midpoint of its codes). genbench calls it at each evaluation with
        held-out real data and fresh samples and logs the discriminator's accuracy
        (``d_accuracy``: 0.5, it cannot tell them apart; 1.0, it always can). It is
        called under ``torch.no_grad()`` with the model's RNG and buffers (batch
        norm statistics) restored afterwards, so it may run the networks as in
        training. Default: None, no discriminator with a decision threshold (a VAE,
        a Wasserstein critic).
        """
        return None

    # -- checkpointing --------------------------------------------------------

    def checkpointed(self) -> dict[str, Any]:
        """The objects a checkpoint saves and restores, by name: by default every
        ``torch.nn.Module`` and ``torch.optim.Optimizer`` attribute. Override to
        add or leave out some; plain counters go in :meth:`extra_state`."""
        if type(self).modules is not GenerativeModel.modules:
            return self.modules()  # a plugin written when this was called modules()
        return self._networks_and_optimisers()

    def modules(self) -> dict[str, Any]:
        """The old name of :meth:`checkpointed` (it read like torch.nn.Module.modules);
        kept so plugins that call or override it keep working."""
        return (
            self._networks_and_optimisers()
            if type(self).checkpointed is GenerativeModel.checkpointed
            else self.checkpointed()
        )

    def _networks_and_optimisers(self) -> dict[str, Any]:
        import torch

        return {
            k: v
            for k, v in vars(self).items()
            if isinstance(v, (torch.nn.Module, torch.optim.Optimizer))
        }

    def extra_state(self) -> dict[str, Any]:
        """Counters and other plain state beyond networks and optimisers."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore what :meth:`extra_state` returned."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly: tensors and plain data only,
        so it loads with ``torch.load(weights_only=True)``."""
        state = {name: obj.state_dict() for name, obj in self.checkpointed().items()}
        state["_extra"] = self.extra_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, obj in self.checkpointed().items():
            if name not in state:
                raise KeyError(f"checkpoint has no state for {name!r}")
            obj.load_state_dict(state[name])
        self.load_extra_state(state.get("_extra", {}))


def batches_per_step(model_cls: Any, config: Any) -> int:
    """``model_cls.batches_per_step(config)``, checked: a whole number of at least 1.
    Raises TypeError naming the model otherwise."""
    k = model_cls.batches_per_step(config)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise TypeError(
            f"model {getattr(model_cls, 'name', model_cls)!r}: batches_per_step() "
            f"returned {k!r}; return a whole number of batches, at least 1"
        )
    return k


# How far past [-1, 1] a sample may reach before it is news (a tanh in bf16 rounds
# to 1.0039 at most).
RANGE_SLACK = 0.01


def sample_range_warning(lo: float, hi: float) -> str | None:
    """What is wrong with images whose values span ``[lo, hi]``, or None: genbench
    takes images in [-1, 1]; a generator ending in sigmoid gives [0, 1] (its grids
    show grey for black and its quality is measured against darkened data), one
    with no squashing at all goes past both ends (clipped in grids and metrics).
    The trainer asks it at a new run's first grid, ``genbench eval`` of the
    samples it measures; ``check_model`` refuses images outside [-1, 1]."""
    if not (lo == lo and hi == hi):  # NaN: the non-finite checks say so
        return None
    span = f"[{lo:.3g}, {hi:.3g}]"
    if lo < -1 - RANGE_SLACK or hi > 1 + RANGE_SLACK:
        return (
            f"samples span {span}, outside [-1, 1]: grids and metrics clip them "
            "(end the generator with tanh)"
        )
    if lo >= 0 and hi > lo:
        return (
            f"samples span {span}, within [0, 1], but genbench takes images in [-1, 1] "
            "(a sigmoid output? end the generator with tanh, or return 2 * x - 1)"
        )
    return None


def losses_problem(losses: Any, step: int) -> str | None:
    """What is wrong with the kind of thing ``train_step`` returned at ``step``, or
    None: a non-empty mapping of tensors by non-empty string names. Cheap (no
    device sync), so the trainer asks it every step and names the mistake in
    check_model's words instead of failing later inside its own bookkeeping."""
    import torch  # only ever called on a model's output, when torch is loaded

    where = f"train_step() at step {step}"
    if not isinstance(losses, Mapping) or not losses:
        return (
            f"{where} returned {type(losses).__name__} {losses!r:.60}; "
            "return a dict of loss tensors by name"
        )
    for name, value in losses.items():
        if not isinstance(name, str) or not name:
            return f"{where} returned a loss named {name!r}; use non-empty strings"
        if not isinstance(value, torch.Tensor):
            return (
                f"{where}: loss {name!r} is a {type(value).__name__}, not a tensor; "
                "return loss.detach(), not loss.item() (.item() waits for the device "
                "on every step)"
            )
    return None


def class_problem(cls: Any) -> str | None:
    """What is wrong with a model class as a class (cheap; no instance is built),
    or None. Applied when a model class is created and when a plugin registers it."""
    if not (isinstance(cls, type) and issubclass(cls, GenerativeModel)):
        return f"{cls!r} is not a GenerativeModel subclass"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or any(ch.isspace() for ch in name):
        return f"`name` is {name!r}; give it a non-empty word, the id used on the command line"
    missing = sorted(
        m
        for m in ("train_step", "sample")
        if getattr(getattr(cls, m, None), "__isabstractmethod__", False)
    )
    if missing:
        return (
            f"{' and '.join(missing)} not implemented; a model defines train_step(x, y) "
            "and sample(n, labels, generator)"
        )
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        return "Config is not a dataclass; declare its hyperparameters with param(...)"
    kinds = getattr(cls, "kinds", None)
    if not isinstance(kinds, (set, frozenset)) or not kinds or not set(kinds) <= KINDS:
        return f"kinds is {kinds!r}; make it a non-empty frozenset of {sorted(KINDS)}"
    if not isinstance(getattr(cls, "conditional", None), bool):
        return f"conditional is {cls.conditional!r}, not True or False"
    if not isinstance(getattr(cls, "normal_latent", None), bool):
        return f"normal_latent is {cls.normal_latent!r}, not True or False"
    return None
