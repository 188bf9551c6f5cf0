"""The runs list's `/` search: words and hyperparameter conditions.

A search is words separated by spaces, and a run is shown when every one holds:

- ``KEY=VALUE`` (or ``!=``, ``<``, ``<=``, ``>``, ``>=``): the run's hyperparameter
  (run.json's model config) or run option (batch_size, seed, steps, precision, ...)
  named KEY (``-`` and ``_`` alike) compares with VALUE. Numbers compare as numbers,
  so ``lr=2e-4`` finds a run whose lr is 0.0002; a list (augment) holds VALUE;
  anything else compares as text, case ignored. ``tag=NAME`` is a tag exactly.
- any other word: found in the run's name, model, dataset, status, sweep, tags or
  note, case ignored.

Pure functions over what the list already read: no Textual, no files.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_CONDITION = re.compile(r"([A-Za-z_][\w.-]*)(<=|>=|!=|=|<|>)(.*)")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
TAG_KEYS = ("tag", "tags")


@dataclass(frozen=True)
class Condition:
    key: str  # lower case, '-' as '_'
    op: str
    value: str


@dataclass(frozen=True)
class Search:
    words: tuple[str, ...]  # case-folded
    conditions: tuple[Condition, ...]

    @property
    def empty(self) -> bool:
        return not self.words and not self.conditions

    @property
    def needs_settings(self) -> bool:
        """Whether a run's hyperparameters must be read to answer it."""
        return any(c.key not in TAG_KEYS for c in self.conditions)


def parse(text: str) -> Search:
    words: list[str] = []
    conditions: list[Condition] = []
    for part in text.split():
        found = _CONDITION.fullmatch(part)
        if found and found.group(3):
            key, op, value = found.groups()
            conditions.append(Condition(key.casefold().replace("-", "_"), op, value))
        else:
            words.append(part.casefold())
    return Search(tuple(words), tuple(conditions))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _holds(value: Any, op: str, wanted: str) -> bool:
    """Whether one recorded value compares with the typed one."""
    compare = _COMPARE[op]
    if isinstance(value, list):  # augment=flip: one of its items
        hit = any(_holds(item, "=", wanted) for item in value)
        return hit if op == "=" else not hit if op == "!=" else False
    if isinstance(value, bool):
        value = "true" if value else "false"
    a, b = _number(value), _number(wanted)
    if a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
        if op in ("=", "!="):
            # 2e-4 and 0.0002 are one number; a float written back may differ in
            # its last bit.
            same = math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
            return same if op == "=" else not same
        return compare(a, b)
    if value is None:
        return op == "!="
    text = str(value).casefold()
    if op in ("=", "!="):
        return compare(text, wanted.casefold())
    return False  # < and > compare numbers only


def _setting(settings: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    for name, value in settings.items():
        if name.casefold().replace("-", "_") == key:
            return True, value
    return False, None


def matches(
    search: Search,
    texts: Iterable[str],
    tags: list[str],
    settings: Mapping[str, Any] | None,
) -> bool:
    """Whether a run is found: ``texts`` its name, model, dataset, status, sweep and
    note (already cleaned); ``settings`` its hyperparameters and options (None when
    run.json cannot be read: no condition on them holds)."""
    if search.words:
        haystack = [t.casefold() for t in (*texts, *tags) if t]
        if not all(any(word in t for t in haystack) for word in search.words):
            return False
    for c in search.conditions:
        if c.key in TAG_KEYS:
            hit = any(t.casefold() == c.value.casefold() for t in tags)
            if not (hit if c.op == "=" else not hit if c.op == "!=" else False):
                return False
            continue
        if settings is None:
            return False
        found, value = _setting(settings, c.key)
        if not found or not _holds(value, c.op, c.value):
            return False
    return True
