"""Statistics for comparing two funnel versions (docs/compare.md says when each is used).

All functions work on plain numbers or numpy arrays of a handful of values (one per step),
never on events. Randomness takes a seed.

>>> d, lo, hi = newcombe_interval(56, 70, 48, 80)  # Newcombe (1998), table II, example (a)
>>> round(d, 4), round(lo, 4), round(hi, 4)
(0.2, 0.0524, 0.3339)
"""

from __future__ import annotations

import math

import numpy as np

from funnel.stats import adjust_p, two_by_two_test, wilson_interval, z_value

__all__ = [
    "adjust_p",
    "bootstrap_median_diff",
    "mann_whitney_p",
    "minimum_detectable_effect",
    "newcombe_interval",
    "proportion_test",
    "sample_ratio_test",
]

_DIRECT_BUDGET = 20_000_000  # resampled values; above it the exact median sampler is used


def newcombe_interval(
    x1: int, n1: int, x0: int, n0: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``x1/n1 - x0/n0`` with Newcombe's hybrid score interval (1998, method 10).

    Built from the two Wilson intervals, so it behaves for small counts and rates near 0 or 1.
    NaN when a group is empty.

    >>> [round(v, 4) for v in newcombe_interval(9, 10, 3, 10)]
    [0.6, 0.1705, 0.809]
    """
    if n1 <= 0 or n0 <= 0:
        return (math.nan, math.nan, math.nan)
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson_interval(x1, n1, confidence)
    l0, u0 = wilson_interval(x0, n0, confidence)
    d = p1 - p0
    return (
        d,
        d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2),
    )


def proportion_test(x1: int, n1: int, x0: int, n0: int) -> tuple[float, str]:
    """Two-sided p-value that two proportions are equal, and the test used.

    The pooled two-proportion z-test (the same p as Pearson's chi-square on the 2x2 table)
    when every expected count is at least 5, Fisher's exact test otherwise.

    >>> p, test = proportion_test(45, 100, 30, 100)
    >>> round(p, 4), test
    (0.0285, 'z')
    >>> proportion_test(3, 8, 0, 9)[1]
    'fisher'
    """
    if n1 <= 0 or n0 <= 0:
        return (math.nan, "none")
    p, fisher = two_by_two_test(x1, n1 - x1, x0, n0 - x0)
    return (p, "fisher" if fisher else "z")


def minimum_detectable_effect(
    p0: float, n1: int, n0: int, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest absolute difference from rate ``p0`` a two-sided test at ``alpha`` detects
    with probability ``power`` given group sizes ``n1`` and ``n0`` (normal approximation,
    variance at ``p0``).

    >>> round(minimum_detectable_effect(0.3, 1000, 1000), 4)
    0.0574
    """
    if n1 <= 0 or n0 <= 0 or not 0 < p0 < 1:
        return math.nan
    z = z_value(1 - alpha) + z_value(2 * power - 1)  # two-sided quantile, then one-sided for power
    return float(z * math.sqrt(p0 * (1 - p0) * (1 / n1 + 1 / n0)))


def _median_sampler(sorted_x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of ``n_boot`` bootstrap resamples of ``sorted_x``.

    Direct resampling while it fits a budget of values; beyond it, each resample's lower
    median (order statistic ``k = ceil(n/2)``) is drawn exactly from its law:
    ``P(X*_(k) <= x_(i)) = P(Binomial(n, i/n) >= k)`` — O(n + B log n) instead of O(n B).
    """
    n = sorted_x.size
    if n * n_boot <= _DIRECT_BUDGET:
        batch = max(1, _DIRECT_BUDGET // (10 * n))
        parts = []
        for start in range(0, n_boot, batch):  # batches of resamples, not rows
            idx = rng.integers(0, n, size=(min(batch, n_boot - start), n))
            parts.append(np.median(sorted_x[idx], axis=1))
        return np.concatenate(parts)
    k = (n + 1) // 2
    from scipy.stats import binom

    cdf = binom.sf(k - 1, n, np.arange(1, n + 1) / n)
    return sorted_x[np.minimum(np.searchsorted(cdf, rng.random(n_boot)), n - 1)]


def bootstrap_median_diff(
    x: np.ndarray,
    x0: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """``median(x) - median(x0)`` with a percentile bootstrap interval (seeded).

    The two groups are resampled independently. NaN when a group is empty; the interval is
    NaN when ``n_boot`` is 0.

    >>> rng = np.random.default_rng(1)
    >>> d, lo, hi = bootstrap_median_diff(rng.exponential(60, 400) + 30,
    ...                                   rng.exponential(60, 400), seed=3)
    >>> lo < 30 < hi
    True
    """
    x = np.sort(np.asarray(x, dtype=float))
    x0 = np.sort(np.asarray(x0, dtype=float))
    if x.size == 0 or x0.size == 0:
        return (math.nan, math.nan, math.nan)
    d = float(np.median(x) - np.median(x0))
    if n_boot <= 0:
        return (d, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    diffs = _median_sampler(x, n_boot, rng) - _median_sampler(x0, n_boot, rng)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(diffs, [tail, 1 - tail])
    return (d, float(lo), float(hi))


def mann_whitney_p(x: np.ndarray, x0: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value (exact for small samples without ties, else the
    normal approximation with tie correction: scipy's ``method="auto"``).

    >>> mann_whitney_p(np.arange(10.0), np.arange(10.0) + 5) < 0.05
    True
    """
    x, x0 = np.asarray(x, dtype=float), np.asarray(x0, dtype=float)
    if x.size == 0 or x0.size == 0:
        return math.nan
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(x, x0, alternative="two-sided").pvalue)


def sample_ratio_test(observed: list[int], expected_shares: list[float]) -> float:
    """Chi-square goodness-of-fit p-value of ``observed`` counts against expected shares.

    >>> round(sample_ratio_test([5000, 5200], [0.5, 0.5]), 4)
    0.0477
    """
    obs = np.asarray(observed, dtype=float)
    shares = np.asarray(expected_shares, dtype=float)
    if obs.sum() <= 0:
        return math.nan
    from scipy.stats import chisquare

    return float(chisquare(obs, shares / shares.sum() * obs.sum()).pvalue)
