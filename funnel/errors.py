"""One error family for everything `funnel` raises on purpose.

Every error is builtin-compatible (a ``SchemaError`` is also a ``ValueError``) and its
message ends with a hint that says what to do next.

>>> try:
...     raise SchemaError("events.csv: column 'user_id' is missing", hint="pass --map user_id=COL")
... except ValueError as exc:
...     print(exc)
events.csv: column 'user_id' is missing (hint: pass --map user_id=COL)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["FunnelError", "SchemaError", "SpecError", "closest", "first_line"]


class FunnelError(Exception):
    """Base class of every error that `funnel` raises deliberately."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} (hint: {hint})" if hint else message)


class SchemaError(FunnelError, ValueError):
    """The input data does not have the columns or types a stage needs."""


class SpecError(FunnelError, ValueError):
    """A funnel spec (TOML or Python) is invalid; the message names the key."""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """Return the choice most similar to ``word``, or None when nothing is close.

    >>> closest("user_idd", ["user_id", "event", "timestamp"])
    'user_id'
    >>> closest("zzz", ["user_id"]) is None
    True
    """
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint sentence: "did you mean 'x'?" or the list of valid choices."""
    choices = sorted(choices)
    best = closest(word, choices)
    if best is not None:
        return f"did you mean '{best}'?"
    return "valid choices: " + ", ".join(repr(c) for c in choices)


def first_line(exc: BaseException, default: str | None = None) -> str:
    """The first line of an exception's message (a library's error can run to pages), or
    ``default`` (the exception's type name unless given) when it has none.

    >>> first_line(ValueError("bad value\\n  at line 3")), first_line(KeyError())
    ('bad value', 'KeyError')
    """
    lines = str(exc).strip().splitlines()
    if lines:
        return lines[0]
    return type(exc).__name__ if default is None else default
