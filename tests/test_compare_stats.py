"""Comparison statistics against published numbers and independent scipy/numpy computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import (
    chi2,
    chi2_contingency,
    false_discovery_control,
    fisher_exact,
    norm,
    rankdata,
)

from funnel import stats
from funnel.versions import stats as cs
from tests.reference_compare import holm


@pytest.mark.parametrize(
    ("x1", "n1", "x0", "n0", "lo", "hi"),
    [  # Newcombe (1998) Stat Med 17:873-890, table II, method 10
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (0, 10, 0, 10, -0.2775, 0.2775),
    ],
)
def test_newcombe_published_examples(x1, n1, x0, n0, lo, hi):
    d, got_lo, got_hi = cs.newcombe_interval(x1, n1, x0, n0)
    assert d == pytest.approx(x1 / n1 - x0 / n0)
    assert (round(got_lo, 4), round(got_hi, 4)) == (lo, hi)


@pytest.mark.parametrize(
    ("x1", "n1", "x0", "n0"), [(45, 100, 30, 100), (400, 1000, 370, 1100), (12, 40, 25, 50)]
)
def test_z_test_is_pooled_two_proportion_test(x1, n1, x0, n0):
    p, test = cs.proportion_test(x1, n1, x0, n0)
    pooled = (x1 + x0) / (n1 + n0)
    z = (x1 / n1 - x0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    table = [[x1, n1 - x1], [x0, n0 - x0]]
    assert test == "z"
    assert p == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)
    assert p == pytest.approx(chi2_contingency(table, correction=False).pvalue, rel=1e-9)


@pytest.mark.parametrize(("x1", "n1", "x0", "n0"), [(3, 8, 0, 9), (1, 30, 6, 30), (19, 20, 15, 20)])
def test_fisher_when_expected_counts_are_small(x1, n1, x0, n0):
    p, test = cs.proportion_test(x1, n1, x0, n0)
    assert test == "fisher"
    assert p == pytest.approx(fisher_exact([[x1, n1 - x1], [x0, n0 - x0]]).pvalue, rel=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 100_000), min_size=4, max_size=4))
def test_two_by_two_matches_scipy(cells):
    """Pearson's chi-square without scipy (the tail of one degree of freedom in closed
    form) where every expected count is at least 5, scipy's Fisher test otherwise."""
    a, b, c, d = cells
    p, fisher = stats.two_by_two_test(a, b, c, d)
    table = np.array([[a, b], [c, d]])
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        assert (p, fisher) == (1.0, False)
        return
    chi = chi2_contingency(table, correction=False)
    assert fisher == (chi.expected_freq < 5).any()
    want = fisher_exact(table).pvalue if fisher else chi.pvalue
    assert p == pytest.approx(want, rel=1e-9, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_and_bh_match_independent_computations(p):
    assert cs.adjust_p(np.array(p), "holm") == pytest.approx(holm(p), abs=1e-12)
    assert cs.adjust_p(np.array(p), "bh") == pytest.approx(
        false_discovery_control(np.array(p)), abs=1e-12
    )


def test_adjust_leaves_missing_tests_out():
    got = cs.adjust_p(np.array([0.01, math.nan, 0.04]), "holm")
    assert math.isnan(got[1])
    assert got[[0, 2]] == pytest.approx([0.02, 0.04])


def test_minimum_detectable_effect_has_its_power():
    """Simulate two arms that differ by exactly the MDE: the z-test rejects ~80% of the time."""
    p0, n = 0.3, 2000
    mde = cs.minimum_detectable_effect(p0, n, n, alpha=0.05, power=0.8)
    rng = np.random.default_rng(11)
    x0 = rng.binomial(n, p0, 4000)
    x1 = rng.binomial(n, p0 + mde, 4000)
    pooled = (x0 + x1) / (2 * n)
    z = (x1 - x0) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    power = np.mean(2 * norm.sf(np.abs(z)) < 0.05)
    assert 0.77 < power < 0.83


def test_exact_median_sampler_matches_direct_resampling(monkeypatch):
    rng = np.random.default_rng(5)
    x = np.sort(rng.lognormal(3, 1, 1001).round(0))  # ties, as with times in seconds
    direct = np.median(x[rng.integers(0, x.size, size=(4000, x.size))], axis=1)
    monkeypatch.setattr(cs, "_DIRECT_BUDGET", 0)  # force the exact order-statistic sampler
    exact = cs._median_sampler(x, 4000, np.random.default_rng(6))
    for q in (0.025, 0.25, 0.5, 0.75, 0.975):
        a, b = np.quantile(direct, q), np.quantile(exact, q)
        assert abs(a - b) <= 0.2 * np.std(direct), (q, a, b)
    assert abs(np.std(direct) - np.std(exact)) < 0.1 * np.std(direct)


def test_bootstrap_median_interval_covers_the_truth():
    """Exponential times shifted by 20 s: the 95% interval covers 20 in most of 120 repeats."""
    rng = np.random.default_rng(8)
    covered = 0
    for i in range(120):  # repeats of a small experiment, not rows
        a = rng.exponential(60, 300) + 20
        b = rng.exponential(60, 300)
        _, lo, hi = cs.bootstrap_median_diff(a, b, n_boot=1000, seed=i)
        covered += lo <= 20 <= hi
    assert 0.88 <= covered / 120 <= 1.0


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(1)
    a, b = rng.exponential(10, 200), rng.exponential(12, 200)
    assert cs.bootstrap_median_diff(a, b, seed=4) == cs.bootstrap_median_diff(a, b, seed=4)
    assert cs.bootstrap_median_diff(a, b, seed=4) != cs.bootstrap_median_diff(a, b, seed=5)


def test_mann_whitney_matches_hand_normal_approximation():
    rng = np.random.default_rng(2)
    x = rng.exponential(10, 300).round(0)  # many ties
    y = (rng.exponential(10, 250) + 1).round(0)
    ranks = rankdata(np.concatenate([x, y]))
    n1, n2 = x.size, y.size
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    _, counts = np.unique(np.concatenate([x, y]), return_counts=True)
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - (counts**3 - counts).sum() / (n * (n - 1)))
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)  # scipy's default continuity correction
    assert cs.mann_whitney_p(x, y) == pytest.approx(2 * norm.sf(z), rel=1e-6)


def test_sample_ratio_test_matches_hand_chi_square():
    obs, shares = [5000, 5200, 4700], [1, 1, 1]
    e = sum(obs) / 3
    stat = sum((o - e) ** 2 / e for o in obs)
    assert cs.sample_ratio_test(obs, shares) == pytest.approx(chi2.sf(stat, 2), rel=1e-9)
    assert cs.sample_ratio_test([900, 100], [0.9, 0.1]) == pytest.approx(1.0)
