"""Results as plain data and small HTML/Markdown cells: shared by every result object."""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

import polars as pl

from funnel.results.display import stakeholder_html

__all__ = ["clean", "frame_records", "html_table", "md_cell"]


def clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def frame_records(df: pl.DataFrame | None) -> list[dict[str, Any]] | None:
    """Rows as JSON-ready dicts (NaN -> null, datetimes -> ISO text)."""
    return None if df is None else [clean(r) for r in df.to_dicts()]


def html_table(
    df: pl.DataFrame, title: str, max_rows: int = 20, *, currency: str | None = None
) -> str:
    """A titled table a stakeholder reads (:mod:`funnel.results.display`)."""
    body = stakeholder_html(df, currency=currency, max_rows=max_rows)
    return f"<h4>{html.escape(title)}</h4>{body}"


def md_cell(text: Any) -> str:
    """Text safe inside a Markdown table cell (no pipes, no HTML, one line).

    >>> md_cell("<b>a|b</b>")
    '&lt;b&gt;a\\\\|b&lt;/b&gt;'
    """
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")
