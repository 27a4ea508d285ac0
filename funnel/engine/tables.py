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
from funnel.stats import exact_mean, wilson_exprs

__all__ = [
    "breakdown_table",
    "step_table",
    "timing_table",
    "transitions",
    "trend_table",
    "units_table",
]

QUANTILES = {"p25_s": 0.25, "median_s": 0.5, "p75_s": 0.75, "p90_s": 0.9, "p95_s": 0.95}


def _seconds(expr: pl.Expr) -> pl.Expr:
    return expr.dt.total_microseconds() / 1_000_000


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


def step_table(
    units: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec, by: list[str] = ()
) -> pl.DataFrame:
    """Steps with entered, reached next, step conversion, conversion from entry and drop-off.

    ``entered`` counts units whose path includes the step; ``reached_next`` those of them
    that went further (to the next step, or past it when it is optional and skipped);
    ``conversion_from_entry`` divides ``entered`` by all units that entered the funnel (for
    a closed funnel: the first step's count).
    """
    lf = units.lazy()
    names = spec.step_names
    at = [f"at_{n}" for n in names]
    aggs = [pl.len().alias("_units")]
    for i, a in enumerate(at):
        aggs.append(pl.col(a).is_not_null().sum().alias(f"_e{i}"))
        if i + 1 < len(at):
            further = pl.any_horizontal([pl.col(b).is_not_null() for b in at[i + 1 :]])
            aggs.append((pl.col(a).is_not_null() & further).sum().alias(f"_r{i}"))
    wide = lf.group_by(list(by)).agg(aggs) if by else lf.select(aggs)
    parts = []
    for i, n in enumerate(names):
        parts.append(
            wide.select(
                *by,
                pl.lit(i + 1, pl.Int32).alias("step_index"),
                pl.lit(n).alias("step"),
                pl.col(f"_e{i}").cast(pl.Int64).alias("entered"),
                (
                    pl.col(f"_r{i}").cast(pl.Int64)
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


def _describe(values: pl.Expr) -> list[pl.Expr]:
    return [
        values.count().alias("n"),
        exact_mean(values).alias("mean_s"),
        *[values.quantile(q, "linear").alias(name) for name, q in QUANTILES.items()],
    ]


def timing_table(units: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """Time distributions in seconds: each transition, time to convert, time at the exit step.

    ``kind`` is ``step`` (from one step to the next, along the matched path),
    ``time_to_convert`` (entry step to last step, converted units) or ``time_at_exit``
    (from reaching the exit step to the last event of that session, abandoned units).
    """
    # each distribution straight from the unit rows (one column at a time), never a long
    # frame of every duration: the peak stays one column (a long frame tripled it at 100M)
    lf = units.lazy()
    names = spec.step_names
    parts = []
    pairs = transitions(spec)
    for a, b in pairs:
        v = _seconds(pl.col(f"at_{b}") - pl.col(f"at_{a}"))
        parts.append(
            lf.select(_describe(v.filter(v.is_not_null()))).select(
                pl.lit("step").alias("kind"),
                pl.lit(a).alias("from_step"),
                pl.lit(b).alias("to_step"),
                pl.all(),
            )
        )
    for kind, key, to_step, col in (
        ("time_to_convert", "entry_step", names[-1], "time_to_convert_s"),
        ("time_at_exit", "exit_step", None, "time_at_exit_s"),
    ):
        v = pl.col(col)
        parts.append(
            lf.filter(v.is_not_null())
            .group_by(pl.col(key).alias("from_step"))
            .agg(_describe(v))
            .select(
                pl.lit(kind).alias("kind"),
                "from_step",
                pl.lit(to_step, pl.String).alias("to_step"),
                pl.all().exclude("from_step"),
            )
        )
    # one distribution at a time: side by side, each sort of a column would add to the peak
    out = pl.concat(parts, how="vertical_relaxed", parallel=False).filter(pl.col("n") > 0).collect()
    order = {n: i for i, n in enumerate(names)}
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
    kind_order = {"step": 0, "time_to_convert": 1, "time_at_exit": 2}
    return out.with_columns(pl.col("n").fill_null(0)).sort(
        pl.col("kind").replace_strict(kind_order, return_dtype=pl.Int8),
        pl.col("from_step").replace_strict(order, default=len(order), return_dtype=pl.Int32),
        pl.col("to_step").replace_strict(order, default=len(order), return_dtype=pl.Int32),
        maintain_order=True,
    )


def breakdown_table(
    units: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec, by: list[str]
) -> pl.DataFrame:
    """The steps table per value of ``by`` (the value on the unit's entry event)."""
    return step_table(units, spec, by)


def trend_table(
    units: pl.LazyFrame | pl.DataFrame, spec: FunnelSpec, every: str = "1d"
) -> pl.DataFrame:
    """Per period of entry (``1d`` or ``1w``, UTC): units, converted, conversion with interval,
    and how many reached each step (``reached_<step>``)."""
    lf = units.lazy().with_columns(pl.col("entered_at").dt.truncate(every).alias("period"))
    reached = [pl.col(f"at_{n}").is_not_null().sum().alias(f"reached_{n}") for n in spec.step_names]
    out = (
        lf.group_by("period")
        .agg(
            pl.len().alias("units"),
            pl.col("converted").sum().alias("converted"),
            *reached,
        )
        .with_columns(*wilson_exprs(pl.col("converted"), pl.col("units"), "conversion"))
    )
    return out.sort("period").collect()
