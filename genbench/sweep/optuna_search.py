"""Bayesian search with early stopping: ``genbench sweep --search optuna``.

Optuna's TPE sampler proposes configurations (trials) from the sweep's axes: a list
of values is a categorical choice, a range a float (or whole number), log-uniform
where asked. Each trial trains once per seed; its members are ordinary runs started
through the executor as a grid's are, at most the executor's capacity at once, so
several trials are in flight when it allows (TPE's constant liar keeps them from
all proposing the same point). The search follows the members' live evaluations
in their metrics.jsonl and, at each evaluated step, reports the mean objective of
the trial's members that reached it to the pruner; a trial the pruner gives up on
has its running members asked to stop through their run folders
(genbench.runfolder.stop: a checkpoint, status stopped, the reason in run.json's
message). A trial whose members all complete is worth the mean of their final
objective; the best one goes into the sweep record.

The study lives in the sweep's folder, in optuna's JournalStorage with a file
backend (optuna's choice for several processes on one file, NFS included, with no
database server), so ``genbench sweep --resume ID`` continues it: a trial the sweep
was stopped in goes on as a new trial of the same configuration (the old one is
marked failed, which the sampler and the pruners ignore) and its members resume
from their checkpoints.

Small sweeps: TPE samples at random for its first clamp(trials // 3, 2, 10)
trials (optuna's default of 10 would leave a 10-trial sweep with no Bayesian step
at all); the median pruner starts pruning once clamp(trials // 4, 1, 5) trials have
completed and never in a member's first tenth of its --steps (early live
evaluations of a GAN say little); successive halving takes optuna's defaults
(rungs from the first completed trial's length, a quarter kept at each).

optuna is an optional extra (``pip install 'genbench[sweep]'``), imported here
only, when a search starts. torch-free.
"""

from __future__ import annotations

import math
import os
import statistics
import time
import warnings
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from genbench.errors import UsageError
from genbench.executor import Executor, ExecutorError, Member
from genbench.runfolder.runs import LINE_MAX, METRICS_FILE, record_kind
from genbench.runfolder.stop import ask_to_stop
from genbench.runfolder.untrusted import UnreadableFile, loads_line, open_regular
from genbench.sweep.driver import (
    POLL_S,
    Driver,
    Say,
    StopFlag,
    catch_stops,
    new_member,
    plan_members,
    restore_stops,
    set_aside,
    summary,
)
from genbench.sweep.record import MemberRecord, SweepRecord
from genbench.sweep.results import LOWER_IS_BETTER, member_result
from genbench.sweep.spec import SEED, Axis, SweepSpec

MISSING_OPTUNA = "--search optuna needs optuna: pip install 'genbench[sweep]'"
JOURNAL_FILE = "optuna.journal"  # in RUNS/.sweeps/ID, beside sweep.json
# Trials in flight where the executor queues members itself (SLURM): the sampler
# learns nothing from trials that have not reported yet, so not all of them at once.
DETACHED_TRIALS = 4
READ_MAX = 4 << 20  # of a member's metrics.jsonl per look; the rest at the next
OBJECTIVE_NAMES = {"fd": "FD", "coverage": "classes/modes covered"}


def require_optuna() -> Any:
    """The optuna module, quiet; one line saying how to get it when it is missing."""
    try:
        import optuna
    except ImportError:
        raise UsageError(MISSING_OPTUNA) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def run_optuna(
    runs_dir: Path,
    record: SweepRecord,
    executor: Executor,
    say: Say,
    cancel_file: Path | None = None,
) -> int:
    """Run (or continue) the sweep's search; the exit code as a grid's (0 done, 1 some
    member failed, 130 stopped or cancelled)."""
    optuna = require_optuna()
    study = open_study(optuna, runs_dir, record)
    stop = StopFlag()
    previous = catch_stops(stop)
    record.state = "running"
    record.write(runs_dir)
    try:
        search = Search(runs_dir, record, executor, say, stop, cancel_file, study, optuna)
        state = search.run_search()
    except ExecutorError as exc:
        record.state = "stopped"
        record.write(runs_dir)
        raise UsageError(f"executor {record.executor}: {exc}") from None
    finally:
        restore_stops(previous)
    cancelled = cancel_file is not None and cancel_file.exists()
    record.state = "cancelled" if cancelled and state == "stopped" else state
    record.write(runs_dir)
    return summary(runs_dir, record, say)


# -- the study --------------------------------------------------------------------------


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def open_study(optuna: Any, runs_dir: Path, record: SweepRecord) -> Any:
    """The sweep's study, made on its first start and loaded on a resume."""
    spec = record.spec
    trials = spec.trials or 1
    path = SweepRecord.folder(runs_dir, record.id) / JOURNAL_FILE
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    with warnings.catch_warnings():
        # constant_liar is marked experimental; it is what optuna advises for trials
        # evaluated in parallel
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=spec.search_seed,
            n_startup_trials=_clamp(trials // 3, 2, 10),
            constant_liar=True,
        )
    return optuna.create_study(
        study_name=record.id,
        storage=storage,
        sampler=sampler,
        pruner=make_pruner(optuna, spec),
        direction="minimize" if LOWER_IS_BETTER[spec.objective] else "maximize",
        load_if_exists=True,
    )


def make_pruner(optuna: Any, spec: SweepSpec) -> Any:
    if spec.pruner == "none":
        return optuna.pruners.NopPruner()
    if spec.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    steps = spec.fixed.get("steps")
    return optuna.pruners.MedianPruner(
        n_startup_trials=_clamp((spec.trials or 1) // 4, 1, 5),
        n_warmup_steps=steps // 10 if isinstance(steps, int) else 0,
    )


def suggest(trial: Any, axis: Axis) -> Any:
    """The trial's value for ``axis``: one of its values, or from its range."""
    if not axis.is_range:
        return trial.suggest_categorical(axis.key, axis.values)
    assert axis.low is not None and axis.high is not None
    if axis.integer:
        return trial.suggest_int(axis.key, int(axis.low), int(axis.high))
    return trial.suggest_float(axis.key, axis.low, axis.high, log=axis.log)


def objective_value(evaluation: Any, objective: str) -> float | None:
    """The objective in one live evaluation (a metrics.jsonl eval record's ``eval``)."""
    if not isinstance(evaluation, dict):
        return None
    if objective == "fd":
        value = evaluation.get("fd")
    else:
        value = evaluation.get("classes_covered", evaluation.get("modes_covered"))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


class EvalFollower:
    """The live evaluations a member's trainer appends to its metrics.jsonl, read as
    they come: complete lines only, from where the last look ended, at most
    READ_MAX bytes a look. A file cut back (a resumed run drops the lines after
    its checkpoint) is read again from the start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def new_evaluations(self) -> list[tuple[int, Any]]:
        try:
            with open_regular(self.path, None, run_dir=self.path.parent) as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self.offset:
                    self.offset = 0
                fh.seek(self.offset)
                data = fh.read(min(size - self.offset, READ_MAX))
        except (FileNotFoundError, UnreadableFile):
            return []  # not written yet, or not one to trust: nothing to report
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) >= READ_MAX:  # one overlong line: not genbench's, skipped
                self.offset += len(data)
            return []
        self.offset += end + 1
        out = []
        for line in data[:end].split(b"\n"):
            rec = loads_line(line) if len(line) <= LINE_MAX else None
            if (
                isinstance(rec, dict)
                and record_kind(rec) == "eval"
                and isinstance(rec.get("step"), int)
                and not isinstance(rec.get("step"), bool)
            ):
                out.append((rec["step"], rec.get("eval")))
        return out


@dataclass
class TrialRun:
    """A trial in flight: its members and what they have reported so far."""

    trial: Any  # optuna.trial.Trial
    point: dict[str, Any]  # the configuration, without the seed
    members: list[str]
    followers: dict[str, EvalFollower] = field(default_factory=dict)
    values: dict[int, dict[str, float]] = field(default_factory=dict)  # step -> member -> value
    reached: dict[str, int] = field(default_factory=dict)  # member -> its last evaluated step
    reported: set[int] = field(default_factory=set)
    pruned: str | None = None


# -- the search ---------------------------------------------------------------------------


class Search(Driver):
    """A grid's driver whose queue the sampler fills, a trial at a time, as room
    frees; it follows the live evaluations of the trials in flight and prunes."""

    def __init__(
        self,
        runs_dir: Path,
        record: SweepRecord,
        executor: Executor,
        say: Say,
        stop: StopFlag,
        cancel_file: Path | None,
        study: Any,
        optuna: Any,
    ) -> None:
        super().__init__(runs_dir, record, executor, say, stop, cancel_file)
        self.study = study
        self.optuna = optuna
        self.spec = record.spec
        self.objective = record.spec.objective
        self.trials: dict[int, TrialRun] = {}
        self.queue: deque[tuple[MemberRecord, Member]] = deque()
        self.done = 0
        self.width = max(3, len(str(max(self.total - 1, 0))))  # member names, as a grid's

    @property
    def total(self) -> int:
        return (self.spec.trials or 0) * len(self.spec.seeds)

    def run_search(self) -> str:
        """Run trials until --trials have been asked and every member has ended; the
        sweep's state at the end (done, or stopped)."""
        self._continue_trials()
        self.done = len(self.record.members) - len(self.queue) - len(self.running)
        self.say(
            {
                "event": "sweep",
                "id": self.record.id,
                "starting": len(self.queue) + self._trials_left() * len(self.spec.seeds),
                "members": self.total,
                "executor": self.record.executor,
                "capacity": self.executor.capacity(),
            }
        )
        while self._trials_left() or self.queue or self.running:
            if self.cancel_file is not None and self.cancel_file.exists():
                self.stop.requested, self.stop.why = True, "genbench sweep --cancel"
            if self.stop.requested:
                return self._stop(len(self.queue))
            self._fill()
            self._reap()
            self._settle()
            self._progress(len(self.queue), self.done, self.total)
            if self.running or self.queue:
                time.sleep(POLL_S)
        return "done"

    # -- starting trials --------------------------------------------------------------

    def _trials_used(self) -> set[int]:
        return {m.trial for m in self.record.members if m.trial is not None}

    def _trials_left(self) -> int:
        return max(0, (self.spec.trials or 0) - len(self._trials_used()))

    def _fill(self) -> None:
        room = self.executor.capacity()
        limit = room if room is not None else DETACHED_TRIALS * len(self.spec.seeds)
        batch: list[tuple[MemberRecord, Member]] = []
        while len(self.running) + len(batch) < limit:
            if not self.queue:
                if not self._trials_left():
                    break
                self._ask()
            batch.append(self.queue.popleft())
        if batch:
            self._start(batch)
            for m, _ in batch:
                if m.handle is None:  # the executor took it but gave no handle: it ended
                    self._ended(m.name, self._count_end(), self.total)

    def _count_end(self) -> int:
        self.done += 1
        return self.done

    def _ask(self) -> None:
        """A new trial from the sampler: its members, one per seed, recorded before
        they start."""
        trial = self.study.ask()
        point = {axis.key: suggest(trial, axis) for axis in self.spec.axes}
        names = []
        for seed in self.spec.seeds:
            full = {**point, SEED: seed}
            index = len(self.record.members)
            m = MemberRecord(
                name=f"{self.record.id}-{index:0{self.width}d}",
                point=full,
                args=self.spec.run_args(full),
                trial=trial.number,
            )
            self.record.members.append(m)
            self.queue.append((m, new_member(self.runs_dir, self.record, m)))
            names.append(m.name)
        self.trials[trial.number] = self._trial_run(trial, point, names)
        self.record.write(self.runs_dir)

    def _trial_run(self, trial: Any, point: dict[str, Any], names: list[str]) -> TrialRun:
        followers = {n: EvalFollower(self.runs_dir / n / METRICS_FILE) for n in names}
        return TrialRun(trial, point, names, followers)

    # -- following them -----------------------------------------------------------------

    def _reap(self) -> None:
        """Members that ended: their last evaluations read, then reported as ended."""
        ended = [n for n, h in list(self.running.items()) if self.executor.finished(h)]
        for name in ended:
            del self.running[name]
        self._watch()
        for name in ended:
            self._ended(name, self._count_end(), self.total)

    def _watch(self) -> None:
        for run in list(self.trials.values()):
            if run.pruned:
                continue
            for name, follower in run.followers.items():
                for step, evaluation in follower.new_evaluations():
                    run.reached[name] = max(step, run.reached.get(name, -1))
                    value = objective_value(evaluation, self.objective)
                    if value is not None:
                        run.values.setdefault(step, {})[name] = value
            self._report(run)

    def _in_flight(self, name: str) -> bool:
        return name in self.running or any(m.name == name for m, _ in self.queue)

    def _report(self, run: TrialRun) -> None:
        """Each evaluated step once, when no member still running is behind it: the
        mean over the members that reached it; then ask the pruner."""
        for step in sorted(s for s in run.values if s not in run.reported):
            behind = [
                n for n in run.members if self._in_flight(n) and run.reached.get(n, -1) < step
            ]
            if behind:
                return
            value = statistics.fmean(run.values[step].values())
            run.trial.report(value, step)
            run.reported.add(step)
            if run.trial.should_prune():
                self._prune(run, step, value)
                return

    def _prune(self, run: TrialRun, step: int, value: float) -> None:
        why = self._why_pruned(step, value)
        run.pruned = why
        queued = {m.name for m, _ in self.queue}
        self.queue = deque((m, x) for m, x in self.queue if m.trial != run.trial.number)
        for name in run.members:
            m = self.record.member(name)
            if name in self.running:
                ask_to_stop(self.runs_dir / name, why)
            elif name not in queued:
                continue  # ended already: it stays as it ended
            m.pruned = why
            self.say({"event": "pruned", "member": name, "why": why})
        self.record.write(self.runs_dir)

    def _why_pruned(self, step: int, value: float) -> str:
        what = f"{OBJECTIVE_NAMES[self.objective]} {value:.4g}"
        head = f"pruned by optuna at step {step}: {what}"
        if self.spec.pruner == "halving":
            return f"{head} not among the best of the trials at this rung (successive halving)"
        complete = self.study.get_trials(
            deepcopy=False, states=(self.optuna.trial.TrialState.COMPLETE,)
        )
        earlier = [t.intermediate_values[step] for t in complete if step in t.intermediate_values]
        if not earlier:
            return f"{head} worse than the median of earlier trials"
        side = "above" if LOWER_IS_BETTER[self.objective] else "below"
        return (
            f"{head}, {side} the median {statistics.median(earlier):.4g} of "
            f"{len(earlier)} earlier trial" + "s" * (len(earlier) != 1) + " at that step"
        )

    # -- ending trials ------------------------------------------------------------------

    def _settle(self) -> None:
        """Trials whose members have all ended are told to the study."""
        for number, run in list(self.trials.items()):
            if any(self._in_flight(n) for n in run.members):
                continue
            del self.trials[number]
            state = self.optuna.trial.TrialState
            if run.pruned:
                self.study.tell(run.trial, state=state.PRUNED)
                continue
            results = [member_result(self.runs_dir, self.record.member(n)) for n in run.members]
            values = [r.value(self.objective) for r in results]
            got = [v for v in values if v is not None and math.isfinite(v)]
            if any(r.status != "completed" for r in results) or not got:
                self.study.tell(run.trial, state=state.FAIL)
                if not got and all(r.status == "completed" for r in results):
                    self._no_objective(number, run.members)
                continue
            value = statistics.fmean(got)
            self.study.tell(run.trial, value)
            self._best(number, run.point, value)

    def _no_objective(self, number: int, members: list[str]) -> None:
        what = OBJECTIVE_NAMES[self.objective]
        for name in members:
            self.say(
                {
                    "event": "left",
                    "member": name,
                    "why": f"no {what} in its live evaluations, so trial {number} counts as "
                    "failed (is live evaluation on, and does this dataset have it?)",
                }
            )

    def _best(self, number: int, point: dict[str, Any], value: float) -> None:
        best = self.record.best
        lower = LOWER_IS_BETTER[self.objective]
        if isinstance(best, dict) and isinstance(best.get("value"), (int, float)):
            if (value >= best["value"]) if lower else (value <= best["value"]):
                return
        self.record.best = {
            "trial": number,
            "point": point,
            "value": value,
            "objective": self.objective,
        }
        self.record.write(self.runs_dir)
        self.say({"event": "best", **self.record.best})

    # -- a resumed search -----------------------------------------------------------------

    def _continue_trials(self) -> None:
        """On a resume: each trial the sweep was stopped in goes on as a new trial of
        the same configuration, its members resumed (or started, or followed where
        they still run); one with nothing started is dropped, one being pruned is
        told so."""
        state = self.optuna.trial.TrialState
        for frozen in self.study.get_trials(deepcopy=False, states=(state.RUNNING,)):
            members = [m for m in self.record.members if m.trial == frozen.number]
            if any(m.pruned for m in members):
                self.study.tell(frozen.number, state=state.PRUNED)
                continue
            if members:
                self._continue_trial(frozen, members)
            self.study.tell(frozen.number, state=state.FAIL)
        self.record.write(self.runs_dir)

    def _continue_trial(self, frozen: Any, members: list[MemberRecord]) -> None:
        self.study.enqueue_trial(frozen.params)
        trial = self.study.ask()
        point = {axis.key: suggest(trial, axis) for axis in self.spec.axes}
        for m in members:
            m.trial = trial.number
        self.trials[trial.number] = self._trial_run(trial, point, [m.name for m in members])
        plan = plan_members(
            self.runs_dir, replace(self.record, members=members), executor=self.executor
        )
        for name in plan.aside:  # no checkpoint to resume: kept aside, started anew
            set_aside(self.runs_dir, self.record, name)
        self.queue.extend(plan.start)
        self.running.update(plan.watch)  # started earlier and not ended: followed
        for name, why in plan.left:
            m = self.record.member(name)
            if name in plan.watch:
                continue
            if m.handle and member_result(self.runs_dir, m).status == "running":
                self.running[name] = m.handle  # still training: followed, not restarted
            else:
                self.say({"event": "left", "member": name, "why": why})
