"""genbench run: train a model headless, or resume a run.

The CLI wires the pieces here: the trainer gets its live evaluator from this
module, so training never imports metrics.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from genbench.cli.common import RUNS_DIR_HELP, THREADS_HELP, runs_dir, seed
from genbench.defaults import DEFAULTS
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
    r.add_argument("--model", help="model name (see `genbench models`)")
    r.add_argument(
        "--dataset",
        help="dataset name, e.g. ring8, fashion-mnist, folder:PATH (see `genbench datasets`)",
    )
    r.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its checkpoint")
    r.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a hyperparameter of the model (repeatable)",
    )
    r.add_argument("--steps", type=int, help=f"train up to this step (default {DEFAULTS.steps})")
    r.add_argument("--epochs", type=int, help="train this many passes over the dataset")
    # No argparse defaults here: --resume must tell what the user typed from what
    # was left out (the defaults are applied in _train for a new run).
    r.add_argument(
        "--batch-size", type=int, help=f"examples per step (default {DEFAULTS.batch_size})"
    )
    r.add_argument("--seed", type=seed, help=f"random seed (default {DEFAULTS.seed})")
    r.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    r.add_argument("--runs-dir", help=f"where runs are written {RUNS_DIR_HELP}")
    r.add_argument("--name", help="folder name for this run (default: time-model-dataset)")
    r.add_argument(
        "--log-every", type=int, help=f"steps per metrics line (default {DEFAULTS.log_every})"
    )
    r.add_argument(
        "--sample-every", type=int, help=f"steps per sample grid (default {DEFAULTS.sample_every})"
    )
    r.add_argument(
        "--checkpoint-every",
        type=int,
        help=f"steps per checkpoint (default {DEFAULTS.checkpoint_every})",
    )
    r.add_argument(
        "--eval-every",
        type=int,
        help="steps per live sample-quality check into metrics.jsonl: FD and class "
        "coverage of 500 samples, or mode coverage on 2D toys "
        f"(default {DEFAULTS.eval_every}; the last step is always checked)",
    )
    r.add_argument("--threads", metavar="N|auto", help=THREADS_HELP)
    r.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        help="fp32 (default) or bf16 autocast around each step",
    )
    r.add_argument(
        "--data-dir", help="folder searched first for dataset files (default $GENBENCH_DATA)"
    )
    r.add_argument(
        "--image-size",
        type=int,
        metavar="S",
        help="resize images to SxS (default: native size; 64 for folder:PATH)",
    )
    r.add_argument(
        "--augment",
        metavar="OPS",
        help="augment every real training image on the device: a comma list of "
        "flip (left-right mirror; fine for Fashion-MNIST, CIFAR-10 and faces, "
        "wrong for digits and text), translate (shift up to 1/8 of the side), "
        "scale (zoom by up to 10%%), rotate (up to 10 degrees), or default "
        "(flip), or off. The generator learns to draw what it is "
        "shown, shifts and turns included; images only. On --resume: "
        "changed from the resumed step on, recorded in run.json",
    )
    r.add_argument(
        "--subset",
        type=int,
        metavar="N",
        help="train on the first N training examples only (the same N whatever "
        "the seed; at least one batch); evaluation still uses the whole "
        "held-out split",
    )
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
    batch = DEFAULTS.batch_size if args.batch_size is None else args.batch_size
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


# Options a resume cannot honour, and why: the run folder fixes them.
_FIXED_ON_RESUME = {
    "model": "the run's model",
    "dataset": "the run's dataset",
    "name": "the run folder's name",
    "runs_dir": "the folder --resume names",
    "data_dir": "the data folder recorded in the run",
    "image_size": "the run's image size",
    "subset": "the run's training examples (other data would break exact resume)",
    "batch_size": "the run's batch size (another would break exact resume)",
    "seed": "the run's seed (the random streams continue from the checkpoint)",
}


def _check_resume_options(args) -> None:
    """--resume honours --steps/--epochs, --set and --augment (recorded as changes at
    the resumed step), --precision, --device and the intervals; the rest is the run's
    own."""
    for dest, why in _FIXED_ON_RESUME.items():
        if getattr(args, dest, None) is not None:
            flag = "--" + dest.replace("_", "-")
            raise UsageError(f"{flag} cannot change on --resume: it keeps {why}; drop {flag}")


def _train(args, registry, report, dist, threads=None) -> int:
    # The CLI wires the pieces: the trainer gets its live evaluator from here, so
    # training never imports metrics.
    from genbench.metrics.evaluate import live_evaluator
    from genbench.training.launch import ResumeRequest, RunRequest, new_run, resume_run

    if args.resume:
        trainer = resume_run(
            Path(args.resume),
            registry,
            report,
            evaluator=live_evaluator,
            request=ResumeRequest(
                steps=args.steps,
                epochs=args.epochs,
                device=args.device,
                precision=args.precision,
                sets=args.sets,
                log_every=args.log_every,
                sample_every=args.sample_every,
                checkpoint_every=args.checkpoint_every,
                eval_every=args.eval_every,
                augment=args.augment,
            ),
            dist=dist,
            threads=threads,
        )
    else:
        request = RunRequest(
            model=args.model,
            dataset=args.dataset,
            sets=args.sets,
            steps=args.steps,
            epochs=args.epochs,
            batch_size=DEFAULTS.batch_size if args.batch_size is None else args.batch_size,
            seed=DEFAULTS.seed if args.seed is None else args.seed,
            device=args.device,
            runs_dir=runs_dir(args.runs_dir),
            name=args.name,
            log_every=args.log_every,
            sample_every=args.sample_every,
            checkpoint_every=args.checkpoint_every,
            eval_every=args.eval_every,
            precision=args.precision or DEFAULTS.precision,
            data_dir=Path(args.data_dir) if args.data_dir else None,
            image_size=args.image_size,
            augment=args.augment,
            subset=args.subset,
        )
        trainer = new_run(
            request, registry, report, dist, evaluator=live_evaluator, threads=threads
        )
    try:
        outcome = trainer.run()
    finally:
        report.close()
    return outcome.exit_code
