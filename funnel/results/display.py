"""Tables a stakeholder reads (notebook display and the HTML report); the DataFrames behind
them keep their machine-readable columns.

* a rate and its interval in one cell: ``64.7% [62.9–66.5]``; none on a value that is
  100% by definition (conversion from entry at the entry step);
* differences of rates in percentage points, relative ones in percent, ratios with two
  decimals, p-values with two significant digits;
* counts with thousands separators, missing as "–", money with the spec's currency in the
  header, seconds said in the header (``Median (s)``), headers in words;
* wide tables split: the key columns (:data:`MAIN`, per table) in the table, the rest
  folded below it in a ``<details>`` with the first column repeated. Everything is
  escaped.

>>> df = pl.DataFrame({"step": ["cart", "buy"], "entered": [1200, 450],
...     "conversion_from_entry": [1.0, 0.375], "conversion_from_entry_lo": [0.99, 0.35],
...     "conversion_from_entry_hi": [1.0, 0.4]})
>>> head, rows = display_rows(df)
>>> head
['Step', 'Entered', 'Conversion from entry']
>>> rows
[['cart', '1,200', '100%'], ['buy', '450', '37.5% [35.0–40.0]']]
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from typing import Any

import polars as pl

__all__ = ["display_rows", "stakeholder_html"]

MISSING = "–"
WIDE = 8  # columns shown before the rest is folded
_PERCENT = re.compile(r"(conversion|rate|share)")
_POINTS = re.compile(r"^(diff|mde)$")  # differences of rates: percentage points
_RELATIVE = re.compile(r"^(rel_diff|mde_rel)$")
_RATIO = re.compile(r"(risk_ratio|odds_ratio)$")
_PVALUE = re.compile(r"^(p_value|q_value|p_adjusted|srm_p)$")
_MONEY = {"value_at_risk", "mean_cart_value", "cart_value"}
# the columns a stakeholder reads first, per table (by a column only that table has)
MAIN = {
    "exposure": [
        "cause",
        "exposed_from",
        "exposed",
        "abandon_rate_exposed",
        "abandon_rate_unexposed",
        "risk_ratio",
        "excess_abandoned",
        "p_value",
    ],
    "drivers": [
        "feature",
        "share_abandoned",
        "share_converted",
        "odds_ratio",
        "q_value",
        "significant",
        "cause",
    ],
    "trend": ["period", "units", "converted", "conversion"],
    "after_exit": ["exit_step", "path", "units", "share"],
    "returns": ["exit_step", "abandoned", "observed", "came_back_share", "bought_later_share"],
    "versus": [
        "version",
        "step",
        "cause",
        "metric",
        "control_rate",
        "rate",
        "diff",
        "p_adjusted",
        "significant",
    ],
    "timing_versus": [
        "version",
        "kind",
        "from_step",
        "to_step",
        "control_median_s",
        "median_s",
        "diff_median_s",
        "p_adjusted",
        "significant",
    ],
}
_WORDS = {"n": "N", "p90_s": "P90 (s)", "p95_s": "P95 (s)", "p75_s": "P75 (s)", "p25_s": "P25 (s)"}


def header(name: str, currency: str | None = None) -> str:
    """A column name in words: ``median_s`` -> ``Median (s)``, money with its currency.

    >>> header("value_at_risk", "EUR"), header("diff_median_s"), header("n")
    ('Value at risk (EUR)', 'Diff median (s)', 'N')
    """
    if name in _WORDS:
        return _WORDS[name]
    unit = ""
    if name.endswith("_s"):
        name, unit = name[:-2], " (s)"
    if name in _MONEY and currency:
        unit = f" ({currency})"
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:] + unit


def _interval_columns(name: str, columns: list[str]) -> tuple[str, str] | None:
    if name.endswith("_s"):
        lo, hi = f"{name[:-2]}_lo_s", f"{name[:-2]}_hi_s"
    else:
        lo, hi = f"{name}_lo", f"{name}_hi"
    return (lo, hi) if lo in columns and hi in columns else None


def _number(name: str, v: float) -> str:
    if _PERCENT.search(name):
        return f"{v:.1%}"
    if _POINTS.match(name):
        return f"{v * 100:+.1f} pp"
    if _RELATIVE.match(name):
        return f"{v:+.1%}"
    if _RATIO.search(name):
        return f"{v:.2f}"
    if _PVALUE.match(name):
        return "<0.001" if v < 0.001 else f"{v:.2g}"
    if name in _MONEY:
        return f"{v:,.2f}"
    return f"{v:,.1f}"


def _bounds(name: str, lo: float, hi: float) -> str:
    if _PERCENT.search(name):
        return f"{lo * 100:.1f}–{hi * 100:.1f}"
    if _POINTS.match(name):
        return f"{lo * 100:+.1f}–{hi * 100:+.1f}"
    if _RELATIVE.match(name):
        return f"{lo * 100:+.1f}%–{hi * 100:+.1f}%"
    if _RATIO.search(name):
        return f"{lo:.2f}–{hi:.2f}"
    return f"{lo:,.1f}–{hi:,.1f}"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v)))


def _cell(name: str, v: Any, lo: Any = None, hi: Any = None, *, entry: bool = False) -> str:
    if _missing(v):
        return MISSING
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        text = _number(name, v)
        if name == "conversion_from_entry" and entry:
            return "100%"  # the entry step, by definition: no interval
        if not (_missing(lo) or _missing(hi)):
            text += f" [{_bounds(name, lo, hi)}]"
        return text
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d" if v.time() == dt.time(0) else "%Y-%m-%d %H:%M")
    return str(v)


def display_rows(
    df: pl.DataFrame, *, currency: str | None = None, max_rows: int = 20
) -> tuple[list[str], list[list[str]]]:
    """Headers and text cells of the first ``max_rows`` rows (intervals merged)."""
    return _display(df, currency, max_rows)[1:]


def _display(
    df: pl.DataFrame, currency: str | None, max_rows: int
) -> tuple[list[str], list[str], list[list[str]]]:
    columns = df.columns
    merged = {c: _interval_columns(c, columns) for c in columns}
    hidden = {x for pair in merged.values() if pair for x in pair}
    shown = [c for c in columns if c not in hidden]
    rows = []
    for i, r in enumerate(df.head(max_rows).iter_rows(named=True)):  # a bounded display
        # the entry step: step 1 of a steps table (per segment), else the first row
        entry = r["step_index"] == 1 if "step_index" in r else i == 0
        row = []
        for c in shown:
            pair = merged[c]
            bounds = [r[x] for x in pair] if pair else []
            row.append(_cell(c, r[c], *bounds, entry=entry and r[c] == 1.0))
        rows.append(row)
    return shown, [header(c, currency) for c in shown], rows


def _html(head: list[str], rows: list[list[str]], numeric: list[bool]) -> str:
    th = "".join(
        f'<th class="num">{html.escape(h)}</th>' if n else f"<th>{html.escape(h)}</th>"
        for h, n in zip(head, numeric, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{html.escape(c)}</td>' if n else f"<td>{html.escape(c)}</td>"
            for c, n in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


_KIND_BY_COLUMN = {
    "excess_abandoned": "exposure",
    "odds_ratio": "drivers",
    "period": "trend",
    "path": "after_exit",
    "came_back_share": "returns",
    "diff_median_s": "timing_versus",
    "control_rate": "versus",
}


def _main_of(columns: list[str]) -> list[str] | None:
    """The :data:`MAIN` columns of the table these columns make, if it is one of them."""
    kinds = [kind for col, kind in _KIND_BY_COLUMN.items() if col in columns]
    return MAIN[kinds[0]] if kinds else None


def stakeholder_html(
    df: pl.DataFrame,
    *,
    currency: str | None = None,
    max_rows: int = 20,
    main: list[str] | None = None,
) -> str:
    """The table as HTML: the ``main`` columns (those present, in that order; default: the
    table's :data:`MAIN` columns, or the first :data:`WIDE`) in the table, the rest folded
    below it in a ``<details>`` with the first column repeated; a note when rows are left
    out."""
    names, head, rows = _display(df, currency, max_rows)
    numeric = [
        all(re.match(r"^[-+<]?[\d.,]", r[j]) or r[j] == MISSING for r in rows)
        for j in range(len(head))
    ]
    main = main if main is not None else _main_of(df.columns)
    if main is not None:
        first = [names.index(c) for c in main if c in names]
    else:
        first = list(range(min(WIDE, len(names))))
    rest = [j for j in range(len(names)) if j not in first]

    def part(idx: list[int]) -> str:
        pick = [[r[i] for i in idx] for r in rows]
        return _html([head[i] for i in idx], pick, [numeric[i] for i in idx])

    out = part(first)
    if rest:
        folded = ", ".join(head[i] for i in rest)
        out += (
            f"<details><summary>More columns: {html.escape(folded)}</summary>"
            + part([first[0], *rest])
            + "</details>"
        )
    if df.height > max_rows:
        out += f"<p>… {df.height - max_rows:,} more rows (all of them in the JSON output)</p>"
    return out
