"""One name where a tuple of names is expected: ``events="purchase"`` means
``("purchase",)``, never the letters of the word."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from funnel.errors import SpecError

__all__ = ["event_names", "name_tuples"]


def name_tuples(obj: Any, *fields: str) -> None:
    """Turn each of ``fields`` of a frozen dataclass into a tuple: text -> one name, any
    other iterable -> its items.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Thing:
    ...     events: tuple[str, ...] = ()
    ...     def __post_init__(self): name_tuples(self, "events")
    >>> Thing(events="purchase").events, Thing(events=["a", "b"]).events
    (('purchase',), ('a', 'b'))
    """
    for name in fields:
        value = getattr(obj, name)
        if isinstance(value, str):
            object.__setattr__(obj, name, (value,))
        elif not isinstance(value, tuple) and isinstance(value, Iterable):
            object.__setattr__(obj, name, tuple(value))


def event_names(value: Any, key: str) -> tuple[str, ...]:
    """Event names of a spec key: one name or a list; a ``*`` may only end a name (a prefix).

    >>> event_names(["a", "b*"], "event")
    ('a', 'b*')
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise SpecError(f"{key}: expected an event name or a list of names", hint='"purchase"')
    for v in items:
        if "*" in v[:-1]:
            raise SpecError(
                f"{key}: {v!r}: '*' may only end a name",
                hint='"checkout_*" matches every event starting with checkout_; "*" any event',
            )
    return tuple(items)
