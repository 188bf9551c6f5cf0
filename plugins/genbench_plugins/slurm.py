"""The ``slurm`` executor: each member of a sweep is a SLURM batch job (or one task
of a job array), submitted through submitit.

A job runs :func:`genbench.executor.member_command` under ``srun``, with its output
in ``SWEEP_DIR/slurm/JOBID_0_log.out`` (submitit's folder), and tells the trainer
that log's path in ``GENBENCH_JOB_LOG`` (run.json's ``job`` section). Its state is
asked of ``squeue``, which answers wherever the controller runs (``sacct`` needs an
accounting database that small clusters lack); a job the controller no longer
lists has ended. A cancel sends SIGTERM to a running job's processes, so the
trainer checkpoints and the member stays resumable; a pending job is removed.
Before a time limit the job gets the same SIGTERM (``--signal``), early enough to
checkpoint.

submitit is imported on first use: the registry loads this module for every
command.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from genbench import Executor, ExecutorError, ExecutorOption, Member, hookimpl
from genbench.executor import member_command

NO_SBATCH = (
    "sbatch not found: --executor slurm needs a SLURM cluster's client tools on this machine"
)
# squeue's states of a job whose processes have all ended (its other states, PENDING,
# RUNNING, COMPLETING, SUSPENDED, REQUEUED, ..., are a job still to run or running).
ENDED_STATES = frozenset(
    {
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)
MEM_RE = re.compile(r"[1-9][0-9]*([KMGT]B?)?")  # as sbatch --mem takes it
JOB_ID_RE = re.compile(r"[0-9]+(_[0-9]+)?")
SQUEUE_TIMEOUT_S = 60
POLL_S = 1.0  # finished() answers from an squeue at most this many seconds old


class TrainMember:
    """What a job runs (pickled by submitit): the member's ``genbench run``, its output
    straight into the job's log, the log's path in ``GENBENCH_JOB_LOG``."""

    def __init__(self, command: list[str]) -> None:
        self.command = command

    def __call__(self) -> int:
        import submitit

        log = submitit.JobEnvironment().paths.stdout
        sys.stdout.flush()
        code = subprocess.run(
            self.command, env={**os.environ, "GENBENCH_JOB_LOG": str(log)}, check=False
        ).returncode
        if code != 0:  # the job ends with the trainer's status (the run folder says why)
            sys.exit(code)
        return code


def parse_extra(text: str | None) -> dict[str, str]:
    """``--slurm-extra`` KEY=VALUE,... as sbatch directives (``account=lab,qos=high``)."""
    extra: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9-]*", key) or not value.strip():
            raise ExecutorError(
                f"--slurm-extra takes sbatch options as KEY=VALUE,... "
                f"(e.g. account=lab,qos=high), got {item.strip()[:60]!r}"
            )
        extra[key] = value.strip()
    return extra


def _positive(settings: dict[str, Any], key: str, flag: str) -> int | None:
    value = settings.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ExecutorError(f"{flag} must be a whole number of at least 1, got {value!r}")
    return value


def signal_delay_s(minutes: int | None) -> int:
    """Seconds before the time limit that the trainer is sent SIGTERM: time to
    checkpoint, and never most of a short job."""
    return 120 if minutes is None else min(120, minutes * 60 // 4)


def _tool_error(error: Exception | str) -> str:
    """The first line of a SLURM tool's complaint, the most specific one
    ("invalid partition specified: gpu"; a generic "Batch job submission failed" follows)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()] or lines or ["no reason given"]
    return re.sub(r"^\w+:( error:)? ", "", errors[0])


def _tool(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """A SLURM client command; a controller that does not answer in time is one line."""
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ExecutorError(
            f"{command[0]} had no answer from the SLURM controller in {timeout:.0f} s; "
            "try again when it answers (`sinfo`)"
        ) from None


def _scancel(arguments: list[str]) -> None:
    result = _tool(["scancel", *arguments], 60)
    # A job that ended between squeue's answer and this is no error; nor is the silent
    # status scancel --signal gives a job array's task that it did signal (SLURM 22.05:
    # ESLURM_ALREADY_DONE, exit status 229, nothing on stderr). Its complaints are.
    complaint = re.sub(r".*(already complet|Invalid job id).*\n?", "", result.stderr).strip()
    if result.returncode != 0 and complaint:
        raise ExecutorError(f"scancel failed: {_tool_error(complaint)}")


class SlurmExecutor(Executor):
    name = "slurm"
    summary = "each member a SLURM job (submitit); the sweep returns once they are queued"
    detached = True
    options = (
        ExecutorOption("--partition", "SLURM partition (default: the cluster's)", metavar="NAME"),
        ExecutorOption(
            "--time",
            "time limit per member in minutes (default: the partition's)",
            int,
            metavar="MIN",
        ),
        ExecutorOption("--gpus", "GPUs per member", int, metavar="N"),
        ExecutorOption("--cpus", "CPUs per member (also its --threads)", int, metavar="N"),
        ExecutorOption(
            "--mem", "memory per member, e.g. 4G (default: the partition's)", metavar="SIZE"
        ),
        ExecutorOption(
            "--slurm-array",
            "submit the members as one job array, at most N of them running at once",
            int,
            metavar="N",
        ),
        ExecutorOption(
            "--slurm-extra",
            "more sbatch options as KEY=VALUE,... (e.g. account=lab,qos=high)",
            metavar="K=V,...",
        ),
    )

    def __init__(self, sweep_dir: Path, settings: Any) -> None:
        super().__init__(sweep_dir, settings)
        self.minutes = _positive(self.settings, "time", "--time")
        self.gpus = _positive(self.settings, "gpus", "--gpus")
        self.cpus = _positive(self.settings, "cpus", "--cpus")
        self.array = _positive(self.settings, "slurm_array", "--slurm-array")
        self.mem = self.settings.get("mem")
        if self.mem is not None and not MEM_RE.fullmatch(str(self.mem)):
            raise ExecutorError(f"--mem must be a size such as 4G or 500M, got {self.mem!r}")
        self.extra = parse_extra(self.settings.get("slurm_extra"))
        self.partition = self.settings.get("partition")
        if shutil.which("sbatch") is None:  # before a sweep makes anything
            raise ExecutorError(NO_SBATCH)
        self._watched: set[str] = set()
        self._ended: set[str] = set()  # a job that has ended stays ended
        self._asked: set[str] = set()
        self._asked_at = -math.inf

    @property
    def folder(self) -> Path:
        return self.sweep_dir / "slurm"

    def _submitit(self, job_name: str, cpus: int | None) -> Any:
        import submitit

        executor = submitit.SlurmExecutor(folder=self.folder)
        # The trainer checkpoints on SIGTERM: sent to every process of the job before
        # the time limit (instead of submitit's USR2, which would kill the trainer).
        extra: dict[str, Any] = {"signal": f"TERM@{signal_delay_s(self.minutes)}"}
        if self.mem is not None:
            extra["mem"] = str(self.mem)
        extra.update(self.extra)
        parameters: dict[str, Any] = {
            "job_name": job_name,
            "time": self.minutes,  # None: no --time line, the partition's default
            "partition": self.partition,
            "cpus_per_task": cpus,
            "gpus_per_node": self.gpus,
            "additional_parameters": extra,
            "stderr_to_stdout": True,  # one log per member: the trainer's errors too
        }
        if self.array is not None:
            parameters["array_parallelism"] = self.array
        executor.update_parameters(**parameters)
        return executor

    def _job(self, member: Member) -> TrainMember:
        threads = member.threads if member.threads is not None else self.cpus
        return TrainMember(member_command(replace(member, threads=threads)))

    def _cpus(self, member: Member) -> int | None:
        return self.cpus if self.cpus is not None else member.threads

    def start(self, members: Sequence[Member]) -> dict[str, str]:
        if shutil.which("sbatch") is None:
            raise ExecutorError(NO_SBATCH)
        from submitit.core.utils import FailedJobError, FailedSubmissionError

        handles: dict[str, str] = {}
        try:
            # submitit prints sbatch's complaint as well as raising it: said once, below.
            with contextlib.redirect_stderr(io.StringIO()):
                if self.array is not None and len(members) > 1:
                    handles.update(self._submit_array(members))
                else:
                    for member in members:
                        executor = self._submitit(member.name, self._cpus(member))
                        handles[member.name] = str(executor.submit(self._job(member)).job_id)
        except (FailedJobError, FailedSubmissionError, OSError) as error:
            # Members already queued are taken back: the sweep records none of them.
            if handles:
                subprocess.run(["scancel", *handles.values()], check=False, capture_output=True)
            raise ExecutorError(f"sbatch refused the job: {_tool_error(error)}") from error
        return handles

    def _submit_array(self, members: Sequence[Member]) -> dict[str, str]:
        cpus = max((self._cpus(m) or 0 for m in members), default=0) or None
        executor = self._submitit(f"genbench-{self.sweep_dir.name}", cpus)
        with executor.batch():
            jobs = [executor.submit(self._job(m)) for m in members]
        return {m.name: str(job.job_id) for m, job in zip(members, jobs, strict=True)}

    def _squeue(self, handles: Sequence[str]) -> dict[str, str]:
        """The state of each job the controller still lists, by handle."""
        if shutil.which("squeue") is None:
            raise ExecutorError(NO_SBATCH.replace("sbatch", "squeue", 1))
        for handle in handles:
            if not JOB_ID_RE.fullmatch(handle):
                raise ExecutorError(f"not a SLURM job id: {handle[:40]!r}")
        result = _tool(
            ["squeue", "-h", "-r", "-j", ",".join(handles), "-o", "%i %T"], SQUEUE_TIMEOUT_S
        )
        if result.returncode != 0:
            message = result.stderr.strip()
            if "Invalid job id" in message:  # every one of them has ended and been purged
                return {}
            raise ExecutorError(f"squeue failed: {_tool_error(message)}")
        states: dict[str, str] = {}
        for line in result.stdout.splitlines():
            job_id, _, state = line.strip().partition(" ")
            states[job_id] = state
        return states

    def finished(self, handle: str) -> bool:
        # One squeue for every job this executor watches, at most every POLL_S: a
        # driver asking after each of a large sweep's members does not ask SLURM each time.
        self._watched.add(handle)
        stale = time.monotonic() - self._asked_at > POLL_S
        if handle not in self._ended and (stale or handle not in self._asked):
            asked = sorted(self._watched - self._ended)
            try:
                states = self._squeue(asked)
            except ExecutorError:
                if not self._asked:  # never answered: nothing to go on, say so
                    raise
                return False  # a controller busy for a moment: the next poll asks again
            self._ended.update(h for h in asked if states.get(h, "COMPLETED") in ENDED_STATES)
            self._asked, self._asked_at = set(asked), time.monotonic()
        return handle in self._ended

    def cancel(self, handles: Sequence[str]) -> None:
        if not handles:
            return
        if shutil.which("scancel") is None:
            raise ExecutorError(NO_SBATCH.replace("sbatch", "scancel", 1))
        states = self._squeue(handles)
        pending = [h for h in handles if states.get(h) == "PENDING"]
        running = [h for h in handles if h in states and h not in pending]
        # A job that has not started is simply removed from the queue, first: a running
        # one stopping would otherwise free its place (an array's --slurm-array N) for
        # a queued one to start before its own cancel. A running trainer is then sent
        # SIGTERM (it checkpoints and stops, resumable).
        if pending:
            _scancel(pending)
        if running:
            _scancel(["--signal=TERM", *running])

    def log(self, handle: str) -> Path:
        from submitit.core.utils import JobPaths

        return JobPaths(self.folder, job_id=handle, task_id=0).stdout

    def describe(self, handle: str) -> str:
        return f"job {handle}, log {self.log(handle)}"


@hookimpl
def genbench_executors() -> list[type[Executor]]:
    return [SlurmExecutor]
