"""Home: every run in the runs folder, with live status."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Header, Input, Static

from genbench.runs import LATEST_SAMPLE, RunSummary
from genbench.tui.format import (losses_text, plain, quality_text, shown_path, speed_text,
                                 status_text, step_text)
from genbench.tui.run_tail import RunIndex
from genbench.tui.screens.dialogs import ConfirmDelete
from genbench.tui.widgets.sample_preview import SamplePreview

if TYPE_CHECKING:  # pragma: no cover - for annotations only
    from textual import getters

    from genbench.tui.app import GenbenchApp

POLL_S = 1.0
# Below this many rows the table needs the whole screen; above it the highlighted
# run's latest samples fill the space a short list leaves empty.
PREVIEW_MIN_HEIGHT = 30
COLUMNS = (("", "mark"), ("run", "run"), ("model", "model"), ("dataset", "dataset"),
           ("status", "status"), ("step", "step"), ("losses", "losses"), ("img/s", "speed"),
           ("quality", "quality"))

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


def sorted_runs(runs: list[RunSummary], column: str, reverse: bool) -> list[RunSummary]:
    """Runs in order of a column, either way round; those without a value last."""
    def value(s: RunSummary) -> Any:
        return None if s.error else SORT_KEYS[column](s)
    have = sorted((s for s in runs if value(s) is not None), key=value, reverse=reverse)
    return have + [s for s in runs if value(s) is None]


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


class RunsScreen(Screen):
    if TYPE_CHECKING:   # typing only: textual's own idiom, so self.app is the workbench
        app = getters.app(GenbenchApp)

    AUTO_FOCUS = "#runs"    # not the filter box, hidden until `/`

    # tooltip: the longer words `?` shows; the footer keeps to the short ones.
    BINDINGS = [
        Binding("enter", "open", "Open", priority=True,
                tooltip="open the run: live loss charts, progress, samples"),
        Binding("n", "new_run", "New", tooltip="new run: pick model, dataset, hyperparameters"),
        Binding("m", "models", "Models", tooltip="installed models and plugins"),
        Binding("space", "mark", "Mark", key_display="␣",
                tooltip="mark or unmark the run for comparing"),
        Binding("c", "compare", "Compare", tooltip="compare the marked runs (two or more)"),
        Binding("s", "stop", "Stop", tooltip="stop the run gracefully (it checkpoints first)"),
        Binding("r", "resume", "Resume", tooltip="resume a stopped run from its checkpoint"),
        Binding("slash", "filter", "Filter", show=False, key_display="/",
                tooltip="filter by id, model, dataset or status; escape clears it"),
        Binding("escape", "clear_filter", "Clear filter", show=False,
                tooltip="clear the filter"),
        Binding("o", "sort", "Sort", show=False,
                tooltip="sort by the next column (run, model, dataset, status, step, "
                        "img/s, quality, then the folder's order); click a header too"),
        Binding("d", "delete", "Delete", show=False,
                tooltip="delete the run: its folder is removed (no trash); not while running"),
        Binding("delete", "delete", "Delete (del)", show=False, tooltip="delete the run, as d"),
        Binding("q", "app.quit", "Quit", tooltip="quit (runs keep training)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marked: set[Path] = set()
        self.summaries: dict[str, RunSummary] = {}     # every run in the folder
        self.shown: list[str] = []                      # the rows: those the filter keeps
        self.filter_text = ""
        self.sort_column: str | None = None             # None: the folder's own order
        self.sort_reverse = False
        self._preview_stamp: int | None = None     # mtime of the grid shown

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: id, model, dataset or status (escape clears)",
                    id="runs-filter")
        yield RunsTable(id="runs", cursor_type="row", zebra_stripes=True)
        with Vertical(id="runs-preview-box"):
            yield SamplePreview(Path(self.app.runs_dir) / LATEST_SAMPLE, id="runs-preview")
        yield Static(id="runs-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.index = RunIndex(self.app.runs_dir)
        self.sub_title = f"runs in {shown_path(self.app.runs_dir)}"
        table = self.query_one(DataTable)
        for label, key in COLUMNS:
            table.add_column(label, key=key)
        self.refresh_runs()
        self.set_interval(POLL_S, self.refresh_runs)

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    # -- the table ---------------------------------------------------------------

    def _row(self, s: RunSummary) -> list:
        """The cells of a run: all Text (a str cell is parsed as markup), every
        string from the run folder, its name too, cleaned of control characters."""
        mark = Text("●", style="bold yellow") if s.path in self.marked else Text("")
        if s.error:
            return [mark, Text(plain(s.id)), Text(""), Text(""), status_text("unreadable"),
                    Text(""), Text(plain(s.error, 300), "red"), Text(""), Text("")]
        return [mark, Text(plain(s.id)), Text(plain(s.model)), Text(plain(s.dataset)),
                status_text(s.status), Text(step_text(s.step, s.steps)),
                Text(losses_text(s.losses)), Text(speed_text(s.img_per_s)), quality_text(s)]

    def refresh_runs(self) -> None:
        old = self.summaries
        summaries = self.index.poll()
        self.summaries = {str(s.path): s for s in summaries}
        self._fill_table(old)
        self.show_preview()
        empty = self.query_one("#runs-empty", Static)
        empty.display = not summaries
        if not summaries:
            empty.update(Text(f"No runs in {shown_path(self.app.runs_dir)} yet.\n\n"
                              "Press n to start one, m to browse the models, ? for help."))

    def _matches(self, s: RunSummary) -> bool:
        needle = self.filter_text.strip().casefold()
        return not needle or any(needle in plain(v).casefold()
                                 for v in (s.id, s.model, s.dataset, s.status))

    def _fill_table(self, old: dict[str, RunSummary]) -> None:
        """Show the runs the filter keeps; rebuild only when that set changes."""
        table = self.query_one(DataTable)
        shown = [s for s in self.summaries.values() if self._matches(s)]
        if self.sort_column is not None:
            shown = sorted_runs(shown, self.sort_column, self.sort_reverse)
        keys = [str(s.path) for s in shown]
        if keys != self.shown:
            # Runs came or went: rebuild, keeping the cursor on the same run.
            current = self.selected_key()
            table.clear()
            for s in shown:
                table.add_row(*self._row(s), key=str(s.path))
            self.shown = keys
            if current in keys:
                table.move_cursor(row=keys.index(current))
        else:
            for s in shown:
                before = old.get(str(s.path))
                if before is None or before.describe() != s.describe():
                    self._update_row(s)

    # -- the highlighted run's samples --------------------------------------------

    def on_resize(self) -> None:
        self.show_preview()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_preview()

    def show_preview(self) -> None:
        """The latest sample grid of the run under the cursor, when there is room."""
        box = self.query_one("#runs-preview-box")
        run = self.selected()
        room = self.size.height >= PREVIEW_MIN_HEIGHT
        box.display = room and run is not None
        self.set_class(box.display, "-with-preview")
        if not box.display or run is None:     # run is there whenever the box shows
            return
        preview = self.query_one(SamplePreview)
        path = run / LATEST_SAMPLE
        box.border_title = Text(f"latest samples · {plain(run.name, 80)}")   # not markup
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = None
        if preview.path != path:
            preview.path = path
            preview.reload(force=True)
        elif stamp != self._preview_stamp:
            preview.reload()    # throttled: a fast run rewrites its grid often
        self._preview_stamp = stamp

    def _update_row(self, s: RunSummary) -> None:
        table = self.query_one(DataTable)
        for (_, column), value in zip(COLUMNS, self._row(s), strict=True):
            table.update_cell(str(s.path), column, value, update_width=True)

    def selected_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def selected(self) -> Path | None:
        key = self.selected_key()
        return Path(key) if key else None

    # -- actions -------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        box = self.query_one("#runs-filter", Input)
        if box.has_focus:       # enter is a priority key: in the filter it ends typing
            self._filter_done(box.value)
            return
        if (run := self.selected()) is not None:
            self.app.open_run(run)

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
            self.notify("Mark two or more runs with space, then press c.",
                        title="Compare", severity="warning")
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
        box.value = ""          # Input.Changed refills the table
        self.filter_text = ""
        self._fill_table(self.summaries)
        box.display = False
        self.query_one(DataTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "runs-filter":
            self.filter_text = event.value
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
        if summary.status == "running":
            self.notify(f"{name} is running: stop it (s) first, then delete it.",
                        title="Not deleted", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_run(Path(summary.path))

        self.app.push_screen(ConfirmDelete(name), answered)

    def delete_run(self, run: Path) -> None:
        """Remove a run folder: only a real folder directly inside the runs folder,
        and never one that is running by now (the list is at most a second old)."""
        current = self.summaries.get(str(run))
        if current is not None and current.status == "running":
            self.notify(f"{plain(run.name, 80)} is running now: not deleted.",
                        title="Not deleted", severity="warning")
            return
        root = Path(self.app.runs_dir).resolve()
        if run.is_symlink() or not run.is_dir() or run.resolve().parent != root:
            self.notify(f"{plain(str(run), 200)} is not a run folder inside "
                        f"{shown_path(self.app.runs_dir)}: not deleted.",
                        title="Not deleted", severity="error")
            return
        try:
            shutil.rmtree(run)
        except OSError as exc:
            self.notify(f"could not remove {plain(run.name, 80)}: {plain(str(exc), 200)}",
                        title="Not deleted", severity="error")
        else:
            self.notify(f"{plain(run.name, 80)} and its folder are gone.", title="Deleted")
        self.marked.discard(run)
        self.refresh_runs()
