"""Conditions on the session (docs/causes.md): earlier values and ``in_a_row``, against the
naive reference on random logs rich in the events they read, and by hand."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnel
from funnel.errors import SpecError
from tests import reference as ref
from tests import reference_causes as refc
from tests.test_engine_vs_reference import FLOOR, NOW, _frame, _make_rows, _options, _with_ties

STEPS = [{"name": f"s{i}", "event": e} for i, e in enumerate(["cart", "checkout", "ship", "pay"])]
CAUSES = [
    # the value rose since the session's first cart or clear row with a value
    {
        "name": "rose",
        "event": "*",
        "where": "value > v0",
        "earlier": {"v0": {"event": ["cart", "clear"], "column": "value"}},
        "within_events": 2,
    },
    # the cart changed since the latest earlier c* row that had one; a clear row is both
    # evidence and source (its own cart is not an earlier one)
    {
        "name": "swapped",
        "event": ["view", "clear"],
        "where": "cart <> was",
        "earlier": {"was": {"event": "c*", "column": "cart", "take": "last"}},
    },
    # two view/clear rows with a value >= 1 in a row: other events do not break the run
    {"name": "slow2", "event": ["view", "clear"], "where": "value >= 1", "in_a_row": 2},
    # both: three in a row above the first value seen, cancelled by a later pay
    {
        "name": "climb",
        "event": "view",
        "where": "value > first",
        "earlier": {"first": {"event": "*", "column": "value"}},
        "in_a_row": 3,
        "within_events": 5,
        "unless_later": {"event": "pay"},
    },
]
SPEC = funnel.FunnelSpec.from_dict(
    {"steps": STEPS, "attribution": {"builtin": False, "min_units": 1}, "causes": CAUSES}
)


def log_rows(users: list[str], gaps: list[int], events: list[str]) -> st.SearchStrategy:
    """Rows for :func:`tests.test_engine_vs_reference._make_rows`: no bad rows, no given
    session ids, a cart and a value that may be missing."""
    return st.fixed_dictionaries(
        {
            "user_id": st.sampled_from(users),
            "gap_s": st.sampled_from(gaps),
            "event": st.sampled_from(events),
            "cart": st.sampled_from(["A", "B", None]),
            "value": st.one_of(st.none(), st.integers(0, 3)),
            "session_id": st.none(),
            "bad": st.none(),
        }
    )


rows_strategy = log_rows(  # ties and session breaks
    ["u1"] * 3 + ["u2"] * 2 + ["u3"],
    [0, 0, 10, 60, 60, 300, 1801],
    ["NEXT"] * 4 + ["view"] * 4 + ["clear"] * 3,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.lists(rows_strategy, min_size=1, max_size=40),
    dup_idx=st.lists(st.integers(0, 100), max_size=2),
    seed=st.randoms(),
)
def test_session_conditions_match_reference(raw, dup_idx, seed):
    rows = _make_rows(raw, dup_idx)
    seed.shuffle(rows)
    result = funnel.analyze(_frame(rows), SPEC, _options(censor=None))
    units = ref.units(ref.clean(_with_ties(rows), NOW, FLOOR), SPEC, internals=True)
    expected = refc.attribute(units, SPEC)
    got = {
        r["session_id"]: (r["primary_cause"], r["causes"])
        for r in result.units.filter(~pl.col("converted")).iter_rows(named=True)
    }
    assert got == {s: (e["primary_cause"], e["causes"]) for s, e in expected.items()}
    ev = {
        (r["session_id"], r["cause"]): (r["event"], r["events_before_exit"])
        for r in result.causes.evidence.iter_rows(named=True)
    }
    assert ev == {(s, c): v for s, e in expected.items() for c, v in e["evidence"].items()}
    decided = {sid: e["decided_at"] for sid, e in expected.items()}
    primary = {sid: e["primary_cause"] for sid, e in expected.items()}
    want = refc.exposure(units, SPEC, decided, primary)
    exposure = {
        r["cause"]: (r["exposed"], r["exposed_abandoned"], r["unexposed"], r["unexposed_abandoned"])
        for r in result.causes.exposure.iter_rows(named=True)
    }
    assert exposure == {k: v[:4] for k, v in want.items()}


def _session(user: str, events: list[tuple[str, float | None]], start: int = 0) -> list[dict]:
    return [
        {
            "user_id": user,
            "timestamp": f"2024-05-01T10:{start + k:02d}:00Z",
            "event": e,
            "value": v,
            "load_ms": v,
        }
        for k, (e, v) in enumerate(events)
    ]


def _run(causes: list[dict], rows: list[dict]) -> funnel.FunnelResult:
    steps = [
        {"name": "cart", "event": "cart"},
        {"name": "checkout", "event": "checkout"},
        {"name": "pay", "event": "pay_page"},
        {"name": "buy", "event": "buy"},
    ]
    spec = funnel.FunnelSpec.from_dict(
        {"steps": steps, "attribution": {"builtin": False}, "causes": causes}
    )
    return funnel.analyze(pl.DataFrame(rows), spec, funnel.AnalyzeOptions(censor=None))


def test_costs_that_rose_after_checkout_began_by_hand():
    rows = (
        _session("a", [("cart", 50.0), ("checkout", 50.0), ("pay_page", 80.0)])  # rose
        + _session("b", [("cart", 50.0), ("checkout", 50.0), ("pay_page", 52.0)])  # barely
        + _session("c", [("cart", 70.0), ("checkout", None), ("pay_page", 90.0)])  # no value then
        # two checkouts: the first one's value counts (take = "first")
        + _session(
            "d", [("cart", 40.0), ("checkout", 40.0), ("checkout", 75.0), ("pay_page", 80.0)]
        )
    )
    rose = {
        "name": "rose",
        "event": "pay_page",
        "where": "value > 1.2 * at_checkout",
        "earlier": {"at_checkout": {"event": "checkout", "column": "value"}},
    }
    result = _run([rose], rows)
    causes = dict(result.units.select("user_id", "primary_cause").iter_rows())
    assert causes == {"a": "rose", "b": "unexplained", "c": "unexplained", "d": "rose"}
    shown = dict(result.causes.evidence.select("user_id", "evidence").iter_rows())
    assert shown == {"a": "value=80.0, at_checkout=50.0", "d": "value=80.0, at_checkout=40.0"}
    # a cause without earlier values beside it: its evidence shows only its own columns
    oops = {"name": "oops", "event": "oops", "where": "value > 0"}
    rows_b = _session("e", [("cart", 50.0), ("checkout", 50.0), ("oops", 52.0)])
    shown = dict(
        _run([rose, oops], rows + rows_b).causes.evidence.select("user_id", "evidence").iter_rows()
    )
    assert shown["e"] == "value=52.0" and shown["a"] == "value=80.0, at_checkout=50.0"
    last = dict(
        rose, earlier={"at_checkout": {"event": "checkout", "column": "value", "take": "last"}}
    )
    causes = dict(_run([last], rows).units.select("user_id", "primary_cause").iter_rows())
    assert causes["d"] == "unexplained"  # 80 is not 20% above the latest checkout's 75


def test_two_slow_pages_in_a_row_other_events_between():
    slow = {"name": "slow", "event": "page", "where": "load_ms > 4000", "in_a_row": 2}
    rows = (
        # slow, an error between, slow: a run of two (the error is not a page)
        _session("a", [("cart", None), ("page", 5000.0), ("error", None), ("page", 6000.0)])
        # slow, fast, slow: the fast page breaks the run
        + _session("b", [("cart", None), ("page", 5000.0), ("page", 100.0), ("page", 6000.0)])
        # the slow page before belongs to an earlier session (a 2-hour gap)
        + _session("c", [("page", 5000.0)])
        + _session("c", [("cart", None), ("page", 6000.0)], start=50)
    )
    rows[-1]["timestamp"] = "2024-05-01T12:51:00Z"
    rows[-2]["timestamp"] = "2024-05-01T12:50:00Z"
    causes = dict(_run([slow], rows).units.select("user_id", "primary_cause").iter_rows())
    assert causes == {"a": "slow", "b": "unexplained", "c": "unexplained"}


@pytest.mark.parametrize(
    ("cause", "needle"),
    [
        (
            {"earlier": {"x": {"event": "e", "column": "v"}}, "where": "v > 1"},
            "where does not read it",
        ),
        (
            {"earlier": {"x": {"event": "e", "colum": "v"}}, "where": "v > x"},
            "did you mean 'column'",
        ),
        (
            {"earlier": {"x": {"event": "e", "column": "v", "take": "frist"}}, "where": "v > x"},
            "'first'",
        ),
        ({"earlier": {"_x": {"event": "e", "column": "v"}}, "where": "v > _x"}, "earlier._x"),
        ({"earlier": {"x": {"column": "v"}}, "where": "v > x"}, "earlier.x.event: missing"),
        ({"in_a_row": 0}, "in_a_row"),
        ({"earlier": "v"}, "expected a table"),
    ],
)
def test_session_condition_errors_name_the_key(cause, needle):
    data = {"steps": STEPS, "causes": [{"name": "c", "event": "view", **cause}]}
    with pytest.raises(SpecError) as err:
        funnel.FunnelSpec.from_dict(data)
    assert needle in str(err.value) and "causes[0]." in str(err.value)


def test_an_earlier_value_named_like_a_column_or_reading_a_missing_column_is_an_error():
    rows = _session("a", [("cart", 1.0), ("pay_page", 2.0)])
    clash = {"name": "c", "event": "pay_page", "where": "value > load_ms"}
    clash["earlier"] = {"load_ms": {"event": "cart", "column": "value"}}
    with pytest.raises(SpecError, match="both a column of the data and an earlier value"):
        _run([clash], rows)
    missing = {"name": "c", "event": "pay_page", "where": "value > x"}
    missing["earlier"] = {"x": {"event": "cart", "column": "valeu"}}
    with pytest.raises(funnel.SchemaError, match="valeu"):
        _run([missing], rows)


def test_an_earlier_event_that_never_occurs_gets_a_note():
    rows = _session("a", [("cart", 1.0), ("checkout", 1.0), ("pay_page", 2.0)])
    typo = {"name": "rose", "event": "pay_page", "where": "value > x"}
    typo["earlier"] = {"x": {"event": "chekout", "column": "value"}}
    notes = _run([typo], rows).notes
    assert any("earlier.x: event 'chekout' never occurs" in n and "'checkout'" in n for n in notes)


def test_at_most_31_causes():
    many = [{"name": f"c{i}", "event": "view"} for i in range(32)]
    data = {"steps": STEPS, "attribution": {"builtin": False}, "causes": many}
    with pytest.raises(SpecError, match="32 causes, at most 31"):
        funnel.FunnelSpec.from_dict(data)
    funnel.FunnelSpec.from_dict(data | {"causes": many[:31]})
