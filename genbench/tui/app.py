"""The genbench workbench: pick a model, launch runs, watch and compare them.

The app never trains in-process and never imports the training loop. It starts
runs as child processes and reads their run folders, so it looks the same at a
run it started, one started by `genbench run --headless`, or one copied from a
server. Plugins (and with them torch) load in a thread after the first paint.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.filter import Monochrome
from textual.message import Message

from genbench.errors import UsageError
from genbench.runfolder.runs import read_run_json
from genbench.tui import launcher
from genbench.tui.choices import RunChoices
from genbench.tui.format import plain
from genbench.tui.launcher import Child, LaunchRequest
from genbench.tui.messages import RunChoicesReady, RunExited, RunLaunched
from genbench.tui.run_tail import RunWatch, Transition
from genbench.tui.screens.runs import RunsScreen

# The other screens are imported when first opened, and the runs list's sample grid
# imports its image code when it first draws one: the chart and image code (numpy,
# PIL, textual-plot) would otherwise delay the first paint. The runs list paints
# without them (at 80x24, where no grid is shown, none is loaded).

CHILD_POLL_S = 0.5
WATCH_POLL_S = 1.0  # the runs folder is checked this often for runs that ended
EXIT_TOLD_S = 60.0  # a launched run's ending is its exit toast's for this long


class RunChoicesFailed(Message):
    """Loading the plugins failed; runs can still be watched."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class NoneSafeMonochrome(Monochrome):
    """Monochrome that leaves a segment without a style as it is (it has no colour)."""

    def apply(self, segments, background):
        bare = [i for i, s in enumerate(segments) if s.style is None]
        if not bare:
            return super().apply(segments, background)
        out = super().apply([s for s in segments if s.style is not None], background)
        for i in bare:  # back in place, in order
            out.insert(i, segments[i])
        return out


class GenbenchApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "genbench"
    # The command palette would shadow nothing but add a key users must learn; the
    # footer and `?` already list every action.
    ENABLE_COMMAND_PALETTE = False

    def run(self, *args, **kwargs):
        """Refuse, in one line, to draw without a terminal: with stdin or stdout not
        a terminal (`genbench watch RUN < /dev/null | head`) Textual would draw into
        the pipe and spin at a full core long after the reader has gone."""
        if not kwargs.get("headless") and not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError(
                "the workbench needs a terminal (stdin and stdout); for a "
                "script use `genbench runs`, `genbench show RUN` or "
                "`genbench run --headless --json`"
            )
        return super().run(*args, **kwargs)

    BINDINGS = [
        Binding("question_mark", "help", "Help", tooltip="Help: every key of this screen"),
        Binding("f1", "help", "Help", show=False),
        # Screens without text fields add a plain `q`; ctrl+q works everywhere.
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        runs_dir: Path,
        watch: Path | None = None,
        *,
        run_choices_loader: Callable[[], RunChoices] | None = RunChoices.load,
    ):
        """``run_choices_loader`` builds what the New run form offers (tests pass a fixed
        one); None skips it, for views that only read runs."""
        super().__init__()
        self.started = time.perf_counter()
        self.first_paint_s: float | None = None
        self.runs_dir = Path(runs_dir)
        self.first_run = Path(watch) if watch else None  # `genbench watch RUN`
        self.run_choices: RunChoices | None = None
        self.launched: dict[Path, Child] = {}
        # Every run's endings (and mode collapse), whoever trains it, as notifications.
        self.run_watch = RunWatch(self.runs_dir)
        self._watching = False
        self._exit_told: dict[Path, float] = {}  # run folder -> when its exit toast came
        self._run_choices_loader = run_choices_loader
        # NO_COLOR: Textual's Monochrome filter fails on a segment without a style,
        # which the charts' canvas draws before it has a size: the run view would crash.
        self._filters = [
            NoneSafeMonochrome() if type(f) is Monochrome else f for f in self._filters
        ]

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity="information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is plain text: messages carry run names, run.json
        messages, plugin errors and typed values, any of which may hold `[/]`
        (markup that would crash the app) or terminal escapes."""
        super().notify(
            plain(message, 1000),
            title=plain(title, 100),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def on_mount(self) -> None:
        self.push_screen(RunsScreen())
        if self.first_run is not None:
            self.open_run(self.first_run)
        self.call_after_refresh(self._painted)
        self.poll_runs()  # learns what is there; later polls tell what changed
        self.set_interval(WATCH_POLL_S, self.poll_runs)

    def _painted(self) -> None:
        self.first_paint_s = time.perf_counter() - self.started
        self.log.info(f"first paint after {self.first_paint_s * 1000:.0f} ms")
        if self._run_choices_loader is not None:
            self.load_run_choices(self._run_choices_loader)

    # -- plugins, off the UI thread ----------------------------------------------------

    def load_run_choices(self, loader: Callable[[], RunChoices]) -> None:
        """Load plugins (and torch) in a daemon thread, not a Textual thread worker:
        asyncio.run, which runs the app, waits for its workers' threads at exit, so a
        `q` in the first seconds waited for torch to finish importing. A daemon
        thread is dropped with the process."""
        threading.Thread(
            target=self._load_run_choices, args=(loader,), daemon=True, name="genbench-run-choices"
        ).start()

    def _load_run_choices(self, loader: Callable[[], RunChoices]) -> None:
        try:
            run_choices = loader()
        except Exception as exc:  # noqa: BLE001 - runs can still be watched without it
            self.post_message(RunChoicesFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(RunChoicesReady(run_choices))  # post_message is thread-safe

    def on_run_choices_failed(self, message: RunChoicesFailed) -> None:
        self.notify(message.error, title="Could not load models", severity="error", timeout=15)

    def on_run_choices_ready(self, message: RunChoicesReady) -> None:
        self.run_choices = message.run_choices
        for problem in message.run_choices.dataset_errors:
            self.notify(problem, title="Dataset unavailable", severity="warning")
        for screen in self.screen_stack:
            if hasattr(screen, "refresh_run_choices"):
                screen.refresh_run_choices()

    # -- navigation ----------------------------------------------------------------

    def open_run(self, run_dir: Path) -> None:
        from genbench.tui.screens.run import RunScreen

        self.push_screen(RunScreen(run_dir))

    def open_models(self) -> None:
        from genbench.tui.screens.models import ModelsScreen

        self.push_screen(ModelsScreen())

    def open_new_run(self, model: str | None = None) -> None:
        from genbench.tui.screens.new_run import NewRunScreen

        self.push_screen(NewRunScreen(model))

    def clone_run(self, run_dir: Path) -> None:
        """The New run form, filled in as ``run_dir``'s run was configured (model,
        dataset, hyperparameters, sizes, seed, precision, intervals, threads) under a
        free name derived from it. run.json is untrusted: one it cannot read is one
        notification; values the model refuses show as invalid fields."""
        from genbench.tui.screens.new_run import NewRunScreen, clone_values

        run_dir = Path(run_dir)
        try:
            meta = read_run_json(run_dir)
        except UsageError as exc:
            self.notify(str(exc), title="Cannot clone", severity="error", timeout=10)
            return
        self.push_screen(
            NewRunScreen(
                # by its provider: another distribution may provide its name too
                f"{meta.plugin.distribution}:{meta.model}" if meta.plugin else meta.model,
                dataset=meta.dataset,
                source=run_dir.name,
                prefill=clone_values(meta, self.runs_dir, run_dir.name),
            )
        )

    def open_sweep(self, sweep_id: str) -> None:
        from genbench.tui.screens.sweep import SweepScreen

        self.push_screen(SweepScreen(sweep_id))

    def open_compare(self, runs: list[Path]) -> None:
        from genbench.tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(runs))

    def switch_to_runs(self) -> None:
        """Leave whatever is open and show the runs list."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if not isinstance(self.screen, RunsScreen):
            self.switch_screen(RunsScreen())

    # -- runs: launch, stop, resume ------------------------------------------------------

    def launch(self, request: LaunchRequest) -> None:
        # Named here, so the app knows the folder before the child makes it.
        name = request.name or launcher.free_name(request.runs_dir, request.model, request.dataset)
        request = dataclasses.replace(request, name=name)
        run_dir = Path(request.runs_dir) / name
        self._start(run_dir, request.argv())
        # Show the new run where the form was; escape from it returns to the list.
        self.switch_to_runs()
        self.open_run(run_dir)

    def _start(self, run_dir: Path, argv: list[str]) -> None:
        try:
            child = launcher.spawn(run_dir, argv)
        except UsageError as exc:  # a received folder's launch.log that is not its own
            self.notify(str(exc), title="Not launched", severity="error")
            return
        except OSError as exc:
            self.notify(f"could not start python: {exc}", title="Not launched", severity="error")
            return
        self.launched[run_dir] = child
        self._exit_told.pop(run_dir, None)
        self.post_message(RunLaunched(run_dir))
        self.follow(child)

    @work(group="children", exit_on_error=False)
    async def follow(self, child: Child) -> None:
        """Wait for a child without blocking anything: poll, never a blocking wait()."""
        while child.proc.poll() is None:
            launcher.adopt_log(child)
            await asyncio.sleep(CHILD_POLL_S)
        launcher.adopt_log(child)
        code = child.proc.returncode
        message = ""
        if code == 2:
            message = launcher.last_error(child.log)
        elif code not in (0, 130):
            try:
                message = read_run_json(child.run_dir).message
            except UsageError:
                pass
            message = message or launcher.last_error(child.log)
        self.post_message(RunExited(child.run_dir, code, message))

    def on_run_launched(self, message: RunLaunched) -> None:
        self.notify(f"started {message.run_dir.name}", title="Launched")

    def poll_runs(self) -> None:
        if not self._watching:  # a slow disk: never two polls at once
            self._watching = True
            self.watch_runs()

    @work(thread=True, group="run_watch", exit_on_error=False)
    def watch_runs(self) -> None:
        """Poll the runs folder off the UI thread; tell what ended since the last poll."""
        try:
            transitions = self.run_watch.poll()
        finally:
            self._watching = False
        for transition in transitions:
            self.call_from_thread(self.tell_transition, transition)

    def _exit_toast_tells(self, run_dir: Path) -> bool:
        """Whether a run's ending is (or was just) told by its child's exit toast."""
        for path in self.launched:
            if path == run_dir or path.resolve() == run_dir.resolve():
                told = self._exit_told.get(path)
                return told is None or time.monotonic() - told < EXIT_TOLD_S
        return False

    def tell_transition(self, transition: Transition) -> None:
        """One notification for a run that ended or collapsed (names and messages from
        the run folder: notify() shows them as plain text)."""
        s, kind = transition.summary, transition.kind
        name = plain(s.id, 100)
        if kind == "collapse":
            # The evaluation's own words: which classes collapsed within themselves,
            # or how few are covered (coverage alone read "10/10 covered" for a
            # within-class collapse).
            covered = f"{s.coverage[0]}/{s.coverage[1]} covered" if s.coverage else "collapse"
            what = plain(s.quality_warning, 300) or covered
            source = "eval.json" if s.quality_source == "eval.json" else "live check"
            self.notify(
                f"{name}: {what} at step {s.step} ({source})",
                title="Mode collapse",
                severity="warning",
                timeout=10,
            )
            return
        if self._exit_toast_tells(s.path):
            return
        message = plain(s.message, 300)
        if kind == "completed":
            self.notify(f"{name} completed", title="Run finished")
        elif kind == "stopped":
            self.notify(f"{name} stopped at step {s.step}; r resumes it", title="Run stopped")
        elif kind == "lost":
            self.notify(
                f"{name}: its training process is gone (step {s.step})",
                title="Run lost",
                severity="warning",
                timeout=10,
            )
        else:  # failed, diverged
            self.notify(
                f"{name}: {message or kind} (step {s.step})",
                title=f"Run {kind}",
                severity="error",
                timeout=10,
            )

    def on_run_exited(self, message: RunExited) -> None:
        self._exit_told[message.run_dir] = time.monotonic()
        name = message.run_dir.name
        if message.returncode == 0:
            self.notify(f"{name} completed", title="Run finished")
        elif message.returncode == 130:
            self.notify(f"{name} stopped; r resumes it", title="Run stopped")
        else:
            self.notify(
                f"{name}: {message.message}", title="Run failed", severity="error", timeout=10
            )

    def stop_run(self, run_dir: Path) -> None:
        try:
            self.notify(launcher.stop(run_dir), title="Stopping")
        except UsageError as exc:
            self.notify(str(exc), title="Cannot stop", severity="warning")

    def ask_resume(self, run_dir: Path) -> None:
        try:
            meta = launcher.check_resumable(run_dir)
        except UsageError as exc:
            self.notify(str(exc), title="Cannot resume", severity="warning")
            return
        done = meta.checkpoint_step or meta.step
        planned = meta.steps or done
        target = planned if planned > done else done + max(planned, 1000)

        def resume(steps: int | None) -> None:
            if steps is not None:
                self._start(run_dir, launcher.resume_argv(run_dir, steps))
                if getattr(self.screen, "run_dir", None) != run_dir:
                    self.open_run(run_dir)

        from genbench.tui.screens.dialogs import ResumeDialog

        # A rate decaying to the run's end (genbench.nn.LrSchedule, the built-ins'
        # `lr_decay`): say that training past the end warms it up again.
        decays = meta.config.get("lr_decay") not in (None, "none")
        self.push_screen(
            ResumeDialog(run_dir.name, done, target, decay_end=planned if decays else None), resume
        )

    def running_children(self) -> list[Child]:
        """The runs started here that are still training (not those whose folder says
        they are done while their process closes down)."""
        return [c for c in self.launched.values() if c.training()]

    # -- help and quitting ---------------------------------------------------------

    def action_help(self) -> None:
        from genbench.tui.screens.dialogs import HelpScreen

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        rows: list[tuple[int, str, str]] = []
        seen = set()
        for active in screen.active_bindings.values():
            b = active.binding
            if b.description and (b.action, b.description) not in seen:
                seen.add((b.action, b.description))
                # The screen's keys first, then genbench's others (they have a
                # tooltip); Textual's generic ones (table, focus, copy) last.
                rank = (0 if active.node is screen else 1) if b.tooltip else 2
                rows.append((rank, self.get_key_display(b), b.tooltip or b.description))
        keys = [(k, d) for _, k, d in sorted(rows, key=lambda row: row[0])]
        self.push_screen(HelpScreen(screen.sub_title or self.title, keys))

    async def action_quit(self) -> None:
        running = self.running_children()
        if not running:
            self.exit()
            return

        from genbench.tui.screens.dialogs import ConfirmQuit

        def answered(quit_: bool | None) -> None:
            if quit_:
                self.exit()

        self.push_screen(ConfirmQuit(lambda: len(self.running_children())), answered)


def run_app(runs_dir: Path, watch: Path | None = None, *, leave: bool | None = None) -> int:
    """Run the workbench; the exit code is 1 when it ended because of an error.

    With ``leave`` the process ends here, once the terminal is restored (see
    leave_now). By default only the genbench command itself leaves this way; a
    program that runs the app inside its own process (a test, a script calling
    genbench.cli.main) gets the exit code back."""
    from genbench import terminal_image

    # A terminal that shows Sixel without saying so in its variables (xterm -ti
    # vt340) is found by asking it, which only works before Textual reads the input.
    if terminal_image.probe_would_decide():
        terminal_image.probe_terminal()
    app = GenbenchApp(runs_dir, watch)
    app.run()
    code = exit_code(app)
    if leave if leave is not None else _is_genbench_command():
        leave_now(code)
    return code


def _is_genbench_command() -> bool:
    """Whether this process is `genbench` (the console script) or `python -m genbench`."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name.split(".")[0] == "genbench":
        return True
    return Path(sys.argv[0]).name == "genbench"


def leave_now(code: int) -> None:
    """End the process without the interpreter's teardown. With torch and the
    plugins loaded, that teardown (freeing every module) took 0.7-1.0 s after the
    app had already restored the terminal: a quit that felt slow for nothing.
    Nothing is left to do by then: runs are separate processes that keep training,
    every run-folder write is atomic and already done, and the only thread left is
    this one (a still-loading plugin thread would only be waited for)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed terminal: nothing to flush into
            pass
    os._exit(code)


def exit_code(app: App) -> int:
    """0 after a normal quit; 1, with one line on stderr, when the app crashed
    (Textual has printed the traceback by then, and sets return_code 1)."""
    error = getattr(app, "_exception", None)
    if error is None and not app.return_code:
        return 0
    why = f": {type(error).__name__}: {error}" if error is not None else ""
    print(
        plain(f"genbench: error: the workbench stopped after an error{why}", 500), file=sys.stderr
    )
    return 1
