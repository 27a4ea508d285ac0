"""sample_events/ is reproducible from the seeded simulator, and its planted effects show."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import funnel
from funnel.simulate import simulate

SAMPLE = Path(__file__).resolve().parents[1] / "sample_events"


@pytest.fixture(scope="module")
def generated():
    return simulate()


def test_sample_is_reproducible(generated):
    events, _ = generated
    committed = pl.read_parquet(SAMPLE / "events.parquet")
    assert committed.equals(events)


def test_converted_sessions_match_the_planted_purchases(generated):
    _, truth = generated
    r = funnel.analyze(str(SAMPLE))
    purchased = truth.filter(pl.col("cause") == "purchased").height
    every = r.all_units()  # the sessions near the end of the data are censored, not lost
    assert every["converted"].sum() == purchased
    assert every.height == truth.height  # every cart visit is one session
    assert r.summary["units_entered"] == truth.height - r.summary["units_censored"]
    end = r.summary["data_end"]
    late = every.filter(pl.col("last_event_at") >= end - dt.timedelta(minutes=30))
    assert late["censored"].all() and r.summary["units_censored"] == late.height > 0
    assert r.ledger.total("rejected") == 15 and r.ledger.total("duplicate") > 0


def test_planted_arm_difference_shows_at_payment():
    r = funnel.analyze(str(SAMPLE), options=funnel.AnalyzeOptions(by=("experiment_arm",)))
    pay = r.breakdown.filter(pl.col("step") == "payment").sort("experiment_arm")
    a, b = pay.row(0, named=True), pay.row(1, named=True)
    assert b["step_conversion"] > a["step_conversion_hi"]  # arm B cuts payment failures (20% -> 8%)


@pytest.mark.parametrize("causes", [True, False])
def test_the_ledger_notes_say_how_the_data_was_read_with_or_without_causes(causes):
    """The ledger's notes are what loading inferred; the cause notes stay with the causes
    (with causes on, the ledger once showed the cause notes instead)."""
    result = funnel.analyze("sample_events/", options=funnel.AnalyzeOptions(causes=causes))
    notes = result.ledger.to_dict()["notes"]
    assert any(n.startswith("timestamp: datetime in UTC") for n in notes)
    assert not any(n.startswith("causes:") for n in notes)
    if causes:
        assert any(n.startswith("causes: column(s) fatal") for n in result.causes.notes)
