"""Earlier values of a session, for a cause's ``where``: ``[causes.earlier]``.

A cause's condition reads the row's own columns; an *earlier value* adds a name for a
column of an **earlier row of the same session**, so a condition can compare now with
then (costs that rose late: the total shown at payment against the cart value when
checkout began)::

    [[causes]]
    name = "costs_rose_late"
    event = "add_payment_info"
    where = "value > 1.2 * checkout_value"
    earlier.checkout_value = { event = "begin_checkout", column = "value" }

``checkout_value`` is, on each row, the ``value`` of the **first** ``begin_checkout`` row
of the session before it whose ``value`` is not null (``take = "last"``: the latest such
row); null when there is none, so the condition is unknown and the row no evidence.

>>> e = parse_earlier({"start": {"event": "begin_checkout", "column": "value"}}, "causes[0].")
>>> e[0].name, e[0].events, e[0].column, e[0].take
('start', ('begin_checkout',), 'value', 'first')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from funnel.errors import SpecError, did_you_mean
from funnel.spec.names import event_names, name_tuples

__all__ = ["EarlierValue", "parse_earlier"]

_KEYS = ("event", "column", "take")
_TAKES = ("first", "last")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_EXAMPLE = 'earlier.checkout_value = { event = "begin_checkout", column = "value" }'


@dataclass(frozen=True, kw_only=True)
class EarlierValue:
    """``name``: how the cause's ``where`` reads it; the ``column`` of the first (or last:
    ``take``) row of ``events`` before the row in its session with that column set."""

    name: str
    events: tuple[str, ...]
    column: str
    take: str = "first"

    def __post_init__(self) -> None:
        name_tuples(self, "events")

    def to_dict(self) -> dict[str, Any]:
        return {"event": list(self.events), "column": self.column, "take": self.take}


def parse_earlier(raw: Any, where: str) -> tuple[EarlierValue, ...]:
    """The ``earlier`` table of a cause (``where``: the cause's key prefix, for messages)."""
    if not isinstance(raw, Mapping) or not raw:
        raise SpecError(f"{where}earlier: expected a table of named values", hint=_EXAMPLE)
    out = []
    for name, spec in raw.items():
        key = f"{where}earlier.{name}"
        if not _NAME.match(name):
            raise SpecError(
                f"{key}: a name starts with a letter and holds letters, digits and _",
                hint="e.g. checkout_value",
            )
        if not isinstance(spec, Mapping):
            raise SpecError(f"{key}: expected a table", hint=_EXAMPLE)
        for k in spec:
            if k not in _KEYS:
                raise SpecError(f"{key}.{k}: unknown key", hint=did_you_mean(k, _KEYS))
        for k in ("event", "column"):
            if k not in spec:
                raise SpecError(f"{key}.{k}: missing", hint=_EXAMPLE)
        column = spec["column"]
        if not isinstance(column, str) or not column:
            raise SpecError(f"{key}.column: expected a column name", hint='column = "value"')
        take = spec.get("take", "first")
        if take not in _TAKES:
            raise SpecError(
                f"{key}.take: expected 'first' or 'last'", hint=did_you_mean(str(take), _TAKES)
            )
        events = event_names(spec["event"], f"{key}.event")
        out.append(EarlierValue(name=name, events=events, column=column, take=take))
    return tuple(out)
