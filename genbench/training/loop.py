"""The training loop.

    repeat until `steps` updates are done or a stop is requested:
        x, y   <- next batch, drawn on the device (k batches as one (k, B, ...)
                  tensor for a model whose batches_per_step is k > 1)
        x      <- augment(x)  with --augment: a random flip/shift/zoom/rotation of
                  each real image, drawn from the checkpointed global generator
        losses <- model.train_step(x, y)            # the model's own update rule
        accumulate losses on the device             # no host sync here
        every log interval:        read the sums once; log; stop if any was non-finite
        every sample interval:     render fixed noise to samples/step-N.png
        every checkpoint interval: save everything needed to resume exactly
        every eval interval:       measure a few hundred samples (FD, class or mode
                                   coverage) into metrics.jsonl as a "kind": "eval" record

The loop never asks which family a model belongs to.
"""

from __future__ import annotations

import shutil
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from genbench.api import GenerativeModel, batches_per_step, losses_problem, sample_range_warning
from genbench.augment import augment
from genbench.data.sampler import next_batches
from genbench.dataset import BatchSampler
from genbench.errors import UsageError, one_line
from genbench.host.threads import ThreadShare
from genbench.runfolder.ownership import LostOwnership, RunFolderGone
from genbench.runfolder.record import STEP_MAX
from genbench.runfolder.writer import (
    NullWriter,
    RunWriter,
    checkpoint_message,
    evaluation_message,
)
from genbench.training.checkpoint import (
    all_finite,
    check_optimiser_settings,
    check_optimiser_state,
    check_tensor_types,
    checkpoint_bytes,
)
from genbench.training.device import rng_state
from genbench.training.distributed import SingleProcess
from genbench.training.loggers import LoggerHub
from genbench.training.precision import autocast
from genbench.training.samples import SampleGrids, WrongSampleShape
from genbench.training.signals import StopRequest
from genbench.training.usage import ProcessUsage, learning_rates

Report = Callable[[dict[str, Any]], None]

# How a diverged run goes on: from its last finite checkpoint, with other settings.
RESUME_HINT = " (resume with other settings: --resume RUN --set lr=...)"
# After a dataset's failure mid-run: the checkpoints are the model's, still good.
DATA_RESUME = "; once the data is fixed, resume from the last checkpoint (--resume RUN)"


@dataclass(frozen=True)
class Plan:
    steps: int  # the step to train up to (total, across resumes)
    batch_size: int
    log_every: int
    sample_every: int
    checkpoint_every: int
    precision: str  # fp32, or bf16: autocast around each step
    eval_every: int  # live sample quality; the last step is always measured
    # genbench.augment.augment's ops, applied to every real batch on the device (--augment)
    augment: tuple[str, ...] = ()
    # the checkpoints of steps that are multiples of it are also kept (--keep-every)
    keep_every: int | None = None
    # why it trains in this precision (training.precision.choose_precision), for
    # run.json and the run's first line; empty until the device is known
    precision_why: str = ""


@dataclass(frozen=True)
class Outcome:
    status: str  # completed | stopped | failed | diverged
    step: int
    message: str = ""

    @property
    def exit_code(self) -> int:
        return {"completed": 0, "stopped": 130}.get(self.status, 1)


class LossMeter:
    """Sums each loss on the device and remembers the first non-finite one.

    Nothing here reads a value back to the host until :meth:`read`, so a step
    costs no synchronisation. Under torch.distributed the reads are collective:
    means over all ranks, and the earliest non-finite loss of any rank.
    """

    NONE = torch.iinfo(torch.long).max  # "no bad step" that MIN-reduces away

    def __init__(self, device: torch.device, dist: SingleProcess = SingleProcess()):
        self.device, self.dist = device, dist
        self.names: list[str] = []
        self.sums: dict[str, torch.Tensor] = {}
        # Steps since the last read, per loss: a loss a step does not return (one a
        # setting turned off on resume, one a model logs only some steps) is averaged
        # over the steps that returned it, and not reported while absent.
        self.counts: dict[str, int] = {}
        self.count = 0
        self.step = torch.zeros((), dtype=torch.long, device=device)  # device-side step
        self.bad_step = torch.full((), -1, dtype=torch.long, device=device)
        self.bad_name = torch.full((), -1, dtype=torch.long, device=device)

    def add(self, losses: Mapping[str, torch.Tensor]) -> None:
        self.step += 1
        for name, value in losses.items():
            value = value.detach().float()
            if name not in self.sums:
                self.names.append(name)
                self.sums[name] = torch.zeros((), device=self.device)
            self.sums[name] += value
            self.counts[name] = self.counts.get(name, 0) + 1
            first = ~torch.isfinite(value) & (self.bad_step < 0)
            self.bad_step = torch.where(first, self.step, self.bad_step)
            self.bad_name = torch.where(first, self.names.index(name), self.bad_name)
        self.count += 1

    def divergence(self) -> tuple[int, str] | None:
        """(step, loss name) of the first non-finite loss seen, or None. Syncs."""
        mark = torch.stack(
            [torch.where(self.bad_step >= 0, self.bad_step, self.NONE), self.bad_name]
        )
        step, name = self.dist.min_(mark).tolist()
        return None if step == self.NONE else (step, self.names[name])

    def read(self) -> dict[str, float]:
        """Mean of each loss since the last read, then reset. Syncs once."""
        if not self.count:
            return {}
        names = [n for n in self.names if self.counts.get(n)]
        values = (
            self.dist.mean_(torch.stack([self.sums[n] / self.counts[n] for n in names])).tolist()
            if names
            else []
        )
        for s in self.sums.values():
            s.zero_()
        self.counts.clear()
        self.count = 0
        return dict(zip(names, values, strict=True))

    def state_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "sums": {k: v.clone() for k, v in self.sums.items()},
            "counts": dict(self.counts),
            "count": self.count,
            "step": self.step.clone(),
        }

    # What a checkpoint's meter may name: far more losses, and longer names, than any
    # model reports (a metrics line of them stays well under its 1 MiB bound).
    NAMES_MAX = 1024
    NAME_LEN_MAX = 256

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint's meter, checked first: the trainer only ever saves one
        loss sum per name, a whole count and step, so anything else is a damaged file,
        refused in one line (UsageError) before it can fail a step mid-run."""
        problem = meter_problem(state, self.NAMES_MAX, self.NAME_LEN_MAX)
        if problem:
            raise UsageError(f"its loss meter {problem}")
        self.names = list(state["names"])
        self.sums = {k: v.to(self.device) for k, v in state["sums"].items()}
        self.count = state["count"]
        # Checkpoints from before per-loss counts: every loss was returned every step.
        self.counts = dict(state.get("counts", dict.fromkeys(self.names, self.count)))
        self.step = state["step"].to(self.device)


def meter_problem(state: Any, names_max: int, name_len_max: int) -> str | None:
    """What is wrong with a checkpoint's LossMeter state, or None."""
    if not isinstance(state, dict) or not {"names", "sums", "count", "step"} <= set(state):
        return "state lacks names, sums, count or step"
    names, sums, count, step = state["names"], state["sums"], state["count"], state["step"]
    if (
        not isinstance(names, list)
        or len(names) > names_max
        or any(not isinstance(n, str) or not 0 < len(n) <= name_len_max for n in names)
    ):
        return (
            f"names are not a list of at most {names_max} loss names of 1 to "
            f"{name_len_max} characters"
        )
    if len(set(names)) != len(names) or not isinstance(sums, dict) or set(sums) != set(names):
        return "names and sums do not name the same losses once each"
    if any(
        not isinstance(v, torch.Tensor)
        or v.dim() != 0
        or not v.is_floating_point()
        or not bool(torch.isfinite(v))
        for v in sums.values()
    ):
        return "sums are not finite numbers (one scalar tensor per loss)"
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= STEP_MAX:
        return f"count {count!r:.40} is not a whole number of steps"
    if (
        not isinstance(step, torch.Tensor)
        or step.dim() != 0
        or step.dtype != torch.long
        or not 0 <= int(step) <= STEP_MAX
    ):
        return "step is not a whole-number (int64) scalar from 0"
    counts = state.get("counts", dict.fromkeys(names, count))
    if (
        not isinstance(counts, dict)
        or not set(counts) <= set(names)
        or any(
            isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= count
            for v in counts.values()
        )
    ):
        return "counts are not whole numbers of steps, one per logged loss"
    return None


class _BrokenContract(Exception):
    """train_step returned something the trainer cannot read (floats, say): the
    model's mistake, said in check_model's words, with no traceback to dig through."""


class _DataFailed(Exception):
    """The dataset's sampler raised: the run failed, the dataset's fault."""


class _NonFiniteState(Exception):
    def __init__(self, step: int):
        super().__init__(step)
        self.step = step


def _optimiser_settings(
    model: GenerativeModel,
) -> dict[torch.optim.Optimizer, list[dict[str, Any]]]:
    """Each optimiser of a model with its param groups' settings (all but params)."""
    return {
        opt: [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        for opt in model.checkpointed().values()
        if isinstance(opt, torch.optim.Optimizer)
    }


# Live sample quality (genbench.metrics.evaluate.LiveEvaluator): called with the
# model, returns a flat dict of numbers.
Evaluator = Callable[[GenerativeModel], dict[str, Any]]


@dataclass
class Parts:
    """What a trainer trains with, built (and, on resume, restored) before the run
    folder is created or touched, so a model too big for memory or a checkpoint that
    does not fit leaves the folder as it was."""

    model: GenerativeModel
    sampler: BatchSampler
    previewer: SampleGrids
    meter: LossMeter
    evaluator: Evaluator | None = None  # None: nothing to measure live
    step: int = 0  # the step the checkpoint was taken at (0: a new run)
    elapsed: float = 0.0  # training seconds across resumes
    # The step of the checkpoint this run has on disk (a resumed run's from the
    # start), None before the first: what an interrupted run may claim.
    checkpoint_step: int | None = None
    # The line for an exception the dataset's sampler raised mid-run (launch names
    # the dataset and its plugin); None: the exception's own line.
    data_failure: Callable[[BaseException], str] | None = None


def restore(parts: Parts, state: dict[str, Any], keep_hyperparameters: bool = False) -> None:
    """Restore a checkpoint into the parts. With ``keep_hyperparameters`` (a resume that
    changed them with --set) each optimiser keeps the hyperparameters the model was just
    built with (lr, betas, ...) and takes only its running state (moments, step
    counts) from the checkpoint, which would otherwise bring the old ones back."""
    from genbench.training.device import set_rng_state

    model = parts.model
    fresh = _optimiser_settings(model)  # as the run's config builds them
    # Before anything is copied in: torch would cast a complex or integer tensor
    # into a float parameter (with a warning) and train on the damage.
    check_tensor_types(model.checkpointed(), state["model"])
    model.load_state_dict(state["model"])
    for optimiser, groups in fresh.items():
        if keep_hyperparameters:
            for group, settings in zip(optimiser.param_groups, groups, strict=True):
                group.update(settings)
        else:  # what Optimizer.load_state_dict takes unchecked from the file
            check_optimiser_settings(optimiser, groups)
        check_optimiser_state(optimiser)
    parts.sampler.load_state_dict(state["sampler"])
    parts.meter.load_state_dict(state["meter"])
    set_rng_state(state["rng"])
    parts.step = parts.checkpoint_step = int(state["step"])
    parts.elapsed = float(state.get("elapsed", 0.0))


class Trainer:
    def __init__(
        self,
        parts: Parts,
        writer: RunWriter | NullWriter,
        plan: Plan,
        device: torch.device,
        report: Report = lambda event: None,
        dist: SingleProcess = SingleProcess(),
        threads: ThreadShare | None = None,
        loggers: LoggerHub | None = None,
    ):
        self.model, self.sampler, self.writer = parts.model, parts.sampler, writer
        self.plan, self.previewer, self.device = plan, parts.previewer, device
        self.report, self.dist = report, dist
        self.meter = parts.meter
        # Real batches one train_step consumes, fixed for the run (n_critic for WGANs).
        self.batches = batches_per_step(type(self.model), getattr(self.model, "config", None))
        self.step = parts.step
        self.elapsed = parts.elapsed
        self.evaluator = parts.evaluator
        self.data_failure = parts.data_failure or one_line
        # This trainer's share of the CPU threads, taken again at log intervals as
        # other trainers start and end. None: leave torch's.
        self.threads = threads
        # --log: the run's loggers, each on its own thread (training.loggers); None: none.
        self.loggers = loggers
        # Mode-collapse alarm: a fresh generator covers few modes until it spreads
        # out, so low coverage is only news once coverage was healthy and is lost,
        # or when the run ends without ever reaching it.
        self._collapsed = False
        self._was_healthy = False
        # Inside a step (batch drawn .. step counted) the model is half updated: an
        # interrupt there must not be checkpointed as a step.
        self._in_step = False
        self._checkpoint_step = parts.checkpoint_step
        # Where the current log interval began: its time (perf_counter) and step.
        self._interval_start, self._interval_step = 0.0, self.step
        self._usage = ProcessUsage()  # CPU and memory of each log interval ("sys")
        # A resume's mark for metrics.jsonl (launch.resume_run sets it): written
        # first, at the step training goes on from.
        self.resume_mark: dict[str, Any] | None = None

    # -- checkpoint ------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "step": self.step,
            "sampler": self.sampler.state_dict(),
            "rng": rng_state(),
            "meter": self.meter.state_dict(),
            "elapsed": self.elapsed,
        }

    def checkpoint(self) -> None:
        if not self.dist.is_main:
            return
        state = self.state_dict()
        if not all_finite(state["model"]):
            # Weights or optimiser moments went non-finite while the losses logged so
            # far were finite: keep the last finite checkpoint, the one worth resuming.
            raise _NonFiniteState(self.step)
        self._check_owner()  # another trainer's newer checkpoint must not be overwritten
        data = checkpoint_bytes(state)
        path = self.writer.write_checkpoint(data)
        if self._keep_due():
            self.writer.keep_checkpoint(self.step, data)
        self._checkpoint_step = self.step
        # message "": the checkpoint phase (if said) is over; training goes on.
        self.writer.update(step=self.step, checkpoint_step=self.step, message="")
        self.report({"event": "checkpoint", "step": self.step, "path": str(path)})

    # -- the loop --------------------------------------------------------------

    def run(self) -> Outcome:
        """Train up to the plan's step, or until stopped, diverged or failed; the
        outcome is written to run.json and reported, whatever ended the run."""
        self.writer.update(status="running", step=self.step, message="")
        self._report_start()
        if self.loggers is not None:
            self.loggers.start(say=self._logger_dropped)
        self._interval_start, self._interval_step = time.perf_counter(), self.step
        try:
            with StopRequest() as stop:
                if self.resume_mark is not None:
                    self.writer.log(self.resume_mark)
                ended = self._train(stop)
                if ended is not None:
                    return self._finish(ended)
        except _NonFiniteState as bad:
            return self._finish(self._non_finite(bad.step))
        except _BrokenContract as broken:
            message = (
                f"model {self.writer.meta.model!r}: {broken} "
                "(genbench.testing.check_model finds this too)"
            )
            return self._finish(Outcome("failed", self.step, message))
        except _DataFailed as failed:  # before OSError: not the run folder's disk
            line = self.data_failure(failed.__cause__ or failed)
            then = DATA_RESUME if self._checkpoint_step else "; no checkpoint was written"
            return self._finish(Outcome("failed", self.step, line + then))
        except LostOwnership as lost:
            return self._taken(lost)
        except KeyboardInterrupt:
            return self._interrupted_mid_step()
        except OSError as exc:  # disk full or folder gone: the last checkpoint is intact
            return self._write_failed(exc)
        except Exception as exc:  # noqa: BLE001 - a model's bug must end the run cleanly, not lose it
            name = self.writer.meta.model
            self.report({"event": "traceback", "text": traceback.format_exc()})
            return self._finish(
                Outcome("failed", self.step, f"model {name!r} raised {one_line(exc)}")
            )
        return self._finish(Outcome("completed", self.step, f"trained {self.step} steps"))

    def _report_start(self) -> None:
        threads = None
        if self.threads is not None and self.device.type == "cpu":
            threads = self.threads.describe()
        self.report(
            {
                "event": "start",
                "run_dir": str(self.writer.path),
                "step": self.step,
                "steps": self.plan.steps,
                "device": str(self.device),
                "model": self.writer.meta.model,
                "dataset": self.writer.meta.dataset,
                "config_for_data": self.writer.meta.config_for_data,
                "threads": threads,
                "precision": self.plan.precision,
                "precision_why": self.plan.precision_why,
            }
        )

    def _train(self, stop: StopRequest) -> Outcome | None:
        """The steps and their intervals. None: the plan's last step is done; else how
        the run ended early (stopped, or diverged)."""
        stopping = False
        self.model.plan_steps(self.step, self.plan.steps)  # a schedule may end with the run
        self._check_first_grid()
        try:
            while self.step < self.plan.steps and not stopping:
                self._take_step()
                at_log = self._due(self.plan.log_every)
                if ended := self._at_intervals(at_log):
                    return ended
                stopping = self._stop_agreed(stop.requested or self._asked(stop, at_log), at_log)
        except KeyboardInterrupt:
            # A signal repeated while the first went unanswered (a slow step,
            # sample or evaluation). Between steps the state is whole: stop as
            # asked, with the checkpoint. Mid-step it is half an update: run() says so.
            if self._in_step:
                raise
            stopping = True
        return self._stopped(stop) if stopping else None

    def _check_first_grid(self) -> None:
        """A new run's first grid, drawn from the untrained generator before step 1
        (and not written): a wrong shape ends the run now, in check_model's words,
        not at the first sample interval; images in [0, 1] (a sigmoid) or past
        [-1, 1] are a warning on the terminal and, as a live check's warning, in
        metrics.jsonl, where the workbench's run view and runs list show it."""
        if self.step != 0 or not self.dist.is_main:
            return
        try:
            samples = self.previewer.draw()
        except WrongSampleShape as exc:
            raise _BrokenContract(str(exc)) from None
        finite = samples[torch.isfinite(samples)]
        if self.previewer.spec.kind != "image" or not len(finite):
            return
        warning = sample_range_warning(float(finite.min()), float(finite.max()))
        if warning:
            self.report({"event": "warning", "step": 0, "kind": "sample_range", "message": warning})
            self.writer.log({"step": 0, "kind": "eval", "eval": {"warning": warning}})

    def _asked(self, stop: StopRequest, at_log: bool) -> bool:
        """A stop asked for through the run folder (a sweep's pruner, another host),
        looked for at metrics lines: its reason goes into run.json."""
        if not at_log:
            return False
        reason = self.writer.stop_request()
        if reason is not None:
            stop.reason = reason
        return reason is not None

    def _take_step(self) -> None:
        self._in_step = True
        try:
            x, y = next_batches(self.sampler, self.batches)
        except Exception as exc:
            raise _DataFailed() from exc
        if self.plan.augment:
            x = self._augmented(x)
        with autocast(self.device, self.plan.precision):
            losses = self.model.train_step(x, y)
        if problem := losses_problem(losses, self.step + 1):
            raise _BrokenContract(problem)
        self.meter.add(losses)
        self.step += 1
        self._in_step = False
        self.writer.heartbeat(self.step)

    def _due(self, every: int) -> bool:
        """Is an interval of ``every`` steps due now? The last step ends each one."""
        return self.step % every == 0 or self.step == self.plan.steps

    def _keep_due(self) -> bool:
        keep = self.plan.keep_every
        return keep is not None and self.step % keep == 0

    def _at_intervals(self, at_log: bool) -> Outcome | None:
        """Log, sample, checkpoint and evaluate where due; a divergence ends the run."""
        if at_log:
            if diverged := self._log(self._interval_start, self._interval_step):
                return diverged
            self._interval_start, self._interval_step = time.perf_counter(), self.step
        if self._due(self.plan.sample_every):
            self._sample()
        if self._due(self.plan.checkpoint_every) or self._keep_due():
            if bad := self._diverged():
                return bad
            self.writer.phase(checkpoint_message(self.step))  # a large one takes seconds
            self.checkpoint()
        if self.evaluator is not None and self._due(self.plan.eval_every):
            # after the checkpoint, and not counted as training time
            self._interval_start += self._evaluate()
        return None

    def _stopped(self, stop: StopRequest) -> Outcome:
        """A stop was asked for: checkpoint where the run is, unless it diverged."""
        stop.escalate = False  # the clean-up below is what repeated signals wait for
        if bad := self._diverged():
            return bad
        self.elapsed += time.perf_counter() - self._interval_start
        self.checkpoint()
        if stop.reason:
            return Outcome("stopped", self.step, f"stopped at step {self.step}: {stop.reason}")
        by = stop.signal_name or "another rank"
        return Outcome("stopped", self.step, f"stopped by {by} at step {self.step}")

    def _non_finite(self, step: int) -> Outcome:
        kept = self.writer.meta.checkpoint_step
        keep = (
            f"; last finite checkpoint at step {kept}{RESUME_HINT}"
            if kept
            else "; no checkpoint was written"
        )
        return Outcome("diverged", step, f"parameters became non-finite by step {step}{keep}")

    def _write_failed(self, exc: OSError) -> Outcome:
        if self._folder_gone():  # moved between the owner check and the write
            return self._moved()
        where = f" ({exc.filename})" if exc.filename else ""
        return self._finish(
            Outcome(
                "failed",
                self.step,
                f"cannot write the run folder: {exc.strerror or exc}"
                f"{where}; resume from the last checkpoint",
            )
        )

    def _augmented(self, x: torch.Tensor) -> torch.Tensor:
        """The real batch warped by --augment's ops. The warps come from torch's global
        generator, which every checkpoint saves, so a resumed run draws the same ones;
        k batches of a k-batch model, (k, B, ...), are warped as k * B images."""
        if self.batches > 1:
            return augment(x.flatten(0, 1), self.plan.augment).unflatten(0, x.shape[:2])
        return augment(x, self.plan.augment)

    def _stop_agreed(self, requested: bool, at_log: bool) -> bool:
        """Alone, stop after any step. Under torch.distributed, ranks agree at log
        intervals only, so every rank leaves the loop at the same step."""
        if not self.dist.parallel:
            return requested
        return at_log and self.dist.any(requested)

    def _interrupted_mid_step(self) -> Outcome:
        """A stop signal repeated while a step ran on past ESCALATE_AFTER_S (a hung
        step): the model is half an update on, so nothing is checkpointed now. The
        run says truthfully what can be resumed: its last checkpoint, or, before the
        first, nothing, and then the new folder is removed rather than left as a run
        that claims to be resumable."""
        during = f"interrupted twice during step {self.step + 1}"
        if self._checkpoint_step is not None:
            return self._finish(
                Outcome(
                    "stopped",
                    self.step,
                    f"{during}; resumes from its checkpoint at step {self._checkpoint_step}",
                )
            )
        message = f"{during}, before the first checkpoint: nothing to resume from"
        if isinstance(self.writer, RunWriter) and self.dist.is_main:
            path = self.writer.path
            try:
                self._check_owner()  # still ours and still there: only then remove it
                self.writer.close()
                shutil.rmtree(path)
                message += ", so the run folder was removed"
            except (LostOwnership, OSError):
                message += "; no checkpoint was written"
            self.writer = NullWriter(path, self.writer.meta)
        return self._finish(Outcome("stopped", self.step, message))

    def _diverged(self) -> Outcome | None:
        bad = self.meter.divergence()
        if bad is None:
            return None
        step, name = bad
        kept = self.writer.meta.checkpoint_step
        keep = (
            f"; last good checkpoint at step {kept}{RESUME_HINT}"
            if kept
            else "; no checkpoint was written"
        )
        return Outcome("diverged", step, f"loss {name!r} became non-finite at step {step}{keep}")

    def _log(self, interval_start: float, interval_step: int) -> Outcome | None:
        losses = self.meter.read()  # the one host sync of the interval
        if self.threads is not None:
            self.threads.apply()  # cheap: a process-table scan at most every few seconds
        now = time.perf_counter()
        seconds = now - interval_start
        self.elapsed += seconds
        if bad := self._diverged():
            return bad
        # every real image consumed: k batches a step for a k-batch model
        images = (self.step - interval_step) * self.plan.batch_size * self.batches
        record = {
            "step": self.step,
            "time": round(self.elapsed, 3),
            "img_per_s": round(images / seconds, 1) if seconds > 0 else None,
            "losses": losses,
            # each optimiser's rate where the run now stands (a schedule's curve)
            "lr": learning_rates(self.model),
            "sys": self._usage.sample(),  # this process's CPU over the interval, its RSS
        }
        self.writer.log(record)
        self.writer.update(step=self.step)
        self.report({"event": "metrics", **record, "steps": self.plan.steps})
        if self.loggers is not None:
            self.loggers.metrics(record)
        return None

    def _sample(self) -> None:
        if not self.dist.is_main:
            return
        self._check_owner()
        path = self.writer.write_sample(self.step, self.previewer.png())
        self.writer.update(sample_step=self.step)
        self.report({"event": "sample", "step": self.step, "path": str(path)})
        if self.loggers is not None:
            self.loggers.samples(self.step, path)

    def _evaluate(self) -> float:
        """Measure the model now; log an eval record and report it. Returns the
        seconds spent. The evaluator draws from its own seeded generator, so the
        global random state, and with it an exact resume, is untouched."""
        started = time.perf_counter()
        assert self.evaluator is not None  # called only when there is one
        last = self.step >= self.plan.steps
        # The step stands still while samples are drawn and measured (the first time
        # with the real data's features too): the workbench says why. After the last
        # step the end's own message replaces it.
        samples = getattr(self.evaluator, "samples", None)
        self.writer.phase(
            evaluation_message(self.step, last, samples if isinstance(samples, int) else None)
        )
        try:
            result = self.evaluator(self.model)
        except Exception as exc:  # noqa: BLE001 - a metric must never end a run
            self.evaluator = None
            result = {"error": f"evaluation turned off: {one_line(exc)}"}
        record = {"step": self.step, "time": round(self.elapsed, 3), "kind": "eval", "eval": result}
        self.writer.log(record)
        self.report({"event": "eval", "step": self.step, **result})
        if self.loggers is not None:
            self.loggers.metrics(record)
        collapsed = bool(result.get("collapse"))
        lost = collapsed and self._was_healthy and not self._collapsed
        never = collapsed and not self._was_healthy and self.step >= self.plan.steps
        if lost or never:
            when = "lost since an earlier check" if lost else "at the end of the run"
            self.report(
                {
                    "event": "warning",
                    "step": self.step,
                    "kind": "mode_collapse",
                    "message": f"{result.get('warning')}, {when}",
                }
            )
        self._collapsed = collapsed
        self._was_healthy = self._was_healthy or (not collapsed and "error" not in result)
        if not last:
            self.writer.phase("")
        return time.perf_counter() - started

    def _check_owner(self) -> None:
        """Raise LostOwnership when another process has taken the run over."""
        check = getattr(self.writer, "check_owner", None)
        if check is not None:
            check()

    def _folder_gone(self) -> bool:
        gone = getattr(self.writer, "folder_gone", None)
        return bool(gone is not None and gone())

    def _moved(self) -> Outcome:
        """The run folder was moved, renamed or deleted while this trainer ran: not a
        takeover (nobody else holds the run) but the end of this trainer, which can
        no longer write by path. It stops as failed, says so, and writes that end only
        into the folder where it went (RunWriter.end_moved), never at the old path."""
        kept = self.writer.meta.checkpoint_step
        message = (
            f"the run folder disappeared (moved, renamed or deleted) at step "
            f"{self.step}; nothing more was written at {self.writer.path}"
        )
        if kept:
            message += (
                f"; its last checkpoint (step {kept}) went with the folder: "
                "resume it where it is now"
            )
        outcome = Outcome("failed", self.step, message)
        end = getattr(self.writer, "end_moved", None)
        if end is not None:
            end(status=outcome.status, step=outcome.step, message=outcome.message)
        else:
            self.writer.close()
        return self._reported(outcome)

    def _reported(self, outcome: Outcome) -> Outcome:
        """``outcome``, once the loggers (waited for, within their bound) and the
        reporter have been told how the run ended."""
        if self.loggers is not None:
            self.loggers.end(outcome.status)
        self.report(
            {
                "event": "end",
                "status": outcome.status,
                "step": outcome.step,
                "message": outcome.message,
                "run_dir": str(self.writer.path),
            }
        )
        return outcome

    def _logger_dropped(self, message: str, step: int) -> None:
        """A logger raised, hung or fell behind: said once on stderr and in the run's
        output, and the run goes on without it."""
        try:
            print(f"genbench: warning: {message}", file=sys.stderr, flush=True)
        except OSError:
            pass  # a closed stderr stops the printing only
        self.report({"event": "warning", "step": step, "kind": "logger", "message": message})

    def _taken(self, lost: LostOwnership) -> Outcome:
        """Another process owns the run now: stop without writing anything more
        (no checkpoint, run.json or metrics line) and say who took it."""
        if isinstance(lost, RunFolderGone):
            return self._moved()
        self.writer.close()  # the lock is no longer ours: it is left alone
        outcome = Outcome("lost", self.step, str(lost))
        return self._reported(outcome)

    def _finish(self, outcome: Outcome) -> Outcome:
        try:
            self.writer.update(status=outcome.status, step=outcome.step, message=outcome.message)
        except LostOwnership as lost:
            return self._taken(lost)
        except OSError:
            pass  # the disk is what failed; the message still reaches the terminal
        self.writer.close()
        if outcome.status in ("completed", "stopped"):
            self.dist.barrier()  # every rank leaves once rank 0 has written the end
        return self._reported(outcome)
