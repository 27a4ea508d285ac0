"""Drop-off drivers: events and property values over-represented in abandoned units.

A *feature* is an event name (``event=login_wall``) or a value of one of the configured
driver columns (``payment_type=klarna``) seen in a unit's sessions (entry session to exit
session). Funnel step events are left out: they define the outcome. For each feature seen in
at least ``min_units`` units, with ``a``/``b`` abandoned/converted units that have it and
``c``/``d`` those that do not:

* odds ratio with a +1 prior on every cell, ``(a+1)(d+1) / ((b+1)(c+1))``, and its Woolf
  (log) 95% interval computed on the same cells;
* a two-sided p-value (chi-square, or Fisher's exact test when an expected count is
  below 5; :func:`funnel.stats.two_by_two_p`);
* Benjamini-Hochberg q-values over all tested features; ``significant`` marks q < 0.05, an
  odds ratio above 1 and no ``flag``;
* ``flag``: ``only at the exit`` — every abandoned unit that has it has it only on its
  last event (the exit itself: an exit page, a page looked at on the way out), unless it
  is the evidence of a taxonomy cause, which may well be the last thing a shopper saw —
  or ``only in abandoned units`` (``only in converted units``): complete separation. Such
  a feature restates the outcome rather than explains it, and a separated feature's odds
  ratio only reflects the prior. Flagged features stay in the table, last, and out of the
  top lists.

``cause`` names the taxonomy cause whose evidence events include the feature's event, so
drivers *outside* the taxonomy stand out. Association only; see docs/causes.md.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from funnel.causes.evidence import gather_by_sid, int_type_for, sid_lookup
from funnel.spec.funnel_spec import FunnelSpec
from funnel.spec.taxonomy import event_matches
from funnel.stats import adjust_p, two_by_two_p, z_value

__all__ = ["drivers_table", "feature_counts"]

_COUNTS = {
    "feature": pl.String,
    "kind": pl.String,
    "abandoned_with": pl.Int64,
    "converted_with": pl.Int64,
    "abandoned_before": pl.Int64,  # abandoned units that have it before their last event
    "_end": pl.Int64,  # funnel.engine.censor.censor_keys: dropped once the reduce censored
}
_SCHEMA = {
    **{k: v for k, v in _COUNTS.items() if k != "_end"},
    "share_abandoned": pl.Float64,
    "share_converted": pl.Float64,
    "odds_ratio": pl.Float64,
    "odds_ratio_lo": pl.Float64,
    "odds_ratio_hi": pl.Float64,
    "p_value": pl.Float64,
    "q_value": pl.Float64,
    "significant": pl.Boolean,
    "flag": pl.String,
    "cause": pl.String,
}


_MAX_BITS = 63  # distinct values of a column that fit one Int64 bit mask


def _bit_lookup(column: pl.Series, skip: list[str]) -> tuple[pl.Series, list[str]] | None:
    """For a categorical column with at most 63 distinct values (``skip`` left out): an
    array indexed by category code holding each value's bit, and the values in bit order.
    None otherwise (the column is then counted by hashing).

    When the codes in use span at most 63 (the usual case: few values, coded together),
    every code of that span gets a bit, read from the categories, with no pass for the
    distinct values; values not in the column simply count zero units.
    """
    if column.dtype != pl.Categorical:
        return None
    codes = column.to_physical()
    lo, hi = codes.min(), codes.max()
    if lo is None or hi >= 1 << 24:
        return None
    if hi - lo < _MAX_BITS:
        span = pl.Series(range(lo, hi + 1), dtype=codes.dtype)
        values = span.cat.to(column.dtype)  # the categories of these codes
    else:
        values = column.unique().drop_nulls()
    values = values.filter(~values.cast(pl.String).is_in(skip))
    if values.len() > _MAX_BITS:
        return None
    # the narrowest integer that holds the bits: less memory to write and group
    dtype = int_type_for(1 << max(values.len() - 1, 0), signed=True)
    bits = pl.Series([1 << i for i in range(values.len())], dtype=dtype)
    lookup = pl.repeat(0, int(hi) + 1, dtype=dtype, eager=True)
    return lookup.scatter(values.to_physical(), bits), values.cast(pl.String).to_list()


def _masked_counts(
    rows: pl.DataFrame,
    units: pl.DataFrame,
    sources: list[tuple[str, str, pl.Series, list[str]]],
    unit_of_sid: pl.Series,
    at_exit: pl.Expr,
) -> pl.LazyFrame:
    """Counts of the features of ``sources`` (column, kind, bit lookup, values): each row's
    bit, OR-ed per unit.

    A unit's sessions are consecutive session numbers, so its rows are one run of the
    sorted rows: keyed by the unit's first session number, they group with a sorted
    group_by (no hashing of every row) when the keys do rise along the rows (checked).
    """
    masks = [f"_m{j}" for j in range(len(sources))]
    before = [f"_b{j}" for j in range(len(sources))]
    first = units.select(pl.min_horizontal("_sid", "_exit_sid")).to_series()
    key_of_sid = first.gather(unit_of_sid)  # null: the session belongs to no unit
    if len(key_of_sid) < 1 << 31:
        key_of_sid = key_of_sid.cast(pl.Int32)
    rising = rows["_sid"].is_sorted() and key_of_sid.drop_nulls().is_sorted()
    key = pl.col("_key").set_sorted() if rising else pl.col("_key")
    unit = pl.lit(unit_of_sid).gather(pl.col("_key"))  # the key is one of its sessions
    conv = pl.col("_conv")
    end = units["_end"]
    per_unit = (
        rows.lazy()
        .select(
            pl.lit(key_of_sid).gather(pl.col("_sid")).alias("_key"),
            *[
                pl.lit(lookup).gather(pl.col(name).to_physical()).alias(m)
                for (name, _, lookup, _), m in zip(sources, masks, strict=True)
            ],
            at_exit.alias("_at_exit"),
        )
        .filter(pl.col("_key").is_not_null())
        .with_columns(
            pl.when(pl.col("_at_exit")).then(0).otherwise(pl.col(m)).alias(b)
            for m, b in zip(masks, before, strict=True)
        )
        .group_by(key)
        .agg(pl.col(masks + before).bitwise_or())
        .select(
            pl.lit(units["converted"]).gather(unit).alias("_conv"),
            pl.lit(end).gather(unit).alias("_end"),
            *masks,
            *before,
        )
    )
    features, kinds, abandoned, converted, earlier = [], [], [], [], []
    for (name, kind, _, values), m, b in zip(sources, masks, before, strict=True):
        for i, v in enumerate(values):
            has = (pl.col(m) & (1 << i)) != 0
            abandoned.append((has & ~conv).sum().cast(pl.Int64))
            converted.append((has & conv).sum().cast(pl.Int64))
            earlier.append((((pl.col(b) & (1 << i)) != 0) & ~conv).sum().cast(pl.Int64))
            features.append(f"{name}={v}")
            kinds.append(kind)
    if not features:
        return pl.LazyFrame(schema=_COUNTS)
    n = len(features)
    # one row of sums per censor key (a single group of nulls unless units may be censored)
    sums = per_unit.group_by("_end").agg(
        *[a.alias(f"_a{i}") for i, a in enumerate(abandoned)],
        *[c.alias(f"_c{i}") for i, c in enumerate(converted)],
        *[e.alias(f"_e{i}") for i, e in enumerate(earlier)],
    )
    return (
        sums.select(
            pl.lit(pl.Series(features, dtype=pl.String)).implode().alias("feature"),
            pl.lit(pl.Series(kinds, dtype=pl.String)).implode().alias("kind"),
            pl.concat_list([f"_a{i}" for i in range(n)]).alias("abandoned_with"),
            pl.concat_list([f"_c{i}" for i in range(n)]).alias("converted_with"),
            pl.concat_list([f"_e{i}" for i in range(n)]).alias("abandoned_before"),
            "_end",
        )
        .explode("feature", "kind", "abandoned_with", "converted_with", "abandoned_before")
        .filter(
            pl.col("abandoned_with") + pl.col("converted_with") > 0  # seen in some unit
        )
    )


def _hashed_counts(
    tagged: pl.LazyFrame, units: pl.DataFrame, name: str, feature: pl.Expr, keep: pl.Expr
) -> pl.LazyFrame:
    """Counts of one column's features when they do not fit a bit mask: (unit, code) pairs
    made unique as one 64-bit integer, after dropping repeats of the previous row (a repeat
    at an exit keeps the exit flag of the first)."""
    unit, value = pl.col("_unit"), pl.col("_value")
    unit_of_key = pl.col("_key") // (1 << 32)
    converted = pl.lit(units["converted"]).gather(unit_of_key)
    first = ((value != value.shift(1)) | (unit != unit.shift(1))).fill_null(True)
    return (
        tagged.filter(keep)
        .select(unit, feature.alias("_value"), "_at_exit")
        .filter(first | ~pl.col("_at_exit"))
        .with_columns(value.cast(pl.Categorical))  # a no-op for columns coded already
        .select(
            (unit * (1 << 32) + value.to_physical().cast(pl.Int64)).alias("_key"),
            value,
            (~pl.col("_at_exit")).alias("_before"),
        )
        .group_by("_key")
        .agg(value.first(), pl.col("_before").any())
        .with_columns(converted.alias("_conv"), pl.lit(units["_end"]).gather(unit_of_key))
        .group_by("_value", "_end")
        .agg(
            (~pl.col("_conv")).sum().cast(pl.Int64).alias("abandoned_with"),
            pl.col("_conv").sum().cast(pl.Int64).alias("converted_with"),
            (pl.col("_before") & ~pl.col("_conv")).sum().cast(pl.Int64).alias("abandoned_before"),
        )
        .select(
            pl.concat_str(pl.lit(f"{name}="), value.cast(pl.String)).alias("feature"),
            pl.lit("event" if name == "event" else "property").alias("kind"),
            "abandoned_with",
            "converted_with",
            "abandoned_before",
            "_end",
        )
    )


def feature_counts(
    rows: pl.DataFrame,
    units: pl.DataFrame,
    spec: FunnelSpec,
    columns: list[str],
    unit_of_sid: pl.Series,
) -> pl.LazyFrame:
    """Per feature (and censor key ``_end`` of ``units``): abandoned and converted units
    that have it, and abandoned units that have it before their last event.

    ``rows``: the sessionized rows (``_sid``, ``event`` and ``columns``); rows find their
    unit by a gather on ``_sid``. A feature counts once per unit. Columns coded as
    categorical with at most 63 values become bit masks OR-ed per unit; others are counted
    by hashing (unit, value) pairs. Reads each coded column's range of codes (and its
    distinct values when that range is wide); the counts are lazy.
    """
    step_events = sorted({e for s in spec.steps for e in s.events})
    sources = [("event", "event", step_events)] + [(c, "property", []) for c in columns]
    masked, hashed = [], []
    for name, kind, skip in sources:
        found = _bit_lookup(rows[name], skip)
        if found is None:
            hashed.append(name)
        else:
            masked.append((name, kind, *found))
    # the exits: the last row of an abandoned unit's exit session
    left = units.filter(~pl.col("converted"))["_exit_sid"]
    exits = sid_lookup(unit_of_sid.len() - 1, left, pl.repeat(True, left.len(), eager=True))
    at_exit = (pl.col("_last") & pl.lit(exits).gather(pl.col("_sid"))).fill_null(False)
    parts = [_masked_counts(rows, units, masked, unit_of_sid, at_exit)] if masked else []
    if hashed:
        unit = pl.col("_unit")
        tagged = (
            rows.lazy()
            .select(*hashed, gather_by_sid(unit_of_sid), at_exit.alias("_at_exit"))
            .filter(unit.is_not_null())
        )
        text = {c for c, t in rows.schema.items() if t in (pl.String, pl.Categorical)}
        for name in hashed:
            col = pl.col(name)
            feature = col if name in text else col.cast(pl.String)
            keep = ~col.is_in(step_events) if name == "event" else col.is_not_null()
            parts.append(_hashed_counts(tagged, units, name, feature, keep))
    return pl.concat(parts) if parts else pl.LazyFrame(schema=_COUNTS)


def drivers_table(counts: pl.DataFrame, n_ab: int, n_cv: int, spec: FunnelSpec) -> pl.DataFrame:
    """Test every feature of ``counts`` (summed :func:`feature_counts`) among ``n_ab``
    abandoned and ``n_cv`` converted units; significant drivers first, then by q-value and
    odds ratio."""
    total = pl.col("abandoned_with") + pl.col("converted_with")
    counts = counts.filter(total >= spec.attribution.min_units).sort("feature")
    if counts.is_empty() or n_ab == 0 or n_cv == 0:
        return pl.DataFrame(schema=_SCHEMA)
    a = counts["abandoned_with"].to_numpy().astype(float)
    b = counts["converted_with"].to_numpy().astype(float)
    c, d = n_ab - a, n_cv - b
    log_or = np.log((a + 1) * (d + 1) / ((b + 1) * (c + 1)))
    se = np.sqrt(1 / (a + 1) + 1 / (b + 1) + 1 / (c + 1) + 1 / (d + 1))
    z = z_value(0.95)
    p = two_by_two_p(a, b, c, d)
    q = adjust_p(p, "bh")
    cause_of = {}  # event name -> the first cause whose events (names or patterns) match
    for name in counts.filter(pl.col("kind") == "event")["feature"].str.strip_prefix("event="):
        found = (cz.name for cz in spec.causes if any(event_matches(name, e) for e in cz.events))
        cause_of[name] = next(found, None)  # a loop over features, never rows
    cause = pl.col("feature").str.strip_prefix("event=")
    cause = cause.replace_strict(cause_of, default=None, return_dtype=pl.String)
    # a taxonomy cause's evidence may well be the last thing a shopper saw: not flagged
    exit_only = (pl.col("abandoned_before") == 0) & (pl.col("abandoned_with") > 0)
    out = counts.with_columns(
        (pl.col("abandoned_with") / n_ab).alias("share_abandoned"),
        (pl.col("converted_with") / n_cv).alias("share_converted"),
        pl.Series("odds_ratio", np.exp(log_or)),
        pl.Series("odds_ratio_lo", np.exp(log_or - z * se)),
        pl.Series("odds_ratio_hi", np.exp(log_or + z * se)),
        pl.Series("p_value", p),
        pl.Series("q_value", q),
        pl.Series("significant", (q < 0.05) & (log_or > 0)),
        pl.when(pl.col("kind") == "event").then(cause).alias("cause"),
    ).with_columns(
        pl.when(exit_only & pl.col("cause").is_null())
        .then(pl.lit("only at the exit"))
        .when(pl.col("converted_with") == 0)
        .then(pl.lit("only in abandoned units"))
        .when(pl.col("abandoned_with") == 0)
        .then(pl.lit("only in converted units"))
        .alias("flag")
    )
    out = out.with_columns((pl.col("significant") & pl.col("flag").is_null()).alias("significant"))
    flagged = pl.col("flag").is_not_null()
    return out.select(list(_SCHEMA)).sort(
        flagged,
        "significant",
        "q_value",
        "odds_ratio",
        "feature",
        descending=[False, True, False, True, False],
    )
