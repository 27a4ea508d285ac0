"""The reduce's second half: every table from counts that add up over sets of units.

The per-unit rows are what the reduce collects, but no table needs them one by one: each
reads counts of units grouped by a few keys (steps reached, period, exit step and cause,
exposure cells, paths after the exit) and, for the timing percentiles, how many units took
each duration. A :data:`Digest` holds those counts for one set of units
(:func:`digest_units`); digests of disjoint sets add up exactly (:func:`add_digests`); and
:func:`result_from_digest` builds the result from a digest. The local reduce digests the
concatenated units; the Spark engine digests each bucket in its task and adds them (and
finds the percentiles' order statistics inside Spark), so its driver never holds the
per-unit rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from funnel.causes.after_exit import after_exit_counts, after_exit_table, returns_table
from funnel.causes.drivers import drivers_table
from funnel.causes.exposure import exposure_counts, exposure_notes, exposure_table
from funnel.causes.tables import (
    cause_counts,
    cause_notes,
    cause_step_table,
    cause_table,
    evidence_counts,
)
from funnel.engine.censor import censor_text
from funnel.engine.checks import data_notes
from funnel.engine.tables import step_counts, steps_from_counts, trend_counts, trend_from_counts
from funnel.engine.timing import timing_counts, timing_from_statistics
from funnel.input.reserved import restore
from funnel.results.ledger import Ledger
from funnel.results.result import CauseTables, FunnelResult
from funnel.runners.bucket import BucketPlan
from funnel.spec import FunnelSpec

__all__ = ["SUMMED", "Digest", "add_digests", "digest_units", "result_from_digest"]

Digest = dict[str, pl.DataFrame]  # counts by name: steps, trend, timing (and cause counts)

# the columns that add up; every other column of a digest's frame is a key
SUMMED = frozenset({"_n", "_value", "_valued", "observed", "came_back", "bought_later", "n"})


def digest_units(
    units: pl.DataFrame,
    evidence: pl.DataFrame | None,
    spec: FunnelSpec,
    *,
    by: tuple[str, ...] = (),
    trend_every: str = "1d",
) -> Digest:
    """The counts of ``units`` (kept, not censored; with their cause columns when
    ``evidence`` is given) that every table reads. ``by``: the breakdown's columns."""
    lazy = {
        "steps": step_counts(units, spec, list(by)),
        "trend": trend_counts(units, spec, trend_every),
        "timing": timing_counts(units, spec),
    }
    if evidence is not None:
        lazy |= {
            "causes": cause_counts(units),
            "evidence": evidence_counts(evidence),
            "exposure": exposure_counts(units, spec).lazy(),
            "after_exit": after_exit_counts(units),
        }
    return dict(zip(lazy, pl.collect_all(list(lazy.values())), strict=True))


def add_digests(digests: list[Digest]) -> Digest:
    """The digest of the union of disjoint sets of units: counts summed per key."""
    out = {}
    for name in digests[0]:
        both = pl.concat([d[name] for d in digests], how="vertical_relaxed")
        keys = [c for c in both.columns if c not in SUMMED]
        sums = [pl.col(c).sum() for c in both.columns if c in SUMMED]
        out[name] = both.group_by(keys).agg(sums) if keys else both.select(sums)
    return out


def result_from_digest(
    digest: Digest,
    statistics: pl.DataFrame,
    plan: BucketPlan,
    *,
    counted: dict[str, Any],
    ledger: Ledger,
    events: pl.DataFrame,
    units: pl.DataFrame,
    censored: pl.DataFrame,
    n_censored: int,
    evidence: pl.DataFrame | None = None,
    driver_counts: pl.DataFrame | None = None,
    units_left_in: str | None = None,
) -> FunnelResult:
    """The result of ``plan`` from the digest of every kept unit and the timing's order
    statistics (:func:`funnel.engine.timing.order_statistics`, or Spark's). ``counted``: the summed
    counts (events, sessions, users, outside_sessions, data_end); ``units``, ``censored``
    and ``evidence`` are what the result shows of them (empty when they stayed where they
    were reduced: ``units_left_in`` says where)."""
    spec, by, censor_s = plan.spec, plan.by, plan.censor_s
    steps = digest["steps"]
    n_units = int(steps["_n"].sum())
    n_conv = int(steps.filter(pl.col("converted"))["_n"].sum())
    notes: list[str] = []
    cause_result = None
    if plan.causes:
        assert driver_counts is not None and evidence is not None
        tables = {
            "summary": cause_table(digest["causes"], digest["evidence"], spec),
            "by_step": cause_step_table(digest["causes"], spec),
            "exposure": exposure_table(digest["exposure"], spec),
            "drivers": drivers_table(driver_counts, n_units - n_conv, n_conv, spec),
            "evidence": evidence,
            "after_exit": after_exit_table(digest["after_exit"], spec),
            "returns": returns_table(digest["after_exit"], spec),
        }
        notes = [*cause_notes(spec, set(plan.names)), *exposure_notes(tables["exposure"])]
        cause_result = CauseTables(**tables, notes=tuple(notes), currency=spec.currency)
    data_end: dt.datetime | None = counted["data_end"]
    summary = {
        "events_used": int(counted["events"]),
        "sessions": int(counted["sessions"]),
        "users": int(counted["users"]),
        "unit": spec.unit,
        "units_entered": n_units,
        "units_converted": n_conv,
        "conversion": n_conv / n_units if n_units else None,
        "outside_sessions": int(counted["outside_sessions"]),
        "units_censored": n_censored,
        "censor_horizon_s": censor_s,
        "data_end": data_end,
        "censoring": censor_text(n_censored, spec.unit, censor_s, data_end)
        if n_censored and censor_s is not None and data_end is not None
        else None,
    }
    return FunnelResult(
        spec=spec,
        ledger=ledger,
        steps=steps_from_counts(steps, spec),
        timing=timing_from_statistics(statistics, spec),
        units=restore(units),  # data columns under their own names again
        censored=restore(censored),
        trend=trend_from_counts(digest["trend"], spec),
        breakdown=restore(steps_from_counts(steps, spec, list(by))) if by else None,
        causes=cause_result,
        summary=summary,
        units_left_in=units_left_in,
        notes=tuple(
            data_notes(
                spec,
                events,
                causes=plan.causes,
                entered=n_units,
                outside=int(counted["outside_sessions"]),
                censored=n_censored,
            )
        ),
    )
