"""Conditions on a row's session, decided after the sort: earlier values and ``in_a_row``.

A cause whose ``where`` reads an earlier row of the session (``[causes.earlier]``,
:mod:`funnel.spec.earlier`) or asks for ``in_a_row`` rows cannot be decided while reading:
the rows are not in session order yet. :func:`funnel.causes.evidence.row_flags` marks
every row of its events (bit ``i``, the ``where`` left out) and the rows its earlier values
may come from (``CONTEXT_BIT``); those are placed in their sessions like any cause row.
:func:`session_context` then, over the placed rows (in position order: each session's
rows together, in time order):

1. computes each earlier value: the column of the first (``take = "first"``) or last
   earlier row of its events in the session with that column set, strictly before the row;
2. evaluates the ``where`` with them, over the row's own columns (kept aside by
   :func:`funnel.causes.evidence.cause_rows`);
3. for ``in_a_row = N``: counts the rows of the cause's events in a row (other events in
   between do not count) that meet it; a row is evidence when that run reaches ``N``;

and clears bit ``i`` where the answer is no. Everything downstream (attribution, exposure)
reads the corrected bits, so both follow one rule. Running values with ``over`` the
session: no loop over rows or sessions.
"""

from __future__ import annotations

import polars as pl

from funnel.causes.evidence import CONTEXT_BIT, aside_columns, cause_bit
from funnel.spec.earlier import EarlierValue
from funnel.spec.funnel_spec import FunnelSpec

__all__ = ["named", "session_context"]


def named(event: pl.Expr, names: tuple[str, ...]) -> pl.Expr:
    """Does ``event`` (text) match one of ``names``: a name, a prefix ending in ``*``, or
    ``*`` (docs/causes.md)?

    >>> df = pl.DataFrame({"e": ["pay_ok", "view", "cart"]})
    >>> df.select(named(pl.col("e"), ("pay_*", "cart")))["e"].to_list()
    [True, False, True]
    """
    if "*" in names:
        return pl.lit(True)
    exact = [n for n in names if not n.endswith("*")]
    out = event.is_in(exact)
    for n in names:
        if n.endswith("*"):
            out = out | event.str.starts_with(n[:-1])
    return out


def session_context(
    placed: pl.DataFrame, details: pl.DataFrame, spec: FunnelSpec, names: set[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``placed`` (:func:`funnel.causes.evidence.place_rows`, collected) with the bits of
    the causes decided on the session (:attr:`funnel.spec.taxonomy.Cause.contextual`)
    cleared where their condition does not hold, and ``details`` (the cause rows aside,
    :func:`funnel.causes.evidence.cause_rows`, by read position) with ``_earlier``: the
    earlier values each row compared with, as text, where it is evidence of such a cause.
    ``names``: the data's columns. Eager: frames in, frames out.
    """
    contextual = [(i, c) for i, c in enumerate(spec.causes) if c.contextual]
    if not contextual or placed.height == 0:
        return placed, details
    # the row's own columns, under their own names, beside the session and the event
    at = details["_read"].search_sorted(placed["_read"])
    own = {col: details[f"_s{j}"].gather(at) for j, col in enumerate(aside_columns(spec, names))}
    view = pl.DataFrame(
        {"_sid": placed["_sid"], "_event": placed["event"].cast(pl.String), **own}
    ).with_columns(placed["_cm"])
    event = pl.col("_event")
    plan = view.lazy()
    for i, c in contextual:
        values = []
        for e in c.earlier:
            source = (
                named(event, e.events) & cause_bit(CONTEXT_BIT) & pl.col(e.column).is_not_null()
            )
            if e.take == "first":
                source = source & (source.cum_sum().over("_sid") == 1)
            # strictly before the row: shifted one row within the session, then carried
            value = pl.when(source).then(pl.col(e.column)).shift(1).forward_fill()
            values.append(value.over("_sid").alias(e.name))
        shape = cause_bit(i)  # a row of the cause's events
        ok = shape & (c.where.to_polars() if c.where is not None else pl.lit(True))
        # runs of rows of its events meeting the condition; other rows do not break them
        plan = (
            plan.with_columns(values)
            .with_columns(ok.alias("_ok"), (shape & ~ok).cum_sum().over("_sid").alias("_run"))
            .with_columns(
                (
                    pl.col("_ok")
                    & (pl.col("_ok").cast(pl.Int64).cum_sum().over("_sid", "_run") >= c.in_a_row)
                ).alias(f"_k{i}")
            )
            .with_columns(_shown(c.earlier, f"_k{i}").alias(f"_t{i}"))
            .drop(*(e.name for e in c.earlier), "_ok", "_run")
        )
    bits = [pl.when(pl.col(f"_k{i}")).then(1 << i).otherwise(0) for i, _ in contextual]
    decided = sum(1 << i for i, _ in contextual)
    cm = (pl.col("_cm") & ~pl.lit(decided, pl.Int64)) | pl.sum_horizontal(bits).cast(pl.Int64)
    texts = [pl.col(f"_t{i}") for i, c in contextual if c.earlier]
    text = pl.lit(None)
    if texts:  # null, not "", where no cause compared earlier values on the row
        joined = pl.concat_str(texts, separator=", ", ignore_nulls=True)
        text = pl.when(pl.any_horizontal(t.is_not_null() for t in texts)).then(joined)
    got = plan.select(cm, text.cast(pl.String).alias("_earlier")).collect(engine="in-memory")
    earlier = pl.repeat(None, details.height, dtype=pl.String, eager=True).alias("_earlier")
    earlier = earlier.scatter(at, got["_earlier"])  # every placed row is a row of details
    return placed.with_columns(got["_cm"]), details.with_columns(earlier)


def _shown(earlier: tuple[EarlierValue, ...], hit: str) -> pl.Expr:
    """``start=50.0, prev=70.0``: the earlier values a row that is evidence compared with."""
    if not earlier:
        return pl.lit(None, pl.String)
    parts = [pl.format("{}={}", pl.lit(e.name), pl.col(e.name).cast(pl.String)) for e in earlier]
    text = pl.concat_str(parts, separator=", ", ignore_nulls=True)
    return pl.when(pl.col(hit)).then(text)
