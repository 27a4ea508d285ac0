"""Random conditions on random rows: polars' SQL (what the engine runs) and the reference's
own evaluator agree, nulls, NaN, infinity and division by zero included."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from funnel import parse_filter
from tests.reference_conditions import holds

SCHEMA = {"a": pl.Int64, "b": pl.Float64, "s": pl.String}

rows = st.lists(
    st.fixed_dictionaries(
        {
            "a": st.one_of(st.none(), st.integers(-3, 3)),
            "b": st.one_of(st.none(), st.sampled_from([0.0, -1.5, 0.25, 2.0, 1e9])),
            "s": st.one_of(st.none(), st.sampled_from(["card", "Klarna", "", "ca_d"])),
        }
    ),
    min_size=1,
    max_size=12,
)

number = st.one_of(
    st.sampled_from(["a", "b"]),
    st.integers(-3, 3).map(str),
    st.sampled_from(["0.5", "1.25", "0"]),
)


@st.composite
def sums(draw, depth=2):
    if depth == 0 or draw(st.booleans()):
        return draw(number)
    op = draw(st.sampled_from(["+", "-", "*", "/"]))
    return f"({draw(sums(depth - 1))} {op} {draw(sums(depth - 1))})"


@st.composite
def predicates(draw):
    kind = draw(st.sampled_from(["cmp", "cmp", "in", "null", "between", "like", "scmp"]))
    if kind == "cmp":
        op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
        return f"{draw(sums())} {op} {draw(sums())}"
    if kind == "in":
        values = draw(st.lists(st.integers(-3, 3), min_size=1, max_size=3))
        neg = draw(st.sampled_from(["", "NOT "]))
        return f"a {neg}IN ({', '.join(map(str, values))})"
    if kind == "null":
        return (
            f"{draw(st.sampled_from(['a', 'b', 's']))} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
        )
    if kind == "between":
        lo, hi = sorted(draw(st.lists(st.integers(-3, 3), min_size=2, max_size=2)))
        return f"{draw(sums(1))} BETWEEN {lo} AND {hi}"
    if kind == "like":
        return f"s LIKE '{draw(st.sampled_from(['ca%', '%a%', 'c_rd', '', '%']))}'"
    return f"s {draw(st.sampled_from(['=', '<>', '<']))} '{draw(st.sampled_from(['card', '']))}'"


@st.composite
def conditions(draw, depth=2):
    if depth == 0 or draw(st.booleans()):
        return draw(predicates())
    kind = draw(st.sampled_from(["AND", "OR", "NOT"]))
    if kind == "NOT":
        return f"NOT ({draw(conditions(depth - 1))})"
    return f"({draw(conditions(depth - 1))}) {kind} ({draw(conditions(depth - 1))})"


@settings(max_examples=300, deadline=None)
@given(text=conditions(), data=rows)
def test_polars_sql_and_the_reference_agree(text, data):
    df = pl.DataFrame(data, schema=SCHEMA)
    flt = parse_filter(text)
    flt.check(SCHEMA)
    got = df.with_columns(flt.to_polars().alias("m"))["m"].to_list()
    assert got == [holds(text, r) for r in data], text
