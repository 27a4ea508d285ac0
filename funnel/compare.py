"""Compare funnel versions: steps aligned, conversion, time per step and cause mix tested.

A *version* is the per-unit table of one funnel run (``FunnelResult.units``) with its spec.
Versions come from arms of an experiment in one dump, two dumps, two periods of one dump or
two specs run on one dump (:func:`funnel.compare`); :func:`compare_results` compares results
you already have. docs/compare.md sets out the statistics and their assumptions.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import chi2_contingency

from funnel.compare_stats import (
    adjust_p,
    bootstrap_median_diff,
    mann_whitney_p,
    minimum_detectable_effect,
    newcombe_interval,
    proportion_test,
    sample_ratio_test,
)
from funnel.comparison import Comparison
from funnel.errors import SpecError, did_you_mean
from funnel.result import FunnelResult
from funnel.spec import FunnelSpec
from funnel.stats import risk_ratio, wilson_interval

__all__ = ["CompareOptions", "Version", "compare_results", "compare_versions"]


@dataclass(frozen=True, kw_only=True)
class CompareOptions:
    """How versions are compared.

    ``control``: the version the others are compared with (default: the first);
    ``alpha``: significance level; ``adjust``: ``holm`` (default) or ``bh`` across steps;
    ``expected_split``: expected share of users per version for the sample ratio check
    (arms default to an equal split); ``bootstrap`` resamples (0: no interval) and ``seed``
    for the median differences; ``power`` for the minimum detectable effect;
    ``align``: step name -> name it is compared as (added to the specs' ``same_as``);
    ``crossovers``: ``drop`` (default) or ``keep`` units of users seen in two arms.
    """

    control: str | None = None
    alpha: float = 0.05
    adjust: str = "holm"
    confidence: float = 0.95
    power: float = 0.8
    expected_split: tuple[float, ...] | None = None
    bootstrap: int = 2000
    seed: int = 0
    align: Mapping[str, str] = field(default_factory=dict)
    crossovers: str = "drop"

    def __post_init__(self) -> None:
        for key, value, choices in (
            ("adjust", self.adjust, ("holm", "bh")),
            ("crossovers", self.crossovers, ("drop", "keep")),
        ):
            if value not in choices:
                raise SpecError(
                    f"{key}: {value!r} is not one of {choices}", hint=did_you_mean(value, choices)
                )
        for key, value in (
            ("alpha", self.alpha),
            ("confidence", self.confidence),
            ("power", self.power),
        ):
            if not 0 < value < 1:
                raise SpecError(f"{key}: {value} is not between 0 and 1", hint=f"e.g. {key}=0.05")
        if self.expected_split is not None and (
            not self.expected_split or any(s <= 0 for s in self.expected_split)
        ):
            raise SpecError("expected_split: shares must be positive", hint="e.g. 50,50")


@dataclass(frozen=True)
class Version:
    """One side of a comparison: a label, the spec it was run with and its per-unit table."""

    label: str
    spec: FunnelSpec
    units: pl.DataFrame


def _keys(spec: FunnelSpec, align: Mapping[str, str]) -> list[str]:
    return [align.get(s.name, s.same_as or s.name) for s in spec.steps]


def _shared_path(versions: list[Version], align: Mapping[str, str]) -> list[str]:
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


def _test_row(x: int, n: int, x0: int, n0: int, opts: CompareOptions) -> dict[str, Any]:
    rate = x / n if n else math.nan
    rate0 = x0 / n0 if n0 else math.nan
    d, lo, hi = newcombe_interval(x, n, x0, n0, opts.confidence)
    degenerate = (x == n and x0 == n0) or (x == 0 and x0 == 0)
    p, test = (math.nan, "none") if degenerate else proportion_test(x, n, x0, n0)
    rr, rr_lo, rr_hi = risk_ratio(x, n, x0, n0, opts.confidence) if x0 else (math.nan,) * 3
    mde = minimum_detectable_effect(rate0, n, n0, opts.alpha, opts.power)
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


def _step_rows(
    versions: list[Version], shared: list[str], align: Mapping[str, str], opts: CompareOptions
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    counts = {}
    for v in versions:
        names = dict(zip(_keys(v.spec, align), v.spec.step_names, strict=True))
        counts[v.label] = _counts(v, [f"at_{names[k]}" for k in shared])
    c0 = counts[versions[0].label]
    last_shared = all(_keys(v.spec, align)[-1] == shared[-1] for v in versions)
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
        row = {"version": v.label, "step": "overall", "metric": "conversion"}
        row |= _test_row(c["converted"], c["units"], c0["converted"], c0["units"], opts)
        # with the same last step, overall conversion is that step's test: counted once
        rows.append(row | {"_family": None if last_shared else "entry"})
    _adjusted(rows, "entry", opts)
    _adjusted(rows, "step", opts)
    for r in rows:
        if r["_family"] is None:
            twin = next(x for x in rows if x["version"] == r["version"] and x["step"] == shared[-1])
            r["p_adjusted"], r["significant"] = twin["p_adjusted"], twin["significant"]
    return rows, counts


def _durations(v: Version, a: str | None, b: str) -> np.ndarray:
    if a is None:
        expr = pl.col("time_to_convert_s")
    else:
        expr = (pl.col(f"at_{b}") - pl.col(f"at_{a}")).dt.total_microseconds() / 1_000_000
    return v.units.select(expr.drop_nulls()).to_series().to_numpy()


def _timing_rows(
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


def _cause_rows(
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
        res = chi2_contingency(table, correction=False)
        mix = {
            "test": "chi-square of primary causes among abandoned units",
            "chi2": float(res.statistic),
            "dof": int(res.dof),
            "p_value": float(res.pvalue),
            "min_expected": float(res.expected_freq.min()),
        }
    return rows, mix


def _one_sided(
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


_CAUSES = {
    "version": pl.String,
    "cause": pl.String,
    "metric": pl.String,
    "control_n": pl.Int64,
    "control_x": pl.Int64,
    "control_rate": pl.Float64,
    "n": pl.Int64,
    "x": pl.Int64,
    "rate": pl.Float64,
    "diff": pl.Float64,
    "diff_lo": pl.Float64,
    "diff_hi": pl.Float64,
    "p_value": pl.Float64,
    "p_adjusted": pl.Float64,
    "significant": pl.Boolean,
}
_ONE_SIDED = {
    "version": pl.String,
    "step": pl.String,
    "entered": pl.Int64,
    "conversion_from_entry": pl.Float64,
    "conversion_from_entry_lo": pl.Float64,
    "conversion_from_entry_hi": pl.Float64,
}


def _frame(rows: list[dict[str, Any]], schema: dict[str, Any] | None = None) -> pl.DataFrame:
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    out = pl.DataFrame(clean, schema=schema, infer_schema_length=None)
    return out.with_columns(pl.selectors.float().fill_nan(None))


def _crossovers(versions: list[Version]) -> pl.DataFrame:
    """Users with units in more than one version."""
    both = pl.concat([v.units.select("user_id", pl.lit(v.label).alias("_v")) for v in versions])
    return both.group_by("user_id").agg(pl.col("_v").n_unique()).filter(pl.col("_v") > 1)


def compare_versions(
    versions: list[Version], options: CompareOptions | None = None, *, kind: str = "results"
) -> Comparison:
    """Compare versions (the first is the control unless ``options.control`` says otherwise).

    ``kind`` says where the versions came from (``arms``, ``dumps``, ``periods``, ``specs``,
    ``results``); arms get an equal expected split and crossover handling.
    """
    opts = options or CompareOptions()
    if len(versions) < 2:
        raise SpecError(
            f"a comparison needs two versions or more, got {len(versions)}",
            hint="check the --by column has two values or more",
        )
    labels = [v.label for v in versions]
    control = opts.control if opts.control is not None else labels[0]
    if control not in labels:
        raise SpecError(
            f"control: {control!r} is not a version", hint=did_you_mean(control, labels)
        )
    versions = sorted(versions, key=lambda v: v.label != control)
    notes, warnings = [], []
    units = {v.spec.unit for v in versions}
    if len(units) > 1:
        warnings.append(f"the versions count different units ({', '.join(sorted(units))})")
    cross = _crossovers(versions)
    if cross.height:
        if kind == "arms" and opts.crossovers == "drop":
            gone = cross["user_id"]
            before = sum(v.units.height for v in versions)
            versions = [
                Version(v.label, v.spec, v.units.filter(~pl.col("user_id").is_in(gone.implode())))
                for v in versions
            ]
            dropped = before - sum(v.units.height for v in versions)
            notes.append(
                f"{cross.height} users were seen in more than one arm; their {dropped} units "
                "are left out (crossovers=drop)"
            )
        elif kind == "specs":
            notes.append(
                "both versions are the same sessions under two specs: the tests assume "
                "independent samples, so their p-values are conservative here"
            )
        else:
            notes.append(
                f"{cross.height} users have units in more than one version; each unit counts "
                "in its own version and the tests treat units as independent"
            )
    align = dict(opts.align)
    shared = _shared_path(versions, align)
    step_rows, counts = _step_rows(versions, shared, align, opts)
    timing_rows = _timing_rows(versions, shared, align, opts)
    cause_rows, mix = _cause_rows(versions, opts)
    mix_ok = all("primary_cause" in v.units.columns for v in versions)
    if mix and mix["min_expected"] < 5:
        notes.append("cause mix: some expected counts are below 5, the chi-square is rough")
    split = opts.expected_split
    if split is None and kind == "arms":
        split = (1.0,) * len(versions)
    srm = None
    if split is not None:
        if len(split) != len(versions):
            raise SpecError(
                f"expected_split: {len(split)} shares for {len(versions)} versions",
                hint="give one share per version, in the order " + ", ".join(labels),
            )
        shares = dict(zip(labels, split, strict=True))  # in the caller's order
        observed = [counts[v.label]["users"] for v in versions]
        expected = [shares[v.label] for v in versions]
        p = sample_ratio_test(observed, expected)
        total = sum(expected)
        srm = _frame(
            [
                {
                    "version": v.label,
                    "users": o,
                    "expected_share": e / total,
                    "observed_share": o / sum(observed) if sum(observed) else None,
                }
                for v, o, e in zip(versions, observed, expected, strict=True)
            ]
        )
        if p < 0.001:
            warnings.append(
                f"SAMPLE RATIO MISMATCH: users per version {observed} do not fit the expected "
                f"split (chi-square p = {p:.2g}); assignment or logging is broken and the "
                "comparison is not trustworthy"
            )
        srm_p = p
    version_rows = []
    for v in versions:
        c = counts[v.label]
        lo, hi = wilson_interval(c["converted"], c["units"], opts.confidence)
        version_rows.append(
            {
                "version": v.label,
                "role": "control" if v.label == control else "treatment",
                "spec": v.spec.name,
                "unit": v.spec.unit,
                "units": c["units"],
                "users": c["users"],
                "converted": c["converted"],
                "conversion": c["converted"] / c["units"] if c["units"] else None,
                "conversion_lo": lo,
                "conversion_hi": hi,
            }
        )
    summary = {
        "kind": kind,
        "control": control,
        "alpha": opts.alpha,
        "adjust": opts.adjust,
        "confidence": opts.confidence,
        "power": opts.power,
        "bootstrap": opts.bootstrap,
        "seed": opts.seed,
        "shared_steps": shared,
        "crossover_users": cross.height,
        "sample_ratio_p": srm_p if srm is not None else None,
        "cause_mix": mix,
    }
    return Comparison(
        versions=_frame(version_rows),
        steps=_frame(step_rows),
        timing=_frame(timing_rows),
        causes=_frame(cause_rows, _CAUSES if not cause_rows else None) if mix_ok else None,
        one_sided=_frame(_one_sided(versions, shared, align, opts), _ONE_SIDED),
        srm=srm,
        summary=summary,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def compare_results(
    results: Mapping[str, FunnelResult], options: CompareOptions | None = None
) -> Comparison:
    """Compare results you already have, e.g. two dumps analysed separately.

    >>> import polars as pl, funnel
    >>> def dump(buy):
    ...     return pl.DataFrame({"user_id": ["a", "a", "b", "b"],
    ...         "event": ["add_to_cart", "purchase", "add_to_cart", buy],
    ...         "timestamp": ["2024-05-01T10:00:00Z", "2024-05-01T10:02:00Z"] * 2})
    >>> spec = funnel.FunnelSpec.from_dict({"steps": [{"event": "add_to_cart"},
    ...                                               {"event": "purchase"}]})
    >>> before = funnel.analyze(dump("page_view"), spec)
    >>> after = funnel.analyze(dump("purchase"), spec)
    >>> cmp = compare_results({"before": before, "after": after},
    ...                       CompareOptions(bootstrap=0))
    >>> cmp.steps.filter(step="overall")["diff"][0]
    0.5
    """
    versions = [Version(label, r.spec, r.units) for label, r in results.items()]
    ledgers = {label: r.ledger for label, r in results.items()}
    out = compare_versions(versions, options)
    return out.with_ledgers(ledgers)
