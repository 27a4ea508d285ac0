"""One name where a tuple of names is expected: ``events="purchase"`` means
``("purchase",)``, never the letters of the word."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["name_tuples"]


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
