"""How a run's numbers and words are written, for the terminal and the workbench alike.

Losses, sample quality, steps, speeds, durations and statuses are written here once;
the CLI commands (genbench.cli), the headless reporter (genbench.cli.reporting) and the
workbench's screens (genbench.tui) all call these. No torch and no Textual here.

Every string that may come from a run folder (a loss name, a status, a message) is
cleaned of control characters on the way through: show the result as ``rich.text.Text``
(or escaped), never as markup — Rich and Textual parse a ``str`` as markup, and `[/]`
in a run.json crashes them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from genbench.runfolder.untrusted import clean_text

if TYPE_CHECKING:
    from genbench.runfolder.runs import RunSummary

# -- the terminal ----------------------------------------------------------------------

# What a terminal's size may claim: $COLUMNS and $LINES are anyone's to set (0, -3,
# 99999), and everything drawn is fitted to them. Outside these bounds, or not a whole
# number, a size is unknown and the default stands (a table at 0 columns printed nothing;
# a preview fitted to 99999x99999 cells took 23 GB).
COLUMNS_RANGE = (20, 1000)
LINES_RANGE = (5, 1000)
DEFAULT_SIZE = (80, 25)


def _bounded(raw: Any, bounds: tuple[int, int]) -> int | None:
    try:
        value = int(str(raw).strip())
    except ValueError:
        return None
    if value <= 0:
        return None  # 0 or negative: a size nobody has, so unknown
    return min(max(value, bounds[0]), bounds[1])


def terminal_size(env: Any = None) -> tuple[int, int]:
    """(columns, lines) to draw for: $COLUMNS and $LINES, else the terminal's own
    size, else 80x25; each clamped to COLUMNS_RANGE and LINES_RANGE, and 0,
    negative or garbage counted as unknown."""
    import os

    env = os.environ if env is None else env
    try:
        real = os.get_terminal_size(sys.__stdout__.fileno())  # type: ignore[union-attr]
        own: tuple[Any, Any] = (real.columns, real.lines)
    except (AttributeError, ValueError, OSError):
        own = (None, None)
    sizes = []
    for name, mine, default, bounds in (
        ("COLUMNS", own[0], DEFAULT_SIZE[0], COLUMNS_RANGE),
        ("LINES", own[1], DEFAULT_SIZE[1], LINES_RANGE),
    ):
        value = _bounded(env.get(name, ""), bounds)
        if value is None and mine is not None:
            value = _bounded(mine, bounds)
        sizes.append(default if value is None else value)
    return sizes[0], sizes[1]


class _Console(Console):
    """A closed reader (`genbench runs | head -1`) is not a failure: Rich's own answer
    is SystemExit(1); this raises BrokenPipeError, which genbench.cli.main turns
    into a quiet exit 0 (and the trainer's GuardedReport into no more printing)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def console(**kwargs: Any) -> Console:
    """The Rich Console every command prints with: sized by terminal_size() (so a
    size the environment claims is bounded) and quiet on a closed pipe."""
    if "width" not in kwargs or "height" not in kwargs:
        columns, lines = terminal_size()
        kwargs.setdefault("width", columns)
        kwargs.setdefault("height", lines)
    return _Console(**kwargs)


# -- text from a run folder -----------------------------------------------------------


def plain(value: Any, max_len: int = 200) -> str:
    """A value from a run folder (a name, a message, a folder name) as plain text:
    control characters removed, at most ``max_len`` characters; None is "". Show it
    as ``Text`` (or escape it), never as markup."""
    return clean_text("" if value is None else value, max_len)


def shown_path(path: Path) -> str:
    """A path as short as it can be told: relative to the current folder when inside
    it; cleaned of control characters (still text for a Text, not markup)."""
    try:
        shown = str(Path(path).resolve().relative_to(Path.cwd().resolve())) or "."
    except (ValueError, OSError):
        shown = str(path)
    return plain(shown, 1000)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- numbers from a run folder ----------------------------------------------------------

# A number from a run folder can be anything JSON holds: 1e308, 10**400 (an int
# too large for a float), -0.0, 1e-300. Written in full, one such number is hundreds
# of characters and squeezes every other run's columns; converted to a float, an int
# that large raises OverflowError. These write any number in at most NUMBER_WIDTH
# characters, as what it is: 1e308, 1.5e12, -2.3e-7.
NUMBER_WIDTH = 10  # "-1.23e-308"
PLAIN_BELOW = 1e6  # plain digits below this size, scientific from it


def number_text(value: Any, places: int = 2) -> str:
    """A number in fixed point with ``places`` decimals (``12.35``), or in compact
    scientific notation when that would be long or show nothing (``1e308``,
    ``4.2e-7``); at most NUMBER_WIDTH characters; "" for what is not a number."""
    if not _number(value):
        return ""
    if isinstance(value, int) and abs(value) >= PLAIN_BELOW:
        return _int_scientific(value)
    x = float(value)
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    if abs(x) < PLAIN_BELOW and (x == 0 or abs(x) >= 10**-places):
        return f"{x:.{places}f}"
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{_trim(mantissa)}e{int(exponent)}"


def significant_text(value: Any, digits: int = 3) -> str:
    """A number to ``digits`` significant digits (``0.721``, ``1.35e+03`` as
    ``1.35e3``), bounded like number_text; "" for what is not a number."""
    if not _number(value):
        return ""
    if isinstance(value, int) and abs(value) >= PLAIN_BELOW:
        return _int_scientific(value)
    text = f"{float(value):.{max(1, min(digits, 4))}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{_trim(mantissa)}e{int(exponent)}"
    return text


COUNT_PLAIN_BELOW = 10**12  # steps and counts: digits up to 12 of them


def count_text(value: Any) -> str:
    """A whole number as digits (``7``, ``1500000``), compact from 10**12 up
    (``1e400``); "" for what is not a number."""
    if not _number(value):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < COUNT_PLAIN_BELOW:
        value = int(value)
    if isinstance(value, int) and abs(value) < COUNT_PLAIN_BELOW:
        return str(value)
    if isinstance(value, int):
        return _int_scientific(value)
    return number_text(value, 0)


def _int_scientific(value: int) -> str:
    """An int of any size in scientific notation, without converting it to a float
    (10**400 has no float). Truncated, not rounded: 3 significant digits."""
    digits = str(abs(value))
    mantissa = _trim(f"{digits[0]}.{digits[1:3]}")
    return f"{'-' if value < 0 else ''}{mantissa}e{len(digits) - 1}"


def _trim(mantissa: str) -> str:
    return mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa


# -- statuses ---------------------------------------------------------------------------

# The style of each run status. The workbench shows them as they are; the terminal
# commands drop the bold (bold=False): a table of runs reads calmer without it.
STATUS_STYLE = {
    "running": "bold cyan",
    "completed": "green",
    "stopped": "yellow",
    "failed": "bold red",
    "diverged": "bold red",
    "lost": "magenta",
    "starting": "dim",
    "unreadable": "red",
}


def status_style(status: str, bold: bool = True, default: str = "") -> str:
    style = STATUS_STYLE.get(status, default)
    return style if bold else style.replace("bold ", "")


def status_text(status: str, bold: bool = True, default: str = "") -> Text:
    """A status, cleaned and coloured."""
    return Text(plain(status, 20), style=status_style(status, bold, default))


# -- steps, speed, time -------------------------------------------------------------------


def step_text(step: int, steps: int | None) -> str:
    """``120/2000``, or ``120`` when the run has no known end."""
    return f"{count_text(step)}/{count_text(steps)}" if steps else count_text(step)


def speed_text(img_per_s: float | None) -> str:
    """Images a second as a whole number with thousands separators; "" when unknown."""
    if img_per_s is None or not _number(img_per_s):
        return ""
    if abs(img_per_s) >= 1e12:  # from a hostile file: compact, never 300 digits
        return number_text(img_per_s, 0)
    return f"{img_per_s:,.0f}"


def img_per_s_text(img_per_s: float | None) -> str:
    """``7,941 img/s``; "" when unknown or zero."""
    return f"{speed_text(img_per_s)} img/s" if img_per_s and _number(img_per_s) else ""


DURATION_MAX_S = 100_000 * 3600  # eleven years: no run's elapsed time or ETA is longer


def format_duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h07m``; ``>99999h`` beyond that (an ETA from a hostile
    metrics line can be 1e308 seconds, or infinite); "–" when unknown or negative."""
    if seconds is None or not _number(seconds) or seconds != seconds or seconds < 0:
        return "–"
    if seconds >= DURATION_MAX_S:  # infinity too; int() of it would raise
        return f">{DURATION_MAX_S // 3600 - 1}h"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


# -- losses ----------------------------------------------------------------------------------


def format_losses(losses: Mapping[str, float], digits: int = 4, missing: str = "-") -> str:
    """Losses as plain text, ``d 1.305  g 0.9236``; a value that is not a number is
    ``missing``. Their names may come from a run folder, so they are cleaned of
    control characters (show the result as Text, not markup)."""
    return "  ".join(
        f"{plain(k, 40)} {significant_text(v, digits)}"
        if _number(v)
        else f"{plain(k, 40)} {missing}"
        for k, v in losses.items()
    )


LOSSES_CELL_MAX = 60  # a run naming sixty losses must not push the columns after it away


def losses_text(losses: Mapping[str, float]) -> str:
    """Losses for the workbench's narrower cells: three significant digits, at most
    LOSSES_CELL_MAX characters (`genbench show RUN` prints them all)."""
    text = format_losses(losses, digits=3, missing="–")
    return text if len(text) <= LOSSES_CELL_MAX else text[: LOSSES_CELL_MAX - 1] + "…"


# -- sample quality ------------------------------------------------------------------------


def format_quality(result: dict[str, Any]) -> str:
    """One line of a live eval result: FD and classes, or modes on the 2D toys."""
    if result.get("error"):
        return str(result["error"])
    parts = []
    if result.get("fd") is not None:
        parts.append(f"FD {result['fd']:.3f}")
    if result.get("classes"):
        parts.append(f"{result.get('classes_covered')}/{result['classes']} classes covered")
    if result.get("modes"):
        parts.append(f"{result.get('modes_covered')}/{result['modes']} modes covered")
        if result.get("high_quality") is not None:
            parts.append(f"{result['high_quality']:.1%} high quality")
    return ", ".join(parts)


def quality_text(s: RunSummary) -> Text:
    """FD and coverage of a RunSummary in one short cell (the workbench); red on mode
    collapse, dim when it is the trainer's quick live estimate rather than
    `genbench eval`'s."""
    parts = []
    fd = getattr(s, "fd", None)
    coverage = getattr(s, "coverage", None)
    if _number(fd):
        parts.append(f"FD {significant_text(fd, 3)}")
    if coverage:
        parts.append(f"{count_text(coverage[0])}/{count_text(coverage[1])}")
    style = (
        "bold red"
        if getattr(s, "collapse", False)
        else ("dim" if getattr(s, "quality_source", None) == "live" else "")
    )
    return Text(" ".join(parts), style=style)


LIVE_MARK = "*"  # after a number from the trainer's live check (few samples)


def quality_cells(s: RunSummary) -> tuple[Text, Text, bool]:
    """The FD and coverage cells of a RunSummary in `genbench runs`, and whether
    either carries the live mark (a live FD reads higher than eval.json's)."""
    mark = LIVE_MARK if s.quality_source == "live" else ""
    fd = f"{number_text(s.fd, 2)}{mark}" if s.fd is not None else ""
    cov = f"{count_text(s.coverage[0])}/{count_text(s.coverage[1])}{mark}" if s.coverage else ""
    coverage = Text(f"{cov} collapse", "red") if s.collapse and cov else Text(cov)
    return Text(fd), coverage, bool(mark and (s.fd is not None or s.coverage))


def quality_line(s: RunSummary) -> Text | None:
    """A RunSummary's quality as one line (`genbench show`): FD, coverage, where it
    was measured and on how many samples; None when it has none."""
    if s.fd is None and not s.coverage:
        return None
    parts = [f"FD {number_text(s.fd, 3)}"] if s.fd is not None else []
    if s.coverage:
        parts.append(f"coverage {count_text(s.coverage[0])}/{count_text(s.coverage[1])}")
    where = "eval.json" if s.quality_source == "eval.json" else "live check"
    if s.quality_samples:
        where += f", {_thousands(s.quality_samples)} samples"
    return Text.assemble(
        f"quality {'  '.join(parts)} ({where})", ("  mode collapse" if s.collapse else "", "red")
    )


EVAL_PARTS_MAX = 12  # numbers of one evaluation shown; a hostile record may hold thousands


def eval_json_text(q: dict[str, Any] | None) -> Text:
    """What `genbench eval` measured (eval.json, as run_quality() reads it with the
    step it evaluated) as one line, marked as eval.json's: FD, coverage, samples;
    collapse in red."""
    if not q:
        return Text("")
    step = q.get("step")
    where = [f"step {count_text(step)}"] if _number(step) else []
    if _number(q.get("quality_samples")):
        where.append(f"{_thousands(q['quality_samples'])} samples")
    parts = []
    if _number(q.get("fd")):
        parts.append(f"FD {significant_text(q['fd'], 4)}")
    coverage = q.get("coverage")
    if coverage:
        parts.append(plain(f"covered {coverage[0]}/{coverage[1]}", 60))
    text = Text(f"eval.json ({', '.join(where)}): " if where else "eval.json: ", style="bold")
    text.append("  ".join(parts) or "no FD or coverage in it")
    if q.get("collapse"):
        text.append("  mode collapse", style="bold red")
    return text


def eval_text(ev: dict[str, Any] | None, label: str = "eval") -> Text:
    """The last evaluation of metrics.jsonl as one line: its numbers, and its warning
    in colour. Names and warning are cleaned and shown as text. ``label`` starts the
    line ("live check*" where eval.json's figures are shown too)."""
    if not ev:
        return Text("")
    skip = {"step", "seconds", "samples", "warning", "collapse", "modes"}
    parts = []
    if "modes_covered" in ev and "modes" in ev:
        parts.append(plain(f"modes covered {ev['modes_covered']}/{ev['modes']}", 60))
        skip.add("modes_covered")
    for k, v in ev.items():
        if len(parts) >= EVAL_PARTS_MAX:
            break
        if k in skip or not _number(v):
            continue
        name = plain(str(k).replace("_", " "), 40)
        parts.append(
            f"{name} {significant_text(v, 4)}"
            if isinstance(v, float)
            else f"{name} {count_text(v)}"
        )
    text = Text(f"{label} at step {plain(ev.get('step'), 20)}: " + "  ".join(parts), style="dim")
    if ev.get("warning"):
        text.append(f"  {plain(ev['warning'], 300)}", style="bold yellow")
    return text


def _thousands(n: Any) -> str:
    """A count with thousands separators (``10,000``), compact when huge."""
    return f"{n:,}" if isinstance(n, int) and abs(n) < COUNT_PLAIN_BELOW else count_text(n)


# -- runs tables: short ids and which columns fit -----------------------------------------

# A run's id is its folder's name: a generated one is `20261207-173000-dcgan-fashion-mnist`
# (35 characters, model and dataset again), too wide for an 80-column list. A table shows
# each id as its shortest prefix no other run in the folder shares (a git-style short id:
# it is still the folder's name as typed, so a shell completes it), never shorter than
# the generated id's date and minute; a name of SHORT_ID_MAX characters or fewer whole.
SHORT_ID_MAX = 20
_STAMP_LEN = len("20261207-1730")  # a generated id's date and minute
CUT = "…"


def _stamped(run_id: str) -> bool:
    """Whether an id begins with new_run_id's time stamp (yyyymmdd-hhmmss-)."""
    head = run_id[:16]
    return (
        len(head) == 16
        and head[:8].isdigit()
        and head[8] == "-"
        and head[9:15].isdigit()
        and head[15] == "-"
    )


def _common(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def short_ids(ids: list[str], sweeps: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each id's short form in a table of these runs (every run of the folder, not
    only those shown, so a run keeps its short id under a filter): the id itself
    when it has at most SHORT_ID_MAX characters; a generated id's shortest unique
    prefix, at least its date and minute (whole where only its seconds or more
    tell it apart); a longer name's shortest unique prefix of at least
    SHORT_ID_MAX - 1 characters and an ellipsis. ``sweeps`` maps a sweep member's
    id to its sweep's, for a table that shows members under their sweep's row:
    such a member, when longer, is its index (``…-003``). Sorted once: neighbours share the
    longest prefixes, so 20,000 runs cost a sort, not 20,000 squared comparisons."""
    order = sorted(set(ids))
    shared = dict.fromkeys(order, 0)  # the longest prefix each shares with another
    for a, b in zip(order, order[1:], strict=False):
        n = _common(a, b)
        shared[a] = max(shared[a], n)
        shared[b] = max(shared[b], n)
    short = {}
    for run_id in order:
        sweep = (sweeps or {}).get(run_id)
        n = shared[run_id] + 1
        if len(run_id) <= SHORT_ID_MAX:
            short[run_id] = run_id
        elif sweep and run_id.startswith(sweep + "-") and len(run_id) > len(sweep) + 1:
            short[run_id] = CUT + run_id[len(sweep) :]
        elif _stamped(run_id):
            # Cut inside the time stamp, where it plainly reads as a prefix.
            short[run_id] = run_id[: max(n, _STAMP_LEN)] if n <= _STAMP_LEN + 2 else run_id
        else:
            n = max(n, SHORT_ID_MAX - 1)
            short[run_id] = run_id[:n] + CUT if n < len(run_id) else run_id
    return short


# Which columns of a runs table stay when the terminal is narrow, most wanted first:
# what identifies a run and where it stands (status, progress, the latest quality),
# then what it is (model, dataset), what it costs (CPU, memory: from 120 columns),
# its tags, and last the numbers its own view shows in full (losses, speed, GPU) and
# the note (the detail pane has it whole). The workbench's list and `genbench runs`
# both use it; a column key of either table is one of these.
RUNS_COLUMN_PRIORITY = (
    "mark",
    "run",
    "status",
    "progress",
    "quality",
    "step",
    "model",
    "dataset",
    "cpu",
    "mem",
    "tags",
    "losses",
    "speed",
    "gpu",
    "note",
)


def fit_columns(
    widths: Mapping[str, int], room: int, gap: int = 2, alias: Mapping[str, str] | None = None
) -> set[str]:
    """The columns of a runs table that fit ``room`` cells: taken in
    RUNS_COLUMN_PRIORITY's order, each kept when it still fits beside those kept
    (a wide one that does not fit leaves room for a narrower one after it).
    ``widths`` holds each column's widest cell (heading included); ``gap`` is the
    padding each column adds; ``alias`` names the priority key of a column named
    otherwise (`genbench runs`' id is the run, its FD and coverage the quality). The
    mark and the run's id are always kept."""
    alias = alias or {}
    rank = {key: i for i, key in enumerate(RUNS_COLUMN_PRIORITY)}

    def place(column: str) -> int:
        return rank.get(alias.get(column, column), len(rank))

    kept: set[str] = set()
    used = 0
    for column in sorted(widths, key=place):
        need = widths[column] + gap
        if alias.get(column, column) in ("mark", "run") or used + need <= room:
            kept.add(column)
            used += need
    return kept
