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
* Benjamini-Hochberg q-values over all tested features; ``significant`` marks q < 0.05 and
  an odds ratio above 1.

``cause`` names the taxonomy cause whose evidence events include the feature's event, so
drivers *outside* the taxonomy stand out. Association only; see docs/causes.md.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import norm

from funnel.causes import gather_by_sid
from funnel.spec import FunnelSpec
from funnel.stats import benjamini_hochberg, two_by_two_p

__all__ = ["drivers_table", "feature_counts"]

_SCHEMA = {
    "feature": pl.String,
    "kind": pl.String,
    "abandoned_with": pl.Int64,
    "converted_with": pl.Int64,
    "share_abandoned": pl.Float64,
    "share_converted": pl.Float64,
    "odds_ratio": pl.Float64,
    "odds_ratio_lo": pl.Float64,
    "odds_ratio_hi": pl.Float64,
    "p_value": pl.Float64,
    "q_value": pl.Float64,
    "significant": pl.Boolean,
    "cause": pl.String,
}


def feature_counts(
    rows: pl.LazyFrame,
    units: pl.DataFrame,
    spec: FunnelSpec,
    columns: list[str],
    unit_of_sid: pl.Series,
) -> pl.LazyFrame:
    """Per feature: abandoned and converted units that have it. Never collects.

    Rows find their unit by a gather on ``_sid``; a feature counts once per unit: values
    are coded (categorical) and (unit, code) pairs made unique as one 64-bit integer, after
    dropping repeats of the previous row (a cheap first cut on the sorted rows).
    """
    step_events = sorted({e for s in spec.steps for e in s.events})
    unit, value = pl.col("_unit"), pl.col("_value")
    tagged = rows.select("event", *columns, gather_by_sid(unit_of_sid)).filter(unit.is_not_null())
    text = {c for c, t in rows.collect_schema().items() if t in (pl.String, pl.Categorical)}
    sources = [("event", pl.col("event"), ~pl.col("event").is_in(step_events))]
    sources += [
        (c, pl.col(c) if c in text else pl.col(c).cast(pl.String), pl.col(c).is_not_null())
        for c in columns
    ]
    converted = pl.lit(units["converted"]).gather(pl.col("_key") // (1 << 32))
    parts = [
        tagged.filter(keep)
        .select(unit, feature.alias("_value"))
        .filter(((value != value.shift(1)) | (unit != unit.shift(1))).fill_null(True))
        .with_columns(value.cast(pl.Categorical))  # a no-op for columns coded already
        .select((unit * (1 << 32) + value.to_physical().cast(pl.Int64)).alias("_key"), value)
        .unique("_key")
        .with_columns(converted.alias("_conv"))
        .group_by("_value")
        .agg(
            (~pl.col("_conv")).sum().cast(pl.Int64).alias("abandoned_with"),
            pl.col("_conv").sum().cast(pl.Int64).alias("converted_with"),
        )
        .select(
            pl.concat_str(pl.lit(f"{name}="), value.cast(pl.String)).alias("feature"),
            pl.lit("event" if name == "event" else "property").alias("kind"),
            "abandoned_with",
            "converted_with",
        )
        for name, feature, keep in sources
    ]
    return pl.concat(parts)


def drivers_table(counts: pl.DataFrame, units: pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """Test every feature; significant drivers first, then by q-value and odds ratio."""
    n_ab = int((~units["converted"]).sum())
    n_cv = units.height - n_ab
    total = pl.col("abandoned_with") + pl.col("converted_with")
    counts = counts.filter(total >= spec.attribution.min_units).sort("feature")
    if counts.is_empty() or n_ab == 0 or n_cv == 0:
        return pl.DataFrame(schema=_SCHEMA)
    a = counts["abandoned_with"].to_numpy().astype(float)
    b = counts["converted_with"].to_numpy().astype(float)
    c, d = n_ab - a, n_cv - b
    log_or = np.log((a + 1) * (d + 1) / ((b + 1) * (c + 1)))
    se = np.sqrt(1 / (a + 1) + 1 / (b + 1) + 1 / (c + 1) + 1 / (d + 1))
    z = float(norm.ppf(0.975))
    p = two_by_two_p(a, b, c, d)
    q = benjamini_hochberg(p)
    cause_of = {e: cz.name for cz in reversed(spec.causes) for e in cz.events}
    out = counts.with_columns(
        (pl.col("abandoned_with") / n_ab).alias("share_abandoned"),
        (pl.col("converted_with") / n_cv).alias("share_converted"),
        pl.Series("odds_ratio", np.exp(log_or)),
        pl.Series("odds_ratio_lo", np.exp(log_or - z * se)),
        pl.Series("odds_ratio_hi", np.exp(log_or + z * se)),
        pl.Series("p_value", p),
        pl.Series("q_value", q),
        pl.Series("significant", (q < 0.05) & (log_or > 0)),
        pl.col("feature")
        .str.strip_prefix("event=")
        .replace_strict(cause_of, default=None, return_dtype=pl.String)
        .alias("cause"),
    ).with_columns(pl.when(pl.col("kind") == "event").then(pl.col("cause")).alias("cause"))
    return out.select(list(_SCHEMA)).sort(
        "significant", "q_value", "odds_ratio", "feature", descending=[True, False, True, False]
    )
