"""What Spark's tasks run: library functions on Arrow batches, nothing of their own.

Two stages, each one Python call per batch or per bucket (never per user or row):

1. :func:`narrow_batches` (``mapInArrow``): a batch of rows as Spark read them -> the
   types of the local reader (:func:`decode`), the canonical shape
   (:func:`funnel.input.load.canonical`), rejects marked
   (:func:`funnel.input.validate.mark_rejects`), narrowed to what the map reads
   (:func:`funnel.runners.bucket.bucket_rows`): row by row, so any split of the rows gives
   the same rows.
2. :func:`map_partition` (``repartition(B, "user_id").mapInArrow``): Spark's hash
   partitioning of the user makes each partition a bucket, a set of whole users; its rows ->
   :func:`funnel.runners.bucket.map_bucket` -> the partials as Arrow IPC blobs
   (:func:`partials_rows`), which the driver turns back into
   :class:`~funnel.runners.bucket.Partials` (:func:`read_partials`) and reduces. (A
   ``groupBy().applyInArrow`` would sort every row in the JVM first: 2x slower.)

Everything a task needs travels in one picklable :class:`Job`.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import unquote, urlparse

import polars as pl
import pyarrow as pa

from funnel.engine.timing import order_statistics
from funnel.input.load import LoadOptions, canonical, format_of, hive_columns
from funnel.input.reserved import escape
from funnel.input.text import scan_csv_file, scan_ndjson_file
from funnel.input.validate import ValidateOptions, mark_rejects
from funnel.runners.bucket import BucketPlan, Partials, bucket_rows, map_bucket
from funnel.runners.digest import digest_units
from funnel.runners.reduce import kept_units

__all__ = [
    "DIGEST_SCHEMA",
    "PARTS_SCHEMA",
    "STATISTICS_SCHEMA",
    "DigestJob",
    "Job",
    "decode",
    "digest_partition",
    "for_spark",
    "map_partition",
    "marked_rows",
    "narrow_batches",
    "partials_rows",
    "read_digests",
    "read_partials",
    "statistics_partition",
]

PARTS_SCHEMA = "bucket long, part string, data binary"
_PARTS_ARROW = pa.schema([("bucket", pa.int64()), ("part", pa.string()), ("data", pa.binary())])
_DIGEST_ARROW = pa.schema(
    [
        ("bucket", pa.int64()),
        ("part", pa.string()),
        ("data", pa.binary()),
        ("_d", pa.int32()),
        ("micros", pa.int64()),
        ("_n", pa.int64()),
    ]
)


@dataclass(frozen=True, kw_only=True)
class Job:
    """What every task of one run needs.

    ``raw``: the schema of the rows as the local reader reads them (without ``_file``);
    ``text_files``: Spark read whole text files (CSV, JSON lines; ``binaryFile`` rows of
    ``path`` and ``content``), each read here by the local reader, lines and all;
    ``names``: each file as the ledger names it, by its normalized path
    (:func:`local_path`); ``hive``: each file's ``key=value`` folders; ``narrow``: the
    polars schema of the rows the map reads (Spark has no unsigned integers); ``buckets``:
    the number of partitions of the users."""

    raw: dict[str, pl.DataType]
    text_files: bool
    names: dict[str, str]
    hive: dict[str, dict[str, str]]
    load: LoadOptions
    validate: ValidateOptions
    files: tuple[str, ...]
    plan: BucketPlan
    buckets: int
    narrow: dict[str, pl.DataType]


def local_path(name: str) -> str:
    """A file's path without the ``file:`` scheme and URL quoting, as Spark and the local
    reader both can name it.

    >>> local_path("file:///data/a%20b.parquet"), local_path("file:/data/x.csv")
    ('/data/a b.parquet', '/data/x.csv')
    """
    if name.startswith("file:"):
        return unquote(urlparse(name).path)
    return name


def _cast(col: str, dtype: pl.DataType, given: pl.DataType) -> pl.Expr:
    """``col`` (read by Spark as ``given``) in the local reader's type ``dtype``."""
    c = pl.col(col)
    if given == dtype:
        return c
    if dtype == pl.Boolean and given == pl.String:  # CSV text, as polars reads it
        return c.str.to_lowercase().replace_strict(
            {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
        )
    if isinstance(dtype, pl.Datetime) and isinstance(given, pl.Datetime):
        if dtype.time_zone is not None and given.time_zone is not None:
            c = c.dt.convert_time_zone(dtype.time_zone)
        return c.dt.cast_time_unit(dtype.time_unit)
    return c.cast(dtype, strict=False)


def _read_text_files(files: pl.DataFrame) -> pl.DataFrame:
    """Whole text files (``path``, ``content``) -> their rows as the local reader reads them
    (:mod:`funnel.input.text`), with ``_file`` the path. One call per file, in a temporary
    folder of the worker."""
    parts = []
    with tempfile.TemporaryDirectory(prefix="funnel-") as tmp:
        for i, (path, content) in enumerate(files.select("path", "content").iter_rows()):
            local = os.path.join(tmp, f"{i}-{Path(local_path(path)).name}")
            with open(local, "wb") as fh:
                fh.write(content)
            if format_of(local) == "csv":
                sep = "\t" if local.lower().endswith(".tsv") else ","
                rows = scan_csv_file(local, sep)
            else:
                rows = scan_ndjson_file(local)
            parts.append(rows.with_columns(pl.lit(path).alias("_file")).collect())
    if not parts:
        return pl.DataFrame(schema={"_file": pl.String})
    return pl.concat(parts, how="diagonal_relaxed")


def decode(frame: pl.DataFrame, job: Job) -> pl.DataFrame:
    """Rows as Spark read them (with ``_file``) in the columns, order and types of the
    local reader, ``_file`` as the ledger names it. Per distinct file, not per row."""
    files = frame.get_column("path" if job.text_files else "_file").unique()
    named = {f: job.names.get(local_path(f), f) for f in files.to_list()}
    if job.text_files:  # whole files: the local reader, row by row with their lines
        frame = _read_text_files(frame)
    else:  # data columns named like the engine's own, as the local readers name them
        odd = [c for c in frame.columns if c != "_file" and escape(c) != c]
        frame = frame.rename({c: escape(c) for c in odd})
    file_col = pl.col("_file").replace_strict(named, return_dtype=pl.String)
    frame = frame.with_columns(file_col)
    given = frame.schema
    hive_names = {k for h in job.hive.values() for k in h}
    columns = []
    for col, dtype in job.raw.items():
        if col in given:
            columns.append(_cast(col, dtype, given[col]).alias(col))
        elif col in hive_names:  # from the file's folders, as the local reader does
            values = {n: job.hive.get(n, {}).get(col) for n in named.values()}
            text = pl.col("_file").replace_strict(values, default=None, return_dtype=pl.String)
            columns.append(text.cast(dtype, strict=False).alias(col))
        else:  # a column some other file has
            columns.append(pl.lit(None, dtype).alias(col))
    return frame.select(*columns, "_file")


def marked_rows(frame: pl.DataFrame, job: Job) -> pl.LazyFrame:
    """Decoded rows in the canonical shape with ``_reject`` marked."""
    loaded = canonical(decode(frame, job).lazy(), job.load, files=job.files)
    return mark_rejects(loaded.frame, job.validate)


def for_spark(frame: pl.DataFrame) -> pl.DataFrame:
    """Unsigned integers as signed ones (Spark has none; the values fit)."""
    unsigned = [c for c, t in frame.schema.items() if t.is_unsigned_integer()]
    return frame.with_columns(pl.col(unsigned).cast(pl.Int64)) if unsigned else frame


def narrow_batches(batches: Iterator[pa.RecordBatch], job: Job) -> Iterator[pa.RecordBatch]:
    """Stage 1: each batch read -> the rows the map reads (one polars plan per batch)."""
    for batch in batches:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        rows = bucket_rows(marked_rows(frame, job), job.plan, 1).drop("_bucket").collect()
        yield from for_spark(rows).to_arrow().to_batches()


def rejected_batches(batches: Iterator[pa.RecordBatch], job: Job) -> Iterator[pa.RecordBatch]:
    """Each batch read -> its rejected rows, every column kept (for ``--rejects``)."""
    for batch in batches:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        rows = marked_rows(frame, job).filter(pl.col("_reject").is_not_null()).collect()
        yield from for_spark(rows).to_arrow().to_batches()


def _ipc(frame: pl.DataFrame | pl.LazyFrame | None) -> bytes | None:
    if frame is None:
        return None
    out = io.BytesIO()
    frame.lazy().collect().write_ipc(out, compression="lz4")
    return out.getvalue()


def _blob_rows(bucket: int, frames: dict[str, pl.DataFrame | pl.LazyFrame | None]) -> pl.DataFrame:
    """One row per frame: (bucket, name, Arrow IPC bytes or null)."""
    return pl.DataFrame(
        {
            "bucket": [bucket] * len(frames),
            "part": list(frames),
            "data": [_ipc(f) for f in frames.values()],
        },
        schema={"bucket": pl.Int64, "part": pl.String, "data": pl.Binary},
    )


def _blobs_by_bucket(
    rows: pa.Table | pl.DataFrame, missing: tuple[str, ...] = ()
) -> dict[int, dict[str, pl.DataFrame | None]]:
    """The frames of blob rows (:func:`_blob_rows`) by bucket and name; ``missing``: names
    some rows leave out (None)."""
    frame = rows if isinstance(rows, pl.DataFrame) else pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    out: dict[int, dict[str, pl.DataFrame | None]] = {}
    for bucket, part, blob in frame.select("bucket", "part", "data").iter_rows():
        data = pl.read_ipc(io.BytesIO(blob)) if blob is not None else None
        out.setdefault(bucket, dict.fromkeys(missing))[part] = data
    return out


def _received(batches: Iterator[pa.RecordBatch]) -> pl.DataFrame | None:
    """The batches Spark gave a task as one frame (None when they hold no row)."""
    received = [b for b in batches if b.num_rows]
    if not received:
        return None
    frame = pl.from_arrow(pa.Table.from_batches(received))
    assert isinstance(frame, pl.DataFrame)
    return frame


def partials_rows(part: Partials, bucket: int) -> pa.Table:
    """One row per part of ``part``: (bucket, part name, Arrow IPC bytes or null)."""
    frames = {f.name: getattr(part, f.name) for f in fields(Partials)}
    return _blob_rows(bucket, frames).to_arrow().cast(_PARTS_ARROW)


def map_partition(batches: Iterator[pa.RecordBatch], job: Job) -> Iterator[pa.RecordBatch]:
    """Stage 2: the rows of one partition (whole users) -> :func:`map_bucket` ->
    :func:`partials_rows`, numbered by the partition. Nothing for an empty partition."""
    from pyspark import TaskContext

    frame = _received(batches)
    if frame is None:
        return
    rows = frame.select(_cast(c, t, frame.schema[c]).alias(c) for c, t in job.narrow.items())
    del frame
    context = TaskContext.get()
    part = map_bucket(rows.lazy(), job.plan)
    del rows
    number = context.partitionId() if context is not None else 0
    yield from partials_rows(part, number).to_batches()


# stage 3 (a reduce inside Spark): digest blobs, or rows of the timing's frequency tables
DIGEST_SCHEMA = "bucket long, part string, data binary, _d int, micros long, _n long"


@dataclass(frozen=True, kw_only=True)
class DigestJob:
    """What every task of the reduce inside Spark needs: the plan and the end of the data
    (the latest of every bucket, which censoring and the return flags read)."""

    plan: BucketPlan
    data_end: dt.datetime | None


def digest_partition(batches: Iterator[pa.RecordBatch], job: DigestJob) -> Iterator[pa.RecordBatch]:
    """Stage 3: the units and evidence of the buckets in one partition (rows of
    :func:`partials_rows`) -> each bucket's kept units
    (:func:`funnel.runners.reduce.kept_units`) -> their digest
    (:func:`funnel.runners.digest.digest_units`) as blobs, the number of censored units as a
    ``censored`` blob, and the timing's frequency tables as rows, for Spark to add up."""
    frame = _received(batches)
    if frame is None:
        return
    by_bucket = _blobs_by_bucket(frame)
    del frame
    plan = job.plan
    for bucket, parts in sorted(by_bucket.items()):
        units, censored, evidence = kept_units(
            parts["units"], parts.get("evidence"), plan, job.data_end
        )
        digest = digest_units(units, evidence, plan.spec, by=plan.by, trend_every=plan.trend_every)
        timing = digest.pop("timing")
        digest["censored"] = pl.DataFrame({"_n": [censored.height]}, schema={"_n": pl.Int64})
        out = pl.concat([_blob_rows(bucket, dict(digest)), timing], how="diagonal_relaxed")
        yield from out.to_arrow().cast(_DIGEST_ARROW).to_batches()


STATISTICS_SCHEMA = "_d int, n long, micros_sum long, ranks array<long>, values array<long>"
_STATISTICS_ARROW = pa.schema(
    [
        ("_d", pa.int32()),
        ("n", pa.int64()),
        ("micros_sum", pa.int64()),
        ("ranks", pa.list_(pa.int64())),
        ("values", pa.list_(pa.int64())),
    ]
)


def statistics_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The timing's order statistics of the distributions whose frequency rows (``_d``,
    ``micros``, ``_n``) Spark brought to this partition:
    :func:`funnel.engine.timing.order_statistics`, a row per distribution."""
    frame = _received(batches)
    if frame is None:
        return
    yield from order_statistics(frame).to_arrow().cast(_STATISTICS_ARROW).to_batches()


def read_digests(rows: pa.Table) -> list[dict[str, pl.DataFrame]]:
    """The digest of every bucket from the blob rows of :func:`digest_partition`."""
    by_bucket = _blobs_by_bucket(rows)
    return [by_bucket[b] for b in sorted(by_bucket)]  # type: ignore[misc]


def read_partials(rows: pa.Table, missing: tuple[str, ...] = ()) -> list[Partials]:
    """The :class:`Partials` of every bucket from the rows of :func:`partials_rows`;
    ``missing``: parts left in Spark (None here)."""
    by_bucket = _blobs_by_bucket(rows, missing)
    return [Partials(**by_bucket[b]) for b in sorted(by_bucket)]  # type: ignore[arg-type]


def file_names(files: tuple[str, ...]) -> dict[str, str]:
    """Each local file's name in the ledger, by its absolute path."""
    return {str(Path(f).resolve()): f for f in files}


def hive_of(files: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Each file's ``key=value`` folders (files without are left out)."""
    return {f: h for f in files if (h := hive_columns(f))}
