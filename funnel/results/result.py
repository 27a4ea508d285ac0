"""The result of :func:`funnel.analyze`: a frozen bundle of polars DataFrames.

JSON output (``to_json``) is versioned by ``schema_version``; docs/json.md describes it.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from funnel.errors import FunnelError, SpecError
from funnel.results.ledger import Ledger
from funnel.results.records import clean, frame_records, html_table
from funnel.spec.funnel_spec import FunnelSpec

__all__ = ["SCHEMA_VERSION", "CauseTables", "FunnelResult"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CauseTables:
    """Why shoppers left (docs/causes.md), as polars DataFrames.

    Attributes
    ----------
    summary : abandoned units by primary cause: count, share with interval, value at risk
    by_step : abandoned units by exit step and primary cause
    evidence : per abandoned unit and cause, the evidence closest to the exit
    exposure : per cause, abandonment exposed vs not: risk ratio, excess abandonments
    drivers : events and property values over-represented in abandoned units
    after_exit : per exit step, the most common next events after leaving, with shares
    returns : per exit step, abandoned units that came back and bought later
    """

    summary: pl.DataFrame
    by_step: pl.DataFrame
    evidence: pl.DataFrame
    exposure: pl.DataFrame
    drivers: pl.DataFrame
    after_exit: pl.DataFrame
    returns: pl.DataFrame
    notes: tuple[str, ...] = ()
    currency: str | None = field(default=None, compare=False)  # the spec's, for display

    def to_dict(self, *, include_evidence: bool = False) -> dict[str, Any]:
        """Plain data; ``include_evidence`` adds the per-unit evidence rows."""
        out = {
            "summary": frame_records(self.summary),
            "by_step": frame_records(self.by_step),
            "exposure": frame_records(self.exposure),
            "drivers": frame_records(self.drivers),
            "after_exit": frame_records(self.after_exit),
            "returns": frame_records(self.returns),
            "notes": list(self.notes),
        }
        if include_evidence:
            out["evidence"] = frame_records(self.evidence)
        return out

    def to_json(self, *, include_evidence: bool = False, indent: int | None = 2) -> str:
        """Stable JSON of the cause tables (the ``causes`` key of docs/json.md)."""
        return json.dumps(self.to_dict(include_evidence=include_evidence), indent=indent)

    def __repr__(self) -> str:
        total = int(self.summary["abandoned"].sum()) if self.summary.height else 0
        top = self.summary.filter(pl.col("cause") != "unexplained").head(1)
        lead = f", top cause {top['cause'][0]!r}" if top.height and top["abandoned"][0] else ""
        return f"CauseTables({total} abandoned units, {self.summary.height} causes{lead})"

    def plot(self) -> Any:
        """Shares by primary cause with intervals (a matplotlib ``Figure``; ``report`` extra)."""
        from funnel.render.charts import cause_chart

        return cause_chart(self)

    def _repr_html_(self) -> str:
        parts = [f"<div><strong>{html.escape(repr(self))}</strong>"]
        money = self.currency
        parts.append(html_table(self.summary, "Abandonment by primary cause", currency=money))
        parts.append(html_table(self.exposure, "Exposure: excess abandonment"))
        parts.append(html_table(self.drivers, "Drop-off drivers", max_rows=10))
        parts.append(html_table(self.after_exit, "After the exit: next events", max_rows=15))
        parts.append(html_table(self.returns, "Came back and bought later"))
        return "".join(parts) + "</div>"


@dataclass(frozen=True)
class FunnelResult:
    """Everything :func:`funnel.analyze` found.

    Attributes
    ----------
    spec : the funnel that was analysed
    ledger : where every input row went
    steps : one row per step (entered, reached_next, rates with intervals, drop-off)
    timing : time distributions in seconds per transition, to convert, at exit
    units : one row per session (or user) that entered the funnel, censored ones aside
    breakdown : the steps table per segment value, or None without ``by``
    trend : conversion per period of entry
    causes : why abandoned units left (:class:`CauseTables`), or None when not attributed
    summary : headline numbers
    notes : what in the spec the data cannot match (event names that never occur, a
        funnel nobody entered, built-in causes left out); ``--strict`` makes them exit 1
    censored : units left out because they ended near the end of the data, when their
        outcome may not be final (``summary["censoring"]`` says how many; the columns of
        ``units``); see :mod:`funnel.engine.censor`
    units_left_in : None when the result holds the per-unit rows; ``"Spark"`` when it was
        reduced inside Spark (``units``, ``censored`` and the evidence rows are empty, the
        tables complete; :meth:`unit_rows` says so to what needs them)
    """

    spec: FunnelSpec
    ledger: Ledger
    steps: pl.DataFrame
    timing: pl.DataFrame
    units: pl.DataFrame
    trend: pl.DataFrame
    breakdown: pl.DataFrame | None = None
    causes: CauseTables | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    censored: pl.DataFrame | None = None
    units_left_in: str | None = None

    def unit_rows(self, why: str) -> pl.DataFrame:
        """``units``, or an error saying ``why`` they are needed when the result does not
        hold them (``units_left_in``: reduced inside Spark, ``reduce_in="spark"``)."""
        if self.units_left_in is not None:
            raise FunnelError(
                f"{why} needs the per-unit rows, which stayed in {self.units_left_in} "
                "(the result was reduced there)",
                hint="run it with reduce_in='driver' (--reduce-in driver)",
            )
        return self.units

    def all_units(self) -> pl.DataFrame:
        """Every unit that entered, censored ones too, with a ``censored`` column (what
        ``--sessions-out`` writes)."""
        kept = self.unit_rows("writing the sessions").with_columns(pl.lit(False).alias("censored"))
        if self.censored is None or self.censored.is_empty():
            return kept
        late = self.censored.with_columns(pl.lit(True).alias("censored"))
        return pl.concat([kept, late], how="vertical_relaxed").sort(
            "entered_at", "user_id", "session_id"
        )

    def to_dict(self, *, include_units: bool = False) -> dict[str, Any]:
        """Plain data with ``schema_version``; ``include_units`` adds the per-unit rows."""
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "spec": self.spec.to_dict(),
            "ledger": self.ledger.to_dict(),
            "summary": clean(self.summary),
            "steps": frame_records(self.steps),
            "timing": frame_records(self.timing),
            "breakdown": frame_records(self.breakdown),
            "trend": frame_records(self.trend),
            "causes": self.causes.to_dict() if self.causes is not None else None,
            "notes": list(self.notes),
        }
        if include_units:
            out["units"] = frame_records(self.units)
        return out

    def to_json(self, *, include_units: bool = False, indent: int | None = 2) -> str:
        """Stable JSON (keys in a fixed order); see docs/json.md."""
        return json.dumps(self.to_dict(include_units=include_units), indent=indent)

    def plot(
        self, kind: str = "funnel", *, by: str | None = None, min_units: int | None = None
    ) -> Any:
        """A chart of the result, a matplotlib ``Figure`` (needs the ``report`` extra) that
        shows itself in notebooks: ``funnel`` (default), ``timing``, ``trend`` (periods with
        few units greyed out) or ``breakdown`` (small multiples per value of ``by``, the
        first ``--by`` column by default). ``min_units``: the trend's threshold below which
        a period is greyed out (default ``charts.TREND_MIN_UNITS``, 30).
        ``result.causes.plot()`` draws the causes.
        """
        from funnel.render import charts

        draw = {
            "funnel": charts.funnel_chart,
            "timing": charts.timing_chart,
            "trend": lambda r: charts.trend_chart(
                r, charts.TREND_MIN_UNITS if min_units is None else min_units
            ),
            "breakdown": lambda r: charts.breakdown_chart(r, by),
        }
        if kind not in draw:
            raise SpecError(f"plot: no chart {kind!r}", hint="one of " + ", ".join(draw))
        return draw[kind](self)

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown: the headline first, then steps and causes."""
        from funnel.render.markdown import result_markdown

        return result_markdown(self)

    def __repr__(self) -> str:
        s = self.summary
        conv = s.get("conversion")
        conv_text = (
            "n/a"
            if conv is None or (isinstance(conv, float) and math.isnan(conv))
            else f"{conv:.1%}"
        )
        return (
            f"FunnelResult({self.spec.name!r}: {len(self.spec.steps)} steps, "
            f"{s.get('units_entered', 0)} {self.spec.unit} entered, {conv_text} converted, "
            f"{self.ledger.total()} rows read"
            + (f"; per-unit rows left in {self.units_left_in})" if self.units_left_in else ")")
        )

    def _repr_html_(self) -> str:
        parts = [f"<div><strong>{html.escape(repr(self))}</strong>"]
        parts += [f"<p>note: {html.escape(n)}</p>" for n in self.notes]
        if self.summary.get("censoring"):
            parts.append(f"<p>{html.escape(self.summary['censoring'])}</p>")
        parts.append(
            html_table(
                self.steps.select(
                    "step",
                    "entered",
                    "reached_next",
                    pl.selectors.starts_with("step_conversion"),
                    pl.selectors.starts_with("conversion_from_entry"),
                    "drop_off",
                ),
                "Steps",
            )
        )
        parts.append(html_table(self.timing, "Timing (seconds)"))
        if self.causes is not None:
            parts.append(
                html_table(
                    self.causes.summary,
                    "Abandonment by primary cause",
                    currency=self.spec.currency,
                )
            )
        parts.append(html_table(self.ledger.counts, "Ledger"))
        return "".join(parts) + "</div>"
