"""Checks of a spec against the data: no silent zeros.

Every event name a spec uses (steps, exclusions, causes) is looked up in the data's event
inventory (the used rows per event name, summed over buckets); a name that never occurs
gets a note with the nearest names the data does have. A funnel that nobody entered says
why. The notes are plain text, in :attr:`funnel.FunnelResult.notes`, on stderr from the
CLI, and turn into exit 1 with ``--strict``.
"""

from __future__ import annotations

import polars as pl

from funnel.errors import closest
from funnel.spec.funnel_spec import FunnelSpec
from funnel.spec.taxonomy import event_matches

__all__ = ["data_notes", "outside_sessions"]


def _missing(
    what: str, events: tuple[str, ...], known: list[str], then: str = "", patterns: bool = False
) -> list[str]:
    """Notes for the names of ``events`` that never occur; ``patterns``: names ending in
    ``*`` are prefixes (cause events), noted when no event starts with them."""
    notes = []
    for event in events:
        if event in known:
            continue
        if patterns and event.endswith("*"):
            if any(event_matches(k, event) for k in known):
                continue
            notes.append(f"{what}: no event in the data starts with '{event[:-1]}'{then}")
            continue
        note = f"{what}: event '{event}' never occurs in the data{then}"
        near = closest(event, known)
        if near:
            note += f"; did you mean '{near}'?"
        if "*" in event or "?" in event:
            note += " (step and exclusion names match exactly: '*' is not a wildcard)"
        notes.append(note)
    return notes


def _nobody_entered(spec: FunnelSpec, inventory: pl.DataFrame) -> str:
    first = spec.steps[0]
    if inventory.is_empty():
        return "no unit entered the funnel: no row of the data was used (see the ledger)"
    occurs = inventory.filter(pl.col("event").is_in(list(first.events)))["rows"].sum()
    names = ", ".join(f"'{e}'" for e in first.events)
    if not occurs:
        top = inventory.sort("rows", "event", descending=[True, False]).head(5)
        common = ", ".join(f"{e} ({n:,})" for e, n in top.iter_rows())
        return (
            f"no unit entered the funnel: its first step '{first.name}' ({names}) never "
            f"occurs in the data; the most frequent events are {common}"
        )
    where = f" but none where {first.where.text}" if first.where is not None else ""
    return (
        f"no unit entered the funnel: its first step's events ({names}) occur "
        f"{int(occurs):,} times{where}"
    )


def outside_sessions(sessions: pl.LazyFrame, units: pl.LazyFrame, spec: FunnelSpec) -> pl.LazyFrame:
    """``outside_sessions``: sessions with an event of a step after the first (a restored
    basket opening checkout) that are part of no unit — in no table. ``sessions``: the
    sessionized rows (``_sid``, ``event``); ``units``: the units with their entry and exit
    sessions (``_sid``, ``_exit_sid``; a unit spans the sessions between). Never collects.
    """
    later = sorted({e for s in spec.steps[1:] for e in s.events} - set(spec.steps[0].events))
    lo = pl.min_horizontal("_sid", "_exit_sid")
    hi = pl.max_horizontal("_sid", "_exit_sid")
    inside = units.select(pl.int_ranges(lo, hi + 1).explode().alias("_sid"))
    touched = sessions.filter(pl.col("event").is_in(later)).select("_sid")  # coded or text
    return (
        touched.unique()
        .join(inside.unique(), on="_sid", how="anti")
        .select(pl.len().cast(pl.Int64).alias("outside_sessions"))
    )


def data_notes(
    spec: FunnelSpec,
    inventory: pl.DataFrame,
    *,
    causes: bool,
    entered: int,
    outside: int = 0,
    censored: int = 0,
) -> list[str]:
    """Notes on what in ``spec`` the data cannot match. ``inventory``: ``event``, ``rows``
    (used rows per event name); ``causes``: attribution ran; ``entered``: units entered;
    ``outside``: :func:`outside_sessions`; ``censored``: units left out as censored
    (:mod:`funnel.engine.censor`).

    >>> spec = FunnelSpec.from_dict({"steps": [{"event": "add_to_cart"},
    ...     {"name": "checkout", "event": "begin_checkot"}], "attribution": {"builtin": False}})
    >>> inv = pl.DataFrame({"event": ["add_to_cart", "begin_checkout"], "rows": [9, 4]})
    >>> data_notes(spec, inv, causes=True, entered=9)[0][-30:]
    "did you mean 'begin_checkout'?"
    """
    known = inventory["event"].to_list()
    notes = []
    if entered == 0 and censored:
        notes.append(
            f"no unit entered the funnel that the data shows to the end: all {censored:,} "
            f"{spec.unit} that entered were censored (they ended within the censoring "
            "horizon of the end of the data); --censor off keeps them"
        )
    elif entered == 0:
        notes.append(_nobody_entered(spec, inventory))
    if outside:
        first = spec.steps[0]
        notes.append(
            f"{outside:,} sessions have an event of a later step but did not enter the "
            f"funnel at '{first.name}' in that session (a restored basket, a bookmarked "
            'checkout); they are in no table: entry = "open" lets them in'
        )
    for step in spec.steps:
        notes += _missing(f"step '{step.name}'", step.events, known)
    for exclusion in spec.exclusions:
        notes += _missing("exclusion", exclusion.events, known)
    if not causes:
        return notes
    for cause in spec.causes:
        if cause.builtin:  # the built-in vocabulary is wide: say so only when none occurs
            if not any(e in known for e in cause.events):
                listed = ", ".join(cause.events)
                notes.append(
                    f"built-in cause '{cause.name}' cannot fire: none of its events ({listed}) "
                    "occurs in the data; add a [[causes]] table with your event names"
                )
            continue
        what = f"cause '{cause.name}'"
        notes += _missing(what, cause.events, known, "; it cannot fire", patterns=True)
        notes += _missing(f"{what} unless_later", cause.unless_events, known, patterns=True)
        notes += _missing(f"cause '{cause.name}' exit_at", cause.exit_events, known)
        for e in cause.earlier:  # no such row: the value is null and the cause cannot fire
            then = "; the value is null and the cause cannot fire"
            notes += _missing(f"{what} earlier.{e.name}", e.events, known, then, patterns=True)
    notes += spec.attribution.left_out
    return notes
