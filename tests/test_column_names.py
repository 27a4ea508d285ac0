"""Data columns with any name: one named like the engine's own columns (``_file``, ``_k``,
``at_<step>``) or like a column of the session table (``converted``) is kept apart on the
way in and comes out under its own name in the breakdown, ``--sessions-out`` and
``--rejects-out`` — compared with the same values under an ordinary name."""

from __future__ import annotations

import polars as pl
import pytest
from click.testing import CliRunner

import funnel
from funnel.cli import main
from funnel.errors import SchemaError

ODD = ["_seg", "_file", "_k", "_line", "at_home", "at_cart", "converted", "exit_step"]


def _dump(tmp_path, name: str, fmt: str):
    df = pl.read_parquet("sample_events/events.parquet").head(20_000)
    df = df.with_columns(pl.col("device").alias(name))
    if fmt == "frame":
        return df
    path = tmp_path / f"events.{fmt}"
    if fmt == "parquet":
        df.write_parquet(path)
    else:
        text = df.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        text.write_csv(path) if fmt == "csv" else text.write_ndjson(path)
    return str(path)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "ndjson", "frame"])
@pytest.mark.parametrize("name", ODD)
def test_a_by_column_of_any_name_gives_the_breakdown_of_its_values(tmp_path, name, fmt):
    source = _dump(tmp_path, name, fmt)
    opts = funnel.AnalyzeOptions(causes=False)
    odd = funnel.analyze(source, options=funnel.AnalyzeOptions(by=(name,), causes=False))
    plain = funnel.analyze(source, options=funnel.AnalyzeOptions(by=("device",), causes=False))
    assert odd.breakdown.equals(plain.breakdown.rename({"device": name}))
    assert odd.steps.equals(funnel.analyze(source, options=opts).steps)
    # in the session table under its own name, or beside the engine's column of that name
    taken = name in ("converted", "exit_step", "at_cart")  # the table has its own
    column = f"data:{name}" if taken else name
    assert odd.units[column].equals(plain.units["device"].alias(column))
    if taken:
        assert odd.units[name].equals(plain.units[name])  # the engine's own, untouched


def test_sessions_out_and_rejects_keep_the_names(tmp_path):
    df = pl.read_parquet("sample_events/events.parquet").head(5_000)
    df = df.with_columns(pl.col("device").alias("_seg"), pl.col("country").alias("at_home"))
    bad = df.head(2).with_columns(pl.lit(None, pl.String).alias("user_id"), _seg=pl.lit("BAD"))
    pl.concat([df, bad]).write_parquet(tmp_path / "e.parquet")
    out = tmp_path / "out"
    out.mkdir()
    res = CliRunner().invoke(
        main,
        [
            "analyze",
            str(tmp_path / "e.parquet"),
            "--by",
            "_seg",
            "--sessions-out",
            str(out / "s.parquet"),
            "--rejects-out",
            str(out / "r.csv"),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    sessions = pl.read_parquet(out / "s.parquet")
    assert "_seg" in sessions.columns and not any(c.startswith("data:") for c in sessions.columns)
    rejects = pl.read_csv(out / "r.csv")
    assert {"_seg", "at_home"} <= set(rejects.columns)
    assert rejects.filter(pl.col("_seg") == "BAD")["reason"].to_list() == ["null_user"] * 2


def test_a_spec_names_such_a_column_data_colon_and_is_told_so():
    df = pl.read_parquet("sample_events/events.parquet").with_columns(
        pl.col("device").alias("_seg")
    )
    step = {"event": "add_to_cart", "where": "\"data:_seg\" = 'mobile'"}
    spec = funnel.FunnelSpec.from_dict({"steps": [step, {"event": "purchase"}]})
    want = funnel.FunnelSpec.from_dict(
        {
            "steps": [
                {"event": "add_to_cart", "where": "device = 'mobile'"},
                {"event": "purchase"},
            ]
        }
    )
    opts = funnel.AnalyzeOptions(causes=False)
    assert funnel.analyze(df, spec, opts).steps.equals(funnel.analyze(df, want, opts).steps)
    wrong = funnel.FunnelSpec.from_dict(
        {"steps": [{"event": "add_to_cart"}, {"event": "purchase"}], "hold": ["_seg"]}
    )
    with pytest.raises(SchemaError, match="did you mean 'data:_seg'"):
        funnel.analyze(df, wrong, opts)


@pytest.mark.parametrize("name", ["_seg", "converted"])
def test_compare_by_a_column_of_any_name(name):
    df = pl.read_parquet("sample_events/events.parquet").with_columns(
        pl.col("experiment_arm").alias(name)
    )
    opts = funnel.CompareOptions(bootstrap=0)
    got = funnel.compare(df, by=name, options=opts)
    want = funnel.compare(df, by="experiment_arm", options=opts)
    assert got.versions.equals(want.versions)
    assert got.steps.equals(want.steps)
