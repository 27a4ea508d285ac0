"""Comparison units that met a cause's event without the problem (docs/causes.md).

The exposure comparison (:mod:`funnel.causes.exposure`) sets each exposed unit against
unexposed units at the same point of the checkout. Time since reaching the step places
a shopper only roughly: a shopper shown a slow shipping page and one who then hit a login
wall both left about as long after beginning checkout, yet the slow page comes *after*
the wall (only shoppers past the wall see it). Where a cause's events also occur without
the problem (a page that loaded fast, low fees, a payment that went through), the units
that had such a row in the same step were past that point for certain: the comparison
takes only those. Where every row of its events is evidence (a coupon rejected, a login
wall), no unit had such a row and the comparison stays as it was.

:func:`matched_flags` finds them: per unit, ``_matched{i}``, a bit mask of the steps
``s`` (``1 << s``) in which the unit had a row of cause ``i``'s events that is not
evidence-shaped (no bit ``i`` in the placed rows' ``_cm``), with step ``s`` the furthest
step reached at that row (at least the cause's ``exposed_from``; rows before it do not
count), between the unit's entry and the moment it left: its primary cause's evidence
(``_decided_at``), else the end of its exit session, or its conversion. Vectorised over
the rows of those events; never collects.
"""

from __future__ import annotations

import polars as pl

from funnel.causes.evidence import event_bits, sid_lookup
from funnel.causes.exposure import exposure_end
from funnel.spec.funnel_spec import FunnelSpec
from funnel.spec.taxonomy import event_matches

__all__ = ["matched_flags"]


def matched_flags(
    rows: pl.DataFrame,
    placed: pl.DataFrame,
    units: pl.DataFrame,
    spec: FunnelSpec,
    unit_of_sid: pl.Series,
) -> pl.LazyFrame:
    """``_unit`` and ``_matched{i}`` (Int64 bit masks, 0: none) per unit with any.

    ``rows``: the sessionized rows (``event``, ``_sid``, ``timestamp``, ``_last``,
    ``_user_no``, in position order); ``placed``: the placed cause rows (``_p`` their
    position, ``_cm`` their bits after :func:`funnel.causes.context.session_context`);
    ``units`` with ``_unit``, ``entered_at``, ``at_<step>``, ``converted``, ``_exit_end``
    and ``_decided_at``; ``unit_of_sid``: :func:`funnel.causes.evidence.unit_lookup`."""
    causes = spec.causes
    names = [f"_matched{i}" for i in range(len(causes))]
    keep, by_event = _met_somewhere(rows, placed, spec)
    if not keep:
        return pl.LazyFrame(schema={"_unit": pl.Int64, **dict.fromkeys(names, pl.Int64)})
    # the evidence-shaped bits by position: those rows met the problem
    shaped = pl.repeat(0, max(rows.height, 1), dtype=pl.UInt32, eager=True)
    if placed.height:
        shaped = shaped.scatter(placed["_p"], (placed["_cm"] & keep).cast(pl.UInt32))
    unit = pl.col("_unit")
    if spec.unit == "users" and spec.window_s is not None:
        # one unit per user: rows find it by user (their sessions may lie outside the
        # unit's entry..exit session numbers when session ids were given)
        ends = rows.filter(pl.col("_last"))
        user_of_sid = sid_lookup(unit_of_sid.len() - 1, ends["_sid"], ends["_user_no"])
        size = int(user_of_sid.max() or 0) + 1  # every user's number, in units or not
        by_user = pl.repeat(None, size, dtype=pl.Int64, eager=True)
        by_user = by_user.scatter(user_of_sid.gather(units["_sid"]), units["_unit"])
        lookup = pl.lit(by_user).gather(pl.col("_user_no"))
    else:
        lookup = pl.lit(unit_of_sid).gather(pl.col("_sid"))
    # the moment the unit left: its primary cause's evidence, else the end of its window
    left = units.select(pl.coalesce("_decided_at", exposure_end(spec))).to_series()
    # rows from the first step any kept cause compares at (its first reached step at or
    # after it: steps may be optional) up to when the unit left
    kept = [i for i in range(len(causes)) if keep >> i & 1]
    first = min(causes[i].exposed_from for i in kept)
    at = [pl.lit(units[f"at_{n}"]).gather(unit) for n in spec.step_names]
    t, step, bits = pl.col("timestamp"), pl.col("_step"), pl.col("_bits")
    later = [pl.when(a <= t).then(j) for j, a in enumerate(at) if j > first]
    reached = pl.max_horizontal(later).fill_null(first) if later else pl.lit(first)
    step_bit = pl.lit(pl.Series([1 << j for j in range(len(at))], dtype=pl.Int64)).gather(step)
    return (
        rows.lazy()
        .select(
            "_sid",
            "_user_no",
            "timestamp",
            event_bits(by_event, 0).alias("_bits"),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("_p"),
        )
        .filter(bits != 0)
        .with_columns(lookup.alias("_unit"))
        .filter(unit.is_not_null())
        .with_columns((bits & ~pl.lit(shaped).gather(pl.col("_p")).cast(pl.Int64)).alias("_bits"))
        .filter(bits != 0)
        .filter(t.is_between(pl.coalesce(at[first:]), pl.lit(left).gather(unit)))
        .with_columns(reached.alias("_step"))
        # which kept causes each unit met without the problem at each step, then per unit
        # the steps as bits (any, then a sum of distinct powers of two: cheaper than a
        # bitwise or in a group)
        .group_by("_unit", "_step")
        .agg(((bits & (1 << i)) != 0).any().alias(f"_a{i}") for i in kept)
        .with_columns(step_bit.alias("_sb"))
        .group_by("_unit")
        .agg(
            pl.when(pl.col(f"_a{i}")).then(pl.col("_sb")).otherwise(0).sum().alias(f"_matched{i}")
            for i in kept
        )
        .with_columns(
            pl.lit(0, pl.Int64).alias(n) for i, n in enumerate(names) if not keep >> i & 1
        )
        .select("_unit", *names)
    )


def _met_somewhere(
    rows: pl.DataFrame, placed: pl.DataFrame, spec: FunnelSpec
) -> tuple[int, dict[str, int]]:
    """(the causes with a row of their events that is not evidence-shaped anywhere in
    these rows, as bits; by event name, the bits of those causes it is an event of): a
    cause whose every row is evidence (a coupon rejected) is skipped at the cost of a
    count."""
    counts = rows.group_by("event").len().drop_nulls()
    n_rows = dict(zip(counts["event"].cast(pl.String).to_list(), counts["len"], strict=True))
    cm = placed["_cm"]
    keep, by_event = 0, {}
    for i, c in enumerate(spec.causes):
        events = [e for e in n_rows if any(event_matches(e, p) for p in c.events)]
        if sum(n_rows[e] for e in events) > int(((cm & (1 << i)) != 0).sum()):
            keep |= 1 << i
            for e in events:
                by_event[e] = by_event.get(e, 0) | 1 << i
    return keep, by_event
