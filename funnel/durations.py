"""Durations written with units, as people write them: ``"30m"``, ``"1h30m"``, ``"45s"``.

>>> parse_duration("30m")
1800.0
>>> parse_duration("1h30m")
5400.0
>>> parse_duration("2d")
172800.0
"""

from __future__ import annotations

import re

from funnel.errors import SpecError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str | int | float, *, key: str = "duration") -> float:
    """Parse a duration such as ``"30m"`` into seconds.

    Plain numbers are refused so that a unit is always explicit.

    >>> parse_duration(" 90s ")
    90.0
    """
    if isinstance(text, bool) or not isinstance(text, str):
        raise SpecError(
            f"{key}: expected a duration with a unit, got {text!r}",
            hint='write it like "30m", "2h", "45s" or "1h30m"',
        )
    cleaned = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for m in _PART.finditer(cleaned):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(cleaned) or not cleaned:
        raise SpecError(
            f"{key}: cannot read duration {text!r}",
            hint='use numbers with units ms, s, m, h, d, w, e.g. "30m" or "1h30m"',
        )
    return total
