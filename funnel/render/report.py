"""A self-contained HTML report: one file with inline CSS and SVG charts, no scripts, no
network (``funnel report``, ``--html`` on ``analyze`` and ``compare``).

Every piece of text that comes from the data or the user (event names, property values,
file names, spec text) is escaped with :func:`html.escape`; charts are SVG drawn by
:mod:`funnel.render.charts`, whose text matplotlib escapes.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import polars as pl

from funnel.outputs import atomic_path
from funnel.render import charts
from funnel.render.flow import flow_svg
from funnel.render.markdown import headline
from funnel.results.comparison import Comparison
from funnel.results.display import stakeholder_html
from funnel.results.result import FunnelResult

__all__ = ["render_html", "write_report"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2733}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-top:1px solid
#e3e7ec;padding-top:16px} .sub{color:#5b6875} .verdict{font-size:16px;background:#f3f6f9;
padding:10px 14px;border-left:4px solid #3b6ea8} .warn{background:#fdecea;border-left:4px
solid #c8553d;padding:8px 12px} table{border-collapse:collapse;margin:8px 0;font-size:12.5px}
th,td{padding:3px 9px;border-bottom:1px solid #e3e7ec;text-align:left} th{background:#f3f6f9}
figure{margin:8px 0}
figure svg{max-width:100%;height:auto} pre{background:#f3f6f9;padding:10px;overflow:auto;
font-size:12px} .note{color:#5b6875;font-size:12.5px} .scroll{overflow-x:auto}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
details{margin:4px 0 10px} summary{cursor:pointer;color:#5b6875;font-size:12.5px}
"""


def _table(df: pl.DataFrame, max_rows: int = 60, currency: str | None = None) -> str:
    """A table a stakeholder reads (:mod:`funnel.results.display`): rates with intervals in
    one cell, headers in words, wide tables folded."""
    body = stakeholder_html(df, currency=currency, max_rows=max_rows)
    return f'<div class="scroll">{body}</div>'


def _chart(fig: Any, name: str, caption: str) -> str:
    svg = charts.to_svg(fig)
    return (
        f'<figure data-chart="{html.escape(name)}">{svg}'
        f"<figcaption class='note'>{html.escape(caption)}</figcaption></figure>"
    )


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def render_html(
    result: FunnelResult | None = None,
    comparison: Comparison | None = None,
    *,
    title: str | None = None,
    inputs: list[str] | None = None,
) -> str:
    """The report as one HTML string (give a result, a comparison, or both).

    >>> import funnel
    >>> page = render_html(funnel.analyze("sample_events/"))
    >>> page.startswith("<!DOCTYPE html>") and "<script" not in page
    True
    """
    if result is None and comparison is None:
        raise ValueError("render_html needs a result or a comparison")
    name = result.spec.name if result is not None else "comparison"
    title = title or f"Funnel report: {name}"
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if inputs:
        parts.append(f'<p class="sub">Input: {html.escape(", ".join(inputs))}</p>')
    if comparison is not None:
        parts += [f'<p class="warn">{html.escape(w)}</p>' for w in comparison.warnings]
        parts += [f'<p class="verdict">{html.escape(v)}</p>' for v in comparison.verdicts()]
    if result is not None:
        parts.append(f'<p class="verdict">{html.escape(headline(result))}</p>')
        if result.summary.get("censoring"):
            parts.append(f'<p class="note">{html.escape(result.summary["censoring"])}</p>')
        steps = result.steps.select(
            "step",
            "entered",
            "reached_next",
            "step_conversion",
            "step_conversion_lo",
            "step_conversion_hi",
            "conversion_from_entry",
            "conversion_from_entry_lo",
            "conversion_from_entry_hi",
            "drop_off",
            "drop_off_rate",
        )
        if result.notes:  # the spec against the data: names that never occur, nobody entered
            notes = [f'<p class="note">{html.escape(n)}</p>' for n in result.notes]
            parts.append(_section("Checks: the spec against the data", *notes))
        parts.append(
            _section(
                "Funnel",
                _chart(result.plot(), "funnel", "Units entering each step; drop-off in red."),
                _table(steps),
            )
        )
        parts.append(
            _section(
                "Time per step",
                _chart(charts.timing_chart(result), "timing", "Seconds along the matched path."),
                _table(result.timing),
            )
        )
        if result.causes is not None:
            c = result.causes
            parts.append(
                _section(
                    "Why shoppers left",
                    _chart(c.plot(), "causes", "Share of abandoned units by primary cause."),
                    _table(c.summary, currency=result.spec.currency),
                    "<h3>Exposure: excess abandonment (association, not proof)</h3>",
                    _table(c.exposure),
                    "<h3>Drop-off drivers</h3>",
                    _table(c.drivers.filter(pl.col("significant")), max_rows=25),
                )
            )
            parts.append(
                _section(
                    "After the exit: where shoppers went",
                    f'<figure data-chart="after-exit">{flow_svg(c.after_exit)}'
                    "<figcaption class='note'>From the exit step to the next events of the "
                    "same session (up to three; the most common paths per step).</figcaption>"
                    "</figure>",
                    _table(c.after_exit),
                    "<h3>Came back and bought later</h3>",
                    _table(c.returns),
                )
            )
        if result.trend.height:
            parts.append(
                _section(
                    "Trend",
                    _chart(
                        charts.trend_chart(result),
                        "trend",
                        "Conversion by period of entry; grey: periods with fewer than "
                        f"{charts.TREND_MIN_UNITS} {result.spec.unit}, left out of the line.",
                    ),
                    _table(result.trend),
                )
            )
        if result.breakdown is not None and result.breakdown.height:
            multiples = [
                _chart(
                    charts.breakdown_chart(result, by),
                    f"breakdown-{by}",
                    f"Conversion from entry per {by} (the largest {charts.SMALL_MULTIPLES}).",
                )
                for by in result.breakdown.columns
                if by in result.units.columns and result.units_left_in is None
            ]
            parts.append(_section("Breakdown", *multiples, _table(result.breakdown)))
    if comparison is not None:
        parts.append(
            _section(
                f"Comparison against {comparison.control}",
                _chart(comparison.plot(), "comparison", "Differences with 95% intervals."),
                _table(comparison.versions),
                _table(comparison.primary()),
                "<h3>Time per step</h3>",
                _table(comparison.timing),
                *([_table(comparison.causes)] if comparison.causes is not None else []),
                *[f'<p class="note">{html.escape(n)}</p>' for n in comparison.notes],
            )
        )
    ledgers = (
        {"": result.ledger} if result is not None else dict(comparison.ledgers)  # type: ignore[union-attr]
    )
    for label, ledger in ledgers.items():
        lines = "".join(f"<li>{html.escape(x)}</li>" for x in ledger.summary_lines())
        parts.append(
            _section(f"Ledger {label}".strip(), f"<ul>{lines}</ul>", _table(ledger.counts))
        )
    if result is not None:
        spec = result.spec.to_toml()
        parts.append(_section("Spec used (TOML)", f"<pre>{html.escape(spec)}</pre>"))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )


def write_report(path: str | Path, *args: Any, **kwargs: Any) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8); returns the path."""
    out = Path(path)
    page = render_html(*args, **kwargs)  # all of it before the file is touched
    with atomic_path(out) as tmp:  # a failed write is a FunnelError naming the file
        Path(tmp).write_text(page, encoding="utf-8")
    return out
