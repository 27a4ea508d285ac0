"""Drivers discovery: feature counts, coded (bit masks) or not (hashing), vs plain Python.

Rows sorted by session or not, columns coded (categorical) or text, few or many values:
every path must give the reference's counts.
"""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

import funnel
from funnel.causes.drivers import feature_counts
from funnel.causes.evidence import unit_lookup

SPEC = funnel.FunnelSpec.from_dict(
    {"steps": [{"event": "cart"}, {"event": "buy"}], "attribution": {"drivers": ["d"]}}
)


def _reference(sessions: list[list[tuple[str, str | None]]], units: list[dict]) -> dict:
    """(feature, censor key) -> (abandoned, converted, abandoned before the last event):
    per unit, the set of its sessions' features (and of them all but the exit session's
    last row)."""
    counts: dict[tuple, list[int]] = {}
    for u in units:
        seen, before = set(), set()
        for sid in range(u["_sid"], u["_exit_sid"] + 1):
            rows = sessions[sid - 1]
            for i, (event, d) in enumerate(rows):
                found = [f"event={event}"] if event not in ("cart", "buy") else []
                found += [f"d={d}"] if d is not None else []
                seen.update(found)
                if sid != u["_exit_sid"] or i != len(rows) - 1:
                    before.update(found)
        for f in seen:
            row = counts.setdefault((f, u["_end"]), [0, 0, 0])
            row[u["converted"]] += 1
            row[2] += not u["converted"] and f in before
    return {f: tuple(v) for f, v in counts.items()}


session_strategy = st.lists(
    st.tuples(st.sampled_from(["cart", "buy", "view", "err"]), st.integers(0, 69) | st.none()),
    min_size=1,
    max_size=6,
)


@settings(max_examples=80, deadline=None)
@given(
    sessions=st.lists(session_strategy, min_size=1, max_size=12),
    many=st.booleans(),
    data=st.data(),
)
def test_feature_counts_match_reference_coded_or_not(sessions, many, data):
    # few values fit a bit mask; 70 do not (counted by hashing): both must agree
    sessions = [
        [(e, None if v is None else f"v{v if many else v % 3}") for e, v in s] for s in sessions
    ]
    # units: runs of consecutive sessions (some sessions belong to none)
    units, sid = [], 1
    while sid <= len(sessions):
        length = data.draw(st.integers(1, 3))
        last = min(sid + length - 1, len(sessions))
        if data.draw(st.booleans()):
            end = data.draw(st.none() | st.integers(0, 2))  # funnel.engine.censor keys
            units.append(
                {"_sid": sid, "_exit_sid": last, "converted": data.draw(st.booleans()), "_end": end}
            )
        sid = last + 1
    rows = pl.DataFrame(
        [
            {"_sid": i, "event": e, "d": d, "_last": j == len(s) - 1}
            for i, s in enumerate(sessions, start=1)
            for j, (e, d) in enumerate(s)
        ],
        schema={"_sid": pl.Int64, "event": pl.String, "d": pl.String, "_last": pl.Boolean},
    )
    if data.draw(st.booleans()):  # rows out of session order: no sorted fast path
        rows = rows.sample(fraction=1.0, shuffle=True, seed=data.draw(st.integers(0, 99)))
    unit_frame = pl.DataFrame(
        units,
        schema={"_sid": pl.Int64, "_exit_sid": pl.Int64, "converted": pl.Boolean, "_end": pl.Int64},
    )
    unit_frame = unit_frame.with_row_index("_unit")
    of_sid = unit_lookup(unit_frame, len(sessions))
    expected = _reference(sessions, units)
    for coded in (True, False):
        frame = rows.with_columns(pl.col("event", "d").cast(pl.Categorical)) if coded else rows
        got = feature_counts(frame, unit_frame, SPEC, ["d"], of_sid).collect()
        assert {
            (r["feature"], r["_end"]): (
                r["abandoned_with"],
                r["converted_with"],
                r["abandoned_before"],
            )
            for r in got.iter_rows(named=True)
        } == expected, coded


def test_features_only_one_outcome_has_are_flagged_and_left_out_of_the_top():
    """Complete separation (page=/cart: 0 converters on the sample) restates the outcome:
    flagged, never significant, listed after every other feature."""
    from funnel.causes.drivers import drivers_table

    counts = pl.DataFrame(
        {
            "feature": ["page=/cart", "event=x", "event=y"],
            "kind": ["property", "event", "event"],
            "abandoned_with": [50, 30, 0],
            "converted_with": [0, 5, 25],
            "abandoned_before": [50, 30, 0],
        }
    )
    table = drivers_table(counts, 60, 40, SPEC)  # 60 abandoned, 40 converted
    order = table["feature"].to_list()
    assert order[0] == "event=x" and set(order[1:]) == {"event=y", "page=/cart"}
    flags = dict(zip(table["feature"], table["flag"], strict=True))
    assert flags == {
        "event=x": None,
        "event=y": "only in converted units",
        "page=/cart": "only in abandoned units",
    }
    assert table.filter(pl.col("flag").is_not_null())["significant"].to_list() == [False, False]
    assert table.filter(feature="event=x")["significant"][0]  # 30/60 vs 5/40: a driver
    sample = funnel.analyze("sample_events/").causes
    cart = sample.drivers.filter(feature="page=/cart").row(0, named=True)
    # the page a shopper looks at on the way out: every time the last event
    assert cart["converted_with"] == 0 and cart["flag"] == "only at the exit"
    assert cart["abandoned_before"] == 0 < cart["abandoned_with"]
    assert not cart["significant"] and sample.drivers["feature"][-1] == "page=/cart"


def test_features_seen_only_at_the_exit_are_flagged_unless_a_cause_names_them():
    """A feature every abandoned unit has only on its last event is the exit itself (an
    exit page) even when converters have it too; a taxonomy cause's evidence is not."""
    from funnel.causes.drivers import drivers_table

    spec = funnel.FunnelSpec.from_dict(
        {
            "steps": [{"event": "cart"}, {"event": "buy"}],
            "attribution": {"builtin": False, "drivers": ["d"]},
            "causes": [{"name": "wall", "event": "login_wall"}],
        }
    )
    counts = pl.DataFrame(
        {
            "feature": ["page=/bye", "event=login_wall", "event=x"],
            "kind": ["property", "event", "event"],
            "abandoned_with": [40, 40, 30],
            "converted_with": [5, 5, 5],
            "abandoned_before": [0, 0, 12],
        }
    )
    flags = dict(drivers_table(counts, 60, 40, spec).select("feature", "flag").iter_rows())
    assert flags == {"page=/bye": "only at the exit", "event=login_wall": None, "event=x": None}
