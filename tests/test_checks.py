"""No silent zeros: a spec checked against the data's own event names (funnel.engine.checks),
in the result's notes, on stderr, in JSON, Markdown and HTML, and as exit 1 with --strict."""

from __future__ import annotations

import json

import polars as pl
from click.testing import CliRunner

import funnel
from funnel.cli import main

SAMPLE = "sample_events/"


def _clean() -> pl.DataFrame:
    """The sample's rows that are all used: no duplicates, no rejects (so counts of it are
    the used rows the notes count)."""
    df = pl.read_parquet("sample_events/events.parquet").with_columns(
        pl.col("user_id", "event").str.strip_chars()
    )
    df = df.unique(maintain_order=True)
    ts = pl.col("timestamp")
    return df.drop_nulls(["user_id", "event", "timestamp"]).filter(
        pl.col("user_id") != "",
        pl.col("event") != "",
        ts.dt.year() >= 2000,
        ts < pl.lit("2026-01-01").str.to_datetime().dt.replace_time_zone("UTC"),
    )


def _spec(*events: str, **more) -> funnel.FunnelSpec:
    return funnel.FunnelSpec.from_dict({"steps": [{"event": e} for e in events], **more})


def test_the_sample_with_the_builtin_spec_has_no_notes():
    assert funnel.analyze(SAMPLE).notes == ()


def test_a_typo_in_a_step_event_is_named_with_the_name_meant():
    result = funnel.analyze(SAMPLE, _spec("add_to_cart", "begin_checkot", "purchase"))
    assert result.steps["entered"][1] == 0  # the silent zero the note explains
    assert (
        "step 'begin_checkot': event 'begin_checkot' never occurs in the data; "
        "did you mean 'begin_checkout'?"
    ) in result.notes
    assert json.loads(result.to_json())["notes"] == list(result.notes)


def test_a_funnel_nobody_entered_says_why():
    df = _clean().with_columns(pl.col("event").str.to_uppercase())
    result = funnel.analyze(df)  # the built-in spec, on data that names events otherwise
    assert result.summary["units_entered"] == 0
    first = result.notes[0]
    assert first.startswith("no unit entered the funnel: its first step 'cart' ('add_to_cart')")
    top = df["event"].value_counts(sort=True).head(1).row(0)
    assert f"the most frequent events are {top[0]} ({top[1]:,})" in first
    assert "did you mean 'ADD_TO_CART'?" in " ".join(result.notes)


def test_a_filter_that_lets_nothing_in_is_said_too():
    spec = funnel.FunnelSpec.from_dict(
        {
            "steps": [
                {"event": "add_to_cart", "where": "value < 0"},
                {"event": "purchase"},
            ]
        }
    )
    df = _clean()
    result = funnel.analyze(df, spec, funnel.AnalyzeOptions(causes=False))
    n = df.filter(event="add_to_cart").height
    assert result.notes[0] == (
        f"no unit entered the funnel: its first step's events ('add_to_cart') occur {n:,} "
        "times but none where value < 0"
    )


def test_causes_that_cannot_fire_and_builtins_left_out():
    spec = funnel.FunnelSpec.from_dict(
        {
            "steps": [{"event": "add_to_cart"}, {"event": "begin_checkout"}, {"event": "purchase"}],
            "causes": [{"name": "coupon_rage", "event": "coupon_rejectd"}],
        }
    )
    notes = funnel.analyze(SAMPLE, spec).notes
    assert (
        "cause 'coupon_rage': event 'coupon_rejectd' never occurs in the data; it cannot "
        "fire; did you mean 'coupon_rejected'?"
    ) in notes
    assert any(n.startswith("built-in cause 'delivery' is left out") for n in notes)
    # without attribution, causes are not checked
    quiet = funnel.analyze(SAMPLE, spec, funnel.AnalyzeOptions(causes=False)).notes
    assert not any("cause" in n for n in quiet)


def test_a_star_is_not_a_wildcard_and_the_note_says_so():
    notes = funnel.analyze(SAMPLE, _spec("add_to_cart", "*")).notes
    assert any("'*' is not a wildcard" in n for n in notes)


def test_the_cli_prints_notes_and_strict_fails(tmp_path):
    spec = tmp_path / "typo.toml"
    spec.write_text('[[steps]]\nevent = "add_to_cart"\n[[steps]]\nevent = "purchse"\n')
    args = ["analyze", SAMPLE, "--spec", str(spec), "--no-causes"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0
    assert "note: step 'purchse': event 'purchse' never occurs" in res.stderr
    strict = CliRunner().invoke(main, [*args, "--strict", "--format", "json"])
    assert strict.exit_code == 1
    assert "error: --strict: 1 note on the spec and the data" in strict.stderr
    assert json.loads(strict.stdout)["notes"]  # the result is still printed, then the gate
    fine = CliRunner().invoke(main, ["analyze", SAMPLE, "--strict", "-q"])
    assert fine.exit_code == 0, fine.output


def test_notes_show_escaped_in_markdown_html_and_the_notebook(tmp_path):
    result = funnel.analyze(SAMPLE, _spec("add_to_cart", "<b>buy</b>"))
    assert "> note: step '<b>buy</b>'" in result.to_markdown() or "note:" in result.to_markdown()
    assert "&lt;b&gt;buy&lt;/b&gt;" in result._repr_html_()
    assert "<b>buy</b>" not in result._repr_html_()
    from funnel.render.report import write_report

    page = write_report(tmp_path / "r.html", result).read_text()
    assert "Checks: the spec against the data" in page and "&lt;b&gt;buy" in page


def _restored_baskets() -> pl.DataFrame:
    rows = [
        ("a", "2024-05-01T10:00:00Z", "add_to_cart"),
        ("a", "2024-05-01T10:01:00Z", "begin_checkout"),
        ("a", "2024-05-01T10:02:00Z", "purchase"),
        ("b", "2024-05-01T11:00:00Z", "begin_checkout"),  # a restored basket: no cart
        ("b", "2024-05-01T11:01:00Z", "add_shipping_info"),
        ("c", "2024-05-01T12:00:00Z", "page_view"),
        ("d", "2024-05-01T13:00:00Z", "add_to_cart"),
        ("d", "2024-05-01T15:00:00Z", "begin_checkout"),  # a later session, no cart in it
    ]
    return pl.DataFrame(rows, schema=["user_id", "timestamp", "event"], orient="row")


def test_sessions_that_skip_the_entry_step_are_counted_in_a_note():
    df = _restored_baskets()
    result = funnel.analyze(df, options=funnel.AnalyzeOptions(causes=False))
    assert result.summary["units_entered"] == 2  # a's and d's cart sessions
    assert result.summary["outside_sessions"] == 2  # b's session and d's second one
    assert any(n.startswith("2 sessions have an event of a later step") for n in result.notes)
    # a user's path over a 1-day window takes d's second session in: only b's is outside
    spec = funnel.builtin_spec("checkout")
    users = funnel.FunnelSpec.from_dict(
        {"steps": [s.to_dict() for s in spec.steps], "unit": "users", "window": "1d"}
    )
    by_user = funnel.analyze(df, users, funnel.AnalyzeOptions(causes=False))
    assert by_user.summary["outside_sessions"] == 1
    # open funnels let them in
    open_spec = funnel.FunnelSpec.from_dict(
        {"steps": [s.to_dict() for s in spec.steps], "entry": "open"}
    )
    assert (
        funnel.analyze(df, open_spec, funnel.AnalyzeOptions(causes=False)).summary[
            "outside_sessions"
        ]
        == 0
    )
