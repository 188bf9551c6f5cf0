"""One run, live: a chart per loss, progress, images/s, ETA and the latest samples."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static

from genbench.presentation import eval_json_text
from genbench.tui.format import (
    eval_text,
    format_duration,
    losses_text,
    plain,
    speed_text,
    status_text,
    step_text,
)
from genbench.tui.resources import ResourceMonitor
from genbench.tui.run_tail import COUNT_SERIES, RunTail
from genbench.tui.widgets.header import Header
from genbench.tui.widgets.loss_chart import (
    LOSS_SMOOTHING,
    PALETTE,
    X_WALL,
    ChartView,
    LossChart,
    Series,
    chart_height,
    clock_times,
    readout_text,
    step_range,
)
from genbench.tui.widgets.sample_preview import SamplePreview

if TYPE_CHECKING:  # pragma: no cover - for annotations only
    from textual import getters

    from genbench.tui.app import GenbenchApp

POLL_S = 0.5  # chart and numbers refresh at most twice a second
RESOURCES_S = 2.0  # CPU % is an average between two looks: one every two seconds
CATCH_UP_S = 0.05  # while a long log is still being read, the next piece comes sooner


class ChartsPane(VerticalScroll):
    """The scrolling pane of charts; fits them again when its own size changes (the
    cursor's readout line above it comes and goes), not only the terminal's."""

    def on_resize(self) -> None:
        if isinstance(self.screen, RunScreen):
            self.screen.call_after_refresh(self.screen._fit_charts)


class RunScreen(Screen):
    if TYPE_CHECKING:  # typing only: textual's own idiom, so self.app is the workbench
        app = getters.app(GenbenchApp)

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="back to the runs list"),
        Binding("s", "stop", "Stop", tooltip="stop the run gracefully (it checkpoints first)"),
        Binding("r", "resume", "Resume", tooltip="resume from the last checkpoint"),
        Binding(
            "p",
            "sample_path",
            "Path",
            tooltip="show the latest sample PNG's path and copy it to the clipboard",
        ),
        # Listed under `?`, not in the footer: with Generate there it no longer fit 80
        # columns, and Clone and Quit were cut off.
        Binding(
            "a",
            "toggle_ascii",
            "ASCII",
            tooltip="switch the preview between colour and ASCII",
            show=False,
        ),
        Binding(
            "v",
            "view_samples",
            "Samples",
            tooltip="the sample grids maximised; step back through training with ← →",
        ),
        Binding(
            "g",
            "generate",
            "Generate",
            tooltip="draw from the run's generator: new noise, walks between seeds, labels",
        ),
        Binding(
            "C",
            "clone",
            "Clone",
            tooltip="a new run with this run's configuration, in the new-run form",
        ),
        Binding("q", "app.quit", "Quit", tooltip="quit (runs keep training)"),
    ]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.tail = RunTail(self.run_dir)
        self.charts: dict[str, LossChart] = {}
        self.monitor = ResourceMonitor()
        self.view = ChartView()  # x axis, zoom and cursor, shared by the charts

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="run-status"):
            yield Static(id="run-info")
            yield ProgressBar(id="run-progress", show_eta=False)
            yield Static(id="run-speed")
        yield Static(id="run-message")
        yield Static(id="run-eval")
        yield Static(id="run-eval-json")  # `genbench eval`'s figures, once it ran
        yield Static(id="run-readout")  # every chart's value at the cursor
        with Horizontal(id="run-body"):
            # Scrolls when the charts need more rows than there are (five metrics
            # at 80x24); the charts take focus, the pane itself does not.
            yield ChartsPane(id="charts", can_focus=False)
            with Vertical(id="samples-box"):
                yield SamplePreview(self.tail.sample_path, id="samples")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = plain(self.run_dir.name)
        self.query_one("#samples-box").border_title = "latest samples"
        self.query_one("#run-eval-json").styles.padding = (0, 1)
        self.query_one("#run-readout").display = False
        self.query_one("#run-readout").styles.padding = (0, 1)
        self.refresh_run()
        # A run whose folder is not written yet reports no change: say so all the same.
        self._show_numbers()
        self.set_interval(POLL_S, self.refresh_run)
        self.set_interval(RESOURCES_S, self._show_resources)

    def _show_resources(self) -> None:
        """The trainer's CPU and memory (GPU on CUDA) under its samples, as htop and
        nvitop show them; blank when it is not a live process of this machine."""
        meta = self.tail.meta
        usage = (
            self.monitor.sample(meta)
            if meta is not None and self.tail.status == "running"
            else None
        )
        self.query_one("#samples-box").border_subtitle = usage.text() if usage else ""

    def on_unmount(self) -> None:
        self.monitor.close()  # NVML, when it was started

    def refresh_run(self) -> None:
        changed, sample_changed = self.tail.poll()
        if changed:
            self._show_numbers()
            self._show_charts()
        if sample_changed:
            self.query_one(SamplePreview).reload()
        if self.tail.behind:
            # One poll reads a bounded piece of metrics.jsonl; the rest follows soon.
            self.set_timer(CATCH_UP_S, self.refresh_run)

    def _show_numbers(self) -> None:
        t = self.tail
        meta = t.meta
        info = Text.assemble(
            (plain(f"{meta.model if meta else '?'} on {meta.dataset if meta else '?'}  "), "bold"),
            status_text(t.status),
            f"  step {step_text(t.step, t.steps)}",
        )
        self.query_one("#run-info", Static).update(info)
        bar = self.query_one(ProgressBar)
        # No total means an animated bar: costly and meaningless here, so hide it.
        bar.display = t.steps is not None
        if t.steps is not None:
            bar.update(total=t.steps, progress=min(t.step, t.steps))
        speed = speed_text(t.history.img_per_s)
        eta = t.eta_seconds()
        self.query_one("#run-speed", Static).update(
            Text(
                (f"{speed} img/s" if speed else "")
                + (f"  ETA {format_duration(eta)}" if eta else "")
            )
        )
        # From the run folder: shown as text, never markup, control characters removed.
        # A running trainer's message says what it does while the step stands still
        # (the first step, an evaluation, a checkpoint), and a resume's trainer its
        # set-up while run.json still says how the run ended: in bold, as news.
        message = Text(
            plain(t.error or t.phase or (meta.message if meta else "") or "", 1000),
            style="red" if t.error else "bold" if t.phase else "",
        )
        if not message and t.history.losses:
            last = {k: v[1][-1] for k, v in t.history.losses.items()}
            message = Text("last losses  " + losses_text(last))
        elif meta is None and not t.error:
            # The trainer loads the data and builds the model before the run folder
            # exists (bad input must leave none); a run started here says each step
            # of that in its launch log.
            message = Text(t.phase or "starting: the trainer's process begins", "bold")
        if t.history.skimmed:
            message.append("  (history sampled: the log is too long to read whole)", "dim")
        self.query_one("#run-message", Static).update(message)
        evaluation = self.query_one("#run-eval", Static)
        evaluation.display = t.history.evaluation is not None
        final = t.final_quality
        # With eval.json's figures beside it, the live check's are marked as such (the
        # CLI's `*`): fewer samples, so its FD reads higher.
        evaluation.update(eval_text(t.history.evaluation, "live check*" if final else "eval"))
        final_line = self.query_one("#run-eval-json", Static)
        final_line.display = final is not None
        final_line.update(eval_json_text(final))

    def _show_charts(self) -> None:
        box = self.query_one("#charts", VerticalScroll)
        history = self.tail.history
        # Each loss, then sample quality over steps (FD, coverage) when the trainer
        # measures it: a falling coverage curve is how mode collapse looks.
        # A model whose one loss is called "loss" (the VAE) gets "loss", not "loss loss".
        series = [
            (name, name if name == "loss" else f"loss {name}", sv)
            for name, sv in history.losses.items()
        ]
        series += [(title, title, sv) for title, sv in history.quality.items()]
        # Then each optimiser's learning rate and the trainer's CPU and memory: any
        # series the tail reads is charted, raw.
        series += [(title, title, sv) for title, sv in history.lr.items()]
        series += [(title, title, sv) for title, sv in history.system.items()]
        # One step range for every chart of the run, evaluations included.
        x_range = step_range([steps for _, _, (steps, _) in series])
        for i, (name, title, (steps, values)) in enumerate(series):
            chart = self.charts.get(name)
            if chart is None:
                # Losses are noisy: smoothed as TensorBoard does by default. Sample
                # quality is measured now and then, and each value counts: raw.
                is_loss = name in history.losses
                chart = self.charts[name] = LossChart(
                    classes="loss-chart",
                    integer=name in COUNT_SERIES,
                    focusable=True,
                    smoothing=LOSS_SMOOTHING if is_loss else 0.0,
                    maximisable=True,
                )
                chart.set_title(Text(plain(title, 60)))  # names from metrics.jsonl
                chart.view, chart.export_name = self.view, self.run_dir.name
                box.mount(chart)
                self.call_after_refresh(self._fit_charts)
                # A chart only knows its width once laid out: draw after that.
                self.call_after_refresh(self._show_charts)
                continue
            # metrics.jsonl's time is training time: on the clock from run.json's starts.
            times, origin = clock_times(self.tail, steps)
            line = Series(plain(name, 60), steps, values, PALETTE[i % len(PALETTE)], times=times)
            line.origin = origin
            chart.draw([line], x_range, marks=self.tail.marks)
        self._show_readout()

    def on_loss_chart_view_changed(self, event: LossChart.ViewChanged) -> None:
        """One chart's x axis, zoom or cursor changed: every chart reads the same."""
        event.stop()
        self.view = event.chart.view
        for chart in self.charts.values():
            chart.set_view(self.view)
        self._show_readout()

    def _show_readout(self) -> None:
        readout = self.query_one("#run-readout", Static)
        cursor = self.view.cursor
        readout.display = cursor is not None
        if cursor is None:
            return
        charts = list(self.charts.values())
        readings = [r for chart in charts for r in chart.readings()]
        marks = self.charts and charts[0].marks_at(cursor)
        _, origin = clock_times(self.tail, [])
        clock = self.view.x_mode == X_WALL
        readout.update(readout_text(cursor, readings, marks or [], origin, clock))

    def on_loss_chart_maximise(self, event: LossChart.Maximise) -> None:
        from genbench.tui.screens.chart import ChartScreen

        event.stop()
        self.app.push_screen(ChartScreen(event.chart))

    def _fit_charts(self) -> None:
        """As many charts as fit at a readable height share the pane (three at
        120x40, five at 200x60), one at a time on a small terminal; the pane scrolls
        to the others. A plain 1fr gave one chart the whole pane at 120x40."""
        pane = self.query_one("#charts", VerticalScroll)
        n, rows = len(self.charts), pane.scrollable_content_region.height
        if not n or rows < 1:
            return
        height = chart_height(n, rows)
        for chart in self.charts.values():
            chart.styles.height = height

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_charts)

    # -- actions -----------------------------------------------------------------

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:  # opened straight from `genbench watch`: go to the runs list
            self.app.switch_to_runs()

    def action_stop(self) -> None:
        self.app.stop_run(self.run_dir)

    def action_resume(self) -> None:
        self.app.ask_resume(self.run_dir)

    def action_clone(self) -> None:
        # The app's clone_run is new; an app without it says so instead of failing.
        clone = getattr(self.app, "clone_run", None)
        if clone is None:
            self.notify(
                "Cloning a run is not available in this version of the workbench.",
                severity="warning",
            )
            return
        clone(self.run_dir)

    def action_sample_path(self) -> None:
        path = self.tail.sample_path
        if not path.is_file():
            self.notify("No sample grid written yet.", severity="warning")
            return
        self.app.copy_to_clipboard(str(path.resolve()))
        self.notify(
            plain(path.resolve(), 1000), title="Sample PNG (copied to the clipboard)", markup=False
        )

    def action_view_samples(self) -> None:
        from genbench.tui.screens.samples import SamplesScreen

        self.app.push_screen(SamplesScreen(self.run_dir))

    def action_generate(self) -> None:
        from genbench.tui.screens.generate import GenerateScreen

        self.app.push_screen(GenerateScreen(self.run_dir))

    def action_toggle_ascii(self) -> None:
        preview = self.query_one(SamplePreview)
        preview.set_colour(not preview.colour)
