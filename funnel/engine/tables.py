"""Result tables built from matched paths: units, steps, timing, breakdown and trend.

All functions take the per-unit ``paths`` table of :func:`units_table` and return small
frames. Times are seconds (columns end in ``_s``); rates come with Wilson 95% intervals
(``_lo``/``_hi``).
"""

from __future__ import annotations

import itertools

import polars as pl

from funnel.engine.sessionize import session_label
from funnel.spec.funnel_spec import FunnelSpec
from funnel.stats import wilson_exprs

__all__ = [
    "breakdown_table",
    "micros_to_seconds",
    "step_counts",
    "step_table",
    "steps_from_counts",
    "transitions",
    "trend_counts",
    "trend_from_counts",
    "trend_table",
    "units_table",
]


def micros_to_seconds(micros: pl.Expr) -> pl.Expr:
    """Seconds from microseconds, as a multiplication: every polars kernel rounds that the
    same way, while a division by a constant is a true division in one and a product with
    the reciprocal in another (7654321 / 1e6 came out 7.654321 and 7.6543209999999995), so
    a percentile of the timing table is some unit's value to the bit."""
    return micros.cast(pl.Float64) * 1e-6


def _seconds(duration: pl.Expr) -> pl.Expr:
    return micros_to_seconds(duration.dt.total_microseconds())


def units_table(paths: pl.LazyFrame, spec: FunnelSpec, *, keep: list[str] = ()) -> pl.LazyFrame:
    """The per-unit table: one row per session (or user) that entered the funnel.

    Columns: ``user_id``, ``session_id``, ``entry_step``, ``furthest_step``,
    ``steps_reached``, ``converted``, ``exit_step`` (furthest step when not converted),
    ``entered_at``, ``at_<step>``, ``time_to_convert_s``, ``time_at_exit_s``,
    ``last_event_at`` (end of the session where the path stopped) and ``keep``;
    then the internal ``_sid`` (entry session), ``_exit_sid`` (session where the path stopped),
    ``_furthest`` (step index) and ``_exit_row`` (position of the furthest step's row), which
    :func:`funnel.runners.bucket.map_bucket` drops.
    """
    names = spec.step_names
    k = len(names)
    at = [f"at_{n}" for n in names]

    def name_of(idx: pl.Expr) -> pl.Expr:
        return idx.replace_strict(list(range(k)), names, default=None, return_dtype=pl.String)

    entered_at = pl.coalesce(
        [pl.when(pl.col("_entry") == i).then(pl.col(a)) for i, a in enumerate(at)]
    )
    exit_at = pl.coalesce(
        [pl.when(pl.col("_furthest") == i).then(pl.col(a)) for i, a in enumerate(at)]
    )
    converted = pl.col("_furthest") == k - 1
    out = paths.with_columns(
        session_label(spec.sessions.use_column),
        name_of(pl.col("_entry")).alias("entry_step"),
        name_of(pl.col("_furthest")).alias("furthest_step"),
        pl.sum_horizontal([pl.col(a).is_not_null() for a in at])
        .cast(pl.Int64)
        .alias("steps_reached"),
        converted.alias("converted"),
        pl.when(~converted).then(name_of(pl.col("_furthest"))).alias("exit_step"),
        entered_at.alias("entered_at"),
        pl.when(converted).then(_seconds(pl.col(at[-1]) - entered_at)).alias("time_to_convert_s"),
        pl.when(~converted).then(_seconds(pl.col("_exit_end") - exit_at)).alias("time_at_exit_s"),
        pl.col("_exit_end").alias("last_event_at"),
    )
    if spec.unit == "users" and spec.window_s is None:
        # users counted on their best session: furthest step, then earliest entry
        out = (
            out.sort(
                ["user_id", "_furthest", "entered_at", "session_id"],
                descending=[False, True, False, False],
            )
            .group_by("user_id", maintain_order=True)
            .first()
        )
    cols = [
        "user_id",
        "session_id",
        "entry_step",
        "furthest_step",
        "steps_reached",
        "converted",
        "exit_step",
        "entered_at",
        *at,
        "time_to_convert_s",
        "time_at_exit_s",
        "last_event_at",
    ]
    extra = [c for c in keep if c not in cols]
    internal = [
        "_sid",
        "_exit_sid",
        "_exit_end",
        "_furthest",
        "_exit_row",
    ]  # for cause attribution; dropped after
    return out.select(*cols, *extra, *internal).sort("entered_at", "user_id", "session_id")


def _reached(spec: FunnelSpec) -> list[pl.Expr]:
    return [pl.col(f"at_{n}").is_not_null().alias(f"_r{i}") for i, n in enumerate(spec.step_names)]


def step_counts(
    units: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec, by: list[str] = ()
) -> pl.LazyFrame:
    """Units per value of ``by``, outcome and steps reached (``_r<i>``): ``_n``. The steps,
    breakdown and summary tables read only these counts, and counts of sets of units add
    up (:mod:`funnel.runners.digest`)."""
    keys = [*by, "converted", *_reached(spec)]
    return units.lazy().group_by(keys).agg(pl.len().cast(pl.Int64).alias("_n"))


def steps_from_counts(
    counts: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec, by: list[str] = ()
) -> pl.DataFrame:
    """Steps with entered, reached next, step conversion, conversion from entry and drop-off.

    ``entered`` counts units whose path includes the step; ``reached_next`` those of them
    that went further (to the next step, or past it when it is optional and skipped);
    ``conversion_from_entry`` divides ``entered`` by all units that entered the funnel (for
    a closed funnel: the first step's count). ``counts``: :func:`step_counts`.
    """
    lf = counts.lazy()
    names = spec.step_names
    n = pl.col("_n")
    aggs = [n.sum().alias("_units")]
    for i in range(len(names)):
        reached = pl.col(f"_r{i}")
        aggs.append(n.filter(reached).sum().alias(f"_e{i}"))
        if i + 1 < len(names):
            further = pl.any_horizontal([pl.col(f"_r{j}") for j in range(i + 1, len(names))])
            aggs.append(n.filter(reached & further).sum().alias(f"_x{i}"))
    wide = lf.group_by(list(by)).agg(aggs) if by else lf.select(aggs)
    parts = []
    for i, name in enumerate(names):
        parts.append(
            wide.select(
                *by,
                pl.lit(i + 1, pl.Int32).alias("step_index"),
                pl.lit(name).alias("step"),
                pl.col(f"_e{i}").cast(pl.Int64).alias("entered"),
                (
                    pl.col(f"_x{i}").cast(pl.Int64)
                    if i + 1 < len(names)
                    else pl.lit(None, pl.Int64)
                ).alias("reached_next"),
                pl.col("_units").cast(pl.Int64).alias("_units"),
            )
        )
    long = pl.concat(parts)
    out = long.with_columns(
        *wilson_exprs(pl.col("reached_next"), pl.col("entered"), "step_conversion"),
        *wilson_exprs(pl.col("entered"), pl.col("_units"), "conversion_from_entry"),
        (pl.col("entered") - pl.col("reached_next")).alias("drop_off"),
    ).with_columns(
        (1 - pl.col("step_conversion")).alias("drop_off_rate"),
        (1 - pl.col("step_conversion_hi")).alias("drop_off_rate_lo"),
        (1 - pl.col("step_conversion_lo")).alias("drop_off_rate_hi"),
    )
    return out.drop("_units").sort([*by, "step_index"], nulls_last=True).collect()


def step_table(
    units: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec, by: list[str] = ()
) -> pl.DataFrame:
    """The steps table of ``units`` (:func:`steps_from_counts` of their counts)."""
    return steps_from_counts(step_counts(units, spec, by), spec, by)


def transitions(spec: FunnelSpec) -> list[tuple[str, str]]:
    """The (from, to) steps of the timing table: consecutive steps, and around optional
    steps also from the required step before to the required step after (every unit that
    reached both, whether it took the optional steps or not).

    >>> spec = FunnelSpec.from_dict({"steps": [{"event": "a"},
    ...     {"event": "b", "optional": True}, {"event": "c"}]})
    >>> transitions(spec)
    [('a', 'b'), ('b', 'c'), ('a', 'c')]
    """
    names = spec.step_names
    pairs = list(itertools.pairwise(names))
    required = [i for i, s in enumerate(spec.steps) if not s.optional]
    pairs += [(names[a], names[b]) for a, b in itertools.pairwise(required) if b - a > 1]
    return pairs


def breakdown_table(
    units: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec, by: list[str]
) -> pl.DataFrame:
    """The steps table per value of ``by`` (the value on the unit's entry event)."""
    return step_table(units, spec, by)


def trend_counts(
    units: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec, every: str = "1d"
) -> pl.LazyFrame:
    """Units per period of entry (``1d`` or ``1w``, UTC), outcome and steps reached: ``_n``
    (counts of sets of units add up)."""
    period = pl.col("entered_at").dt.truncate(every).alias("period")
    keys = [period, "converted", *_reached(spec)]
    return units.lazy().group_by(keys).agg(pl.len().cast(pl.Int64).alias("_n"))


def trend_from_counts(counts: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """Per period of entry: units, converted, conversion with interval, and how many reached
    each step (``reached_<step>``). ``counts``: :func:`trend_counts`."""
    n = pl.col("_n")
    reached = [
        n.filter(pl.col(f"_r{i}")).sum().cast(pl.UInt32).alias(f"reached_{name}")
        for i, name in enumerate(spec.step_names)
    ]
    out = (
        counts.lazy()
        .group_by("period")
        .agg(
            n.sum().cast(pl.UInt32).alias("units"),
            n.filter(pl.col("converted")).sum().cast(pl.UInt32).alias("converted"),
            *reached,
        )
        .with_columns(*wilson_exprs(pl.col("converted"), pl.col("units"), "conversion"))
    )
    return out.sort("period").collect()


def trend_table(
    units: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec, every: str = "1d"
) -> pl.DataFrame:
    """The trend table of ``units`` (:func:`trend_from_counts` of their counts)."""
    return trend_from_counts(trend_counts(units, spec, every), spec)
