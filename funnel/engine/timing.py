"""The timing table, exactly, from frequency tables of durations.

A percentile of many units needs every duration, but not every unit row: the table reads
how many units took each duration (in whole microseconds, as timestamps are) per
distribution (:func:`timing_counts`). Frequency tables of sets of units add up, and the
values at a few ranks of their sum (:func:`order_statistics`) give each percentile as
polars' ``quantile(q, "linear")`` gives it over the durations themselves, to the bit: at
``h = (n - 1) q`` it is ``x[floor(h)] + (x[floor(h) + 1] - x[floor(h)]) (h - floor(h))``.
The Spark engine computes the same order statistics inside Spark
(:mod:`funnel.spark.reduce`), so no driver holds every duration.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from funnel.engine.tables import micros_to_seconds, transitions
from funnel.spec.funnel_spec import FunnelSpec
from funnel.stats import EXACT_SCALE

__all__ = [
    "KEYS",
    "QUANTILES",
    "STATISTICS_SCHEMA",
    "order_statistics",
    "rank_of",
    "timing_counts",
    "timing_from_statistics",
    "timing_table",
    "wanted_ranks",
]

QUANTILES = {"p25_s": 0.25, "median_s": 0.5, "p75_s": 0.75, "p90_s": 0.9, "p95_s": 0.95}
KEYS = ["kind", "from_step", "to_step"]  # one distribution


def distributions(spec: FunnelSpec) -> list[tuple[str, str, str | None]]:
    """Every distribution the timing table may have, as (``kind``, ``from_step``,
    ``to_step``); its position is its number ``_d`` in the frequency tables. ``kind`` is
    ``step`` (from one step to the next, along the matched path), ``time_to_convert`` (from
    the entry step to the last step, converted units) or ``time_at_exit`` (from reaching
    the exit step to the last event of that session, abandoned units).

    >>> spec = FunnelSpec.from_dict({"steps": [{"event": "a"}, {"event": "b"}]})
    >>> distributions(spec)[:2], distributions(spec)[-1]
    ([('step', 'a', 'b'), ('time_to_convert', 'a', 'b')], ('time_at_exit', 'b', None))
    """
    names = spec.step_names
    out: list[tuple[str, str, str | None]] = [("step", a, b) for a, b in transitions(spec)]
    out += [("time_to_convert", n, names[-1]) for n in names]
    return out + [("time_at_exit", n, None) for n in names]


def timing_counts(units: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec) -> pl.LazyFrame:
    """Units (``_n``) per distribution (``_d``, :func:`distributions`) and duration in
    microseconds (``micros``)."""
    lf = units.lazy()
    names = spec.step_names
    n = pl.len().cast(pl.Int64).alias("_n")
    pairs = transitions(spec)
    parts = []
    for d, (a, b) in enumerate(pairs):
        micros = (pl.col(f"at_{b}") - pl.col(f"at_{a}")).dt.total_microseconds()
        parts.append(
            lf.select(micros.alias("micros"))
            .drop_nulls()
            .group_by("micros")
            .agg(n)
            .select(pl.lit(d, pl.Int32).alias("_d"), "micros", "_n")
        )
    for first, key, col in (
        (len(pairs), "entry_step", "time_to_convert_s"),
        (len(pairs) + len(names), "exit_step", "time_at_exit_s"),
    ):
        numbers = list(range(first, first + len(names)))
        step = pl.col(key).cast(pl.String)
        d = step.replace_strict(names, numbers, return_dtype=pl.Int32).alias("_d")
        # the seconds are microseconds x 1e-6: times 1e6, rounded, they are those again
        micros = (pl.col(col) * EXACT_SCALE).round(0).cast(pl.Int64).alias("micros")
        parts.append(lf.filter(pl.col(col).is_not_null()).group_by(d, micros).agg(n))
    return pl.concat(parts, how="vertical_relaxed")


def rank_of(n: int, q: float) -> tuple[int, int, float]:
    """(lower rank, upper rank, fraction) of quantile ``q`` of ``n`` sorted values, 0-based,
    as polars' linear interpolation reads them.

    >>> rank_of(5, 0.5), rank_of(4, 0.9), rank_of(1, 0.9)
    ((2, 3, 0.0), (2, 3, 0.7000000000000002), (0, 0, 0.0))
    """
    h = (n - 1) * q
    lo = math.floor(h)
    return lo, min(lo + 1, n - 1), h - lo


def wanted_ranks(n: int) -> list[int]:
    """Every rank the quantiles of ``n`` values read."""
    return sorted({r for q in QUANTILES.values() for r in rank_of(n, q)[:2]})


def order_statistics(counts: pl.DataFrame) -> pl.DataFrame:
    """Per distribution ``_d`` of summed frequency tables (``counts``: :func:`timing_counts`
    of all units, or those of sets of units, concatenated): ``n``, ``micros_sum`` and the
    value at each rank a quantile reads (``ranks``, ``values``: lists). Each distribution's
    durations sorted, then a search of their running count; equal durations need not be
    added up first (they sort side by side)."""
    rows = []
    for (d,), part in sorted(counts.partition_by("_d", as_dict=True).items()):
        part = part.sort("micros")  # a loop over distributions, never units
        micros, n = part["micros"].to_numpy(), part["_n"].to_numpy()
        ends = np.cumsum(n)  # the value at rank r: the first whose running count passes r
        wanted = wanted_ranks(int(ends[-1]))
        values = micros[np.searchsorted(ends, wanted, side="right")]
        total = {"n": int(ends[-1]), "micros_sum": int((micros * n).sum())}
        rows.append({"_d": d} | total | {"ranks": wanted, "values": values.tolist()})
    return pl.DataFrame(rows, schema=STATISTICS_SCHEMA)


STATISTICS_SCHEMA = {
    "_d": pl.Int32,
    "n": pl.Int64,
    "micros_sum": pl.Int64,
    "ranks": pl.List(pl.Int64),
    "values": pl.List(pl.Int64),
}


def _seconds(micros: list[int]) -> pl.Series:
    frame = pl.DataFrame({"m": micros}, schema={"m": pl.Int64})
    return frame.select(micros_to_seconds(pl.col("m"))).to_series()


def _describe(statistics: pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """``kind``, ``from_step``, ``to_step``, ``n``, ``mean_s`` and the quantiles of each
    distribution's order statistics. The values are seconds as the per-unit table has them,
    so a median is some unit's ``time_to_convert_s`` to the bit."""
    lows: dict[str, list[int]] = {name: [] for name in QUANTILES}
    highs: dict[str, list[int]] = {name: [] for name in QUANTILES}
    fracs: dict[str, list[float]] = {name: [] for name in QUANTILES}
    for n, ranks, values in statistics.select("n", "ranks", "values").iter_rows():
        at = dict(zip(ranks, values, strict=True))  # a row per distribution
        for name, q in QUANTILES.items():
            lo, hi, frac = rank_of(n, q)
            lows[name].append(at[lo])
            highs[name].append(at[hi])
            fracs[name].append(frac)
    seconds = {name: _seconds(v) for name, v in lows.items()}
    upper = {name: _seconds(v) for name, v in highs.items()}
    # the sum in whole microseconds, then two correctly rounded divisions
    means = [(m / EXACT_SCALE) / n for n, m in statistics.select("n", "micros_sum").iter_rows()]
    keys = pl.DataFrame(
        distributions(spec), schema=dict.fromkeys(KEYS, pl.String), orient="row"
    ).with_row_index("_d")
    named = statistics.select(pl.col("_d").cast(pl.UInt32)).join(keys, on="_d", how="left")
    return named.select(*KEYS, statistics["n"].cast(pl.UInt32)).with_columns(
        pl.Series("mean_s", means, dtype=pl.Float64),
        *[
            (seconds[name] + (upper[name] - seconds[name]) * pl.Series(fracs[name])).alias(name)
            for name in QUANTILES
        ],
    )


def timing_from_statistics(statistics: pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """Time distributions in seconds: each transition, time to convert, time at the exit
    step, from :func:`order_statistics` (or the Spark engine's equal)."""
    names = spec.step_names
    out = _describe(statistics, spec)
    pairs = transitions(spec)
    base = pl.DataFrame(
        {
            "kind": ["step"] * len(pairs),
            "from_step": [a for a, _ in pairs],
            "to_step": [b for _, b in pairs],
        },
        schema={"kind": pl.String, "from_step": pl.String, "to_step": pl.String},
    )
    out = base.join(
        out, on=["kind", "from_step", "to_step"], how="full", coalesce=True, nulls_equal=True
    )
    order = {n: i for i, n in enumerate(names)}
    kind_order = {"step": 0, "time_to_convert": 1, "time_at_exit": 2}
    return out.with_columns(pl.col("n").fill_null(0)).sort(
        pl.col("kind").replace_strict(kind_order, return_dtype=pl.Int8),
        pl.col("from_step").replace_strict(order, default=len(order), return_dtype=pl.Int32),
        pl.col("to_step").replace_strict(order, default=len(order), return_dtype=pl.Int32),
        maintain_order=True,
    )


def timing_table(units: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """The timing table of ``units``: :func:`timing_from_statistics` of the
    :func:`order_statistics` of their :func:`timing_counts`."""
    counts = timing_counts(units, spec).collect()
    return timing_from_statistics(order_statistics(counts), spec)
