"""Plain-text rendering of results for the terminal (the CLI's ``--format table``)."""

from __future__ import annotations

import math
import re

import polars as pl

from funnel.render.terminal import rich_table
from funnel.results.comparison import Comparison
from funnel.results.inspection import Inspection
from funnel.results.result import CauseTables, FunnelResult

__all__ = ["format_causes", "format_comparison", "format_result", "format_table"]


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
    """A small frame as a terminal table (rich); columns named in ``pct`` print as
    percentages, missing values as "-", text from the data with control characters escaped.

    >>> print(format_table(pl.DataFrame({"step": ["cart"], "rate": [0.5]}), pct=("rate",)))
     step    rate
    ──────────────
     cart   50.0%
    """
    rows = [
        [_fmt(v, c in pct) for c, v in zip(df.columns, row, strict=True)] for row in df.iter_rows()
    ]  # display of a small summary table
    # numbers and rates align right; names and labels left
    number = re.compile(r"^[-+]?[\d.,]+%?( \[[\d.,]+–[\d.,]+\])?$|^-$")
    right = [
        df[c].dtype.is_numeric() or all(number.match(r[j]) for r in rows)
        for j, c in enumerate(df.columns)
    ]
    return rich_table([str(c) for c in df.columns], rows, right)


def _interval(df: pl.DataFrame, col: str) -> pl.Expr:
    rate = pl.when(pl.col(col).is_not_null()).then(
        pl.format(
            "{}% [{}–{}]",
            (pl.col(col) * 100).round(1),
            (pl.col(f"{col}_lo") * 100).round(1),
            (pl.col(f"{col}_hi") * 100).round(1),
        )
    )
    if col == "conversion_from_entry":  # 100% at the entry step by definition: no interval
        first = (
            pl.col("step_index") == 1 if "step_index" in df.columns else pl.int_range(pl.len()) == 0
        )
        rate = pl.when(first & (pl.col(col) == 1.0)).then(pl.lit("100%")).otherwise(rate)
    return rate.alias(col)


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
    if s.get("censoring"):
        out.append(s["censoring"])
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
        "ambiguous",
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
    flagged = causes.drivers.filter(pl.col("flag").is_not_null())
    if flagged.height:  # complete separation: they restate the outcome
        listed = ", ".join(f"{f} ({why})" for f, why in flagged.select("feature", "flag").rows())
        out.append(f"note: left out of the drivers, as they restate the outcome: {listed}")
    if causes.after_exit.height:
        paths = causes.after_exit.filter(
            pl.int_range(pl.len()).over("exit_step") < 3  # the top three per step
        ).select("exit_step", "path", "units", _interval(causes.after_exit, "share"))
        out += ["", "After the exit: the most common next events (share of the step's exits)"]
        out.append(format_table(paths))
        back = causes.returns.select(
            "exit_step",
            "abandoned",
            "observed",
            _interval(causes.returns, "came_back_share"),
            _interval(causes.returns, "bought_later_share"),
        )
        out += ["", "Came back and bought later (of units whose horizon the data cover)"]
        out.append(format_table(back))
    for note in causes.notes:
        out.append(f"note: {note}")
    return "\n".join(out)


def _diff(col: str, scale: float, digits: int = 1) -> pl.Expr:
    """``+d [lo, hi]`` from ``col``, ``col_lo``, ``col_hi`` (or ``_lo_s``/``_hi_s``)."""
    lo, hi = (f"{col}_lo", f"{col}_hi")
    if col.endswith("_s"):
        lo, hi = f"{col[:-2]}_lo_s", f"{col[:-2]}_hi_s"
    fmt = [(pl.col(c) * scale).round(digits) for c in (col, lo, hi)]
    return pl.format("{} [{}, {}]", *fmt).alias(col)


def _pvalue(col: str) -> pl.Expr:
    return (
        pl.when(pl.col(col) < 0.0001)
        .then(pl.lit("<0.0001"))
        .otherwise(pl.col(col).round(4).cast(pl.String))
        .alias(col)
    )


def format_comparison(cmp: Comparison) -> str:
    """A comparison as text: verdicts and warnings first, then the tables."""
    out = [f"WARNING: {w}" for w in cmp.warnings]
    out += cmp.verdicts()
    versions = cmp.versions.select(
        "version",
        "role",
        "spec",
        "units",
        "users",
        "converted",
        _interval(cmp.versions, "conversion"),
    )
    out += ["", "Versions", format_table(versions)]
    for metric, title in (
        ("conversion_from_entry", "Conversion from entry (primary metric)"),
        ("step_conversion", "Step conversion (from the previous shared step)"),
    ):
        rows = cmp.steps.filter(pl.col("metric") == metric, pl.col("test") != "none")
        table = rows.select(
            "version",
            "step",
            "control_rate",
            "rate",
            _diff("diff", 100).alias("diff_pp"),
            "test",
            _pvalue("p_adjusted"),
            pl.col("significant").replace_strict({True: "yes", False: ""}, return_dtype=pl.String),
            (pl.col("mde") * 100).round(1).alias("mde_pp"),
        )
        out += ["", title, format_table(table, pct=("control_rate", "rate"))]
    timing = cmp.timing.select(
        "version",
        pl.coalesce(pl.format("{} -> {}", "from_step", "to_step"), pl.col("kind")).alias("time"),
        "control_n",
        "n",
        pl.col("control_median_s").round(1),
        pl.col("median_s").round(1),
        _diff("diff_median_s", 1),
        _pvalue("p_adjusted"),
    )
    out += ["", "Time per step, medians in seconds (bootstrap 95% interval, Mann-Whitney)"]
    out.append(format_table(timing))
    if cmp.causes is not None:
        causes = cmp.causes.select(
            "version",
            "cause",
            "control_rate",
            "rate",
            _diff("diff", 100).alias("diff_pp"),
            _pvalue("p_adjusted"),
        )
        out += ["", "Abandonment by primary cause (share of units entered)"]
        out.append(format_table(causes, pct=("control_rate", "rate")))
        mix = cmp.summary.get("cause_mix")
        if mix:
            chi = f"chi-square {mix['chi2']:.2f}, {mix['dof']} df"
            out.append(f"cause mix: {chi}, p = {mix['p_value']:.4g}")
    if cmp.one_sided.height:
        out += [
            "",
            "Steps in one version only",
            format_table(
                cmp.one_sided.select("version", "step", "entered", "conversion_from_entry"),
                pct=("conversion_from_entry",),
            ),
        ]
    if cmp.srm is not None:
        p = cmp.summary["sample_ratio_p"]
        out += ["", f"Sample ratio (users per version; chi-square p = {p:.4g})"]
        out.append(format_table(cmp.srm, pct=("expected_share", "observed_share")))
    s = cmp.summary
    out += [
        "",
        f"{s['adjust']}-adjusted p-values at alpha {s['alpha']}; mde_pp: smallest "
        f"difference detected with {s['power']:.0%} power",
    ]
    out += [f"note: {n}" for n in cmp.notes]
    return "\n".join(out)


def format_inspection(found: Inspection) -> str:
    """What ``funnel inspect`` prints: the ledger, events, columns and the starter spec."""
    s = found.summary
    out = [
        f"{s['rows']:,} valid rows, {s['users']:,} users, from {s['first']} to {s['last']}",
        "",
        "Ledger",
        *found.ledger.summary_lines(),
        "",
        "Events",
        format_table(found.events, pct=("share",)),
        "",
        "Columns",
        format_table(found.columns, pct=("null_share",)),
        "",
        *[f"note: {n}" for n in found.notes],
    ]
    if found.starter is not None:
        out += ["", "Starter spec (--spec-out FILE writes it)", found.starter.to_toml()]
    return "\n".join(out)
