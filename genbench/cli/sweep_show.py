"""What `genbench sweep` prints while it runs, and `genbench sweep show ID`: a
sweep's results table, one row a configuration, mean ± std over its seeds, best
first (or as JSON for scripts)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from genbench.cli.common import print_json

# -- while a sweep runs -----------------------------------------------------------------


class SweepReporter:
    """One line an event (JSON with --json); on a terminal, also a status line below
    them with the queue's progress. A closed stdout stops the printing only."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.status: Any = None
        self.started = time.monotonic()
        self.console: Any = None
        self.progress: dict[str, Any] = {}
        if not as_json and sys.stdout.isatty():
            from genbench.presentation import console

            self.console = console()

    def __call__(self, event: dict[str, Any]) -> None:
        try:
            if self.as_json:
                print(json.dumps(event, allow_nan=False, default=str), flush=True)
            elif event["event"] == "progress":
                self._status(event)
            else:
                line = self.line(event)
                if event["event"] == "end" and self.status is not None:
                    self.status.stop()
                    self.status = None
                if line and self.console is not None:
                    from rich.text import Text

                    self.console.print(Text(line), soft_wrap=True)
                elif line:
                    print(line, flush=True)
        except (OSError, ValueError):
            pass

    def _status(self, e: dict[str, Any]) -> None:
        if self.console is None:
            return
        self.progress = e
        if self.status is None:
            self.status = self.console.status(_StatusLine(self))
            self.status.start()

    def status_text(self) -> str:
        from genbench.presentation import format_duration

        e = self.progress
        return (
            f"{e['done']}/{e['total']} done · {e['running']} running · {e['queued']} queued"
            f" · {format_duration(time.monotonic() - self.started)}"
            "  (Ctrl+C stops them, resumable)"
        )

    @staticmethod
    def line(e: dict[str, Any]) -> str:
        from genbench.presentation import img_per_s_text, plain, significant_text

        kind = e["event"]
        if kind == "sweep":
            at_once = e["capacity"]
            how = f"{at_once} at once" if at_once else "queued by the scheduler"
            return (
                f"sweep {e['id']}: starting {e['starting']} of {e['members']} members "
                f"({e['executor']} executor, {how})"
            )
        if kind == "started":
            again = "resumed" if e["resumed"] else "submitted" if e.get("queued") else "started"
            where = f"  ({plain(e['handle'])})" if e.get("handle") else ""
            return f"  {again:<8} {e['member']}  {_point(e['point'])}{where}"
        if kind == "left":
            return f"  left     {e['member']}: {plain(e['why'])}"
        if kind == "ended":
            bits = [f"{e['status']} at step {e['step']}"]
            if e.get("fd") is not None:
                bits.append(f"FD {significant_text(e['fd'])}")
            if e.get("coverage"):
                bits.append(f"{e['coverage'][0]}/{e['coverage'][1]} covered")
            if e.get("img_per_s") is not None:
                bits.append(img_per_s_text(e["img_per_s"]))
            tail = f"  {plain(e['message'], 120)}" if e["status"] not in ("completed",) else ""
            return (
                f"[{e['done']}/{e['total']}] {e['member']} "
                + ", ".join(bits)
                + f" ({e['seconds']:.0f} s){tail}"
            )
        if kind == "stopping":
            queued = f"; {e['queued']} queued" if e["queued"] else ""
            return (
                f"stopping {len(e['members'])} running member(s) ({e['why']}){queued}: "
                "each checkpoints and stays resumable"
            )
        if kind == "pruned":
            return f"  pruned   {e['member']}: {plain(e['why'], 200)}"
        if kind == "best":
            value = significant_text(e["value"])
            return f"best so far: trial {e['trial']} {_point(e['point'])}: {e['objective']} {value}"
        if kind == "progress":
            return ""
        if kind == "end":
            counts = ", ".join(f"{n} {s}" for s, n in sorted(e["members"].items()))
            hint = {
                "stopped": f"; `genbench sweep --resume {e['id']}` starts the rest",
                "cancelled": f"; `genbench sweep --resume {e['id']}` starts them again",
                "submitted": "; follow with `genbench sweeps`, cancel with "
                f"`genbench sweep --cancel {e['id']}`",
            }.get(e["state"], f"; `genbench sweep show {e['id']}` has the table")
            return f"sweep {e['id']} {e['state']}: {counts}{hint}"
        return ""


class _StatusLine:
    """The status line's text, made anew at each refresh (the clock moves on)."""

    def __init__(self, reporter: SweepReporter) -> None:
        self.reporter = reporter

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text(self.reporter.status_text())


def _point(point: dict[str, Any]) -> str:
    from genbench.presentation import plain

    return " ".join(f"{plain(k, 40)}={value_text(v)}" for k, v in point.items())


def value_text(value: Any) -> str:
    """A point's value as shown: a search's floats to 4 significant digits."""
    from genbench.presentation import plain

    if isinstance(value, float):
        return f"{value:.4g}"
    return plain(value, 40)


# -- genbench sweep show ---------------------------------------------------------------


def show(root: Path, sweep_id: str, as_json: bool) -> int:
    from genbench.sweep.record import SweepRecord
    from genbench.sweep.results import (
        METRICS,
        best_first,
        configurations,
        member_results,
        ranking_metric,
        shown_progress,
        shown_state,
    )

    record = SweepRecord.read(root, sweep_id)
    results = member_results(root, record)
    keys = [a.key for a in record.spec.axes]
    grouped = configurations(results, keys)
    metric = ranking_metric(grouped, _metric(record))
    configs = best_first(grouped, metric)
    if as_json:
        print_json(
            {
                "id": record.id,
                "state": shown_state(record, shown_progress(record, results)),
                "executor": record.executor,
                "varied": keys,
                "best": record.best,
                "configurations": [
                    {
                        "point": c.point,
                        "members": c.counts(),
                        **{
                            m: {
                                "mean": c.spread(m).mean,
                                "std": c.spread(m).std,
                                "n": c.spread(m).n,
                            }
                            for m in METRICS
                        },
                    }
                    for c in configs
                ],
                "runs": [
                    {
                        "name": r.name,
                        "point": r.point,
                        "status": r.status,
                        "step": r.step,
                        "fd": r.fd,
                        "coverage": list(r.coverage) if r.coverage else None,
                        "img_per_s": r.img_per_s,
                        "message": r.message,
                    }
                    for r in results
                ],
            }
        )
        return 0
    from rich.table import Table
    from rich.text import Text

    from genbench.presentation import console, plain

    out = console()
    state = shown_state(record, shown_progress(record, results))
    title = " · ".join(
        [f"sweep {plain(record.id)}", state, record.spec.shape(), plain(record.executor, 40)]
    )
    out.print(Text(title, style="bold"), soft_wrap=True)
    table = Table(box=None, pad_edge=False)
    for k in keys:
        table.add_column(plain(k, 30))
    table.add_column("members")
    table.add_column("FD", justify="right")
    table.add_column("covered", justify="right")
    table.add_column("img/s", justify="right")
    for c in configs:
        table.add_row(
            *[Text(value_text(c.point.get(k))) for k in keys],
            Text(counts_text(c.counts())),
            Text(c.spread("fd").text()),
            Text(c.spread("coverage").text()),
            Text(c.spread("img_per_s").text()),
        )
    out.print(table)
    out.print(
        Text(
            f"mean ± std over seeds, best {_METRIC_NAMES[metric]} first; each member's "
            "last live evaluation (or its eval.json)"
        )
    )
    return 0


_METRIC_NAMES = {"fd": "FD", "coverage": "coverage", "img_per_s": "speed"}


def _metric(record) -> str:
    return record.spec.objective if record.spec.search == "optuna" else "fd"


def counts_text(counts: dict[str, int]) -> str:
    order = ("completed", "running", "queued", "stopped", "pruned", "failed", "diverged", "lost")
    parts = [f"{counts[s]} {s}" for s in order if s in counts]
    parts += [f"{n} {s}" for s, n in counts.items() if s not in order]
    return ", ".join(parts)
