"""Validate: mark every row that cannot be used, with a reason, and keep the books (the ledger).

Every input row ends in exactly one of three outcomes:

* ``rejected`` with a reason — ``null_user`` (null or empty user), ``null_event`` (null or
  empty event), ``bad_timestamp`` (unreadable), ``future_timestamp`` (later than
  ``max_time``, by default the moment the run started), ``before_floor`` (earlier than
  ``min_time``, default 2000-01-01); the first reason in that order wins;
* ``duplicate``: an exact duplicate of a kept row (same user, instant, event and
  properties), dropped — see :mod:`funnel.sessionize`;
* ``used``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import polars as pl

__all__ = ["REJECT_REASONS", "Ledger", "ValidateOptions", "mark_rejects"]

REJECT_REASONS = ("null_user", "null_event", "bad_timestamp", "future_timestamp", "before_floor")


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
    reason = (
        pl.when(pl.col("user_id").is_null() | (pl.col("user_id") == ""))
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


@dataclass(frozen=True)
class Ledger:
    """Where every input row went: one row per (file, outcome, reason) with a count.

    ``counts`` columns: ``file``, ``outcome`` (used | duplicate | rejected), ``reason``
    (null unless rejected), ``rows``. ``notes`` records what loading inferred.
    """

    counts: pl.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def build(
        cls,
        totals: pl.DataFrame,
        rejects: pl.DataFrame,
        duplicates: pl.DataFrame,
        notes: tuple[str, ...] = (),
    ) -> Ledger:
        """Assemble from per-file totals, per-(file, reason) rejects and per-file duplicates."""
        rej = rejects.select(
            pl.col("_file").alias("file"),
            pl.lit("rejected").alias("outcome"),
            pl.col("_reject").alias("reason"),
            pl.col("rows").cast(pl.Int64),
        )
        dup = duplicates.select(
            pl.col("_file").alias("file"),
            pl.lit("duplicate").alias("outcome"),
            pl.lit(None, pl.String).alias("reason"),
            pl.col("rows").cast(pl.Int64),
        )
        lost = pl.concat([rej, dup]).group_by("file").agg(pl.col("rows").sum().alias("lost"))
        used = (
            totals.select(pl.col("_file").alias("file"), pl.col("rows").cast(pl.Int64))
            .join(lost, on="file", how="left")
            .select(
                "file",
                pl.lit("used").alias("outcome"),
                pl.lit(None, pl.String).alias("reason"),
                (pl.col("rows") - pl.col("lost").fill_null(0)).alias("rows"),
            )
        )
        counts = (
            pl.concat([used, dup, rej])
            .filter(pl.col("rows") > 0)
            .sort("file", "outcome", "reason", nulls_last=True)
        )
        return cls(counts=counts, notes=tuple(notes))

    def total(self, outcome: str | None = None) -> int:
        """Rows in all, or with one outcome."""
        df = self.counts if outcome is None else self.counts.filter(pl.col("outcome") == outcome)
        return int(df["rows"].sum())

    def by_reason(self) -> dict[str, int]:
        """Rejected rows per reason, over all files."""
        rej = self.counts.filter(pl.col("outcome") == "rejected")
        return {
            r: int(rej.filter(pl.col("reason") == r)["rows"].sum())
            for r in REJECT_REASONS
            if r in rej["reason"].to_list()
        }

    def to_dict(self) -> dict:
        return {
            "rows": self.total(),
            "used": self.total("used"),
            "duplicates": self.total("duplicate"),
            "rejected": self.total("rejected"),
            "rejected_by_reason": self.by_reason(),
            "by_file": self.counts.to_dicts(),
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary_lines(self) -> list[str]:
        """Short human-readable lines, as the CLI prints them."""
        lines = [
            f"rows read {self.total():,}: used {self.total('used'):,}, "
            f"duplicates dropped {self.total('duplicate'):,}, rejected {self.total('rejected'):,}"
        ]
        lines += [f"  rejected {reason}: {n:,}" for reason, n in self.by_reason().items()]
        if self.counts["file"].n_unique() > 1:
            for f in self.counts["file"].unique().sort():
                sub = self.counts.filter(pl.col("file") == f)
                parts = ", ".join(
                    f"{o} {int(sub.filter(pl.col('outcome') == o)['rows'].sum()):,}"
                    for o in ("used", "duplicate", "rejected")
                )
                lines.append(f"  {f}: {parts}")
        lines += [f"  note: {n}" for n in self.notes]
        return lines

    def __repr__(self) -> str:
        return (
            f"Ledger(rows={self.total()}, used={self.total('used')}, "
            f"duplicates={self.total('duplicate')}, rejected={self.total('rejected')})"
        )

    def _repr_html_(self) -> str:
        import html

        from funnel.result import _html_table  # deferred: result imports this module

        lines = "".join(f"<li>{html.escape(x.strip())}</li>" for x in self.summary_lines())
        table = _html_table(self.counts, "Rows by file, outcome and reason", self.counts.height)
        return f"<div><strong>{html.escape(repr(self))}</strong><ul>{lines}</ul>{table}</div>"
