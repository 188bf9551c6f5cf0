"""Every installed model, its paper and plugin; broken plugins listed with their error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, LoadingIndicator, Static

from genbench import config as cfg
from genbench.registry import ModelEntry
from genbench.tui.format import plain
from genbench.tui.widgets.header import Header

if TYPE_CHECKING:  # pragma: no cover - for annotations only
    from textual import getters

    from genbench.tui.app import GenbenchApp


class ModelsScreen(Screen):
    if TYPE_CHECKING:  # typing only: textual's own idiom, so self.app is the workbench
        app = getters.app(GenbenchApp)

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("n", "new_run", "New run with this model"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield LoadingIndicator(id="models-loading")
        with Horizontal(id="models-body"):
            yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="model-detail-box"):
                yield Static(id="model-detail")
        yield Static(id="models-problems")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "models"
        table = self.query_one(DataTable)
        table.add_columns("model", "plugin")
        self.query_one("#model-detail-box").border_title = "details"
        self.refresh_run_choices()

    def refresh_run_choices(self) -> None:
        cat = self.app.run_choices
        loading = cat is None
        self.query_one("#models-loading").display = loading
        self.query_one("#models-body").display = not loading
        if cat is None:
            return
        table = self.query_one(DataTable)
        table.clear()
        self.entries = cat.entries()
        for e in self.entries:
            origin = (
                "built-in" if e.plugin.builtin else f"{e.plugin.distribution} {e.plugin.version}"
            )
            # Names and versions come from installed distributions: text, not markup.
            key = cat.key(e)  # two distributions' "lsgan" are two rows
            table.add_row(Text(plain(cat.label(e), 60)), Text(plain(origin, 80)), key=key)
        problems = [
            Text.assemble(
                ("broken plugin ", "bold red"),
                f"{b.plugin.name} ({b.plugin.distribution} {b.plugin.version}): ",
                (b.error, "red"),
            )
            for b in cat.registry.broken
        ]
        problems += [
            Text.assemble(("name clash ", "bold yellow"), plain(line, 300))
            for line in cat.registry.clash_lines()
        ]
        box = self.query_one("#models-problems", Static)
        box.display = bool(problems)
        box.update(Group(*problems))
        if self.entries:
            table.focus()
            self.show_detail(self.entries[0])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        entry = self.selected()
        if entry is not None:
            self.show_detail(entry)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_new_run()

    def selected(self) -> ModelEntry | None:
        if self.app.run_choices is None or not getattr(self, "entries", None):
            return None
        row = self.query_one(DataTable).cursor_row
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def show_detail(self, e: ModelEntry) -> None:
        c = e.cls
        head = Text.assemble(
            (c.title or c.name, "bold"),
            "\n",
            (c.summary or "", ""),
            "\n",
            (c.paper or "", "italic dim"),
            "\n\n",
            ("trains on ", "dim"),
            ", ".join(sorted(c.kinds)) + " data",
            ("  conditional" if c.conditional else ""),
            "\n",
            ("plugin ", "dim"),
            self.plugin_line(e),
        )
        # One line a field, wrapping as a paragraph: reads at 80 columns as at 200.
        fields = [Text("hyperparameters", style="bold")]
        for f in cfg.describe(c.Config):
            fields.append(
                Text.assemble((f["name"], "cyan"), f" = {f['default']}  ", (f["help"], "dim"))
            )
        fields += self.data_default_lines(c)
        self.query_one("#model-detail", Static).update(Group(head, Text(""), *fields))

    def plugin_line(self, e: ModelEntry) -> str:
        """Where a model comes from. An entry point providing several models is named
        by its distribution, with the models it provides: its entry-point name is
        often another model's (a scaffold's first model), which would misname this one."""
        p = e.plugin
        together = [x.name for x in self.entries if x.plugin == p]
        if len(together) <= 1:
            return f"{p.name} from {p.distribution} {p.version}"
        return f"{p.distribution} {p.version}, entry point {p.name} ({', '.join(together)})"

    def data_default_lines(self, model_cls) -> list[Text]:
        """Where the model defaults differently, one line per set of datasets."""
        by_values: dict[str, list[str]] = {}
        assert self.app.run_choices is not None  # details show once they are loaded
        for ds in self.app.run_choices.datasets:
            try:
                if model_cls.unsupported_reason(ds.spec):
                    continue
                own = cfg.data_defaults(model_cls, ds.spec)
            except Exception:  # noqa: BLE001 - a broken plugin is named elsewhere
                continue
            if own:
                shown = ", ".join(f"{k} = {v}" for k, v in own.items())
                by_values.setdefault(shown, []).append(ds.name)
        return [
            Text.assemble(("on " + ", ".join(names), "yellow"), f": {shown}")
            for shown, names in by_values.items()
        ]

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_new_run(self) -> None:
        entry = self.selected()
        cat = self.app.run_choices
        self.app.open_new_run(cat.key(entry) if entry and cat else None)
