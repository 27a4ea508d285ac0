"""GitHub-flavoured Markdown of a result, for pull-request comments: the headline first.

Cell text is escaped (no HTML, no pipes), so event names cannot break the table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import polars as pl

from funnel.results.records import md_cell

if TYPE_CHECKING:
    from funnel.results.result import FunnelResult

__all__ = ["headline", "md_cell", "result_markdown"]


def _pct(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1%}"


def headline(result: FunnelResult) -> str:
    """One sentence: how many entered and converted, the biggest drop, the top cause."""
    s = result.summary
    text = (
        f"{s['units_entered']:,} {result.spec.unit} entered the funnel and "
        f"{s['units_converted']:,} converted"
        + (f" ({s['conversion']:.1%})" if s.get("conversion") is not None else "")
    )
    steps = result.steps.filter(pl.col("drop_off_rate").is_not_null())
    worst = steps.sort("drop_off_rate", descending=True).head(1)
    if worst.height:
        text += (
            f"; the biggest drop is after '{worst['step'][0]}' "
            f"({worst['drop_off_rate'][0]:.0%} of those who got there left)"
        )
    if result.causes is not None:
        top = result.causes.summary.filter(pl.col("cause") != "unexplained").head(1)
        if top.height and top["abandoned"][0]:
            text += f"; the most common cause is '{top['cause'][0]}' ({top['share'][0]:.0%})"
    return text + "."


def result_markdown(result: FunnelResult) -> str:
    """The result as Markdown: headline, steps with intervals, timing medians, causes."""
    lines = [f"### Funnel {md_cell(result.spec.name)}", "", f"**{md_cell(headline(result))}**"]
    lines += [f"> note: {md_cell(n)}" for n in result.notes]
    if result.summary.get("censoring"):
        lines.append(f"> {md_cell(result.summary['censoring'])}")
    lines += ["", "| step | entered | step conversion | from entry | drop-off |"]
    lines.append("|---|---:|---:|---:|---:|")
    for r in result.steps.iter_rows(named=True):
        conv = (
            f"{_pct(r['step_conversion'])} [{_pct(r['step_conversion_lo'])}, "
            f"{_pct(r['step_conversion_hi'])}]"
            if r["step_conversion"] is not None
            else "–"
        )
        drop = "–" if r["drop_off"] is None else f"{r['drop_off']:,}"
        lines.append(
            f"| {md_cell(r['step'])} | {r['entered']:,} | {conv} | "
            f"{_pct(r['conversion_from_entry'])} | {drop} |"
        )
    lines += ["", "| time | n | median s | p90 s |", "|---|---:|---:|---:|"]
    for r in result.timing.filter(pl.col("kind") != "time_at_exit").iter_rows(named=True):
        what = f"{r['from_step']} → {r['to_step']}" if r["kind"] == "step" else "to convert"
        med = "–" if r["median_s"] is None else f"{r['median_s']:,.1f}"
        p90 = "–" if r["p90_s"] is None else f"{r['p90_s']:,.1f}"
        lines.append(f"| {md_cell(what)} | {r['n']:,} | {med} | {p90} |")
    if result.causes is not None:
        lines += ["", "| primary cause | abandoned | share | value at risk |"]
        lines.append("|---|---:|---:|---:|")
        for r in result.causes.summary.iter_rows(named=True):
            lines.append(
                f"| {md_cell(r['cause'])} | {r['abandoned']:,} | {_pct(r['share'])} | "
                f"{r['value_at_risk'] or 0:,.0f} |"
            )
    return "\n".join(lines) + "\n"
