"""Timestamps of any common shape, brought to one: ``Datetime("us", "UTC")``.

Accepted inputs:

* datetimes: naive ones are read in the given zone (UTC unless ``--tz``), aware ones are
  converted to UTC;
* dates (midnight in the given zone);
* ISO-8601 strings, with ``T`` or a space, optional fraction, and an optional offset
  (``+02:00``, ``+0200``, ``Z``, `` UTC``); strings without an offset are in the given zone;
* epoch numbers in ``s``, ``ms``, ``us`` or ``ns``. The unit is taken from
  ``timestamp_unit``; when it is not given it is inferred only if the smallest and the
  largest value fall in the same unit's plausible range (years 1973-2286), and the ledger
  notes what was inferred.

A value that cannot be read becomes null here and is rejected by validation with the reason
``bad_timestamp``; the raw text is kept in ``_timestamp_raw`` for ``--rejects``.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from funnel.errors import SchemaError

__all__ = ["TimestampInfo", "infer_unit", "normalize_timestamp"]

_US_PER = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}
# plausible epoch magnitudes (1973-03-03 .. 2286-11-20) per unit
_RANGES = {"s": (1e8, 1e10), "ms": (1e11, 1e13), "us": (1e14, 1e16), "ns": (1e17, 1e19)}
_STRING_FORMATS_NAIVE = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class TimestampInfo:
    """What was found about the timestamp column: source dtype and how it was read."""

    source_dtype: str
    how: str
    inferred_unit: str | None = None


def infer_unit(frame: pl.LazyFrame, files: tuple[str, ...] | list[str]) -> str:
    """The unit of the epoch numbers in ``timestamp``: the one whose plausible range holds
    the smallest and the largest magnitude (``us`` when every value is null)."""
    lo, hi = (
        frame.select(pl.col("timestamp").abs().min().alias("lo"), pl.col("timestamp").abs().max())
        .collect()
        .row(0)
    )
    if lo is None:
        return "us"  # all null: every row is rejected anyway
    for unit, (a, b) in _RANGES.items():
        if a <= lo < b and a <= hi < b:
            return unit
    raise SchemaError(
        f"{files[0] if len(files) == 1 else 'input'}: column 'timestamp' holds epoch numbers "
        f"from {lo:g} to {hi:g}, which do not agree on one unit",
        hint="say the unit with --timestamp-unit s|ms|us|ns",
    )


def _parse_strings(col: pl.Expr, timezone: str) -> pl.Expr:
    text = (
        col.str.strip_chars()
        .str.replace(r"(?i)\s*(UTC|GMT|Z)$", "+00:00")
        .str.replace("T", " ", literal=True)
    )
    aware = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", strict=False, time_zone="UTC")
    naive = pl.coalesce(
        *[text.str.to_datetime(f, strict=False, time_unit="us") for f in _STRING_FORMATS_NAIVE],
        text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")),
    )
    naive_utc = naive.dt.replace_time_zone(
        timezone, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")
    return pl.coalesce(aware.dt.cast_time_unit("us"), naive_utc)


def normalize_timestamp(
    frame: pl.LazyFrame,
    *,
    unit: str | None = None,
    timezone: str = "UTC",
    files: tuple[str, ...] | list[str] = (),
) -> tuple[pl.LazyFrame, TimestampInfo]:
    """Replace ``timestamp`` with a UTC microsecond datetime; keep the raw text.

    >>> lf = pl.LazyFrame({"timestamp": [1714557600, 1714557601]})
    >>> out, info = normalize_timestamp(lf)
    >>> info.inferred_unit, str(out.collect()["timestamp"][0])
    ('s', '2024-05-01 10:00:00+00:00')
    """
    if unit is not None and unit not in _US_PER:
        raise SchemaError(f"--timestamp-unit {unit!r} is not a unit", hint="use s, ms, us or ns")
    dtype = frame.collect_schema()["timestamp"]
    col = pl.col("timestamp")
    raw = col.cast(pl.String).alias("_timestamp_raw")
    inferred = None
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            parsed = col.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
            how = f"naive datetime read as {timezone}"
        else:
            parsed = col
            how = f"datetime in {dtype.time_zone}"
        parsed = parsed.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    elif dtype == pl.Date:
        parsed = (
            col.cast(pl.Datetime("us"))
            .dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
        )
        how = f"date read as midnight {timezone}"
    elif dtype.is_numeric():
        if unit is None:
            unit = inferred = infer_unit(frame, files)
        factor = _US_PER[unit]
        scaled = (col.cast(pl.Float64) * factor) if factor != 1 else col.cast(pl.Float64)
        parsed = scaled.round(0).cast(pl.Int64, strict=False).cast(pl.Datetime("us", "UTC"))
        how = f"epoch {unit}" + (" (inferred)" if inferred else "")
    elif dtype == pl.String:
        parsed = _parse_strings(col, timezone)
        how = f"ISO-8601 text (no offset = {timezone})"
    elif dtype == pl.Null:  # every value null (a JSON-lines file of such rows): all rejected
        parsed = pl.lit(None, pl.Datetime("us", "UTC"))
        how = "no timestamps (every value is null)"
    else:
        raise SchemaError(
            f"column 'timestamp' has type {dtype}, which is not a time",
            hint="give datetimes, ISO-8601 strings or epoch numbers with --timestamp-unit",
        )
    out = frame.with_columns(raw, parsed.alias("timestamp"))
    return out, TimestampInfo(source_dtype=str(dtype), how=how, inferred_unit=inferred)
