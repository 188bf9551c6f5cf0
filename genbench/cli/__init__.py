"""The command line: parse, call, print.

Heavy imports (torch, the plugins, Textual) happen inside the commands that need
them, so ``genbench --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from genbench import __version__
from genbench.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line (no usage dump) with exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _runs_dir(value: str | None) -> Path:
    from genbench.runs import default_runs_dir

    return Path(value) if value else default_runs_dir()


def _seed(text: str) -> int:
    """--seed: a whole number torch can seed with (genbench.config.SEED_MAX)."""
    from genbench.config import SEED_MAX

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text[:40]!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text[:40]} is not a valid seed; give a whole "
                                         f"number from 0 to {SEED_MAX} (2**63-1)")
    return value


def build_parser() -> Parser:
    p = Parser(prog="genbench", description="A terminal workbench for generative image models.")
    p.add_argument("--version", action="version", version=f"genbench {__version__}")
    # Its own dest: a subcommand's --runs-dir default would overwrite a shared one.
    p.add_argument("--runs-dir", dest="app_runs_dir", metavar="DIR",
                   help="runs folder the workbench opens (default ./runs or $GENBENCH_RUNS); "
                        "`genbench` with no command opens the workbench")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    m = sub.add_parser("models", help="list installed model plugins")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")

    n = sub.add_parser("new-plugin", help="write a new model plugin package to start from",
                       description="Write an installable model plugin package (pyproject.toml "
                                   "with the genbench entry point, a working model, a README "
                                   "and a test) into DIR, then pip install -e it.")
    n.add_argument("name", metavar="NAME",
                   help="distribution name, e.g. genbench-mygan (its model is then 'mygan')")
    n.add_argument("--dir", help="folder to write, new or empty (default ./NAME)")

    r = sub.add_parser("run", help="train a model (headless) or resume a run",
                       description="Train a model on a dataset, writing a run folder. "
                                   "Exit codes: 0 completed, 1 failed or diverged, "
                                   "2 usage error, 130 interrupted.")
    r.add_argument("--headless", action="store_true",
                   help="train in this terminal without the workbench UI")
    r.add_argument("--model", help="model name (see `genbench models`)")
    r.add_argument("--dataset", help="dataset name, e.g. ring8, fashion-mnist, folder:PATH "
                                     "(see `genbench datasets`)")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its checkpoint")
    r.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="set a hyperparameter of the model (repeatable)")
    r.add_argument("--steps", type=int, help="train up to this step (default 2000)")
    r.add_argument("--epochs", type=int, help="train this many passes over the dataset")
    # No argparse defaults here: --resume must tell what the user typed from what
    # was left out (the defaults are applied in _train for a new run).
    r.add_argument("--batch-size", type=int, help="examples per step (default 64)")
    r.add_argument("--seed", type=_seed, help="random seed (default 0)")
    r.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    r.add_argument("--runs-dir", help="where runs are written (default ./runs or $GENBENCH_RUNS)")
    r.add_argument("--name", help="folder name for this run (default: time-model-dataset)")
    r.add_argument("--log-every", type=int, help="steps per metrics line (default 50)")
    r.add_argument("--sample-every", type=int, help="steps per sample grid (default 500)")
    r.add_argument("--checkpoint-every", type=int, help="steps per checkpoint (default 1000)")
    r.add_argument("--eval-every", type=int,
                   help="steps per live sample-quality check into metrics.jsonl: FD and class "
                        "coverage of 500 samples, or mode coverage on 2D toys (default 500; "
                        "the last step is always checked)")
    r.add_argument("--threads", metavar="N|auto",
                   help="CPU threads (default auto: this process's CPUs, from affinity, cgroup "
                        "quota, SLURM_CPUS_PER_TASK or OMP_NUM_THREADS, shared among the "
                        "genbench trainers on this host)")
    r.add_argument("--precision", choices=("fp32", "bf16"),
                   help="fp32 (default) or bf16 autocast around each step")
    r.add_argument("--data-dir", help="folder searched first for dataset files "
                                      "(default $GENBENCH_DATA)")
    r.add_argument("--image-size", type=int, metavar="S",
                   help="resize images to SxS (default: native size; 64 for folder:PATH)")
    out = r.add_mutually_exclusive_group()
    out.add_argument("--quiet", action="store_true", help="print only the final line")
    out.add_argument("--json", action="store_true", help="print one JSON event per line")

    e = sub.add_parser("eval", help="measure sample quality of a run's last checkpoint",
                       description="Draw samples from the run's last checkpoint and measure "
                                   "them against the dataset's test split in the feature space "
                                   "of genbench's own classifier (FD, KID, precision, recall, "
                                   "class coverage; on 2D toys, modes covered and high-quality "
                                   "share). Writes RUN_DIR/eval.json.")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("-n", "--samples", type=int,
                   help="samples to draw (default 10000 for images, 2500 for 2D toys)")
    e.add_argument("--seed", type=_seed, default=0, help="seed of the samples (default 0)")
    e.add_argument("--device", help="auto (default: the run's device if here), cpu, cuda, ...")
    e.add_argument("--inception", action="store_true",
                   help="add Inception FID (needs pytorch-fid or torch-fidelity with its "
                        "weights already downloaded)")
    e.add_argument("--json", action="store_true", help="print eval.json instead of a table")

    ls = sub.add_parser("runs", help="table of runs in the runs folder")
    ls.add_argument("--runs-dir", help="runs folder (default ./runs or $GENBENCH_RUNS)")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    s = sub.add_parser("show", help="summary and sample preview of one run")
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("--json", action="store_true", help="print run.json and the last metrics")

    w = sub.add_parser("watch", help="open the workbench on one run (live chart and samples)")
    w.add_argument("run_dir", metavar="RUN_DIR")

    b = sub.add_parser("bench", help="measure training speed (images/s) per model",
                       description="Time training steps after a warm-up and print images/s "
                                   "per model, with device, torch version and precision.")
    b.add_argument("--model", dest="models", action="append", metavar="M",
                   help="model to measure (repeatable; default: every installed model)")
    b.add_argument("--dataset", help="dataset (default: fashion-mnist for image models, "
                                     "ring8 for points-only ones)")
    b.add_argument("--batch-size", type=int, default=64, help="examples per step (default 64)")
    b.add_argument("--image-size", type=int, metavar="S", help="resize images to SxS")
    b.add_argument("--data-dir", help="folder searched first for dataset files")
    b.add_argument("--steps", type=int, default=50, help="timed steps (default 50)")
    b.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    b.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    b.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    b.add_argument("--threads", metavar="N|auto",
                   help="CPU threads (default auto: this process's CPUs, from affinity, cgroup "
                        "quota, SLURM_CPUS_PER_TASK or OMP_NUM_THREADS, shared among the "
                        "genbench trainers on this host)")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")

    d = sub.add_parser("datasets", help="list datasets and whether they are available here")
    d.add_argument("--json", action="store_true", help="print JSON instead of a table")
    d.add_argument("--data-dir", help="folder searched first (default $GENBENCH_DATA)")
    d.add_argument("--download", metavar="NAME",
                   help="download NAME with torchvision into --data-dir or the user data "
                        "folder (needs a network)")
    return p


def _strict(obj):
    """``obj`` with every NaN or infinity replaced by None, so it prints as JSON."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def _print_json(obj) -> None:
    """Every --json output: strict JSON (no NaN or Infinity, which parsers reject)."""
    print(json.dumps(_strict(obj), indent=2, allow_nan=False))


# -- commands ------------------------------------------------------------------

def cmd_models(args) -> int:
    from genbench.registry import load_registry

    registry = load_registry()
    entries = sorted(registry.models.values(), key=lambda e: (not e.plugin.builtin, e.name))
    conflicts = [e for group in registry.conflicts.values() for e in group]
    if args.json:
        _print_json({
            "models": [e.describe() for e in entries],
            "conflicts": [e.describe() for e in conflicts],
            "broken": [b.describe() for b in registry.broken]})
        return 0

    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Models", title_justify="left")
    for col in ("name", "title", "data", "conditional", "plugin"):
        table.add_column(col)
    for e in entries:
        d = e.describe()
        origin = "built-in" if d["builtin"] else f"{d['distribution']} {d['version']}"
        table.add_row(d["name"], d["title"], ", ".join(d["kinds"]),
                      "yes" if d["conditional"] else "no", origin)
    for e in conflicts:
        d = e.describe()
        table.add_row(f"[red]{d['name']}[/]", f"[red]name claimed twice, not loaded[/]",
                      ", ".join(d["kinds"]), "yes" if d["conditional"] else "no",
                      f"{d['distribution']} {d['version']}")
    console.print(table)
    for b in registry.broken:
        console.print(f"[red]broken plugin[/] {b.plugin.name} "
                      f"({b.plugin.distribution} {b.plugin.version}): {b.error}",
                      highlight=False, markup=True)
    return 0


def cmd_run(args) -> int:
    if args.resume:
        _check_resume_options(args)
    if not args.resume and not (args.model and args.dataset):
        raise UsageError("give --model and --dataset (or --resume RUN_DIR); "
                         "see `genbench models`")

    from genbench.training import signals

    # From here Ctrl+C, SIGTERM and SIGHUP ask for a stop: during set-up it is held
    # until the trainer takes the run folder, so an interrupt leaves no folder or a
    # resumable one, and never a traceback.
    signals.install()
    try:
        from genbench.registry import load_registry
        from genbench.reporting import JsonReporter, QuietReporter, RichReporter
        from genbench.training.distributed import from_environment

        from genbench.threads import ThreadShare, parse_threads

        threads = ThreadShare(parse_threads(args.threads))
        threads.apply(force=True)        # before the model and data are built
        registry = load_registry()
        dist = from_environment(args.device)     # torchrun: one process per rank
        report = JsonReporter() if args.json else QuietReporter() if args.quiet \
            else RichReporter()
        if not dist.is_main:
            report = QuietReporter(final=False)
        # A closed stdout or stderr (`| head -1`, a dropped terminal) stops the printing only.
        report = signals.GuardedReport(report)
        try:
            return _train(args, registry, report, dist, threads)
        finally:
            dist.close()
    except KeyboardInterrupt as exc:
        _say_stopped(str(exc) or "interrupted")
        return 130
    finally:
        signals.uninstall()


def _say_stopped(message: str) -> None:
    try:
        print(f"genbench: {message}", file=sys.stderr, flush=True)
    except OSError:
        pass


# Options a resume cannot honour, and why: the run folder fixes them.
_FIXED_ON_RESUME = {
    "model": "the run's model", "dataset": "the run's dataset",
    "name": "the run folder's name", "runs_dir": "the folder --resume names",
    "data_dir": "the data folder recorded in the run",
    "image_size": "the run's image size",
    "batch_size": "the run's batch size (another would break exact resume)",
    "seed": "the run's seed (the random streams continue from the checkpoint)",
}


def _check_resume_options(args) -> None:
    """--resume honours --steps/--epochs, --set (recorded as a change at the resumed
    step), --precision, --device and the intervals; the rest is the run's own."""
    for dest, why in _FIXED_ON_RESUME.items():
        if getattr(args, dest, None) is not None:
            flag = "--" + dest.replace("_", "-")
            raise UsageError(f"{flag} cannot change on --resume: it keeps {why}; drop {flag}")


def _train(args, registry, report, dist, threads=None) -> int:
    # The CLI wires the pieces: the trainer gets its live evaluator from here, so
    # training never imports metrics.
    from genbench.metrics.evaluate import live_evaluator
    from genbench.training.launch import (DEFAULT_BATCH, ResumeRequest, RunRequest, new_run,
                                          resume_run)

    if args.resume:
        trainer = resume_run(Path(args.resume), registry, report, evaluator=live_evaluator,
                             request=ResumeRequest(
            steps=args.steps, epochs=args.epochs, device=args.device,
            precision=args.precision, sets=args.sets, log_every=args.log_every,
            sample_every=args.sample_every, checkpoint_every=args.checkpoint_every,
            eval_every=args.eval_every), dist=dist)
    else:
        request = RunRequest(
            model=args.model, dataset=args.dataset, sets=args.sets, steps=args.steps,
            epochs=args.epochs,
            batch_size=DEFAULT_BATCH if args.batch_size is None else args.batch_size,
            seed=0 if args.seed is None else args.seed,
            device=args.device, runs_dir=_runs_dir(args.runs_dir), name=args.name,
            log_every=args.log_every, sample_every=args.sample_every,
            checkpoint_every=args.checkpoint_every, eval_every=args.eval_every,
            precision=args.precision or "fp32",
            data_dir=Path(args.data_dir) if args.data_dir else None,
            image_size=args.image_size)
        trainer = new_run(request, registry, report, dist, evaluator=live_evaluator)
    trainer.threads = threads
    try:
        outcome = trainer.run()
    finally:
        report.close()
    return outcome.exit_code


def cmd_runs(args) -> int:
    from genbench.reporting import format_losses
    from genbench.runs import list_runs

    root = _runs_dir(args.runs_dir)
    runs = list_runs(root)
    if args.json:
        _print_json([r.describe() for r in runs])
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from rich.text import Text

    from genbench.untrusted import clean_text

    console = Console()
    if not runs:
        console.print(Text(f"no runs in {clean_text(root, 1000)}; start one with "
                           "`genbench run --headless --model gan --dataset ring8`"))
        return 0
    # Every string from a run folder (its name too) goes in as Text, cleaned of
    # control characters: never as markup, never as raw escapes.
    table = Table(title=Text(f"Runs in {clean_text(root, 1000)}"), title_justify="left",
                  box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    # One line a run: on a narrow terminal the losses and speed give way (`genbench
    # show RUN` has them) rather than every column wrapping into a tower.
    narrow = console.width < 110
    columns = ("id", "model", "dataset", "status", "step", "losses", "img/s", "FD", "coverage")
    shown = [c for c in columns if not (narrow and c in ("losses", "img/s"))]
    ids = {r.path: clean_text(r.id) for r in runs}
    longest_id = max(len(i) for i in ids.values())
    for col in shown:
        table.add_column(col, no_wrap=col != "losses", justify="right" if col in (
            "step", "img/s", "FD") else "left",
            # the id is what every other command takes: never cut it short
            min_width=min(longest_id, console.width // 2) if col == "id" else None)
    colours = {"running": "cyan", "completed": "green", "stopped": "yellow", "lost": "magenta"}
    live = False
    unreadable = []
    for r in runs:
        if r.error:
            # The start of the reason in the row, the whole line under the table.
            unreadable.append(r)
            table.add_row(*_pick(shown, columns, [
                Text(ids[r.path]), "", "", Text("unreadable", "red"), "",
                Text(clean_text(r.error, 300), no_wrap=True, overflow="ellipsis"),
                "", "", ""]))
            continue
        st = Text(clean_text(r.status, 20), colours.get(r.status, "red"))
        step = f"{r.step}/{r.steps}" if r.steps else str(r.step)
        speed = f"{r.img_per_s:,.0f}" if isinstance(r.img_per_s, (int, float)) else ""
        # A live FD (few samples) reads higher than eval.json's: mark it.
        mark = "*" if r.quality_source == "live" else ""
        live = live or bool(mark and (r.fd is not None or r.coverage))
        fd = f"{r.fd:.2f}{mark}" if r.fd is not None else ""
        cov = f"{r.coverage[0]}/{r.coverage[1]}{mark}" if r.coverage else ""
        cov = Text(f"{cov} collapse", "red") if r.collapse and cov else Text(cov)
        table.add_row(*_pick(shown, columns, [Text(ids[r.path]), Text(clean_text(r.model)),
                                              Text(clean_text(r.dataset)), st, Text(step),
                                              Text(format_losses(r.losses)), Text(speed),
                                              Text(fd), cov]))
    console.print(table)
    for r in unreadable:
        console.print(Text.assemble((ids[r.path], "red"), f": {clean_text(r.error, 500)}"),
                      highlight=False)
    if narrow:
        console.print("losses and img/s: a wider terminal, or `genbench show RUN`",
                      style="dim", highlight=False)
    if live:
        console.print("* live estimate from the trainer's last check (few samples); "
                      "`genbench eval RUN` measures 10,000", highlight=False)
    return 0


def _pick(shown: list[str], columns: tuple[str, ...], cells: list) -> list:
    return [cell for col, cell in zip(columns, cells) if col in shown]


def cmd_eval(args) -> int:
    from genbench.metrics.run_eval import evaluate_run, table_rows
    from genbench.registry import load_registry

    from genbench.training.launch import restore_model

    registry = load_registry()
    record = evaluate_run(Path(args.run_dir),
                          lambda run_dir: restore_model(run_dir, registry, args.device),
                          n=args.samples, seed=args.seed, inception=args.inception)
    if args.json:
        _print_json(record)
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    clf = record.get("classifier")
    title = f"{record['run']}: {record['model']} on {record['dataset']} at step {record['step']}"
    table = Table(title=title, title_justify="left")
    for col in ("metric", "value", "measured on"):
        table.add_column(col)
    for row in table_rows(record):
        table.add_row(*row)
    console.print(table)
    if clf:
        console.print(f"features: classifier {clf['id']} (test accuracy "
                      f"{clf['test_accuracy']:.2%}); not comparable with Inception FID",
                      highlight=False)
    if record["summary"].get("warning"):
        console.print(f"[red]{record['summary']['warning']}[/]", highlight=False)
    console.print(f"wrote {Path(args.run_dir) / 'eval.json'}", highlight=False, soft_wrap=True)
    return 0


def cmd_show(args) -> int:
    from genbench import preview
    from genbench.reporting import format_losses
    from genbench.runs import LATEST_SAMPLE, read_run_json, summarize

    run_dir = Path(args.run_dir)
    meta = read_run_json(run_dir)
    summary = summarize(run_dir)
    if args.json:
        _print_json({"run": meta.to_dict(), "summary": summary.describe()})
        return 0
    from rich.console import Console

    from rich.text import Text

    from genbench.untrusted import UnreadableFile, clean_text as clean

    # Every string from the run folder is shown as Text with control characters
    # removed: `[/]` in run.json is printed, never parsed; no escape reaches the terminal.
    console = Console()
    console.print(Text.assemble(
        (clean(summary.id), "bold"), f"  {clean(summary.model)} on {clean(summary.dataset)}  ",
        (clean(summary.status), "bold"), f" at step {summary.step}"
        + (f"/{summary.steps}" if summary.steps else "")), highlight=False)
    if summary.message:
        console.print(Text(clean(summary.message, 2000)), highlight=False)
    plugin = meta.plugin
    console.print(Text(clean(f"plugin {plugin.distribution if plugin else '?'} "
                             f"{plugin.version if plugin else ''}  "
                             f"device {meta.device}  seed {meta.seed}  "
                             f"batch {meta.batch_size}", 1000)), highlight=False)
    config = meta.config
    if config:
        console.print(Text("config " + "  ".join(f"{clean(k, 60)}={clean(v, 200)}"
                                                 for k, v in config.items())), highlight=False)
    if summary.losses:
        speed = f"  {summary.img_per_s:,.0f} img/s" if summary.img_per_s else ""
        console.print(Text(f"last losses {format_losses(summary.losses)}{speed}"),
                      highlight=False)
    if summary.fd is not None or summary.coverage:
        parts = [f"FD {summary.fd:.3f}"] if summary.fd is not None else []
        if summary.coverage:
            parts.append(f"coverage {summary.coverage[0]}/{summary.coverage[1]}")
        where = "eval.json" if summary.quality_source == "eval.json" else "live check"
        if summary.quality_samples:
            where += f", {summary.quality_samples:,} samples"
        console.print(Text.assemble(f"quality {'  '.join(parts)} ({where})",
                                    ("  mode collapse" if summary.collapse else "", "red")),
                      highlight=False)
    latest = run_dir / LATEST_SAMPLE
    colour = console.color_system in ("truecolor", "256")
    try:
        # Decoded under a pixel budget, from a regular file of this run folder only.
        grid = preview.render_png(latest, max_cols=min(64, console.width - 2), max_rows=20,
                                  color=colour, run_dir=run_dir)
    except FileNotFoundError:
        console.print("no samples yet", highlight=False)
    except (UnreadableFile, OSError, ValueError) as exc:
        console.print(Text.assemble(("samples unreadable", "red"), f": {clean(exc, 500)}"),
                      highlight=False)
    else:
        console.print(grid)
        console.print(Text(f"samples: {clean(latest, 1000)}"), highlight=False, soft_wrap=True)
    return 0


def cmd_app(args) -> int:
    from genbench.tui.app import run_app   # Textual loads only when the app opens

    return run_app(_runs_dir(args.app_runs_dir))


def cmd_watch(args) -> int:
    from genbench.runs import read_run_json

    run_dir = Path(args.run_dir)
    read_run_json(run_dir)   # a clear one-line error before the screen takes over
    from genbench.tui.app import run_app

    return run_app(run_dir.parent, watch=run_dir)


def cmd_datasets(args) -> int:
    # genbench.data reads file headers only: no torch for a listing.
    from genbench.data import FOLDER_PREFIX, list_datasets

    if args.download:
        from genbench.data import get_dataset
        from genbench.data.download import download

        root = download(args.download, Path(args.data_dir) if args.data_dir else None)
        found = get_dataset(args.download, data_dir=args.data_dir).availability()
        print(f"{args.download}: downloaded into {root}; "
              + (f"found in {found.where}" if found.ok else "but not found there afterwards"))
        return 0 if found.ok else 1

    rows = [d.describe() for d in list_datasets(data_dir=args.data_dir)]
    if args.json:
        _print_json({"datasets": rows})
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title="Datasets", title_justify="left")
    for col in ("name", "kind", "shape", "classes", "size", "here"):
        table.add_column(col, no_wrap=True)
    table.add_column("where", overflow="fold", ratio=1)
    for d in rows:
        table.add_row(d["name"], d["kind"], "x".join(map(str, d["shape"])),
                      str(d["classes"] or ""), f"{d['size']:,}" if d["size"] else "-",
                      "[green]yes[/]" if d["available"] else "[red]no[/]",
                      escape(d["where"]) if d["available"] else "[red]not found[/] (below)")
    console.print(table)
    for d in rows:   # long paths and hints read better as lines than in a cell
        if not d["available"]:
            console.print(f"[bold]{d['name']}[/]: looked in {escape(d['where'])}; "
                          f"{escape(d['how'])}", highlight=False)
    console.print(f"Also {FOLDER_PREFIX}PATH: any folder of images (one sub-folder per class "
                  "gives labels), resized and centre-cropped to --image-size (default 64).",
                  highlight=False)
    return 0


def cmd_new_plugin(args) -> int:
    from genbench.scaffold import create_plugin

    names, target, files = create_plugin(args.name, Path(args.dir) if args.dir else None)
    where = os.path.relpath(target)
    print(f"created {names.distribution} in {where}: model {names.model!r}, "
          f"class {names.cls} in src/{names.package}/model.py")
    for rel in files:
        print(f"  {rel}")
    print("next:")
    if where != ".":
        print(f"  cd {where}")
    print("  pip install -e .     # offline: pip install --no-build-isolation -e .")
    print("  genbench models")
    print(f"  genbench run --headless --model {names.model} --dataset ring8 --steps 2000")
    print("  pytest               # the contract check and a short headless run")
    return 0


def cmd_bench(args) -> int:
    from genbench.registry import load_registry
    from genbench.training.bench import run_bench
    from genbench.training.launch import positive

    for flag, value in (("--batch-size", args.batch_size), ("--steps", args.steps),
                        ("--image-size", args.image_size)):
        positive(value, flag)
    if args.warmup < 0:
        raise UsageError(f"--warmup must be 0 or more, got {args.warmup}")
    from genbench.threads import ThreadShare, parse_threads

    ThreadShare(parse_threads(args.threads)).apply(force=True)
    report = run_bench(load_registry(), args.models, args.dataset, args.batch_size, args.steps,
                       args.warmup, args.device, args.precision, args.image_size, args.data_dir)
    if args.json:
        _print_json(report)
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Training speed on {report['device_name']} ({report['device']}), "
                        f"torch {report['torch']}, {report['precision']}, "
                        f"fast path {'on' if report['fast_path'] else 'off (eager)'}",
                  title_justify="left")
    for col in ("model", "dataset", "shape", "batch", "img/s", "ms/step"):
        table.add_column(col, justify="right" if col in ("batch", "img/s", "ms/step") else "left")
    for r in report["results"]:
        shape = "x".join(map(str, r["shape"]))
        if r["skipped"]:
            table.add_row(r["model"], r["dataset"], shape, str(r["batch_size"]),
                          "-", f"[dim]{r['skipped']}[/]")
        else:
            table.add_row(r["model"], r["dataset"], shape, str(r["batch_size"]),
                          f"{r['img_per_s']:,.0f}", f"{r['ms_per_step']:.2f}")
    console.print(table)
    return 0


COMMANDS = {"models": cmd_models, "new-plugin": cmd_new_plugin,
            "run": cmd_run, "runs": cmd_runs, "eval": cmd_eval, "show": cmd_show,
            "watch": cmd_watch, "datasets": cmd_datasets, "bench": cmd_bench}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            return cmd_app(args)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        from genbench.untrusted import clean_text

        # The message may quote a run folder's contents or a path: no escapes reach
        # the terminal, and it stays one line.
        print(f"genbench: error: {clean_text(str(exc), 2000)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `genbench runs | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
