"""Specs and the filter language: validation errors point at the key, nothing is eval'd."""

from __future__ import annotations

import os
import re

import polars as pl
import pytest

from funnel import FunnelSpec, SpecError, builtin_spec, parse_duration, parse_filter
from tests.reference_conditions import holds

STEPS = [{"name": "cart", "event": "add_to_cart"}, {"name": "buy", "event": "purchase"}]


def test_toml_round_trip(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text("""
name = "mine"
mode = "strict"
window = "2h"
unit = "users"
hold = ["cart_id"]
[sessions]
timeout = "15m"
max_length = "6h"
[columns]
user_id = "visitor"
[[steps]]
name = "cart"
event = ["add_to_cart", "cart_add"]
where = "value > 0 and currency in ('EUR', 'USD')"
[[steps]]
name = "buy"
event = "purchase"
""")
    spec = FunnelSpec.from_toml(path)
    assert spec.mode == "strict" and spec.window_s == 7200 and spec.unit == "users"
    assert spec.sessions.timeout_s == 900 and spec.sessions.max_length_s == 6 * 3600
    assert spec.steps[0].events == ("add_to_cart", "cart_add")
    assert spec.property_columns() == {"cart_id", "value", "currency"}
    assert spec.columns == {"user_id": "visitor"}
    assert spec.to_dict()["steps"][0]["where"].startswith("value > 0")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"stepz": STEPS}, "did you mean 'steps'"),
        ({"steps": STEPS, "mode": "orderd"}, "did you mean 'ordered'"),
        ({"steps": [{"name": "a", "evnt": "x"}]}, "steps[0].evnt: unknown key"),
        ({"steps": [{"name": "a"}]}, "steps[0].event: missing"),
        ({"steps": [*STEPS, {"name": "cart", "event": "x"}]}, "used twice"),
        ({"steps": STEPS, "window": "30"}, "window"),
        ({"steps": STEPS, "sessions": {"timout": "30m"}}, "did you mean 'timeout'"),
        ({"steps": STEPS, "exclude": [{"event": "x", "between": ["buy", "cart"]}]}, "come before"),
        ({"steps": STEPS, "exclude": [{"event": "x", "between": ["cart", "byu"]}]}, "'buy'"),
        ({"steps": [{"name": "a", "event": "x", "where": "price >"}]}, "steps[0].where"),
        ({"steps": STEPS, "mode": "any_order", "entry": "open"}, "any_order"),
        ({"steps": []}, "at least one"),
        (
            {"steps": [STEPS[0], {"event": "x", "optional": True}, STEPS[1]], "mode": "strict"},
            "strict funnels take no optional",
        ),
        ({"steps": [{**STEPS[0], "optional": True}, STEPS[1]]}, "first step cannot be optional"),
        ({"steps": [STEPS[0], {**STEPS[1], "optional": True}]}, "last step cannot be optional"),
        ({"steps": [STEPS[0], {**STEPS[1], "optional": "yes"}]}, "true or false"),
        ({"steps": [{**STEPS[0], "within": "5m"}, STEPS[1]]}, "no previous step"),
        ({"steps": [STEPS[0], {**STEPS[1], "within": "5"}]}, "steps[1].within"),
        ({"steps": [STEPS[0], {**STEPS[1], "within": "5m"}], "mode": "any_order"}, "any_order"),
        ({"steps": STEPS, "mode": "first_occurrence", "hold": ["cart_id"]}, "take no hold"),
        ({"steps": STEPS, "mode": "first_occurence"}, "did you mean 'first_occurrence'"),
        (
            {
                "steps": [STEPS[0], {"event": "x", "optional": True}, STEPS[1]],
                "exclude": [{"event": "y", "between": ["x", "buy"]}],
            },
            "optional",
        ),
    ],
)
def test_spec_errors_name_the_key_and_hint(data, needle):
    with pytest.raises(SpecError) as exc:
        FunnelSpec.from_dict(data)
    assert needle in str(exc.value)
    assert "(hint: " in str(exc.value)


def test_spec_file_errors(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        FunnelSpec.from_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = [")
    with pytest.raises(SpecError, match=r"bad\.toml: not valid TOML"):
        FunnelSpec.from_toml(bad)


def test_builtin_specs():
    assert builtin_spec().step_names == ["cart", "checkout", "shipping", "payment", "purchase"]
    assert builtin_spec("ecommerce").sessions.use_column
    with pytest.raises(SpecError, match="checkout, ecommerce"):
        builtin_spec("nope")


def test_durations():
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    for bad in ("30", "m30", "", "1x", 30):
        with pytest.raises(SpecError):
            parse_duration(bad)


DF = pl.DataFrame(
    {
        "price": [5, 20, None, 40],
        "country": ["DE", "AT", "DE", None],
        "ecommerce.tax": [1.0, 2.0, 3.0, None],
        "my col": ["a", "b", "c", "d"],
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("price > 10", [False, True, False, True]),
        ("price >= 20 AND country = 'AT'", [False, True, False, False]),
        ("price < 10 or country is null", [True, False, False, True]),
        # SQL's WHERE: NOT unknown is unknown, so the null price is not kept
        ("NOT (price > 10)", [True, False, False, False]),
        ("country IN ('DE', 'AT')", [True, True, True, False]),
        ("country NOT IN ('DE')", [False, True, False, False]),
        ('price IS NOT NULL AND "ecommerce.tax" <= 2.0', [True, True, False, False]),
        ("\"my col\" <> 'a'", [False, True, True, True]),
        # arithmetic: 5+1 > 0.2*5; 20+2 > 4; null; null
        ('price + "ecommerce.tax" > 0.2 * price', [True, True, False, False]),
        ('(price + "ecommerce.tax") / price >= 1.1', [True, True, False, False]),
        # 1/0 is infinity, above any number (polars); the nulls are unknown
        ('"ecommerce.tax" / (price - 5) > 0', [True, True, False, False]),
        ("-price < -10", [False, True, False, True]),
        ("((price > 10) OR country = 'DE') AND price - 1 < 30", [True, True, False, False]),
        ("price BETWEEN 5 AND 20", [True, True, False, False]),
        ("country LIKE 'D%'", [True, False, True, False]),
        ("country == 'AT' OR price = 40", [False, True, False, True]),
    ],
)
def test_conditions_follow_sql_where_and_the_reference_agrees(text, expected):
    flt = parse_filter(text)
    got = DF.select(flt.to_polars().alias("m"))["m"].to_list()
    assert got == expected
    # the reference's own tiny evaluator agrees
    assert [holds(text, r) for r in DF.to_dicts()] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("country ILIKE 'a%'", [False, True, False, False]),
        ("country ~ '^A'", [False, True, False, False]),
        ("lower(country) = 'de'", [True, False, True, False]),
        ("coalesce(price, 0) = 0", [False, False, True, False]),
    ],
)
def test_conditions_take_what_polars_sql_takes(text, expected):
    assert DF.select(parse_filter(text).to_polars().alias("m"))["m"].to_list() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('x')", "cannot read"),
        ("price > 1; drop", "cannot read"),
        ("price >", "cannot read"),
        ("(price > 1", "cannot read"),
        ("price in 3", "cannot read"),
        ("price + > 3", "cannot read"),
        ("", "expected a condition"),
        ("(SELECT count(*) FROM read_csv('x.csv')) > 0", "subqueries"),
        ("price IN (SELECT 1)", "subqueries"),
        ("EXISTS (select 1)", "subqueries"),
        ("ecommerce.tax > 1", '"ecommerce.tax"'),  # the old language's dotted names
    ],
)
def test_filter_rejects_anything_else(text, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_filter(text)


def test_no_condition_reads_a_file_or_runs_code(tmp_path, monkeypatch):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    os.utime(secret, (0, secret.stat().st_mtime))  # any read would move the access time
    attempts = [
        f"(SELECT count(*) FROM read_csv('{secret}')) > 0",
        f"read_csv('{secret}') IS NULL",
        f"price IN (SELECT a FROM read_csv('{secret}'))",
        f"EXISTS (SELECT * FROM '{secret}')",
        "price > (SELECT 1)",
    ]
    ran = []
    monkeypatch.setattr("builtins.eval", lambda *a: ran.append(a))
    monkeypatch.setattr("builtins.exec", lambda *a: ran.append(a))
    for text in attempts:
        with pytest.raises(SpecError):
            parse_filter(text).check({"price": pl.Int64})
    assert secret.stat().st_atime == 0
    assert not ran


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("price * 2", "not a condition"),
        ("country > 5", "cannot run on this data"),
        ('country = "DE"', "single quotes"),
        ("PRICE > 1", "not in the data"),
    ],
)
def test_conditions_are_checked_against_the_data(text, hint):
    flt = parse_filter(text, key="steps[1].where")
    with pytest.raises(SpecError, match=hint) as err:
        flt.check(DF.schema)
    assert "steps[1].where" in str(err.value)


def test_deep_long_or_wide_conditions_fail_with_a_named_error():
    deep = "(" * 500 + "price > 1" + ")" * 500
    with pytest.raises(SpecError, match=re.escape("steps[0].where: cannot read")) as err:
        parse_filter(deep, key="steps[0].where")
    assert len(str(err.value)) < 600  # the text is shortened in the message
    wide = " OR ".join(f"price = {i}" for i in range(1000))
    assert DF.select(parse_filter(wide).to_polars().alias("m"))["m"].to_list() == [
        True,
        True,
        False,
        True,
    ]
    with pytest.raises(SpecError, match="too long"):
        parse_filter("price > 1 AND " * 2000 + "price > 1")


def test_a_spec_file_that_is_not_utf8_is_a_named_error(tmp_path):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('name = "caf\xe9"\n[[steps]]\nevent = "a"\n'.encode("latin-1"))
    with pytest.raises(SpecError, match="not UTF-8 text") as err:
        FunnelSpec.from_toml(bad)
    assert "latin1.toml" in str(err.value) and "byte 11" in str(err.value)
    with pytest.raises(SpecError, match="is a folder"):
        FunnelSpec.from_toml(tmp_path)
