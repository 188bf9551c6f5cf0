"""A run's generator, live: new noise on a key, a walk between seeds stepped with
←/→, a label picker for conditional models, truncation where the latent allows it.

Open with ``app.push_screen(GenerateScreen(run_dir))`` (``g`` in the run view). The
images come from a ``genbench sample RUN --serve`` process this screen starts and
ends (tui/generator.py): torch loads there, never in the workbench. One request is
in flight at a time and only the newest wish waits behind it, so a held key shows
the walk as fast as the generator draws and never queues up stale grids.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Select, Static

from genbench.runfolder.runs import CHECKPOINT
from genbench.runfolder.untrusted import clean_text
from genbench.tui.format import plain
from genbench.tui.generator import GeneratorProcess
from genbench.tui.widgets.sample_preview import SamplePreview

WALK_STEPS = 8  # a walk from one seed's noise to the next in this many steps of t
TRUNCATIONS: tuple[float | None, ...] = (None, 1.0, 0.7, 0.5)
GRID = 16  # samples of one grid (two rows of 8: terminals are wider than tall)
COLS = 8
PER_CLASS_MAX = 512  # samples of an "all classes" grid, at most (the generator's cap)
POINTS = 1000  # a 2D model's scatter
ALL = -1  # the label picker's "all classes": one row per class


class GeneratorAnswer(Message):
    """A line from the generator process (its first says what the model is)."""

    def __init__(self, generator: GeneratorProcess, answer: dict[str, Any]) -> None:
        super().__init__()
        self.generator, self.answer = generator, answer


class GeneratorEnded(Message):
    """The generator process closed its output."""

    def __init__(self, generator: GeneratorProcess) -> None:
        super().__init__()
        self.generator = generator


class GenerateScreen(Screen):
    """Grids drawn on request from the run's last checkpoint."""

    AUTO_FOCUS = None  # keys go to the screen; `l` opens the label picker
    DEFAULT_CSS = """
    GenerateScreen #generate-title { height: 1; padding: 0 1; }
    GenerateScreen #generate-bar { height: 1; }
    GenerateScreen #generate-status { width: 1fr; height: 1; padding: 0 1; }
    GenerateScreen #generate-labels { width: 30; display: none; }
    GenerateScreen #generate-message { height: auto; padding: 0 1; }
    GenerateScreen #generate-grid { width: 1fr; height: 1fr; display: none; }
    """

    BINDINGS = [
        Binding("n", "new_noise", "New noise", tooltip="the next seed's noise"),
        Binding("right", "walk(1)", "Walk", tooltip="a step of t towards the next seed"),
        Binding("left", "walk(-1)", "Walk back", tooltip="a step of t back"),
        Binding("l", "labels", "Label", tooltip="which class to draw, or all: a row each"),
        Binding("t", "truncation", "Truncation", tooltip="cycle off, 1.0, 0.7, 0.5"),
        Binding("r", "reload", "Reload", tooltip="load the run's newest checkpoint"),
        Binding("a", "toggle_ascii", "ASCII", tooltip="switch between colour and ASCII"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, run_dir: Path, device: str | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.device = device
        self.generator: GeneratorProcess | None = None
        self.info: dict[str, Any] | None = None  # the generator's first answer
        self.position = 0  # seed * WALK_STEPS + step of the walk to the next seed
        self.label = ALL
        self.truncation = 0  # into TRUNCATIONS
        self._next_id = 0
        self.in_flight: dict[str, Any] | None = None
        self.pending: dict[str, Any] | None = None  # the newest wish, sent when free
        self.wanted: dict[str, Any] | None = None  # the newest wish, sent or not
        self.shown: Path | None = None  # the grid on screen
        self.problem: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="generate-title", markup=False)
        with Horizontal(id="generate-bar"):
            yield Static(id="generate-status", markup=False)
            yield Select[int](
                [("all classes", ALL)], id="generate-labels", allow_blank=False, compact=True
            )
        yield Static(id="generate-message", markup=False)
        yield SamplePreview(Path("/nonexistent"), id="generate-grid")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#generate-title", Static).update(
            Text(plain(self.run_dir.name, 200), style="bold")
        )
        self.start()

    def on_unmount(self) -> None:
        self.stop()

    # -- the generator process ------------------------------------------------

    def start(self) -> None:
        self.stop()
        self.info, self.in_flight, self.pending, self.shown = None, None, None, None
        self.query_one("#generate-grid").display = False
        if not (self.run_dir / CHECKPOINT).is_file():
            self._say(
                "no checkpoint yet: the generator is saved with the run's first "
                "checkpoint (press r once it has one)",
                "yellow",
            )
            return
        self._say("loading the generator...", "dim")
        try:
            self.generator = GeneratorProcess(self.run_dir, self.device)
        except OSError as exc:
            self._say(f"the generator could not be started: {clean_text(exc, 300)}", "red")
            return
        self._read(self.generator)

    def stop(self) -> None:
        generator, self.generator = self.generator, None
        if generator is not None:
            generator.close()

    @work(thread=True, group="generator")
    def _read(self, generator: GeneratorProcess) -> None:
        while (answer := generator.read()) is not None:
            self.post_message(GeneratorAnswer(generator, answer))
        generator.wait_ended()
        self.post_message(GeneratorEnded(generator))

    def on_generator_answer(self, message: GeneratorAnswer) -> None:
        if message.generator is not self.generator:  # one ended by `r` or the view
            return
        answer = message.answer
        if self.info is None:
            if answer.get("ready") is True:
                self._ready(answer)
            else:
                self.problem = clean_text(answer.get("error", "the generator said nothing"), 1000)
                self._say(self.problem, "red")
            return
        if self.in_flight is not None and answer.get("id") == self.in_flight["id"]:
            self.in_flight = None
        self._show(answer)
        if self.in_flight is None and self.pending is not None:
            wish, self.pending = self.pending, None
            self._send(wish)

    def on_generator_ended(self, message: GeneratorEnded) -> None:
        generator = self.generator
        if message.generator is not generator or generator.alive():  # ended by us
            return
        if self.problem is None:  # the first answer's error already said why
            self.problem = generator.why_ended()
            self._say(self.problem, "red")
        self.in_flight = None

    def _ready(self, info: dict[str, Any]) -> None:
        self.info = info
        classes = [plain(c, 60) for c in info.get("classes") or []]
        title = Text.assemble(
            (plain(f"{info.get('model')} on {info.get('dataset')}", 200), "bold"),
            f"  {plain(self.run_dir.name, 200)}  checkpoint step {info.get('step')}",
            (f"  {plain(info.get('device', ''), 40)}", "dim"),
        )
        self.query_one("#generate-title", Static).update(title)
        picker = self.query_one("#generate-labels", Select)
        if info.get("conditional") and classes:
            picker.set_options([("all classes", ALL), *((c, i) for i, c in enumerate(classes))])
            picker.value = self.label
            picker.display = True
        self.refresh_bindings()
        self._say("", "")
        self.ask()

    # -- requests -------------------------------------------------------------

    def request(self) -> dict[str, Any]:
        """What the screen shows now, as a request to the generator."""
        info = self.info or {}
        seed, step = divmod(self.position, WALK_STEPS)
        n, cols, labels = self._layout(info)
        self._next_id += 1
        return {
            "id": self._next_id,
            "seed": seed,
            "n": n,
            "cols": cols,
            "labels": labels,
            "walk": None if step == 0 else {"from": seed, "to": seed + 1, "t": step / WALK_STEPS},
            "truncation": TRUNCATIONS[self.truncation],
        }

    def _layout(self, info: dict[str, Any]) -> tuple[int, int, list[int] | None]:
        """(samples, columns, labels): a grid of GRID, a row per class for all
        classes of a conditional model, a scatter of POINTS for a 2D one."""
        k = len(info.get("classes") or []) if info.get("conditional") else 0
        if info.get("kind") != "image":
            labels = (
                None
                if not k
                else [self.label if self.label != ALL else i % k for i in range(POINTS)]
            )
            return POINTS, COLS, labels
        if not k:
            return GRID, COLS, None
        if self.label != ALL:
            return GRID, COLS, [self.label] * GRID
        cols = max(1, min(COLS, PER_CLASS_MAX // k))
        return k * cols, cols, [c for c in range(k) for _ in range(cols)]

    def ask(self) -> None:
        """Ask for the current view: now, or after the request in flight."""
        if self.info is None or self.generator is None:
            return
        wish = self.wanted = self.request()
        if self.in_flight is not None:
            self.pending = wish  # latest wins: an older wish is dropped
        else:
            self._send(wish)
        self._show_status()

    def _send(self, wish: dict[str, Any]) -> None:
        if self.generator is None:
            return
        if self.generator.send(wish):
            self.in_flight = wish
        else:
            self.problem = self.generator.why_ended()
            self._say(self.problem, "red")

    # -- what is shown -------------------------------------------------------

    def _show(self, answer: dict[str, Any]) -> None:
        path = self.generator.grid(answer) if self.generator else None
        if path is None:
            self._say(clean_text(answer.get("error", "the generator answered no grid"), 300), "red")
            return
        preview = self.query_one("#generate-grid", SamplePreview)
        old, self.shown = self.shown, path
        preview.path = path
        preview.display = True
        preview.reload(force=True)
        if old is not None and old != path:
            with contextlib.suppress(OSError):
                old.unlink()  # the folder is ours; the generator writes a new name each time
        ms = answer.get("ms")
        self._say(f"drawn in {ms:.0f} ms" if isinstance(ms, (int, float)) else "", "dim")

    def _show_status(self) -> None:
        seed, step = divmod(self.position, WALK_STEPS)
        where = f"seed {seed}"
        if step:
            where += f" → {seed + 1}  t {step / WALK_STEPS:.3g} ({step}/{WALK_STEPS})"
        parts = [where]
        info = self.info or {}
        if info.get("conditional"):
            classes = info.get("classes") or []
            name = "all classes" if self.label == ALL else str(classes[self.label])
            parts.append(f"label {plain(name, 60)}")
        t = TRUNCATIONS[self.truncation]
        if info.get("normal_latent"):
            parts.append(f"truncation {t if t is not None else 'off'}")
        self.query_one("#generate-status", Static).update(Text("   ".join(parts)))

    def _say(self, line: str, style: str) -> None:
        self.query_one("#generate-message", Static).update(Text(line, style=style))

    # -- actions ---------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        info = self.info or {}
        if action == "walk":
            return bool(info.get("has_latent"))
        if action == "labels":
            return bool(info.get("conditional"))
        if action == "truncation":
            return bool(info.get("normal_latent"))
        return True

    def action_new_noise(self) -> None:
        self.position = (self.position // WALK_STEPS + 1) * WALK_STEPS
        self.ask()

    def action_walk(self, delta: int) -> None:
        position = max(0, self.position + delta)
        if position != self.position:
            self.position = position
            self.ask()

    def action_truncation(self) -> None:
        self.truncation = (self.truncation + 1) % len(TRUNCATIONS)
        self.ask()

    def action_labels(self) -> None:
        picker = self.query_one("#generate-labels", Select)
        picker.focus()
        picker.action_show_overlay()

    def on_select_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, int) and event.value != self.label:
            self.label = event.value
            self.ask()
        self.set_focus(None)  # back to the screen's keys (←/→ walk again)

    def action_reload(self) -> None:
        self.problem = None
        self.start()

    def action_toggle_ascii(self) -> None:
        preview = self.query_one("#generate-grid", SamplePreview)
        preview.set_colour(not preview.colour)

    def action_back(self) -> None:
        self.app.pop_screen()
