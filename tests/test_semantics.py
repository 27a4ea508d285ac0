"""The worked examples of docs/semantics.md, each computed by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl

import funnel

T0 = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone.utc)
CART, CHECKOUT, PAY = "add_to_cart", "begin_checkout", "add_payment_info"


def run(events: list[tuple], spec: dict | None = None) -> pl.DataFrame:
    """events: (user, minutes after T0, event, props dict)."""
    rows = []
    for u, m, e, *props in events:
        cart_id = props[0].get("cart_id") if props else None
        rows.append(
            {
                "user_id": u,
                "timestamp": T0 + dt.timedelta(minutes=m),
                "event": e,
                "cart_id": cart_id,
            }
        )
    data = {
        "steps": [
            {"name": "cart", "event": CART},
            {"name": "checkout", "event": CHECKOUT},
            {"name": "payment", "event": PAY},
        ]
    }
    data.update(spec or {})
    # the matching rules alone: these few-minute logs would all be censored (section 7)
    keep_all = funnel.AnalyzeOptions(censor=None)
    return funnel.analyze(pl.DataFrame(rows), funnel.FunnelSpec.from_dict(data), keep_all).units


def test_reentry_anchors_at_first_step_one():
    u = run([("a", 0, CART), ("a", 5, CART), ("a", 6, CHECKOUT)])
    assert u.height == 1 and u["furthest_step"][0] == "checkout"
    assert (u["at_checkout"][0] - u["at_cart"][0]) == dt.timedelta(minutes=6)


def test_ties_follow_funnel_order():
    u = run([("a", 0, CHECKOUT), ("a", 0, CART)])
    assert u["furthest_step"][0] == "checkout"


def test_ordered_allows_other_events_strict_does_not():
    events = [("a", 0, CART), ("a", 1, "page_view"), ("a", 2, CHECKOUT), ("a", 3, PAY)]
    assert run(events)["furthest_step"][0] == "payment"
    assert run(events, {"mode": "strict"})["furthest_step"][0] == "cart"
    # strict picks the best run: the second cart starts an unbroken path
    events = [("a", 0, CART), ("a", 1, "page_view"), ("a", 2, CART), ("a", 3, CHECKOUT)]
    u = run(events, {"mode": "strict"})
    assert u["furthest_step"][0] == "checkout" and u["at_cart"][0] == T0 + dt.timedelta(minutes=2)


def test_any_order_counts_steps_done_in_any_order():
    u = run([("a", 0, CHECKOUT), ("a", 4, CART)], {"mode": "any_order"})
    assert u["furthest_step"][0] == "checkout"
    assert u["at_checkout"][0] == T0 + dt.timedelta(minutes=4)  # when steps 1..2 were all done


def test_duration_window_from_entry():
    events = [("a", 0, CART), ("a", 9, CHECKOUT), ("a", 11, PAY)]
    assert run(events, {"window": "10m"})["furthest_step"][0] == "checkout"
    assert run(events)["furthest_step"][0] == "payment"


def test_open_funnel_enters_at_any_step():
    u = run([("a", 0, CHECKOUT), ("a", 1, PAY)], {"entry": "open"})
    assert u["entry_step"][0] == "checkout" and u["at_cart"][0] is None
    assert run([("a", 0, CHECKOUT), ("a", 1, PAY)]).height == 0  # closed: never entered


def test_exclusion_ends_the_path():
    events = [("a", 0, CART), ("a", 1, "cart_cleared"), ("a", 2, CHECKOUT)]
    spec = {"exclude": [{"event": "cart_cleared", "between": ["cart", "checkout"]}]}
    assert run(events, spec)["furthest_step"][0] == "cart"
    spec = {"exclude": [{"event": "cart_cleared", "between": ["checkout", "payment"]}]}
    assert run(events, spec)["furthest_step"][0] == "checkout"


def test_hold_property_constant():
    events = [
        ("a", 0, CART, {"cart_id": "A"}),
        ("a", 1, CHECKOUT, {"cart_id": "B"}),
        ("a", 2, CHECKOUT, {"cart_id": "A"}),
    ]
    u = run(events, {"hold": ["cart_id"]})
    assert u["at_checkout"][0] == T0 + dt.timedelta(minutes=2)


OPTIONAL_CHECKOUT = {
    "steps": [
        {"name": "cart", "event": CART},
        {"name": "checkout", "event": CHECKOUT, "optional": True},
        {"name": "payment", "event": PAY},
    ]
}


def test_an_optional_step_may_be_skipped():
    # a buyer who never fires the checkout event still reaches payment
    u = run([("a", 0, CART), ("a", 1, PAY)], OPTIONAL_CHECKOUT)
    assert u["furthest_step"][0] == "payment" and u["at_checkout"][0] is None
    assert run([("a", 0, CART), ("a", 1, PAY)])["furthest_step"][0] == "cart"  # required
    # taken only when it comes before the next required step's match
    u = run([("a", 0, CART), ("a", 1, PAY), ("a", 2, CHECKOUT)], OPTIONAL_CHECKOUT)
    assert u["at_checkout"][0] is None and u["at_payment"][0] == T0 + dt.timedelta(minutes=1)
    u = run([("a", 0, CART), ("a", 1, CHECKOUT), ("a", 2, PAY)], OPTIONAL_CHECKOUT)
    assert u["at_checkout"][0] == T0 + dt.timedelta(minutes=1)


def test_step_counts_with_an_optional_step_count_who_went_further():
    spec = funnel.FunnelSpec.from_dict(OPTIONAL_CHECKOUT)
    rows = [("a", 0, CART), ("a", 1, PAY), ("b", 0, CART), ("b", 1, CHECKOUT), ("c", 0, CART)]
    df = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "timestamp": [T0 + dt.timedelta(minutes=r[1]) for r in rows],
            "event": [r[2] for r in rows],
        }
    )
    steps = funnel.analyze(df, spec, funnel.AnalyzeOptions(censor=None, causes=False)).steps
    got = {r["step"]: (r["entered"], r["reached_next"]) for r in steps.iter_rows(named=True)}
    # a skipped checkout: cart's drop-off is c alone; checkout was entered by b only
    assert got == {"cart": (3, 2), "checkout": (1, 0), "payment": (1, None)}


def test_within_limits_the_time_from_the_previous_step_reached():
    limited = {
        "steps": [
            {"name": "cart", "event": CART},
            {"name": "checkout", "event": CHECKOUT, "within": "10m"},
            {"name": "payment", "event": PAY},
        ]
    }
    assert run([("a", 0, CART), ("a", 12, CHECKOUT)], limited)["furthest_step"][0] == "cart"
    u = run([("a", 0, CART), ("a", 9, CHECKOUT), ("a", 25, PAY)], limited)
    assert u["furthest_step"][0] == "payment"  # payment has no limit of its own
    # after a skipped optional step the limit runs from the step before it
    steps = [dict(s) for s in OPTIONAL_CHECKOUT["steps"]]
    steps[2]["within"] = "3m"
    assert run([("a", 0, CART), ("a", 5, PAY)], {"steps": steps})["furthest_step"][0] == "cart"
    events = [("a", 0, CART), ("a", 3, CHECKOUT), ("a", 5, PAY)]
    assert run(events, {"steps": steps})["furthest_step"][0] == "payment"


def test_first_occurrence_uses_each_steps_first_event():
    events = [("a", 0, CHECKOUT), ("a", 1, CART), ("a", 2, CHECKOUT), ("a", 3, PAY)]
    # ordered matches sequentially: cart 1, checkout 2, payment 3
    assert run(events)["furthest_step"][0] == "payment"
    # the first checkout (0) is not after the first cart (1): the path stops at cart
    u = run(events, {"mode": "first_occurrence"})
    assert u["furthest_step"][0] == "cart" and u["at_checkout"][0] is None
    u = run(
        [("a", 0, CART), ("a", 1, CHECKOUT), ("a", 2, CART), ("a", 3, PAY)],
        {"mode": "first_occurrence"},
    )
    assert u["furthest_step"][0] == "payment"


def test_sessions_split_after_30_minutes_of_inactivity():
    u = run([("a", 0, CART), ("a", 31, CHECKOUT)])
    assert u.height == 1 and u["furthest_step"][0] == "cart"
    assert run([("a", 0, CART), ("a", 30, CHECKOUT)])["furthest_step"][0] == "checkout"
    # a session cut at its maximum length
    u = run(
        [("a", 0, CART), ("a", 20, "page_view"), ("a", 40, CHECKOUT)],
        {"sessions": {"max_length": "30m"}},
    )
    assert u["furthest_step"][0] == "cart"


def test_users_unit_takes_each_users_best_session():
    events = [("a", 0, CART), ("a", 120, CART), ("a", 121, CHECKOUT), ("b", 0, CART)]
    u = run(events, {"unit": "users"})
    assert sorted(u["user_id"].to_list()) == ["a", "b"]
    assert u.filter(user_id="a")["furthest_step"][0] == "checkout"
    # users over a duration window: the path may span sessions
    u = run([("a", 0, CART), ("a", 120, CHECKOUT)], {"unit": "users", "window": "1d"})
    assert u["furthest_step"][0] == "checkout"


def test_exit_time_and_time_to_convert():
    u = run(
        [
            ("a", 0, CART),
            ("a", 2, "page_view"),
            ("a", 7, "page_view"),
            ("b", 0, CART),
            ("b", 1, CHECKOUT),
            ("b", 3, PAY),
        ]
    )
    a, b = u.filter(user_id="a").row(0, named=True), u.filter(user_id="b").row(0, named=True)
    assert a["exit_step"] == "cart" and a["time_at_exit_s"] == 420.0
    assert b["converted"] and b["time_to_convert_s"] == 180.0 and b["exit_step"] is None


def test_a_provided_session_cut_by_max_length_keeps_unique_ids():
    """Found by the attribution property test: two pieces of one provided session had one
    id (u1/s2), so outputs keyed by session id merged two units."""
    df = pl.DataFrame(
        {
            "user_id": ["u1"] * 3,
            "session_id": ["s2"] * 3,
            "event": ["add_to_cart", "add_to_cart", "begin_checkout"],
            "timestamp": ["2024-03-09T23:00:00Z", "2024-03-09T23:50:00Z", "2024-03-09T23:51:00Z"],
        }
    )
    spec = funnel.FunnelSpec.from_dict(
        {
            "steps": [{"event": "add_to_cart"}, {"event": "begin_checkout"}],
            "sessions": {"use_column": True, "max_length": "45m"},
        }
    )
    units = funnel.analyze(df, spec, funnel.AnalyzeOptions(causes=False, censor=None)).units
    assert units["session_id"].to_list() == ["u1/s2", "u1/s2/20240309T235000.000000Z"]
