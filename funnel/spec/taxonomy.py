"""Abandonment causes as data: the ``[[causes]]`` and ``[attribution]`` tables of a spec.

A cause is a *detector*: which events count as evidence (names and a condition on their
properties), how close to the exit the evidence must be (number of events and time), which
later event cancels it (a successful payment after a decline), and, optionally, at which
steps the shopper must have left. Every spec starts from the built-in taxonomy in
``funnel/spec/builtin/causes.toml``; a ``[[causes]]`` table with the same name replaces a built-in
cause, a new name adds one, ``[attribution] drop = [...]`` removes, and
``[attribution] builtin = false`` starts from nothing::

    [attribution]
    value = "value"                 # cart value column, for value at risk
    drivers = ["payment_type", "device"]  # property columns tried by drivers discovery

    [[causes]]
    name = "surprise_costs"
    event = ["add_shipping_info"]
    where = "shipping + tax > 0.10 * value"   # retuned: 10% instead of 15%
    within_events = 2

>>> causes, opts = parse_attribution({"attribution": {"drop": ["delivery"]}}, ["a", "b"])
>>> "delivery" in [c.name for c in causes], causes[0].name
(False, 'surprise_costs')
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from funnel.durations import parse_duration
from funnel.errors import SpecError, closest, did_you_mean
from funnel.spec.conditions import Filter, parse_filter
from funnel.spec.earlier import EarlierValue, parse_earlier
from funnel.spec.names import event_names, name_tuples

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["AttributionOptions", "Cause", "event_matches", "parse_attribution"]

UNEXPLAINED = "unexplained"
MAX_CAUSES = 31
_CAUSE_KEYS = {
    "name",
    "label",
    "event",
    "where",
    "within_events",
    "within",
    "min_count",
    "in_a_row",
    "earlier",
    "exit_at",
    "unless_later",
    "exposed_from",
    "priority",
    "show",
}
_ATTR_KEYS = {"builtin", "drop", "value", "drivers", "min_units", "page", "return_within"}
_DRIVERS = ["payment_type", "shipping_tier", "device", "country", "page", "error", "coupon"]


@dataclass(frozen=True, kw_only=True)
class Cause:
    """One detector. ``exit_at``/``exposed_from`` hold step indices (0-based)."""

    name: str
    label: str
    events: tuple[str, ...]
    where: Filter | None = None
    within_events: int = 3
    within_s: float = 1800.0
    min_count: int = 1  # evidence rows needed (repetition: two slow pages, three declines)
    in_a_row: int = 1  # this row and the ones of its events before it meet `where`
    earlier: tuple[EarlierValue, ...] = ()  # values of earlier rows `where` reads
    exit_at: tuple[int, ...] | None = None
    exit_events: tuple[str, ...] = ()  # exit_at names that are no step: the last event
    unless_events: tuple[str, ...] = ()
    unless_where: Filter | None = None
    exposed_from: int = 0
    priority: int = 100
    show: tuple[str, ...] = ()
    builtin: bool = False

    def __post_init__(self) -> None:
        name_tuples(self, "events", "unless_events", "show", "exit_events")

    @property
    def cancellable(self) -> bool:
        """Has an ``unless_later`` condition."""
        return bool(self.unless_events) or self.unless_where is not None

    @property
    def contextual(self) -> bool:
        """Its ``where`` needs the row's session (earlier values, ``in_a_row``): it is
        decided after the sort (:func:`funnel.causes.context.session_context`)."""
        return bool(self.earlier) or self.in_a_row > 1

    @property
    def specificity(self) -> int:
        """How many tests beyond the event name its evidence passes (``where``, ``exit_at``,
        ``unless_later``, ``min_count`` or ``in_a_row`` above 1): between two causes equally
        close to an exit, the one whose evidence had to pass more is the less likely to be
        incidental (docs/causes.md).

        >>> Cause(name="x", label="x", events=("e",), exit_at=(1,)).specificity
        1
        """
        tests = (self.where is not None) + (self.exit_at is not None) + self.cancellable
        return tests + (self.min_count > 1) + (self.in_a_row > 1)

    def columns(self) -> set[str]:
        """Property columns the detector reads or reports."""
        cols = set(self.show)
        for f in (self.where, self.unless_where):
            if f is not None:
                cols |= f.columns()
        return cols

    def to_dict(self, steps: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "event": list(self.events),
            "where": self.where.text if self.where else None,
            "within_events": self.within_events,
            "within_s": self.within_s,
            "min_count": self.min_count,
            "in_a_row": self.in_a_row,
            "exit_at": (
                [steps[i] for i in self.exit_at] + list(self.exit_events)
                if self.exit_at is not None
                else None
            ),
            "exposed_from": steps[self.exposed_from],
            "priority": self.priority,
            "show": list(self.show),
        }
        if self.earlier:
            out["earlier"] = {e.name: e.to_dict() for e in self.earlier}
        if self.unless_events:
            out["unless_later"] = {
                "event": list(self.unless_events),
                "where": self.unless_where.text if self.unless_where else None,
            }
        return out


@dataclass(frozen=True, kw_only=True)
class AttributionOptions:
    """``value``: cart value column; ``drivers``: columns for drivers discovery;
    ``min_units``: features seen in fewer units are not tested; ``page``: the page column
    shown after the exit; ``return_within_s``: how long after leaving a return counts;
    ``left_out``: why built-in
    causes are not in this spec (none of their exit steps is one of its steps)."""

    value: str = "value"
    drivers: tuple[str, ...] = tuple(_DRIVERS)
    min_units: int = 20
    page: str = "page"  # shown beside events after the exit (funnel.causes.after_exit)
    return_within_s: float = 7 * 86400.0  # "came back and bought later" within this
    left_out: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        name_tuples(self, "drivers")


def event_matches(event: str, pattern: str) -> bool:
    """Does ``event`` match ``pattern``: a name, a prefix ending in ``*``, or ``*``?

    >>> event_matches("checkout_error", "checkout_*"), event_matches("x", "*")
    (True, True)
    """
    return event.startswith(pattern[:-1]) if pattern.endswith("*") else event == pattern


def _step_index(value: Any, steps: list[str], step_events: list[tuple[str, ...]]) -> int | None:
    """A step given by name or by one of its events; None when a built-in cannot place it."""
    if isinstance(value, str):
        if value in steps:
            return steps.index(value)
        for i, evs in enumerate(step_events):
            if value in evs:
                return i
    return None


def _cause(raw: Mapping[str, Any], where: str, steps, step_events, builtin: bool) -> Cause | None:
    for key in raw:
        if key not in _CAUSE_KEYS:
            raise SpecError(f"{where}{key}: unknown key", hint=did_you_mean(key, _CAUSE_KEYS))
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or name == UNEXPLAINED:
        raise SpecError(f"{where}name: expected a name", hint='name = "surprise_costs"')
    if "event" not in raw:
        raise SpecError(f"{where}event: missing", hint="the evidence event(s), e.g. 'exception'")
    n_events = raw.get("within_events", 3)
    if not isinstance(n_events, int) or isinstance(n_events, bool) or n_events < 1:
        raise SpecError(f"{where}within_events: expected a whole number >= 1", hint="e.g. 3")
    min_count = raw.get("min_count", 1)
    if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
        raise SpecError(f"{where}min_count: expected a whole number >= 1", hint="e.g. 2")
    in_a_row = raw.get("in_a_row", 1)
    if not isinstance(in_a_row, int) or isinstance(in_a_row, bool) or in_a_row < 1:
        raise SpecError(f"{where}in_a_row: expected a whole number >= 1", hint="e.g. 2")
    priority = raw.get("priority", 100)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise SpecError(f"{where}priority: expected a whole number", hint="lower wins ties")

    def place(value: Any, key: str) -> int | None:
        idx = _step_index(value, steps, step_events)
        if idx is None and not builtin:
            raise SpecError(
                f"{where}{key}: {value!r} is not a step or a step's event",
                hint=did_you_mean(str(value), steps),
            )
        return idx

    exit_at, exit_events = None, ()
    if "exit_at" in raw:
        values = raw["exit_at"] if isinstance(raw["exit_at"], list) else [raw["exit_at"]]
        if not values or not all(isinstance(v, str) and v for v in values):
            raise SpecError(f"{where}exit_at: expected step or event names", hint='["payment"]')
        placed = [_step_index(v, steps, step_events) for v in values]
        exit_at = tuple(sorted({i for i in placed if i is not None}))
        # a name that is no step: the shopper's last event (the built-ins name GA4 steps
        # only, and are left out of a funnel without them)
        named = [v for v, i in zip(values, placed, strict=True) if i is None]
        for v in [] if builtin else named:  # a near miss of a step is a typo, not an event
            near = closest(v, steps)
            if near is not None:
                raise SpecError(
                    f"{where}exit_at: {v!r} is not a step",
                    hint=f"did you mean '{near}'? (a name that is no step means the "
                    "shopper's last event)",
                )
        exit_events = () if builtin else tuple(named)
        if builtin and not exit_at:
            return None  # none of its exit steps exist in this funnel
    exposed = place(raw["exposed_from"], "exposed_from") if "exposed_from" in raw else 0
    unless = raw.get("unless_later", {})
    if not isinstance(unless, Mapping):
        raise SpecError(f"{where}unless_later: expected a table", hint='{ event = "purchase" }')
    for key in unless:
        if key not in ("event", "where"):
            raise SpecError(f"{where}unless_later.{key}: unknown key", hint="event, where")
    show = raw.get("show", [])
    if not isinstance(show, list) or not all(isinstance(s, str) for s in show):
        raise SpecError(f"{where}show: expected a list of column names", hint='["shipping"]')
    flt = parse_filter(raw["where"], key=f"{where}where") if "where" in raw else None
    earlier = parse_earlier(raw["earlier"], where) if "earlier" in raw else ()
    if earlier:
        reads = flt.expression().meta.root_names() if flt else []
        for e in earlier:
            if e.name not in reads:
                raise SpecError(
                    f"{where}earlier.{e.name}: the cause's where does not read it",
                    hint=f'compare with it in where, e.g. "value > 1.2 * {e.name}"',
                )
        flt = replace(flt, earlier=tuple((e.name, e.column) for e in earlier))
    return Cause(
        name=name.strip(),
        label=str(raw.get("label", name)),
        events=event_names(raw["event"], f"{where}event"),
        where=flt,
        within_events=n_events,
        min_count=min_count,
        in_a_row=in_a_row,
        earlier=earlier,
        within_s=parse_duration(raw.get("within", "30m"), key=f"{where}within"),
        exit_at=exit_at,
        exit_events=exit_events,
        unless_events=(
            event_names(unless["event"], f"{where}unless_later.event") if "event" in unless else ()
        ),
        unless_where=(
            parse_filter(unless["where"], key=f"{where}unless_later.where")
            if "where" in unless
            else None
        ),
        exposed_from=exposed if exposed is not None else 0,
        priority=priority,
        show=tuple(show) if show else tuple(sorted(flt.columns())) if flt else (),
        builtin=builtin,
    )


def _builtin_tables() -> list[dict[str, Any]]:
    text = resources.files("funnel.spec").joinpath("builtin/causes.toml").read_text("utf-8")
    return tomllib.loads(text)["causes"]


def parse_attribution(
    data: Mapping[str, Any], steps: list[str], step_events: list[tuple[str, ...]] | None = None
) -> tuple[tuple[Cause, ...], AttributionOptions]:
    """The causes and options of a spec (built-ins merged with its ``[[causes]]``)."""
    step_events = step_events or [(s,) for s in steps]
    attr = data.get("attribution", {})
    if not isinstance(attr, Mapping):
        raise SpecError("attribution: expected a table", hint="[attribution] value = 'value'")
    for key in attr:
        if key not in _ATTR_KEYS:
            raise SpecError(f"attribution.{key}: unknown key", hint=did_you_mean(key, _ATTR_KEYS))
    tables: dict[str, tuple[Mapping[str, Any], str, bool]] = {}
    if attr.get("builtin", True):
        for i, raw in enumerate(_builtin_tables()):
            tables[raw["name"]] = (raw, f"builtin causes[{i}].", True)
    raw_causes = data.get("causes", [])
    if not isinstance(raw_causes, list):
        raise SpecError("causes: expected [[causes]] tables", hint="use [[causes]]")
    for i, raw in enumerate(raw_causes):
        if not isinstance(raw, Mapping):
            raise SpecError(f"causes[{i}]: expected a table", hint="use [[causes]]")
        key = raw.get("name")
        tables[key if isinstance(key, str) else f"#{i}"] = (raw, f"causes[{i}].", False)
    drop = attr.get("drop", [])
    if not isinstance(drop, list):
        raise SpecError("attribution.drop: expected a list of cause names", hint='["delivery"]')
    for name in drop:
        if name not in tables:
            raise SpecError(
                f"attribution.drop: no cause named {name!r}", hint=did_you_mean(str(name), tables)
            )
        del tables[name]
    causes, left_out = [], []
    for order, (raw, where, builtin) in enumerate(tables.values()):
        cause = _cause(raw, where, steps, step_events, builtin)
        if cause is None:
            exits = raw["exit_at"] if isinstance(raw["exit_at"], list) else [raw["exit_at"]]
            left_out.append(
                f"built-in cause '{raw['name']}' is left out: none of its exit steps "
                f"({', '.join(map(str, exits))}) is a step or a step's event of this funnel"
            )
        else:
            causes.append(cause if "priority" in raw else replace(cause, priority=1000 + order))
    names = [c.name for c in causes]
    if len(causes) > MAX_CAUSES:  # a bit each in the engine's masks (funnel.causes.evidence)
        raise SpecError(
            f"causes: {len(causes)} causes, at most {MAX_CAUSES}",
            hint="remove built-in causes you do not need with [attribution] drop = [...]",
        )
    if len(set(names)) != len(names):
        raise SpecError("causes: a cause name is used twice", hint="give each cause a unique name")
    drivers = attr.get("drivers", _DRIVERS)
    if not isinstance(drivers, list) or not all(isinstance(d, str) for d in drivers):
        raise SpecError("attribution.drivers: expected a list of columns", hint='["device"]')
    min_units = attr.get("min_units", 20)
    if not isinstance(min_units, int) or min_units < 1:
        raise SpecError("attribution.min_units: expected a whole number >= 1", hint="e.g. 20")
    value = attr.get("value", "value")
    if not isinstance(value, str):
        raise SpecError("attribution.value: expected a column name", hint='value = "value"')
    page = attr.get("page", "page")
    if not isinstance(page, str) or not page.strip():
        raise SpecError("attribution.page: expected a column name", hint='page = "page_location"')
    back = parse_duration(attr.get("return_within", "7d"), key="attribution.return_within")
    if back <= 0:
        raise SpecError("attribution.return_within: must be positive", hint='e.g. "7d"')
    return tuple(causes), AttributionOptions(
        value=value,
        drivers=tuple(drivers),
        min_units=min_units,
        left_out=tuple(left_out),
        page=page.strip(),
        return_within_s=back,
    )
