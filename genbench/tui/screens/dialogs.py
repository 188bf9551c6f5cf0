"""Small modal screens: help, quit confirmation, delete confirmation, resume, rename,
note, tags."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from genbench.errors import UsageError
from genbench.runfolder.notes import NOTE_MAX, TAGS_MAX_COUNT, check_new_name, parse_tags
from genbench.tui.format import plain
from genbench.tui.screens.new_run import Check, whole

ABOUT = (
    "genbench trains generative image models and shows them live. Training runs "
    "as separate processes writing run folders; this app reads those folders, so "
    "quitting it never stops a run, and a run started elsewhere (genbench run "
    "--headless, or a folder copied from a server) shows the same way."
)


class HelpScreen(ModalScreen[None]):
    """The keys of the screen it was opened from, and what the app is."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, title: str, keys: list[tuple[str, str]]):
        super().__init__()
        self.title_text, self.keys = title, keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, description in self.keys:
            table.add_row(key, description)
        with VerticalScroll(id="help-box") as box:
            box.border_title = Text(f"Help: {self.title_text}")  # a run's name: not markup
            box.border_subtitle = "escape to close"
            yield Static(table)
            yield Static(Text(ABOUT, style="dim"), id="help-about")

    # The binding passes no result: a plain method, unlike Screen's async one.
    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


class ConfirmQuit(ModalScreen[bool]):
    """Asked while runs started here train; says so anew every second (a run that
    finishes while it is open is no longer counted)."""

    BINDINGS = [Binding("y", "answer(True)", "Quit"), Binding("n,escape", "answer(False)", "Stay")]
    POLL_S = 1.0

    def __init__(self, running: Callable[[], int]):
        super().__init__()
        self.running = running

    @staticmethod
    def say(n: int) -> str:
        if not n:
            return "The runs started here have finished. Quit?"
        they = "They keep" if n > 1 else "It keeps"
        return (
            f"{n} run{'s' if n > 1 else ''} started here {'are' if n > 1 else 'is'} "
            f"still training. {they} running after you quit; reopen genbench "
            f"to watch {'them' if n > 1 else 'it'}."
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box") as box:
            box.border_title = "Quit genbench?"
            yield Static(self.say(self.running()), id="quit-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Quit  y", variant="error", id="yes")
                yield Button("Stay  n", id="no")

    def on_mount(self) -> None:
        self.set_interval(self.POLL_S, self._recount)

    def _recount(self) -> None:
        self.query_one("#quit-text", Static).update(self.say(self.running()))

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ConfirmDelete(ModalScreen[bool]):
    """Ask before a run folder is removed; returns True to delete."""

    AUTO_FOCUS = "#no"  # enter alone keeps the run; deleting takes y or the button

    BINDINGS = [
        Binding("y", "answer(True)", "Delete"),
        Binding("n,escape", "answer(False)", "Keep"),
    ]

    def __init__(self, run_name: str):
        super().__init__()
        self.run_name = run_name

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box") as box:
            box.border_title = "Delete run?"
            # The name comes from the run folder: Text, never markup.
            yield Static(
                Text(
                    f"Delete {plain(self.run_name, 80)}? (its folder is removed, "
                    "checkpoints and samples too; there is no trash to get it "
                    "back from)"
                ),
                id="confirm-text",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Delete  y", variant="error", id="yes")
                yield Button("Keep  n", id="no")

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ResumeDialog(ModalScreen[int | None]):
    """Ask up to which step to train; returns the step, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, run_name: str, done: int, target: int, decay_end: int | None = None):
        super().__init__()
        self.run_name, self.done, self.target = run_name, done, target
        self.decay_end = decay_end  # the planned last step of a decaying rate, if any

    def compose(self) -> ComposeResult:
        check = whole("steps", self.done + 1)
        with Vertical(id="resume-box") as box:
            box.border_title = Text(f"Resume {plain(self.run_name, 80)}")
            # Not "stopped": a completed or diverged run is resumed from here too.
            yield Label(f"Its last checkpoint is at step {self.done}. Train up to step:")
            yield Input(
                str(self.target),
                id="resume-steps",
                validators=[Check(check)],
                validate_on=["changed", "submitted"],
            )
            yield Static("", id="resume-error")
            if self.decay_end is not None:
                # The rate depends on (step, planned end): more steps raise it again.
                yield Static(
                    f"Its learning rate falls to 0 at step {self.decay_end:,} "
                    "(lr_decay); past that it restarts at the longer run's rate "
                    "and falls to 0 at the new end.",
                    id="resume-decay",
                    classes="dim",
                )
            yield Label("enter to resume, escape to cancel", classes="dim")

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        result = event.validation_result
        reason = result.failure_descriptions[0] if result and not result.is_valid else ""
        self.query_one("#resume-error", Static).update(Text(reason, style="bold red"))

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(whole("steps", self.done + 1)(event.value))
        except UsageError as exc:
            self.query_one("#resume-error", Static).update(Text(str(exc), style="bold red"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class RenameDialog(ModalScreen[str | None]):
    """Ask for a run's new folder name; returns it, or None when cancelled. The
    name is checked as it is typed (valid folder name, not taken in ``root``)."""

    # Here, not in app.tcss: the dialog's look travels with it.
    DEFAULT_CSS = """
    RenameDialog { align: center middle; }
    RenameDialog .edit-box { width: 70; max-width: 95%; height: auto; border: round $accent;
                       padding: 1 2; background: $surface; }
    RenameDialog #rename-error { height: auto; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, run_name: str, root: Path):
        super().__init__()
        self.run_name, self.root = run_name, Path(root)

    def compose(self) -> ComposeResult:
        with Vertical(id="rename-box", classes="edit-box") as box:
            box.border_title = Text(f"Rename {plain(self.run_name, 80)}")
            yield Label("New name (letters, digits, - _ . only):")
            # The current name as the start: renaming is mostly a small edit.
            yield Input(plain(self.run_name, 255), id="rename-name")
            yield Static("", id="rename-error")
            yield Label("enter to rename, escape to cancel", classes="dim")

    def _problem(self, name: str) -> str:
        if name == self.run_name:
            return ""
        try:
            check_new_name(self.root, name)
        except UsageError as exc:
            return str(exc)
        return ""

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        self.query_one("#rename-error", Static).update(
            Text(plain(self._problem(event.value), 300), style="bold red")
        )

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        problem = self._problem(event.value)
        if problem:
            self.query_one("#rename-error", Static).update(
                Text(plain(problem, 300), style="bold red")
            )
            return
        self.dismiss(None if event.value == self.run_name else event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class NoteDialog(ModalScreen[str | None]):
    """Edit a run's note; returns the new text ('' removes it), or None when cancelled."""

    # Here, not in app.tcss: the dialog's look travels with it.
    DEFAULT_CSS = """
    NoteDialog { align: center middle; }
    NoteDialog .edit-box { width: 70; max-width: 95%; height: auto; border: round $accent;
                       padding: 1 2; background: $surface; }
    NoteDialog #note-error { height: auto; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, run_name: str, note: str):
        super().__init__()
        self.run_name, self.note = run_name, note

    def compose(self) -> ComposeResult:
        with Vertical(id="note-box", classes="edit-box") as box:
            box.border_title = Text(f"Note on {plain(self.run_name, 80)}")
            # plain(): the note came from the run folder; one line, no control characters.
            yield Input(
                plain(" ".join(self.note.split()), NOTE_MAX),
                id="note-text",
                placeholder="what this run tries, what you saw",
                max_length=NOTE_MAX,
            )
            yield Static("", id="note-error")
            yield Label("enter to save (empty removes the note), escape to cancel", classes="dim")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        size = len(event.value.encode("utf-8", "surrogatepass"))
        if size > NOTE_MAX:
            self.query_one("#note-error", Static).update(
                Text(f"{size} bytes: a note can be at most {NOTE_MAX}", style="bold red")
            )
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TagsDialog(ModalScreen[list[str] | None]):
    """Edit a run's tags, typed separated by spaces or commas; returns them ([]
    removes them all), or None when cancelled. Checked as they are typed."""

    DEFAULT_CSS = """
    TagsDialog { align: center middle; }
    TagsDialog .edit-box { width: 70; max-width: 95%; height: auto; border: round $accent;
                       padding: 1 2; background: $surface; }
    TagsDialog #tags-error { height: auto; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, run_name: str, tags: list[str]):
        super().__init__()
        self.run_name, self.tags = run_name, tags

    def compose(self) -> ComposeResult:
        with Vertical(id="tags-box", classes="edit-box") as box:
            box.border_title = Text(f"Tags of {plain(self.run_name, 80)}")
            yield Label("Tags, separated by spaces (letters, digits, - _ . : + = /):")
            # plain(): the tags came from the run folder.
            yield Input(
                plain(" ".join(self.tags), 1000), id="tags-text", placeholder="baseline best"
            )
            yield Static("", id="tags-error")
            yield Label(
                f"at most {TAGS_MAX_COUNT}; enter to save (empty removes them), escape to cancel",
                classes="dim",
            )

    def _problem(self, text: str) -> str:
        try:
            parse_tags(text)
        except UsageError as exc:
            return str(exc)
        return ""

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        self.query_one("#tags-error", Static).update(
            Text(plain(self._problem(event.value), 300), style="bold red")
        )

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        try:
            tags = parse_tags(event.value)
        except UsageError as exc:
            self.query_one("#tags-error", Static).update(
                Text(plain(str(exc), 300), style="bold red")
            )
            return
        self.dismiss(tags)

    def action_cancel(self) -> None:
        self.dismiss(None)
