"""The result of :func:`funnel.analyze`: a frozen bundle of polars DataFrames.

JSON output (``to_json``) is versioned by ``schema_version``; docs/json.md describes it.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from funnel.spec import FunnelSpec
from funnel.validate import Ledger

__all__ = ["SCHEMA_VERSION", "FunnelResult"]

SCHEMA_VERSION = 1


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def frame_records(df: pl.DataFrame | None) -> list[dict[str, Any]] | None:
    """Rows as JSON-ready dicts (NaN -> null, datetimes -> ISO text)."""
    return None if df is None else [_clean(r) for r in df.to_dicts()]


def _html_table(df: pl.DataFrame, title: str, max_rows: int = 20) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for r in df.head(max_rows).iter_rows():  # display only: a bounded number of rows
        cells = "".join(
            f"<td>{html.escape(f'{v:.4g}' if isinstance(v, float) else str(v))}</td>" for v in r
        )
        rows.append(f"<tr>{cells}</tr>")
    more = f"<p>… {df.height - max_rows} more rows</p>" if df.height > max_rows else ""
    return (
        f"<h4>{html.escape(title)}</h4><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


@dataclass(frozen=True)
class FunnelResult:
    """Everything :func:`funnel.analyze` found.

    Attributes
    ----------
    spec : the funnel that was analysed
    ledger : where every input row went
    steps : one row per step (entered, reached_next, rates with intervals, drop-off)
    timing : time distributions in seconds per transition, to convert, at exit
    units : one row per session (or user) that entered the funnel
    breakdown : the steps table per segment value, or None without ``by``
    trend : conversion per period of entry
    summary : headline numbers
    """

    spec: FunnelSpec
    ledger: Ledger
    steps: pl.DataFrame
    timing: pl.DataFrame
    units: pl.DataFrame
    trend: pl.DataFrame
    breakdown: pl.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, include_units: bool = False) -> dict[str, Any]:
        """Plain data with ``schema_version``; ``include_units`` adds the per-unit rows."""
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "spec": self.spec.to_dict(),
            "ledger": self.ledger.to_dict(),
            "summary": _clean(self.summary),
            "steps": frame_records(self.steps),
            "timing": frame_records(self.timing),
            "breakdown": frame_records(self.breakdown),
            "trend": frame_records(self.trend),
        }
        if include_units:
            out["units"] = frame_records(self.units)
        return out

    def to_json(self, *, include_units: bool = False, indent: int | None = 2) -> str:
        """Stable JSON (keys in a fixed order); see docs/json.md."""
        return json.dumps(self.to_dict(include_units=include_units), indent=indent)

    def __repr__(self) -> str:
        s = self.summary
        conv = s.get("conversion")
        conv_text = (
            "n/a"
            if conv is None or (isinstance(conv, float) and math.isnan(conv))
            else f"{conv:.1%}"
        )
        return (
            f"FunnelResult({self.spec.name!r}: {len(self.spec.steps)} steps, "
            f"{s.get('units_entered', 0)} {self.spec.unit} entered, {conv_text} converted, "
            f"{self.ledger.total()} rows read)"
        )

    def _repr_html_(self) -> str:
        parts = [f"<div><strong>{html.escape(repr(self))}</strong>"]
        parts.append(
            _html_table(
                self.steps.select(
                    "step",
                    "entered",
                    "reached_next",
                    "step_conversion",
                    "conversion_from_entry",
                    "drop_off",
                ),
                "Steps",
            )
        )
        parts.append(_html_table(self.timing, "Timing (seconds)"))
        parts.append(_html_table(self.ledger.counts, "Ledger"))
        return "".join(parts) + "</div>"
