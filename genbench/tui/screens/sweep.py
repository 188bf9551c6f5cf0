"""One sweep, live: a row per configuration (its varied values, members done, running
and failed, mean ± std over seeds of FD, coverage and images/s), a chart of a metric
against a varied parameter, and the highlighted configuration's curves as the mean
of its seeds with their range."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.option_list import Option

from genbench.sweep.results import (
    LOWER_IS_BETTER,
    ConfigResult,
    MemberResult,
    best_first,
    ranking_metric,
)
from genbench.tui.format import plain, quality_text, status_text, step_text
from genbench.tui.run_tail import COUNT_SERIES, RunIndex, RunTail
from genbench.tui.sweep_data import (
    SweepState,
    axis_values,
    band,
    members_text,
    status_word,
)
from genbench.tui.widgets.header import Header
from genbench.tui.widgets.loss_chart import FAINT, PALETTE, POINTS, LossChart, Series

if TYPE_CHECKING:  # pragma: no cover - for annotations only
    from textual import getters

    from genbench.tui.app import GenbenchApp

POLL_S = 1.0
METRIC_NAMES = {"fd": "FD", "coverage": "covered", "img_per_s": "img/s"}
COMPARE_K = 3  # the best k members `c` compares, to start with
COMPARE_MAX = 10  # as many as the palette tells apart
# Each line's seeds in their own shape, told apart under NO_COLOR too.
POINT_MARKERS = "●○◆◇■□▲△▼▽"


def sort_value(c: ConfigResult, column: str, metric_names: dict[str, str]) -> Any:
    """A configuration's sort key for a column: best first for a metric, by value for
    a varied key (numbers as numbers); those without a value last."""
    if column in metric_names:
        mean = c.spread(column).mean
        if mean is None:
            return (1, 0.0, "")
        return (0, mean if LOWER_IS_BETTER[column] else -mean, "")
    v = c.point.get(column)
    try:
        return (0, float(v), "")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return (0, 0.0, str(v))


class ConfigTable(DataTable):
    """The configurations; enter goes on to the screen's own binding (the members),
    which the footer and `?` name, as the runs list's table does."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "select_cursor":
            return False
        return super().check_action(action, parameters)


class SweepScreen(Screen):
    if TYPE_CHECKING:  # typing only: textual's own idiom, so self.app is the workbench
        app = getters.app(GenbenchApp)

    AUTO_FOCUS = "#sweep-configs"

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="back to the runs list"),
        Binding(
            "enter",
            "members",
            "Members",
            tooltip="the highlighted configuration's runs: pick one to open it",
        ),
        Binding(
            "o",
            "sort",
            "Sort",
            tooltip="sort by the next column (FD, covered, img/s, then each varied "
            "value); metrics best first",
        ),
        Binding("m", "next_metric", "Metric", tooltip="chart the next metric (FD, covered, img/s)"),
        Binding(
            "x",
            "next_axis",
            "Against",
            tooltip="chart the metric against the next varied parameter",
        ),
        Binding(
            "v",
            "next_curve",
            "Curve",
            tooltip="the highlighted configuration's next curve (each loss, then quality)",
        ),
        Binding(
            "c",
            "compare",
            "Compare",
            tooltip="compare the sweep's best k runs by its ranking metric "
            "(k is 3 to start; + and - change it)",
        ),
        Binding(
            "plus,equals_sign",
            "compare_k(1)",
            "k+1",
            show=False,
            key_display="+",
            tooltip="compare one run more",
        ),
        Binding(
            "minus", "compare_k(-1)", "k-1", show=False, key_display="-", tooltip="one run fewer"
        ),
        Binding("q", "app.quit", "Quit", tooltip="quit (runs keep training)"),
    ]

    def __init__(self, sweep_id: str) -> None:
        super().__init__()
        self.sweep_id = sweep_id
        self.state: SweepState | None = None
        self.configs: list[ConfigResult] = []  # as the table shows them
        self.sort_column: str | None = None  # None: the ranking metric
        self.metric: str | None = None  # charted against the axis; None: the ranking one
        self.axis: str | None = None
        self.curve: str | None = None  # a loss name or a quality series; None: the first
        self.k = COMPARE_K
        self._tails: dict[Path, RunTail] = {}
        self._shown: list[str] = []
        self._drawn: tuple | None = None  # what the charts were drawn from

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="sweep-summary")
        yield ConfigTable(id="sweep-configs", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="sweep-charts"):
            yield LossChart(id="sweep-metric-chart")
            yield LossChart(id="sweep-curve-chart")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"sweep {plain(self.sweep_id, 80)}"
        self.state = SweepState(Path(self.app.runs_dir), self.sweep_id)
        self.index = RunIndex(self.app.runs_dir)
        self.refresh_sweep()
        self.set_interval(POLL_S, self.refresh_sweep)

    # -- reading -------------------------------------------------------------------

    def refresh_sweep(self) -> None:
        state = self.state
        if state is None:
            return
        state.update(self.index.poll())
        if state.record is None:
            self.query_one("#sweep-summary", Static).update(
                Text(plain(state.error or "no such sweep", 300), "red")
            )
            return
        self.configs = self._sorted(state.configs)
        self._show_summary()
        self._fill_table()
        self._draw_charts()

    @property
    def ranking(self) -> str:
        return ranking_metric(self.state.configs if self.state else [], "fd")

    def _metrics(self) -> dict[str, str]:
        """The metrics some member has, in the table's order."""
        configs = self.state.configs if self.state else []
        have = {m: name for m, name in METRIC_NAMES.items() if any(c.spread(m).n for c in configs)}
        return have or {"fd": "FD"}

    def _sorted(self, configs: list[ConfigResult]) -> list[ConfigResult]:
        column = self.sort_column or self.ranking
        if column == self.ranking:
            return best_first(configs, column)
        return sorted(configs, key=lambda c: sort_value(c, column, METRIC_NAMES))

    def _show_summary(self) -> None:
        state = self.state
        assert state is not None and state.record is not None
        record = state.record
        counts: dict[str, int] = {}
        for m in state.results:
            counts[m.status] = counts.get(m.status, 0) + 1
        parts = ", ".join(f"{n} {plain(status_word(s), 20)}" for s, n in sorted(counts.items()))
        column = self.sort_column or self.ranking
        by = METRIC_NAMES.get(column, plain(column, 30))
        order = " (best first)" if column in METRIC_NAMES else ""
        self.sub_title = f"sweep {plain(record.id, 80)} · {record.state} · by {by}{order}"
        text = Text(f"{len(state.results)} members: {parts}")
        text.append("  mean ± std over seeds", style="dim")
        if state.error:
            text.append(f"  {plain(state.error, 200)}", style="red")
        self.query_one("#sweep-summary", Static).update(text)

    # -- the table -------------------------------------------------------------------

    def _columns(self) -> list[tuple[str, str]]:
        state = self.state
        keys = state.keys if state else []
        return [(plain(k, 20), f"key:{k}") for k in keys] + [
            ("members", "members"),
            ("FD", "fd"),
            ("covered", "coverage"),
            ("img/s", "img_per_s"),
        ]

    def _cells(self, c: ConfigResult) -> list[Text]:
        state = self.state
        keys = state.keys if state else []
        cells = [Text(plain(c.point.get(k), 30)) for k in keys]
        cells.append(Text(members_text(c)))
        for metric in ("fd", "coverage", "img_per_s"):
            spread = c.spread(metric)
            cells.append(
                Text(spread.text(digits=4 if metric == "img_per_s" else 3), justify="right")
            )
        return cells

    @staticmethod
    def config_key(c: ConfigResult) -> str:
        return repr(sorted(c.point.items()))

    def _fill_table(self) -> None:
        table = self.query_one("#sweep-configs", DataTable)
        columns = self._columns()
        if [str(col.key.value) for col in table.columns.values()] != [k for _, k in columns]:
            table.clear(columns=True)
            for label, key in columns:
                table.add_column(label, key=key)
            self._shown = []
        keys = [self.config_key(c) for c in self.configs]
        if keys != self._shown:
            current = self.selected_key()
            table.clear()
            for c, key in zip(self.configs, keys, strict=True):
                table.add_row(*self._cells(c), key=key)
            self._shown = keys
            if current in keys:
                table.move_cursor(row=keys.index(current))
            return
        for c, key in zip(self.configs, keys, strict=True):
            for (_, column), cell in zip(columns, self._cells(c), strict=True):
                if table.get_cell(key, column) != cell:
                    table.update_cell(key, column, cell, update_width=True)

    def selected_key(self) -> str | None:
        table = self.query_one("#sweep-configs", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def selected(self) -> ConfigResult | None:
        key = self.selected_key()
        return next((c for c in self.configs if self.config_key(c) == key), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._draw_charts()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_members()

    # -- the charts ------------------------------------------------------------------

    def _draw_charts(self) -> None:
        config = self.selected()
        curves = self._curves(config)
        metric = self.metric if self.metric in self._metrics() else self.ranking
        keys = self.state.keys if self.state else []
        axis = self.axis if self.axis in keys else (keys[0] if keys else None)
        signature = (
            metric,
            axis,
            self.curve,
            self.config_key(config) if config else None,
            [(m.name, m.value(metric)) for c in self.configs for m in c.members],
            curves,
        )
        if signature == self._drawn:
            return
        self._drawn = signature
        self._draw_metric_chart(metric, axis)
        self._draw_curve_chart(config, curves)

    def _draw_metric_chart(self, metric: str, axis: str | None) -> None:
        """Each seed a point, the mean a line; one colour for each combination of the
        other varied values (gan and lsgan along lr, say)."""
        chart = self.query_one("#sweep-metric-chart", LossChart)
        name = METRIC_NAMES.get(metric, metric)
        if axis is None:
            chart.set_title(Text(f"{name}: the sweep varies only the seed"))
            chart.draw([])
            return
        spec_axis = next(
            (
                a
                for a in (self.state.record.spec.axes if self.state and self.state.record else [])
                if a.key == axis
            ),
            None,
        )
        values = axis_values(self.configs, axis, spec_axis.values if spec_axis else ())
        others = [k for k in (self.state.keys if self.state else []) if k != axis]
        lines: dict[str, list[MemberResult]] = {}
        for c in self.configs:
            label = " ".join(f"{k}={c.point.get(k)}" for k in others) or name
            lines.setdefault(plain(label, 40), []).extend(c.members)
        series, points = [], []
        # The key to the lines below the chart, never over it: marker and colour each.
        key = Text()
        for i, (label, members) in enumerate(list(lines.items())[: len(PALETTE)]):
            colour = PALETTE[i % len(PALETTE)]
            xs, ys, means_x, means_y = [], [], [], []
            for at, v in enumerate(values):
                got = [
                    y
                    for m in members
                    if m.point.get(axis) == v and (y := m.value(metric)) is not None
                ]
                xs += [at] * len(got)
                ys += got
                if got:
                    means_x.append(at)
                    means_y.append(sum(got) / len(got))
            marker = POINT_MARKERS[i % len(POINT_MARKERS)]
            key.append(f"{marker} ", style=colour).append(f"{label}  ")
            series.append(Series(label, means_x, means_y, colour))
            points.append(Series(f"{label} seeds", xs, ys, colour, kind=POINTS, marker=marker))
        chart.set_categories([plain(v, 20) for v in values])
        chart.integer = metric == "coverage"
        chart.set_title(Text(f"{name} by {plain(axis, 30)}: seeds, mean"))
        key.rstrip()
        chart.set_caption(key if key.plain else None)
        # The seeds over the lines: a line through a point would hide it.
        chart.draw(series + points, x_range=(-0.5, len(values) - 0.5) if values else None)

    def _curves(self, config: ConfigResult | None) -> tuple:
        """The highlighted configuration's members' histories, read as they grow."""
        if config is None:
            return ()
        out = []
        for m in config.members:
            if m.summary is None:
                continue
            tail = self._tails.get(m.summary.path)
            if tail is None:
                tail = self._tails[m.summary.path] = RunTail(m.summary.path)
            tail.poll()
            h = tail.history
            named = {**h.losses, **h.quality}
            out.append(tuple((n, tuple(x), tuple(y)) for n, (x, y) in named.items()))
        return tuple(out)

    def _draw_curve_chart(self, config: ConfigResult | None, curves: tuple) -> None:
        chart = self.query_one("#sweep-curve-chart", LossChart)
        names: list[str] = []
        for member in curves:
            names += [n for n, _, _ in member if n not in names]
        if config is None or not names:
            chart.set_title(Text("curves: no metrics logged yet"))
            chart.draw([])
            return
        name = self.curve if self.curve in names else names[0]
        b = band([(x, y) for member in curves for n, x, y in member if n == name])
        colour = PALETTE[0]
        chart.integer = name in COUNT_SERIES
        chart.set_title(Text(f"{plain(name, 30)} · mean of {b.runs}, min-max"))
        chart.set_caption(Text(plain(config.label(self.state.keys if self.state else []), 60)))
        chart.draw(
            [
                Series("min", b.steps, b.low, colour, kind=FAINT),
                Series("max", b.steps, b.high, colour, kind=FAINT),
                Series("mean", b.steps, b.mean, colour),
            ]
        )

    # -- actions ---------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_sort(self) -> None:
        order = list(self._metrics()) + (self.state.keys if self.state else [])
        current = self.sort_column or self.ranking
        at = order.index(current) + 1 if current in order else 0
        self.sort_column = order[at % len(order)]
        self.refresh_sweep()

    def action_next_metric(self) -> None:
        order = list(self._metrics())
        current = self.metric if self.metric in order else self.ranking
        at = order.index(current) + 1 if current in order else 0
        self.metric = order[at % len(order)]
        self._draw_charts()

    def action_next_axis(self) -> None:
        keys = self.state.keys if self.state else []
        if not keys:
            return
        at = keys.index(self.axis) + 1 if self.axis in keys else 1
        self.axis = keys[at % len(keys)]
        self._draw_charts()

    def action_next_curve(self) -> None:
        names: list[str] = []
        for member in self._curves(self.selected()):
            names += [n for n, _, _ in member if n not in names]
        if not names:
            return
        at = names.index(self.curve) + 1 if self.curve in names else 1
        self.curve = names[at % len(names)]
        self._draw_charts()

    def action_members(self) -> None:
        config = self.selected()
        if config is None:
            return
        label = config.label(self.state.keys if self.state else []) or "every member"

        def picked(run: Path | None) -> None:
            if run is not None:
                self.app.open_run(run)

        self.app.push_screen(MembersDialog(plain(label, 80), config.members), picked)

    def best_members(self, k: int) -> list[MemberResult]:
        """The k best members of the sweep by the ranking metric (any status)."""
        metric = self.ranking
        lower = LOWER_IS_BETTER.get(metric, True)
        ranked = [
            m
            for c in self.configs
            for m in c.members
            if m.summary is not None and m.value(metric) is not None
        ]
        ranked.sort(key=lambda m: (m.value(metric) or 0.0) * (1 if lower else -1))
        return ranked[:k]

    def action_compare(self) -> None:
        best = self.best_members(self.k)
        if len(best) < 2:
            self.notify(
                "Fewer than two runs have a result yet: nothing to compare.",
                title="Compare",
                severity="warning",
            )
            return
        self.app.open_compare([m.summary.path for m in best if m.summary is not None])

    def action_compare_k(self, step: int) -> None:
        self.k = max(2, min(COMPARE_MAX, self.k + step))
        self.notify(f"c compares the best {self.k} runs.", title="Compare")


class MembersDialog(ModalScreen[Path | None]):
    """A configuration's runs, one a line: enter opens one in the run view."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, label: str, members: list[MemberResult]) -> None:
        super().__init__()
        self.label = label
        self.members = members

    def compose(self) -> ComposeResult:
        options = []
        for m in self.members:
            line = Text(f"{plain(m.name, 40):<24} ")
            line.append_text(status_text(status_word(m.status)))
            line.append(f"  {step_text(m.step, m.steps)}  ")
            if m.summary is not None:
                line.append_text(quality_text(m.summary))
            options.append(Option(line, id=m.name, disabled=m.summary is None))
        with Vertical(id="members-box") as box:
            box.border_title = Text(self.label)
            box.border_subtitle = "enter opens · escape closes"
            yield OptionList(*options, id="members")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        member = next((m for m in self.members if m.name == event.option.id), None)
        if member is not None and member.summary is not None:
            self.dismiss(member.summary.path)

    def action_close(self) -> None:
        self.dismiss(None)
