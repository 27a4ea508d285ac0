"""The ledger: where every input row went (used, duplicate, rejected with a reason), per file."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

import polars as pl

from funnel.input.validate import REJECT_REASONS
from funnel.results.records import html_table

__all__ = ["Ledger"]


def _where(rejects: pl.DataFrame) -> list[str]:
    """Where the first rejected row of each (file, reason) of a text file is, and for a
    malformed row what is wrong with it.

    >>> _where(pl.DataFrame({"_file": ["e.csv"], "_reject": ["malformed"], "rows": [2],
    ...     "first_line": [7], "detail": ["3 fields, the header has 4"]}))[0][:59]
    'e.csv: 2 malformed rows, the first at line 7 (3 fields, the'
    """
    if "first_line" not in rejects.columns:
        return []
    notes = []
    first = rejects.filter(pl.col("first_line").is_not_null()).sort("_file", "_reject")
    for file, reason, rows, line, detail in first.select(
        "_file", "_reject", "rows", "first_line", "detail"
    ).iter_rows():  # one per (file, reason)
        what = f" ({detail})" if detail else ""
        notes.append(
            f"{file}: {rows:,} {reason} row{'' if rows == 1 else 's'}, the first at line "
            f"{line}{what}; --rejects-out FILE lists them all"
        )
    return notes


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
        return cls(counts=counts, notes=(*notes, *_where(rejects)))

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
        lines = "".join(f"<li>{html.escape(x.strip())}</li>" for x in self.summary_lines())
        table = html_table(self.counts, "Rows by file, outcome and reason", self.counts.height)
        return f"<div><strong>{html.escape(repr(self))}</strong><ul>{lines}</ul>{table}</div>"
