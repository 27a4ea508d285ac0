"""The ``[[steps]]`` and ``[[exclude]]`` tables of a spec, validated key by key.

A step::

    [[steps]]
    name = "shipping"
    event = ["add_shipping_info", "shipping_selected"]  # any of these (alternatives)
    where = "value > 0"     # optional SQL condition (docs/conditions.md)
    optional = true         # the path may skip it (not the first or last step)
    within = "10m"          # reached at most this long after the previous step reached

``optional`` and ``within`` need mode ``ordered`` or ``first_occurrence``; their semantics
are in docs/semantics.md (sections 4 and 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from funnel.durations import parse_duration
from funnel.errors import SpecError, did_you_mean
from funnel.spec.conditions import Filter, parse_filter
from funnel.spec.names import name_tuples

__all__ = ["Exclusion", "Step", "check_keys", "event_names", "parse_exclusions", "parse_steps"]

_STEP_KEYS = {"name", "event", "where", "same_as", "optional", "within"}
_EXCLUDE_KEYS = {"event", "where", "between"}


def check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    """An unknown key is an error naming it, with the nearest allowed key."""
    for key in table:
        if key not in allowed:
            raise SpecError(f"{where}{key}: unknown key", hint=did_you_mean(key, allowed))


def event_names(value: Any, key: str) -> tuple[str, ...]:
    """An event name or a list of them (alternatives), stripped."""
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(v, str) and v.strip() for v in items)
    ):
        raise SpecError(
            f"{key}: expected an event name or a list of names", hint='event = "purchase"'
        )
    return tuple(v.strip() for v in items)


@dataclass(frozen=True, kw_only=True)
class Step:
    """One funnel step: any of ``events``, optionally filtered by ``where``; ``optional``
    steps may be skipped; ``within_s`` limits the time since the previous step reached."""

    name: str
    events: tuple[str, ...]
    where: Filter | None = None
    same_as: str | None = None  # the step of another version this one is compared with
    optional: bool = False
    within_s: float | None = None

    def __post_init__(self) -> None:
        name_tuples(self, "events")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "event": list(self.events)}
        if self.where is not None:
            out["where"] = self.where.text
        if self.same_as is not None:
            out["same_as"] = self.same_as
        if self.optional:
            out["optional"] = True
        if self.within_s is not None:
            out["within_s"] = self.within_s
        return out


@dataclass(frozen=True, kw_only=True)
class Exclusion:
    """Events that end a path when they occur between steps ``between[0]`` and ``between[1]``."""

    events: tuple[str, ...]
    between: tuple[int, int]
    where: Filter | None = None

    def __post_init__(self) -> None:
        name_tuples(self, "events")


def _step(raw: Any, i: int, last: int) -> Step:
    where = f"steps[{i}]."
    if not isinstance(raw, Mapping):
        raise SpecError(f"steps[{i}]: expected a table", hint="use [[steps]] tables")
    check_keys(raw, _STEP_KEYS, where)
    if "event" not in raw:
        raise SpecError(f"{where}event: missing", hint='every step needs event = "..."')
    events = event_names(raw["event"], where + "event")
    name = raw.get("name", events[0])
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{where}name: expected text", hint='name = "checkout"')
    flt = parse_filter(raw["where"], key=where + "where") if "where" in raw else None
    same_as = raw.get("same_as")
    if same_as is not None and (not isinstance(same_as, str) or not same_as.strip()):
        raise SpecError(
            f"{where}same_as: expected the name of a step in the other version",
            hint='same_as = "payment"',
        )
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        raise SpecError(f"{where}optional: expected true or false", hint="optional = true")
    if optional and i in (0, last):
        raise SpecError(
            f"{where}optional: the {'first' if i == 0 else 'last'} step cannot be optional",
            hint='the first step defines entry and the last conversion; entry = "open" lets '
            "units enter at a later step",
        )
    within = None
    if "within" in raw:
        within = parse_duration(raw["within"], key=where + "within")
        if i == 0 or within <= 0:
            raise SpecError(
                f"{where}within: "
                + ("the first step has no previous step" if i == 0 else "must be positive"),
                hint='a limit from the previous step reached, e.g. within = "10m"; the whole '
                'path: window = "1h"',
            )
    return Step(
        name=name.strip(),
        events=events,
        where=flt,
        same_as=same_as.strip() if same_as else None,
        optional=optional,
        within_s=within,
    )


def parse_steps(raw_steps: Any) -> list[Step]:
    """The ``steps`` array: at least one table, at most 60, unique names."""
    if not isinstance(raw_steps, list) or len(raw_steps) < 1:
        raise SpecError(
            "steps: a funnel needs at least one [[steps]] table",
            hint='add [[steps]] with name = "..." and event = "..."',
        )
    if len(raw_steps) > 60:
        raise SpecError("steps: more than 60 steps", hint="split the funnel")
    steps = [_step(raw, i, len(raw_steps) - 1) for i, raw in enumerate(raw_steps)]
    names = [s.name for s in steps]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SpecError(
            f"steps: step name {dupes[0]!r} is used twice", hint="give each step a unique name"
        )
    keys = [s.same_as or s.name for s in steps]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise SpecError(
            f"steps: two steps are compared as {twice[0]!r} (name or same_as)",
            hint="each step must stand for a different step of the other version",
        )
    return steps


def parse_exclusions(raw_list: Any, steps: list[Step]) -> list[Exclusion]:
    """The ``exclude`` array; ``between`` names two steps (default: first and last)."""
    names = [s.name for s in steps]
    exclusions = []
    for i, raw in enumerate(raw_list):
        where = f"exclude[{i}]."
        check_keys(raw, _EXCLUDE_KEYS, where)
        events = event_names(raw.get("event"), where + "event")
        between = raw.get("between", [names[0], names[-1]])
        if not (isinstance(between, list) and len(between) == 2):
            raise SpecError(
                f"{where}between: expected [from_step, to_step]",
                hint=f'e.g. between = ["{names[0]}", "{names[-1]}"]',
            )
        idx = []
        for b in between:
            if b not in names:
                raise SpecError(
                    f"{where}between: {b!r} is not a step", hint=did_you_mean(str(b), names)
                )
            idx.append(names.index(b))
        if idx[0] >= idx[1]:
            raise SpecError(
                f"{where}between: the first step must come before the second",
                hint=f'e.g. between = ["{names[0]}", "{names[-1]}"]',
            )
        if steps[idx[0]].optional:
            raise SpecError(
                f"{where}between: {names[idx[0]]!r} is optional; an exclusion starts at a "
                "step every path reaches",
                hint="start it at the required step before",
            )
        flt = parse_filter(raw["where"], key=where + "where") if "where" in raw else None
        exclusions.append(Exclusion(events=events, between=(idx[0], idx[1]), where=flt))
    return exclusions
