"""The Spark engine gives the local engine's results, byte for byte.

One local[2] session for the whole module. ``--format json`` (with units and evidence) of
``funnel.spark`` must equal the local engine's on ``sample_events/`` and on random dumps
(shuffled, duplicates, ties, bad rows, several files) for several bucket counts; so must
the ledger of a dump in several files and formats, ``causes``, ``compare`` and the CLI.
In CI (``FUNNEL_REQUIRE_SPARK=1``) these tests cannot skip.
"""

from __future__ import annotations

import json
import os

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnel
from funnel.cli import main
from funnel.render.report import render_html
from funnel.runners.compare import compare_arms
from tests.test_causes import cause_specs
from tests.test_engine_vs_reference import _frame, _make_rows, _options, row_strategy, write_parts

if not os.environ.get("FUNNEL_REQUIRE_SPARK"):
    pytest.importorskip("pyspark")
import funnel.spark


@pytest.fixture(scope="module")
def spark():
    session = funnel.spark.spark_session("local[2]", {"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


def _json(result: funnel.FunnelResult) -> str:
    causes = result.causes.to_json(include_evidence=True) if result.causes else ""
    return result.to_json(include_units=True) + causes


@pytest.mark.parametrize("buckets", [1, 3, 16])
def test_sample_events_give_the_same_bytes(spark, buckets):
    opts = funnel.AnalyzeOptions(by=("device",), buckets=buckets)
    local = funnel.analyze("sample_events/", options=opts)
    on_spark = funnel.spark.analyze("sample_events/", options=opts, spark=spark)
    assert _json(on_spark) == _json(local)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.lists(row_strategy, min_size=0, max_size=50),
    dup_idx=st.lists(st.integers(0, 100), max_size=4),
    spec=cause_specs(),
    seed=st.randoms(),
    cut=st.integers(1, 3),
    buckets=st.sampled_from([1, 2, 7]),
    reduce_in=st.sampled_from(["driver", "spark"]),
)
def test_random_dumps_give_the_same_bytes(
    spark, tmp_path_factory, raw, dup_idx, spec, seed, cut, buckets, reduce_in
):
    rows = _make_rows(raw, dup_idx)
    seed.shuffle(rows)
    folder = tmp_path_factory.mktemp("parts")
    if rows:
        write_parts(_frame(rows), folder, cut)
    else:
        _frame(rows).write_parquet(folder / "empty.parquet")
    opts = _options(by=("cart",), buckets=buckets)
    local = funnel.analyze(str(folder), spec, opts)
    on_spark = funnel.spark.analyze(str(folder), spec, opts, spark=spark, reduce_in=reduce_in)
    if reduce_in == "driver":
        assert _json(on_spark) == _json(local)
    else:  # every table; no per-unit rows
        assert _tables(on_spark) == _tables(local)
        assert on_spark.units.is_empty() and on_spark.units.columns == local.units.columns


def _tables(result: funnel.FunnelResult) -> str:
    return result.to_json() + (result.causes.to_json() if result.causes else "")


@pytest.mark.parametrize("buckets", [1, 5])
def test_the_reduce_inside_spark_gives_the_same_tables(spark, buckets):
    """Units and evidence stay in Spark; every table, the ledger and the notes are the
    local engine's bytes (the sample has a censored unit and every kind of cause)."""
    opts = funnel.AnalyzeOptions(by=("device", "country"), buckets=buckets)
    local = funnel.analyze("sample_events/", options=opts)
    inside = funnel.spark.analyze("sample_events/", options=opts, spark=spark, reduce_in="spark")
    assert _tables(inside) == _tables(local)
    assert local.summary["units_censored"] == 1 and local.units.height > 1000
    assert inside.units.is_empty() and inside.censored.is_empty()
    assert inside.causes.evidence.is_empty()
    assert inside.causes.evidence.columns == local.causes.evidence.columns
    # what needs the per-unit rows says where they are, instead of reading empty rows
    assert inside.units_left_in == "Spark" and "per-unit rows left in Spark" in repr(inside)
    with pytest.raises(funnel.FunnelError, match="needs the per-unit rows, which stayed in"):
        compare_arms(inside, "device")
    with pytest.raises(funnel.FunnelError, match="--reduce-in driver"):
        inside.all_units()
    page = render_html(inside).lower()  # the breakdown table, without per-value charts
    assert "breakdown" in page and "breakdown-device" not in page


def test_the_reduce_inside_spark_of_an_empty_dump(spark, tmp_path):
    empty = pl.read_parquet("sample_events/events.parquet").clear()
    empty.write_parquet(tmp_path / "e.parquet")
    local = funnel.analyze(str(tmp_path))
    inside = funnel.spark.analyze(str(tmp_path), spark=spark, reduce_in="spark")
    assert _tables(inside) == _tables(local) and local.summary["units_entered"] == 0


def test_auto_reduces_inside_spark_only_when_the_driver_budget_is_too_small(spark):
    heard: list[str] = []
    tight = funnel.AnalyzeOptions(memory="1kb")
    small = funnel.spark.analyze("sample_events/", options=tight, spark=spark, told=heard.append)
    assert len(heard) == 1 and "reduced inside Spark" in heard[0] and "MiB" in heard[0]
    assert small.units.is_empty()
    roomy = funnel.AnalyzeOptions(memory="4GiB")
    big = funnel.spark.analyze("sample_events/", options=roomy, spark=spark, told=heard.append)
    assert len(heard) == 1 and big.units.height > 0
    assert _tables(small) == _tables(big)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(st.integers(0, 3), st.integers(-3, 40), st.integers(1, 5)), max_size=60)
)
def test_order_statistics_inside_spark_are_those_of_polars(spark, rows):
    """Ranks found by Spark's running counts: the values polars finds with a search over
    the same frequency tables (repeated durations, one-value distributions, none)."""
    from funnel.engine.timing import order_statistics
    from funnel.spark.reduce import order_statistics_in_spark

    freq = pl.DataFrame(
        rows, schema={"_d": pl.Int32, "micros": pl.Int64, "_n": pl.Int64}, orient="row"
    )
    inside = order_statistics_in_spark(spark.createDataFrame(rows, "_d int, micros long, _n long"))
    assert inside.equals(order_statistics(freq))


def _mixed_dump(folder) -> None:
    """Three CSV files and two JSON-lines files with bad rows, malformed lines and
    duplicates."""
    df = pl.read_parquet("sample_events/events.parquet").head(6000)
    df = df.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
    df = pl.concat([df, df.head(40)])  # duplicates, some across files
    for i in range(3):  # overlapping: the shared rows are duplicates across files
        df.slice(i * 1990, 2000).write_csv(folder / f"day-{i}.csv")
    extra = df.slice(6000, 40).vstack(df.slice(0, 5))
    extra = extra.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col("user_id")).alias("user_id")
    )
    extra.head(30).write_ndjson(folder / "late-0.ndjson")
    extra.tail(25).write_ndjson(folder / "late-1.ndjson")
    with open(folder / "day-1.csv", "a") as fh:  # a ragged line, a cut-off last line
        fh.write("," * df.width + "\nu2,add")  # (empty values: the types stay as they are)
    with open(folder / "late-1.ndjson", "a") as fh:
        fh.write('{"user_id": "u3", "ev\n')


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_the_ledger_and_rejects_of_files_in_several_formats(spark, tmp_path, fmt):
    (tmp_path / "dump").mkdir()
    _mixed_dump(tmp_path / "dump")
    pattern = str(tmp_path / "dump" / ("*.csv" if fmt == "csv" else "*.ndjson"))
    opts = funnel.AnalyzeOptions(rejects_path=str(tmp_path / "local.csv"))
    local = funnel.analyze(pattern, options=opts)
    spark_opts = funnel.AnalyzeOptions(rejects_path=str(tmp_path / "spark.csv"), buckets=3)
    on_spark = funnel.spark.analyze(pattern, options=spark_opts, spark=spark)
    assert on_spark.ledger.to_dict() == local.ledger.to_dict()
    assert local.ledger.to_dict()["duplicates"] > 0
    assert any("the first at line" in n for n in local.ledger.notes)
    assert local.ledger.by_reason()["malformed"] == (2 if fmt == "csv" else 1)
    assert _json(on_spark) == _json(local)
    # the same rejected rows, with their lines (Spark returns them in its own order)
    rejected = [pl.read_csv(tmp_path / f"{n}.csv").sort(pl.all()) for n in ("local", "spark")]
    assert rejected[0].height > 0 and rejected[0]["line"].is_not_null().all()
    assert rejected[1].equals(rejected[0])


def test_causes_and_validate(spark):
    local = funnel.analyze("sample_events/")
    assert funnel.spark.causes("sample_events/", spark=spark).to_json(
        include_evidence=True
    ) == local.causes.to_json(include_evidence=True)
    ledger = funnel.spark.validate("sample_events/", spark=spark)
    assert ledger.to_dict() == funnel.validate("sample_events/").to_dict()


@pytest.mark.parametrize(
    "how",
    [
        {"by": "experiment_arm"},
        {"periods": [("2024-05-01", "2024-05-08"), ("2024-05-08", "2024-05-22")]},
        {"other": "sample_events/events.parquet"},
    ],
)
def test_compare_gives_the_same_bytes(spark, how):
    cmp_opts = funnel.CompareOptions(bootstrap=200, seed=3)
    local = funnel.compare("sample_events/", options=cmp_opts, **how)
    on_spark = funnel.spark.compare("sample_events/", options=cmp_opts, spark=spark, **how)
    assert on_spark.to_json() == local.to_json()


def test_a_spark_dataframe_as_the_source(spark):
    frame = spark.read.parquet("sample_events/events.parquet")
    on_spark = funnel.spark.analyze(frame, spark=spark)
    local = funnel.analyze("sample_events/")
    assert on_spark.steps.equals(local.steps)
    assert on_spark.units.equals(local.units)
    got, want = on_spark.ledger.to_dict(), local.ledger.to_dict()
    assert {k: got[k] for k in ("rows", "used", "duplicates", "rejected")} == {
        k: want[k] for k in ("rows", "used", "duplicates", "rejected")
    }
    # the file as Spark names it, without the file: scheme
    assert got["by_file"][0]["file"] == os.path.abspath("sample_events/events.parquet")


def test_epoch_numbers_in_a_spark_dataframe_get_their_unit_inferred(spark):
    df = pl.read_parquet("sample_events/events.parquet").with_columns(
        pl.col("timestamp").dt.epoch("s")
    )
    local = funnel.analyze(df, options=_options())
    frame = spark.createDataFrame(df.to_arrow())
    on_spark = funnel.spark.analyze(frame, options=_options(), spark=spark)
    assert on_spark.steps.equals(local.steps)
    assert on_spark.ledger.to_dict()["notes"] == local.ledger.to_dict()["notes"]


def test_the_cli_engine_option(spark, tmp_path):
    runner = CliRunner()
    args = ["analyze", "sample_events/", "--format", "json", "-q"]
    local = runner.invoke(main, args)
    on_spark = runner.invoke(main, [*args, "--engine", "spark"])
    assert on_spark.exit_code == 0, on_spark.output
    assert on_spark.stdout == local.stdout
    assert json.loads(on_spark.stdout)["summary"]["sessions"] > 0
    inside = runner.invoke(main, [*args, "--engine", "spark", "--reduce-in", "spark"])
    assert inside.exit_code == 0, inside.output
    assert inside.stdout == local.stdout
    out = str(tmp_path / "s.csv")
    refused = runner.invoke(
        main, [*args, "--engine", "spark", "--reduce-in", "spark", "--sessions-out", out]
    )
    assert refused.exit_code == 2 and "--sessions-out needs the per-unit rows" in refused.output
    cmp = ["compare", "sample_events/", "--by", "device", "--engine", "spark"]
    refused = runner.invoke(main, [*cmp, "--reduce-in", "spark"])
    assert refused.exit_code == 2 and "compare" in refused.output


def test_a_fresh_process_keeps_spark_out_of_the_output(tmp_path):
    """The CLI in a new process starts its own local session: same stdout as the local
    engine, nothing of Spark's on stderr (its JVM writes to FUNNEL_SPARK_LOG)."""
    import subprocess
    import sys

    log = tmp_path / "spark.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    env |= {"FUNNEL_SPARK_LOG": str(log), "FUNNEL_SPARK_MASTER": "local[1]"}
    cmd = [sys.executable, "-m", "funnel.cli", "analyze", "sample_events/", "--format", "json"]
    local = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    on_spark = subprocess.run(
        [*cmd, "--engine", "spark", "-q"], capture_output=True, text=True, env=env
    )
    assert on_spark.returncode == 0, on_spark.stderr
    assert on_spark.stdout == local.stdout
    assert on_spark.stderr == ""
    assert "SparkContext" in log.read_text() or "log level" in log.read_text()


def test_files_that_disagree_on_types_are_refused_with_a_named_error(spark, tmp_path):
    df = pl.read_parquet("sample_events/events.parquet").head(100)
    df.write_parquet(tmp_path / "a.parquet")
    df.with_columns(pl.col("delivery_days").cast(pl.String)).write_parquet(tmp_path / "b.parquet")
    with pytest.raises(funnel.FunnelError, match="disagree on column types"):
        funnel.spark.analyze(str(tmp_path), spark=spark)


def test_columns_named_like_the_engines_own(spark, tmp_path):
    """A data column named _file / _k / at_cart / converted, read from a Parquet file, a
    CSV file and a Spark DataFrame: the same bytes as the local engine, names restored."""
    df = pl.read_parquet("sample_events/events.parquet").with_columns(
        pl.col("device").alias("_file"),
        pl.col("device").alias("_k"),
        pl.col("country").alias("at_cart"),
        pl.col("experiment_arm").alias("converted"),
    )
    df.write_parquet(tmp_path / "e.parquet")
    df.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")).write_csv(
        tmp_path / "e.csv"
    )
    opts = funnel.AnalyzeOptions(by=("_k", "converted"), buckets=3)
    for path in (tmp_path / "e.parquet", tmp_path / "e.csv"):
        local = funnel.analyze(str(path), options=opts)
        assert "_k" in local.units.columns and "data:converted" in local.units.columns
        assert _json(funnel.spark.analyze(str(path), options=opts, spark=spark)) == _json(local)
    frame = spark.createDataFrame(df.to_arrow())
    on_spark = funnel.spark.analyze(frame, options=opts, spark=spark)
    local = funnel.analyze(df, options=opts)
    assert on_spark.units.equals(local.units) and on_spark.breakdown.equals(local.breakdown)
