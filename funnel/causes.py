"""Why shoppers leave: evidence of each cause in every abandoned unit, and a primary cause.

Works on the sorted, sessionized rows (:func:`funnel.sessionize.sessionize`) and the
per-unit table (:func:`funnel.tables.units_table`, with its internal ``_exit_sid``):

1. **Tail.** For every row, ``events_before_exit`` counts the rows after it in its session
   (0 = the session's last event) and ``seconds_before_exit`` the time to that last event.
   Only rows within the largest ``within_events`` of any cause are kept.
2. **Evidence.** A row is evidence of a cause when it is one of the cause's events, meets its
   ``where``, lies within its ``within_events`` and ``within`` of the exit, no later row of
   the session matches its ``unless_later`` (e.g. a successful payment after a decline), and
   the unit left at one of its ``exit_at`` steps (when given). Only abandoned units (entered,
   not converted) are attributed; their exit session is the one where the path stopped.
3. **Primary cause.** Per unit, the cause whose evidence is closest to the exit (fewest
   events before it), ties broken by ``priority`` (lower wins) and then by name. Units
   without evidence are ``unexplained``. ``causes`` lists every cause found, closest first.

Missing columns of built-in causes read as null (that evidence cannot be seen); the notes
say so. Nothing here loops over rows: running values, filters and joins. Never collects.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from funnel.spec import FunnelSpec
from funnel.taxonomy import UNEXPLAINED, Cause

__all__ = ["CauseFrames", "attribute", "cause_match", "unit_values"]


def cause_match(cause: Cause) -> pl.Expr:
    """Is this row evidence-shaped for ``cause`` (its events and ``where``)?"""
    expr = pl.col("event").is_in(list(cause.events))
    return expr & cause.where.to_polars() if cause.where is not None else expr


def _cancel_match(cause: Cause) -> pl.Expr | None:
    if not cause.unless_events and cause.unless_where is None:
        return None
    expr = pl.col("event").is_in(list(cause.unless_events)) if cause.unless_events else pl.lit(True)
    return expr & cause.unless_where.to_polars() if cause.unless_where is not None else expr


def _detail(cause: Cause) -> pl.Expr:
    parts = [pl.format("{}={}", pl.lit(c), pl.col(c).cast(pl.String)) for c in cause.show] or [
        pl.lit(None, pl.String)
    ]
    return pl.concat_str(parts, separator=", ", ignore_nulls=True)


def with_missing(frame: pl.LazyFrame, columns: set[str]) -> pl.LazyFrame:
    """Add absent columns as nulls (built-in causes on data without those properties)."""
    names = set(frame.collect_schema().names())
    missing = sorted(columns - names)
    return frame.with_columns(pl.lit(None).alias(c) for c in missing) if missing else frame


@dataclass(frozen=True)
class CauseFrames:
    """Lazy frames of :func:`attribute`: ``evidence`` (one row per unit and cause, the
    closest evidence) and ``per_unit`` (primary cause and the list, abandoned units)."""

    evidence: pl.LazyFrame
    per_unit: pl.LazyFrame


def attribute(rows: pl.LazyFrame, units: pl.LazyFrame, spec: FunnelSpec) -> CauseFrames:
    """Evidence and primary cause of every abandoned unit. Never collects.

    ``rows`` are sessionized rows (with ``_sid``, ``_last``, ``_session_end``); ``units``
    has ``_exit_sid``, ``_furthest`` and ``converted``. Returned ``per_unit`` rows are keyed
    by ``_exit_sid``.
    """
    causes = spec.causes
    abandoned = units.filter(~pl.col("converted")).select("_exit_sid", "_furthest")
    if not causes:
        empty = abandoned.select("_exit_sid").with_columns(
            pl.lit(UNEXPLAINED).alias("primary_cause"), pl.lit("").alias("causes")
        )
        return CauseFrames(evidence=_empty_evidence(), per_unit=empty)
    span = max(c.within_events for c in causes)
    pos = pl.int_range(pl.len(), dtype=pl.Int64)
    tail = (
        rows.with_columns(pos.alias("_row"))
        .with_columns(
            (pl.when(pl.col("_last")).then(pl.col("_row")).backward_fill() - pl.col("_row")).alias(
                "events_before_exit"
            ),
            ((pl.col("_session_end") - pl.col("timestamp")).dt.total_microseconds() / 1e6).alias(
                "seconds_before_exit"
            ),
        )
        .filter(pl.col("events_before_exit") < span)
    )
    later = []  # cancelling rows later in the session (rows are in time order here)
    for i, c in enumerate(causes):
        cancel = _cancel_match(c)
        if cancel is not None:
            n = cancel.cast(pl.Int32)
            later.append((n.cum_sum(reverse=True).over("_sid") - n).alias(f"_l{i}"))
    tail = tail.with_columns(later).join(
        abandoned, left_on="_sid", right_on="_exit_sid", how="inner"
    )
    flags = []
    for i, c in enumerate(causes):
        hit = (
            cause_match(c)
            & (pl.col("events_before_exit") < c.within_events)
            & (pl.col("seconds_before_exit") <= c.within_s)
        )
        if c.exit_at is not None:
            hit = hit & pl.col("_furthest").is_in(list(c.exit_at))
        if _cancel_match(c) is not None:
            hit = hit & (pl.col(f"_l{i}") == 0)
        flags.append(hit.alias(f"_c{i}"))
    tail = tail.with_columns(flags).filter(pl.any_horizontal(f"_c{i}" for i in range(len(causes))))
    long = pl.concat(
        [
            tail.filter(pl.col(f"_c{i}")).select(
                pl.col("_sid").alias("_exit_sid"),
                pl.lit(c.name).alias("cause"),
                pl.lit(c.priority, pl.Int64).alias("_priority"),
                "event",
                "timestamp",
                "events_before_exit",
                "seconds_before_exit",
                _detail(c).alias("evidence"),
            )
            for i, c in enumerate(causes)
        ]
    )
    # the closest evidence of each cause (latest row on ties: it is nearer the exit)
    evidence = (
        long.sort(
            ["_exit_sid", "cause", "events_before_exit", "timestamp", "evidence"],
            descending=[False, False, False, True, False],
            nulls_last=True,
        )
        .group_by("_exit_sid", "cause", maintain_order=True)
        .agg(pl.all().first(), pl.len().alias("n_evidence"))
        .sort("_exit_sid", "events_before_exit", "_priority", "cause")
    )
    per_cause = evidence.group_by("_exit_sid", maintain_order=True).agg(
        pl.col("cause").first().alias("primary_cause"),
        pl.col("cause").str.join(",").alias("causes"),
    )
    per_unit = (
        abandoned.select("_exit_sid")
        .join(per_cause, on="_exit_sid", how="left")
        .with_columns(
            pl.col("primary_cause").fill_null(UNEXPLAINED), pl.col("causes").fill_null("")
        )
    )
    return CauseFrames(evidence=evidence.drop("_priority"), per_unit=per_unit)


def _empty_evidence() -> pl.LazyFrame:
    return pl.LazyFrame(
        schema={
            "_exit_sid": pl.Int64,
            "cause": pl.String,
            "event": pl.String,
            "timestamp": pl.Datetime("us", "UTC"),
            "events_before_exit": pl.Int64,
            "seconds_before_exit": pl.Float64,
            "evidence": pl.String,
            "n_evidence": pl.UInt32,
        }
    )


def unit_values(rows: pl.LazyFrame, value: str) -> pl.LazyFrame:
    """The cart value of each session: its last positive ``value`` (``_sid``, ``cart_value``).

    Running values over the sorted rows, read on each session's last row.
    """
    v = pl.col(value).cast(pl.Float64)
    has = v.is_not_null() & (v > 0)
    return (
        rows.select(
            "_sid",
            "_last",
            pl.when(has).then(v).forward_fill().alias("_v"),
            pl.when(has).then(pl.col("_sid")).forward_fill().alias("_vs"),
        )
        .filter(pl.col("_last"))
        .select(
            "_sid", pl.when(pl.col("_vs") == pl.col("_sid")).then(pl.col("_v")).alias("cart_value")
        )
    )
