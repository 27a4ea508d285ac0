"""Wilson intervals against published values (Newcombe 1998, Table I, method 3)."""

from __future__ import annotations

import math

import polars as pl
import pytest
from scipy.stats import binomtest

from funnel.stats import wilson_exprs, wilson_interval

NEWCOMBE = [  # (x, n, lower, upper) as printed in Newcombe (1998), Stat. Med. 17:857-872
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("x", "n", "lo", "hi"), NEWCOMBE)
def test_wilson_matches_newcombe(x, n, lo, hi):
    got = wilson_interval(x, n)
    assert got[0] == pytest.approx(lo, abs=5e-5)
    assert got[1] == pytest.approx(hi, abs=5e-5)
    row = (
        pl.DataFrame({"x": [x], "n": [n]})
        .select(wilson_exprs(pl.col("x"), pl.col("n"), "r"))
        .row(0)
    )
    assert row[1] == pytest.approx(got[0]) and row[2] == pytest.approx(got[1])


@pytest.mark.parametrize(("x", "n"), [(3, 10), (50, 100), (999, 1000), (7, 7)])
def test_wilson_matches_scipy_score_interval(x, n):
    ci = binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson_interval(x, n)
    assert lo == pytest.approx(ci.low, abs=1e-9) and hi == pytest.approx(ci.high, abs=1e-9)


def test_wilson_empty():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    row = pl.DataFrame({"x": [0], "n": [0]}).select(wilson_exprs(pl.col("x"), pl.col("n"), "r"))
    assert row.row(0) == (None, None, None)
