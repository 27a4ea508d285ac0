"""The tables of a comparison: shared path, per-step tests, time per step, cause mix.

Helpers of :func:`funnel.versions.compare.compare_versions`; each returns plain rows (a handful per
step or cause) built from one aggregate select per version, never from loops over units.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from funnel.errors import SpecError
from funnel.spec.funnel_spec import FunnelSpec
from funnel.stats import risk_ratio, wilson_interval
from funnel.versions.stats import (
    adjust_p,
    bootstrap_median_diff,
    mann_whitney_p,
    minimum_detectable_effect,
    newcombe_interval,
    proportion_test,
)

if TYPE_CHECKING:
    from funnel.versions.compare import CompareOptions

__all__ = [
    "CAUSES_SCHEMA",
    "ONE_SIDED_SCHEMA",
    "STEPS_SCHEMA",
    "TIMING_SCHEMA",
    "Version",
    "as_frame",
    "cause_rows",
    "one_sided_rows",
    "shared_path",
    "step_rows",
    "timing_rows",
]


@dataclass(frozen=True)
class Version:
    """One side of a comparison: a label, the spec it was run with and its per-unit table."""

    label: str
    spec: FunnelSpec
    units: pl.DataFrame


def _keys(spec: FunnelSpec, align: Mapping[str, str]) -> list[str]:
    return [align.get(s.name, s.same_as or s.name) for s in spec.steps]


def shared_path(versions: list[Version], align: Mapping[str, str]) -> list[str]:
    """Step keys every version has, in the control's order (which all must share)."""
    keyed = [_keys(v.spec, align) for v in versions]
    shared = [k for k in keyed[0] if all(k in ks for ks in keyed[1:])]
    for v, ks in zip(versions[1:], keyed[1:], strict=True):
        order = [k for k in ks if k in shared]
        if order != shared:
            raise SpecError(
                f"version {v.label!r} has the shared steps in another order: {order} vs {shared}",
                hint="align the steps with same_as in the spec or --align STEP=OTHER",
            )
    if not shared:
        raise SpecError(
            "the versions share no step",
            hint="align the steps with same_as in the spec or --align STEP=OTHER",
        )
    return shared


def _counts(v: Version, cols: list[str]) -> dict[str, int]:
    """Units, converted, users and how many reached each shared step (one select)."""
    exprs = [
        pl.len().alias("units"),
        pl.col("converted").sum().alias("converted"),
        pl.col("user_id").n_unique().alias("users"),
    ]
    for i, c in enumerate(cols):
        exprs.append(pl.col(c).is_not_null().sum().alias(f"r{i}"))
        if i:
            both = pl.col(cols[i - 1]).is_not_null() & pl.col(c).is_not_null()
            exprs.append(both.sum().alias(f"s{i}"))
    return {k: int(x) for k, x in v.units.select(exprs).row(0, named=True).items()}


def _test_row(
    x: int, n: int, x0: int, n0: int, opts: CompareOptions, alpha: float | None = None
) -> dict[str, Any]:
    rate = x / n if n else math.nan
    rate0 = x0 / n0 if n0 else math.nan
    d, lo, hi = newcombe_interval(x, n, x0, n0, opts.confidence)
    degenerate = (x == n and x0 == n0) or (x == 0 and x0 == 0)
    p, test = (math.nan, "none") if degenerate else proportion_test(x, n, x0, n0)
    rr, rr_lo, rr_hi = risk_ratio(x, n, x0, n0, opts.confidence) if x0 else (math.nan,) * 3
    mde = minimum_detectable_effect(rate0, n, n0, alpha or opts.alpha, opts.power)
    return {
        "control_n": n0,
        "control_x": x0,
        "control_rate": rate0,
        "n": n,
        "x": x,
        "rate": rate,
        "diff": d,
        "diff_lo": lo,
        "diff_hi": hi,
        "rel_diff": rr - 1,
        "rel_diff_lo": rr_lo - 1,
        "rel_diff_hi": rr_hi - 1,
        "test": test,
        "p_value": p,
        "mde": mde,
        "mde_rel": mde / rate0 if rate0 else math.nan,
    }


def _adjusted(rows: list[dict[str, Any]], family: str, opts: CompareOptions) -> None:
    members = [r for r in rows if r.get("_family") == family]
    adj = adjust_p(np.array([r["p_value"] for r in members], dtype=float), opts.adjust)
    for r, q in zip(members, adj, strict=True):
        r["p_adjusted"] = float(q)
        r["significant"] = bool(q < opts.alpha) if not math.isnan(q) else False


def step_rows(
    versions: list[Version], shared: list[str], align: Mapping[str, str], opts: CompareOptions
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    counts = {}
    for v in versions:
        names = dict(zip(_keys(v.spec, align), v.spec.step_names, strict=True))
        counts[v.label] = _counts(v, [f"at_{names[k]}" for k in shared])
    c0 = counts[versions[0].label]
    rows: list[dict[str, Any]] = []
    for v in versions[1:]:
        c = counts[v.label]
        for i, key in enumerate(shared):
            row = {"version": v.label, "step": key, "metric": "conversion_from_entry"}
            row |= _test_row(c[f"r{i}"], c["units"], c0[f"r{i}"], c0["units"], opts)
            rows.append(row | {"_family": "entry"})
        for i, key in enumerate(shared[1:], start=1):
            row = {"version": v.label, "step": key, "metric": "step_conversion"}
            row |= _test_row(c[f"s{i}"], c[f"r{i - 1}"], c0[f"s{i}"], c0[f"r{i - 1}"], opts)
            rows.append(row | {"from_step": shared[i - 1], "_family": "step"})
        # overall conversion is the decision (the verdict, --fail-if-worse overall): its own
        # family, adjusted over the treatments only; its detectable effect at the level the
        # strictest of them is held to (alpha / treatments), so the two agree
        row = {"version": v.label, "step": "overall", "metric": "conversion"}
        level = opts.alpha / (len(versions) - 1)
        row |= _test_row(c["converted"], c["units"], c0["converted"], c0["units"], opts, level)
        rows.append(row | {"_family": "overall"})
    _adjusted(rows, "entry", opts)
    _adjusted(rows, "step", opts)
    _adjusted(rows, "overall", opts)
    return rows, counts


def _durations(v: Version, a: str | None, b: str) -> np.ndarray:
    if a is None:
        expr = pl.col("time_to_convert_s")
    else:
        expr = (pl.col(f"at_{b}") - pl.col(f"at_{a}")).dt.total_microseconds() / 1_000_000
    return v.units.select(expr.drop_nulls()).to_series().to_numpy()


def timing_rows(
    versions: list[Version], shared: list[str], align: Mapping[str, str], opts: CompareOptions
) -> list[dict[str, Any]]:
    rows = []
    pairs = [(shared[i - 1], shared[i]) for i in range(1, len(shared))]
    for v in versions[1:]:
        for a, b in [*pairs, (None, None)]:
            sample = []
            for w in (v, versions[0]):
                names = dict(zip(_keys(w.spec, align), w.spec.step_names, strict=True))
                sample.append(_durations(w, names[a], names[b]) if a else _durations(w, None, ""))
            seed = zlib.crc32(f"{opts.seed}/{v.label}/{a}/{b}".encode())
            d, lo, hi = bootstrap_median_diff(
                sample[0], sample[1], n_boot=opts.bootstrap, seed=seed, confidence=opts.confidence
            )
            rows.append(
                {
                    "version": v.label,
                    "kind": "step" if a else "time_to_convert",
                    "from_step": a,
                    "to_step": b,
                    "control_n": int(sample[1].size),
                    "n": int(sample[0].size),
                    "control_median_s": float(np.median(sample[1])) if sample[1].size else None,
                    "median_s": float(np.median(sample[0])) if sample[0].size else None,
                    "diff_median_s": d,
                    "diff_median_lo_s": lo,
                    "diff_median_hi_s": hi,
                    "p_value": mann_whitney_p(sample[0], sample[1]),
                    "_family": "time",
                }
            )
    _adjusted(rows, "time", opts)
    return rows


def cause_rows(
    versions: list[Version], opts: CompareOptions
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    if not all("primary_cause" in v.units.columns for v in versions):
        return [], None
    per = {
        v.label: dict(
            v.units.filter(pl.col("primary_cause").is_not_null())
            .group_by("primary_cause")
            .len()
            .iter_rows()  # one row per cause, a handful
        )
        for v in versions
    }
    causes = sorted(set().union(*per.values()))
    n = {v.label: v.units.height for v in versions}
    c0 = versions[0].label
    rows = []
    for v in versions[1:]:
        for cause in causes:
            row = {"version": v.label, "cause": cause, "metric": "abandon_rate"}
            row |= _test_row(
                per[v.label].get(cause, 0), n[v.label], per[c0].get(cause, 0), n[c0], opts
            )
            rows.append(row | {"_family": "cause"})
    _adjusted(rows, "cause", opts)
    table = np.array([[per[v.label].get(c, 0) for c in causes] for v in versions])
    table = table[:, table.sum(axis=0) > 0]
    mix = None
    if table.shape[1] > 1 and (table.sum(axis=1) > 0).all():
        from scipy.stats import chi2_contingency

        res = chi2_contingency(table, correction=False)
        mix = {
            "test": "chi-square of primary causes among abandoned units",
            "chi2": float(res.statistic),
            "dof": int(res.dof),
            "p_value": float(res.pvalue),
            "min_expected": float(res.expected_freq.min()),
        }
    return rows, mix


def one_sided_rows(
    versions: list[Version], shared: list[str], align: Mapping[str, str], opts: CompareOptions
) -> list[dict[str, Any]]:
    """Steps that exist in one version only: how many entered them there."""
    rows = []
    for v in versions:
        only = [
            (name, key)
            for name, key in zip(v.spec.step_names, _keys(v.spec, align), strict=True)
            if key not in shared
        ]
        if not only:
            continue
        got = v.units.select(pl.col(f"at_{name}").is_not_null().sum() for name, _ in only).row(0)
        for (name, _), entered in zip(only, got, strict=True):
            lo, hi = wilson_interval(int(entered), v.units.height, opts.confidence)
            rows.append(
                {
                    "version": v.label,
                    "step": name,
                    "entered": int(entered),
                    "conversion_from_entry": entered / v.units.height if v.units.height else None,
                    "conversion_from_entry_lo": lo,
                    "conversion_from_entry_hi": hi,
                }
            )
    return rows


_F, _I, _S, _B = pl.Float64, pl.Int64, pl.String, pl.Boolean
_TEST = {"control_n": _I, "control_x": _I, "control_rate": _F, "n": _I, "x": _I, "rate": _F}
_TEST |= {c: _F for c in ("diff", "diff_lo", "diff_hi", "rel_diff", "rel_diff_lo", "rel_diff_hi")}
_TEST |= {"test": _S, "p_value": _F, "p_adjusted": _F, "significant": _B, "mde": _F}
_TEST |= {"mde_rel": _F}
STEPS_SCHEMA = {"version": _S, "step": _S, "from_step": _S, "metric": _S} | _TEST
CAUSES_SCHEMA = {"version": _S, "cause": _S, "metric": _S} | _TEST
TIMING_SCHEMA = {"version": _S, "kind": _S, "from_step": _S, "to_step": _S}
TIMING_SCHEMA |= {"control_n": _I, "n": _I}
TIMING_SCHEMA |= {c: _F for c in ("control_median_s", "median_s", "diff_median_s")}
TIMING_SCHEMA |= {"diff_median_lo_s": _F, "diff_median_hi_s": _F}
TIMING_SCHEMA |= {"p_value": _F, "p_adjusted": _F, "significant": _B}
ONE_SIDED_SCHEMA = {"version": _S, "step": _S, "entered": _I, "conversion_from_entry": _F}
ONE_SIDED_SCHEMA |= {"conversion_from_entry_lo": _F, "conversion_from_entry_hi": _F}


def as_frame(rows: list[dict[str, Any]], schema: dict[str, Any] | None = None) -> pl.DataFrame:
    """Rows as a frame; with ``schema``, exactly those columns in that order (stable JSON)."""
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    if schema is not None:
        clean = [{k: r.get(k) for k in schema} for r in clean]
    out = pl.DataFrame(clean, schema=schema, infer_schema_length=None)
    return out.with_columns(pl.selectors.float().fill_nan(None))
