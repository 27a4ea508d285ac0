"""The result of a comparison: frozen DataFrames, JSON, Markdown, notebook HTML and the CI gate.

The gate (``funnel compare --fail-if-worse STEP:THRESHOLD``) is :meth:`Comparison.regressions`
over :func:`parse_gate` values; docs/compare.md documents both.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from funnel.errors import SpecError, did_you_mean
from funnel.results.ledger import Ledger
from funnel.results.records import clean, frame_records, html_table
from funnel.results.records import md_cell as _md
from funnel.results.result import SCHEMA_VERSION

__all__ = ["Comparison", "Gate", "parse_gate"]

_GATE = re.compile(r"^(?P<step>[^:]+):(?P<num>[0-9]*\.?[0-9]+)(?P<unit>%|pp)?$")


@dataclass(frozen=True)
class Gate:
    """Fail when ``step`` (or ``overall``) got significantly worse by more than ``threshold``.

    ``relative``: the threshold is a share of the control's rate (``5%``); otherwise it is
    an absolute difference of rates (``0.02`` or ``2pp``).
    """

    step: str
    threshold: float
    relative: bool = False


def parse_gate(text: str) -> Gate:
    """``STEP:THRESHOLD`` -> :class:`Gate`; ``0.02`` and ``2pp`` are absolute, ``5%`` relative.

    >>> parse_gate("overall:2pp")
    Gate(step='overall', threshold=0.02, relative=False)
    >>> parse_gate("payment:5%")
    Gate(step='payment', threshold=0.05, relative=True)
    """
    m = _GATE.match(text.strip())
    if not m:
        raise SpecError(
            f"--fail-if-worse {text!r}: expected STEP:THRESHOLD",
            hint="e.g. overall:0.01 (absolute), overall:1pp, payment:5% (relative)",
        )
    num = float(m["num"])
    if m["unit"] in ("%", "pp"):
        num /= 100
    return Gate(step=m["step"].strip(), threshold=num, relative=m["unit"] == "%")


def _pp(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v * 100:+.1f}"


def _pct(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1%}"


def _p(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return "<0.0001" if v < 1e-4 else f"{v:.4f}"


@dataclass(frozen=True)
class Comparison:
    """Versions of a funnel compared with a control (docs/compare.md).

    Attributes
    ----------
    versions : per version: role, units, users, converted, conversion with interval
    steps : per treatment and shared step: ``conversion_from_entry`` (the primary metric),
        ``step_conversion`` (from the previous shared step) and ``overall`` conversion —
        rates, difference with Newcombe interval, relative difference, test, p-value,
        adjusted p-value, minimum detectable effect (``mde``, absolute)
    timing : per treatment and transition: medians, difference with bootstrap interval,
        Mann-Whitney p-value (seconds)
    causes : per treatment and cause: abandonment rate with that primary cause, difference
    one_sided : steps that exist in one version only
    srm : users per version against the expected split, or None
    summary : settings, shared steps, cause-mix test, sample-ratio p-value
    """

    versions: pl.DataFrame
    steps: pl.DataFrame
    timing: pl.DataFrame
    causes: pl.DataFrame | None
    one_sided: pl.DataFrame
    srm: pl.DataFrame | None
    summary: dict[str, Any]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    ledgers: Mapping[str, Ledger] = field(default_factory=dict)

    def with_ledgers(self, ledgers: Mapping[str, Ledger]) -> Comparison:
        """The same comparison carrying the ledgers of its inputs."""
        return replace(self, ledgers=dict(ledgers))

    @property
    def control(self) -> str:
        return str(self.summary["control"])

    def primary(self) -> pl.DataFrame:
        """The primary metric: conversion from entry per shared step, then overall."""
        return self.steps.filter(pl.col("metric").is_in(["conversion_from_entry", "conversion"]))

    def regressions(self, gates: list[Gate]) -> list[str]:
        """Messages for every gate a treatment fails: a significant drop beyond the threshold.

        The drop is the point estimate of the difference (treatment minus control) of the
        primary metric; significance is its adjusted p-value below ``alpha``.
        """
        rows = self.primary()
        known = rows["step"].unique().to_list()
        failed = []
        for g in gates:
            if g.step not in known:
                raise SpecError(
                    f"--fail-if-worse: {g.step!r} is not a shared step",
                    hint=did_you_mean(g.step, known),
                )
            for r in rows.filter(step=g.step).iter_rows(named=True):  # one per treatment
                drop = -(r["rel_diff"] if g.relative else r["diff"]) if r["diff"] is not None else 0
                if r["significant"] and drop is not None and drop > g.threshold:
                    size = f"{drop:.1%} relative" if g.relative else f"{drop * 100:.1f} pp"
                    failed.append(
                        f"{r['version']} vs {self.control}: {g.step} dropped by {size} "
                        f"({_pct(r['control_rate'])} -> {_pct(r['rate'])}, adjusted p = "
                        f"{_p(r['p_adjusted'])}), more than the allowed "
                        + (
                            f"{g.threshold:.1%} relative"
                            if g.relative
                            else f"{g.threshold * 100:g} pp"
                        )
                    )
        return failed

    def verdicts(self) -> list[str]:
        """One line per treatment on overall conversion: better, worse or no difference."""
        out = []
        for r in self.steps.filter(step="overall").iter_rows(named=True):
            head = (
                f"{r['version']} vs {self.control}: overall conversion {_pct(r['rate'])} vs "
                f"{_pct(r['control_rate'])}, {_pp(r['diff'])} pp "
                f"[{_pp(r['diff_lo'])}, {_pp(r['diff_hi'])}], adjusted p = {_p(r['p_adjusted'])}"
            )
            if r["significant"]:
                word = "BETTER" if r["diff"] > 0 else "WORSE"
            else:
                word = f"no significant difference (detectable: ±{_num(_scaled(r['mde']))} pp)"
            out.append(f"{head} — {word}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data with ``schema_version`` (docs/json.md, ``compare``)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "comparison": clean(self.summary),
            "verdicts": self.verdicts(),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "versions": frame_records(self.versions),
            "steps": frame_records(self.steps),
            "timing": frame_records(self.timing),
            "causes": frame_records(self.causes),
            "one_sided": frame_records(self.one_sided),
            "sample_ratio": frame_records(self.srm),
            "ledgers": {k: v.to_dict() for k, v in self.ledgers.items()},
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Stable JSON (keys in a fixed order)."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown for a pull-request comment: the verdict first."""
        lines = [f"### Funnel comparison ({self.summary['kind']}, control {_md(self.control)})", ""]
        lines += [f"> **Warning:** {_md(w)}" for w in self.warnings]
        lines += [f"- {_md(v)}" for v in self.verdicts()]
        lines += [
            "",
            "| version | step | control | this version | difference (pp) | p adj. | MDE |",
        ]
        lines.append("|---|---|---:|---:|---:|---:|---:|")
        for r in self.primary().filter(pl.col("test") != "none").iter_rows(named=True):
            mark = " **✱**" if r["significant"] else ""
            lines.append(
                f"| {_md(r['version'])} | {_md(r['step'])} | {_pct(r['control_rate'])} | "
                f"{_pct(r['rate'])} | {_pp(r['diff'])} [{_pp(r['diff_lo'])}, "
                f"{_pp(r['diff_hi'])}]{mark} | {_p(r['p_adjusted'])} | {_num(_scaled(r['mde']))} |"
            )
        lines += ["", "| version | time | control median s | median s | difference s | p adj. |"]
        lines.append("|---|---|---:|---:|---:|---:|")
        for r in self.timing.iter_rows(named=True):
            what = f"{r['from_step']} → {r['to_step']}" if r["from_step"] else "time to convert"
            lines.append(
                f"| {_md(r['version'])} | {_md(what)} | {_num(r['control_median_s'])} | "
                f"{_num(r['median_s'])} | {_num(r['diff_median_s'])} "
                f"[{_num(r['diff_median_lo_s'])}, {_num(r['diff_median_hi_s'])}] | "
                f"{_p(r['p_adjusted'])} |"
            )
        if self.causes is not None:
            lines += ["", "| version | abandoned with cause | control | version | diff (pp) |"]
            lines.append("|---|---|---:|---:|---:|")
            for r in self.causes.iter_rows(named=True):
                lines.append(
                    f"| {_md(r['version'])} | {_md(r['cause'])} | {_pct(r['control_rate'])} | "
                    f"{_pct(r['rate'])} | {_pp(r['diff'])} [{_pp(r['diff_lo'])}, "
                    f"{_pp(r['diff_hi'])}] |"
                )
        lines += [
            "",
            f"{self.summary['adjust'].upper()}-adjusted p-values, alpha "
            f"{self.summary['alpha']}; ✱ significant. MDE: smallest difference detected "
            f"with {self.summary['power']:.0%} power.",
        ]
        lines += [f"- {_md(n)}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def plot(self) -> Any:
        """Per-step differences with intervals (a matplotlib ``Figure``; ``report`` extra)."""
        from funnel.render.charts import comparison_chart

        return comparison_chart(self)

    def __repr__(self) -> str:
        n = self.versions.height
        sig = int(self.primary()["significant"].sum())
        return (
            f"Comparison({self.summary['kind']}: {n} versions, control {self.control!r}, "
            f"{sig} significant differences in conversion"
            + (f", {len(self.warnings)} warnings)" if self.warnings else ")")
        )

    def _repr_html_(self) -> str:
        parts = [f"<div><strong>{html.escape(repr(self))}</strong>"]
        parts += [f"<p><strong>Warning:</strong> {html.escape(w)}</p>" for w in self.warnings]
        parts += [f"<p>{html.escape(v)}</p>" for v in self.verdicts()]
        parts.append(html_table(self.versions, "Versions"))
        parts.append(html_table(self.primary(), "Conversion from entry"))
        parts.append(html_table(self.timing, "Time per step (seconds)"))
        if self.causes is not None:
            parts.append(html_table(self.causes, "Abandonment by primary cause"))
        return "".join(parts) + "</div>"


def _scaled(v: float | None) -> float | None:
    return None if v is None else v * 100


def _num(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.1f}"
