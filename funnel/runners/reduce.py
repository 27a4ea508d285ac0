"""The reduce: every table of the result from the partials of all buckets, exactly.

:func:`reduce_partials` concatenates the per-unit rows (the result shows them), leaves out
the censored ones (:func:`kept_units`), digests them (:mod:`funnel.runners.digest`) and
builds the result from the digest and the summed counts (:func:`reduce_digest`). The
Spark engine digests each bucket inside Spark and calls the same :func:`reduce_digest`.
Results never depend on the number of buckets or their order: the units are sorted by keys
that identify them, and every table is computed from counts summed per key.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from funnel.causes.after_exit import return_flags
from funnel.engine.censor import censor_cut, driver_counts_kept, evidence_kept, split_censored
from funnel.engine.timing import order_statistics
from funnel.results.ledger import Ledger
from funnel.results.result import FunnelResult
from funnel.runners.bucket import BucketPlan, Partials
from funnel.runners.digest import digest_units, result_from_digest

__all__ = [
    "kept_units",
    "reduce_counts",
    "reduce_digest",
    "reduce_events",
    "reduce_ledger",
    "reduce_partials",
    "sorted_concat",
    "sum_driver_counts",
]


def sorted_concat(frames: list[pl.DataFrame | pl.LazyFrame], keys: list[str]) -> pl.DataFrame:
    """The rows of ``frames`` (each sorted by ``keys`` already, as the map leaves units and
    evidence) sorted by ``keys``, each column in one chunk, built column by
    column: this function holds the only reference to the concatenated rows, so each input
    column is let go once gathered, and the peak is one copy plus a column (not two).

    >>> parts = [pl.DataFrame({"k": [3, 1]}), pl.DataFrame({"k": [2]})]
    >>> sorted_concat(parts, ["k"])["k"].to_list()
    [1, 2, 3]
    """
    if len(frames) == 1 and isinstance(frames[0], pl.DataFrame):
        return frames[0].rechunk()  # one bucket: the map sorted it by these keys already
    lazy = [f.lazy() for f in frames]
    frame = pl.concat(lazy, how="vertical_relaxed", rechunk=False).collect(engine="streaming")
    # arg_sort_by: the order alone (a sort of the keys with an index also copies the keys)
    order = frame.select(pl.arg_sort_by(keys)).to_series()
    names, columns = frame.columns, {}
    for name in names:
        columns[name] = frame.get_column(name).gather(order)  # one chunk out
        frame = frame.drop(name)
    return pl.DataFrame([columns[n] for n in names])


def _summed(frames: list[pl.DataFrame], keys: list[str]) -> pl.DataFrame:
    both = pl.concat(frames, how="diagonal_relaxed")
    first = []
    if "first_line" in both.columns:  # the first line over all buckets, and its detail
        first.append(pl.col("first_line").min())
        first.append(pl.col("detail").sort_by("first_line", nulls_last=True).first())
    return both.group_by(keys).agg(pl.col("rows").sum(), *first).sort(keys)


def reduce_ledger(parts: list[Partials], notes: tuple[str, ...]) -> Ledger:
    """The ledger of all buckets: counts per file (and reason) summed."""
    return Ledger.build(
        _summed([p.totals for p in parts], ["_file"]),
        _summed([p.rejects for p in parts], ["_file", "_reject"]),
        _summed([p.duplicates for p in parts], ["_file"]),
        notes,
    )


def reduce_partials(
    parts: list[Partials], plan: BucketPlan, notes: tuple[str, ...] = ()
) -> FunnelResult:
    """Every table of the result from the partials of all buckets (any number, any order):
    the units concatenated, their :func:`funnel.runners.digest.digest_units`, the result
    from that. ``notes``: what loading inferred, for the ledger."""
    spec = plan.spec
    # sorted by keys that identify the rows, in one chunk: the result's units are the same
    # bytes whatever the buckets were; column by column, so the peak is one copy of them
    units = sorted_concat([p.units for p in parts], ["entered_at", "user_id", "session_id"])
    counted = reduce_counts(parts)
    evidence = None
    if plan.causes:
        keys = ["session_id", "user_id", "events_before_exit", "cause"]
        evidence = sorted_concat([p.evidence for p in parts], keys)
    units, censored, evidence = kept_units(units, evidence, plan, counted["data_end"])
    digest = digest_units(units, evidence, spec, by=plan.by, trend_every=plan.trend_every)
    statistics = order_statistics(digest.pop("timing"))
    return reduce_digest(parts, counted, plan, notes, digest, statistics, units, censored, evidence)


def reduce_digest(
    parts: list[Partials],
    counted: dict,
    plan: BucketPlan,
    notes: tuple[str, ...],
    digest: dict[str, pl.DataFrame],
    statistics: pl.DataFrame,
    units: pl.DataFrame,
    censored: pl.DataFrame | int,
    evidence: pl.DataFrame | None,
    units_left_in: str | None = None,
) -> FunnelResult:
    """The result from the digest of the kept units and the timing's order statistics,
    with the partials' ledger and driver counts; ``counted``: their :func:`reduce_counts`.
    ``units``, ``censored`` (or their number) and ``evidence``: what the result shows of
    them."""
    driver_counts = None
    if plan.causes:
        counts = pl.concat([p.driver_counts for p in parts], how="vertical_relaxed")
        driver_counts = sum_driver_counts(counts, censor_cut(counted["data_end"], plan.censor_s))
    if isinstance(censored, int):  # only counted: the rows stayed where they were digested
        n_censored, censored = censored, units.clear()
    else:
        n_censored = censored.height
    return result_from_digest(
        digest,
        statistics,
        plan,
        counted=counted,
        ledger=reduce_ledger(parts, notes),
        events=reduce_events(parts),
        units=units.drop(pl.selectors.starts_with("_")),
        censored=censored.drop(pl.selectors.starts_with("_")),
        n_censored=n_censored,
        evidence=evidence,
        driver_counts=driver_counts,
        units_left_in=units_left_in,
    )


def reduce_counts(parts: list[Partials]) -> dict:
    """The counts of all buckets summed (``data_end``: the latest)."""
    both = pl.concat([p.counts for p in parts])
    return both.select(pl.exclude("data_end").sum(), pl.col("data_end").max()).row(0, named=True)


def reduce_events(parts: list[Partials]) -> pl.DataFrame:
    """Rows used per event name over all buckets: the data's event inventory."""
    return _summed([p.events for p in parts], ["event"])


def kept_units(
    units: pl.DataFrame,
    evidence: pl.DataFrame | None,
    plan: BucketPlan,
    data_end: dt.datetime | None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """(units kept, units censored, evidence of the kept) of a set of units, given the end of
    all the data (the latest ``data_end`` of every bucket); with causes, the units get their
    return flags (:func:`funnel.causes.after_exit.return_flags`) first."""
    if plan.causes:  # before the split: the censored units carry them too
        horizon = plan.spec.attribution.return_within_s
        units = units.with_columns(return_flags(horizon, data_end))
    units, censored = split_censored(units, censor_cut(data_end, plan.censor_s))
    if evidence is not None:
        evidence = evidence_kept(evidence, censored)
    return units, censored, evidence


def sum_driver_counts(counts: pl.DataFrame, cut: dt.datetime | None) -> pl.DataFrame:
    """Driver counts of all buckets: those of kept units (``cut``:
    :func:`funnel.engine.censor.censor_cut`), summed per feature."""
    counts = driver_counts_kept(counts, cut)
    return counts.group_by("feature", "kind").agg(
        pl.col("abandoned_with", "converted_with", "abandoned_before").sum()
    )
