"""genbench sweep: a grid (or a search) of runs over models, settings and seeds.

    genbench sweep --model dcgan,lsgan --set lr=1e-4,2e-4 --seeds 0-2 \\
        --dataset fashion-mnist --steps 2000            # a grid, run here
    genbench sweep study.toml --executor slurm --partition gpu
    genbench sweep --resume ID [--retry-failed]        # start what is missing
    genbench sweep --cancel ID
    genbench sweep show ID [--json]                    # the results table

Its parser is its own (genbench.cli hands it the arguments): the executor's
options (--parallel, --partition, ...) come from the executor plugin, known only
once the plugins are loaded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genbench.cli.common import RUNS_DIR_HELP, Parser, print_json, runs_dir
from genbench.cli.machine import machine_help
from genbench.errors import UsageError

NAME = "sweep"
HELP = "run a grid (or a search) of runs over models, settings and seeds"
DESCRIPTION = (
    "Run members, ordinary runs, over every combination of the values given: each "
    "`genbench run` option once or as a comma list (--model dcgan,lsgan), --set "
    "KEY=V1,V2 (or KEY=LOW..HIGH, KEY=log:LOW..HIGH for random and optuna search) and "
    "--seeds 0-4; or from a TOML file (docs/sweeps.md). Exit codes: 0 every member "
    "completed (or was submitted), 1 some failed, 2 usage error, 130 stopped."
)
CANCEL_FILE = "cancel"  # in RUNS/.sweeps/ID: a running `genbench sweep` stops its members


# Where a run option means more in a sweep than in `genbench run`.
SWEEP_HELP = {
    "sets": "a hyperparameter: KEY=V fixes it, KEY=V1,V2 varies it, KEY=LOW..HIGH or "
    "KEY=log:LOW..HIGH ranges it (random and optuna search); repeatable",
    "threads": "CPU threads of every member (default: the executor's share, e.g. the "
    "local executor splits the cores among --parallel members)",
    "seed": "seeds, like --seeds",
}


def add_parser(sub) -> None:
    """Listed in `genbench --help`; `genbench sweep ...` is parsed by :func:`main`."""
    p = sub.add_parser(NAME, help=HELP, description=DESCRIPTION, add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)


def run(args) -> int:
    return main(list(args.rest))


def main(argv: Sequence[str]) -> int:
    """``genbench sweep``: its flags depend on the executor, so the plugins load first.
    A Ctrl+C before the members start (while plugins load or members are checked)
    ends it quietly, exit 130; once they run, the sweep's own handlers stop them."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("genbench: sweep interrupted before its members started", file=sys.stderr)
        return 130


def _main(argv: Sequence[str]) -> int:
    from genbench.registry import load_registry

    registry = load_registry()
    args = build_parser(registry).parse_args(list(argv))
    if args.spec == "show":
        if not args.show_id:
            raise UsageError("give the sweep to show: genbench sweep show ID")
        from genbench.cli.sweep_show import show

        return show(runs_dir(args.runs_dir), args.show_id, args.json)
    if args.show_id:
        raise UsageError(f"unexpected {args.show_id!r}; give one sweep file")
    if args.cancel:
        return cancel(runs_dir(args.runs_dir), args.cancel, registry)
    if args.resume:
        return resume(args, registry)
    return new(args, registry)


def build_parser(registry) -> Parser:
    from genbench import options
    from genbench.sweep.spec import COMMA_VALUED, sweepable_fields

    p = Parser(prog="genbench sweep", description=DESCRIPTION)
    p.add_argument(
        "spec",
        nargs="?",
        metavar="SWEEP.toml",
        help="a sweep file ([sweep], [run], [set], [executor] tables); or `show ID`",
    )
    p.add_argument("show_id", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--runs-dir", help=f"where members are written {RUNS_DIR_HELP}")
    p.add_argument("--name", help="the sweep's id (default sweep-DATE-TIME); members are ID-NNN")
    p.add_argument("--seeds", help="seeds of every configuration: 0-4, 0,3,7 (default 0)")
    p.add_argument(
        "--search",
        choices=("grid", "random", "optuna"),
        help="grid (default): every combination; random: --trials configurations drawn "
        "from the values and ranges; optuna: Bayesian (TPE) with early stopping "
        "(pip install 'genbench[sweep]')",
    )
    p.add_argument("--trials", type=int, help="configurations to try (random, optuna)")
    p.add_argument("--search-seed", type=int, help="random search's own seed (default 0)")
    p.add_argument(
        "--objective",
        choices=("fd", "coverage"),
        help="what optuna optimises: fd (lower is better, default) or classes/modes covered",
    )
    p.add_argument(
        "--pruner",
        choices=("median", "halving", "none"),
        help="optuna's early stopping on the live evaluations (default median)",
    )
    p.add_argument(
        "--max-members", type=int, help="refuse a sweep of more members than this (default 256)"
    )
    p.add_argument("--dry-run", action="store_true", help="print the members; start nothing")
    p.add_argument("--executor", help="where members run (default local; see --executors)")
    p.add_argument("--executors", action="store_true", help="list the executors and their options")
    p.add_argument(
        "--wait",
        action="store_true",
        help="with a scheduler's executor (slurm): follow the members until they end",
    )
    p.add_argument(
        "--resume",
        metavar="ID",
        help="start the members of sweep ID that are missing, stopped or lost",
    )
    p.add_argument("--retry-failed", action="store_true", help="with --resume: failed members too")
    p.add_argument("--cancel", metavar="ID", help="stop every member of sweep ID (resumable)")
    p.add_argument("--json", action="store_true", help="print one JSON event per line")
    run_opts = p.add_argument_group("run options (each once, or a comma list to vary)")
    for f in sweepable_fields():
        spec = options.meta(f)
        flag = options.flag_of(f)
        how = " (repeat the flag to vary it)" if f.name in COMMA_VALUED else ""
        text = SWEEP_HELP.get(f.name) or spec.help.replace(
            "{default}", str(spec.shown_default or options.default_of(f))
        )
        run_opts.add_argument(
            flag,
            dest=f"run_{f.name}",
            action="append",
            metavar=spec.metavar or "V[,V...]",
            help=text + how,
        )
    for entry in sorted(registry.executors.values(), key=lambda e: e.name):
        group = p.add_argument_group(f"{entry.name} executor options")
        for opt in entry.cls.options:
            group.add_argument(
                opt.flag, dest=f"x_{opt.key}", type=opt.type, metavar=opt.metavar, help=opt.help
            )
    return p


# -- a new sweep ------------------------------------------------------------------------


def new(args, registry) -> int:
    if args.executors:
        return _list_executors(registry)
    from genbench.sweep.build import build, read_toml
    from genbench.sweep.record import SweepLock, SweepRecord, check_id, new_sweep_id

    toml = read_toml(Path(args.spec)) if args.spec else None
    run_flags = {
        name[4:]: value for name, value in vars(args).items() if name.startswith("run_") and value
    }
    sets = run_flags.pop("sets", [])
    how = {
        k: v
        for k, v in {
            "name": args.name,
            "seeds": args.seeds,
            "search": args.search,
            "trials": args.trials,
            "search_seed": args.search_seed,
            "objective": args.objective,
            "pruner": args.pruner,
            "max_members": args.max_members,
            "executor": args.executor,
        }.items()
        if v is not None
    }
    request = build(toml, run_flags, sets, how, where=args.spec or "the sweep")
    entry = registry.executor(request.executor)
    settings = _settings(entry, request.settings, args)
    root = runs_dir(args.runs_dir)
    sweep_id = check_id(request.name or new_sweep_id())
    points = request.spec.grid_points() if request.spec.search != "optuna" else []
    record = SweepRecord(
        id=sweep_id,
        spec=request.spec,
        executor=entry.name,
        settings=settings,
        members=_members(sweep_id, request.spec, points),
    )
    if request.spec.search == "optuna":  # its points come as it runs: check their bounds
        _check_members(
            SweepRecord(
                sweep_id,
                request.spec,
                members=_members(sweep_id, request.spec, request.spec.probe_points()),
            ),
            registry,
            root,
            what="the search's point",
        )
    _check_members(record, registry, root)
    _executor(entry, SweepRecord.folder(root, sweep_id), settings)  # its settings, checked
    if args.dry_run:
        return _print_plan(record, entry, args.json)
    if record.spec.search == "optuna":  # missing: one line, before the sweep's folder is made
        from genbench.sweep.optuna_search import require_optuna

        require_optuna()
    from datetime import datetime

    from genbench.runfolder.runs import check_writable

    check_writable(root)
    folder = SweepRecord.folder(root, sweep_id)
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        raise UsageError(
            f"a sweep {sweep_id!r} exists in {root}; pick another --name, or "
            f"`genbench sweep --resume {sweep_id}`"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot create {folder}: {exc.strerror}") from None
    record.created = datetime.now().isoformat(timespec="seconds")
    record.write(root)
    with SweepLock(folder).acquire(sweep_id):
        return _drive(root, record, entry, args, fresh=True)


def _members(sweep_id: str, spec, points: list[dict[str, Any]]):
    from genbench.sweep.record import MemberRecord

    width = max(3, len(str(len(points) - 1)))
    return [
        MemberRecord(f"{sweep_id}-{i:0{width}d}", point, spec.run_args(point))
        for i, point in enumerate(points)
    ]


def _settings(entry, given: dict[str, Any], args) -> dict[str, Any]:
    """The executor's settings: the file's [executor] table overlaid by its flags."""
    known = {opt.key: opt for opt in entry.cls.options}
    unknown = sorted(set(given) - set(known))
    if unknown:
        valid = ", ".join(sorted(known)) or "none"
        raise UsageError(
            f"executor {entry.name!r} has no option {unknown[0]!r}; its options: {valid}"
        )
    for other in vars(args):
        if other.startswith("x_") and getattr(args, other) is not None:
            key = other[2:]
            if key not in known:
                raise UsageError(
                    f"--{key.replace('_', '-')} is an option of another executor, "
                    f"not of {entry.name!r} (see `genbench sweep --executors`)"
                )
            given[key] = getattr(args, other)
    return {k: given.get(k, opt.default) for k, opt in known.items()}


def _check_members(record, registry, root: Path, what: str = "") -> None:
    """Every member's request checked as `genbench run` would (the model takes its
    values, the dataset is here, ...) before anything starts: the first problem, with
    the member and its point, is the one line."""
    from genbench.runfolder.runs import check_runs_dir
    from genbench.training.launch import check_request

    check_runs_dir(root)
    seen: set[tuple[str, ...]] = set()
    for m in record.members:
        if tuple(m.args) in seen:  # the same flags: checked once
            continue
        seen.add(tuple(m.args))
        try:
            check_request(_request(m.args, root), registry)
        except UsageError as exc:
            point = " ".join(f"{k}={v}" for k, v in m.point.items())
            raise UsageError(f"{what or 'member ' + m.name} ({point}): {exc}") from None
    if what:  # points of a search: they have no folders of their own
        return
    for m in record.members:
        if (root / m.name).exists():
            raise UsageError(f"{root / m.name} exists; pick another sweep --name")


def _request(args: list[str], root: Path):
    """A member's flags as the RunRequest `genbench run` would build from them."""
    from genbench import options

    p = Parser(prog="genbench run")
    options.add_arguments(p, "run", machine_help())
    return options.RunRequest.from_args(p.parse_args(args), runs_dir=root)


def _print_plan(record, entry, as_json: bool) -> int:
    spec = record.spec
    if as_json:
        print_json(
            {
                "id": record.id,
                "executor": entry.name,
                "settings": record.settings,
                "shape": spec.shape(),
                "members": [
                    {"name": m.name, "point": m.point, "args": m.args} for m in record.members
                ],
            }
        )
        return 0
    if spec.search == "optuna":
        print(
            f"sweep {record.id}: {spec.shape()} by optuna ({spec.objective}, pruner "
            f"{spec.pruner}) over " + "; ".join(a.describe() for a in spec.axes)
        )
        print(f"fixed: {' '.join(spec.run_args({'seed': spec.seeds[0]}))}")
        return 0
    print(
        f"sweep {record.id}: {len(record.members)} members ({spec.shape()}), executor {entry.name}"
    )
    for m in record.members:
        print(f"  {m.name}  " + " ".join(m.args))
    return 0


def _list_executors(registry) -> int:
    for entry in sorted(registry.executors.values(), key=lambda e: e.name):
        plugin = "built in" if entry.plugin.builtin else f"plugin {entry.plugin.distribution}"
        print(f"{entry.name}: {entry.cls.summary} ({plugin})")
        for opt in entry.cls.options:
            print(f"  {opt.flag} {opt.metavar or opt.type.__name__.upper()}  {opt.help}")
    return 0


# -- running it ---------------------------------------------------------------------------


def _executor(entry, folder: Path, settings: dict[str, Any]):
    """The executor with these settings, or the one line saying what is wrong with them
    (checked before a new sweep makes anything)."""
    from genbench.executor import ExecutorError

    try:
        return entry.cls(folder, settings)
    except ExecutorError as exc:
        raise UsageError(f"executor {entry.name}: {exc}") from None


def _drive(root: Path, record, entry, args, fresh: bool, retry_failed: bool = False) -> int:
    from genbench.sweep.driver import StopFlag, catch_stops, restore_stops
    from genbench.sweep.record import SweepRecord

    folder = SweepRecord.folder(root, record.id)
    (folder / CANCEL_FILE).unlink(missing_ok=True)
    executor = _executor(entry, folder, record.settings)
    say = _reporter(args.json)
    if record.spec.search == "optuna":
        from genbench.sweep.optuna_search import run_optuna

        return run_optuna(root, record, executor, say, cancel_file=folder / CANCEL_FILE)
    stop = StopFlag()
    previous = catch_stops(stop)  # a stop from here on is the driver's to answer
    try:
        return _run_plan(root, record, entry, executor, say, stop, args, fresh, retry_failed)
    finally:
        restore_stops(previous)


def _run_plan(root: Path, record, entry, executor, say, stop, args, fresh, retry_failed) -> int:
    from genbench.executor import ExecutorError
    from genbench.sweep.driver import Driver, plan_members, summary
    from genbench.sweep.record import SweepRecord

    folder = SweepRecord.folder(root, record.id)
    plan = plan_members(root, record, retry_failed=retry_failed, fresh=fresh, executor=executor)
    for name, why in plan.left:
        say({"event": "left", "member": name, "why": why})
    say(
        {
            "event": "sweep",
            "id": record.id,
            "starting": len(plan.start),
            "members": len(record.members),
            "executor": entry.name,
            "capacity": executor.capacity(),
        }
    )
    record.state = "running"
    record.write(root)
    try:
        state = Driver(root, record, executor, say, stop, cancel_file=folder / CANCEL_FILE).run(
            plan, follow=args.wait or not executor.detached
        )
    except ExecutorError as exc:
        record.state = "stopped"
        record.write(root)
        raise UsageError(f"executor {entry.name}: {exc}") from None
    cancelled = (folder / CANCEL_FILE).exists()
    record.state = "cancelled" if cancelled and state == "stopped" else state
    record.write(root)
    return summary(root, record, say)


def _reporter(as_json: bool):
    from genbench.cli.sweep_show import SweepReporter

    return SweepReporter(as_json)


# -- resume and cancel ---------------------------------------------------------------------


def resume(args, registry) -> int:
    from genbench.sweep.record import SweepLock, SweepRecord

    root = runs_dir(args.runs_dir)
    record = SweepRecord.read(root, args.resume)
    entry = registry.executor(record.executor)
    given = {k[2:]: v for k, v in vars(args).items() if k.startswith("x_") and v is not None}
    if given:  # a resume may change how members run (--parallel, --partition, ...)
        record.settings = _settings(entry, {**record.settings, **given}, argparse.Namespace())
    with SweepLock(SweepRecord.folder(root, record.id)).acquire(record.id):
        return _drive(root, record, entry, args, fresh=False, retry_failed=args.retry_failed)


def cancel(root: Path, sweep_id: str, registry) -> int:
    """Stop every member of a sweep: its running `genbench sweep` (if any) is told
    through the cancel file, each job the executor queued or runs is cancelled, and
    each running member is asked to stop through its run folder. Members stay
    resumable: `--resume` starts them again."""
    from genbench.runfolder.runs import write_atomic
    from genbench.runfolder.stop import ask_to_stop
    from genbench.sweep.record import SweepRecord
    from genbench.sweep.results import member_results

    record = SweepRecord.read(root, sweep_id)
    folder = SweepRecord.folder(root, record.id)
    write_atomic(folder / CANCEL_FILE, b"cancelled\n")  # never through a link at its name
    results = member_results(root, record)
    handles = [
        m.handle
        for m, r in zip(record.members, results, strict=True)
        if m.handle and r.status in ("running", "missing")
    ]
    entry = registry.executor(record.executor)
    if handles:
        from genbench.executor import ExecutorError

        try:
            _executor(entry, folder, record.settings).cancel(handles)
        except ExecutorError as exc:
            raise UsageError(f"executor {entry.name}: {exc}") from None
    running = [r for r in results if r.status == "running"]
    for r in running:
        ask_to_stop(root / r.name, f"sweep {record.id} cancelled")
    record.state = "cancelled"
    record.write(root)
    print(
        f"sweep {record.id} cancelled: {len(running)} running member(s) asked to stop, "
        f"{len(handles)} job(s) cancelled; `genbench sweep --resume {record.id}` starts them again"
    )
    return 0
