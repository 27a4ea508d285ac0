"""Loading: readers, presets on fixtures shaped like each tool's export, timestamps, errors."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

import funnel
from funnel import LoadOptions, SchemaError, scan_events
from funnel.runners.analyze import prepare

FIX = Path(__file__).parent / "fixtures"
UTC = dt.timezone.utc


def _load(path, **kw) -> pl.DataFrame:
    preset = kw.get("preset")
    if preset and "timestamp_unit" not in kw:
        kw["timestamp_unit"] = funnel.PRESETS[preset].timestamp_unit
    return scan_events(str(path), LoadOptions(**kw)).frame.collect()


def test_ga4_preset_flattens_params_and_records():
    df = _load(FIX / "ga4.ndjson", preset="ga4")
    assert df["user_id"].to_list()[:1] == ["123.456"]
    assert df["timestamp"][0] == dt.datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    assert df["event"].to_list()[2] == "add_shipping_info"
    assert df["page_title"].to_list()[:2] == ["Shoes", "Checkout"]
    assert df.schema["value"] == pl.Float64 and df["value"][0] == pytest.approx(59.9)
    assert df.schema["ga_session_id"] == pl.Int64
    assert df["session_id"][0] == "1714989600"
    assert df["ecommerce.shipping_value"][2] == pytest.approx(7.5)
    assert df["device.category"][3] == "desktop"
    assert df["items_value"][3] == pytest.approx(20.0)
    assert df["ga4_user_id"][2] == "cust-9"


def test_ga4_funnel_runs_with_default_spec():
    r = funnel.analyze(
        str(FIX / "ga4.ndjson"),
        # the fixture's few minutes of events would all be censored (docs/semantics.md §7)
        options=funnel.AnalyzeOptions(load=LoadOptions(preset="ga4"), censor=None),
    )
    assert r.steps["entered"].to_list() == [2, 1, 1, 0, 0]


def test_segment_preset():
    df = _load(FIX / "segment.ndjson", preset="segment")
    assert df["user_id"].to_list()[:3] == ["anon-1"] * 3  # login does not split the path
    assert df["segment_user_id"][2] == "user-42"
    assert df["event"].to_list() == [
        "page",
        "Product Added",
        "Checkout Started",
        "identify",
        "Order Completed",
    ]
    assert df["timestamp"][4] == dt.datetime(2024, 5, 6, 9, 2, tzinfo=UTC)  # +02:00 offset
    assert df["properties.price"][1] == pytest.approx(59.9)


def test_amplitude_preset():
    df = _load(FIX / "amplitude.ndjson", preset="amplitude")
    assert df["user_id"].to_list() == ["dev-1", "dev-1", "dev-2"]
    assert df["session_id"].to_list() == ["1714989600000", "1714989600000", None]
    assert df["timestamp"][0] == dt.datetime(2024, 5, 6, 10, 0, 0, 123000, tzinfo=UTC)
    assert df["event_properties.sku"][2] == "SKU3"


def test_snowplow_preset():
    df = _load(FIX / "snowplow.tsv", preset="snowplow")
    assert df["event"].to_list() == ["page_view", "add_to_cart", "begin_checkout"]
    assert df["user_id"].unique().to_list() == ["du-1"]
    # derived_tstamp first, collector_tstamp when it is missing
    assert df["timestamp"].to_list()[1:] == [
        dt.datetime(2024, 5, 6, 10, 0, 30, tzinfo=UTC),
        dt.datetime(2024, 5, 6, 10, 2, 1, tzinfo=UTC),
    ]
    assert df["snowplow_user_id"][2] == "cust-7"


def test_ecommerce_preset_and_its_default_funnel():
    df = _load(FIX / "rees46.csv", preset="ecommerce")
    assert df["timestamp"][0] == dt.datetime(2019, 10, 1, tzinfo=UTC)
    opts = funnel.AnalyzeOptions(
        load=LoadOptions(preset="ecommerce"),
        validate=funnel.ValidateOptions(min_time=dt.datetime(2019, 1, 1, tzinfo=UTC)),
        censor=None,  # a few minutes of events: all would be censored
    )
    r = funnel.analyze(str(FIX / "rees46.csv"), options=opts)
    assert r.spec.name == "ecommerce"
    assert r.steps["entered"].to_list() == [2, 2, 1]


def test_csv_gz_ndjson_gz_glob_and_hive_folder(tmp_path):
    base = pl.DataFrame(
        {
            "user_id": ["a", "b"],
            "event": ["x", "y"],
            "timestamp": ["2024-05-01T10:00:00Z", "2024-05-01T11:00:00+01:00"],
        }
    )
    base.write_csv(tmp_path / "e.csv")
    with open(tmp_path / "e.csv", "rb") as f, gzip.open(tmp_path / "e2.csv.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    base.write_ndjson(tmp_path / "e.ndjson")
    with open(tmp_path / "e.ndjson", "rb") as f, gzip.open(tmp_path / "e3.ndjson.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    assert _load(tmp_path / "e2.csv.gz")["timestamp"][1] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert _load(tmp_path / "e3.ndjson.gz").height == 2
    assert _load(str(tmp_path / "*.csv*")).height == 4
    hive = tmp_path / "hive"
    for day in ("2024-05-01", "2024-05-02"):
        (hive / f"day={day}").mkdir(parents=True)
        base.with_columns(pl.col("timestamp").str.replace("05-01", day[5:])).write_parquet(
            hive / f"day={day}" / "part.parquet"
        )
    df = _load(hive)
    assert df.height == 4 and "day" in df.columns
    assert df["_file"].n_unique() == 2


def test_mapping_and_missing_column_error_names_file_and_closest(tmp_path):
    pl.DataFrame({"visitor": ["a"], "ts": [1714557600], "event_nme": ["x"]}).write_csv(
        tmp_path / "dump.csv"
    )
    with pytest.raises(SchemaError) as exc:
        _load(tmp_path / "dump.csv", mapping={"user_id": "visitor", "timestamp": "ts"})
    msg = str(exc.value)
    assert "dump.csv" in msg and "'event'" in msg and "event_nme" in msg
    assert "did you mean 'event_nme'" in msg
    df = _load(
        tmp_path / "dump.csv",
        mapping={"user_id": "visitor", "timestamp": "ts", "event": "event_nme"},
    )
    assert df["timestamp"][0] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "unit"),
    [
        ([1714557600, 1714557601], "s"),
        ([1714557600000], "ms"),
        ([1714557600000000], "us"),
        ([1714557600000000000], "ns"),
    ],
)
def test_epoch_unit_is_inferred_when_all_values_agree(values, unit):
    lf = pl.LazyFrame(
        {"user_id": ["a"] * len(values), "event": ["x"] * len(values), "timestamp": values}
    )
    r = funnel.validate(lf)
    assert any(f"epoch {unit} (inferred)" in n for n in r.notes)
    out, _info = funnel.input.timestamps.normalize_timestamp(lf)
    assert out.collect()["timestamp"][0] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_epoch_units_that_disagree_need_an_explicit_unit():
    lf = pl.LazyFrame(
        {"user_id": ["a", "a"], "event": ["x", "x"], "timestamp": [1714557600, 1714557600000]}
    )
    with pytest.raises(SchemaError, match="--timestamp-unit"):
        funnel.validate(lf)
    opts = funnel.AnalyzeOptions(load=LoadOptions(timestamp_unit="s"))
    led = funnel.validate(lf, opts)
    assert led.by_reason() == {"future_timestamp": 1}


def test_naive_timestamps_follow_tz_and_text_formats():
    lf = pl.LazyFrame(
        {
            "user_id": ["a"] * 4,
            "event": ["x"] * 4,
            "timestamp": [
                "2024-05-01 12:00:00",
                "2024-05-01T12:00:00+02:00",
                "2019-10-01 00:00:00 UTC",
                "nonsense",
            ],
        }
    )
    opts = funnel.AnalyzeOptions(load=LoadOptions(timezone="Europe/Berlin"))
    prepared = prepare(lf, opts)
    ts = prepared.frame.collect()["timestamp"].to_list()
    assert ts[0] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert ts[1] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert ts[2] == dt.datetime(2019, 10, 1, tzinfo=UTC)
    assert ts[3] is None


def test_ledger_counts_per_file_and_rejects_file(tmp_path):
    good = pl.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "event": ["x", "x", "y"],
            "timestamp": ["2024-05-01T10:00:00Z"] * 3,
        }
    )
    bad = pl.DataFrame(
        {
            "user_id": [None, "c", "d", "e"],
            "event": ["x", None, "z", "z"],
            "timestamp": [
                "2024-05-01T10:00:00Z",
                "2024-05-01T10:00:00Z",
                "garbage",
                "1990-01-01T00:00:00Z",
            ],
        }
    )
    good.write_csv(tmp_path / "a.csv")
    bad.write_csv(tmp_path / "b.csv")
    rej = tmp_path / "rejects.csv"
    led = funnel.validate(str(tmp_path), funnel.AnalyzeOptions(rejects_path=str(rej)))
    assert led.total() == 7 and led.total("used") == 2 and led.total("duplicate") == 1
    assert led.by_reason() == {
        "null_user": 1,
        "null_event": 1,
        "bad_timestamp": 1,
        "before_floor": 1,
    }
    per_file = {
        (r["file"].rsplit("/", 1)[-1], r["outcome"]): r["rows"]
        for r in led.counts.group_by("file", "outcome").agg(pl.col("rows").sum()).to_dicts()
    }
    assert per_file == {("a.csv", "used"): 2, ("a.csv", "duplicate"): 1, ("b.csv", "rejected"): 4}
    written = pl.read_csv(rej)
    assert sorted(written["reason"].to_list()) == [
        "bad_timestamp",
        "before_floor",
        "null_event",
        "null_user",
    ]
    assert "garbage" in written["timestamp"].to_list()


def test_unreadable_and_missing_inputs_are_clear_errors(tmp_path):
    with pytest.raises(SchemaError, match="no such file"):
        scan_events(str(tmp_path / "nope.csv"))
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(SchemaError, match="unknown file type"):
        scan_events(str(tmp_path / "x.txt"))
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(SchemaError, match=r"broken\.parquet"):
        scan_events(str(tmp_path / "broken.parquet"))
    with pytest.raises(SchemaError, match="did you mean 'ga4'"):
        scan_events(str(FIX / "ga4.ndjson"), LoadOptions(preset="gaa4"))


def test_ga4_bigquery_json_export_with_text_integers_and_empty_items():
    """The shape `bq extract --destination_format NEWLINE_DELIMITED_JSON` writes: INT64 as
    JSON strings, null fields left out, ``items`` an empty list on every row."""
    result = funnel.analyze(
        str(FIX / "ga4_bq_json.ndjson"),
        options=funnel.AnalyzeOptions(load=LoadOptions(preset="ga4"), censor=None),
    )
    ledger = result.ledger.to_dict()
    assert ledger["used"] == 6 and ledger["rejected"] == 0
    assert result.steps["entered"].to_list() == [2, 1, 1, 1, 1]
    assert result.units["converted"].to_list().count(True) == 1


def test_nested_values_where_a_key_belongs_are_a_named_error(tmp_path):
    path = tmp_path / "nested.ndjson"
    path.write_text(
        '{"user_id": {"id": "u1"}, "event": "add_to_cart", "timestamp": "2024-05-01T10:00:00Z"}\n'
    )
    with pytest.raises(SchemaError, match=r"column 'user_id' \(user_id\) holds nested values"):
        funnel.analyze(str(path))


def test_files_of_different_types_and_formats_give_the_clean_files_results(tmp_path):
    """One dump split into a Parquet file (zoned datetimes), a CSV file (ISO text) and a
    JSON-lines file (epoch milliseconds, a property as text): the same funnel as the clean
    file; the ledger notes how each was read and which column became text."""
    df = pl.read_parquet("sample_events/events.parquet").head(9000)
    clean = tmp_path / "clean.parquet"
    df.write_parquet(clean)
    split = tmp_path / "split"
    split.mkdir()
    df.slice(0, 3000).write_parquet(split / "a.parquet")
    df.slice(3000, 3000).with_columns(
        pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    ).write_csv(split / "b.csv")
    df.slice(6000, 3000).with_columns(
        pl.col("timestamp").dt.epoch("ms"), pl.col("delivery_days").cast(pl.String)
    ).write_ndjson(split / "c.ndjson")
    opts = funnel.AnalyzeOptions(causes=False)
    want = funnel.analyze(str(clean), options=opts)
    got = funnel.analyze(str(split), options=opts)
    assert got.steps.equals(want.steps)
    assert got.timing.equals(want.timing)
    assert got.units.equals(want.units)
    ledger = got.ledger.to_dict()
    assert ledger["used"] == want.ledger.to_dict()["used"]
    notes = " ".join(ledger["notes"])
    assert "ISO-8601 text" in notes and "epoch ms" in notes and "datetime in UTC" in notes
    assert "column 'delivery_days' is Int64 in some files and String in others" in notes


def test_ga360_sessions_export_becomes_one_event_per_hit():
    """A hand-written `ga_sessions_*` export in BigQuery's JSON shape (INT64 as text, null
    fields left out), after the schema Google documents: hits become events, the time is
    visitStartTime + hits.time, checkout steps and the transaction come through."""
    result = funnel.analyze(
        str(FIX / "ga360_sessions.ndjson"),
        options=funnel.AnalyzeOptions(load=LoadOptions(preset="ga360")),
    )
    assert result.spec.name == "ga360"  # the preset's default funnel
    assert result.ledger.to_dict()["used"] == 12  # 6 + 4 + 2 hits
    assert result.steps["entered"].to_list() == [2, 2, 1, 1, 1]
    assert result.summary["sessions"] == 3 and result.summary["units_converted"] == 1
    rows = scan_events(
        str(FIX / "ga360_sessions.ndjson"), LoadOptions(preset="ga360")
    ).frame.collect()
    buy = rows.filter(pl.col("event") == "purchase").row(0, named=True)
    # 1714557600 s + 150,000 ms; revenue, shipping and tax in millionths of the currency
    assert buy["timestamp"].timestamp() == 1714557600 + 150
    assert (buy["value"], buy["shipping"], buy["tax"]) == (39.98, 6.0, 2.0)
    assert buy["items_count"] == 1 and buy["items_value"] == 33.98
    assert set(rows["event"]) >= {"page_view", "add_to_cart", "checkout_step_2", "coupon_rejected"}
    assert rows["session_id"].unique().len() == 3 and "device.deviceCategory" in rows.columns


_GA4_VALUE = pl.Struct(
    {
        "string_value": pl.String,
        "int_value": pl.Int64,
        "float_value": pl.Float64,
        "double_value": pl.Float64,
    }
)


@pytest.mark.parametrize("shape", ["bigquery_parquet", "avro_converted_parquet"])
def test_ga4_parquet_exports_read_like_the_json_export(tmp_path, shape):
    """The same events as the JSON-lines fixture, written as BigQuery's Parquet export
    (typed nested columns) and as Parquet converted from its Avro export (where a repeated
    field with no entries is null rather than an empty list, and unused value fields are
    present and null): the ga4 preset reads all three alike."""
    df = pl.read_ndjson(FIX / "ga4.ndjson").with_columns(
        pl.col("event_params").cast(pl.List(pl.Struct({"key": pl.String, "value": _GA4_VALUE})))
    )
    if shape == "avro_converted_parquet":
        df = df.with_columns(
            pl.when(pl.col(c).list.len() > 0).then(pl.col(c)).alias(c)
            for c in ("event_params", "items")
        ).with_columns(
            pl.lit(None, pl.List(pl.Struct({"key": pl.String, "value": _GA4_VALUE}))).alias(
                "user_properties"
            )
        )
        no_items = df.head(1).with_columns(pl.lit(None).cast(df.schema["items"]).alias("items"))
        df = pl.concat([df, no_items])  # a last row whose items are null: still one event
    path = tmp_path / "events_20240506.parquet"
    df.write_parquet(path)
    got = _load(path, preset="ga4")
    want = _load(FIX / "ga4.ndjson", preset="ga4")
    keys = ["user_id", "timestamp", "event", "session_id", "value", "page_title"]
    keys += ["ecommerce.shipping_value", "device.category", "ga4_user_id"]
    assert got.select(keys).head(want.height).equals(want.select(keys))
    assert got.height == want.height + (shape == "avro_converted_parquet")


def test_a_json_lines_file_whose_every_timestamp_is_null_is_rejected_row_by_row(tmp_path):
    """Such a file reads as a column of type Null: every row rejected, no schema error."""
    path = tmp_path / "e.ndjson"
    path.write_text(
        '{"user_id":"u1","timestamp":null,"event":"add_to_cart"}\n'
        '{"user_id":"u2","timestamp":null,"event":"purchase"}\n'
    )
    ledger = funnel.validate(str(path))
    counts = ledger.to_dict()
    assert ledger.total() == 2 and counts["used"] == 0
    assert "bad_timestamp" in json.dumps(counts)
