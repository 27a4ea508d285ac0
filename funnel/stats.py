"""Statistics helpers: Wilson score intervals as polars expressions and for plain numbers.

The Wilson interval (Wilson 1927; Newcombe 1998, method 3) stays inside [0, 1] and behaves
well for small counts and rates near 0 or 1, unlike the normal ("Wald") interval.

>>> lo, hi = wilson_interval(81, 263)
>>> round(lo, 4), round(hi, 4)
(0.2553, 0.3662)
"""

from __future__ import annotations

import functools
import importlib
import math
import threading
from statistics import NormalDist

import numpy as np
import polars as pl

__all__ = [
    "benjamini_hochberg",
    "exact_mean",
    "exact_sum",
    "prefetch_scipy",
    "risk_ratio",
    "two_by_two_p",
    "two_by_two_test",
    "wilson_exprs",
    "wilson_interval",
    "z_value",
]


EXACT_SCALE = 1_000_000  # sums are exact in millionths: money cents, microseconds


def exact_sum(values: pl.Expr) -> pl.Expr:
    """Sum of float ``values`` rounded to millionths, added as integers: the same bytes in
    any order and any grouping (a float sum is not; docs/json.md). Exact for durations
    from microsecond timestamps and for money in cents.

    >>> pl.DataFrame({"v": [0.1, 0.2, 0.3]}).select(exact_sum(pl.col("v"))).item()
    0.6
    """
    scaled = (values * EXACT_SCALE).round(0).cast(pl.Int64)
    return scaled.sum() / EXACT_SCALE


def exact_mean(values: pl.Expr) -> pl.Expr:
    """Mean as :func:`exact_sum` over the count of non-null values (null when none)."""
    n = values.count()
    return pl.when(n > 0).then(exact_sum(values) / n)


def prefetch_scipy() -> None:
    """Start importing ``scipy.stats`` in a background thread (a speed trick).

    The import takes 0.5-0.9 s of mostly Python and file reads; the tests of the cause
    tables need it only after the read and the sort, during which polars holds no GIL. A
    later ``import scipy.stats`` waits for this one (Python's import lock), so the result is
    the same; only the wait overlaps the engine's work. A daemon thread: an interrupted
    run does not wait for it.
    """
    threading.Thread(target=importlib.import_module, args=("scipy.stats",), daemon=True).start()


@functools.lru_cache(maxsize=64)
def z_value(confidence: float) -> float:
    """The two-sided normal quantile of ``confidence`` (1.96 for 0.95): the standard
    library's inverse normal (Wichura's AS241, accurate to about 1e-16), so tables with
    intervals need no scipy import (0.6-0.9 s).

    >>> round(z_value(0.95), 6)
    1.959964
    """
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``successes / trials``; (nan, nan) when trials is 0.

    >>> wilson_interval(0, 20)[1] > 0
    True
    """
    if trials <= 0:
        return (math.nan, math.nan)
    z = z_value(confidence)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return (max(0.0, centre - half), min(1.0, centre + half))


def wilson_exprs(
    successes: pl.Expr, trials: pl.Expr, name: str, confidence: float = 0.95
) -> list[pl.Expr]:
    """``name``, ``name_lo``, ``name_hi`` columns: the rate and its Wilson interval.

    >>> df = pl.DataFrame({"x": [81], "n": [263]})
    >>> out = df.select(wilson_exprs(pl.col("x"), pl.col("n"), "rate"))
    >>> round(out["rate_hi"][0], 4)
    0.3662
    """
    z = z_value(confidence)
    n = trials.cast(pl.Float64)
    p = successes.cast(pl.Float64) / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * (p * (1 - p) / n + z * z / (4 * n * n)).sqrt()
    valid = trials > 0
    return [
        pl.when(valid).then(p).alias(name),
        pl.when(valid).then((centre - half).clip(0.0, 1.0)).alias(f"{name}_lo"),
        pl.when(valid).then((centre + half).clip(0.0, 1.0)).alias(f"{name}_hi"),
    ]


def risk_ratio(
    a: int, n1: int, c: int, n0: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Risk ratio ``(a/n1) / (c/n0)`` with the Katz log interval.

    With a zero cell, 0.5 is added to ``a`` and ``c`` and 1 to ``n1`` and ``n0`` (the usual
    continuity correction), so the ratio and interval stay finite. NaN when a group is empty.

    >>> rr, lo, hi = risk_ratio(30, 100, 15, 100)
    >>> round(rr, 2), round(lo, 3), round(hi, 3)
    (2.0, 1.149, 3.482)
    """
    if n1 <= 0 or n0 <= 0:
        return (math.nan, math.nan, math.nan)
    if a == 0 or c == 0 or a == n1 or c == n0:
        a, c, n1, n0 = a + 0.5, c + 0.5, n1 + 1, n0 + 1
    rr = (a / n1) / (c / n0)
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
    z = z_value(confidence)
    return (rr, rr * math.exp(-z * se), rr * math.exp(z * se))


def _expected_ok(a, b, c, d):
    n = a + b + c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        rows, cols = (a + b, c + d), (a + c, b + d)
        expected = np.minimum.reduce([rows[i] * cols[j] / n for i in (0, 1) for j in (0, 1)])
        chi2 = n * (a * d - b * c) ** 2 / (rows[0] * rows[1] * cols[0] * cols[1])
    return expected >= 5, chi2


def two_by_two_p(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Two-sided p-values of 2x2 tables ``[[a, b], [c, d]]``, vectorised.

    Pearson's chi-square (1 df, no continuity correction) when every expected count is at
    least 5, Fisher's exact test otherwise (the usual rule of thumb, Cochran 1954).

    >>> a, b, c, d = np.array([1, 120]), np.array([9, 80]), np.array([6, 90]), np.array([2, 110])
    >>> [round(float(x), 4) for x in two_by_two_p(a, b, c, d)]  # Fisher, then chi-square
    [0.0128, 0.0027]
    """
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    large, chi2 = _expected_ok(a, b, c, d)
    from scipy.stats import chi2 as chi2_dist
    from scipy.stats import fisher_exact

    p = chi2_dist.sf(chi2, 1)
    for i in np.flatnonzero(~large):  # Fisher for the (few) sparse tables
        table = [[int(a[i]), int(b[i])], [int(c[i]), int(d[i])]]
        p[i] = fisher_exact(table).pvalue
    return np.where(np.isnan(p), 1.0, p)


def two_by_two_test(a: int, b: int, c: int, d: int) -> tuple[float, bool]:
    """:func:`two_by_two_p` for one table, and whether Fisher's exact test was used.

    >>> p, fisher = two_by_two_test(1, 9, 6, 2)
    >>> round(p, 4), fisher
    (0.0128, True)
    """
    large, _ = _expected_ok(*(np.asarray([x], dtype=float) for x in (a, b, c, d)))
    return float(two_by_two_p([a], [b], [c], [d])[0]), not bool(large[0])


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values).

    >>> [round(float(q), 3) for q in benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5]))]
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p, dtype=float)
    if p.size == 0:
        return p
    from scipy.stats import false_discovery_control

    return false_discovery_control(p, method="bh")
