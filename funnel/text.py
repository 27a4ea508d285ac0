"""Plain-text rendering of results for the terminal (the CLI's ``--format table``)."""

from __future__ import annotations

import math

import polars as pl

from funnel.result import FunnelResult

__all__ = ["format_result", "format_table"]


def _fmt(value: object, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if pct and isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def format_table(df: pl.DataFrame, pct: tuple[str, ...] = ()) -> str:
    """Align a small frame as text; columns named in ``pct`` print as percentages.

    >>> print(format_table(pl.DataFrame({"step": ["cart"], "rate": [0.5]}), pct=("rate",)))
    step  rate
    cart  50.0%
    """
    cells = [[str(c) for c in df.columns]]
    cells += [
        [_fmt(v, c in pct) for c, v in zip(df.columns, row, strict=True)] for row in df.iter_rows()
    ]  # display of a small summary table
    widths = [max(len(r[i]) for r in cells) for i in range(len(df.columns))]
    lines = [
        "  ".join(
            v.ljust(w) if j == 0 else v.rjust(w) if i else v.ljust(w)
            for j, (v, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for i, r in enumerate(cells)
    ]
    return "\n".join(lines)


def _interval(df: pl.DataFrame, col: str) -> pl.Expr:
    return (
        pl.when(pl.col(col).is_not_null())
        .then(
            pl.format(
                "{}% [{}–{}]",
                (pl.col(col) * 100).round(1),
                (pl.col(f"{col}_lo") * 100).round(1),
                (pl.col(f"{col}_hi") * 100).round(1),
            )
        )
        .alias(col)
    )


def format_result(result: FunnelResult) -> str:
    """The whole result as text: ledger, summary, steps, timing, breakdown and trend."""
    s = result.summary
    out = [f"funnel '{result.spec.name}' ({result.spec.mode}, unit: {result.spec.unit})", ""]
    out += ["Ledger", *result.ledger.summary_lines(), ""]
    conv = s.get("conversion")
    out.append(
        f"{s['events_used']:,} events, {s['sessions']:,} sessions, {s['users']:,} users; "
        f"{s['units_entered']:,} {result.spec.unit} entered, {s['units_converted']:,} converted"
        + (f" ({conv:.1%})" if conv is not None else "")
    )
    steps = result.steps.select(
        "step",
        "entered",
        "reached_next",
        _interval(result.steps, "step_conversion"),
        _interval(result.steps, "conversion_from_entry"),
        "drop_off",
    )
    out += ["", "Steps (Wilson 95% intervals)", format_table(steps)]
    timing = result.timing.select(
        "kind", "from_step", "to_step", "n", "median_s", "p90_s", "mean_s"
    )
    out += ["", "Timing (seconds)", format_table(timing)]
    if result.breakdown is not None:
        by = [c for c in result.breakdown.columns if c not in result.steps.columns]
        bd = result.breakdown.select(
            *by,
            "step",
            "entered",
            _interval(result.breakdown, "step_conversion"),
            _interval(result.breakdown, "conversion_from_entry"),
        )
        out += ["", f"Breakdown by {', '.join(by)}", format_table(bd)]
    trend = result.trend.select(
        pl.col("period").dt.date(), "units", "converted", _interval(result.trend, "conversion")
    )
    out += ["", "Trend by period of entry", format_table(trend)]
    return "\n".join(out)
