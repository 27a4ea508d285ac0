"""Why shoppers leave: evidence of each cause in every abandoned unit, and a primary cause.

**Before the sort**, in the streaming pass over the data, every row gets ``_cm``
(:func:`row_flags`), a bit mask of the causes it is evidence-shaped for (bit ``i``: cause
``i``'s events and ``where``; bit ``32 + i``: its ``unless_later`` condition). Only rows
with a bit are kept aside (:func:`cause_rows`), with their ``show`` properties and read
position ``_read``, so no cause column rides through the sort.

**After the sort**, :func:`place_rows` finds each of them in the sessionized rows (by
position, a gather), and on those and the per-unit table:

1. **Tail.** ``events_before_exit`` counts the rows after a row in its session (0 = the
   session's last event), ``seconds_before_exit`` the time to that last event.
2. **Evidence.** A row is evidence of a cause when it is evidence-shaped, lies within the
   cause's ``within_events`` and ``within`` of the exit, no later row of the session
   cancels it, at least ``min_count`` such rows qualify, and the unit left at one of its
   ``exit_at`` steps or on one of its ``exit_at`` events (its last event; when given).
   Only the exit sessions of abandoned units (entered, not converted) are attributed.
3. **Primary cause.** Per unit, the cause whose evidence is closest to the exit (fewest
   events before it), ties broken by specificity (more tests passed wins:
   :attr:`funnel.spec.taxonomy.Cause.specificity`), then ``priority`` (lower wins), then
   the name. Units
   without evidence are ``unexplained``. ``causes`` lists every cause found, closest first.

Units are found from rows by *gathering*: session numbers ``_sid`` are dense (1..S), so a
small array indexed by ``_sid`` maps every row to its unit without a join. Missing columns
of built-in causes read as null (that evidence cannot be seen). Nothing here loops over
rows. Never collects.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from funnel.spec.funnel_spec import FunnelSpec
from funnel.spec.taxonomy import Cause

__all__ = [
    "aside_columns",
    "attribute",
    "cause_bit",
    "cause_rows",
    "event_bits",
    "evidence_text",
    "gather_by_sid",
    "int_type_for",
    "later_cancels",
    "place_rows",
    "primary_causes",
    "row_flags",
    "sid_lookup",
    "unit_lookup",
]

CANCEL_SHIFT = 32  # bit 32 + i: cause i's unless_later
CONTEXT_BIT = 31  # a row an earlier value may come from (funnel.causes.context)


def int_type_for(largest: int, *, signed: bool) -> type[pl.DataType]:
    """The narrowest integer type holding 0..``largest``: less memory to write and read.

    >>> int_type_for(200, signed=False), int_type_for(200, signed=True)
    (UInt8, Int16)
    """
    types = (
        (pl.Int8, pl.Int16, pl.Int32, pl.Int64)
        if signed
        else (pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
    )
    widths = (8, 16, 32, 64)
    return next(t for t, w in zip(types, widths, strict=True) if largest < 1 << (w - signed))


def event_bits(by_event: dict[str, int], default: int) -> pl.Expr:
    """The bits each row's event allows: ``by_event`` by name, ``default`` for other names.

    A gather from a small array indexed by categorical code, not a hash lookup of text per
    row. The names are registered in polars' global categories first; their codes stay
    fixed while a column uses them, and the expression holds that column (``registered``),
    so the codes the array was built for are the codes of the data's rows.
    """
    registered = pl.Series("_names", list(by_event), dtype=pl.Categorical)
    codes = registered.to_physical().to_list()
    lookup = [default] * (max(codes, default=0) + 2)  # the last slot: every other name
    for name, code in zip(by_event, codes, strict=True):
        lookup[code] = by_event[name] | default
    last = pl.lit(registered).to_physical().max().fill_null(0) + 1
    code = pl.col("event").cast(pl.Categorical).to_physical()
    return pl.lit(pl.Series(lookup, dtype=pl.Int64)).gather(code.clip(upper_bound=last))


def row_flags(spec: FunnelSpec, names: set[str]) -> list[pl.Expr]:
    """``_cm``, the cause bit mask, computed per row (before the sort): expressions to
    apply one after another, first the columns conditions read that the data lacks
    (built-in causes: null, so that evidence cannot be seen), then ``_cm``."""
    missing = frozenset(set().union(*(c.columns() for c in spec.causes)) - names)
    # which bits an event name allows: one lookup per row instead of an is_in per cause
    by_event: dict[str, int] = {}
    any_event = 0  # "*", and cancel conditions without event names: every event
    prefixes: dict[str, int] = {}  # "checkout_*": events starting with checkout_
    conditions = []  # bits that also need their `where`

    def allow(names: tuple[str, ...], bit: int) -> None:
        nonlocal any_event
        for e in names:
            if e == "*":
                any_event |= bit
            elif e.endswith("*"):
                prefixes[e[:-1]] = prefixes.get(e[:-1], 0) | bit
            else:
                by_event[e] = by_event.get(e, 0) | bit

    for i, c in enumerate(spec.causes):
        allow(c.events, 1 << i)
        # a condition on the session is decided after the sort: keep every row of its events
        conditions.append((None if c.contextual else c.where, 1 << i))
        for e in c.earlier:
            allow(e.events, 1 << CONTEXT_BIT)
        if c.cancellable:
            bit = 1 << (CANCEL_SHIFT + i)
            allow(c.unless_events or ("*",), bit)
            conditions.append((c.unless_where, bit))
    if any(c.earlier for c in spec.causes):
        conditions.append((None, 1 << CONTEXT_BIT))  # once: the bits are summed
    if not spec.causes:
        return [pl.lit(0, pl.Int64).alias("_cm")]
    holds = pl.sum_horizontal(
        pl.lit(bit, pl.Int64)
        if where is None
        else pl.when(where.to_polars()).then(pl.lit(bit, pl.Int64)).otherwise(0)
        for where, bit in conditions
    )
    bits = event_bits(by_event, any_event)
    text = pl.col("event").cast(pl.String)
    for prefix, bit in sorted(prefixes.items()):  # a text test per row: only when asked
        bits = bits | pl.when(text.str.starts_with(prefix)).then(bit).otherwise(0)
    nulls = [pl.lit(None).alias(c) for c in sorted(missing)]
    return [*nulls, (bits & holds).alias("_cm")]


def aside_columns(spec: FunnelSpec, names: set[str]) -> list[str]:
    """The columns kept aside with the cause rows that the data has: the causes' ``show``
    properties, and what the conditions decided after the sort read."""
    wanted = {col for c in spec.causes for col in c.show}
    for c in spec.causes:
        if c.contextual and c.where is not None:
            wanted |= c.where.columns()  # with the columns of its earlier values
    return sorted(wanted & names)


def cause_rows(rows: pl.LazyFrame, spec: FunnelSpec, names: set[str]) -> pl.LazyFrame:
    """The rows with a cause bit, from rows in read order with ``_cm`` (:func:`row_flags`)
    numbered ``_read``: ``_read``, ``_cm`` and the columns of :func:`aside_columns` (``_s0``,
    ``_s1``, ... in that order; :func:`evidence_text` writes the shown ones out). Never
    collects."""
    shown = [pl.col(c).alias(f"_s{j}") for j, c in enumerate(aside_columns(spec, names))]
    return rows.filter(pl.col("_cm") != 0).select("_read", "_cm", *shown)


def place_rows(
    cause: pl.DataFrame, rows: pl.LazyFrame, n_read: int, extra: Sequence[str] = ()
) -> pl.LazyFrame:
    """Find the rows of :func:`cause_rows` in the sessionized rows ``rows`` (with
    ``_read``): ``_p`` (position), ``_sid``, ``timestamp``, ``event``, ``_cm``,
    ``events_before_exit`` (rows after it in its session; 0 = the session's last event),
    ``seconds_before_exit`` and ``extra``, in position order. ``n_read``: rows read (the
    largest ``_read`` + 1). Duplicates (not in ``rows``) drop out. Never collects."""
    # by read position, a small code: 0 = not a cause row, k = the k-th distinct ``_cm``
    # (masks repeat: a handful of distinct values), so the array stays small (one byte a
    # row, mostly in cache) and the gather over every row is cheap
    masks = cause["_cm"].unique().sort()
    width = int_type_for(masks.len(), signed=False)
    by_read = pl.repeat(0, max(n_read, 1), dtype=width, eager=True)
    if cause.height:
        codes = (masks.search_sorted(cause["_cm"]) + 1).cast(width)
        by_read = by_read.scatter(cause["_read"], codes)
    lookup = pl.concat([pl.Series([0], dtype=pl.Int64), masks.cast(pl.Int64)])
    p, code = pl.col("_p"), pl.col("_code")
    return (
        rows.with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("_p"),
            pl.lit(by_read).gather(pl.col("_read")).alias("_code"),
        )
        .with_columns(
            (pl.when(pl.col("_last")).then(p).backward_fill() - p).alias("events_before_exit")
        )
        .filter(code != 0)
        .select(
            "_p",
            "_read",
            "_sid",
            "timestamp",
            "event",
            *extra,
            pl.lit(lookup).gather(code).alias("_cm"),
            "events_before_exit",
            ((pl.col("_session_end") - pl.col("timestamp")).dt.total_microseconds() / 1e6).alias(
                "seconds_before_exit"
            ),
        )
    )


def evidence_text(spec: FunnelSpec, names: set[str]) -> pl.Expr:
    """``_detail``, e.g. ``shipping=12.5, tax=3.1``: the ``show`` properties of the causes
    a row is evidence-shaped for, over the columns of :func:`cause_rows`."""
    parts = []
    for j, col in enumerate(aside_columns(spec, names)):
        showing = [i for i, c in enumerate(spec.causes) if col in c.show]
        if not showing:
            continue
        wanted = pl.lit(sum(1 << i for i in showing), pl.Int64)
        parts.append(
            pl.when((pl.col("_cm") & wanted) != 0).then(
                pl.format("{}={}", pl.lit(col), pl.col(f"_s{j}").cast(pl.String))
            )
        )
    detail = pl.concat_str(parts, separator=", ", ignore_nulls=True) if parts else pl.lit(None)
    return detail.cast(pl.String).alias("_detail")


def cause_bit(i: int, cancel: bool = False) -> pl.Expr:
    """Is bit ``i`` (or its cancel bit) set in ``_cm``?"""
    return (pl.col("_cm") & (1 << (i + (CANCEL_SHIFT if cancel else 0)))) != 0


def sid_lookup(n_sessions: int, sids: pl.Series, values: pl.Series) -> pl.Series:
    """A dense array indexed by session number: ``values`` at ``sids``, null elsewhere."""
    out = pl.repeat(None, n_sessions + 1, dtype=values.dtype, eager=True).alias(values.name)
    return out.scatter(sids, values) if sids.len() else out


def gather_by_sid(lookup: pl.Series) -> pl.Expr:
    """Read ``lookup`` at each row's ``_sid`` (a gather, not a join)."""
    return pl.lit(lookup).gather(pl.col("_sid")).alias(lookup.name)


def later_cancels(causes: Sequence[Cause]) -> list[pl.Expr]:
    """``_l{i}`` per placed row (in position order): how many rows later in its session
    cancel cause ``i`` (``unless_later``), for the cancellable causes. Running counts from
    the end of all rows, less the count at the end of the row's session."""
    later = []
    end = (pl.col("_sid") != pl.col("_sid").shift(-1)).fill_null(True)
    for i, c in enumerate(causes):
        if c.cancellable:
            n = cause_bit(i, cancel=True).cast(pl.Int64)
            after = n.cum_sum(reverse=True) - n  # cancels after this row, in all sessions
            at_end = pl.when(end).then(after).backward_fill()
            later.append((after - at_end).alias(f"_l{i}"))
    return later


def attribute(
    rows: pl.LazyFrame,
    units: pl.DataFrame,
    spec: FunnelSpec,
    n_sessions: int,
    last_event: pl.Series | None = None,
) -> pl.LazyFrame:
    """The evidence of every abandoned unit: per unit (``_exit_sid``) and cause, the
    closest evidence, ordered closest first (then specificity and priority). Never
    collects.

    ``rows``: the cause rows placed by :func:`place_rows`; ``units``: the per-unit table with
    ``_exit_sid``, ``_furthest`` and ``converted``; ``n_sessions``: the largest ``_sid``;
    ``last_event``: each session's last event by session number (for causes whose
    ``exit_at`` names events that are no step).
    """
    causes = spec.causes
    abandoned = units.select("_exit_sid", "_furthest", "converted").filter(~pl.col("converted"))
    keys = abandoned["_exit_sid"]
    if not causes:
        return _empty_evidence()
    furthest = sid_lookup(n_sessions, keys, abandoned["_furthest"].rename("_furthest"))
    later = later_cancels(causes)
    low = sum(1 << i for i in range(len(causes)))
    span = max(c.within_events for c in causes)
    tail = (
        # running values over the placed rows (in position order, each session's are its
        # own), then the evidence-shaped rows near an exit, then abandoned units' exits
        rows.with_columns(later)
        .filter((pl.col("events_before_exit") < span) & ((pl.col("_cm") & low) != 0))
        .with_columns(gather_by_sid(furthest))
        .filter(pl.col("_furthest").is_not_null())
    )
    flags = []
    for i, c in enumerate(causes):
        hit = (
            cause_bit(i)
            & (pl.col("events_before_exit") < c.within_events)
            & (pl.col("seconds_before_exit") <= c.within_s)
        )
        if c.exit_at is not None:
            left_at = pl.col("_furthest").is_in(list(c.exit_at))
            if c.exit_events and last_event is not None:
                last = pl.lit(last_event).gather(pl.col("_sid"))
                left_at = left_at | last.is_in(list(c.exit_events)).fill_null(False)
            hit = hit & left_at
        if c.cancellable:
            hit = hit & (pl.col(f"_l{i}") == 0)
        flags.append(hit.alias(f"_c{i}"))
    tail = tail.with_columns(flags)
    long = pl.concat(
        [
            tail.filter(pl.col(f"_c{i}")).select(
                pl.col("_sid").alias("_exit_sid"),
                pl.lit(c.name).alias("cause"),
                pl.lit(-c.specificity, pl.Int64).alias("_specific"),
                pl.lit(c.priority, pl.Int64).alias("_priority"),
                pl.lit(c.min_count, pl.Int64).alias("_min_count"),
                "event",
                "timestamp",
                "events_before_exit",
                "seconds_before_exit",
                "_read",
            )
            for i, c in enumerate(causes)
        ]
    )
    # the closest evidence of each cause
    evidence = (
        long.sort(["_exit_sid", "cause", "events_before_exit"])
        .group_by("_exit_sid", "cause", maintain_order=True)
        .agg(pl.all().first(), pl.len().alias("n_evidence"))
        .filter(pl.col("n_evidence") >= pl.col("_min_count"))  # repetition: enough rows
        .sort("_exit_sid", "events_before_exit", "_specific", "_priority", "cause")
    )
    return evidence.drop("_specific", "_priority", "_min_count")


def primary_causes(evidence: pl.DataFrame) -> pl.DataFrame:
    """Per unit with evidence (``_exit_sid``, ascending): ``primary_cause`` (its first
    evidence row, the closest to the exit), ``causes`` (all, closest first) and
    ``_decided_at`` (the time of the primary cause's evidence), from the
    evidence of :func:`attribute` (sorted by ``_exit_sid``, closest first). Units without
    evidence are not here: they are ``unexplained``."""
    return (
        evidence.lazy()
        .select(pl.col("_exit_sid").set_sorted(), "cause", "timestamp")  # sorted by attribute
        .group_by("_exit_sid")
        .agg("cause", pl.col("timestamp").first().alias("_decided_at"))
        .select(
            "_exit_sid",
            pl.col("cause").list.first().alias("primary_cause"),
            pl.col("cause").list.join(",").alias("causes"),
            "_decided_at",
        )
        .sort("_exit_sid")
        .collect()
    )


def _empty_evidence() -> pl.LazyFrame:
    return pl.LazyFrame(
        schema={
            "_exit_sid": pl.Int64,
            "cause": pl.String,
            "event": pl.String,
            "timestamp": pl.Datetime("us", "UTC"),
            "events_before_exit": pl.Int64,
            "seconds_before_exit": pl.Float64,
            "_read": pl.get_index_type(),
            "n_evidence": pl.UInt32,
        }
    )


def unit_lookup(units: pl.DataFrame, n_sessions: int) -> pl.Series:
    """``_unit`` by session number: every session numbered from a unit's entry session to
    its exit session (either may come first: provided session ids are not in time order)."""
    unit = units["_unit"].cast(pl.Int64)
    out = sid_lookup(n_sessions, units["_sid"], unit)
    lo = pl.min_horizontal("_sid", "_exit_sid")
    hi = pl.max_horizontal("_sid", "_exit_sid")
    longer = units.filter(hi > lo)  # paths across sessions
    if longer.height:
        pairs = longer.select(
            pl.col("_unit").cast(pl.Int64), pl.int_ranges(lo, hi + 1).alias("_sid")
        ).explode("_sid")
        out = out.scatter(pairs["_sid"], pairs["_unit"])
    return out
