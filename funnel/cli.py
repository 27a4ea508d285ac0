"""The command line: a thin layer over the library (no analysis logic lives here).

Exit codes: 0 success, 1 a funnel error (bad input, bad spec: message and hint on stderr),
2 wrong usage, 3 ``compare --fail-if-worse``: a version is significantly worse than allowed.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from funnel.cli_engine import engine
from funnel.cli_handler import EXIT_WORSE, Commands, check_notes, echo, usage
from funnel.cli_inspect import inspect_cmd
from funnel.cli_options import (
    EXAMPLES,
    Renamed,
    analyze_options,
    arm_option,
    by_option,
    check_run_outputs,
    format_option,
    html_option,
    input_options,
    mapping,
    period,
    shares,
    spec_option,
    strict_option,
    trend_option,
)
from funnel.outputs import write_table
from funnel.render.progress import Progress
from funnel.render.report import write_report
from funnel.render.text import format_causes, format_comparison, format_result
from funnel.results.comparison import parse_gate
from funnel.runners.compare import compare_arms
from funnel.spec.funnel_spec import FunnelSpec
from funnel.versions.compare import CompareOptions

__all__ = ["main"]


@click.group(cls=Commands)
@click.version_option(package_name="checkout-funnel")
def main() -> None:
    """funnel: checkout-abandonment analytics on clickstream dumps."""


@main.command("analyze", epilog=EXAMPLES["analyze"])
@click.argument("events", nargs=-1, required=True)
@spec_option
@by_option
@trend_option
@format_option("table", "json", "markdown")
@click.option(
    "--sessions-out",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the per-session (per-unit) table, with causes (.csv, .parquet or .json).",
)
@click.option("--no-causes", is_flag=True, help="Skip cause attribution.")
@html_option
@strict_option
@input_options
def analyze_cmd(
    events,
    spec_path,
    by,
    trend,
    fmt,
    sessions_out,
    no_causes,
    html_out,
    strict,
    preset,
    maps,
    tz,
    unit,
    min_time,
    max_time,
    rejects,
    quiet,
):
    """Analyse EVENTS (files, folders or globs) with a funnel spec."""
    check_run_outputs(events, html=html_out, sessions_out=sessions_out, rejects_out=rejects)
    spec = FunnelSpec.from_toml(spec_path) if spec_path else None
    options = analyze_options(preset, maps, tz, unit, min_time, max_time, by, trend, rejects)
    with Progress(f"analysing {' '.join(events)}", quiet=quiet) as bar:
        options = replace(options, causes=not no_causes)
        result = engine().analyze(list(events), spec, options, progress=bar.buckets)
        if sessions_out:
            write_table(result.all_units(), sessions_out)
        if html_out:
            write_report(html_out, result, inputs=list(events))
    text = {"json": result.to_json, "markdown": result.to_markdown}.get(fmt)
    echo(text() if text else format_result(result))
    if html_out and not quiet:
        click.echo(f"report written to {html_out}", err=True)
    check_notes(result.notes, quiet=quiet, strict=strict)


@main.command("causes", epilog=EXAMPLES["causes"])
@click.argument("events", nargs=-1, required=True)
@spec_option
@format_option("table", "json")
@click.option(
    "--evidence-out",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the evidence per abandoned unit and cause (.csv, .parquet or .json).",
)
@click.option(
    "--sessions-out",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the per-session table with primary cause and causes.",
)
@strict_option
@input_options
def causes_cmd(
    events,
    spec_path,
    fmt,
    evidence_out,
    sessions_out,
    strict,
    preset,
    maps,
    tz,
    unit,
    min_time,
    max_time,
    rejects,
    quiet,
):
    """Why shoppers left: the cause tables of EVENTS alone (see docs/causes.md)."""
    check_run_outputs(
        events, evidence_out=evidence_out, sessions_out=sessions_out, rejects_out=rejects
    )
    spec = FunnelSpec.from_toml(spec_path) if spec_path else None
    options = analyze_options(preset, maps, tz, unit, min_time, max_time, rejects=rejects)
    with Progress(f"analysing {' '.join(events)}", quiet=quiet) as bar:
        result = engine().analyze(list(events), spec, options, progress=bar.buckets)
    causes = result.causes
    if evidence_out:
        write_table(causes.evidence, evidence_out)
    if sessions_out:
        write_table(result.all_units(), sessions_out)
    echo(causes.to_json() if fmt == "json" else format_causes(causes))
    check_notes(result.notes, quiet=quiet, strict=strict)


@main.command("compare", epilog=EXAMPLES["compare"])
@click.argument("events", nargs=-1, required=True)
@arm_option("Compare the arms in this column (e.g. experiment_arm).", "--by")
@click.option(
    "--split-at",
    metavar="TIME",
    help="Compare units entering before vs from this ISO time on.",
)
@click.option(
    "--period",
    "periods",
    multiple=True,
    metavar="START..END",
    help="Compare units entering in these ranges (give two or more; the first is control).",
)
@spec_option
@click.option(
    "--other-spec",
    type=click.Path(dir_okay=False),
    help="Second spec: compare two spec versions on one dump (or the spec of the 2nd dump).",
)
@click.option(
    "--control", metavar="NAME", help="The version the others are compared with (default: first)."
)
@click.option(
    "--align", multiple=True, metavar="STEP=OTHER", help="Compare step STEP as OTHER (repeatable)."
)
@click.option(
    "--expected-split",
    metavar="SHARES",
    help="The experiment's share of users per version, e.g. 50,50: checks the sample ratio "
    "(segments are not checked).",
)
@click.option(
    "--adjust",
    type=click.Choice(["holm", "bh"]),
    default="holm",
    show_default=True,
    help="Multiple testing across steps: holm (family-wise error) or bh (false discovery).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Significance level.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=2000,
    show_default=True,
    help="Resamples for the intervals of median times (0: none).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--keep-crossovers", is_flag=True, help="Keep users seen in two arms.")
@click.option("--no-causes", is_flag=True, help="Skip cause attribution and the cause mix.")
@format_option("table", "json", "markdown")
@click.option(
    "--fail-if-worse",
    "gates",
    multiple=True,
    callback=lambda ctx, param, value: [usage(parse_gate, g, param) for g in value],
    metavar="STEP_OR_overall:THRESHOLD",
    help="Exit 3 if STEP got significantly worse by more than THRESHOLD "
    "(0.01 or 1pp absolute, 5% relative). Repeatable.",
)
@html_option
@input_options
def compare_cmd(
    events,
    arm,
    split_at,
    periods,
    spec_path,
    other_spec,
    control,
    align,
    expected_split,
    adjust,
    alpha,
    bootstrap,
    seed,
    keep_crossovers,
    no_causes,
    fmt,
    gates,
    html_out,
    preset,
    maps,
    tz,
    unit,
    min_time,
    max_time,
    rejects,
    quiet,
):
    """Compare funnel versions: arms (--arm), two dumps (EVENTS OTHER), two periods
    (--split-at) or two specs (--other-spec) on one dump; see docs/compare.md."""
    if len(events) > 2:
        raise click.UsageError("give one dump, or two dumps to compare (use a folder or a glob)")
    check_run_outputs(events, html=html_out, rejects_out=rejects)
    spec = FunnelSpec.from_toml(spec_path) if spec_path else None
    other = FunnelSpec.from_toml(other_spec) if other_spec else None
    opts = CompareOptions(
        control=control,
        alpha=alpha,
        adjust=adjust,
        expected_split=shares(expected_split),
        bootstrap=bootstrap,
        seed=seed,
        align=mapping(align),
        crossovers="keep" if keep_crossovers else "drop",
    )
    parsed = gates  # parsed by the option (a malformed gate is a usage error)
    aopts = replace(
        analyze_options(preset, maps, tz, unit, min_time, max_time, rejects=rejects),
        causes=not no_causes,
    )
    progress = Progress(f"comparing {' '.join(events)}", quiet=quiet)
    with progress:
        cmp = engine().compare(
            events[0],
            events[1] if len(events) == 2 else None,
            by=arm,
            split_at=split_at,
            periods=[period(p) for p in periods] or None,
            spec=spec,
            other_spec=other,
            options=opts,
            analyze_options=aopts,
        )
        if html_out:
            write_report(html_out, comparison=cmp, inputs=list(events))
    failed = cmp.regressions(parsed)
    text = {"json": cmp.to_json, "markdown": cmp.to_markdown}.get(fmt)
    echo(text() if text else format_comparison(cmp))
    for w in cmp.warnings:
        echo(f"WARNING: {w}", err=True)
    for msg in failed:
        echo(f"FAIL: {msg}", err=True)
    if failed:
        sys.exit(EXIT_WORSE)


@main.command("report", epilog=EXAMPLES["report"])
@click.argument("events", nargs=-1, required=True)
@click.option(
    "--html",
    "-o",
    "--output",
    "out",
    cls=Renamed,
    default="report.html",
    show_default=True,
    metavar="FILE",
    help="The HTML file to write.",
)
@spec_option
@by_option
@arm_option("Also compare the arms in this column (e.g. experiment_arm).", "--compare-by")
@trend_option
@strict_option
@input_options
def report_cmd(
    events,
    out,
    spec_path,
    by,
    arm,
    trend,
    strict,
    preset,
    maps,
    tz,
    unit,
    min_time,
    max_time,
    rejects,
    quiet,
):
    """Write one self-contained HTML report of EVENTS: funnel, timing, causes, trend,
    comparison, ledger and spec, with charts; opens offline."""
    check_run_outputs(events, html=out, rejects_out=rejects)
    spec = FunnelSpec.from_toml(spec_path) if spec_path else None
    extra = (arm,) if arm else ()
    by = tuple(dict.fromkeys((*by, *extra)))
    options = analyze_options(preset, maps, tz, unit, min_time, max_time, by, trend, rejects)
    with Progress(f"reporting on {' '.join(events)}", quiet=quiet) as bar:
        result = engine().analyze(list(events), spec, options, progress=bar.buckets)
        cmp = compare_arms(result, arm) if arm else None
        write_report(out, result, cmp, inputs=list(events))
    if not quiet:
        click.echo(f"report written to {out}")
    check_notes(result.notes, quiet=quiet, strict=strict)


@main.command("validate", epilog=EXAMPLES["validate"])
@click.argument("events", nargs=-1, required=True)
@format_option("table", "json")
@input_options
def validate_cmd(events, fmt, preset, maps, tz, unit, min_time, max_time, rejects, quiet):
    """Check EVENTS against the data contract: schema and ledger only."""
    check_run_outputs(events, rejects_out=rejects)
    opts = analyze_options(preset, maps, tz, unit, min_time, max_time, rejects=rejects)
    with Progress(f"validating {' '.join(events)}", quiet=quiet) as bar:
        ledger = engine().validate(list(events), opts, progress=bar.buckets)
    echo(ledger.to_json() if fmt == "json" else "\n".join(ledger.summary_lines()))


@main.command("simulate", epilog=EXAMPLES["simulate"])
@click.argument("out", type=click.Path(file_okay=False))
@click.option(
    "--users", default=4000, show_default=True, type=click.IntRange(min=1), help="Shoppers."
)
@click.option("--seed", default=7, show_default=True, help="Seed of the simulation.")
@click.option(
    "--days", default=21, show_default=True, type=click.IntRange(min=1), help="Days of traffic."
)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also write the planted cause of every session (Parquet).",
)
def simulate_cmd(out, users, seed, days, truth):
    """Write a simulated event dump (the generator of sample_events/) to folder OUT,
    50,000 users at a time (any size in bounded memory)."""
    from funnel.simulate import write_simulation

    n = write_simulation(Path(out), n_users=users, seed=seed, days=days, truth=truth)
    click.echo(f"wrote {n:,} events to {Path(out) / 'events.parquet'}")


main.add_command(inspect_cmd)

if __name__ == "__main__":  # pragma: no cover
    main()
