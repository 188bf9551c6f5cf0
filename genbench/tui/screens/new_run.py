"""The New run form, generated from the model's Config dataclass.

Every field is checked as it is typed with the same code the CLI uses
(genbench.config.convert), so a value the trainer would refuse is refused here,
inline, before anything is launched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import (
    Button,
    Collapsible,
    Footer,
    Input,
    Label,
    LoadingIndicator,
    Select,
    Static,
)

from genbench import config as cfg
from genbench import options
from genbench.dataset import where_looked
from genbench.errors import UsageError
from genbench.host.bf16 import cpu_bf16
from genbench.host.threads import parse_threads
from genbench.registry import ModelEntry
from genbench.runfolder.record import RunRecord
from genbench.runfolder.runs import NAME_MAX_BYTES, first_free, validate_name
from genbench.tui.choices import DatasetChoice, RunChoices
from genbench.tui.format import plain
from genbench.tui.launcher import LaunchRequest, free_name
from genbench.tui.widgets.header import Header

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
    return lambda text: options.whole_number(text, label, low)


@dataclass
class FieldSpec:
    key: str  # form key; "hp:<name>" for hyperparameters
    label: str
    default: str
    help: str
    check: Callable[[str], Any] | None = None  # text -> value, raising UsageError
    options: list[tuple[str, str]] | None = None  # a Select instead of an Input
    group: str = "Run"  # the form's section


def option_field(
    f: dataclasses.Field,
    pickers: dict[str, list[str]],
    checks: dict[str, Callable[[str], Any]],
    helps: dict[str, str] | None = None,
) -> FieldSpec:
    """A run option's field (genbench.options), its picker's choices, its check or its
    help given here where only the workbench knows them (the devices, the runs folder,
    this machine)."""
    spec = options.meta(f)
    choices = pickers.get(f.name) or spec.form_choices or spec.choices
    default = options.form_text(f, options.default_of(f))
    check = checks.get(f.name) or (lambda text: options.form_value(f, text))
    return FieldSpec(
        f.name,
        spec.label or f.name,
        default,
        (helps or {}).get(f.name, spec.form_help),
        check=None if choices else check,
        options=[(c, c) for c in choices] if choices else None,
        group=spec.group,
    )


def precision_help() -> str:
    """The precision field's help: what this CPU does with bf16, read from its flags
    (a GPU's is said by the run's first line: the workbench imports no torch to ask)."""
    support = cpu_bf16()
    if support.native:
        return f"auto: bf16 where faster; this CPU runs bf16 natively ({support.because})"
    return f"bf16 is {support.describe()}: several times slower; fp32 or auto"


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
                yield Select(
                    s.options,
                    value=s.default,
                    allow_blank=False,
                    compact=True,
                    classes="form-input",
                    id=_id(s.key),
                )
            else:
                validators = [Check(s.check)] if s.check else []
                yield Input(
                    s.default,
                    compact=True,
                    classes="form-input",
                    id=_id(s.key),
                    validators=validators,
                    validate_on=["changed", "submitted"],
                    select_on_focus=False,
                )
            yield Static(Content(s.help), classes="form-help")
        yield Static("", classes="form-error")

    def on_descendant_focus(self) -> None:
        self.add_class("-focused")  # the label says which field has the keys (app.tcss)

    def on_descendant_blur(self) -> None:
        self.remove_class("-focused")

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


class ConfirmDiscard(ModalScreen[bool]):
    """Asked when Esc would throw away edits to the form; True discards them."""

    AUTO_FOCUS = "#no"  # enter alone keeps editing; discarding takes y or the button
    DEFAULT_CSS = "ConfirmDiscard { align: center middle; }"  # as the other dialogs
    BINDINGS = [
        Binding("y", "answer(True)", "Discard"),
        Binding("n,escape", "answer(False)", "Keep editing"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box") as box:
            box.border_title = "Discard this new run?"
            yield Static(
                "The form has edits. Discard them and go back? Nothing was launched.",
                id="confirm-text",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Discard  y", variant="error", id="yes")
                yield Button("Keep editing  n", id="no")

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


def general_keys() -> set[str]:
    """The form fields that do not depend on the model: kept when the model changes."""
    return {f.name for f in options.form_fields()}


class NewRunScreen(Screen):
    if TYPE_CHECKING:  # typing only: textual's own idiom, so self.app is the workbench
        app = getters.app(GenbenchApp)

    BINDINGS = [
        # priority: from any field, a Select's open list included, ctrl+s launches.
        Binding("ctrl+s", "launch", "Launch", priority=True),
        Binding("escape", "back", "Cancel"),
    ]

    # The Launch button sits under the form, outside its scroll, so it is on screen at
    # any size (at 80x24 the form itself scrolls). Datasets that are not here fold
    # into one line; opened, each says where it was looked for and how to get it.
    DEFAULT_CSS = """
    NewRunScreen #form { height: 1fr; }
    NewRunScreen #form-buttons { height: 1; padding: 0 1; margin: 0; }
    NewRunScreen #form-buttons Button { margin-right: 2; }
    NewRunScreen #not-here { padding: 0 0 0 12; margin: 0; border: none; }
    NewRunScreen #not-here Contents { padding: 0 0 0 2; }
    NewRunScreen #not-here .form-note { padding-left: 0; }
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        dataset: str | None = None,
        prefill: dict[str, str] | None = None,
        source: str | None = None,
    ) -> None:
        """``dataset``: the one to pick when the model takes it. ``prefill``: form key ->
        text, from a run being cloned (``source`` names it); values the model refuses
        show as invalid fields."""
        super().__init__()
        self.model_name = model
        self.dataset_name = dataset
        self.prefill = prefill
        self.source = source
        self.choices: list[DatasetChoice] = []
        self._pristine: dict[str, str] | None = None  # the values as first shown

    def compose(self) -> ComposeResult:
        yield Header()
        yield LoadingIndicator(id="form-loading")
        yield VerticalScroll(id="form")
        with Horizontal(id="form-buttons", classes="form-buttons"):
            yield Button("Launch  ctrl+s", variant="primary", id="launch", compact=True)
            yield Button("Cancel  esc", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"new run from {plain(self.source, 80)}" if self.source else "new run"
        self.query_one("#form-buttons").display = False
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
        found = cat.find(self.model_name)  # DIST:NAME from a clone, or a name that clashes
        if found is None:
            if self.source is not None:  # a clone of a run whose model is not here
                self.app.notify(
                    f"{plain(self.source, 80)} was trained with model "
                    f"{plain(self.model_name, 60)!r}, which is not installed here; "
                    "`genbench models` lists what is",
                    title="Cannot clone",
                    severity="warning",
                    timeout=10,
                )
                self.dismiss()
                return
            found = cat.key(entries[0])
        self.model_name = found
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

        model = FieldSpec(
            "model",
            "model",
            self.picked_model,
            "what to train",
            options=[(f"{cat.label(e)}  {e.cls.title}", cat.key(e)) for e in cat.entries()],
        )
        # The run options (genbench.options), with what only the workbench knows: the
        # devices here, and which names its runs folder already holds.
        pickers = {"device": list(cat.devices)}
        checks: dict[str, Callable[[str], Any]] = {"name": check_name, "threads": check_threads}
        helps = {"precision": precision_help()}
        fields = (option_field(f, pickers, checks, helps) for f in options.form_fields())
        return [model, *fields]

    def dataset_field(self, choices: list[DatasetChoice]) -> FieldSpec | None:
        offered = [c for c in choices if c.problem is None and c.available]
        if not offered:
            return None
        return FieldSpec(
            "dataset",
            "dataset",
            self.first_dataset(offered),
            "datasets this model trains on, found here",
            options=[(c.label, c.name) for c in offered],
        )

    def first_dataset(self, offered: list[DatasetChoice]) -> str:
        """The dataset picked when the form is (re)built: the one wanted (the previous
        model's, or a cloned run's) when this model takes it and it is here."""
        names = [c.name for c in offered]
        return self.dataset_name if self.dataset_name in names else names[0]

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
            name = self.first_dataset(offered) if offered else None
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
            help_ += (
                f"; {default} for {choice.name if choice else 'this data'} "
                f"(the Config default is {f.default})"
            )
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
            out.append(
                FieldSpec(
                    f"hp:{f.name}",
                    f.name,
                    _shown(defaults[f.name]),
                    self.hp_help(f, defaults[f.name]),
                    check=check,
                    options=options,
                )
            )
        return out

    async def build_form(self) -> None:
        """Mount the model picker once; everything under it follows the model."""
        form = self.query_one("#form", VerticalScroll)
        general = self.general_fields()
        first = not form.query("#form-rest")
        if first:
            await form.mount_all(
                [
                    Static("Run", classes="form-section"),
                    FormField(general[0]),
                    Vertical(id="form-rest"),
                ]
            )
            self.query_one(f"#{_id('model')}").focus()
        # What the user set that is not the model's own stays through a model change.
        kept = {k: v for k, v in self.values().items() if k in general_keys()}
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
            widgets.append(
                Static(
                    Text(f"No dataset here is ready for {self.model_name}.", style="bold red"),
                    classes="form-note",
                )
            )
        missing = [c for c in choices if c.problem is None and not c.available]
        if missing:
            widgets.append(self.not_here(missing))
        group = options.meta(options.form_fields()[0]).group if general[1:] else ""
        for spec in general[1:]:
            # A new group opens its own section ("Run" is opened above the model).
            if spec.group != group:
                widgets.append(Static(Content(spec.group), classes="form-section"))
                group = spec.group
            widgets.append(FormField(spec))
        title = self.entry.cls.title or self.model_name
        widgets.append(Static(Content(f"Hyperparameters of {title}"), classes="form-section"))
        widgets += [FormField(s) for s in self.model_fields()]
        await rest.mount_all(widgets)
        self.query_one("#form-buttons").display = True
        by_key = {f.spec.key: f for f in self.query(FormField)}
        for key, text in kept.items():
            if key in by_key:
                _set_text(by_key[key], text)
        if first and self.prefill is not None:
            self.apply_prefill(self.prefill, by_key)
            picked = by_key["dataset"].text() if "dataset" in by_key else None
            if self.dataset_name and picked != self.dataset_name:
                self.app.notify(
                    f"{plain(self.source, 80)} trained on "
                    f"{plain(self.dataset_name, 60)}, which is not here for "
                    f"{self.picked_model}; pick a dataset",
                    title="Cloned in part",
                    severity="warning",
                )
        if first:
            # Edits are what differs from this; taken once the fields have settled.
            self.call_after_refresh(self._remember_pristine)

    def not_here(self, missing: list[DatasetChoice]) -> Collapsible:
        """The datasets this model takes that are not here, folded into one line."""
        names = ", ".join(c.name for c in missing)
        title = plain(f"not here: {names}", 60)
        notes = [
            Static(
                Text.assemble((c.name, "bold"), f" ({c.title}) {where_looked(c.where)}; {c.how}"),
                classes="form-note",
            )
            for c in missing
        ]
        # Names and paths come from plugins and the filesystem: Content, never markup (a
        # str title would be parsed as markup; Collapsible takes Content, though typed str).
        return Collapsible(*notes, title=cast(str, Content(title)), collapsed=True, id="not-here")

    def apply_prefill(self, prefill: dict[str, str], by_key: dict[str, FormField]) -> None:
        """A cloned run's values into the form. A value the model's checks refuse shows
        as an invalid field; one a picker does not offer keeps the picker's default and
        says so under it; hyperparameters this model no longer has are named once."""
        # Settings added after the cloned run was made: the values it was built with.
        saved = {key[3:] for key in prefill if key.startswith("hp:")}
        older = cfg.older_than(self.entry.cls.Config, dict.fromkeys(saved))
        prefill = {**{f"hp:{k}": _shown(v) for k, v in older.items()}, **prefill}
        unknown = []
        for key, text in prefill.items():
            field = by_key.get(key)
            if field is None:
                if key.startswith("hp:"):
                    unknown.append(key[3:])
                continue
            if key == "device":
                # run.json records the device picked (cuda:0); the form offers cuda.
                text = text if _set_text(field, text) else text.partition(":")[0]
            if not _set_text(field, text) and key == "device":
                continue  # not here: auto picks what there is
            if not _set_text(field, text):
                field.show_problem(
                    f"{plain(text, 60)!r} from {plain(self.source, 60)} is "
                    "not offered here; kept the default"
                )
            elif field.spec.check is not None:
                field.problem()
        if unknown:
            self.app.notify(
                f"{plain(self.source, 80)}'s hyperparameters "
                f"{plain(', '.join(unknown), 200)} are not in "
                f"{self.picked_model} here and were left out",
                title="Cloned in part",
                severity="warning",
            )

    def _remember_pristine(self) -> None:
        self._pristine = self.values()

    def edited(self) -> bool:
        """Whether the form differs from how it was first shown (a clone's values count
        as shown, not edited)."""
        return self._pristine is not None and self.values() != self._pristine

    # -- reacting --------------------------------------------------------------------

    @on(Select.Changed, "#field-model")
    async def model_changed(self, event: Select.Changed) -> None:
        if event.value != self.model_name and isinstance(event.value, str):
            self.model_name = event.value
            # Keep the dataset when the new model takes it (gan takes Fashion-MNIST as
            # dcgan does); otherwise the new model's first, with its defaults.
            current = self.values().get("dataset")
            self.dataset_name = current or self.dataset_name
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

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.action_back()

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
            self.notify(
                f"{len(bad)} field{'s' if len(bad) > 1 else ''} to fix before launch: "
                + (bad[0].problem() or ""),
                title="Not launched",
                severity="error",
                markup=False,
            )
            return
        v = self.values()
        kind = next((c.kind for c in self.choices if c.name == v["dataset"]), None)
        if kind == "points" and (v["augment"] != "off" or v["subset"].strip()):
            self.notify(
                f"augment and subset apply to image datasets; {v['dataset']!r} is 2D points",
                title="Not launched",
                severity="error",
                markup=False,
            )
            return
        config_cls = self.entry.cls.Config
        defaults = self.data_defaults()
        plain = cfg.defaults(self.entry.cls)
        base = {k: val for k, val in defaults.items() if val != plain[k]}
        sets = {}  # only what differs from the model's defaults on this data, as typed
        for f in cfg.fields(config_cls):
            text = v[f"hp:{f.name}"]
            if cfg.convert(config_cls, f, text) != defaults[f.name]:
                sets[f.name] = text.strip()
        try:  # the Config's own cross-field checks (__post_init__), as the CLI runs them
            cfg.from_assignments(config_cls, [f"{k}={t}" for k, t in sets.items()], base)
        except UsageError as exc:
            self.notify(str(exc), title="Not launched", severity="error", markup=False)
            return
        runs_dir = self.app.runs_dir
        given = {f.name: options.form_value(f, v[f.name]) for f in options.form_fields()}
        given["name"] = given["name"] or free_name(runs_dir, self.entry.name, v["dataset"])
        request = LaunchRequest(
            model=self.run_choices.launch_name(self.entry),
            dataset=v["dataset"],
            runs_dir=runs_dir,
            sets=[f"{key}={text}" for key, text in sets.items()],
            **given,
        )
        self.app.launch(request)

    def action_back(self) -> None:
        """Esc: leave the form. Edits are not thrown away silently: asked first."""
        if not self.edited():
            self.dismiss()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.app.notify("New run discarded; nothing was launched", title="Discarded")
                self.dismiss()

        self.app.push_screen(ConfirmDiscard(), answered)


def _shown(value: Any) -> str:
    return str(value)


def _set_text(field: FormField, text: str) -> bool:
    """Put ``text`` in a field; False when the field is a picker without that option."""
    control = field.control
    if isinstance(control, Select):
        if field.spec.options is None or text not in [v for _, v in field.spec.options]:
            return False
        control.value = text
        return True
    control.value = text
    return True


def clone_values(meta: RunRecord, runs_dir: Path, source: str) -> dict[str, str]:
    """The form's values for a new run configured as ``meta``'s run: its model's
    hyperparameters and every run option run.json records (genbench.options; the
    dataset choice is given separately), and a free name derived from ``source`` (its
    folder's name) in ``runs_dir``. An option the run did not record, or recorded
    out of the form's range (steps 0 in a bare run.json), keeps the form's default.
    run.json is untrusted: every value becomes plain text that the form's checks
    then judge."""
    record = meta.to_dict()
    values = {}
    for f in options.form_fields():
        value = options.recorded(record, f)
        low = options.meta(f).form_min
        if value is None or (low is not None and isinstance(value, int) and value < low):
            continue
        values[f.name] = plain(options.form_text(f, value), 200)
    values["name"] = clone_name(source, runs_dir)
    for key, value in meta.config.items():
        values[f"hp:{plain(key, 100)}"] = plain(_shown(value), 200)
    return values


def clone_name(source: str, runs_dir: Path) -> str:
    """``<source>-clone`` (then -clone-2 ...), free in ``runs_dir`` and a valid name
    whatever the source's id holds; blank (the timestamped default) if nothing fits."""
    base = "".join(c if c.isalnum() or c in "-_." else "_" for c in plain(source, 200))
    base = base.lstrip(".")[: NAME_MAX_BYTES // 4 - 16] or "run"
    try:
        name = first_free(Path(runs_dir), f"{base}-clone", lambda p: not p.exists()).name
        return validate_name(name)
    except UsageError:
        return ""
