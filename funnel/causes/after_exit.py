"""Where shoppers went after leaving: the next events after the exit, and who came back.

For an abandoned unit, the **exit row** is the row where its path reached its furthest
step. Then, per unit:

* ``after_exit``: the next events of the exit session after the exit row, up to
  :data:`PATH_LENGTH`, as ``event`` or ``event page`` (when the spec's ``page`` column has
  a value on that row), joined by `` > ``; ``(session ended)`` when the exit row was the
  session's last;
* when the user's next session began (``_next_visit_at``), and when the user next bought
  (``_bought_at``: the first row matching the funnel's last step in a later session).

The reduce turns those into ``came_back`` and ``bought_later`` within the spec's
``return_within`` horizon of the end of the exit session (null when the data end before
the horizon does and nothing was seen: unknown, not no), and two tables: the top paths
per exit step with shares (:func:`after_exit_table`) and the returns per exit step
(:func:`returns_table`).

Everything is gathers on the sessionized rows by position (sessions are numbered densely
and a user's sessions are consecutive), never a loop over units.
"""

from __future__ import annotations

import polars as pl

from funnel.causes.evidence import sid_lookup
from funnel.engine.steps import match_exprs, user_number
from funnel.spec.funnel_spec import FunnelSpec
from funnel.stats import wilson_exprs

__all__ = [
    "PATH_LENGTH",
    "SESSION_ENDED",
    "after_exit_columns",
    "after_exit_counts",
    "after_exit_rows",
    "after_exit_table",
    "exit_step_order",
    "return_flags",
    "returns_table",
]

PATH_LENGTH = 3  # events after the exit (GA4's path exploration and PostHog show a few)
TOP_PATHS = 10  # paths per exit step in the table; the rest are one "(other paths)" row
SESSION_ENDED = "(session ended)"
OTHER = "(other paths)"


def after_exit_rows(spec: FunnelSpec, names: set[str]) -> tuple[list[str], list[pl.Expr]]:
    """What this module reads of every sessionized row besides ``event`` and ``_sid``:
    the page column when the data have it (a name, so a driver column is read once), and
    ``timestamp``, ``_buy`` (matches the last step) and ``_user_no`` (a number per user)."""
    page = spec.attribution.page
    return [page] if page in names else [], [
        pl.col("timestamp"),
        match_exprs(spec)[-1].fill_null(False).alias("_buy"),
        user_number().cast(pl.Int32).alias("_user_no"),
    ]


def after_exit_columns(
    rows: pl.DataFrame, units: pl.DataFrame, n_sessions: int, page: str | None
) -> list[pl.Series]:
    """``after_exit``, ``_next_visit_at`` and ``_bought_at`` per row of ``units`` (with
    ``_exit_row``, ``converted``), from the sessionized ``rows`` (``event``, ``_sid`` and
    the columns of :func:`after_exit_rows`, in position order; ``n_sessions``: the largest
    ``_sid``; ``page``: the page column, None when the data have none)."""
    n = rows.height
    sid, user, ts = rows["_sid"], rows["_user_no"], rows["timestamp"]
    exit_row = units["_exit_row"]
    # the first row of every session (the row after a session's last), by session number
    ends = pl.arg_where(rows["_last"], eager=True).cast(pl.Int64)
    starts = pl.concat([pl.Series([0], dtype=pl.Int64), ends.head(-1) + 1]) if n else ends
    first_row = sid_lookup(n_sessions, sid.gather(starts), starts)
    buys = pl.arg_where(rows["_buy"], eager=True).cast(pl.Int64)  # rows that buy, in order
    exit_sid = sid.gather(exit_row)
    following = first_row.gather((exit_sid + 1).clip(upper_bound=n_sessions))
    cols = {
        "left": ~units["converted"],
        "user": user.gather(exit_row),
        "next": pl.select(pl.when(exit_sid < n_sessions).then(following)).to_series(),
    }
    for j in range(1, PATH_LENGTH + 1):
        at = (exit_row + j).clip(upper_bound=max(n - 1, 0))
        cols[f"in{j}"] = (exit_row + j < n) & (sid.gather(at) == exit_sid)
        cols[f"event{j}"] = rows["event"].gather(at).cast(pl.String)
        if page is not None:
            cols[f"page{j}"] = rows[page].gather(at).cast(pl.String)
    g = pl.DataFrame(cols)
    nxt = g["next"].fill_null(0)
    q = _first_at_or_after(buys, nxt)  # the first buy from the next session on
    g = g.with_columns(
        next_user=user.gather(nxt),
        visit=ts.gather(nxt),
        buy=ts.gather(q.fill_null(0)),
        buy_user=pl.select(pl.when(q.is_not_null()).then(user.gather(q.fill_null(0)))).to_series(),
    )
    labels, alive = [], pl.col("left")
    for j in range(1, PATH_LENGTH + 1):
        alive = alive & pl.col(f"in{j}")
        label = pl.col(f"event{j}")
        if page is not None:
            shown = pl.col(f"page{j}")
            label = pl.when(shown.is_null()).then(label).otherwise(pl.format("{} {}", label, shown))
        labels.append(pl.when(alive).then(label))
    path = pl.concat_str(labels, separator=" > ", ignore_nulls=True)
    came = pl.col("left") & pl.col("next").is_not_null() & (pl.col("next_user") == pl.col("user"))
    return g.select(
        pl.when(pl.col("left")).then(path.replace("", SESSION_ENDED)).alias("after_exit"),
        pl.when(came).then(pl.col("visit")).alias("_next_visit_at"),
        pl.when(came & (pl.col("buy_user") == pl.col("user")))
        .then(pl.col("buy"))
        .alias("_bought_at"),
    ).get_columns()


def _first_at_or_after(positions: pl.Series, at: pl.Series) -> pl.Series:
    """Per value of ``at``, the first of the sorted ``positions`` at or after it (null:
    none).

    >>> _first_at_or_after(pl.Series([2, 5]), pl.Series([0, 3, 5, 6])).to_list()
    [2, 5, 5, None]
    """
    if positions.is_empty():
        return pl.repeat(None, at.len(), dtype=positions.dtype, eager=True)
    k = positions.search_sorted(at, side="left")
    found = positions.gather(k.clip(upper_bound=positions.len() - 1))
    return found.zip_with(
        k < positions.len(), pl.repeat(None, at.len(), dtype=found.dtype, eager=True)
    )


def return_flags(horizon_s: float, data_end: object) -> list[pl.Expr]:
    """``came_back`` and ``bought_later`` of abandoned units: within ``horizon_s`` of the
    end of the exit session; null when not seen and the data end before the horizon does
    (unknown, not no); and ``_horizon_seen``: the data cover the whole horizon."""
    horizon = pl.duration(microseconds=int(horizon_s * 1_000_000))
    end = pl.col("last_event_at")
    seen_all = (end + horizon <= pl.lit(data_end)).fill_null(False)
    out = [seen_all.alias("_horizon_seen")]
    for name, at in (("came_back", "_next_visit_at"), ("bought_later", "_bought_at")):
        hit = pl.col(at).is_not_null() & (pl.col(at) - end <= horizon)
        known = pl.when(hit).then(True).when(seen_all).then(False)
        out.append(pl.when(~pl.col("converted")).then(known).alias(name))
    return out


def exit_step_order(spec: FunnelSpec) -> pl.Expr:
    """``exit_step`` as its index in the funnel, to sort tables in funnel order."""
    return pl.col("exit_step").replace_strict(
        spec.step_names, list(range(len(spec.steps))), default=None, return_dtype=pl.Int64
    )


def after_exit_counts(units: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Abandoned units per exit step and path after the exit (``_n``), and per exit step
    those whose return horizon the data cover and how many of those came back and bought
    later (``path`` null, :func:`returns_table`). Counts of sets of units add up."""
    left = units.lazy().filter(~pl.col("converted"))
    seen = pl.col("_horizon_seen")
    return left.group_by("exit_step", pl.col("after_exit").alias("path")).agg(
        pl.len().cast(pl.Int64).alias("_n"),
        seen.sum().cast(pl.Int64).alias("observed"),
        (seen & pl.col("came_back")).sum().cast(pl.Int64).alias("came_back"),
        (seen & pl.col("bought_later")).sum().cast(pl.Int64).alias("bought_later"),
    )


def after_exit_table(counts: pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """Per exit step, the most common paths after the exit: ``units``, ``share`` of the
    step's abandoned units (Wilson 95% interval); the :data:`TOP_PATHS` most common, then
    one ``(other paths)`` row, so shares add up to 1 per step (``counts``:
    :func:`after_exit_counts`)."""
    counts = counts.lazy().group_by("exit_step", "path").agg(pl.col("_n").sum().alias("units"))
    ranked = counts.sort(
        "exit_step", "units", "path", descending=[False, True, False]
    ).with_columns(
        pl.int_range(pl.len()).over("exit_step").alias("_rank"),
        pl.col("units").sum().over("exit_step").alias("_total"),
    )
    top = ranked.with_columns(
        pl.when(pl.col("_rank") <= TOP_PATHS).then(pl.col("path")).otherwise(pl.lit(OTHER))
    )
    return (
        top.group_by("exit_step", "path")
        .agg(pl.col("units").sum(), pl.col("_total").first())
        .with_columns(*wilson_exprs(pl.col("units"), pl.col("_total"), "share"))
        .sort(
            exit_step_order(spec),
            pl.col("path") == OTHER,
            "units",
            "path",
            descending=[False, False, True, False],
        )
        .drop("_total")
        .collect()
    )


def returns_table(counts: pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """Per exit step: abandoned units, those whose whole return horizon the data cover
    (``observed``), and how many of those came back and bought later (Wilson 95%
    intervals of the shares; ``counts``: :func:`after_exit_counts`)."""
    return (
        counts.lazy()
        .group_by("exit_step")
        .agg(
            pl.col("_n").sum().alias("abandoned"),
            pl.col("observed").sum(),
            pl.col("came_back").sum(),
            pl.col("bought_later").sum(),
        )
        .with_columns(
            *wilson_exprs(pl.col("came_back"), pl.col("observed"), "came_back_share"),
            *wilson_exprs(pl.col("bought_later"), pl.col("observed"), "bought_later_share"),
        )
        .sort(exit_step_order(spec))
        .collect()
    )
