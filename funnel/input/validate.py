"""Validate: mark every row that cannot be used, with a reason, and keep the books (the ledger).

Every input row ends in exactly one of three outcomes:

* ``rejected`` with a reason — ``malformed`` (a row of a text file that cannot be read as
  one: ragged, not JSON, a value not of its column's type; ``_malformed`` says what, and
  ``_line`` where, see :mod:`funnel.input.text`), ``null_user`` (null or empty user),
  ``null_event`` (null or empty event), ``bad_timestamp`` (unreadable),
  ``future_timestamp`` (later than ``max_time``, by default the moment the run started),
  ``before_floor`` (earlier than ``min_time``, default 2000-01-01); the first reason in
  that order wins;
* ``duplicate``: an exact duplicate of a kept row (same user, instant, event and
  properties), dropped — see :mod:`funnel.engine.sessionize`;
* ``used``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

__all__ = ["MARKS", "REJECT_REASONS", "ValidateOptions", "mark_rejects"]

# the columns every row carries after loading and validation, beside the data's own
MARKS = ("_file", "_line", "_malformed", "_reject", "_timestamp_raw")

REJECT_REASONS = (
    "malformed",
    "null_user",
    "null_event",
    "bad_timestamp",
    "future_timestamp",
    "before_floor",
)


@dataclass(frozen=True, kw_only=True)
class ValidateOptions:
    """Bounds for plausible timestamps (UTC). ``max_time`` None means "now"."""

    min_time: dt.datetime = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    max_time: dt.datetime | None = None


def mark_rejects(frame: pl.LazyFrame, options: ValidateOptions | None = None) -> pl.LazyFrame:
    """Add ``_reject``: the reason a row cannot be used, or null.

    >>> lf = pl.LazyFrame({"user_id": ["a", ""], "event": ["x", "y"],
    ...     "timestamp": pl.Series([1, 2]).cast(pl.Datetime("us", "UTC"))})
    >>> mark_rejects(lf, ValidateOptions(min_time=dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
    ...     ).collect()["_reject"].to_list()
    [None, 'null_user']
    """
    options = options or ValidateOptions()
    max_time = options.max_time or dt.datetime.now(dt.timezone.utc)
    ts = pl.col("timestamp")
    user = pl.col("user_id")
    no_user = user.is_null()
    if frame.collect_schema()["user_id"] == pl.String:  # integer ids cannot be empty
        no_user = no_user | (user == "")
    malformed = pl.lit(False)
    if "_malformed" in frame.collect_schema().names():  # rows of text files
        malformed = pl.col("_malformed").is_not_null()
    reason = (
        pl.when(malformed)
        .then(pl.lit("malformed"))
        .when(no_user)
        .then(pl.lit("null_user"))
        .when(pl.col("event").is_null() | (pl.col("event") == ""))
        .then(pl.lit("null_event"))
        .when(ts.is_null())
        .then(pl.lit("bad_timestamp"))
        .when(ts > pl.lit(max_time).dt.convert_time_zone("UTC"))
        .then(pl.lit("future_timestamp"))
        .when(ts < pl.lit(options.min_time).dt.convert_time_zone("UTC"))
        .then(pl.lit("before_floor"))
        .otherwise(pl.lit(None, pl.String))
    )
    return frame.with_columns(reason.alias("_reject"))
