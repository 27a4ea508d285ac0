"""Exposure analysis: the abandonment that goes with each cause's evidence, and the excess
abandonments a fix could win back (association, not proof; docs/causes.md).

**Exposure** follows the rule attribution uses: a unit is exposed to a cause at the first
evidence-shaped row (the cause's events and ``where``) that no later row of its session
cancels (``unless_later``), between the unit's entry and its exit: the end of the exit
session for an abandoned unit, the moment it converted for a converted one (nothing seen
after buying made anyone leave). Its **stratum** is the step the unit had reached then (at
least the cause's ``exposed_from``), and its **delay** the time from reaching that step to
the exposure.

**Comparison** (a landmark comparison): each exposed unit is set against the unexposed
units that reached the same step and were still there as long after reaching it (they went
further, or left later than the delay). Shoppers who left before the exposure could have
happened to them do not count: they would make the comparison rate too high (another cause
earlier in the same step, say). Two refinements place shoppers better than time can:
where the cause's events also occur without the problem, only units that had such a row in
the step compare (:mod:`funnel.causes.matched`); and a unit that left in the step for
another cause was still there when that cause usually comes later in the step, not when it
usually comes earlier (:func:`problem_order`, read from units exposed to both). Then

* ``expected_abandoned``: the sum, over exposed units, of the abandonment rate of their
  comparison units (an exposed unit without any adds its own outcome: no excess);
* ``excess_abandoned`` = ``exposed_abandoned - expected_abandoned``; ``risk_ratio`` =
  ``exposed_abandoned / expected_abandoned``;
* 95% percentile intervals of both from 2,000 bootstrap resamples of the units (Poisson
  weights, seeded: the same bytes every run), and a two-sided p-value from the excess over
  its bootstrap standard error.

Delays are binned on a logarithmic scale (bins 25% wide above one second), so units with
the same stratum, delay bin, reached steps and outcome are interchangeable: the tables and
the bootstrap work on those few cells (a Poisson draw per cell resamples its units),
never on units one by one.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import polars as pl

from funnel.causes.evidence import cause_bit, gather_by_sid, later_cancels
from funnel.spec.funnel_spec import FunnelSpec

__all__ = [
    "delay_bin",
    "exposure_columns",
    "exposure_counts",
    "exposure_end",
    "exposure_flags",
    "exposure_notes",
    "exposure_table",
    "merge_alike",
]

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20241  # fixed: the intervals are part of the output, the same every run
_BINS = 128  # delay bins: 0 (under a second), then 25% wide; a code is stratum * 128 + bin


def delay_bin(micros: pl.Expr) -> pl.Expr:
    """The logarithmic bin of a delay in microseconds: 0 below one second, then bins 25%
    wide (1-1.25 s is bin 1), at most 127 (beyond 10^12 years).

    >>> micros = pl.Series([0, 999_999, 1_000_000, 1_300_000, 60_000_000])
    >>> pl.select(delay_bin(pl.lit(micros))).to_series().to_list()
    [0, 0, 1, 2, 19]
    """
    seconds = micros.cast(pl.Float64) / 1_000_000
    grown = (seconds.log(1.25).floor() + 1).clip(1, _BINS - 1)
    return pl.when(seconds < 1).then(0).otherwise(grown).cast(pl.Int16)


def exposure_end(spec: FunnelSpec) -> pl.Expr:
    """Where a unit's exposure window ends, over the per-unit table: the moment it
    converted, else the end of its exit session (what a shopper sees after buying made
    nobody leave)."""
    last = pl.col(f"at_{spec.step_names[-1]}")
    return pl.when(pl.col("converted")).then(last).otherwise(pl.col("_exit_end"))


def exposure_flags(
    rows: pl.LazyFrame, units: pl.DataFrame, spec: FunnelSpec, unit_of_sid: pl.Series
) -> pl.LazyFrame:
    """Per unit exposed to any cause: ``_unit`` and ``_exposed{i}``, the code of its
    exposure to cause ``i`` (stratum * 128 + delay bin), null when not exposed.

    ``rows``: the placed cause rows (:func:`funnel.causes.evidence.place_rows`, in position
    order); rows find their session's unit by a gather on ``_sid``, users over a duration
    window (one unit per user) by a join on the user. Never collects.
    """
    causes = spec.causes
    low = sum(1 << i for i in range(len(causes)))
    unit, ts = pl.col("_unit"), [f"_t{i}" for i in range(len(causes))]
    first_seen = []
    for i, c in enumerate(causes):
        ok = cause_bit(i) & (pl.col(f"_l{i}") == 0) if c.cancellable else cause_bit(i)
        first_seen.append(pl.when(ok).then(pl.col("timestamp")).alias(ts[i]))
    marked = rows.with_columns(later_cancels(causes)).filter((pl.col("_cm") & low) != 0)
    marked = marked.with_columns(first_seen)
    if spec.unit == "users" and spec.window_s is not None:
        by_user = units.lazy().select("user_id", "_unit")
        marked = marked.select("timestamp", *ts, "user_id").join(by_user, on="user_id")
    else:
        marked = marked.select("timestamp", *ts, gather_by_sid(unit_of_sid))
    cut = units.select(exposure_end(spec)).to_series()
    steps = [f"_at{j}" for j in range(len(spec.steps))]  # gathered once, then read
    at = [pl.col(c) for c in steps]
    # the stratum in a column of its own first: read five times below, an expression
    # would be computed five times (0.3 s instead of 0.07 s for 300k units, 8 causes)
    strata, codes = [], []
    for i, (c, t) in enumerate(zip(causes, ts, strict=True)):
        seen = pl.col(t)
        reached = pl.max_horizontal([pl.when(a <= seen).then(j) for j, a in enumerate(at)])
        strata.append(pl.max_horizontal(reached, pl.lit(c.exposed_from)).alias(f"_s{i}"))
        stratum = pl.col(f"_s{i}")
        since = pl.coalesce([pl.when(stratum == j).then(a) for j, a in enumerate(at)])
        delay = (seen - since).dt.total_microseconds().clip(lower_bound=0)
        code = stratum * _BINS + delay_bin(delay)
        codes.append(pl.when(seen.is_not_null()).then(code).cast(pl.Int16).alias(f"_exposed{i}"))
    return (
        marked.filter(unit.is_not_null())
        .filter(
            pl.col("timestamp").is_between(
                pl.lit(units["entered_at"]).gather(unit), pl.lit(cut).gather(unit)
            )
        )
        .group_by("_unit")
        .agg(  # the min_count-th live evidence-shaped row (repetition), else the first
            pl.col(t).min()
            if c.min_count == 1
            else pl.when(pl.col(t).count() >= c.min_count).then(
                pl.col(t).drop_nulls().bottom_k(c.min_count).max()
            )
            for c, t in zip(causes, ts, strict=True)
        )
        .with_columns(
            pl.lit(units[f"at_{n}"]).gather(unit).alias(c)
            for n, c in zip(spec.step_names, steps, strict=True)
        )
        .with_columns(strata)
        .select("_unit", *codes)
    )


def exposure_columns(
    units: pl.DataFrame, flags: pl.DataFrame, n_causes: int, name: str = "_exposed"
) -> list[pl.Series]:
    """``_exposed{i}`` per row of ``units`` from :func:`exposure_flags` (a scatter by unit
    number ``_unit``, no join), null for units not exposed; likewise ``_matched{i}`` from
    :func:`funnel.causes.matched.matched_flags` (``name="_matched"``)."""
    out = []
    for i in range(n_causes):
        kind = flags.schema.get(f"{name}{i}", pl.Int16)
        col = pl.repeat(None, units.height, dtype=kind, eager=True).alias(f"{name}{i}")
        out.append(col.scatter(flags["_unit"], flags[f"{name}{i}"]) if flags.height else col)
    return out


_EXPOSURE_COLUMNS = {
    "cause": pl.String,
    "exposed_from": pl.String,
    "units": pl.Int64,
    "exposed": pl.Int64,
    "exposed_abandoned": pl.Int64,
    "abandon_rate_exposed": pl.Float64,
    "unexposed": pl.Int64,
    "unexposed_abandoned": pl.Int64,
    "abandon_rate_unexposed": pl.Float64,
    "expected_abandoned": pl.Float64,
    "risk_ratio": pl.Float64,
    "risk_ratio_lo": pl.Float64,
    "risk_ratio_hi": pl.Float64,
    "p_value": pl.Float64,
    "excess_abandoned": pl.Float64,
    "excess_abandoned_lo": pl.Float64,
    "excess_abandoned_hi": pl.Float64,
}


def _per_unit(units: pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """Per unit: the steps reached (bit mask), the furthest, how long it stayed there (delay
    bin, from reaching it to its last event), whether it abandoned, and its primary cause
    (index, -1 for none) with its exposure code to it (-1 for none)."""
    at = [pl.col(f"at_{n}") for n in spec.step_names]
    names = [c.name for c in spec.causes]
    primary = pl.col("primary_cause").replace_strict(
        names, list(range(len(names))), default=-1, return_dtype=pl.Int64
    )
    own = [pl.when(pl.col("pc") == j).then(pl.col(f"_exposed{j}")) for j in range(len(names))]
    furthest = pl.max_horizontal([pl.when(a.is_not_null()).then(j) for j, a in enumerate(at)])
    left_at = pl.coalesce("_decided_at", "last_event_at")  # the reason it left, or its end
    stay = left_at - pl.coalesce(at[::-1])
    return units.select(
        pl.col("^_exposed\\d+$"),
        pl.col("^_matched\\d+$").fill_null(0),
        pl.sum_horizontal(
            [a.is_not_null().cast(pl.Int64) * (1 << j) for j, a in enumerate(at)]
        ).alias("reached"),
        furthest.alias("furthest"),
        delay_bin(stay.dt.total_microseconds()).alias("stay"),
        (~pl.col("converted")).alias("left"),
        primary.fill_null(-1).alias("pc"),
    ).with_columns(pl.coalesce(own).fill_null(-1).cast(pl.Int64).alias("pc_code"))


def problem_order(joint: pl.DataFrame, n_causes: int, n_steps: int) -> np.ndarray:
    """``order[s, j, k]``: +1 when, among units exposed to both causes ``j`` and ``k`` in
    step ``s`` (weighted by ``n``), ``j`` came later more often than earlier (a later delay
    bin), -1 when earlier more often, 0 when neither (no such unit, or a tie).

    >>> joint = pl.DataFrame({"_exposed0": [130, 131], "_exposed1": [133, None], "n": [3, 1]})
    >>> problem_order(joint, 2, 2)[1].tolist()  # in step 1, cause 1 comes after cause 0
    [[0, -1], [1, 0]]
    """
    codes = np.stack(
        [joint[f"_exposed{i}"].fill_null(-1).to_numpy() for i in range(n_causes)], axis=1
    ).astype(np.int64)
    n = joint["n"].to_numpy().astype(np.int64)
    later = np.zeros((n_steps, n_causes, n_causes), dtype=np.int64)
    for j in range(n_causes):
        for k in range(n_causes):
            cj, ck = codes[:, j], codes[:, k]
            both = (j != k) & (cj >= 0) & (ck >= 0) & (cj // _BINS == ck // _BINS)
            step = np.where(both, cj // _BINS, 0)
            sign = np.sign(cj % _BINS - ck % _BINS) * both
            np.add.at(later[:, j, k], step, sign * n)
    return np.sign(later)


def _comparisons(
    cells: dict[str, np.ndarray], first: int, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Indicator matrices (cells x comparisons) of exposed cells and of their comparison
    cells, one comparison per (stratum, delay bin) of the exposed: unexposed units that
    reached the stratum and were still there at the delay, and that met the cause's event
    without the problem in that step if any unexposed unit there did
    (:mod:`funnel.causes.matched`). A unit that left in the stratum for another cause
    (``pc``, exposed to it there: ``pc_code``) was still there when that cause comes later
    in that step (``order[s, pc]`` of :func:`problem_order` for this cause: +1), not when
    it comes earlier (-1); the time it stayed decides otherwise."""
    code, reached, matched = cells["code"], cells["reached"], cells["matched"]
    in_pop = ((reached >> first) & 1) == 1
    exposed = in_pop & (code >= 0)
    keys = np.unique(code[exposed])
    stratum, delay = keys // _BINS, keys % _BINS
    e1 = exposed[:, None] & (code[:, None] == keys)
    pc, pc_step = cells["pc"], np.where(cells["pc_code"] >= 0, cells["pc_code"] // _BINS, -1)
    known = np.where(
        (pc[:, None] >= 0) & (pc_step[:, None] == stratum), order[stratum[None, :], pc[:, None]], 0
    )
    by_time = cells["stay"][:, None] >= delay
    still_there = (cells["furthest"][:, None] > stratum) | np.where(known != 0, known > 0, by_time)
    there = (in_pop & (code < 0))[:, None] & (((reached[:, None] >> stratum) & 1) == 1)
    met = ((matched[:, None] >> stratum) & 1) == 1
    # a step where no unexposed unit met the event without the problem: no match asked
    met |= ~(there & met).any(axis=0)
    e0 = there & still_there & met
    return e1.astype(float), e0.astype(float)


def _estimates(counts: np.ndarray, e1: np.ndarray, e0: np.ndarray, left: np.ndarray) -> tuple:
    """(observed, expected) abandonments of the exposed for cell counts (..., cells)."""
    n1, a, n0, c = counts @ e1, counts @ (e1 * left), counts @ e0, counts @ (e0 * left)
    rate = np.divide(c, n0, out=np.zeros_like(c), where=n0 > 0)
    return a.sum(axis=-1), np.where(n0 > 0, n1 * rate, a).sum(axis=-1)


def merge_alike(
    n: np.ndarray, e1: np.ndarray, e0: np.ndarray, left: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cells that every comparison reads alike (the same rows of ``e1`` and ``e0``, the
    same outcome ``left``) as one cell with the summed count; cells no comparison reads
    left out. A sum of Poisson counts is Poisson with the summed mean, so the bootstrap
    draws from the same distribution with fewer draws (a third at 10M events), and every
    estimate from the counts is unchanged.

    >>> e1 = np.array([[1.0], [1.0], [0.0], [0.0]])
    >>> e0 = np.array([[0.0], [0.0], [1.0], [0.0]])
    >>> n_m, *_ = merge_alike(np.array([2.0, 3.0, 4.0, 9.0]), e1, e0, np.zeros(4))
    >>> n_m.tolist()
    [4.0, 5.0]
    """
    k = e1.shape[1]
    alike = np.concatenate([e1, e0, left[:, None]], axis=1) != 0
    read = alike[:, :-1].any(axis=1)
    alike = alike[read]
    # each cell's row of indicators as a few bytes: one sort of short keys (a row-wise
    # unique of the float matrix sorted 2k + 1 fields per row: 10x slower)
    packed = np.ascontiguousarray(np.packbits(alike, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    merged = alike[first].astype(float)
    n_m = np.bincount(inverse.reshape(-1), weights=n[read], minlength=len(merged))
    return n_m, merged[:, :k], merged[:, k : 2 * k], merged[:, -1]


def _cause_row(cells: dict[str, np.ndarray], first: int, order: np.ndarray) -> dict:
    """The exposure row of one cause from its cells (code, matched, reached, furthest,
    stay, left, pc, pc_code, n) and ``order[s, j]``: cause ``j`` against this one in step
    ``s`` (:func:`problem_order`)."""
    n, left, code = cells["n"].astype(float), cells["left"].astype(float), cells["code"]
    in_pop = ((cells["reached"] >> first) & 1) == 1
    exposed, unexposed = n * (in_pop & (code >= 0)), n * (in_pop & (code < 0))
    n1, a, n0, c = (int(x.sum()) for x in (exposed, exposed * left, unexposed, unexposed * left))
    row = {
        "units": n1 + n0,
        "exposed": n1,
        "exposed_abandoned": a,
        "abandon_rate_exposed": a / n1 if n1 else None,
        "unexposed": n0,
        "unexposed_abandoned": c,
        "abandon_rate_unexposed": c / n0 if n0 else None,
    }
    if not n1 or not a:  # nobody exposed, or only where shoppers bought (notes)
        return row
    e1, e0 = _comparisons(cells, first, order)
    observed, expected = _estimates(n, e1, e0, left[:, None])
    # the Poisson bootstrap: each cell's count drawn around its own (one vectorised draw,
    # ~20x faster than a multinomial one; the same distribution for many units), cells
    # read alike drawn as one
    n_m, e1_m, e0_m, left_m = merge_alike(n, e1, e0, left)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = rng.poisson(n_m, size=(BOOTSTRAP_RESAMPLES, n_m.size)).astype(float)
    obs_b, exp_b = _estimates(draws, e1_m, e0_m, left_m[:, None])
    excess_b = obs_b - exp_b
    ratio_b = np.divide(obs_b, exp_b, out=np.full_like(obs_b, np.inf), where=exp_b > 0)
    sd = float(excess_b.std(ddof=1))
    z = abs(observed - expected) / sd if sd > 0 else math.inf
    return row | {
        "expected_abandoned": float(expected),
        "risk_ratio": float(observed / expected) if expected > 0 else None,
        "risk_ratio_lo": _finite(np.quantile(ratio_b, 0.025, method="inverted_cdf")),
        "risk_ratio_hi": _finite(np.quantile(ratio_b, 0.975, method="inverted_cdf")),
        "p_value": 2 * NormalDist().cdf(-z) if sd > 0 else None,
        "excess_abandoned": float(observed - expected),
        "excess_abandoned_lo": float(np.quantile(excess_b, 0.025, method="inverted_cdf")),
        "excess_abandoned_hi": float(np.quantile(excess_b, 0.975, method="inverted_cdf")),
    }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def exposure_counts(units: pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """The units grouped by everything the cells of any cause read (``n`` per group: a few
    thousand groups for half a million units). ``units`` carry ``_exposed{i}``
    (:func:`exposure_columns`). Counts of sets of units add up."""
    if not spec.causes:
        return pl.DataFrame({"n": []}, schema={"n": pl.Int64})
    per_unit = _per_unit(units, spec)
    return per_unit.group_by(per_unit.columns).agg(pl.len().cast(pl.Int64).alias("n"))


def exposure_table(joint: pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """Per cause: exposed and unexposed units and their abandonment, the abandonments the
    exposed would have had at the rate of comparable unexposed units, the excess and the
    risk ratio with bootstrap intervals, and a p-value (``joint``: :func:`exposure_counts`,
    grouped by each cause's cells here)."""
    if not spec.causes:
        return pl.DataFrame(schema=_EXPOSURE_COLUMNS)
    shared = ["reached", "furthest", "stay", "left", "pc", "pc_code"]
    order = problem_order(joint, len(spec.causes), len(spec.steps))
    rows = []
    for i, cause in enumerate(spec.causes):
        code = pl.col(f"_exposed{i}").fill_null(-1).cast(pl.Int64).alias("code")
        matched = pl.col(f"_matched{i}").alias("matched")
        grouped = (
            joint.group_by(code, matched, *shared)
            .agg(pl.col("n").sum())
            .sort(["code", "matched", "reached", "furthest", "stay"])
        )
        cells = {c: grouped[c].fill_null(-1).to_numpy().astype(np.int64) for c in grouped.columns}
        named = {"cause": cause.name, "exposed_from": spec.step_names[cause.exposed_from]}
        rows.append(named | _cause_row(cells, cause.exposed_from, order[:, :, i]))
    return pl.DataFrame(rows, schema=_EXPOSURE_COLUMNS).sort(
        "excess_abandoned", "cause", descending=[True, False], nulls_last=True
    )


def exposure_notes(exposure: pl.DataFrame) -> list[str]:
    """Causes whose every exposed unit converted: their evidence is seen only where
    shoppers buy (shipping and tax on the purchase event itself), so the exposure table
    gives them no risk ratio (it would read as a strong "protective" effect).

    >>> exp = pl.DataFrame({"cause": ["surprise_costs"], "exposed": [120],
    ...                     "exposed_abandoned": [0]})
    >>> exposure_notes(exp)[0][:60]
    "cause 'surprise_costs': all 120 exposed units converted, so "
    """
    only = exposure.filter((pl.col("exposed") > 0) & (pl.col("exposed_abandoned") == 0))
    return [
        f"cause '{cause}': all {n:,} exposed units converted, so its evidence is seen only "
        "where shoppers buy (is it on the purchase event itself?); no risk ratio or excess "
        "abandonment is given"
        for cause, n in only.select("cause", "exposed").iter_rows()
    ]
