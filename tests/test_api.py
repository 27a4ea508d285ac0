"""Public API, result objects and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import funnel
from funnel.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = str(ROOT / "sample_events")


def test_every_public_name_resolves():
    for name in funnel.__all__:
        assert getattr(funnel, name) is not None, name
    assert (ROOT / "funnel" / "py.typed").exists()


def test_result_object_json_repr_html():
    r = funnel.analyze(SAMPLE)
    data = json.loads(r.to_json())
    assert data["schema_version"] == 1
    assert [s["step"] for s in data["steps"]] == r.spec.step_names
    assert data["ledger"]["rows"] == r.ledger.total()
    assert "\n" not in repr(r) and repr(r).startswith("FunnelResult(")
    assert "<table>" in r._repr_html_()
    import dataclasses

    try:
        r.steps = pl.DataFrame()  # type: ignore[misc]
        raise AssertionError("result must be frozen")
    except dataclasses.FrozenInstanceError:
        pass


def test_html_is_escaped():
    df = pl.DataFrame(
        {
            "user_id": ["a"],
            "timestamp": ["2024-05-01T10:00:00Z"],
            "event": ["<script>alert(1)</script>"],
        }
    )
    spec = funnel.FunnelSpec.from_dict(
        {"name": "<b>x</b>", "steps": [{"name": "<script>", "event": "<script>alert(1)</script>"}]}
    )
    html = funnel.analyze(df, spec)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_cli_analyze_table_json_and_sessions_out(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["analyze", SAMPLE])
    assert res.exit_code == 0, res.output
    rows = pl.read_parquet(f"{SAMPLE}/events.parquet").height
    assert "Steps (Wilson 95% intervals)" in res.output and f"rows read {rows:,}" in res.output
    out = tmp_path / "sessions.csv"
    res = runner.invoke(
        main, ["analyze", SAMPLE, "--format", "json", "--by", "device", "--sessions-out", str(out)]
    )
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert {r["device"] for r in data["breakdown"]} == {"mobile", "desktop", "tablet"}
    sessions = pl.read_csv(out)
    assert sessions.filter(~pl.col("censored")).height == data["summary"]["units_entered"]
    assert sessions["censored"].sum() == data["summary"]["units_censored"] > 0


def test_cli_errors_are_messages_not_tracebacks(tmp_path):
    runner = CliRunner()
    spec = tmp_path / "s.toml"
    spec.write_text('[[stepz]]\nevent = "x"\n')
    res = runner.invoke(main, ["analyze", SAMPLE, "--spec", str(spec)])
    assert res.exit_code == 1 and "did you mean 'steps'" in res.output
    res = runner.invoke(main, ["analyze", SAMPLE, "--by", "devise"])
    assert res.exit_code == 1 and "did you mean 'device'" in res.output
    res = runner.invoke(main, ["validate", str(tmp_path / "none.csv")])
    assert res.exit_code == 1 and "no such file" in res.output
    assert "Traceback" not in res.output


def test_cli_validate_and_map(tmp_path):
    pl.DataFrame(
        {"visitor": ["a", "a"], "ts": [1714557600, 1714557600], "event": ["x", "x"]}
    ).write_csv(tmp_path / "d.csv")
    res = CliRunner().invoke(
        main,
        [
            "validate",
            str(tmp_path / "d.csv"),
            "--map",
            "user_id=visitor",
            "--map",
            "timestamp=ts",
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["duplicates"] == 1 and data["used"] == 1
    assert any("inferred" in n for n in data["notes"])


def test_cli_causes_table_json_and_evidence_out(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["causes", SAMPLE])
    assert res.exit_code == 0, res.output
    assert "Why abandoned units left" in res.output and "excess_abandoned" in res.output
    out = tmp_path / "evidence.csv"
    sessions = tmp_path / "sessions.parquet"
    res = runner.invoke(
        main,
        [
            "causes",
            SAMPLE,
            "--format",
            "json",
            "--evidence-out",
            str(out),
            "--sessions-out",
            str(sessions),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {"summary", "by_step", "exposure", "drivers", "notes"} <= set(data)
    abandoned = sum(r["abandoned"] for r in data["summary"])
    units = pl.read_parquet(sessions)
    assert abandoned == units.filter(~pl.col("converted")).height
    evidence = pl.read_csv(out)
    assert set(evidence["cause"]) <= {r["cause"] for r in data["summary"]}
    assert evidence.height > 0 and "primary_cause" in units.columns


def test_cli_analyze_without_causes():
    res = CliRunner().invoke(main, ["analyze", SAMPLE, "--no-causes", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["causes"] is None


def test_engine_codes_never_leak_into_results():
    """Event and driver text ride through the sort as categorical codes; every table a
    user sees has plain text, with or without a breakdown by a driver column."""
    for by in ((), ("device",), ("event",)):
        r = funnel.analyze(SAMPLE, options=funnel.AnalyzeOptions(by=by))
        frames = [r.units, r.steps, r.timing, r.trend, *vars(r.causes).values()]
        frames += [r.breakdown] if by else []
        for frame in frames:
            if isinstance(frame, pl.DataFrame):
                assert pl.Categorical not in frame.schema.dtypes(), frame.columns
        assert r.causes.evidence["event"].dtype == pl.String
        events = pl.read_parquet(SAMPLE + "/events.parquet")["event"]
        assert set(r.causes.evidence["event"]) <= set(events)


def test_frames_analysts_hold_are_accepted_alike():
    """pandas, pyarrow tables and readers and DuckDB relations (anything exporting an
    Arrow stream) give the same result as the file; one column for ``by`` may be text."""
    import duckdb

    base = funnel.analyze("sample_events/", options=funnel.AnalyzeOptions(by=("device",)))
    df = pl.read_parquet("sample_events/events.parquet")
    sources = {
        "pandas": df.to_pandas(),
        "arrow": df.to_arrow(),
        "reader": df.to_arrow().to_reader(),
        "duckdb": duckdb.sql("SELECT * FROM 'sample_events/events.parquet'"),
    }
    for name, source in sources.items():
        got = funnel.analyze(source, options=funnel.AnalyzeOptions(by="device"))
        assert got.units.equals(base.units), name
        assert got.breakdown.equals(base.breakdown), name


def test_errors_list_the_datas_own_columns():

    df = pl.read_parquet("sample_events/events.parquet").to_pandas()
    with pytest.raises(funnel.SchemaError) as err:
        funnel.analyze(df, options=funnel.AnalyzeOptions(by="devise"))
    message = str(err.value)
    assert "did you mean 'device'" in message
    assert "_file" not in message and "_reject" not in message and "_timestamp_raw" not in message


def test_one_name_where_a_tuple_of_names_is_expected():
    assert funnel.Step(name="cart", events="add_to_cart").events == ("add_to_cart",)
    assert funnel.AttributionOptions(drivers="device").drivers == ("device",)
    cause = funnel.Cause(name="wall", label="Login wall", events="login_wall", show=["x"])
    assert cause.events == ("login_wall",) and cause.show == ("x",)
