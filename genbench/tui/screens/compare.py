"""Two or more runs side by side: a chart per metric with the runs overlaid, the
hyperparameters that differ, and the latest sample grids at a readable size.

Each run has one colour, used everywhere: its legend row, its line in every chart,
its sample panel and its hyperparameter column. The legend sits above the charts,
never over the data; the run's number (#1, #2, ...) names it where colour does not
show (NO_COLOR), and so does its glyph (●, ▲, ■, ...), drawn along its line in every
chart and beside its number in the legend and the charts' captions. `f` brings one
run's lines to the front (drawn last, over the others). The charts share one view:
the x axis (step, wall or relative time), the zoomed step range and the cursor,
whose readout line lists each run's value.
"""

from __future__ import annotations

from bisect import bisect_right
from math import ceil
from pathlib import Path

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content
from textual.geometry import Region
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Static

from genbench.runfolder.runs import SAMPLES_DIR
from genbench.tui.format import plain, status_text, step_text
from genbench.tui.run_tail import COUNT_SERIES, QUALITY_SERIES, RunTail
from genbench.tui.screens.chart import ChartScreen
from genbench.tui.screens.samples import SamplesScreen, list_steps
from genbench.tui.widgets.config_diff import ConfigDiff
from genbench.tui.widgets.header import Header
from genbench.tui.widgets.loss_chart import (
    LOSS_SMOOTHING,
    PALETTE,
    RUN_GLYPHS,
    ChartView,
    LossChart,
    Series,
    chart_height,
    clock_times,
    readout_text,
    step_range,
)
from genbench.tui.widgets.run_legend import SWATCH, RunLegend, legend_row
from genbench.tui.widgets.sample_preview import SamplePreview

POLL_S = 0.5
TWO_COLUMNS = 160  # from this width on the charts go two a row (200x60)

# The body shows one of these at a time (`v` moves on): charts need the height to
# be readable, and so do the sample grids.
VIEWS = {
    "charts": "compare-charts",
    "samples": "compare-samples",
    "hyperparameters": "compare-config",
}


SAMPLE_ACTIONS = {"sample_step", "sample_first", "sample_latest", "open_samples", "toggle_ascii"}


def loss_title(name: str) -> str:
    """A chart's title for a loss; the VAE's single "loss" is not "loss loss"."""
    return name if name == "loss" else f"loss {name}"


class CompareChartScreen(ChartScreen):
    """A chart of the comparison alone (Enter): with the runs it holds, in their
    colours, under it, as in the comparison."""

    def __init__(self, source: LossChart, runs: Text) -> None:
        super().__init__(source)
        self.runs = runs

    def on_mount(self) -> None:
        # ChartScreen's own on_mount runs as well (Textual calls each class's handler).
        self.chart.set_caption(self.runs)


def chart_grid(n: int, pane: Region) -> tuple[int, int]:
    """Columns and each chart's height for ``n`` charts in a pane of this size: as
    many as fit at a readable height are seen at once, two a row on a wide terminal."""
    cols = 2 if pane.width >= TWO_COLUMNS and n > 1 else 1
    return cols, chart_height(ceil(n / cols), pane.height)


class ChartPane(VerticalScroll, can_focus=False):
    """The scrolling pane of charts; tells the screen when its size changed, so the
    charts are sized again (the legend above it grows once the runs are read)."""

    def on_resize(self) -> None:
        if isinstance(self.screen, CompareScreen):
            self.screen.call_after_refresh(self.screen._fit_charts)


class CompareScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="back to the runs list"),
        Binding(
            "v",
            "next_view",
            "View",
            tooltip="switch between charts, sample grids and hyperparameters",
        ),
        Binding(
            "d",
            "only_differences",
            "Only differences",
            tooltip="show only the hyperparameters that differ between the runs",
        ),
        Binding(
            "left",
            "sample_step(-1)",
            "Earlier",
            tooltip="every run's grid of the step before: training progress side by side",
        ),
        Binding("right", "sample_step(1)", "Later", tooltip="every run's grid of the step after"),
        Binding("home", "sample_first", "First", show=False, tooltip="every run's first grid"),
        Binding(
            "end",
            "sample_latest",
            "Latest",
            show=False,
            tooltip="every run's newest grid, following new ones",
        ),
        Binding(
            "1",
            "open_samples(1)",
            "One run",
            key_display="1-9",
            tooltip="run #n's grids alone, maximised, to step through",
        ),
        *[Binding(str(i), f"open_samples({i})", show=False) for i in range(2, 10)],
        Binding(
            "a",
            "toggle_ascii",
            "ASCII",
            tooltip="switch the sample previews between colour and ASCII",
        ),
        Binding(
            "f",
            "front_run",
            "Front run",
            tooltip="bring the next run's lines to the front of every chart (drawn on top)",
        ),
        Binding("q", "app.quit", "Quit", tooltip="quit (runs keep training)"),
    ]

    # Not the first focusable widget (the hidden hyperparameter table): the first
    # chart, once the charts are there.
    AUTO_FOCUS = ""

    DEFAULT_CSS = """
    CompareScreen #compare-views { height: 1; padding: 0 1; }
    CompareScreen #compare-readout { height: auto; padding: 0 1; }
    CompareScreen #compare-body { height: 1fr; }
    CompareScreen #compare-charts { height: 1fr; }
    CompareScreen #compare-charts LossChart { height: 1fr; min-height: 8; }
    CompareScreen #compare-no-charts { padding: 1 2; }
    CompareScreen #compare-samples { height: 1fr; grid-gutter: 0 1; }
    CompareScreen .compare-run { height: 1fr; }
    """

    def __init__(self, run_dirs: list[Path]) -> None:
        super().__init__()
        self.tails = [RunTail(Path(d)) for d in run_dirs]
        # One colour per run, in the legend, every chart, its panel and its column.
        self.colours = [PALETTE[i % len(PALETTE)] for i in range(len(self.tails))]
        # And one glyph, drawn along its lines: runs told apart without colour.
        self.glyphs = [RUN_GLYPHS[i % len(RUN_GLYPHS)] for i in range(len(self.tails))]
        self.front: int | None = None  # the run drawn over the others (`f`)
        self.chart_view = ChartView()  # x axis, zoom and cursor, shared by the charts
        self.charts: dict[str, LossChart] = {}  # chart title -> chart
        self.drawn: dict[str, list[Series]] = {}  # chart title -> what it last drew
        self.subtitles: dict[str, Text] = {}  # chart title -> the runs it holds
        self.view = "charts"
        # The step whose grids the samples view shows (each run's grid at or before
        # it); None: each run's newest, following new ones.
        self.sample_at: int | None = None

    # -- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield RunLegend(id="compare-legend")
        yield Static(id="compare-views")
        yield Static(id="compare-readout")  # each run's value at the cursor
        with ContentSwitcher(initial=VIEWS["charts"], id="compare-body"):
            # Scrolls when the charts need more rows than there are; the charts take
            # focus (arrows, Tab), the pane itself does not.
            with ChartPane(id=VIEWS["charts"]):
                # The charts of what the logs already hold come with the screen (one
                # bounded read each); metrics logged later get theirs when they come.
                for tail in self.tails:
                    tail.poll()
                for title in self._metrics():
                    yield self._new_chart(title)
                empty = Static(
                    Text(
                        "No metrics logged yet: a chart per metric appears with "
                        "the runs' first log lines.",
                        style="dim",
                    ),
                    id="compare-no-charts",
                )
                empty.display = not self.charts
                yield empty
            with Grid(id=VIEWS["samples"]):
                for i, tail in enumerate(self.tails):
                    with Vertical(classes="compare-run", id=f"compare-run-{i}") as box:
                        box.border_title = Text(
                            f"#{i + 1} {plain(tail.path.name, 60)}", style=f"bold {self.colours[i]}"
                        )
                        yield SamplePreview(tail.sample_path)
            yield ConfigDiff(id=VIEWS["hyperparameters"])
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"comparing {len(self.tails)} runs"
        n = len(self.tails)
        # Side by side while each grid keeps a readable width; more runs wrap onto
        # a second row.
        cols = n if n <= 3 else min(4, ceil(n / 2))
        grid = self.query_one(f"#{VIEWS['samples']}", Grid)
        grid.styles.grid_size_columns = max(1, cols)
        grid.styles.grid_size_rows = max(1, ceil(n / max(1, cols)))
        for i, box in enumerate(self.query(".compare-run")):
            box.styles.border = ("round", self.colours[i])
        self._show_views()
        self.query_one("#compare-readout").display = False
        if self.charts:
            next(iter(self.charts.values())).focus()
        self.call_after_refresh(self._fit_charts)
        # Draw once the charts have their size, then keep polling.
        self.call_after_refresh(self.refresh_runs, True)
        self.set_interval(POLL_S, self.refresh_runs)

    # -- what the runs hold ----------------------------------------------------------

    def metric_series(self) -> dict[str, list[Series]]:
        """A chart title per metric (the union over the runs: their losses, then
        sample quality), each with one series per run that has it, in its colour."""
        return {title: [s for _, s in runs] for title, runs in self._metrics().items()}

    def _metrics(self) -> dict[str, list[tuple[int, Series]]]:
        """metric_series, with each series' run index."""
        losses: dict[str, list[tuple[int, Series]]] = {}
        quality: dict[str, list[tuple[int, Series]]] = {}
        for i, tail in enumerate(self.tails):
            for name, (steps, values) in tail.history.losses.items():
                losses.setdefault(plain(loss_title(name), 60), []).append(
                    (i, self._series(i, steps, values))
                )
            for title, (steps, values) in tail.history.quality.items():
                quality.setdefault(title, []).append((i, self._series(i, steps, values)))
        return {**losses, **quality}

    def _label(self, i: int) -> str:
        return f"#{i + 1} {plain(self.tails[i].path.name, 40)}"

    def _series(self, i: int, steps: list, values: list) -> Series:
        """Run i's series: its colour and glyph, and when each point was logged (for
        the time axes; relative time counts from the run's own first line)."""
        times, origin = clock_times(self.tails[i], steps)
        return Series(
            self._label(i),
            steps,
            values,
            self.colours[i],
            times=times,
            origin=origin,
            glyph=self.glyphs[i],
            # Each run's glyphs start at another place along the line, so where two
            # lines overlap their glyphs do not land on each other.
            glyph_phase=i / max(1, len(self.tails)),
        )

    def series(self) -> list[Series]:
        """Every loss of every run, in its run's colour, labelled '#run loss'."""
        out: list[Series] = []
        for i, tail in enumerate(self.tails):
            for name, (steps, values) in tail.history.losses.items():
                out.append(Series(f"#{i + 1} {plain(name, 40)}", steps, values, self.colours[i]))
        return out

    # -- refreshing ------------------------------------------------------------------

    def refresh_runs(self, force: bool = False) -> None:
        any_changed = force
        behind = False
        for i, tail in enumerate(self.tails):
            changed, sample_changed = tail.poll()
            behind |= tail.behind
            any_changed |= changed
            if changed or force:
                box = self.query_one(f"#compare-run-{i}")
                # Text, not markup: the model name comes from the run folder.
                status = status_text(tail.status)
                box.border_subtitle = Content.assemble(
                    plain(tail.meta.model if tail.meta else "?", 40),
                    " ",
                    (status.plain, str(status.style)),
                    f" {step_text(tail.step, tail.steps)}",
                )
            if sample_changed:
                self.query_one(f"#compare-run-{i}").query_one(SamplePreview).reload()
        if any_changed:
            self._show_legend()
            self.query_one(ConfigDiff).show([t.meta for t in self.tails], self._headers())
            self._show_charts()
        if behind:
            # One poll reads a bounded piece of each log; the rest follows soon.
            self.set_timer(0.05, self.refresh_runs)

    def _show_legend(self) -> None:
        self.query_one(RunLegend).show(
            [
                legend_row(i + 1, self.colours[i], t, self.glyphs[i], front=i == self.front)
                for i, t in enumerate(self.tails)
            ]
        )

    def on_loss_chart_view_changed(self, event: LossChart.ViewChanged) -> None:
        """One chart's x axis, zoom or cursor changed: every chart reads the same."""
        event.stop()
        self.chart_view = event.chart.view
        for chart in self.charts.values():
            chart.set_view(self.chart_view)
        self._show_readout()

    def _show_readout(self) -> None:
        """The focused chart's value of each run at the cursor (the first chart's
        when none has focus)."""
        readout = self.query_one("#compare-readout", Static)
        cursor = self.chart_view.cursor
        # The line takes rows from the charts' pane, which fits them again (ChartPane).
        readout.display = cursor is not None and self.view == "charts"
        if cursor is None or not self.charts:
            return
        chart = self.focused if isinstance(self.focused, LossChart) else None
        chart = chart or next(iter(self.charts.values()))
        title = next((t for t, c in self.charts.items() if c is chart), "")
        line = Text.assemble((plain(title, 40), "bold"), "  ")
        line.append_text(readout_text(cursor, chart.readings()))
        readout.update(line)

    def on_descendant_focus(self) -> None:
        self._show_readout()  # the readout follows the focused chart

    def action_front_run(self) -> None:
        """The next run to the front of every chart: #1, #2, ... then none again."""
        n = len(self.tails)
        self.front = 0 if self.front is None else (None if self.front + 1 >= n else self.front + 1)
        self._show_legend()
        self._show_charts()  # the legend's ▶ says which: no toast over the charts

    def _headers(self) -> list[Text]:
        return [
            Text(f"#{i + 1} {plain(t.path.name, 24)}", style=f"bold {self.colours[i]}")
            for i, t in enumerate(self.tails)
        ]

    def _show_charts(self) -> None:
        metrics = self._metrics()
        # One step range for every chart, so the same step sits at the same column.
        x_range = step_range([s.steps for runs in metrics.values() for _, s in runs])
        pane = self.query_one(ChartPane)
        new = False
        for title, runs in metrics.items():
            series = [s for _, s in runs]
            chart = self.charts.get(title)
            if chart is None:
                chart = self._new_chart(title)
                pane.mount(chart, before="#compare-no-charts")
                new = True
            # Which runs this chart holds, in their colours and glyphs: the legend,
            # outside the data.
            self.subtitles[title] = Text(" ").join(
                Text.assemble(
                    (f"{SWATCH[0]}{self.glyphs[i]}", f"bold {self.colours[i]}"), f"#{i + 1}"
                )
                for i, _ in runs
            )
            chart.set_caption(self.subtitles[title])
            self.drawn[title] = series
            # One series per run, an empty one where the run lacks this metric, so a
            # chart's n-th series is run #n in every chart (the chart's series keys).
            by_run = dict(runs)
            chart.front = None if self.front is None else self._label(self.front)
            chart.draw(
                [
                    by_run.get(i) or Series(self._label(i), [], [], self.colours[i])
                    for i in range(len(self.tails))
                ],
                x_range,
            )
        self._show_readout()
        self.query_one("#compare-no-charts").display = not self.charts
        if new:
            if self.focused is None and self.view == "charts":
                next(iter(self.charts.values())).focus()
            self.call_after_refresh(self._fit_charts)
            # A chart only knows its width once laid out: draw again after that.
            self.call_after_refresh(self._show_charts)

    def _new_chart(self, title: str) -> LossChart:
        # Losses are noisy: smoothed as TensorBoard does and the run view does; sample
        # quality is measured now and then and each value counts: raw.
        is_loss = title not in QUALITY_SERIES.values()
        chart = self.charts[title] = LossChart(
            classes="loss-chart",
            integer=title in COUNT_SERIES,
            focusable=True,
            smoothing=LOSS_SMOOTHING if is_loss else 0.0,
            maximisable=True,
            # The first chart keeps the id the single compare chart had.
            id=None if self.charts else "compare-chart",
        )
        chart.set_title(Text(title))
        chart.view, chart.export_name = self.chart_view, "compare"
        return chart

    def _fit_charts(self) -> None:
        """Size the charts to the pane: as many as fit at a readable height are seen
        at once (two charts at 120x40 share the pane, five at 80x24 scroll), two a
        row on a wide terminal."""
        pane = self.query_one(ChartPane)
        n = len(self.charts)
        region = pane.scrollable_content_region
        if not n or region.height < 1:
            return
        cols, height = chart_grid(n, region)
        if cols > 1:
            pane.styles.layout = "grid"
            pane.styles.grid_size_columns = cols
            pane.styles.grid_rows = str(height)
        else:
            pane.styles.layout = "vertical"
        for chart in self.charts.values():
            chart.styles.height = height

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_charts)

    # -- views -------------------------------------------------------------------------

    def _show_views(self) -> None:
        bar = Text()
        for name in VIEWS:
            shown = name == self.view
            # Reverse where styles show, brackets where they do not (NO_COLOR).
            # A click on a view's name shows it, as `v` does.
            click = Style(meta={"@click": f"screen.show_view('{name}')"})
            bar.append(
                f"[{name}]" if shown else f" {name} ",
                style=Style.parse("bold reverse" if shown else "dim") + click,
            )
            bar.append(" ")
        bar.append("  v: next view", style="dim")
        if self.view == "samples":
            at = "newest" if self.sample_at is None else f"step {self.sample_at}"
            bar.append(f"   grids: {at} (←/→)", style="dim")
        self.query_one("#compare-views", Static).update(bar)

    def show_view(self, name: str) -> None:
        self.view = name
        self.query_one(ContentSwitcher).current = VIEWS[name]
        self._show_views()
        self._show_readout()
        self.refresh_bindings()
        if name == "charts":
            if self.charts:
                next(iter(self.charts.values())).focus()
            # Charts drawn while hidden had no width: draw them at their size.
            self.call_after_refresh(self._show_charts)
        elif name == "hyperparameters":
            self.query_one(ConfigDiff).focus()
        else:
            self.set_focus(None)
            # A preview hidden since it was mounted is not always told its new size
            # when shown (seen after scrolling the charts first): draw at the size
            # it has once laid out.
            self.call_after_refresh(self._reload_previews)

    def _reload_previews(self) -> None:
        for preview in self.query(SamplePreview):
            preview.reload(force=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "only_differences":
            return self.view == "hyperparameters"
        if action in SAMPLE_ACTIONS:
            return self.view == "samples"
        return True

    # -- sample grids over training ------------------------------------------------

    def _sample_steps(self) -> list[list[tuple[int, Path]]]:
        """Each run's samples/step-N.png, by step (what the samples screen lists)."""
        return [list_steps(t.path)[0] for t in self.tails]

    def _show_samples(self) -> None:
        """Each run's grid at ``sample_at`` (its newest at or before it), or its newest."""
        per_run = self._sample_steps() if self.sample_at is not None else []
        for i, tail in enumerate(self.tails):
            box = self.query_one(f"#compare-run-{i}")
            preview = box.query_one(SamplePreview)
            title = Text(f"#{i + 1} {plain(tail.path.name, 60)}", style=f"bold {self.colours[i]}")
            path = tail.sample_path
            if self.sample_at is not None:
                earlier = [(s, p) for s, p in per_run[i] if s <= self.sample_at]
                # No grid yet at that step: a name that is not there, and the preview
                # says "no samples yet".
                step, path = (
                    earlier[-1]
                    if earlier
                    else (self.sample_at, tail.path / SAMPLES_DIR / f"step-{self.sample_at}.png")
                )
                title.append(f"  step {step}", style="bold")
            box.border_title = title
            if preview.path != path:
                preview.path = path
                preview.reload(force=True)
        self._show_views()

    def action_sample_step(self, delta: int) -> None:
        steps = sorted({s for run in self._sample_steps() for s, _ in run})
        if not steps:
            self.notify(
                "No sample grids (samples/step-*.png) in these runs yet.", severity="warning"
            )
            return
        at = steps[-1] if self.sample_at is None else self.sample_at
        i = max(0, bisect_right(steps, at) - 1)
        j = max(0, min(len(steps) - 1, i + delta))
        # Past the newest grid: the newest, following new ones again.
        self.sample_at = None if delta > 0 and j == i else steps[j]
        self._show_samples()

    def action_sample_first(self) -> None:
        steps = sorted({s for run in self._sample_steps() for s, _ in run})
        if steps:
            self.sample_at = steps[0]
            self._show_samples()

    def action_sample_latest(self) -> None:
        self.sample_at = None
        self._show_samples()

    def action_open_samples(self, number: int) -> None:
        if 1 <= number <= len(self.tails):
            self.app.push_screen(SamplesScreen(self.tails[number - 1].path))

    def on_loss_chart_maximise(self, event: LossChart.Maximise) -> None:
        event.stop()
        title = next((t for t, c in self.charts.items() if c is event.chart), "")
        self.app.push_screen(CompareChartScreen(event.chart, self.subtitles.get(title, Text())))

    # -- actions -----------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_show_view(self, name: str) -> None:
        if name in VIEWS:
            self.show_view(name)

    def action_next_view(self) -> None:
        names = list(VIEWS)
        self.show_view(names[(names.index(self.view) + 1) % len(names)])

    def action_only_differences(self) -> None:
        self.query_one(ConfigDiff).toggle_only_differences(
            [t.meta for t in self.tails], self._headers()
        )

    def action_toggle_ascii(self) -> None:
        for preview in self.query(SamplePreview):
            preview.set_colour(not preview.colour)
