"""One run on Spark: plan on the driver, the map in Spark's tasks, the reduce on the driver.

The plan is the local one (:func:`funnel.runners.analyze.prepare`, ``bucket_plan``): for
files this machine can see, from the same polars scan as a local run, so the types, the
timestamp reading and the ledger's notes are the same; for a Spark DataFrame (or a path
only Spark can read), from its schema. Spark reads the rows (Parquet and CSV with its
readers, JSON lines as text), :mod:`funnel.spark.tasks` maps them bucket by bucket, and
only the partial results come back to the driver, never the raw events.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

import polars as pl

from funnel.errors import FunnelError, first_line
from funnel.input.load import discover_files, format_of, scan_files, type_groups
from funnel.input.reserved import escape
from funnel.input.timestamps import infer_unit
from funnel.outputs import check_outputs
from funnel.runners.analyze import (
    AnalyzeOptions,
    bucket_plan,
    load_options,
    prepare,
    write_rejects,
)
from funnel.runners.bucket import BucketPlan, Partials, bucket_rows, map_bucket
from funnel.runners.local import BUCKET_ROWS, estimate_rows
from funnel.spark import tasks
from funnel.spark.reduce import reduce_in_spark, too_big_for_the_driver
from funnel.spec import FunnelSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import SparkSession

__all__ = ["SparkInput", "Where", "read_input", "run_on_spark"]

T = TypeVar("T")


@dataclass(frozen=True)
class SparkInput:
    """Rows as Spark reads them, each with ``_file``: one frame per way of reading
    (``text_files``: whole CSV and JSON-lines files, ``path`` and ``content``), and the
    raw polars schema (local files: the local reader's; otherwise Spark's)."""

    frames: list[tuple[SparkFrame, bool]]
    raw: dict[str, pl.DataType]
    files: tuple[str, ...]
    local: Any  # what prepare() reads on the driver: the files, or an empty polars frame


def _with_file(frame: SparkFrame) -> SparkFrame:
    from pyspark.sql import functions as F

    if "_file" in frame.columns:  # a data column of that name is data:_file, as locally
        frame = frame.withColumnRenamed("_file", "data:_file")
    try:
        return frame.select("*", F.col("_metadata.file_path").alias("_file"))
    except Exception:  # not a file source: no file names
        return frame.withColumn("_file", F.lit("<frame>"))


def _read_files(spark: SparkSession, files: list[str]) -> SparkInput:
    groups = type_groups(files)
    if len(groups) > 1:  # each kind would need its own reading: not on Spark (yet)
        kinds = "; ".join(f"{g[0]} and {len(g) - 1} more" if len(g) > 1 else g[0] for g in groups)
        raise FunnelError(
            f"the files disagree on column types ({kinds}); the Spark engine reads a dump "
            "whose files agree",
            hint="run it with the local engine, or write the files with one schema",
        )
    raw_frame, _ = scan_files(files)
    raw = {c: t for c, t in raw_frame.collect_schema().items() if c != "_file"}
    frames: list[tuple[SparkFrame, bool]] = []
    by_format: dict[str, list[str]] = {}
    for f in files:
        by_format.setdefault(format_of(f) or "", []).append(f)
    reader = spark.read
    if "parquet" in by_format:
        frame = reader.option("mergeSchema", "true").parquet(*by_format["parquet"])
        frames.append((_with_file(frame), False))
    text = by_format.get("csv", []) + by_format.get("ndjson", [])
    if text:  # whole files, each read by the local reader in a task (lines and all)
        frames.append((reader.format("binaryFile").load(text).select("path", "content"), True))
    return SparkInput(frames=frames, raw=raw, files=tuple(files), local=files)


def _polars_schema(frame: SparkFrame) -> dict[str, pl.DataType]:
    from pyspark.sql.pandas.types import to_arrow_schema

    zone = frame.sparkSession.conf.get("spark.sql.session.timeZone") or "UTC"
    empty = pl.from_arrow(to_arrow_schema(frame.schema, timezone=zone).empty_table())
    assert isinstance(empty, pl.DataFrame)
    return dict(empty.schema)


def _remote(path: str) -> bool:
    """A path only Spark can reach: a URL scheme other than ``file`` (``s3://``, ``dbfs:/``).

    >>> _remote("s3://shop/events/"), _remote("dbfs:/events"), _remote("events/day=1")
    (True, True, False)
    """
    scheme = urlparse(path).scheme
    return len(scheme) > 1 and scheme != "file"


def read_input(spark: SparkSession, source: Any) -> SparkInput:
    """A Spark DataFrame, or paths: local files (found as the local engine finds them)
    or paths only Spark can reach (``s3://...``: read by extension)."""
    from pyspark.sql import DataFrame as SparkFrame

    if not isinstance(source, SparkFrame):
        paths = [source] if isinstance(source, str) or not hasattr(source, "__iter__") else source
        paths = [str(p) for p in paths]
        if not any(_remote(p) for p in paths):
            return _read_files(spark, discover_files(paths))
        fmt = {"ndjson": "json"}.get(format_of(paths[0]) or "parquet", format_of(paths[0]))
        source = spark.read.format(fmt or "parquet").load(paths)
    frame = _with_file(source)
    raw = {escape(c): t for c, t in _polars_schema(source).items()}
    files = tuple(sorted(tasks.local_path(f) for f in source.inputFiles())) or ("<frame>",)
    empty = pl.DataFrame(schema=raw)  # prepare() gives it its _file
    return SparkInput(frames=[(frame, False)], raw=raw, files=files, local=empty)


def _spark_schema(schema: dict[str, pl.DataType]) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    arrow = tasks.for_spark(pl.DataFrame(schema=schema)).to_arrow().schema
    return from_arrow_schema(arrow, prefer_timestamp_ntz=True)


def _timestamp_unit(spark_input: SparkInput, options: AnalyzeOptions, prepared: Any) -> Any:
    """Epoch numbers without a unit in a Spark DataFrame: the unit from the smallest and
    the largest magnitude, as a local run infers it (Spark computes the two)."""
    from pyspark.sql import functions as F

    frame, _ = spark_input.frames[0]
    column = options.load.mapping.get("timestamp", "timestamp")
    lo, hi = frame.agg(F.min(F.abs(column)), F.max(F.abs(column))).first()
    unit = infer_unit(pl.LazyFrame({"timestamp": [lo, hi]}), spark_input.files)
    info = replace(prepared.timestamp, how=f"epoch {unit} (inferred)", inferred_unit=unit)
    return unit, replace(prepared, timestamp=info)


def _buckets(spark: SparkSession, spark_input: SparkInput, options: AnalyzeOptions) -> int:
    if options.buckets is not None:
        return options.buckets
    if isinstance(spark_input.local, list):
        rows = estimate_rows(pl.LazyFrame(), spark_input.files)
    else:
        rows = sum(frame.count() for frame, _ in spark_input.frames)
    parallel = spark.sparkContext.defaultParallelism
    return max(2 * parallel, math.ceil(rows / BUCKET_ROWS))


def run_on_spark(
    spark: SparkSession,
    source: Any,
    spec: FunnelSpec,
    options: AnalyzeOptions,
    reduce: Callable[[list[Partials], BucketPlan, tuple[str, ...]], T],
    where: Where | None = None,
) -> T:
    """Plan, map the buckets in Spark, collect the partials, ``reduce(parts, plan, notes)``,
    or reduce inside Spark (``where``, :class:`Where`); writes ``options.rejects_path`` when
    set."""
    spark_input = read_input(spark, source)
    load = load_options(options, spec)
    prepared = prepare(spark_input.local, options, spec)
    prepared = replace(prepared, files=spark_input.files)
    unit = load.timestamp_unit or prepared.timestamp.inferred_unit
    numeric = prepared.timestamp.how.startswith("epoch")
    if numeric and load.timestamp_unit is None and not isinstance(spark_input.local, list):
        unit, prepared = _timestamp_unit(spark_input, replace(options, load=load), prepared)
    plan = bucket_plan(prepared, spec, options, causes=options.causes)
    if options.rejects_path:  # before any work: it may not touch the inputs
        local = [f for f in spark_input.files if f != "<frame>"]
        check_outputs({"rejects_path": options.rejects_path}, local, {})
    buckets = _buckets(spark, spark_input, options)
    narrow = dict(bucket_rows(prepared.frame, plan, 1).drop("_bucket").collect_schema())
    now = dt.datetime.now(dt.timezone.utc)
    job = tasks.Job(
        raw=spark_input.raw,
        text_files=False,
        names=tasks.file_names(spark_input.files),
        hive=tasks.hive_of(spark_input.files),
        load=replace(load, timestamp_unit=unit),
        validate=replace(options.validate, max_time=options.validate.max_time or now),
        files=spark_input.files,
        plan=plan,
        buckets=buckets,
        narrow=narrow,
    )
    try:
        with _batch_rows(spark, ARROW_BATCH_ROWS):
            result = _map_reduce(spark_input, job, prepared, reduce, where or Where())
        if options.rejects_path:
            _write_rejects(spark_input, job, prepared.frame, options.rejects_path)
    except FunnelError:
        raise
    except Exception as exc:  # a failed Spark job: its first line, not a Java trace
        raise FunnelError(
            f"the Spark job failed: {_task_error(exc)}",
            hint="run with the local engine to see the error there, or read Spark's log",
        ) from exc
    return result


# rows per Arrow batch between Spark and the tasks' Python: each batch costs one polars plan
# (Spark's default, 10,000, made stage 1 three times slower at 10M events)
ARROW_BATCH_ROWS = 500_000


@contextlib.contextmanager
def _batch_rows(spark: SparkSession, rows: int) -> Iterator[None]:
    """Set ``spark.sql.execution.arrow.maxRecordsPerBatch`` for one run, then restore it."""
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key, None)
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _each_read(
    spark_input: SparkInput, job: tasks.Job, task: Callable, schema: dict[str, pl.DataType]
) -> SparkFrame:
    """``task`` (a ``mapInArrow`` function of a job) over every way of reading, unioned."""
    out = None
    for frame, text_files in spark_input.frames:
        run = functools.partial(task, job=replace(job, text_files=text_files))
        mapped = frame.mapInArrow(run, _spark_schema(schema))
        out = mapped if out is None else out.unionByName(mapped)
    assert out is not None
    return out


def _map_reduce(
    spark_input: SparkInput,
    job: tasks.Job,
    prepared: Any,
    reduce: Callable,
    where: Where,
) -> Any:
    """Stage 1 over every way of reading, stage 2 over the users' partitions, the reduce:
    on the driver (``reduce``), or inside Spark (:mod:`funnel.spark.reduce`) when ``where``
    says so or, for ``auto``, when the per-unit partials would outgrow the driver."""
    from pyspark import StorageLevel

    rows = _each_read(spark_input, job, tasks.narrow_batches, job.narrow)
    by_user = rows.repartition(job.buckets, "user_id")  # whole users in each partition
    task = functools.partial(tasks.map_partition, job=job)
    out = by_user.mapInArrow(task, tasks.PARTS_SCHEMA)
    empty = map_bucket(prepared.frame.clear(), job.plan)
    if where.where == "driver":
        return _on_the_driver(out.toArrow(), empty, job, prepared, reduce)
    out = out.persist(StorageLevel.MEMORY_AND_DISK)  # read once more, whichever reduces
    try:
        inside = where.where == "spark"
        if where.where == "auto":
            inside, size = too_big_for_the_driver(out, where.memory)
            where.chosen(inside, size)
        if inside:
            return reduce_in_spark(out, job.plan, prepared.notes(), empty)
        return _on_the_driver(out.toArrow(), empty, job, prepared, reduce)
    finally:
        out.unpersist()


def _on_the_driver(
    rows: Any, empty: Partials, job: tasks.Job, prepared: Any, reduce: Callable
) -> Any:
    parts = tasks.read_partials(rows) or [empty]  # no rows at all: one empty bucket
    return reduce(parts, job.plan, prepared.notes())


@dataclass(frozen=True)
class Where:
    """Where the reduce runs: ``driver``, ``spark`` or ``auto`` (inside Spark when the
    per-unit partials would take more than ``memory`` bytes on the driver, see
    :func:`funnel.spark.reduce.too_big_for_the_driver`); ``chosen`` hears what auto chose
    (inside Spark or not, and the partials' compressed bytes)."""

    where: str = "driver"
    memory: int = 0
    chosen: Callable[[bool, int], None] = lambda inside, size: None


def _write_rejects(
    spark_input: SparkInput, job: tasks.Job, marked: pl.LazyFrame, path: str
) -> None:
    schema = dict(marked.collect_schema())
    rows = _each_read(spark_input, job, tasks.rejected_batches, schema)
    rejected = pl.from_arrow(rows.toArrow())
    assert isinstance(rejected, pl.DataFrame)
    write_rejects(rejected.cast(schema, strict=False).lazy(), path)  # type: ignore[arg-type]


def _task_error(exc: Exception) -> str:
    """A failed Spark job's message: a Python error in a task is the last "...Error: ..."
    line of the worker's traceback; otherwise the first line."""
    lines = [
        ln.strip() for ln in str(exc).splitlines() if "Error: " in ln and not ln.startswith("\t")
    ]
    return lines[-1] if lines else first_line(exc)
