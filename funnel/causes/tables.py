"""Cause tables: abandonment by primary cause and exit step, the evidence table, and the
per-unit part of attribution; the exposure analysis is in :mod:`funnel.causes.exposure`,
the drivers in :mod:`funnel.causes.drivers`."""

from __future__ import annotations

import polars as pl

from funnel.causes.after_exit import (
    after_exit_columns,
    after_exit_rows,
    exit_step_order,
)
from funnel.causes.context import session_context
from funnel.causes.drivers import feature_counts
from funnel.causes.evidence import (
    attribute,
    evidence_text,
    place_rows,
    primary_causes,
    sid_lookup,
    unit_lookup,
)
from funnel.causes.exposure import exposure_columns, exposure_flags
from funnel.causes.matched import matched_flags
from funnel.spec.funnel_spec import FunnelSpec
from funnel.spec.taxonomy import UNEXPLAINED
from funnel.stats import EXACT_SCALE, wilson_exprs

__all__ = [
    "attribute_units",
    "attribution_rows",
    "cause_counts",
    "cause_notes",
    "cause_step_table",
    "cause_table",
    "evidence_counts",
]


def _abandoned(units: pl.DataFrame) -> pl.LazyFrame:
    return units.lazy().filter(~pl.col("converted"))


def cause_counts(units: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Abandoned units per exit step, primary cause and whether another cause had evidence
    too (``_ambiguous``): ``_n``, their cart values summed in millionths (``_value``, exact
    in any grouping) and how many had one (``_valued``). Counts of sets of units add up."""
    value = pl.col("cart_value")
    return (
        units.lazy()
        .filter(~pl.col("converted"))
        .group_by(
            "exit_step",
            pl.col("primary_cause").alias("cause"),
            pl.col("causes").str.contains(",", literal=True).alias("_ambiguous"),
        )
        .agg(
            pl.len().cast(pl.Int64).alias("_n"),
            (value * EXACT_SCALE).round(0).cast(pl.Int64).sum().alias("_value"),
            value.count().cast(pl.Int64).alias("_valued"),
        )
    )


def evidence_counts(evidence: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Abandoned units with evidence of each cause (one evidence row per unit and cause)."""
    return evidence.lazy().group_by("cause").agg(pl.len().cast(pl.Int64).alias("_n"))


def cause_table(
    counts: pl.DataFrame, with_evidence: pl.DataFrame, spec: FunnelSpec
) -> pl.DataFrame:
    """Abandoned units by primary cause: count, share (Wilson 95%), value at risk.

    ``with_evidence`` counts abandoned units where the cause was found at all (primary or
    not: :func:`evidence_counts`); ``ambiguous`` those it is primary for that had evidence
    of another cause too (``ambiguous_share`` of ``abandoned``); ``value_at_risk`` sums
    ``cart_value`` of the units it is primary for. ``counts``: :func:`cause_counts`.
    """
    total = int(counts["_n"].sum())
    names = [c.name for c in spec.causes] + [UNEXPLAINED]
    labels = {c.name: c.label for c in spec.causes} | {UNEXPLAINED: "No evidence found"}
    base = pl.LazyFrame({"cause": names, "label": [labels[n] for n in names]})
    n, value, valued = pl.col("_n"), pl.col("_value").sum(), pl.col("_valued").sum()
    primary = (
        counts.lazy()
        .group_by("cause")
        .agg(
            n.sum().cast(pl.UInt32).alias("abandoned"),
            n.filter(pl.col("_ambiguous")).sum().alias("ambiguous"),
            (value / EXACT_SCALE).alias("value_at_risk"),
            pl.when(valued > 0).then((value / EXACT_SCALE) / valued).alias("mean_cart_value"),
        )
    )
    seen = with_evidence.lazy().select("cause", pl.col("_n").cast(pl.UInt32).alias("with_evidence"))
    out = (
        base.join(primary, on="cause", how="left")
        .join(seen, on="cause", how="left")
        .with_columns(
            pl.col("abandoned").fill_null(0),
            pl.col("ambiguous").fill_null(0).cast(pl.Int64),
            pl.col("with_evidence").fill_null(0),
            pl.col("value_at_risk").fill_null(0.0),
        )
        .with_columns(
            *wilson_exprs(pl.col("abandoned"), pl.lit(total), "share"),
            pl.when(pl.col("abandoned") > 0)
            .then(pl.col("ambiguous") / pl.col("abandoned"))
            .alias("ambiguous_share"),
        )
        .with_columns(
            pl.when(pl.col("cause") == UNEXPLAINED)
            .then(pl.col("abandoned"))
            .otherwise(pl.col("with_evidence"))
            .alias("with_evidence")
        )
    )
    return out.sort(
        pl.col("cause") == UNEXPLAINED,
        pl.col("abandoned"),
        "cause",
        descending=[False, True, False],
    ).collect()


def cause_step_table(counts: pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """Abandoned units by exit step and primary cause, with the share within the exit step
    (``counts``: :func:`cause_counts`)."""
    out = (
        counts.lazy()
        .group_by("exit_step", "cause")
        .agg(
            pl.col("_n").sum().cast(pl.UInt32).alias("abandoned"),
            (pl.col("_value").sum() / EXACT_SCALE).alias("value_at_risk"),
        )
        .with_columns(pl.col("abandoned").sum().over("exit_step").alias("_step_total"))
        .with_columns(*wilson_exprs(pl.col("abandoned"), pl.col("_step_total"), "share_of_step"))
        .drop("_step_total")
    )
    return out.sort(
        exit_step_order(spec),
        pl.col("abandoned"),
        "cause",
        descending=[False, True, False],
    ).collect()


def unit_values(rows: pl.LazyFrame, value: str | None) -> pl.LazyFrame:
    """The cart value of each session: its last positive ``value`` (``_sid``, ``cart_value``).

    Running values over the sorted rows, read on each session's last row.
    """
    v = pl.col(value).cast(pl.Float64) if value else pl.lit(None, pl.Float64)
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
            "_sid",
            pl.when(pl.col("_vs") == pl.col("_sid")).then(pl.col("_v")).alias("cart_value"),
        )
    )


def attribution_rows(
    rows: pl.LazyFrame, spec: FunnelSpec, names: set[str], cause: pl.DataFrame, n_read: int
) -> list[pl.LazyFrame]:
    """What attribution reads of the sessionized rows: the columns for cart values and
    drivers, and the cause rows placed in them (:func:`funnel.causes.evidence.place_rows`).
    :func:`funnel.runners.bucket.map_bucket` collects these with the units, so the sessions
    are computed once. Never collects."""
    value = spec.attribution.value if spec.attribution.value in names else None
    drivers = [c for c in spec.attribution.drivers if c in names]
    by_user = ["user_id"] if spec.unit == "users" and spec.window_s is not None else []
    page, after = after_exit_rows(spec, names)
    wanted = ["event", "_sid", "_last", *([value] if value else []), *drivers, *page]
    return [
        rows.select(*dict.fromkeys(wanted), *after),  # a column may be the value and a driver
        place_rows(cause, rows, n_read, by_user),
    ]


def _unit_causes(per_unit: pl.DataFrame, n_sessions: int) -> list[pl.Expr]:
    """``primary_cause``, ``causes`` and ``_decided_at`` (when the primary cause's evidence
    happened) of abandoned units (``unexplained``, "" and null without evidence): gathers
    by exit session, no join."""
    exit_sid = pl.col("_exit_sid")
    n = per_unit.height
    row = sid_lookup(n_sessions, per_unit["_exit_sid"], pl.int_range(n, eager=True))
    # abandoned units without evidence read an extra last row; converted ones read none
    at = pl.when(~pl.col("converted")).then(pl.lit(row).gather(exit_sid).fill_null(n))
    extra = {"_exit_sid": [None], "primary_cause": [UNEXPLAINED], "causes": [""]}
    extra["_decided_at"] = [None]
    found = per_unit.vstack(pl.DataFrame(extra, schema=per_unit.schema))
    return [
        pl.lit(found["primary_cause"]).gather(at).alias("primary_cause"),
        pl.lit(found["causes"]).gather(at).alias("causes"),
        pl.lit(found["_decided_at"]).gather(at).alias("_decided_at"),
    ]


def _evidence_table(
    evidence: pl.DataFrame,
    units: pl.DataFrame,
    details: pl.DataFrame,
    spec: FunnelSpec,
    names: set[str],
    n_sessions: int,
) -> pl.DataFrame:
    """The evidence as users read it: the unit's keys (gathered by exit session), the
    ``show`` properties and the earlier values compared with (``_earlier``, when a cause
    has them; gathered from ``details``, sorted by read position ``_read``)."""
    unit_at = sid_lookup(n_sessions, units["_exit_sid"], units["_unit"])
    unit = pl.lit(unit_at).gather(pl.col("_exit_sid"))
    # every evidence row is a cause row: its read position is in details
    at = details["_read"].search_sorted(evidence["_read"])
    shown = [c for c in details.columns if c != "_read"]
    detail = pl.col("_detail")
    if "_earlier" in shown:  # the earlier values the row compared with, after its own
        then = pl.col("_earlier")
        both = pl.concat_str(detail, then, separator=", ", ignore_nulls=True)
        detail = pl.when(then.is_null()).then(detail).otherwise(both)
    return (
        evidence.lazy()
        .with_columns(
            *[pl.lit(units[c]).gather(unit) for c in ("user_id", "session_id", "exit_step")],
            *[pl.lit(details[c]).gather(pl.lit(at)) for c in shown],
        )
        .with_columns(evidence_text(spec, names))
        .select(
            "user_id",
            "session_id",
            "exit_step",
            "cause",
            pl.col("event").cast(pl.String),
            "timestamp",
            "events_before_exit",
            "seconds_before_exit",
            detail.alias("evidence"),
            "n_evidence",
        )
        .sort("session_id", "user_id", "events_before_exit", "cause")
        .collect()
    )


def cause_notes(spec: FunnelSpec, names: set[str]) -> list[str]:
    """What attribution cannot see in this data: missing columns, no cart value."""
    notes = []
    wanted = set().union(*(c.columns() for c in spec.causes)) if spec.causes else set()
    missing = sorted(wanted - names)
    if missing:
        notes.append(
            "causes: column(s) " + ", ".join(missing) + " not in the data; evidence that needs"
            " them cannot be seen (built-in causes)"
        )
    if spec.attribution.value not in names:
        notes.append(f"causes: no '{spec.attribution.value}' column, so no value at risk")
    return notes


def attribute_units(
    rows: pl.DataFrame,
    placed: pl.DataFrame,
    units: pl.DataFrame,
    spec: FunnelSpec,
    names: set[str],
    n_sessions: int,
    details: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The per-unit part of attribution, for one set of users: (units with
    ``primary_cause``, ``causes``, ``cart_value`` and the exposure bits ``_seen``; the
    evidence rows; the driver counts of these units). ``rows`` and ``placed`` are
    :func:`attribution_rows`, collected; ``names`` are the data's columns; ``n_sessions``
    the largest ``_sid``; ``details`` come from :func:`funnel.causes.evidence.cause_rows`.
    Sums of these over sets of users are the counts of all of them. Collects (documented).
    """
    value = spec.attribution.value if spec.attribution.value in names else None
    drivers = [c for c in spec.attribution.drivers if c in names]
    units = units.with_row_index("_unit").with_columns(pl.col("_unit").cast(pl.Int64))
    unit_of_sid = unit_lookup(units, n_sessions)
    placed, details = session_context(placed, details, spec, names)  # on the session
    # each plan on the engine measured faster for it (sorts: in memory; the rest streaming;
    # side by side in one collect_all was no faster on two cores)
    last_event = None
    if any(c.exit_events for c in spec.causes):  # exit_at naming events: the last one
        ends = rows.filter(pl.col("_last"))
        last_event = sid_lookup(n_sessions, ends["_sid"], ends["event"].cast(pl.String))
    evidence = attribute(placed.lazy(), units, spec, n_sessions, last_event).collect(
        engine="in-memory"
    )
    units = units.with_columns(_unit_causes(primary_causes(evidence), n_sessions))
    values, flags, matched, counts = pl.collect_all(
        [
            unit_values(rows.lazy(), value),
            exposure_flags(placed.lazy(), units, spec, unit_of_sid),
            matched_flags(rows, placed, units, spec, unit_of_sid),
            feature_counts(rows, units, spec, drivers, unit_of_sid),
        ],
        engine="streaming",
    )
    page = spec.attribution.page if spec.attribution.page in names else None
    n = len(spec.causes)
    cart = sid_lookup(n_sessions, values["_sid"], values["cart_value"])
    units = units.with_columns(
        pl.lit(cart).gather(pl.col("_exit_sid")).alias("cart_value"),
        *exposure_columns(units, flags, n),
        *exposure_columns(units, matched, n, name="_matched"),
        *after_exit_columns(rows, units, n_sessions, page),
    )
    evidence = _evidence_table(evidence, units, details, spec, names, n_sessions)
    return units.drop("_unit"), evidence, counts
