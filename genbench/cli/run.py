"""genbench run: train a model headless, or resume a run.

The CLI wires the pieces here: the trainer gets its live evaluator from this
module, so training never imports metrics.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from genbench import options
from genbench.cli.common import RUNS_DIR_HELP, runs_dir
from genbench.cli.machine import machine_help
from genbench.errors import UsageError

NAME = "run"


def add_parser(sub) -> None:
    r = sub.add_parser(
        NAME,
        help="train a model (headless) or resume a run",
        description="Train a model on a dataset, writing a run folder. "
        "Exit codes: 0 completed, 1 failed, diverged or taken over, "
        "2 usage error, 130 interrupted.",
    )
    r.add_argument(
        "--headless", action="store_true", help="train in this terminal without the workbench UI"
    )
    r.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its checkpoint")
    r.add_argument("--runs-dir", help=f"where runs are written {RUNS_DIR_HELP}")
    options.add_arguments(r, NAME, machine_help())
    out = r.add_mutually_exclusive_group()
    out.add_argument("--quiet", action="store_true", help="print only the final line")
    out.add_argument("--json", action="store_true", help="print one JSON event per line")


def run(args) -> int:
    if args.resume:
        _check_resume_options(args)
    if not args.resume and not (args.model and args.dataset):
        raise UsageError("give --model and --dataset (or --resume RUN_DIR); see `genbench models`")

    from genbench.training import signals

    # From here Ctrl+C, SIGTERM and SIGHUP ask for a stop: during set-up it is held
    # until the trainer takes the run folder, so an interrupt leaves no folder or a
    # resumable one, and never a traceback.
    signals.install()
    # Under torchrun every rank checks the same request: a mistake in it is said by
    # rank 0 alone, and every rank exits 2. What is a rank's own (its variables, its
    # joining the others) each rank says for itself.
    quiet = False
    try:
        from genbench.cli.reporting import JsonReporter, QuietReporter, RichReporter

        if args.json:
            # torch's import takes seconds on a busy machine: the workbench shows this
            # (from the launch log) until set-up says more
            JsonReporter()({"event": "phase", "phase": "starting: importing torch"})
        from genbench.host.threads import ThreadShare, parse_threads
        from genbench.registry import load_registry
        from genbench.training.distributed import check_environment, from_environment

        launch = check_environment()  # torchrun's variables, before anything starts
        quiet = launch.rank != 0
        threads = ThreadShare(parse_threads(args.threads))
        _check_split(args, launch.world)
        threads.apply(force=True)  # before the model and data are built
        registry = load_registry()
        quiet = False
        dist = from_environment(args.device, launch)  # torchrun: one process per rank
        quiet = launch.rank != 0
        report: Callable[[dict], None] = (
            JsonReporter() if args.json else QuietReporter() if args.quiet else RichReporter()
        )
        if not dist.is_main:
            report = QuietReporter(final=False)
        # A closed stdout or stderr (`| head -1`, a dropped terminal) stops the printing only.
        report = signals.GuardedReport(report)
        try:
            code = _train(args, registry, report, dist, threads)
        except BaseException:
            dist.close(finished=False)
            raise
        dist.close()
        return code
    except KeyboardInterrupt as exc:
        _say_stopped(str(exc) or "interrupted")
        return 130
    except UsageError:
        if quiet:
            return 2
        raise
    finally:
        signals.uninstall()


def _check_split(args, world: int) -> None:
    """A new run's batch must split evenly over torchrun's processes: checked before
    they wait for each other."""
    batch = options.DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size
    if world > 1 and not args.resume and batch > 0 and batch % world:
        raise UsageError(
            f"--batch-size {batch} does not split evenly over {world} "
            f"processes; use a multiple of {world}"
        )


def _say_stopped(message: str) -> None:
    try:
        print(f"genbench: {message}", file=sys.stderr, flush=True)
    except OSError:
        pass


def _check_resume_options(args) -> None:
    """--resume honours the options not fixed on resume (genbench.options: --steps,
    --set and --augment, recorded as changes at the resumed step, ...); the rest, and
    the runs folder, are the run's own."""
    fixed = list(options.fixed_on_resume(args))
    if args.runs_dir is not None:
        fixed.append(("--runs-dir", "the folder --resume names"))
    if fixed:
        flag, why = fixed[0]
        raise UsageError(f"{flag} cannot change on --resume: it keeps {why}; drop {flag}")


def _train(args, registry, report, dist, threads=None) -> int:
    # The CLI wires the pieces: the trainer gets its live evaluator from here, so
    # training never imports metrics.
    from genbench.metrics.evaluate import live_evaluator
    from genbench.training.launch import new_run, resume_run

    # What the evaluator has to say (no live checks, and why) waits until the run is
    # set up: a set-up that fails is one line, its error.
    notes: list[str] = []

    def evaluator(dataset, device, seed):
        return live_evaluator(dataset, device, seed, say=notes.append)

    if args.resume:
        trainer = resume_run(
            Path(args.resume),
            registry,
            report,
            evaluator=evaluator,
            request=options.ResumeRequest.from_args(args),
            dist=dist,
            threads=threads,
        )
    else:
        request = options.RunRequest.from_args(args, runs_dir=runs_dir(args.runs_dir))
        trainer = new_run(request, registry, report, dist, evaluator=evaluator, threads=threads)
    for note in notes:
        print(note, file=sys.stderr, flush=True)
    try:
        outcome = trainer.run()
    finally:
        report.close()
    return outcome.exit_code
