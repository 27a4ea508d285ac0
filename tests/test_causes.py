"""Cause attribution: against the simulator's truth, the naive reference, and invariance."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnel
from funnel.errors import SchemaError, SpecError
from funnel.simulate import simulate
from tests import reference as ref
from tests import reference_causes as refc
from tests.test_engine_vs_reference import (
    FLOOR,
    NOW,
    _frame,
    _make_rows,
    _options,
    _with_ties,
    row_strategy,
    specs,
    write_parts,
)
from tests.test_session_conditions import CAUSES as SESSION_CAUSES

SAMPLE = str(Path(__file__).resolve().parents[1] / "sample_events")
# hand-made logs of a few minutes: every unit would be censored (docs/semantics.md §7)
KEEP_ALL = funnel.AnalyzeOptions(censor=None)
# the steps of the hand-made checkouts (GA4 names)
CART_CHECKOUT_BUY = [
    {"name": "cart", "event": "add_to_cart"},
    {"name": "checkout", "event": "begin_checkout"},
    {"name": "buy", "event": "purchase"},
]


@pytest.fixture(scope="module")
def sample():
    _, truth = simulate()
    # the truth labels every planted session, the one the data's end cuts off too
    result = funnel.analyze(SAMPLE, options=funnel.AnalyzeOptions(censor=None))
    label = pl.col("started").dt.strftime("%Y%m%dT%H%M%S%.6fZ")
    truth = truth.with_columns(
        pl.concat_str("user_id", pl.lit("/"), label).alias("session_id"),
        # no evidence is planted for these: the honest answer is "unexplained"
        pl.col("cause").replace({"left_at_cart": "unexplained"}),
    )
    return result, truth


def test_every_planted_cause_is_found_with_precision_and_recall_of_090(sample):
    result, truth = sample
    joined = truth.join(result.units, on="session_id", how="inner")
    assert joined.height == truth.height == result.units.height
    left = joined.filter(~pl.col("converted"))
    assert left.filter(pl.col("cause") == "purchased").is_empty()
    causes = sorted(set(left["cause"]))
    assert len(causes) == 9  # eight planted causes and the unexplained
    for cause in causes:
        true_pos = left.filter((pl.col("cause") == cause) & (pl.col("primary_cause") == cause))
        found = left.filter(pl.col("primary_cause") == cause).height
        planted = left.filter(pl.col("cause") == cause).height
        assert planted >= 40, cause
        assert true_pos.height / found >= 0.9, (cause, "precision")
        assert true_pos.height / planted >= 0.9, (cause, "recall")
    # converted sessions carry no cause
    assert (
        result.units.filter(pl.col("converted"))["primary_cause"].null_count()
        == (result.summary["units_converted"])
    )


def test_confounders_are_exposed_but_not_blamed(sample):
    result, truth = sample
    # shoppers who met the login wall and bought anyway: exposed, converted, no cause
    exp = result.causes.exposure.filter(cause="forced_registration").row(0, named=True)
    assert exp["exposed"] > exp["exposed_abandoned"] > 0
    bought = truth.filter(pl.col("cause") == "purchased").height
    assert result.units.filter(pl.col("converted")).height == bought


def test_excess_abandonment_of_surprise_costs_covers_the_planted_effect(sample):
    """The planted effect, from the simulator's parameters (independent of the engine).

    At the shipping step, shoppers shown fees above 15% of the cart leave with probability
    0.45; the rest go on and, like everyone else, may abandon later with probability b.
    The abandonments the fees cause beyond that base rate: exposed * 0.45 * (1 - b).
    """
    result, _ = sample
    events = pl.read_parquet(f"{SAMPLE}/events.parquet")
    exposed_sessions = (
        events.filter(
            (pl.col("event") == "add_shipping_info")
            & (pl.col("shipping") + pl.col("tax") > 0.15 * pl.col("value"))
        )
        .unique(["user_id", "timestamp"])
        .height
    )
    arms = events.filter(pl.col("event") == "add_shipping_info")["experiment_arm"]
    share_a = (arms == "A").mean()
    fail = share_a * 0.20 + (1 - share_a) * 0.08
    # after shipping: delivery 0.10*0.6, error 0.06*0.7, payment options 0.08*0.7,
    # payment failure fail*0.6, no-evidence exit 0.04
    stay = (1 - 0.06) * (1 - 0.042) * (1 - 0.056) * (1 - fail * 0.6) * (1 - 0.04)
    planted = exposed_sessions * 0.45 * stay
    row = result.causes.exposure.filter(cause="surprise_costs").row(0, named=True)
    assert row["exposed"] == exposed_sessions
    assert row["excess_abandoned_lo"] <= planted <= row["excess_abandoned_hi"]
    assert row["risk_ratio_lo"] > 1


def test_excess_abandonment_covers_what_each_planted_cause_made_shoppers_abandon(sample):
    """The simulator plants causes with a known effect: for every shopper a cause made
    leave, it replays the same shopper with that cause harmless (``would_buy``). The
    abandonments the cause made among those who met it are the ``would_buy`` count:
    exactly what the excess estimates. Each interval covers it on this sample (over eight
    samples: tests/test_excess_validation.py; the figures: docs/causes.md).
    """
    result, truth = sample
    planted = dict(
        truth.filter(pl.col("would_buy").is_not_null())
        .group_by("cause")
        .agg(pl.col("would_buy").sum())
        .iter_rows()
    )
    rows = {r["cause"]: r for r in result.causes.exposure.iter_rows(named=True)}
    assert set(planted) == set(rows)  # every planted cause is in the table
    for cause, n in planted.items():
        r = rows[cause]
        assert n >= 30, cause
        assert r["excess_abandoned_lo"] <= n <= r["excess_abandoned_hi"], (cause, n, r)
        assert r["excess_abandoned_lo"] > 0 and r["risk_ratio_lo"] > 1, cause


def test_cause_tables_add_up(sample):
    result, _ = sample
    c = result.causes
    abandoned = result.summary["units_entered"] - result.summary["units_converted"]
    assert int(c.summary["abandoned"].sum()) == abandoned
    assert abs(c.summary["share"].sum() - 1) < 1e-9
    assert int(c.by_step["abandoned"].sum()) == abandoned
    units_left = result.units.filter(~pl.col("converted"))
    assert c.summary["value_at_risk"].sum() == pytest.approx(units_left["cart_value"].sum())
    # evidence rows: one per unit and cause found
    n_found = units_left.select(pl.col("causes").str.split(",").list.len()).sum().item()
    no_cause = units_left.filter(pl.col("causes") == "").height
    assert c.evidence.height == n_found - no_cause


# -- the reference, on random logs --------------------------------------------------------

CAUSES = {
    "attribution": {
        "builtin": False,
        "value": "value",
        "drivers": ["cart", "value"],
        "min_units": 1,
        "page": "cart",  # a driver too: read once
        "return_within": "2h",
    },
    "causes": [
        {"name": "browsed", "event": "view", "where": "value >= 2", "within_events": 2},
        {
            "name": "cleared",
            "event": ["clear", "view"],
            "where": "cart is null or value * 2 == 0",
            "within_events": 3,
            "within": "15m",
            "unless_later": {"event": "pay", "where": "cart == 'A'"},
            "priority": 1,
        },
        {"name": "stuck", "event": "clear", "exit_at": ["s0"], "within_events": 1},
        # a prefix, and exit_at naming an event that is no step: the last event
        {"name": "c_pages", "event": "c*", "exit_at": ["view"], "within_events": 2},
        # any event, cancelled by any later event starting with p
        {"name": "any", "event": "*", "unless_later": {"event": "p*"}, "within_events": 1},
        # repetition: two views among the last three events
        {"name": "twice", "event": "view", "min_count": 2, "within_events": 3},
        *SESSION_CAUSES,  # conditions on the session: earlier values, in_a_row
    ],
}


def exposure_counts(result: funnel.FunnelResult) -> dict[str, tuple]:
    """Per cause of the exposure table: (exposed, exposed abandoned, unexposed, unexposed
    abandoned, expected abandoned), as :func:`tests.reference_causes.exposure` gives them."""
    return {
        r["cause"]: (
            r["exposed"],
            r["exposed_abandoned"],
            r["unexposed"],
            r["unexposed_abandoned"],
            r["expected_abandoned"],
        )
        for r in result.causes.exposure.iter_rows(named=True)
    }


@st.composite
def cause_specs(draw: st.DrawFn) -> funnel.FunnelSpec:
    spec = draw(specs())
    return funnel.FunnelSpec.from_dict(dict(spec.source) | CAUSES)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.lists(row_strategy, min_size=1, max_size=60),
    dup_idx=st.lists(st.integers(0, 100), max_size=3),
    spec=cause_specs(),
    seed=st.randoms(),
    censor=st.sampled_from([None, "auto", "20m"]),
)
def test_attribution_matches_reference(raw, dup_idx, spec, seed, censor):
    """Also with censored units left out: their evidence, exposure and driver counts go."""
    rows = _make_rows(raw, dup_idx)
    seed.shuffle(rows)
    result = funnel.analyze(_frame(rows), spec, _options(censor=censor))
    cleaned = ref.clean(_with_ties(rows), NOW, FLOOR)
    horizon = 1200.0 if censor == "20m" else censor
    units, _ = ref.split_censored(ref.units(cleaned, spec, internals=True), cleaned, spec, horizon)
    expected = refc.attribute(units, spec)
    got = {
        r["session_id"]: r for r in result.units.filter(~pl.col("converted")).iter_rows(named=True)
    }
    assert set(got) == set(expected)
    for sid, exp in expected.items():
        assert got[sid]["primary_cause"] == exp["primary_cause"]
        assert got[sid]["causes"] == exp["causes"]
        assert got[sid]["cart_value"] == exp["cart_value"]
    ev = {
        (r["session_id"], r["cause"]): (r["event"], r["events_before_exit"])
        for r in result.causes.evidence.iter_rows(named=True)
    }
    assert ev == {(s, c): v for s, e in expected.items() for c, v in e["evidence"].items()}
    exposure = exposure_counts(result)
    after = refc.after_exit(units, spec)
    data_end = max(r["timestamp"] for r in cleaned) if cleaned else None
    horizon = dt.timedelta(hours=2)
    for sid, (path, visit, bought) in after.items():
        end = got[sid]["last_event_at"]

        def known(at: dt.datetime | None, end: dt.datetime = end) -> bool | None:
            if at is not None and at - end <= horizon:
                return True
            return False if end + horizon <= data_end else None

        assert got[sid]["after_exit"] == path, sid
        assert (got[sid]["came_back"], got[sid]["bought_later"]) == (known(visit), known(bought))
    decided = {sid: e["decided_at"] for sid, e in expected.items()}
    primary = {sid: e["primary_cause"] for sid, e in expected.items()}
    want = refc.exposure(units, spec, decided, primary)
    assert {k: v[:4] for k, v in exposure.items()} == {k: v[:4] for k, v in want.items()}
    for cause, v in want.items():
        got = exposure[cause][4]
        assert got == v[4] if v[4] is None else got == pytest.approx(v[4], rel=1e-9), cause
    drivers = {
        r["feature"]: (r["abandoned_with"], r["converted_with"], r["abandoned_before"])
        for r in result.causes.drivers.iter_rows(named=True)
    }
    n_left = sum(not u["converted"] for u in units)
    has_both = 0 < n_left < len(units)  # else nothing to compare: no drivers table
    assert drivers == (refc.feature_counts(units, spec) if has_both else {})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.lists(row_strategy, min_size=1, max_size=60),
    spec=cause_specs(),
    seed=st.randoms(),
    cut=st.integers(1, 4),
)
def test_causes_do_not_depend_on_row_order_or_files(tmp_path_factory, raw, spec, seed, cut):
    rows = _make_rows(raw, [])
    base = funnel.analyze(_frame(rows), spec, _options())
    seed.shuffle(rows)
    folder = write_parts(_frame(rows), tmp_path_factory.mktemp("parts"), cut)
    split = funnel.analyze(str(folder), spec, _options())
    for name in ("summary", "by_step", "evidence", "exposure", "drivers"):
        assert getattr(split.causes, name).equals(getattr(base.causes, name)), name
    assert split.units.equals(base.units)


# -- causes are data ----------------------------------------------------------------------


def _site(**attribution) -> dict:
    """A site whose event names share nothing with GA4."""
    return {
        "steps": [
            {"name": "basket", "event": "BasketOpened"},
            {"name": "pay", "event": "PaymentPageShown"},
            {"name": "done", "event": "OrderPlaced"},
        ],
        "attribution": {"builtin": False, **attribution},
        "causes": [
            {
                "name": "fees",
                "event": "TotalsShown",
                "where": "fee / basket_total > 0.1",
                "within_events": 2,
                "show": ["fee"],
            },
            {"name": "card", "event": "CardRejected", "exit_at": ["pay"], "within": "5m"},
        ],
    }


def _site_events() -> pl.DataFrame:
    def session(user, minute, names, fee=None):
        return [
            {
                "user_id": user,
                "timestamp": f"2024-05-01T10:{minute + i:02d}:00Z",
                "event": n,
                "fee": fee if n == "TotalsShown" else None,
                "basket_total": 100.0 if n == "TotalsShown" else None,
            }
            for i, n in enumerate(names)
        ]

    rows = (
        session("a", 0, ["BasketOpened", "TotalsShown"], fee=25.0)
        + session("b", 0, ["BasketOpened", "TotalsShown", "PaymentPageShown", "CardRejected"], 2.0)
        + session("c", 0, ["BasketOpened", "TotalsShown", "PaymentPageShown", "OrderPlaced"], 30.0)
        + session("d", 0, ["BasketOpened", "Browse", "Browse", "Browse"])
    )
    return pl.DataFrame(rows)


def test_a_site_with_its_own_event_names_is_configured_entirely_in_the_spec():
    spec = funnel.FunnelSpec.from_dict(_site())
    result = funnel.analyze(_site_events(), spec, KEEP_ALL)
    got = dict(result.units.select("user_id", "primary_cause").iter_rows())
    assert got == {"a": "fees", "b": "card", "c": None, "d": "unexplained"}
    fees = result.causes.evidence.filter(cause="fees").row(0, named=True)
    assert fees["evidence"] == "fee=25.0" and fees["events_before_exit"] == 0


def test_retune_rename_remove_and_add_builtin_causes():
    base = funnel.builtin_spec()
    data = dict(base.source)
    data["attribution"] = {"drop": ["delivery", "coupon_failure"]}
    data["causes"] = [
        {"name": "surprise_costs", "event": "add_shipping_info", "where": "shipping > 1000"},
        {"name": "out_of_stock", "event": "stock_error"},
    ]
    spec = funnel.FunnelSpec.from_dict(data)
    names = [c.name for c in spec.causes]
    assert "delivery" not in names and "coupon_failure" not in names
    assert "out_of_stock" in names
    costs = next(c for c in spec.causes if c.name == "surprise_costs")
    assert costs.where.text == "shipping > 1000"
    result = funnel.analyze(SAMPLE, spec)
    summary = dict(result.causes.summary.select("cause", "abandoned").iter_rows())
    assert summary["surprise_costs"] == 0  # nobody pays 1000 for shipping
    assert "delivery" not in summary and summary["out_of_stock"] == 0


@pytest.mark.parametrize(
    ("causes", "needle"),
    [
        ({"causes": [{"name": "x", "event": "e", "withn": "5m"}]}, "did you mean 'within'"),
        ({"causes": [{"name": "x", "event": "e", "exit_at": ["shiping"]}]}, "did you mean"),
        ({"causes": [{"name": "x", "event": "e", "where": "a >"}]}, "causes[0].where"),
        ({"causes": [{"name": "x"}]}, "causes[0].event: missing"),
        ({"causes": [{"name": "x", "event": "e", "within_events": 0}]}, "within_events"),
        ({"attribution": {"drop": ["delivry"]}}, "did you mean 'delivery'"),
        ({"attribution": {"valu": "x"}}, "did you mean 'value'"),
    ],
)
def test_cause_spec_errors_name_the_key(causes, needle):
    data = {"steps": [{"name": "shipping", "event": "add_shipping_info"}]} | causes
    with pytest.raises(SpecError) as err:
        funnel.FunnelSpec.from_dict(data)
    assert needle in str(err.value)


def test_a_user_cause_on_a_missing_column_is_a_schema_error():
    data = _site()
    data["causes"][0]["where"] = "fees > 1"
    with pytest.raises(SchemaError) as err:
        funnel.analyze(_site_events(), funnel.FunnelSpec.from_dict(data))
    assert "fees" in str(err.value) and "did you mean 'fee'" in str(err.value)


def test_builtin_causes_on_data_without_their_columns_say_so():
    df = pl.DataFrame(
        {
            "user_id": ["u", "u"],
            "event": ["add_to_cart", "exception"],
            "timestamp": ["2024-05-01T10:00:00Z", "2024-05-01T10:01:00Z"],
        }
    )
    result = funnel.analyze(df, options=KEEP_ALL)
    assert result.units["primary_cause"].to_list() == ["unexplained"]
    assert any("not in the data" in n for n in result.causes.notes)


def test_cause_tables_render_escaped_html_and_one_line_repr():
    events = _site_events().with_columns(
        pl.when(pl.col("event") == "Browse")
        .then(pl.lit("<script>alert(1)</script>"))
        .otherwise(pl.col("event"))
        .alias("event")
    )
    spec = funnel.FunnelSpec.from_dict(_site(min_units=1))
    causes = funnel.analyze(events, spec, KEEP_ALL).causes
    assert "<script>" not in causes._repr_html_()
    assert "&lt;script&gt;" in causes._repr_html_()
    assert "\n" not in repr(causes) and repr(causes).startswith("CauseTables(")
    assert json.loads(causes.to_json(include_evidence=True))["evidence"]


def test_evidence_only_converters_have_gets_a_note_and_no_risk_ratio():
    """Shipping and tax only on the purchase hit: a cause on the purchase event is exposed
    only in converted units; a risk ratio would read as a strong protective effect."""
    spec = funnel.FunnelSpec.from_dict(
        {
            "steps": [{"event": "add_to_cart"}, {"event": "begin_checkout"}, {"event": "purchase"}],
            "attribution": {"builtin": False},
            "causes": [
                {"name": "late_costs", "event": "purchase", "within_events": 50},
                {"name": "walled", "event": "login_wall", "within_events": 50},
            ],
        }
    )
    causes = funnel.analyze("sample_events/", spec).causes
    late = causes.exposure.filter(cause="late_costs").row(0, named=True)
    assert late["exposed"] > 0 and late["exposed_abandoned"] == 0
    assert late["risk_ratio"] is None and late["excess_abandoned"] is None
    assert late["p_value"] is None
    assert any(
        n.startswith(f"cause 'late_costs': all {late['exposed']:,} exposed units")
        for n in causes.notes
    )
    walled = causes.exposure.filter(cause="walled").row(0, named=True)
    assert walled["risk_ratio"] is not None  # abandoned units have it: estimated as before
    assert not any(n.startswith("cause 'walled'") for n in causes.notes)


def test_exposure_compares_units_still_there_and_counts_only_live_exposure():
    """A worked example of docs/causes.md (exposure), counted by hand.

    u1 meets the wall 5 min after its cart and leaves: exposed, abandoned. Its comparison
    units reached the cart and were still there 5 min later: u3 (left after 10 min), u4
    and u6 (bought). Not u2 (left after 1 min), u5 (its wall was cancelled by a login, so
    it is unexposed; it left after 3 min) or u8 (left because of the coupon after 2 min,
    even though its last event came after 8). Expected abandonments 1/3, excess 2/3.
    u6 met the wall only after buying: unexposed.
    """
    minutes = {
        "u1": [(0, "add_to_cart"), (5, "login_wall")],
        "u2": [(0, "add_to_cart"), (1, "page_view")],
        "u3": [(0, "add_to_cart"), (10, "page_view")],
        "u4": [(0, "add_to_cart"), (1, "begin_checkout"), (2, "purchase")],
        "u5": [(0, "add_to_cart"), (2, "login_wall"), (3, "login")],
        "u6": [(0, "add_to_cart"), (1, "begin_checkout"), (2, "purchase"), (3, "login_wall")],
        "u8": [(0, "add_to_cart"), (2, "coupon_rejected"), (8, "page_view")],
    }
    t0 = pl.datetime(2024, 5, 1, 10, time_zone="UTC")
    df = pl.DataFrame(
        [(u, m, e) for u, rows in minutes.items() for m, e in rows],
        schema=["user_id", "m", "event"],
        orient="row",
    ).select("user_id", (t0 + pl.duration(minutes="m")).alias("timestamp"), "event")
    spec = funnel.FunnelSpec.from_dict(
        {
            "steps": CART_CHECKOUT_BUY,
            "attribution": {"builtin": False},
            "causes": [
                {"name": "wall", "event": "login_wall", "unless_later": {"event": "login"}},
                {"name": "coupon", "event": "coupon_rejected"},
            ],
        }
    )
    wall = (
        funnel.analyze(df, spec, KEEP_ALL).causes.exposure.filter(cause="wall").row(0, named=True)
    )
    assert (wall["exposed"], wall["exposed_abandoned"]) == (1, 1)
    assert (wall["unexposed"], wall["unexposed_abandoned"]) == (6, 4)  # u2 u3 u4 u5 u6 u8
    assert wall["expected_abandoned"] == pytest.approx(1 / 3)
    assert wall["excess_abandoned"] == pytest.approx(2 / 3)
    assert wall["risk_ratio"] == pytest.approx(3.0)


def test_after_the_exit_paths_and_returns_by_hand():
    """docs/causes.md, "After the exit": three abandoned carts, counted by hand."""
    minutes = {
        # left after three more events (a fourth is not shown); came back the next day
        # and bought
        "a": [(0, "add_to_cart"), (1, "page_view", "/faq"), (2, "x"), (3, "y"), (4, "z"),
              (1440, "page_view", "/"), (1441, "purchase")],
        # left right at the cart; back 3 days later without buying: beyond return_within
        "b": [(0, "add_to_cart"), (4320, "page_view", "/")],
        # went one step on and left; back within the day, but the data end (b's visit)
        # 18 h after it left, so a purchase within the day could still come: unknown
        "c": [(3000, "add_to_cart"), (3001, "begin_checkout"), (3002, "page_view", "/faq"),
              (3500, "page_view", "/")],
    }  # fmt: skip
    t0 = pl.datetime(2024, 5, 1, 10, time_zone="UTC")
    rows = [(u, r[0], r[1], r[2] if len(r) > 2 else None) for u, rs in minutes.items() for r in rs]
    df = pl.DataFrame(rows, schema=["user_id", "m", "event", "page"], orient="row").select(
        "user_id", (t0 + pl.duration(minutes="m")).alias("timestamp"), "event", "page"
    )
    spec = funnel.FunnelSpec.from_dict(
        {
            "steps": CART_CHECKOUT_BUY,
            "attribution": {"return_within": "1d"},
        }
    )
    result = funnel.analyze(df, spec, KEEP_ALL)
    got = {
        r["user_id"]: (r["after_exit"], r["came_back"], r["bought_later"])
        for r in result.units.filter(~pl.col("converted")).iter_rows(named=True)
    }
    assert got == {
        "a": ("page_view /faq > x > y", True, True),
        "b": ("(session ended)", False, False),
        "c": ("page_view /faq", True, None),
    }
    paths = result.causes.after_exit.select("exit_step", "path", "units", "share").rows()
    assert paths == [
        ("cart", "(session ended)", 1, 0.5),
        ("cart", "page_view /faq > x > y", 1, 0.5),
        ("checkout", "page_view /faq", 1, 1.0),
    ]
    returns = result.causes.returns.select("exit_step", "abandoned", "observed", "came_back")
    assert returns.rows() == [("cart", 2, 2, 1), ("checkout", 1, 0, 0)]
    assert result.causes.returns["bought_later"].to_list() == [1, 0]


def test_between_causes_equally_close_to_the_exit_the_more_specific_wins():
    """The same row is evidence of a generic cause (any error) and of a specific one (a
    server error): the specific one is primary whatever the priorities, the exit counts
    as ambiguous for it, and both are listed."""
    t0 = pl.datetime(2024, 5, 1, 10, time_zone="UTC")
    df = pl.DataFrame(
        {"user_id": ["a", "a"], "m": [0, 1], "event": ["add_to_cart", "err"], "http": [None, 500]}
    ).select("user_id", (t0 + pl.duration(minutes="m")).alias("timestamp"), "event", "http")
    spec = funnel.FunnelSpec.from_dict(
        {
            "steps": [{"event": "add_to_cart"}, {"event": "purchase"}],
            "attribution": {"builtin": False},
            "causes": [
                {"name": "any_error", "event": "err", "priority": 1},
                {"name": "server_error", "event": "err", "where": "http >= 500", "priority": 9},
            ],
        }
    )
    result = funnel.analyze(df, spec, KEEP_ALL)
    unit = result.units.row(0, named=True)
    assert (unit["primary_cause"], unit["causes"]) == ("server_error", "server_error,any_error")
    summary = result.causes.summary.filter(cause="server_error").row(0, named=True)
    assert (summary["abandoned"], summary["ambiguous"], summary["ambiguous_share"]) == (1, 1, 1.0)


def test_name_patterns_and_exit_at_an_event_that_is_no_step():
    """``c*`` matches events starting with c, ``*`` any event; ``exit_at = ["view"]`` (no
    step) holds when the shopper's last event is a view."""
    t0 = pl.datetime(2024, 5, 1, 10, time_zone="UTC")
    logs = {"a": ["cart", "clear", "view"], "b": ["cart", "clear", "other"], "c": ["cart", "zz"]}
    df = pl.DataFrame(
        [(u, m, e) for u, evs in logs.items() for m, e in enumerate(evs)],
        schema=["user_id", "m", "event"],
        orient="row",
    ).select("user_id", (t0 + pl.duration(minutes="m")).alias("timestamp"), "event")
    spec = funnel.FunnelSpec.from_dict(
        {
            "steps": [{"event": "cart"}, {"event": "buy"}],
            "attribution": {"builtin": False},
            "causes": [
                {"name": "c_then_view", "event": "c*", "exit_at": ["view"], "within_events": 2},
                {"name": "anything", "event": "*", "within_events": 1, "priority": 1},
            ],
        }
    )
    causes = dict(funnel.analyze(df, spec, KEEP_ALL).units.select("user_id", "causes").rows())
    # a: clear (1 before the exit) then a view; b: no view at the end; c: nothing starts with c
    assert causes == {"a": "anything,c_then_view", "b": "anything", "c": "anything"}
    with pytest.raises(SpecError, match="may only end a name"):
        funnel.FunnelSpec.from_dict({**spec.source, "causes": [{"name": "x", "event": "a*b"}]})
