"""Home: every run in the runs folder, with live status."""

from __future__ import annotations

import os
import shutil
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from genbench import options
from genbench.errors import UsageError
from genbench.presentation import fit_columns, short_ids
from genbench.runfolder.notes import (
    NOTE_FILE,
    TAGS_FILE,
    is_running,
    note_line,
    read_note,
    read_tags,
    rename_run,
    write_note,
    write_tags,
)
from genbench.runfolder.ownership import RunLock
from genbench.runfolder.record import RUN_FILE, RunRecord
from genbench.runfolder.runs import LATEST_SAMPLE, METRICS_FILE, RunSummary, last_records
from genbench.runfolder.writer import PHASE_LABEL_MAX, phase_label
from genbench.tui import run_search
from genbench.tui.format import (
    format_duration,
    losses_text,
    plain,
    quality_text,
    shown_path,
    speed_text,
    status_text,
    step_text,
)
from genbench.tui.resources import ResourceMonitor, Usage
from genbench.tui.run_tail import RunIndex
from genbench.tui.screens.dialogs import ConfirmDelete, NoteDialog, RenameDialog, TagsDialog
from genbench.tui.sweep_groups import (
    SweepGroup,
    SweepRecords,
    group,
    is_folded,
    membership,
    rows,
    sweep_key,
    sweep_of_key,
)
from genbench.tui.widgets.header import Header
from genbench.tui.widgets.sample_preview import SamplePreview

if TYPE_CHECKING:  # pragma: no cover - for annotations only
    from textual import getters

    from genbench.tui.app import GenbenchApp

POLL_S = 1.0
# Below this many rows the table needs the whole screen; above it the highlighted
# run's latest samples fill the space a short list leaves empty.
PREVIEW_MIN_HEIGHT = 30
COLUMNS = (
    ("", "mark"),
    ("run", "run"),
    ("model", "model"),
    ("dataset", "dataset"),
    ("status", "status"),
    ("step", "step"),
    ("progress", "progress"),
    ("losses", "losses"),
    ("img/s", "speed"),
    ("cpu", "cpu"),
    ("mem", "mem"),
    ("gpu", "gpu"),
    ("quality", "quality"),
    ("tags", "tags"),
    ("note", "note"),
)
# The cells that do not come from the run's summary: read per poll by RunExtras.
EXTRA_COLUMNS = ("progress", "cpu", "mem", "gpu", "tags", "note")
# Columns left out while no row fills them (nothing marked or running, no tags or
# notes): their room goes to the next column in presentation.RUNS_COLUMN_PRIORITY. A
# column whose cells are at most this wide holds nothing ("—": the progress of a run
# that is not running).
EMPTY_WIDTH = {
    "mark": 0,
    "progress": 1,
    "losses": 0,
    "speed": 0,
    "cpu": 0,
    "mem": 0,
    "gpu": 0,
    "tags": 0,
    "note": 0,
}
NOTE_WIDTH = 40  # the table shows a note's start; the detail pane the rest
TAGS_WIDTH = 30  # the table shows the first tags; the detail pane all of them
SCROLLBAR = 2  # DataTable's vertical scrollbar, where the rows outgrow the table
# The widest a column is drawn (its cells cut with an ellipsis): a reason a side file
# cannot be read, in the quality cell, or run.json's, in the losses cell, may be a
# long line; the detail pane and the run's own view have it whole.
COLUMN_MAX = {"quality": 40, "losses": 60}

# What `o` and a click on a header sort by; a run without the value sorts last.
SORT_KEYS: dict[str, Callable[[RunSummary], Any]] = {
    "run": lambda s: plain(s.id).casefold(),
    "model": lambda s: plain(s.model).casefold(),
    "dataset": lambda s: plain(s.dataset).casefold(),
    "status": lambda s: s.status,
    "step": lambda s: s.step,
    "speed": lambda s: s.img_per_s,
    "quality": lambda s: s.fd,
}


def _seen(cells: dict[str, Text] | None) -> list[tuple[str, str]] | None:
    """What a row's extra cells look like, to tell whether they changed."""
    return None if cells is None else [(t.plain, str(t.style)) for t in cells.values()]


def sorted_runs(runs: list[RunSummary], column: str, reverse: bool) -> list[RunSummary]:
    """Runs in order of a column, either way round; those without a value last."""

    def value(s: RunSummary) -> Any:
        return None if s.error else SORT_KEYS[column](s)

    have = sorted((s for s in runs if value(s) is not None), key=value, reverse=reverse)
    return have + [s for s in runs if value(s) is None]


def _stat_key(path: Path | str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)  # never opens it: a FIFO or a device costs nothing here
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class Pace:
    """Steps per second of one running run, from its last loss records (step and
    training seconds, which the trainer keeps across resumes)."""

    def __init__(self) -> None:
        self.seen: deque[tuple[int, float]] = deque(maxlen=6)

    def add(self, step: int, seconds: float) -> None:
        if self.seen and (step < self.seen[-1][0] or seconds < self.seen[-1][1]):
            self.seen.clear()  # resumed from an earlier checkpoint: a new history
        if not self.seen or step > self.seen[-1][0] and seconds > self.seen[-1][1]:
            self.seen.append((step, seconds))

    def per_second(self) -> float | None:
        """Over the last few records; from one record, its average since the start."""
        if not self.seen:
            return None
        if len(self.seen) == 1:
            step, seconds = self.seen[0]
        else:
            step = self.seen[-1][0] - self.seen[0][0]
            seconds = self.seen[-1][1] - self.seen[0][1]
        return step / seconds if step > 0 and seconds > 0 else None


def status_cell(s: RunSummary) -> Text:
    """The status, and for a running run whose trainer says what it does while the
    step stands still (run.json's message: an evaluation, the first step), its head."""
    cell = status_text(s.status)
    if s.status == "running" and s.message:
        cell.append(" · " + plain(phase_label(s.message), PHASE_LABEL_MAX), "dim")
    return cell


def progress_text(status: str, step: int, steps: int | None, per_second: float | None) -> str:
    """``45% 3m05s`` for a running run (the ETA once its pace is known); "—" for any
    other, or when its length is unknown."""
    if status != "running" or not steps:
        return "—"
    percent = f"{min(100, int(100 * step / steps))}%"
    if per_second is None or per_second <= 0:
        return percent
    return f"{percent} {format_duration(max(0, steps - step) / per_second)}"


class RunExtras:
    """The cells a run's summary does not hold: progress and ETA, CPU, memory and
    GPU of a running trainer, the tags and the note. Each poll costs two stats per
    run; files are read again only when they changed (run.json and the metrics tail
    for a running run, note.txt and tags.txt for any; run.json of any run only while
    a search asks for hyperparameters)."""

    def __init__(self) -> None:
        self.monitor = ResourceMonitor()
        self._records: dict[Path, tuple[tuple | None, RunRecord | None]] = {}
        self._tails: dict[Path, tuple | None] = {}
        self._paces: dict[Path, Pace] = {}
        self._notes: dict[Path, tuple[tuple | None, str, bool]] = {}
        self._tags: dict[Path, tuple[tuple | None, list[str], str]] = {}
        self._settings: dict[Path, tuple[RunRecord, dict[str, Any]]] = {}
        # A run that is not running: its cells, kept while its summary (the index's
        # cached one) and its note are the very ones they were made from, so an
        # idle workbench on 20,000 folders does not rebuild 100,000 cells a second.
        self._settled: dict[Path, tuple[RunSummary, tuple, dict[str, Text]]] = {}

    def cells(self, s: RunSummary) -> dict[str, Text]:
        running = s.status == "running"
        usage = self._usage(s) if running else None
        note, bad = self.note(s.path)
        tags, tags_bad = self.tags(s.path)
        noted = (self._notes[s.path], self._tags[s.path])
        if not running:
            kept = self._settled.get(s.path)
            if kept is not None and kept[0] is s and kept[1] == noted:
                return kept[2]
        cells = {
            "progress": Text(progress_text(s.status, s.step, s.steps, self._pace(s))),
            "cpu": Text(usage.cpu_text() if usage else ""),
            "mem": Text(usage.mem_text() if usage else ""),
            "gpu": Text(usage.gpu_text() if usage else ""),
            "tags": Text(tags_bad, "red") if tags_bad else Text(plain(" ".join(tags), TAGS_WIDTH)),
            "note": Text(plain(note, NOTE_WIDTH), "red" if bad else ""),
        }
        if running:
            self._settled.pop(s.path, None)
        else:
            self._settled[s.path] = (s, noted, cells)
        return cells

    def note(self, run: Path, again: bool = True) -> tuple[str, bool]:
        """The run's note on one line, cleaned; (why it cannot be read, True) when
        note.txt is not a small regular text file of the run. ``again=False``: as
        this poll read it, without a stat."""
        cached = self._notes.get(run)
        if cached is not None and not again:
            return cached[1], cached[2]
        key = _stat_key(os.path.join(run, NOTE_FILE))  # a str: a Path costs more than the stat
        if cached is None or cached[0] != key:
            try:
                cached = (key, note_line(read_note(run), 300), False) if key else (key, "", False)
            except UsageError as exc:
                # The folder is the row's: the cell has room for the reason only.
                why = str(exc).replace(str(run / NOTE_FILE), NOTE_FILE)
                cached = (key, f"note unreadable: {note_line(why, 300)}", True)
            self._notes[run] = cached
        return cached[1], cached[2]

    def tags(self, run: Path, again: bool = True) -> tuple[list[str], str]:
        """The run's tags, cleaned; ([], why) when tags.txt is not a small regular
        text file of the run. ``again=False``: as this poll read them, without a stat."""
        cached = self._tags.get(run)
        if cached is not None and not again:
            return cached[1], cached[2]
        key = _stat_key(os.path.join(run, TAGS_FILE))
        if cached is None or cached[0] != key:
            try:
                cached = (key, read_tags(run) if key else [], "")
            except UsageError as exc:
                why = str(exc).replace(str(run / TAGS_FILE), TAGS_FILE)
                cached = (key, [], f"tags unreadable: {note_line(why, 300)}")
            self._tags[run] = cached
        return cached[1], cached[2]

    def settings(self, run: Path) -> dict[str, Any] | None:
        """The run's hyperparameters and recorded options, for a search (None when
        run.json cannot be read)."""
        record = self._record(run)
        if record is None:
            return None
        kept = self._settings.get(run)
        if kept is None or kept[0] is not record:  # read anew since: worked out anew
            recorded = record.to_dict()
            found = {f.name: options.recorded(recorded, f) for f in options.option_fields()}
            # The model's own names win: a search for lr means the model's lr.
            settings = {**{k: v for k, v in found.items() if v is not None}, **record.config}
            kept = self._settings[run] = (record, settings)
        return kept[1]

    def _record(self, run: Path) -> RunRecord | None:
        key = _stat_key(run / RUN_FILE)
        cached = self._records.get(run)
        if cached is None or cached[0] != key:
            try:
                cached = (key, RunRecord.read(run))
            except UsageError:
                cached = (key, None)
            self._records[run] = cached
        return cached[1]

    def _usage(self, s: RunSummary) -> Usage | None:
        record = self._record(s.path)
        return self.monitor.sample(record) if record is not None else None

    def _pace(self, s: RunSummary) -> float | None:
        if s.status != "running":
            self._paces.pop(s.path, None)
            return None
        pace = self._paces.setdefault(s.path, Pace())
        key = _stat_key(s.path / METRICS_FILE)
        if key != self._tails.get(s.path):
            self._tails[s.path] = key
            try:
                last = last_records(s.path / METRICS_FILE, (None,)).get(None) or {}
            except UsageError:
                last = {}
            step, seconds = last.get("step"), last.get("time")
            if (
                isinstance(step, int)
                and isinstance(seconds, (int, float))
                and not isinstance(seconds, bool)
            ):
                pace.add(step, float(seconds))
        return pace.per_second()

    def forget(self, runs: set[Path]) -> None:
        """Drop what is kept for runs that are gone (deleted, renamed)."""
        caches = (self._records, self._tails, self._paces, self._notes, self._tags)
        for cache in (*caches, self._settings, self._settled):
            for gone in set(cache) - runs:
                del cache[gone]
        self.monitor.forget(
            {
                (r.pid, r.pid_start)
                for _, r in self._records.values()
                if r is not None and r.pid is not None
            }
        )


class RunsTable(DataTable):
    """The runs table, with the keys users of less, vim and htop reach for first."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, tooltip="next run (or down arrow)"),
        Binding("k", "cursor_up", "Up", show=False, tooltip="previous run (or up arrow)"),
        # Home/End scroll sideways in a plain table; here they jump, as g/G do.
        # One binding a key: `?` lists one key per (action, description).
        Binding("home", "scroll_top", "First", show=False, tooltip="first run"),
        Binding("g", "scroll_top", "First (g)", show=False, tooltip="first run, as home"),
        Binding("end", "scroll_bottom", "Last", show=False, tooltip="last run"),
        Binding("G", "scroll_bottom", "Last (G)", show=False, tooltip="last run, as end"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # enter goes on to the screen's own binding (open the run), which `?` and the
        # footer name; a click on a row still selects it (RowSelected).
        if action == "select_cursor":
            return False
        return super().check_action(action, parameters)


class RunsScreen(Screen):
    if TYPE_CHECKING:  # typing only: textual's own idiom, so self.app is the workbench
        app = getters.app(GenbenchApp)

    AUTO_FOCUS = "#runs"  # not the filter box, hidden until `/`

    # tooltip: the longer words `?` shows; the footer keeps to the short ones.
    BINDINGS = [
        # Not a priority key, so it acts in order with the cursor keys typed before
        # it: as one, `down down enter` in one read opened the first run. The
        # table passes enter on (RunsTable.check_action).
        Binding(
            "enter", "open", "Open", tooltip="open the run: live loss charts, progress, samples"
        ),
        Binding("n", "new_run", "New", tooltip="new run: pick model, dataset, hyperparameters"),
        Binding(
            "f",
            "fold",
            "Fold",
            tooltip="fold or unfold the highlighted sweep's members under its row "
            "(enter on the sweep's row opens the sweep)",
        ),
        Binding("m", "models", "Models", tooltip="installed models and plugins"),
        Binding(
            "space", "mark", "Mark", key_display="␣", tooltip="mark or unmark the run for comparing"
        ),
        Binding("c", "compare", "Compare", tooltip="compare the marked runs (two or more)"),
        Binding("s", "stop", "Stop", tooltip="stop the run gracefully (it checkpoints first)"),
        Binding("r", "resume", "Resume", tooltip="resume a stopped run from its checkpoint"),
        Binding(
            "slash",
            "filter",
            "Filter",
            show=False,
            key_display="/",
            tooltip="filter: words in names, notes, tags, model, dataset, status; "
            "lr=2e-4 (or < > !=) a hyperparameter, tag=NAME a tag; escape clears it",
        ),
        Binding("escape", "clear_filter", "Clear filter", show=False, tooltip="clear the filter"),
        Binding(
            "o",
            "sort",
            "Sort",
            show=False,
            tooltip="sort by the next column (run, model, dataset, status, step, "
            "img/s, quality, then the folder's order); click a header too",
        ),
        Binding(
            "d",
            "delete",
            "Delete",
            show=False,
            tooltip="delete the run: its folder is removed (no trash); not while running",
        ),
        Binding("delete", "delete", "Delete (del)", show=False, tooltip="delete the run, as d"),
        Binding(
            "R",
            "rename",
            "Rename",
            show=False,
            tooltip="rename the run (its folder); not while running",
        ),
        Binding(
            "N",
            "note",
            "Note",
            show=False,
            tooltip="write a note on the run (kept in its folder as note.txt)",
        ),
        Binding(
            "t",
            "tags",
            "Tags",
            show=False,
            tooltip="tag the run (kept in its folder as tags.txt; / finds them)",
        ),
        Binding(
            "C",
            "clone",
            "Clone",
            show=False,
            tooltip="new run with this run's model, dataset and settings",
        ),
        Binding("q", "app.quit", "Quit", tooltip="quit (runs keep training)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marked: set[Path] = set()
        self.summaries: dict[str, RunSummary] = {}  # every run in the folder
        self.shown: list[str] = []  # the rows: those the filter keeps
        self.filter_text = ""
        self.sort_column: str | None = None  # None: the folder's own order
        self.sort_reverse = False
        self._preview_stamp: int | None = None  # mtime of the grid shown
        self.extras = RunExtras()
        # Sweeps whose members are in the folder, and how the user left each folded.
        self.groups: dict[str, SweepGroup] = {}
        self.folded: dict[str, bool] = {}
        self._member_of: dict[str, str] = {}  # run folder -> its sweep
        self._group_cells: dict[str, list[tuple[str, str]]] = {}
        # Each run's progress, resource and note cells, read once a poll.
        self._cells: dict[str, dict[str, Text]] = {}
        self._short: dict[str, str] = {}  # each run's id -> the id the table shows
        # Each row's cells, one per COLUMNS (the table holds those of columns_shown).
        self._rows: dict[str, list[Text]] = {}
        self._widths: dict[str, list[int]] = {}  # each row's cells' widths
        # Each column's widest cell over the rows shown; None: to be worked out again
        # (kept across polls: 20,000 rows cost 30 ms to measure).
        self._widest: list[int] | None = None
        self._short_of: tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None = None
        # Keys of COLUMNS, in order, each with its fixed width (None: its content's).
        self.columns_shown: list[tuple[str, int | None]] = []
        self.search = run_search.parse("")

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            placeholder="search: name, note, tag, model, dataset; lr=2e-4 (escape clears)",
            id="runs-filter",
        )
        yield RunsTable(id="runs", cursor_type="row", zebra_stripes=True)
        with Vertical(id="runs-preview-box"):
            yield SamplePreview(Path(self.app.runs_dir) / LATEST_SAMPLE, id="runs-preview")
        yield Static(id="runs-empty")
        # The highlighted run whole (its full id, tags, note) where the preview's
        # border, which says the same, has no room.
        yield Static(id="runs-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.index = RunIndex(self.app.runs_dir)
        self.sweep_records = SweepRecords(self.app.runs_dir)
        self.sub_title = f"runs in {shown_path(self.app.runs_dir)}"
        self.refresh_runs()
        self.set_interval(POLL_S, self.refresh_runs)

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def on_unmount(self) -> None:
        self.extras.monitor.close()  # NVML, when it was started

    # -- the table ---------------------------------------------------------------

    def _row(self, s: RunSummary) -> list:
        """The cells of a run: all Text (a str cell is parsed as markup), every
        string from the run folder, its name too, cleaned of control characters."""
        mark = Text("●", style="bold yellow") if s.path in self.marked else Text("")
        extra = self._cells.get(str(s.path)) or {}
        # A sweep's member, indented under its sweep's row.
        indent = "  " if str(s.path) in self._member_of else ""
        if s.error:
            # run.json unreadable: "unreadable", or "running" while a live trainer
            # holds the lock (summarize), with the reason in the quality cell, as a
            # side file's: a column kept at any width.
            cells = [
                mark,
                Text(self.short_id(s)),
                Text(""),
                Text(""),
                status_text(s.status),
                Text(""),
                Text(""),
                Text(""),
                Text(plain(s.error, 300), "red", overflow="ellipsis"),
            ]
        else:
            # A side file that cannot be read is said in the quality cell; the status
            # is still run.json's and the lock's.
            quality = (
                Text(
                    plain(s.side_error.replace(f"{s.path}{os.sep}", ""), 120),
                    "red",
                    overflow="ellipsis",
                )
                if s.side_error
                else quality_text(s)
            )
            cells = [
                mark,
                Text(indent + self.short_id(s)),
                Text(plain(s.model)),
                Text(plain(s.dataset)),
                status_cell(s),
                Text(step_text(s.step, s.steps)),
                Text(losses_text(s.losses)),
                Text(speed_text(s.img_per_s)),
                quality,
            ]
        by_column = dict(
            zip([key for _, key in COLUMNS if key not in EXTRA_COLUMNS], cells, strict=True)
        )
        return [
            by_column[key] if key in by_column else extra.get(key, Text("")) for _, key in COLUMNS
        ]

    def refresh_runs(self) -> None:
        old, old_cells = self.summaries, self._cells
        summaries = self.index.poll()
        self.summaries = {str(s.path): s for s in summaries}
        self.extras.forget({s.path for s in summaries})
        self._cells = {str(s.path): self.extras.cells(s) for s in summaries}
        had_sweeps = bool(self.groups)
        self.groups = group(summaries, self.sweep_records.poll())
        self._member_of = membership(self.groups)
        if had_sweeps != bool(self.groups):
            self.refresh_bindings()  # f (fold) is offered only where there are sweeps
        sweeps = {
            s.id: self._member_of[str(s.path)] for s in summaries if str(s.path) in self._member_of
        }
        # Worked out when a run comes, goes or joins a sweep (134 ms for 20,000 ids).
        ids = (tuple(s.id for s in summaries), tuple(sorted(sweeps.items())))
        if ids != self._short_of:
            self._short_of = ids
            short = short_ids(list(ids[0]), sweeps)
            if short != self._short:
                self._short = short
                self.shown = []  # a new run can lengthen others' short ids: every row anew
        self._fill_table(old, old_cells)
        self.show_preview()
        empty = self.query_one("#runs-empty", Static)
        empty.display = not summaries
        if not summaries:
            empty.update(
                Text(
                    f"No runs in {shown_path(self.app.runs_dir)} yet.\n\n"
                    "Press n to start one, m to browse the models, ? for help."
                )
            )

    def short_id(self, s: RunSummary) -> str:
        """The run's id as the table shows it (presentation.short_ids)."""
        return plain(self._short.get(s.id, s.id))

    def _matches(self, s: RunSummary) -> bool:
        search = self.search
        if search.empty:
            return True
        # What this poll read already: a keystroke costs no stat per run.
        note, _ = self.extras.note(s.path, again=False)
        tags, _ = self.extras.tags(s.path, again=False)
        texts = [plain(v) for v in (s.id, s.model, s.dataset, s.status, s.sweep)] + [note]
        settings = self.extras.settings(s.path) if search.needs_settings else None
        return run_search.matches(search, texts, tags, settings)

    def _fill_table(
        self, old: dict[str, RunSummary], old_cells: dict[str, dict[str, Text]] | None = None
    ) -> None:
        """Show the runs the search keeps in the columns that fit; rebuild the table
        only when the rows or the columns change."""
        old_cells = self._cells if old_cells is None else old_cells
        shown = [s for s in self.summaries.values() if self._matches(s)]
        if self.sort_column is not None:
            shown = sorted_runs(shown, self.sort_column, self.sort_reverse)
        layout = rows(shown, self.groups, self.folded)
        keys = [sweep_key(r) if isinstance(r, str) else str(r.path) for r in layout]
        changed: list[str] = []
        if keys != self.shown:
            self._rows = {
                key: self._group_row(r) if isinstance(r, str) else self._row(r)
                for r, key in zip(layout, keys, strict=True)
            }
            self._widths = {key: [t.cell_len for t in row] for key, row in self._rows.items()}
            self._widest = None
        else:
            changed = self._changed_rows(layout, old, old_cells)
        columns = self._fit_columns(keys) if changed or keys != self.shown else self.columns_shown
        if keys != self.shown or columns != self.columns_shown:
            self._rebuild(keys, columns)
            return
        table = self.query_one(DataTable)
        at = {key: i for i, (_, key) in enumerate(COLUMNS)}
        for key in changed:
            for column, _ in columns:
                table.update_cell(key, column, self._rows[key][at[column]], update_width=True)

    def _changed_rows(
        self, layout: list, old: dict[str, RunSummary], old_cells: dict[str, dict[str, Text]]
    ) -> list[str]:
        """The rows whose cells changed since the last poll, their cells made anew."""
        changed = []
        for r in layout:
            if isinstance(r, str):
                seen = self._group_cells.get(r)
                row = self._group_row(r)
                key = sweep_key(r)
                if seen == self._group_cells[r]:
                    continue
            else:
                key = str(r.path)
                before = old.get(key)
                cells = self._cells.get(key)
                if before is r and old_cells.get(key) is cells:
                    continue  # the very summary and cells shown: nothing changed
                if (
                    before is not None
                    and before.describe() == r.describe()
                    and _seen(old_cells.get(key)) == _seen(cells)
                ):
                    continue
                row = self._row(r)
            self._rows[key] = row
            self._set_widths(key, row)
            changed.append(key)
        return changed

    def _fit_columns(self, keys: list[str]) -> list[tuple[str, int | None]]:
        """The columns shown for these rows at this width, in the table's order
        (presentation.fit_columns decides which), each with the width it is cut to
        (None: as wide as its widest cell)."""
        if self._widest is None:
            rows = (self._widths[k] for k in keys)
            self._widest = [max(col) for col in zip(*rows, strict=True)] or [0] * len(COLUMNS)
        widest = self._widest
        widths = {}
        for (label, key), width in zip(COLUMNS, widest, strict=True):
            if key in EMPTY_WIDTH and width <= EMPTY_WIDTH[key]:
                continue
            widths[key] = max(len(label), width)
            widths[key] = min(widths[key], COLUMN_MAX.get(key, widths[key]))
        # The vertical scrollbar takes its room where the rows outgrow the table (a
        # half of the screen beside the preview).
        height = self.size.height - 3
        if height + 3 >= PREVIEW_MIN_HEIGHT:
            height //= 2
        room = self.size.width - (SCROLLBAR if len(keys) + 1 > height else 0)
        kept = fit_columns(widths, room)
        cut = {key for key, most in COLUMN_MAX.items() if key in kept and widths[key] == most}
        return [(key, widths[key] if key in cut else None) for _, key in COLUMNS if key in kept]

    def _set_widths(self, key: str, row: list[Text]) -> None:
        """A row's cells changed: their widths, and the columns' widest kept up to
        date (worked out again only where the widest cell of a column narrowed)."""
        new = [t.cell_len for t in row]
        old = self._widths.get(key)
        self._widths[key] = new
        if self._widest is None:
            return
        if old is not None and any(
            o == w and n < o for o, n, w in zip(old, new, self._widest, strict=True)
        ):
            self._widest = None
        else:
            self._widest = [max(a, b) for a, b in zip(self._widest, new, strict=True)]

    def _rebuild(self, keys: list[str], columns: list[tuple[str, int | None]]) -> None:
        """Every row anew in these columns, the cursor kept on the same run."""
        table = self.query_one(DataTable)
        current = self.selected_key()
        table.clear(columns=True)
        labels = {key: label for label, key in COLUMNS}
        for column, width in columns:
            table.add_column(labels[column], key=column, width=width)
        shown = {column for column, _ in columns}
        at = [i for i, (_, key) in enumerate(COLUMNS) if key in shown]
        for key in keys:
            row = self._rows[key]
            table.add_row(*(row[i] for i in at), key=key)
        self.shown, self.columns_shown = keys, columns
        if current in keys:
            table.move_cursor(row=keys.index(current))
        elif (sweep := self._sweep_at(current)) is not None and sweep_key(sweep) in keys:
            table.move_cursor(row=keys.index(sweep_key(sweep)))  # folded under its sweep

    # -- the highlighted run's samples --------------------------------------------

    def on_resize(self) -> None:
        if self.shown:
            self._refit()
        self.show_preview()

    def _refit(self) -> None:
        columns = self._fit_columns(self.shown)
        if columns != self.columns_shown:
            self._rebuild(self.shown, columns)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_preview()

    def detail(self, run: Path) -> tuple[str, Text]:
        """The highlighted run whole: its full id; its tags and note."""
        summary = self.summaries.get(str(run))
        name = plain(summary.id if summary else run.name, 300)
        tags, tags_bad = self.extras.tags(run, again=False)
        note, _ = self.extras.note(run, again=False)
        about = Text()
        if tags_bad:
            about.append(tags_bad, "red")
        elif tags:
            about.append("tags ", "dim")
            about.append(plain(" ".join(tags), 600))
        if note:
            about.append(" · " if about else "")
            about.append(plain(note, 600))
        if summary is not None and (summary.error or summary.side_error):
            about.append(" · " if about else "")
            why = (summary.error or summary.side_error or "").replace(f"{run}{os.sep}", "")
            about.append(plain(why, 600), "red")
        return name, about

    def show_preview(self) -> None:
        """The latest sample grid of the run under the cursor, when there is room;
        the run's full id, tags and note on its border (on a line of their own
        where there is no room for the grid)."""
        box = self.query_one("#runs-preview-box")
        line = self.query_one("#runs-detail", Static)
        run = self.selected()
        sweep = sweep_of_key(self.selected_key())
        room = self.size.height >= PREVIEW_MIN_HEIGHT
        box.display = room and run is not None
        line.display = (not room and run is not None) or sweep in self.groups
        self.set_class(box.display, "-with-preview")
        if sweep in self.groups:  # a sweep's row: its id and its members' counts whole
            members = self.groups[sweep].cells(False)["losses"]
            line.update(Text.assemble((plain(sweep, 300), "bold"), " · ", members))
        if run is None:
            return
        name, about = self.detail(run)
        if not box.display:
            line.update(Text.assemble((name, "bold"), " · " if about else "", about))
            return
        preview = self.query_one(SamplePreview)
        path = run / LATEST_SAMPLE
        box.border_title = Text(f"latest samples · {name}")  # not markup
        box.border_subtitle = about if about else ""
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = None
        if preview.path != path:
            preview.path = path
            preview.reload(force=True)
        elif stamp != self._preview_stamp:
            preview.reload()  # throttled: a fast run rewrites its grid often
        self._preview_stamp = stamp

    def _group_row(self, sweep: str) -> list[Text]:
        cells = self.groups[sweep].cells(is_folded(sweep, self.groups, self.folded))
        row = [cells.get(key, Text("")) for _, key in COLUMNS]
        self._group_cells[sweep] = [(t.plain, str(t.style)) for t in row]
        return row

    def _sweep_at(self, key: str | None) -> str | None:
        """The sweep of a row: its own, or the one of the member run it shows."""
        if (sweep := sweep_of_key(key)) is not None:
            return sweep
        return self._member_of.get(key) if key else None

    def _update_row(self, s: RunSummary) -> None:
        key = str(s.path)
        row = self._rows[key] = self._row(s)
        self._set_widths(key, row)
        columns = self._fit_columns(self.shown)
        if columns != self.columns_shown:
            self._rebuild(self.shown, columns)
            return
        table = self.query_one(DataTable)
        shown = {column for column, _ in columns}
        for (_, column), value in zip(COLUMNS, row, strict=True):
            if column in shown:
                table.update_cell(key, column, value, update_width=True)

    def cell_text(self, key: str, column: str) -> str:
        """What a row holds for a column, shown or not (a column no row fills, or
        one that does not fit, is left out of the table)."""
        at = [k for _, k in COLUMNS].index(column)
        return self._rows[key][at].plain

    def selected_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def selected(self) -> Path | None:
        """The highlighted run's folder; None on a sweep's row."""
        key = self.selected_key()
        return Path(key) if key and sweep_of_key(key) is None else None

    # -- actions -------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        box = self.query_one("#runs-filter", Input)
        if box.has_focus:  # in the filter, enter ends typing (Input.Submitted too)
            self._filter_done(box.value)
            return
        if (sweep := sweep_of_key(self.selected_key())) is not None:
            self.app.open_sweep(sweep)
        elif (run := self.selected()) is not None:
            self.app.open_run(run)

    def action_fold(self) -> None:
        sweep = self._sweep_at(self.selected_key())
        if sweep is None:
            self.notify(
                "Move to a sweep's row (or one of its runs) to fold or unfold it.",
                title="Fold",
                severity="warning",
            )
            return
        self.folded[sweep] = not is_folded(sweep, self.groups, self.folded)
        self._fill_table(self.summaries)
        table = self.query_one(DataTable)
        table.move_cursor(row=self.shown.index(sweep_key(sweep)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fold":
            return bool(self.groups)  # in the footer and `?` only where there are sweeps
        return True

    def action_new_run(self) -> None:
        self.app.open_new_run()

    def action_models(self) -> None:
        self.app.open_models()

    def action_mark(self) -> None:
        run = self.selected()
        if run is None:
            return
        self.marked ^= {run}
        self._update_row(self.summaries[str(run)])
        table = self.query_one(DataTable)
        table.move_cursor(row=min(table.cursor_row + 1, table.row_count - 1))

    def action_compare(self) -> None:
        runs = [Path(k) for k in self.summaries if Path(k) in self.marked]
        if len(runs) < 2:
            self.notify(
                "Mark two or more runs with space, then press c.",
                title="Compare",
                severity="warning",
            )
            return
        self.app.open_compare(runs)

    def action_stop(self) -> None:
        if (run := self.selected()) is not None:
            self.app.stop_run(run)

    def action_resume(self) -> None:
        if (run := self.selected()) is not None:
            self.app.ask_resume(run)

    # -- filter --------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        if not box.display and not self.filter_text:
            return
        box.value = ""  # Input.Changed refills the table
        self.filter_text = ""
        self.search = run_search.parse("")
        self._fill_table(self.summaries)
        box.display = False
        self.query_one(DataTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "runs-filter":
            self.filter_text = event.value
            self.search = run_search.parse(event.value)
            self._fill_table(self.summaries)
            self.show_preview()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "runs-filter":
            event.stop()
            self._filter_done(event.value)

    def _filter_done(self, value: str) -> None:
        """Enter in the filter keeps it and hands the keys back to the table."""
        if not value.strip():
            self.action_clear_filter()
        else:
            self.query_one(DataTable).focus()

    # -- sort --------------------------------------------------------------------

    def action_sort(self) -> None:
        order = list(SORT_KEYS)
        at = order.index(self.sort_column) + 1 if self.sort_column else 0
        self.sort_by(order[at] if at < len(order) else None)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = event.column_key.value
        if column in SORT_KEYS:
            # A second click on the same header turns the order round.
            self.sort_by(column, reverse=column == self.sort_column and not self.sort_reverse)

    def sort_by(self, column: str | None, reverse: bool = False) -> None:
        self.sort_column = column
        self.sort_reverse = reverse
        base = f"runs in {shown_path(self.app.runs_dir)}"
        if column is None:
            self.sub_title = base
        else:
            label = dict((key, label) for label, key in COLUMNS)[column]
            self.sub_title = f"{base} · by {label}{' (reversed)' if reverse else ''}"
        self._fill_table(self.summaries)

    # -- delete --------------------------------------------------------------------

    def action_delete(self) -> None:
        key = self.selected_key()
        summary = self.summaries.get(key) if key else None
        if summary is None:
            return
        name = plain(summary.id, 80)
        # The lock decides, not the row: a live run whose eval.json or run.json is
        # damaged may show as unreadable, and is running all the same.
        if summary.status == "running" or is_running(Path(summary.path)):
            self.notify(
                f"{name} is running: stop it (s) first, then delete it.",
                title="Not deleted",
                severity="warning",
            )
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_run(Path(summary.path))

        self.app.push_screen(ConfirmDelete(name), answered)

    def delete_run(self, run: Path) -> None:
        """Remove a run folder: only a real folder directly inside the runs folder,
        and never one that is running by now: its lock is judged again here, after
        the question (the list is a second old, and a row is no proof either way)."""
        if is_running(run):
            self.notify(
                f"{plain(run.name, 80)} is running now: not deleted.",
                title="Not deleted",
                severity="warning",
            )
            return
        root = Path(self.app.runs_dir).resolve()
        if run.is_symlink() or not run.is_dir() or run.resolve().parent != root:
            self.notify(
                f"{plain(str(run), 200)} is not a run folder inside "
                f"{shown_path(self.app.runs_dir)}: not deleted.",
                title="Not deleted",
                severity="error",
            )
            return
        try:
            # Holding the run's lock while it goes: a trainer that starts (a resume
            # elsewhere) in the meantime is refused, and one that holds it refuses us.
            lock = RunLock(run).acquire()
        except UsageError as exc:
            self.notify(
                f"{plain(str(exc), 300)}: not deleted.",
                title="Not deleted",
                severity="warning",
                markup=False,
            )
            return
        try:
            shutil.rmtree(run)
        except OSError as exc:
            self.notify(
                f"could not remove {plain(run.name, 80)}: {plain(str(exc), 200)}",
                title="Not deleted",
                severity="error",
            )
        else:
            self.notify(f"{plain(run.name, 80)} and its folder are gone.", title="Deleted")
        finally:
            lock.release()  # gone with the folder, or still ours where rmtree stopped
        self.marked.discard(run)
        self.refresh_runs()

    # -- rename, note, clone --------------------------------------------------------

    def action_rename(self) -> None:
        key = self.selected_key()
        summary = self.summaries.get(key) if key else None
        if summary is None:
            return
        if summary.status == "running" or is_running(Path(summary.path)):
            self.notify(
                f"{plain(summary.id, 80)} is running: its trainer holds the folder; "
                "stop it (s) first, then rename it.",
                title="Not renamed",
                severity="warning",
                markup=False,
            )
            return
        run = Path(summary.path)

        def answered(name: str | None) -> None:
            if name:
                self.rename(run, name)

        self.app.push_screen(RenameDialog(run.name, run.parent), answered)

    def rename(self, run: Path, name: str) -> None:
        """Rename a run's folder (refused, in a notification, while it runs or when
        the name is taken); its mark and the cursor follow it."""
        try:
            new = rename_run(run, name)
        except UsageError as exc:
            self.notify(plain(str(exc), 300), title="Not renamed", severity="error", markup=False)
            return
        if run in self.marked:
            self.marked = (self.marked - {run}) | {new}
        self.refresh_runs()
        if str(new) in self.shown:
            self.query_one(DataTable).move_cursor(row=self.shown.index(str(new)))
        self.notify(
            f"{plain(run.name, 80)} is now {plain(new.name, 80)}.", title="Renamed", markup=False
        )

    def action_note(self) -> None:
        self._edit(read_note, write_note, NoteDialog, "", "Note not saved")

    def action_tags(self) -> None:
        self._edit(read_tags, write_tags, TagsDialog, [], "Tags not saved")

    def _edit(
        self,
        read: Callable[[Path], Any],
        write: Callable[[Path, Any], None],
        dialog: Callable[[str, Any], Screen],
        unreadable: Any,
        failed: str,
    ) -> None:
        """The highlighted run's note or tags in their dialog, written back when
        answered; a file that cannot be read (a FIFO, a huge file) is replaced."""
        run = self.selected()
        if run is None:
            return
        try:
            current = read(run)
        except UsageError:
            current = unreadable

        def answered(value: Any) -> None:
            if value is None:
                return
            try:
                write(run, value)
            except (UsageError, OSError) as exc:
                self.notify(plain(str(exc), 300), title=failed, severity="error", markup=False)
                return
            self.refresh_runs()

        self.app.push_screen(dialog(run.name, current), answered)

    def action_clone(self) -> None:
        run = self.selected()
        if run is None:
            return
        # The new-run form's side of this is the app's (GenbenchApp.clone_run).
        clone = getattr(self.app, "clone_run", None)
        if clone is None:
            self.notify(
                "Cloning a run's settings is not available in this version.",
                title="Clone",
                severity="warning",
            )
            return
        clone(run)
