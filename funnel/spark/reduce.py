"""The reduce inside Spark, for when the per-unit rows are too many for the driver.

The map's partials stay in Spark (persisted). The driver collects only the small ones
(counts, the ledger, driver counts) and learns the end of the data. A third stage digests
each bucket's units in its task (:func:`funnel.spark.tasks.digest_partition`: the same
:func:`funnel.runners.digest.digest_units` as the local reduce), and the driver adds the
digests. The timing's frequency tables stay in Spark, which brings each distribution's
rows to one task; that task finds the values at the ranks its percentiles read with the
local :func:`funnel.engine.timing.order_statistics`. The driver then builds the result
(:func:`funnel.runners.reduce.reduce_digest`): the same tables, to the byte, as the local
engine. What the result cannot show is the per-unit rows: ``units``, ``censored`` and
the evidence rows are empty.

``where="auto"`` reduces inside Spark when the per-unit partials would not fit the
driver (:func:`too_big_for_the_driver`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import polars as pl

from funnel.engine.timing import STATISTICS_SCHEMA
from funnel.results.result import FunnelResult
from funnel.runners.bucket import BucketPlan, Partials
from funnel.runners.digest import add_digests, digest_units
from funnel.runners.local import parse_size
from funnel.runners.reduce import kept_units, reduce_counts, reduce_digest
from funnel.spark import tasks

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame

__all__ = [
    "BYTES_PER_PARTIAL_BYTE",
    "order_statistics_in_spark",
    "reduce_in_spark",
    "too_big_for_the_driver",
]

BIG = ("units", "evidence")  # the partials that grow with the units
# the driver's peak per byte of compressed per-unit partials when it reduces them
# (decompressed, concatenated, sorted, digested): measured in benchmarks/README.md
BYTES_PER_PARTIAL_BYTE = 12


def too_big_for_the_driver(out: SparkFrame, memory: int) -> tuple[bool, int]:
    """(whether the per-unit partials of ``out`` would outgrow the driver, their bytes):
    more than ``memory`` once unpacked (:data:`BYTES_PER_PARTIAL_BYTE`), or more than
    half of ``spark.driver.maxResultSize``, the most a Spark driver collects."""
    from pyspark.sql import functions as F

    size = out.filter(F.col("part").isin(*BIG)).agg(F.sum(F.length("data"))).first()[0] or 0
    limit_text = out.sparkSession.conf.get("spark.driver.maxResultSize", "1g") or "1g"
    limit = parse_size(limit_text) if limit_text.strip() != "0" else None
    too_big = size * BYTES_PER_PARTIAL_BYTE > memory or (limit is not None and 2 * size > limit)
    return too_big, int(size)


def order_statistics_in_spark(freq: SparkFrame, partitions: int = 8) -> pl.DataFrame:
    """:func:`funnel.engine.timing.order_statistics` of frequency rows (``_d``, ``micros``,
    ``_n``) that stay in Spark: Spark brings each distribution's rows to one task, which
    runs the same ``order_statistics`` on them (:func:`funnel.spark.tasks.statistics_partition`);
    only a row per distribution comes back."""
    task = tasks.statistics_partition
    rows = freq.repartition(partitions, "_d").mapInArrow(task, tasks.STATISTICS_SCHEMA)
    found = pl.from_arrow(rows.toArrow())
    assert isinstance(found, pl.DataFrame)
    return found.cast(STATISTICS_SCHEMA).sort("_d")  # type: ignore[arg-type]


def reduce_in_spark(
    out: SparkFrame, plan: BucketPlan, notes: tuple[str, ...], empty: Partials
) -> FunnelResult:
    """The result from the map's output ``out`` (rows of
    :func:`funnel.spark.tasks.partials_rows`, persisted) without collecting its per-unit
    partials. ``empty``: the partials of no rows (their schemas, and the digest when no
    bucket had units)."""
    from pyspark.sql import functions as F

    small = out.filter(~F.col("part").isin(*BIG)).toArrow()
    parts = tasks.read_partials(small, missing=BIG) or [empty]  # no rows: one empty bucket
    counted = reduce_counts(parts)
    job = tasks.DigestJob(plan=plan, data_end=counted["data_end"])
    task = functools.partial(tasks.digest_partition, job=job)
    mapped = out.filter(F.col("part").isin(*BIG)).mapInArrow(task, tasks.DIGEST_SCHEMA).persist()
    try:
        blobs = mapped.filter(F.col("part").isNotNull()).select("bucket", "part", "data")
        digests = tasks.read_digests(blobs.toArrow())
        freq = mapped.filter(F.col("part").isNull()).select("_d", "micros", "_n")
        statistics = order_statistics_in_spark(freq)
    finally:
        mapped.unpersist()
    units, _, evidence = kept_units(empty.units, empty.evidence, plan, None)
    if not digests:  # no bucket had a unit
        none = digest_units(units, evidence, plan.spec, by=plan.by, trend_every=plan.trend_every)
        none.pop("timing")
        digests = [none | {"censored": pl.DataFrame({"_n": [0]})}]
    digest = add_digests(digests)
    n_censored = int(digest.pop("censored")["_n"].sum())
    return reduce_digest(
        parts,
        counted,
        plan,
        notes,
        digest,
        statistics,
        units,
        n_censored,
        evidence,
        units_left_in="Spark",
    )
