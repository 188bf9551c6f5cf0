"""Hyperparameters of several runs side by side, the differing ones highlighted
(W&B's run comparer): a row per setting, a column per run.

Values come from run.json, which is untrusted: every value is shown as Text through
plain(), never as markup. A differing row is marked with a leading '≠' as well as
highlighted, so it still stands out where colour and styles are off (NO_COLOR).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from genbench.runfolder.record import RunRecord
from genbench.tui.format import plain

DIFFERS = "≠"
MISSING = "—"  # the run has no such setting (a VAE has no d_steps)
UNKNOWN = "?"  # the run's run.json is not readable (yet)

# The settings every run has, in the order a user reads them, then the model's config.
COMMON = [
    ("model", "model"),
    ("dataset", "dataset"),
    ("batch size", "batch_size"),
    ("seed", "seed"),
    ("steps", "steps"),
    ("device", "device"),
    ("precision", "precision"),
]


class _Absent:
    """A key the run does not have (distinct from a value of null)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class DiffRow:
    key: str
    values: tuple[Any, ...]  # one per run: the value, ABSENT, or None for an unread run
    differs: bool


def _same_key(value: Any) -> str:
    """What two values are compared by: their JSON, so True and 1 (equal in Python)
    or 1 and 1.0 differ as they do in run.json."""
    if value is ABSENT:
        return "\0absent"
    try:
        return json.dumps(value, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError):
        return repr(value)


def config_rows(records: Sequence[RunRecord | None]) -> list[DiffRow]:
    """A row per setting over ``records`` (None: a run whose run.json is not read):
    the common settings, then every config key any run has, in the order first met.
    A row differs when the runs that could be read do not all agree; a key one run
    lacks and another has differs."""
    rows: list[tuple[str, list[Any]]] = []
    for title, attr in COMMON:
        rows.append((title, [getattr(r, attr) if r is not None else None for r in records]))
    keys: list[str] = []
    for r in records:
        for key in r.config if r is not None else {}:
            if key not in keys:
                keys.append(key)
    for key in keys:
        rows.append(
            (str(key), [(r.config.get(key, ABSENT) if r is not None else None) for r in records])
        )
    out = []
    for key, values in rows:
        known = {_same_key(v) for v, r in zip(values, records, strict=True) if r is not None}
        out.append(DiffRow(key, tuple(values), len(known) > 1))
    return out


def value_text(value: Any, unread: bool = False) -> str:
    """A setting as the table shows it (plain text, cleaned)."""
    if unread:
        return UNKNOWN
    if value is ABSENT:
        return MISSING
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # as run.json has it: 1.0 is not 1
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value)
    return plain(value, 60)


class ConfigDiff(DataTable):
    """The hyperparameter table. :meth:`show` fills it; :attr:`differing` lists the
    keys whose values differ (for tests and callers)."""

    DEFAULT_CSS = """
    ConfigDiff { height: 1fr; }
    """

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.diff_rows: list[DiffRow] = []
        self.only_differences = False
        self._key: tuple | None = None

    @property
    def differing(self) -> list[str]:
        return [r.key for r in self.diff_rows if r.differs]

    def show(self, records: Sequence[RunRecord | None], headers: Sequence[Text]) -> None:
        """Show ``records`` (one column each, titled by ``headers``); rebuilt only
        when what it shows changed (a running run rewrites run.json every few seconds)."""
        rows = config_rows(records)
        if not self.only_differences or not any(r.differs for r in rows):
            shown = rows
        else:
            shown = [r for r in rows if r.differs]
        key = (
            tuple(rows),
            self.only_differences,
            tuple(h.plain for h in headers),
            tuple(str(h.style) for h in headers),
        )
        if key == self._key:
            return
        self._key = key
        self.diff_rows = rows
        self.clear(columns=True)
        self.add_column(" ", key="mark")
        self.add_column("setting", key="setting")
        for i, header in enumerate(headers):
            self.add_column(header, key=f"run-{i}")
        for row in shown:
            if row.differs:
                # Bold and reversed where colour shows, '≠' where it does not.
                mark, key_style, cell_style = Text(DIFFERS, "bold"), "bold", "bold reverse"
            else:
                mark, key_style, cell_style = Text(" "), "dim", "dim"
            cells = [
                Text(value_text(v, unread=r is None), style=cell_style)
                for v, r in zip(row.values, records, strict=True)
            ]
            self.add_row(mark, Text(plain(row.key, 60), style=key_style), *cells)

    def toggle_only_differences(
        self, records: Sequence[RunRecord | None], headers: Sequence[Text]
    ) -> None:
        self.only_differences = not self.only_differences
        self.show(records, headers)
