"""Plain-text rendering of results for the terminal (the CLI's ``--format table``)."""

from __future__ import annotations

import math

import polars as pl

from funnel.result import CauseTables, FunnelResult

__all__ = ["format_causes", "format_result", "format_table"]


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
    if result.causes is not None:
        out += ["", format_causes(result.causes, drivers=5)]
    return "\n".join(out)


def _bracket(col: str, digits: int) -> pl.Expr:
    """``value [lo–hi]`` from ``col``, ``col_lo``, ``col_hi``."""
    parts = [pl.col(c).round(digits) for c in (col, f"{col}_lo", f"{col}_hi")]
    return pl.format("{} [{}–{}]", *parts).alias(col)


def format_causes(causes: CauseTables, drivers: int = 15) -> str:
    """Cause tables as text: primary causes, exit steps, exposure, top drivers."""
    summary = causes.summary.select(
        "cause",
        "abandoned",
        _interval(causes.summary, "share"),
        "with_evidence",
        pl.col("value_at_risk").round(0),
    )
    out = ["Why abandoned units left (primary cause; share with Wilson 95% interval)"]
    out += [format_table(summary), ""]
    by_step = causes.by_step.select(
        "exit_step", "cause", "abandoned", _interval(causes.by_step, "share_of_step")
    )
    out += ["By exit step", format_table(by_step), ""]
    exp = causes.exposure.select(
        "cause",
        "exposed_from",
        "exposed",
        pl.format(
            "{}% vs {}%",
            (pl.col("abandon_rate_exposed") * 100).round(1),
            (pl.col("abandon_rate_unexposed") * 100).round(1),
        ).alias("abandon_exposed_vs_not"),
        _bracket("risk_ratio", 2),
        _bracket("excess_abandoned", 1),
    )
    out += ["Exposure (association, not proof): abandonment if exposed vs not", format_table(exp)]
    top = causes.drivers.filter(pl.col("significant")).head(drivers)
    if top.height:
        table = top.select(
            "feature",
            "abandoned_with",
            "converted_with",
            pl.col("odds_ratio").round(2),
            pl.when(pl.col("q_value") < 0.001)
            .then(pl.lit("<0.001"))
            .otherwise(pl.col("q_value").round(3).cast(pl.String))
            .alias("q_value"),
            pl.col("cause").fill_null("-"),
        )
        out += ["", "Drop-off drivers (q < 0.05, over-represented in abandoned units)"]
        out.append(format_table(table))
    for note in causes.notes:
        out.append(f"note: {note}")
    return "\n".join(out)
