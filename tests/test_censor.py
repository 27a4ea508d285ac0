"""Censoring (funnel.engine.censor): units that ended within the horizon of the end of the
data are cut off, not lost — left out of every table, kept aside, counted in every output.

The random-log comparisons with the reference are in test_engine_vs_reference.py (units)
and test_causes.py (evidence, exposure, drivers); here: the cases a user meets."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from click.testing import CliRunner

import funnel
from funnel.cli import main

SPEC = funnel.FunnelSpec.from_dict(
    {"steps": [{"event": "cart"}, {"event": "checkout"}, {"event": "purchase"}]}
)
T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def _log(sessions: list[tuple[str, int, list[str]]]) -> pl.DataFrame:
    """(user, start minute, events one minute apart) -> rows."""
    rows = [
        {"user_id": u, "event": e, "timestamp": T0 + dt.timedelta(minutes=m + i)}
        for u, m, events in sessions
        for i, e in enumerate(events)
    ]
    return pl.DataFrame(rows)


# a day of shoppers, and at the end of the export three cart abandoners still shopping:
# the file was cut while they were in checkout (the case of the issue: cut off, not lost)
DAY = _log(
    [
        ("a", 0, ["cart", "checkout", "purchase"]),
        ("b", 60, ["cart"]),
        ("c", 120, ["cart", "checkout"]),
        ("d", 600, ["cart", "checkout", "purchase"]),
        ("e", 1400, ["cart", "checkout"]),  # ends 1401, 29 min before the end: censored
        ("f", 1425, ["cart"]),
        ("g", 1428, ["cart", "checkout", "purchase"]),  # converted, ends at the very end
        ("h", 1380, ["cart"]),  # ends 1380: 50 min before the end, over
    ]
)


def test_units_that_ended_near_the_end_of_the_data_are_left_out_by_default():
    result = funnel.analyze(DAY, SPEC)
    assert sorted(result.censored["user_id"]) == ["e", "f", "g"]  # ended within 30m of 1430
    assert sorted(result.units["user_id"]) == ["a", "b", "c", "d", "h"]
    assert result.steps["entered"].to_list() == [5, 3, 2]
    assert result.summary["units_censored"] == 3
    assert result.summary["data_end"] == T0 + dt.timedelta(minutes=1430)
    assert result.summary["censoring"].startswith(
        "3 sessions censored: they ended within 30m of the end of the data (2024-05-01 "
        "23:50:00 UTC)"
    )
    # the censored units are in no table: not abandoned, no cause, no exposure
    assert result.causes.summary["abandoned"].sum() == 3  # b, c, h
    assert result.causes.evidence.filter(pl.col("user_id").is_in(["e", "f"])).is_empty()


def test_censor_off_keeps_every_unit_and_a_horizon_moves_the_cut():
    off = funnel.analyze(DAY, SPEC, funnel.AnalyzeOptions(censor=None))
    assert off.units.height == 8 and off.censored.is_empty()
    assert off.summary["censoring"] is None and off.summary["units_censored"] == 0
    wide = funnel.analyze(DAY, SPEC, funnel.AnalyzeOptions(censor="1h"))
    assert sorted(wide.censored["user_id"]) == ["e", "f", "g", "h"]
    # a unit ending exactly the horizon before the end is censored (within, inclusive)
    edge = funnel.analyze(DAY, SPEC, funnel.AnalyzeOptions(censor="50m"))
    assert "h" in edge.censored["user_id"].to_list()


def test_a_bad_horizon_is_a_spec_error_naming_the_option():
    with pytest.raises(funnel.SpecError, match="censor: cannot read duration"):
        funnel.analyze(DAY, SPEC, funnel.AnalyzeOptions(censor="soon"))
    with pytest.raises(funnel.SpecError, match="censor: the horizon must be positive"):
        funnel.analyze(DAY, SPEC, funnel.AnalyzeOptions(censor="0s"))


def test_users_over_a_window_are_censored_over_the_window():
    spec = funnel.FunnelSpec.from_dict({**SPEC.source, "unit": "users", "window": "2h"})
    result = funnel.analyze(DAY, spec)
    # the auto horizon is the window: every unit that ended in the last 2 hours
    assert sorted(result.censored["user_id"]) == ["e", "f", "g", "h"]


def test_when_every_unit_is_censored_the_note_says_so():
    tiny = _log([("a", 0, ["cart", "checkout"]), ("b", 5, ["cart"])])
    result = funnel.analyze(tiny, SPEC)
    assert result.summary["units_entered"] == 0
    assert result.notes[0].startswith(
        "no unit entered the funnel that the data shows to the end: all 2 sessions that "
        "entered were censored"
    )


def test_every_output_counts_them(tmp_path):
    path = tmp_path / "day.parquet"
    DAY.write_parquet(path)
    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[[steps]]\nevent = "cart"\n[[steps]]\nevent = "checkout"\n'
        '[[steps]]\nevent = "purchase"\n[attribution]\nbuiltin = false\n'
    )
    run = CliRunner().invoke
    args = ["analyze", str(path), "--spec", str(spec)]
    table = run(main, args)
    assert table.exit_code == 0, table.output
    assert "3 sessions censored: they ended within 30m" in table.output
    doc = json.loads(run(main, [*args, "--format", "json"]).stdout)
    assert doc["summary"]["units_censored"] == 3
    assert doc["summary"]["data_end"] == "2024-05-01T23:50:00+00:00"
    md = run(main, [*args, "--format", "markdown"]).output
    assert "> 3 sessions censored" in md
    out = tmp_path / "sessions.csv"
    assert run(main, [*args, "--sessions-out", str(out)]).exit_code == 0
    written = pl.read_csv(out)
    assert written.height == 8
    assert sorted(written.filter(pl.col("censored"))["user_id"]) == ["e", "f", "g"]
    off = json.loads(run(main, [*args, "--format", "json", "--censor", "off"]).stdout)
    assert off["summary"]["units_censored"] == 0 and off["summary"]["units_entered"] == 8
    # no --strict failure for censoring: it is not a problem of the spec or the data
    assert run(main, [*args, "--strict"]).exit_code == 0
    bad = run(main, [*args, "--censor", "0s"])
    assert bad.exit_code == 2 and "the horizon must be positive" in bad.output


def test_html_outputs_show_the_line():
    result = funnel.analyze(DAY, SPEC)
    assert "3 sessions censored" in result._repr_html_()
