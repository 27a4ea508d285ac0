"""Run funnel on Spark when a dump outgrows one machine: the same map and reduce as the
local engine, identical results.

    pip install 'checkout-funnel[spark]'

    import funnel.spark
    result = funnel.spark.analyze("s3a://shop/events/2024-05/")

``source`` is a Spark DataFrame or paths Spark can read (files this machine sees are
found and typed exactly as the local engine does, so ``--format json`` is the same
bytes). The rows are bucketed by a hash of the user inside Spark; each bucket runs the
partitioned engine's map with polars in one task (Arrow in, Arrow out); the partial
results, not the events, come back to the driver, which reduces them. The functions take
the same options and return the same objects as :func:`funnel.analyze` and
:func:`funnel.compare`, so everything downstream (JSON, Markdown, the HTML report,
``--fail-if-worse``) works unchanged. ``spark``: the session (default: the active one, or
a new local one, see :func:`funnel.spark.session.spark_session`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from funnel.errors import FunnelError
from funnel.results.comparison import Comparison
from funnel.results.ledger import Ledger
from funnel.results.result import CauseTables, FunnelResult
from funnel.runners.analyze import LEDGER_ONLY, AnalyzeOptions, default_spec, load_options
from funnel.runners.compare import compare_with
from funnel.runners.local import BucketProgress, default_memory, parse_size
from funnel.runners.reduce import reduce_ledger, reduce_partials
from funnel.spark.session import spark_session
from funnel.spec import FunnelSpec
from funnel.versions.compare import CompareOptions

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["analyze", "causes", "compare", "spark_session", "validate"]


REDUCE_IN = ("auto", "driver", "spark")


def analyze(
    source: Any,
    spec: FunnelSpec | None = None,
    options: AnalyzeOptions | None = None,
    *,
    spark: SparkSession | None = None,
    progress: BucketProgress | None = None,
    reduce_in: str = "auto",
    told: Callable[[str], None] | None = None,
) -> FunnelResult:
    """:func:`funnel.analyze` on Spark. ``progress`` hears once, when the map is done.

    ``reduce_in``: where the per-unit partials are reduced. ``driver`` collects them (the
    result has its ``units`` and evidence rows, which ``--sessions-out``, the HTML report
    and comparisons read); ``spark`` keeps them in Spark (:mod:`funnel.spark.reduce`: the
    same tables, but empty ``units``, ``censored`` and evidence rows); ``auto`` (default)
    reduces inside Spark only when they would not fit the driver's memory budget
    (``options.memory``, default :func:`funnel.runners.local.default_memory`). ``told``
    hears a sentence when auto chose Spark.
    """
    from funnel.spark.run import Where, run_on_spark

    if reduce_in not in REDUCE_IN:
        raise FunnelError(
            f"reduce_in={reduce_in!r} is not a place to reduce", hint="one of auto, driver, spark"
        )
    options = options or AnalyzeOptions()
    spec = default_spec(spec, options)
    session = spark or spark_session()

    def reduce(parts, plan, notes):
        if progress is not None:
            progress(len(parts), len(parts))
        return reduce_partials(parts, plan, notes)

    def chosen(inside: bool, size: int) -> None:
        if inside and told is not None:
            told(
                f"the per-unit partials ({size / 2**20:,.0f} MiB compressed) would not fit this "
                "driver's memory budget, so they were reduced inside Spark: the result has no "
                "per-unit rows (--reduce-in driver, or a larger --memory, keeps them)"
            )

    memory = parse_size(options.memory) if options.memory is not None else default_memory()
    where = Where(reduce_in, memory, chosen)
    return run_on_spark(session, source, spec, options, reduce, where)


def validate(
    source: Any,
    options: AnalyzeOptions | None = None,
    spec: FunnelSpec | None = None,
    *,
    spark: SparkSession | None = None,
    progress: BucketProgress | None = None,
) -> Ledger:
    """:func:`funnel.validate` on Spark: the ledger alone."""
    from funnel.spark.run import run_on_spark

    options = replace(options or AnalyzeOptions(), by=(), causes=False)
    options = replace(options, load=load_options(options, spec))  # the spec's [columns]
    return run_on_spark(
        spark or spark_session(),
        source,
        LEDGER_ONLY,
        options,
        lambda parts, plan, notes: reduce_ledger(parts, notes),
    )


def causes(
    source: Any,
    spec: FunnelSpec | None = None,
    options: AnalyzeOptions | None = None,
    *,
    spark: SparkSession | None = None,
    reduce_in: str = "auto",
) -> CauseTables:
    """The cause tables of ``source`` (``analyze(...).causes`` with causes on; with the
    evidence rows unless the reduce ran inside Spark, see :func:`analyze`)."""
    options = replace(options or AnalyzeOptions(), causes=True)
    result = analyze(source, spec, options, spark=spark, reduce_in=reduce_in)
    assert result.causes is not None
    return result.causes


def compare(
    source: Any,
    other: Any = None,
    *,
    by: str | None = None,
    split_at: str | dt.datetime | None = None,
    periods: Sequence[tuple[str | dt.datetime, str | dt.datetime]] | None = None,
    spec: FunnelSpec | None = None,
    other_spec: FunnelSpec | None = None,
    options: CompareOptions | None = None,
    analyze_options: AnalyzeOptions | None = None,
    spark: SparkSession | None = None,
) -> Comparison:
    """:func:`funnel.compare` on Spark: arms, two dumps, periods or two specs."""
    session = spark or spark_session()

    def run(src: Any, sp: FunnelSpec | None, opts: AnalyzeOptions) -> FunnelResult:
        return analyze(src, sp, opts, spark=session, reduce_in="driver")  # reads the units

    return compare_with(
        run,
        source,
        other,
        by=by,
        split_at=split_at,
        periods=periods,
        spec=spec,
        other_spec=other_spec,
        options=options,
        analyze_options=analyze_options,
    )
