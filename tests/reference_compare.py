"""A naive reference for comparing versions: plain Python over unit dicts, scipy for tests.

Written without looking at the engine's helpers: counts by loops, p-values straight from
scipy's ``chi2_contingency`` / ``fisher_exact`` / ``mannwhitneyu``, Holm by hand.
"""

from __future__ import annotations

import itertools
import statistics
from typing import Any

from scipy.stats import chi2_contingency, fisher_exact, mannwhitneyu


def p_value(x1: int, n1: int, x0: int, n0: int) -> float | None:
    if (x1 == n1 and x0 == n0) or (x1 == 0 and x0 == 0):
        return None
    table = [[x1, n1 - x1], [x0, n0 - x0]]
    total = n1 + n0
    cols = (x1 + x0, total - x1 - x0)
    expected = [r * c / total for r in (n1, n0) for c in cols]
    if min(expected) >= 5:
        return float(chi2_contingency(table, correction=False).pvalue)
    return float(fisher_exact(table).pvalue)


def holm(ps: list[float]) -> list[float]:
    m = len(ps)
    order = sorted(range(m), key=lambda i: (ps[i], i))
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


def compare(
    versions: dict[str, list[dict[str, Any]]], steps: list[str], control: str
) -> dict[str, Any]:
    """Rows keyed by (version, step, metric); timing by (version, from, to); causes."""
    c0 = versions[control]

    def reached(units, step):
        return sum(1 for u in units if u[f"at_{step}"] is not None)

    def both(units, a, b):
        return sum(1 for u in units if u[f"at_{a}"] is not None and u[f"at_{b}"] is not None)

    rows: dict[tuple, dict[str, Any]] = {}
    for label, units in versions.items():
        if label == control:
            continue
        for step in steps:
            x, n, x0, n0 = reached(units, step), len(units), reached(c0, step), len(c0)
            rows[(label, step, "conversion_from_entry")] = {"x": x, "n": n, "x0": x0, "n0": n0}
        for a, b in itertools.pairwise(steps):
            x, n = both(units, a, b), reached(units, a)
            x0, n0 = both(c0, a, b), reached(c0, a)
            rows[(label, b, "step_conversion")] = {"x": x, "n": n, "x0": x0, "n0": n0}
        conv = sum(1 for u in units if u["converted"])
        conv0 = sum(1 for u in c0 if u["converted"])
        rows[(label, "overall", "conversion")] = {
            "x": conv,
            "n": len(units),
            "x0": conv0,
            "n0": len(c0),
        }
    for r in rows.values():
        r["rate"] = r["x"] / r["n"] if r["n"] else None
        r["rate0"] = r["x0"] / r["n0"] if r["n0"] else None
        r["diff"] = r["rate"] - r["rate0"] if r["n"] and r["n0"] else None
        r["p"] = p_value(r["x"], r["n"], r["x0"], r["n0"]) if r["n"] and r["n0"] else None
    for metric in ("conversion_from_entry", "step_conversion"):
        keys = [k for k in rows if k[2] == metric and rows[k]["p"] is not None]
        for k, q in zip(keys, holm([rows[k]["p"] for k in keys]), strict=True):
            rows[k]["p_adj"] = q
    # overall conversion (the verdict) is a family of its own, over the treatments
    keys = [k for k in rows if k[2] == "conversion" and rows[k]["p"] is not None]
    for k, q in zip(keys, holm([rows[k]["p"] for k in keys]), strict=True):
        rows[k]["p_adj"] = q
    timing: dict[tuple, dict[str, Any]] = {}
    for label, units in versions.items():
        if label == control:
            continue
        for a, b in [*itertools.pairwise(steps), (None, None)]:

            def durations(us, a=a, b=b):
                if a is None:
                    return [
                        u["time_to_convert_s"] for u in us if u["time_to_convert_s"] is not None
                    ]
                return [
                    (u[f"at_{b}"] - u[f"at_{a}"]).total_seconds()
                    for u in us
                    if u[f"at_{a}"] is not None and u[f"at_{b}"] is not None
                ]

            d1, d0 = durations(units), durations(c0)
            timing[(label, a, b)] = {
                "n": len(d1),
                "n0": len(d0),
                "median": statistics.median(d1) if d1 else None,
                "median0": statistics.median(d0) if d0 else None,
                "p": float(mannwhitneyu(d1, d0).pvalue) if d1 and d0 else None,
            }
    causes: dict[tuple, tuple[int, int]] = {}
    names = sorted({u["primary_cause"] for us in versions.values() for u in us} - {None})
    for label, units in versions.items():
        for cause in names:
            causes[(label, cause)] = (
                sum(1 for u in units if u["primary_cause"] == cause),
                len(units),
            )
    return {"rows": rows, "timing": timing, "causes": causes}
