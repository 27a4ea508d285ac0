"""Statistics helpers: Wilson score intervals as polars expressions and for plain numbers.

The Wilson interval (Wilson 1927; Newcombe 1998, method 3) stays inside [0, 1] and behaves
well for small counts and rates near 0 or 1, unlike the normal ("Wald") interval.

>>> lo, hi = wilson_interval(81, 263)
>>> round(lo, 4), round(hi, 4)
(0.2553, 0.3662)
"""

from __future__ import annotations

import math

import polars as pl
from scipy.stats import norm

__all__ = ["wilson_exprs", "wilson_interval"]


def _z(confidence: float) -> float:
    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``successes / trials``; (nan, nan) when trials is 0.

    >>> wilson_interval(0, 20)[1] > 0
    True
    """
    if trials <= 0:
        return (math.nan, math.nan)
    z = _z(confidence)
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
    z = _z(confidence)
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
