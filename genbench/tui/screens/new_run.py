"""The New run form, generated from the model's Config dataclass.

Every field is checked as it is typed with the same code the CLI uses
(genbench.config.convert), so a value the trainer would refuse is refused here,
inline, before anything is launched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.content import Content
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import (Button, Footer, Header, Input, Label, LoadingIndicator, Select,
                             Static)

from genbench import config as cfg
from genbench.defaults import DEFAULTS
from genbench.errors import UsageError
from genbench.registry import ModelEntry
from genbench.runs import validate_name
from genbench.tui.choices import DatasetChoice, RunChoices
from genbench.threads import parse_threads
from genbench.tui.launcher import LaunchRequest, free_name

if TYPE_CHECKING:  # pragma: no cover - for annotations only
    from textual import getters

    from genbench.tui.app import GenbenchApp


class Check(Validator):
    """A Textual validator around a function that raises UsageError with the reason."""

    def __init__(self, check: Callable[[str], Any]):
        super().__init__()
        self.check = check

    def validate(self, value: str) -> ValidationResult:
        try:
            self.check(value)
        except UsageError as exc:
            return self.failure(str(exc))
        return self.success()


def check_threads(text: str) -> str:
    """auto or a positive whole number, as --threads takes."""
    parse_threads(text.strip() or "auto")
    return text.strip() or "auto"


def whole(label: str, low: int) -> Callable[[str], int]:
    def check(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise UsageError(f"{label} must be a whole number") from None
        if value < low:
            raise UsageError(f"{label} must be at least {low}")
        return value
    return check


@dataclass
class FieldSpec:
    key: str                 # form key; "hp:<name>" for hyperparameters
    label: str
    default: str
    help: str
    check: Callable[[str], Any] | None = None       # text -> value, raising UsageError
    options: list[tuple[str, str]] | None = None    # a Select instead of an Input


class FormField(Vertical):
    """label | input | help, with the reason for an invalid value under it."""

    def __init__(self, spec: FieldSpec):
        super().__init__(classes="form-field")
        self.spec = spec

    def compose(self) -> ComposeResult:
        s = self.spec
        with Horizontal(classes="form-row"):
            # Labels and help come from plugins: text, never markup.
            yield Label(Content(s.label), classes="form-label")
            if s.options is not None:
                yield Select(s.options, value=s.default, allow_blank=False, compact=True,
                             classes="form-input", id=_id(s.key))
            else:
                validators = [Check(s.check)] if s.check else []
                yield Input(s.default, compact=True, classes="form-input", id=_id(s.key),
                            validators=validators, validate_on=["changed", "submitted"],
                            select_on_focus=False)
            yield Static(Content(s.help), classes="form-help")
        yield Static("", classes="form-error")

    @property
    def control(self) -> Input | Select:
        return cast("Input | Select", self.query_one(".form-input"))

    def text(self) -> str:
        c = self.control
        return str(c.value) if isinstance(c, Select) else c.value

    def problem(self) -> str | None:
        """Why the current value is refused, or None; also shows it under the field."""
        reason = None
        if self.spec.check is not None:
            try:
                self.spec.check(self.text())
            except UsageError as exc:
                reason = str(exc)
        self.show_problem(reason)
        return reason

    def set_default(self, default: str, help: str) -> None:
        """Show a new default (the data changed); a value the user typed stays."""
        if self.text().strip() == self.spec.default.strip():
            self.control.value = default
        self.spec.default = default
        self.spec.help = help
        self.query_one(".form-help", Static).update(Content(help))

    def show_problem(self, reason: str | None) -> None:
        error = self.query_one(".form-error", Static)
        error.update(Text(reason or "", style="bold red"))
        error.display = bool(reason)
        self.set_class(bool(reason), "-invalid")


def _id(key: str) -> str:
    return "field-" + key.replace(":", "-")


class NewRunScreen(Screen):
    if TYPE_CHECKING:   # typing only: textual's own idiom, so self.app is the workbench
        app = getters.app(GenbenchApp)

    BINDINGS = [
        Binding("ctrl+s", "launch", "Launch", priority=True),
        Binding("escape", "back", "Cancel"),
    ]

    def __init__(self, model: str | None = None) -> None:
        super().__init__()
        self.model_name = model
        self.choices: list[DatasetChoice] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield LoadingIndicator(id="form-loading")
        yield VerticalScroll(id="form")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "new run"
        self.refresh_run_choices()

    def refresh_run_choices(self) -> None:
        cat = self.app.run_choices
        self.query_one("#form-loading").display = cat is None
        if cat is None or self.query(".form-field"):
            return
        entries = cat.entries()
        if not entries:
            self.query_one("#form").mount(Static("No models are installed; see `genbench models`."))
            return
        if self.model_name not in cat.registry.models:
            self.model_name = entries[0].name
        self.call_later(self.build_form)

    # -- building the form -------------------------------------------------------------

    @property
    def run_choices(self) -> RunChoices:
        """What the form offers: loaded before the form is built."""
        assert self.app.run_choices is not None
        return self.app.run_choices

    @property
    def picked_model(self) -> str:
        """The model picked: set before the form is built (refresh_run_choices)."""
        assert self.model_name is not None
        return self.model_name

    @property
    def entry(self) -> ModelEntry:
        return self.run_choices.registry.models[self.picked_model]

    def general_fields(self) -> list[FieldSpec]:
        cat = self.run_choices
        runs_dir = self.app.runs_dir

        def check_name(text: str) -> str:
            if text.strip():
                validate_name(text.strip())
                if (Path(runs_dir) / text.strip()).exists():
                    raise UsageError(f"a run named {text.strip()!r} already exists")
            return text.strip()

        return [
            FieldSpec("model", "model", self.picked_model, "what to train",
                      options=[(f"{e.name}  {e.cls.title}", e.name) for e in cat.entries()]),
            FieldSpec("device", "device", "auto", "auto picks an accelerator when there is one",
                      options=[(d, d) for d in cat.devices]),
            FieldSpec("steps", "steps", str(DEFAULTS.steps), "updates to train",
                      whole("steps", 1)),
            FieldSpec("batch_size", "batch size", str(DEFAULTS.batch_size), "examples per step",
                      whole("batch size", 1)),
            FieldSpec("seed", "seed", str(DEFAULTS.seed),
                      "random seed; the same seed repeats a run", whole("seed", 0)),
            FieldSpec("threads", "CPU threads", "auto",
                      "auto: a fair share of the CPUs among runs here; or a number",
                      check_threads),
            FieldSpec("name", "name", "", "run folder name (blank: time-model-dataset)",
                      check_name),
            FieldSpec("log_every", "log every", str(DEFAULTS.log_every),
                      "steps per metrics line", whole("log every", 1)),
            FieldSpec("sample_every", "sample every", str(DEFAULTS.sample_every),
                      "steps per sample grid", whole("sample every", 1)),
        ]

    def dataset_field(self, choices: list[DatasetChoice]) -> FieldSpec | None:
        offered = [c for c in choices if c.problem is None and c.available]
        if not offered:
            return None
        return FieldSpec("dataset", "dataset", offered[0].name,
                         "datasets this model trains on, found here",
                         options=[(c.label, c.name) for c in offered])

    def data_defaults(self) -> dict[str, Any]:
        """The model's defaults on the dataset now chosen (its Config's when none is)."""
        choice = self.chosen_dataset()
        spec = choice.spec if choice is not None else None
        try:
            return cfg.defaults(self.entry.cls, spec)
        except Exception:  # noqa: BLE001 - a plugin's bad defaults_for; the run names it
            return cfg.defaults(self.entry.cls)

    def chosen_dataset(self) -> DatasetChoice | None:
        fields = [f for f in self.query(FormField) if f.spec.key == "dataset"]
        name = fields[0].text() if fields else None
        if name is None:
            offered = [c for c in self.choices if c.problem is None and c.available]
            name = offered[0].name if offered else None
        return next((c for c in self.choices if c.name == name), None)

    def hp_help(self, f, default: Any) -> str:
        help_ = f.metadata.get("help", "")
        low, high = f.metadata.get("min"), f.metadata.get("max")
        if low is not None and high is not None:
            help_ = f"{help_} ({low} to {high})"
        elif low is not None or high is not None:
            help_ = f"{help_} ({'≥ ' + str(low) if low is not None else '≤ ' + str(high)})"
        if default != f.default:
            choice = self.chosen_dataset()
            help_ += (f"; {default} for {choice.name if choice else 'this data'} "
                      f"(the Config default is {f.default})")
        return help_

    def model_fields(self) -> list[FieldSpec]:
        config_cls = self.entry.cls.Config
        defaults = self.data_defaults()
        out = []
        for f in cfg.fields(config_cls):
            def check(text, f=f):
                return cfg.convert(config_cls, f, text)

            t = cfg.field_type(config_cls, f)
            choices = f.metadata.get("choices")
            if t is bool:
                choices = (True, False)
            options = [(str(c), str(c)) for c in choices] if choices else None
            out.append(FieldSpec(f"hp:{f.name}", f.name, _shown(defaults[f.name]),
                                 self.hp_help(f, defaults[f.name]), check=check, options=options))
        return out

    async def build_form(self) -> None:
        """Mount the model picker once; everything under it follows the model."""
        form = self.query_one("#form", VerticalScroll)
        general = self.general_fields()
        if not form.query("#form-rest"):
            await form.mount_all([Static("Run", classes="form-section"), FormField(general[0]),
                                  Vertical(id="form-rest")])
            self.query_one(f"#{_id('model')}").focus()
        # The picker itself is never rebuilt: removing the Select that is announcing
        # its own change races with its redraw.
        rest = self.query_one("#form-rest", Vertical)
        await rest.remove_children()
        choices = self.choices = self.run_choices.datasets_for(self.entry)
        widgets: list[Widget] = []
        ds = self.dataset_field(choices)
        if ds is not None:
            widgets.append(FormField(ds))
        else:
            widgets.append(Static(Text(f"No dataset here is ready for {self.model_name}.",
                                       style="bold red"), classes="form-note"))
        missing = [c for c in choices if c.problem is None and not c.available]
        for c in missing:
            widgets.append(Static(Text.assemble(("  not here: ", "yellow"), (c.name, "bold"),
                                                f" ({c.title}) looked in {c.where}; {c.how}"),
                                  classes="form-note"))
        widgets += [FormField(s) for s in general[1:]]
        title = self.entry.cls.title or self.model_name
        widgets.append(Static(Content(f"Hyperparameters of {title}"), classes="form-section"))
        widgets += [FormField(s) for s in self.model_fields()]
        widgets.append(Horizontal(Button("Launch  ctrl+s", variant="primary", id="launch"),
                                  classes="form-buttons"))
        await rest.mount_all(widgets)

    # -- reacting --------------------------------------------------------------------

    @on(Select.Changed, "#field-model")
    async def model_changed(self, event: Select.Changed) -> None:
        if event.value != self.model_name and isinstance(event.value, str):
            self.model_name = event.value
            await self.build_form()

    @on(Select.Changed, "#field-dataset")
    def dataset_changed(self) -> None:
        """Some models default differently on other data: show the new defaults."""
        defaults = self.data_defaults()
        config_cls = self.entry.cls.Config
        by_key = {f.spec.key: f for f in self.query(FormField)}
        for f in cfg.fields(config_cls):
            field = by_key.get(f"hp:{f.name}")
            if field is not None:
                field.set_default(_shown(defaults[f.name]), self.hp_help(f, defaults[f.name]))

    @on(Input.Changed)
    def input_changed(self, event: Input.Changed) -> None:
        field = next((a for a in event.input.ancestors if isinstance(a, FormField)), None)
        if field is not None and event.validation_result is not None:
            failures = event.validation_result.failure_descriptions
            field.show_problem(failures[0] if failures else None)

    @on(Input.Submitted)
    def input_submitted(self) -> None:
        self.focus_next()

    @on(Button.Pressed, "#launch")
    def launch_pressed(self) -> None:
        self.action_launch()

    def values(self) -> dict[str, str]:
        return {f.spec.key: f.text() for f in self.query(FormField)}

    def action_launch(self) -> None:
        if self.app.run_choices is None or not self.query(FormField):
            return
        fields = list(self.query(FormField))
        bad = [f for f in fields if f.problem()]
        if not bad and "dataset" not in self.values():
            self.notify("No compatible dataset is available for this model.", severity="error")
            return
        if bad:
            bad[0].control.focus()
            self.notify(f"{len(bad)} field{'s' if len(bad) > 1 else ''} to fix before launch: "
                        + (bad[0].problem() or ""), title="Not launched", severity="error",
                        markup=False)
            return
        v = self.values()
        config_cls = self.entry.cls.Config
        defaults = self.data_defaults()
        plain = cfg.defaults(self.entry.cls)
        base = {k: val for k, val in defaults.items() if val != plain[k]}
        sets = {}   # only what differs from the model's defaults on this data, as typed
        for f in cfg.fields(config_cls):
            text = v[f"hp:{f.name}"]
            if cfg.convert(config_cls, f, text) != defaults[f.name]:
                sets[f.name] = text.strip()
        try:   # the Config's own cross-field checks (__post_init__), as the CLI runs them
            cfg.from_assignments(config_cls, [f"{k}={t}" for k, t in sets.items()], base)
        except UsageError as exc:
            self.notify(str(exc), title="Not launched", severity="error", markup=False)
            return
        runs_dir = self.app.runs_dir
        request = LaunchRequest(
            model=self.picked_model, dataset=v["dataset"], runs_dir=runs_dir,
            name=v["name"].strip() or free_name(runs_dir, self.picked_model, v["dataset"]),
            steps=int(v["steps"]), batch_size=int(v["batch_size"]), seed=int(v["seed"]),
            device=v["device"], log_every=int(v["log_every"]),
            sample_every=int(v["sample_every"]), sets=sets,
            threads=v["threads"].strip() or "auto")
        self.app.launch(request)

    def action_back(self) -> None:
        self.app.pop_screen()


def _shown(value: Any) -> str:
    return str(value)
