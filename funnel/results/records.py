"""Results as plain data and small HTML/Markdown cells: shared by every result object."""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

import polars as pl

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


def html_table(df: pl.DataFrame, title: str, max_rows: int = 20) -> str:
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


def md_cell(text: Any) -> str:
    """Text safe inside a Markdown table cell (no pipes, no HTML, one line).

    >>> md_cell("<b>a|b</b>")
    '&lt;b&gt;a\\\\|b&lt;/b&gt;'
    """
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")
