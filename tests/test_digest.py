"""The reduce from counts: digests of sets of units add up to the digest of all of them,
and the timing percentiles from frequency tables are polars' quantiles of the durations.

The reference for the percentiles is polars' ``quantile(q, "linear")`` and a plain mean
over every duration, one value per unit, which the frequency tables never hold; the
reference for a sum of digests is the digest of all units at once.
"""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnel
from funnel.engine.tables import micros_to_seconds
from funnel.engine.timing import (
    QUANTILES,
    order_statistics,
    rank_of,
    timing_counts,
    timing_from_statistics,
    timing_table,
)
from funnel.runners.analyze import bucket_plan, default_spec, prepare
from funnel.runners.bucket import map_bucket
from funnel.runners.digest import SUMMED, add_digests, digest_units
from funnel.runners.reduce import kept_units, reduce_counts

SPEC = funnel.FunnelSpec.from_dict(
    {"steps": [{"event": "cart"}, {"event": "pay", "optional": True}, {"event": "buy"}]}
)
T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


@st.composite
def unit_rows(draw) -> pl.DataFrame:
    """Units as the engine leaves them: step times (later steps after earlier ones, some
    missing), outcome, exit step and the seconds columns, with many equal durations."""
    n = draw(st.integers(1, 40))
    rows = []
    for _ in range(n):
        start = T0 + dt.timedelta(microseconds=draw(st.integers(0, 10**9)))
        gaps = [draw(st.sampled_from([0, 1, 1_000, 999_999, 3_000_000, 7_654_321])) for _ in "ab"]
        pay = start + dt.timedelta(microseconds=gaps[0]) if draw(st.booleans()) else None
        buy = (pay or start) + dt.timedelta(microseconds=gaps[1]) if draw(st.booleans()) else None
        end = (buy or pay or start) + dt.timedelta(microseconds=draw(st.integers(0, 5_000_000)))
        converted = buy is not None
        furthest = "buy" if converted else ("pay" if pay else "cart")
        rows.append(
            {
                "at_cart": start,
                "at_pay": pay,
                "at_buy": buy,
                "converted": converted,
                "entry_step": "cart",
                "exit_step": None if converted else furthest,
                "entered_at": start,
                "last_event_at": end,
            }
        )
    frame = pl.DataFrame(rows).with_columns(pl.col("^at_.*$").cast(pl.Datetime("us", "UTC")))
    seconds = lambda d: micros_to_seconds(d.dt.total_microseconds())  # noqa: E731 as units_table
    last = pl.coalesce("at_buy", "at_pay", "at_cart")
    return frame.with_columns(
        pl.when("converted")
        .then(seconds(pl.col("at_buy") - pl.col("at_cart")))
        .alias("time_to_convert_s"),
        pl.when(~pl.col("converted"))
        .then(seconds(pl.col("last_event_at") - last))
        .alias("time_at_exit_s"),
    )


def _reference_timing(units: pl.DataFrame) -> dict:
    """Per distribution: n, mean and polars' quantiles over the durations themselves."""
    out = {}
    seconds = {
        ("step", "cart", "pay"): units["at_pay"] - units["at_cart"],
        ("step", "pay", "buy"): units["at_buy"] - units["at_pay"],
        ("step", "cart", "buy"): units["at_buy"] - units["at_cart"],
    }
    for key, diff in seconds.items():
        seconds[key] = (diff.dt.total_microseconds().cast(pl.Float64) * 1e-6).drop_nulls()
    seconds[("time_to_convert", "cart", "buy")] = units["time_to_convert_s"].drop_nulls()
    for step in ("cart", "pay"):
        exits = units.filter(pl.col("exit_step") == step)["time_at_exit_s"].drop_nulls()
        seconds[("time_at_exit", step, None)] = exits
    for key, values in seconds.items():
        if values.len():
            micros = [round(v * 1_000_000) for v in values.to_list()]
            quantiles = {name: values.quantile(q, "linear") for name, q in QUANTILES.items()}
            out[key] = {"n": values.len(), "mean_s": sum(micros) / 1e6 / values.len()}
            out[key] |= quantiles
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(units=unit_rows(), splits=st.lists(st.integers(0, 40), max_size=4))
def test_timing_from_frequency_tables_is_polars_quantile_of_the_durations(units, splits):
    ref = _reference_timing(units)
    bounds = sorted({0, units.height, *(min(s, units.height) for s in splits)})
    # frequency tables of any split of the units, added up
    counts = pl.concat(
        [timing_counts(units[a:b], SPEC).collect() for a, b in itertools.pairwise(bounds)]
    )
    for table in (timing_table(units, SPEC), _from_counts(counts)):
        got = {
            (r["kind"], r["from_step"], r["to_step"]): r
            for r in table.iter_rows(named=True)
            if r["n"]
        }
        assert set(got) == set(ref)
        for key, want in ref.items():
            row = got[key]
            assert row["n"] == want["n"]
            assert row["mean_s"] == want["mean_s"]
            for name in QUANTILES:  # to the bit
                assert row[name] == want[name], (key, name)


def _from_counts(counts: pl.DataFrame) -> pl.DataFrame:
    return timing_from_statistics(order_statistics(counts), SPEC)


def test_rank_of_reads_the_two_values_around_the_quantile():
    assert rank_of(1, 0.9) == (0, 0, 0.0)
    assert rank_of(11, 0.9)[:2] == (9, 10)
    values = pl.Series([1.0, 2.0, 4.0, 8.0])
    lo, hi, frac = rank_of(4, 0.75)
    assert values[lo] + (values[hi] - values[lo]) * frac == values.quantile(0.75, "linear")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.lists(st.integers(0, 2000), min_size=1, max_size=5), by=st.booleans())
def test_digests_of_any_split_of_the_units_add_up_to_the_digest_of_all(sample, cut, by):
    """The sample's kept units, split anywhere: every table from the summed digests equals
    the table from the digest of all of them."""
    units, evidence, spec = sample
    columns = ("device",) if by else ()
    whole = digest_units(units, evidence, spec, by=columns)
    bounds = sorted({0, units.height, *(min(c, units.height) for c in cut)})
    parts = []
    for a, b in itertools.pairwise(bounds):
        chunk = units[a:b]
        keys = chunk.select("user_id", "session_id")
        ev = evidence.join(keys, on=["user_id", "session_id"], how="semi")
        parts.append(digest_units(chunk, ev, spec, by=columns))
    summed = add_digests(parts)
    for name, frame in whole.items():
        order = [c for c in frame.columns if c not in SUMMED] or frame.columns
        assert (
            summed[name]
            .sort(order, nulls_last=True)
            .equals(frame.sort(order, nulls_last=True).select(summed[name].columns))
        ), name


@pytest.fixture(scope="module")
def sample():
    """The sample's kept units with their internal columns, their evidence, the spec."""
    options = funnel.AnalyzeOptions(by=("device",))
    spec = default_spec(None, options)
    prepared = prepare("sample_events/", options, spec)
    plan = bucket_plan(prepared, spec, options, causes=True)
    part = map_bucket(prepared.frame, plan)
    data_end = reduce_counts([part])["data_end"]
    units, _, evidence = kept_units(part.units, part.evidence, plan, data_end)
    return units, evidence, spec
