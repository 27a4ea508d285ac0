"""Differential tests: the engine against the naive reference, on random event logs.

Logs have shuffled rows, exact duplicates, ties in timestamps, sessions across midnight,
users with one event, bad rows, and windows that cut paths; specs cover every mode and
option. Results must also not depend on row order or on how the data is split in files.
"""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnel
from funnel.engine.sessionize import content_hash
from tests import reference as ref

UTC = dt.timezone.utc
BASE = dt.datetime(2024, 3, 9, 23, 0, tzinfo=UTC)  # paths cross midnight
NOW = dt.datetime(2024, 3, 12, tzinfo=UTC)
FLOOR = dt.datetime(2024, 1, 1, tzinfo=UTC)
EVENTS = ["cart", "checkout", "ship", "pay", "buy", "view", "clear"]
SCHEMA = {
    "user_id": pl.String,
    "timestamp": pl.Datetime("us", "UTC"),
    "event": pl.String,
    "cart": pl.String,
    "value": pl.Int64,
    "session_id": pl.String,
}

row_strategy = st.fixed_dictionaries(
    {
        "user_id": st.sampled_from(["u1"] * 5 + ["u2"] * 3 + ["u3", "u4", "", None]),
        # gap to the user's previous event: ties, short steps, exactly 10m/20m, session breaks
        "gap_s": st.sampled_from([0, 0, 10, 10, 60, 60, 300, 300, 600, 1200, 1800, 1801, 10800]),
        "event": st.sampled_from(
            ["NEXT"] * 8
            + ["cart", "checkout", "ship", "pay", "buy", "view", "clear", "clear", None]
        ),
        "cart": st.sampled_from(["A", "A", "B", None]),
        "value": st.integers(0, 3),
        "session_id": st.sampled_from(["s1", "s2", None]),
        "bad": st.sampled_from([None] * 15 + ["null_ts", "future", "old"]),
    }
)


def _make_rows(raw: list[dict], dup_idx: list[int]) -> list[dict]:
    rows, clock, walk = [], {}, {}
    funnel_events = ["cart", "checkout", "ship", "pay", "buy"]
    for r in raw:
        event = r["event"]
        if event == "NEXT":  # walk down the funnel, so that deep paths are common
            walk[r["user_id"]] = walk.get(r["user_id"], -1) + 1
            event = funnel_events[walk[r["user_id"]] % 5]
        t = clock.get(r["user_id"], BASE) + dt.timedelta(seconds=r["gap_s"])
        clock[r["user_id"]] = t
        ts = {
            "null_ts": None,
            "future": NOW + dt.timedelta(days=3),
            "old": dt.datetime(1999, 1, 1, tzinfo=UTC),
        }.get(r["bad"], t)
        rows.append(
            {
                "user_id": r["user_id"],
                "timestamp": ts,
                "event": event,
                "cart": r["cart"],
                "value": r["value"],
                "session_id": r["session_id"],
            }
        )
    rows += [dict(rows[i % len(rows)]) for i in dup_idx] if rows else []
    return rows


FEATURES = [
    "plain",
    "exclude",
    "hold",
    "window",
    "open",
    "strict",
    "any_order",
    "users",
    "max_length",
    "use_column",
    "filters",
    "first_occurrence",
    "optional",
    "within",
]


@st.composite
def specs(draw: st.DrawFn, force: str | None = None) -> funnel.FunnelSpec:
    """Random specs; ``force`` switches one feature on so that every option gets examples."""
    modes = ["ordered", "ordered", "strict", "any_order", "first_occurrence"]
    mode = {"strict": "strict", "any_order": "any_order", "first_occurrence": force}.get(
        force or "", draw(st.sampled_from(modes))
    )
    if force in ("exclude", "open", "hold", "optional", "within"):
        mode = "ordered" if force == "exclude" else mode
        if force in ("optional", "within") and mode in ("strict", "any_order"):
            mode = draw(st.sampled_from(["ordered", "first_occurrence"]))
        if force in ("open", "hold") and mode == "first_occurrence":
            mode = "ordered"
    n = draw(st.integers(2 if force in ("exclude", "within") else 1, 5))
    n = max(n, 3) if force == "optional" else n
    steps = []
    for i, name in enumerate(["cart", "checkout", "ship", "pay", "buy"][:n]):
        step: dict = {"name": f"s{i}", "event": name}
        if draw(st.integers(0, 5)) == 0:
            step["event"] = [name, "view"]
        if draw(st.integers(0, 1 if force == "filters" else 4)) == 0:
            step["where"] = draw(
                st.sampled_from(
                    ["value >= 1", "cart in ('A')", "cart is null", "value < 2 or cart == 'B'"]
                )
            )
        if mode in ("ordered", "first_occurrence") and 0 < i < n - 1:
            if draw(st.integers(0, 1 if force == "optional" else 4)) == 0:
                step["optional"] = True
        if mode in ("ordered", "first_occurrence") and i > 0:
            if draw(st.integers(0, 1 if force == "within" else 5)) == 0:
                step["within"] = draw(st.sampled_from(["1m", "5m", "10m", "20m"]))
        steps.append(step)
    data: dict = {"mode": mode, "steps": steps}
    windows = ["20m", "2h", "10m"] if force == "window" else ["session", "session", "20m", "2h"]
    data["window"] = draw(st.sampled_from(windows))
    data["unit"] = (
        "users" if force == "users" else draw(st.sampled_from(["sessions"] * 2 + ["users"]))
    )
    if mode not in ("any_order", "first_occurrence"):
        entry = "open" if force == "open" else draw(st.sampled_from(["closed", "closed", "open"]))
        data["entry"] = entry
        if mode == "ordered" and n >= 2 and (force == "exclude" or draw(st.booleans())):
            a = draw(st.sampled_from([i for i in range(n - 1) if not steps[i].get("optional")]))
            b = draw(st.integers(a + 1, n - 1))
            data["exclude"] = [{"event": "clear", "between": [f"s{a}", f"s{b}"]}]
    if mode != "first_occurrence" and (force == "hold" or draw(st.integers(0, 3)) == 0):
        data["hold"] = ["cart"]
    sess: dict = {"timeout": draw(st.sampled_from(["30m", "10m"]))}
    if force == "max_length" or draw(st.integers(0, 3)) == 0:
        sess["max_length"] = draw(st.sampled_from(["45m", "15m"]))
    if force == "use_column" or draw(st.integers(0, 4)) == 0:
        sess["use_column"] = True
    data["sessions"] = sess
    return funnel.FunnelSpec.from_dict(data)


def _options(**kw) -> funnel.AnalyzeOptions:
    return funnel.AnalyzeOptions(
        validate=funnel.ValidateOptions(min_time=FLOOR, max_time=NOW), **kw
    )


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else pl.DataFrame(schema=SCHEMA)


def _with_ties(rows: list[dict]) -> list[dict]:
    df = _frame(rows)
    ties = df.select(content_hash(list(SCHEMA)).alias("t"))["t"].to_list()
    return [dict(r, _tie=t) for r, t in zip(rows, ties, strict=True)]


def write_parts(df: pl.DataFrame, folder, cut: int):
    """Split ``df`` into about ``cut`` Parquet files in ``folder``; return the folder."""
    size = max(1, df.height // cut)
    for i, start in enumerate(range(0, df.height, size)):
        df.slice(start, size).write_parquet(folder / f"part-{i}.parquet")
    return folder


def _engine_units(result: funnel.FunnelResult, units: pl.DataFrame | None = None) -> list[dict]:
    cols = [
        "user_id",
        "session_id",
        "entry_step",
        "furthest_step",
        "converted",
        "entered_at",
        *[f"at_{n}" for n in result.spec.step_names],
        "time_to_convert_s",
        "time_at_exit_s",
        "last_event_at",
    ]
    return (result.units if units is None else units).select(cols).to_dicts()


@pytest.mark.parametrize("feature", FEATURES)
@settings(max_examples=90, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    raw=st.lists(row_strategy, min_size=0, max_size=60)
    | st.lists(row_strategy, min_size=20, max_size=60),
    dup_idx=st.lists(st.integers(0, 100), max_size=4),
    seed=st.randoms(),
)
def test_engine_matches_reference(feature, data, raw, dup_idx, seed):
    spec = data.draw(specs(force=feature))
    rows = _make_rows(raw, dup_idx)
    seed.shuffle(rows)
    censor = data.draw(st.sampled_from([None, "auto", "20m", "3h"]))
    result = funnel.analyze(_frame(rows), spec, _options(censor=censor))
    cleaned = ref.clean(_with_ties(rows), NOW, FLOOR)
    horizon = {"20m": 1200.0, "3h": 10800.0}.get(censor, censor)
    expected, censored = ref.split_censored(ref.units(cleaned, spec), cleaned, spec, horizon)
    assert _engine_units(result) == expected
    assert _engine_units(result, result.censored) == censored
    assert result.summary["units_censored"] == len(censored)
    # step counts and ledger
    got = list(
        zip(result.steps["entered"].to_list(), result.steps["reached_next"].to_list(), strict=True)
    )
    assert got == ref.step_counts(expected, spec)
    led = ref.ledger(rows, NOW, FLOOR)
    assert result.ledger.total("used") == led["used"]
    assert result.ledger.total("duplicate") == led["duplicates"]
    assert result.ledger.by_reason() == {k: v for k, v in led["rejected"].items() if v}
    assert result.ledger.total() == len(rows)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.lists(row_strategy, min_size=1, max_size=60), spec=specs(), seed=st.randoms())
def test_timing_matches_reference(raw, spec, seed):
    rows = _make_rows(raw, [])
    result = funnel.analyze(_frame(rows), spec, _options())
    cleaned = ref.clean(_with_ties(rows), NOW, FLOOR)
    units, _ = ref.split_censored(ref.units(cleaned, spec), cleaned, spec, "auto")
    names = spec.step_names
    for a, b in itertools.pairwise(names):
        vals = [
            (u[f"at_{b}"] - u[f"at_{a}"]).total_seconds()
            for u in units
            if u[f"at_{a}"] is not None and u[f"at_{b}"] is not None
        ]
        row = result.timing.filter(kind="step", from_step=a).row(0, named=True)
        assert row["n"] == len(vals)
        assert all(v >= 0 for v in vals)
        for col, q in (("median_s", 0.5), ("p90_s", 0.9), ("p25_s", 0.25)):
            exp = ref.quantile(vals, q)
            assert (row[col] is None and exp is None) or abs(row[col] - exp) < 1e-6
    conv = [u["time_to_convert_s"] for u in units if u["converted"]]
    ttc = result.timing.filter(kind="time_to_convert")
    assert int(ttc["n"].sum()) == len(conv)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.lists(row_strategy, min_size=1, max_size=60),
    dup_idx=st.lists(st.integers(0, 100), max_size=4),
    spec=specs(),
    seed=st.randoms(),
    cut=st.integers(1, 5),
)
def test_order_and_partitioning_do_not_matter(tmp_path_factory, raw, dup_idx, spec, seed, cut):
    rows = _make_rows(raw, dup_idx)
    base = funnel.analyze(_frame(rows), spec, _options())
    seed.shuffle(rows)
    folder = write_parts(_frame(rows), tmp_path_factory.mktemp("parts"), cut)
    split = funnel.analyze(str(folder), spec, _options())
    assert split.units.equals(base.units)
    assert split.censored.equals(base.censored)
    assert split.steps.equals(base.steps)
    assert split.timing.equals(base.timing)
    assert split.ledger.total("duplicate") == base.ledger.total("duplicate")
    assert split.ledger.total("used") == base.ledger.total("used")
