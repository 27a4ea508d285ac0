"""Censoring: units whose outcome the data may not show yet.

An export is cut at some instant. A session still going on then looks abandoned although
its shopper may buy a minute later: it is *cut off, not lost*. So a unit (session, or
user) whose last event — the end of the session where its path stopped, ``last_event_at``
— lies within ``horizon`` of the end of the data (the last used event of the whole dump)
is **censored**: its outcome may not be final. Censored units, converted or not, are left
out of every table (steps, timing, trend, breakdown, causes, exposure, drivers) and kept
aside in ``FunnelResult.censored``; leaving out only the unconverted ones would lean
conversion up, since a converter's outcome is known early.

The horizon by default is the session timeout (a session whose last event is more than a
timeout before the end is over, by the definition of a session), or the conversion
window for users counted over a window (their path may go on in later sessions). Set it
with ``AnalyzeOptions(censor="2h")`` / ``--censor 2h``; ``censor=None`` / ``--censor off``
keeps every unit.

The end of the data is known only once every bucket is read, so the map keeps, for the
driver counts it sums per bucket, the ``last_event_at`` of the units that *could* be
censored (:func:`censor_keys`), and the reduce drops those past the cut.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from funnel.durations import parse_duration
from funnel.errors import SpecError
from funnel.spec.funnel_spec import FunnelSpec

__all__ = [
    "censor_cut",
    "censor_horizon",
    "censor_keys",
    "censor_text",
    "driver_counts_kept",
    "evidence_kept",
    "split_censored",
]


def censor_horizon(spec: FunnelSpec, censor: str | None) -> float | None:
    """The horizon in seconds: ``"auto"`` (the session timeout, or the window of users
    counted over one), a duration (``"2h"``), or None/``"off"`` (no censoring).

    >>> spec = FunnelSpec.from_dict({"steps": [{"event": "a"}, {"event": "b"}]})
    >>> censor_horizon(spec, "auto"), censor_horizon(spec, "2h"), censor_horizon(spec, "off")
    (1800.0, 7200.0, None)
    """
    if censor is None or censor == "off":
        return None
    if censor == "auto":
        if spec.unit == "users" and spec.window_s is not None:
            return max(spec.window_s, spec.sessions.timeout_s)
        return spec.sessions.timeout_s
    seconds = parse_duration(censor, key="censor")
    if seconds <= 0:
        raise SpecError(
            f"censor: the horizon must be positive, got {censor!r}",
            hint='use "off" to keep every unit, or a duration such as "30m"',
        )
    return seconds


def censor_cut(data_end: dt.datetime | None, horizon_s: float | None) -> dt.datetime | None:
    """Units whose ``last_event_at`` is at or after this instant are censored (None: none)."""
    if data_end is None or horizon_s is None:
        return None
    return data_end - dt.timedelta(microseconds=round(horizon_s * 1_000_000))


def split_censored(
    units: pl.DataFrame, cut: dt.datetime | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(units kept, units censored) by :func:`censor_cut`; order kept in both."""
    if cut is None:
        return units, units.clear()
    late = pl.col("last_event_at") >= cut
    return units.filter(~late), units.filter(late)


def evidence_kept(evidence: pl.DataFrame, censored: pl.DataFrame) -> pl.DataFrame:
    """The evidence rows of the units kept (not of ``censored`` ones)."""
    if not censored.height:
        return evidence
    gone = censored.select("user_id", "session_id")
    return evidence.join(gone, on=["user_id", "session_id"], how="anti", maintain_order="left")


def driver_counts_kept(driver_counts: pl.DataFrame, cut: dt.datetime | None) -> pl.DataFrame:
    """The driver counts (by :func:`censor_keys`: ``_end``, epoch microseconds) of the
    units kept, without the key."""
    if cut is not None:
        cut_us = int(pl.Series([cut], dtype=pl.Datetime("us", "UTC")).dt.epoch("us")[0])
        driver_counts = driver_counts.filter(pl.col("_end").is_null() | (pl.col("_end") < cut_us))
    return driver_counts.drop("_end")


def censor_keys(
    last_event_at: pl.Series, bucket_end: dt.datetime | None, horizon_s: float | None
) -> pl.Series:
    """``_end`` per unit for the driver counts of one bucket: ``last_event_at`` in epoch
    microseconds for units that could be censored, null for the rest.

    The end of all the data is at or after this bucket's own end, so a unit that ended
    more than ``horizon_s`` before ``bucket_end`` is surely not censored; the others are
    few (those that ended in the bucket's last horizon) and keep their own key, so the
    reduce can drop exactly the censored ones from counts summed over units.

    >>> t = pl.Series([dt.datetime(2024, 5, 1, h) for h in (8, 10)])
    >>> censor_keys(t, dt.datetime(2024, 5, 1, 10), 1800.0).to_list()
    [None, 1714557600000000]
    """
    cut = censor_cut(bucket_end, horizon_s)
    epoch = last_event_at.dt.epoch("us").alias("_end")
    if cut is None:
        return pl.repeat(None, len(last_event_at), dtype=pl.Int64, eager=True).alias("_end")
    cut_us = pl.Series([cut], dtype=last_event_at.dtype).dt.epoch("us")[0]
    return pl.select(pl.when(epoch >= cut_us).then(epoch)).to_series().alias("_end")


def censor_text(n: int, unit: str, horizon_s: float, data_end: dt.datetime) -> str:
    """The line every output shows when units were censored.

    >>> text = censor_text(1, "sessions", 1800.0, dt.datetime(2024, 5, 1, 11, tzinfo=dt.UTC))
    >>> text[:80]
    '1 session censored: it ended within 30m of the end of the data (2024-05-01 11:00'
    """
    unit, they = (unit.removesuffix("s"), "it") if n == 1 else (unit, "they")
    return (
        f"{n:,} {unit} censored: {they} ended within {_duration(horizon_s)} of the end of the "
        f"data ({data_end:%Y-%m-%d %H:%M:%S %Z}) and may have gone on after it; left out of "
        "every table (--censor off keeps them)"
    ).replace(" )", ")")


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
