"""funnel inspect: events, columns and time range of the rows that would be used, against
counts computed here with plain polars; the starter spec guessed from event names."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from click.testing import CliRunner

import funnel
from funnel.cli import main
from funnel.runners.inspect import starter_spec


def _valid_rows() -> pl.DataFrame:
    """The sample's rows that are not rejected (duplicates kept), by the ledger's rules."""
    df = pl.read_parquet("sample_events/events.parquet").with_columns(
        pl.col("user_id", "event").str.strip_chars()
    )
    now = dt.datetime.now(dt.timezone.utc)
    floor = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    ts = pl.col("timestamp")
    return df.filter(
        pl.col("user_id").is_not_null() & (pl.col("user_id") != ""),
        pl.col("event").is_not_null() & (pl.col("event") != ""),
        ts.is_not_null() & (ts <= now) & (ts >= floor),
    )


def test_events_columns_and_time_range_of_the_sample():
    found = funnel.inspect("sample_events/")
    rows = _valid_rows()
    want = rows.group_by("event").agg(pl.len().alias("rows"), pl.col("user_id").n_unique())
    got = found.events.select("event", "rows", "users").sort("event")
    assert got.rows() == want.sort("event").rows()
    assert found.events["rows"].to_list() == sorted(found.events["rows"], reverse=True)
    assert found.summary["rows"] == rows.height
    assert found.summary["users"] == rows["user_id"].n_unique()
    assert found.summary["first"] == rows["timestamp"].min().isoformat()
    assert found.summary["last"] == rows["timestamp"].max().isoformat()
    nulls = dict(found.columns.select("column", "null_share").iter_rows())
    assert nulls["coupon"] == pytest.approx(rows["coupon"].null_count() / rows.height)
    assert found.ledger.total() == 41_193  # every row of the file, as validate counts them


@pytest.mark.parametrize(
    ("names", "steps"),
    [
        (
            ["page_view", "add_to_cart", "remove_from_cart", "begin_checkout", "purchase"],
            ["add_to_cart", "begin_checkout", "purchase"],
        ),
        (
            ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"],
            ["Product Added", "Checkout Started", "Order Completed"],
        ),
        (
            ["view", "cart", "purchase"],  # REES46 event types
            ["cart", "purchase"],
        ),
        (
            ["ecommerce:add_to_cart", "checkout_step_1", "checkout_step_2", "ecommerce:purchase"],
            ["ecommerce:add_to_cart", "checkout_step_1", "ecommerce:purchase"],
        ),
    ],
)
def test_the_starter_spec_follows_the_checkout_names(names, steps):
    events = pl.DataFrame({"event": names, "rows": list(range(len(names) * 10, 0, -10))})
    spec, notes = starter_spec(events)
    assert spec is not None and [s.events[0] for s in spec.steps] == steps
    assert "check it before use" in notes[0]


def test_no_starter_spec_without_checkout_names_and_the_note_says_so():
    spec, notes = starter_spec(pl.DataFrame({"event": ["login", "search"], "rows": [5, 3]}))
    assert spec is None and notes[0].startswith("no starter spec")


def test_the_cli_writes_a_starter_spec_that_analyses(tmp_path):
    out = tmp_path / "checkout.toml"
    res = CliRunner().invoke(main, ["inspect", "sample_events/", "--spec-out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    spec = funnel.FunnelSpec.from_toml(out)
    assert spec.step_names == ["cart", "checkout", "shipping", "payment", "purchase"]
    assert funnel.analyze("sample_events/", spec).notes == ()
    as_json = CliRunner().invoke(main, ["inspect", "sample_events/", "--format", "json", "-q"])
    data = json.loads(as_json.stdout)
    assert list(data) == ["summary", "events", "columns", "ledger", "starter_spec", "notes"]
    bad = CliRunner().invoke(
        main, ["inspect", "sample_events/", "--spec-out", str(tmp_path / "x.txt")]
    )
    assert bad.exit_code == 1 and ".txt" in bad.output and not (tmp_path / "x.txt").exists()


def test_the_notebook_display_escapes_event_names():
    df = pl.DataFrame(
        {
            "user_id": ["a", "a"],
            "event": ["<script>add_to_cart</script>", "purchase"],
            "timestamp": ["2024-05-01T10:00:00Z", "2024-05-01T10:01:00Z"],
        }
    )
    page = funnel.inspect(df)._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
