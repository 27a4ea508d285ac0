"""Presets: the export shapes of common tools, mapped to the canonical columns.

========== =========================================================================
preset     source shape -> canonical
========== =========================================================================
ga4        GA4 BigQuery export. ``user_pseudo_id`` -> user_id (GA4's own ``user_id``
           is kept as ``ga4_user_id``), ``event_timestamp`` (epoch µs) -> timestamp,
           ``event_name`` -> event, ``event_params`` key/value list -> one column per
           key (typed: string, int or float), ``ga_session_id`` -> session_id, nested
           records (``device``, ``geo``, ``ecommerce``, ...) -> dotted columns such as
           ``ecommerce.purchase_revenue``; ``items`` is kept and summarised as
           ``items_count`` and ``items_value`` (sum of price x quantity).
segment    Segment track/page calls (JSON ``anonymousId``/``userId`` or warehouse
           ``anonymous_id``/``user_id``). user_id = anonymousId (stable across the
           login inside a checkout), else userId, which is kept as ``segment_user_id``;
           event = ``event`` for track calls, else the call ``type`` (``page``,
           ``screen``, ``identify``...); ``properties``/``context`` -> dotted columns.
amplitude  Amplitude export API JSON. ``device_id``, else user_id -> user_id (the login
           mid-checkout must not split the path; user_id is kept as ``amplitude_user_id``);
           ``event_type`` -> event; ``event_time`` (UTC text) -> timestamp;
           ``session_id`` (epoch ms, -1 = none) -> session_id; ``event_properties``
           and ``user_properties`` -> dotted columns.
snowplow   Snowplow enriched events. ``domain_userid`` -> user_id (Snowplow's
           ``user_id`` is kept as ``snowplow_user_id``); ``derived_tstamp``, else
           ``collector_tstamp`` -> timestamp; ``event_name`` -> event, except structured
           events (``event = 'struct'``) whose event is ``se_action``;
           ``domain_sessionid`` -> session_id.
ga360      Universal Analytics (GA360) ``ga_sessions_*`` export: one row per hit of the
           nested ``hits``, events from the e-commerce action (``add_to_cart``,
           ``checkout_step_<n>``, ``purchase``...) or the hit type; see
           :mod:`funnel.input.ga360`. Its default funnel: cart -> checkout steps 1-3 ->
           purchase.
ecommerce  The REES46 public e-commerce dump. ``event_time`` (``2019-10-01 00:00:00
           UTC``) -> timestamp, ``event_type`` -> event, ``user_session`` ->
           session_id; its default funnel is view -> cart -> purchase.
========== =========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from funnel.input.ga360 import ga360

__all__ = ["PRESETS", "Preset", "flatten_structs"]


@dataclass(frozen=True)
class Preset:
    """A named export shape: required raw columns and a lazy transform to canonical."""

    name: str
    required: tuple[str, ...]
    transform: Callable[[pl.LazyFrame], pl.LazyFrame]
    timestamp_unit: str | None = None
    default_spec: str = "checkout"


def flatten_structs(frame: pl.LazyFrame, sep: str = ".") -> pl.LazyFrame:
    """Replace every struct column by dotted columns, recursively.

    >>> lf = pl.LazyFrame({"device": [{"category": "mobile", "os": "iOS"}]})
    >>> flatten_structs(lf).collect_schema().names()
    ['device.category', 'device.os']
    """
    while True:
        schema = frame.collect_schema()
        structs = [n for n, t in schema.items() if isinstance(t, pl.Struct)]
        if not structs:
            return frame
        exprs = []
        for name in structs:
            dtype = schema[name]
            assert isinstance(dtype, pl.Struct)
            for fld in dtype.fields:
                exprs.append(pl.col(name).struct.field(fld.name).alias(f"{name}{sep}{fld.name}"))
        frame = frame.with_columns(exprs).drop(structs)


def _rename_if(frame: pl.LazyFrame, mapping: dict[str, str]) -> pl.LazyFrame:
    names = set(frame.collect_schema().names())
    return frame.rename({k: v for k, v in mapping.items() if k in names})


def _first_present(frame: pl.LazyFrame, *names: str) -> pl.Expr:
    have = set(frame.collect_schema().names())
    cols = [pl.col(n).cast(pl.String) for n in names if n in have]
    return pl.coalesce(cols) if cols else pl.lit(None, pl.String)


def _ga4_params(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Flatten ``event_params`` into typed columns; collects the distinct keys once."""
    if "event_params" not in frame.collect_schema().names():
        return frame
    kv = (
        frame.select(pl.col("event_params").explode())
        .select(
            pl.col("event_params").struct.field("key").alias("key"),
            pl.col("event_params").struct.field("value").alias("value"),
        )
        .filter(pl.col("key").is_not_null())
        .select("key", pl.col("value").struct.unnest())
    )
    value_fields = [c for c in kv.collect_schema().names() if c != "key"]
    kinds = (
        kv.group_by("key").agg(pl.col(c).is_not_null().any() for c in value_fields).collect()
    ).sort("key")
    exprs = []
    for row in kinds.iter_rows(named=True):  # one row per distinct parameter key, not per event
        key = row["key"]
        value = (
            pl.col("event_params")
            .list.eval(pl.element().filter(pl.element().struct.field("key") == key))
            .list.first()
            .struct.field("value")
        )
        numeric = [f for f in value_fields if f != "string_value" and row[f]]
        if row.get("string_value"):
            parts = [value.struct.field("string_value")]
            parts += [value.struct.field(f).cast(pl.String) for f in numeric]
            expr = pl.coalesce(parts)
        elif numeric == ["int_value"]:  # BigQuery's JSON writes INT64 as text: cast back
            expr = value.struct.field("int_value").cast(pl.Int64, strict=False)
        elif numeric:
            expr = pl.coalesce(
                [value.struct.field(f).cast(pl.Float64, strict=False) for f in numeric]
            )
        else:
            expr = pl.lit(None, pl.String)
        exprs.append(expr.alias(key))
    return frame.with_columns(exprs).drop("event_params")


def _items_value(dtype: pl.DataType) -> pl.Expr:
    """Sum of price x quantity (1 when missing) over ``items``, whatever the export left of
    them: an empty list everywhere, no ``price`` or ``quantity`` field, numbers as text."""
    inner = dtype.inner if isinstance(dtype, pl.List) else None
    fields = {f.name for f in inner.fields} if isinstance(inner, pl.Struct) else set()
    if "price" not in fields:
        return pl.lit(None, pl.Float64)
    item = pl.element().struct
    price = item.field("price").cast(pl.Float64, strict=False)
    qty = item.field("quantity").cast(pl.Float64, strict=False) if "quantity" in fields else None
    each = price * (qty.fill_null(1) if qty is not None else 1)
    return pl.col("items").list.eval(each).list.sum()


def _ga4(frame: pl.LazyFrame) -> pl.LazyFrame:
    frame = _rename_if(frame, {"user_id": "ga4_user_id"})
    frame = _ga4_params(frame)
    schema = frame.collect_schema()
    names = schema.names()
    if schema.get("event_timestamp") == pl.String:  # BigQuery's JSON writes INT64 as text
        frame = frame.with_columns(pl.col("event_timestamp").cast(pl.Int64, strict=False))
    if "items" in names:
        frame = frame.with_columns(
            pl.col("items").list.len().fill_null(0).alias("items_count"),
            _items_value(schema["items"]).alias("items_value"),
        )
    extra = (
        {"session_id": pl.col("ga_session_id").cast(pl.String)} if "ga_session_id" in names else {}
    )
    frame = frame.with_columns(
        pl.col("user_pseudo_id").alias("user_id"),
        pl.col("event_timestamp").alias("timestamp"),
        pl.col("event_name").alias("event"),
        **extra,
    ).drop("user_pseudo_id", "event_timestamp", "event_name")
    return flatten_structs(frame)


def _segment(frame: pl.LazyFrame) -> pl.LazyFrame:
    names = set(frame.collect_schema().names())
    user = _first_present(frame, "anonymousId", "anonymous_id", "userId", "user_id")
    if "type" in names and "event" in names:
        event = pl.when(pl.col("type") == "track").then(pl.col("event")).otherwise(pl.col("type"))
    elif "event" in names:
        event = pl.col("event")
    else:
        event = pl.col("type")
    logged_in = _first_present(frame, "userId", "user_id").alias("segment_user_id")
    drop = [c for c in ("userId", "user_id", "type") if c in names]
    frame = frame.with_columns(user.alias("_user"), event.alias("_event"), logged_in).drop(drop)
    frame = frame.drop([c for c in ("event",) if c in names]).rename(
        {"_user": "user_id", "_event": "event"}
    )
    return flatten_structs(frame)


def _amplitude(frame: pl.LazyFrame) -> pl.LazyFrame:
    names = set(frame.collect_schema().names())
    user = _first_present(frame, "device_id", "user_id")
    session = (
        pl.when(pl.col("session_id").cast(pl.Int64, strict=False) > 0)
        .then(pl.col("session_id").cast(pl.String))
        .alias("session_id")
        if "session_id" in names
        else pl.lit(None, pl.String).alias("session_id")
    )
    frame = frame.with_columns(
        user.alias("user_id"),
        _first_present(frame, "user_id").alias("amplitude_user_id"),
        session,
        pl.col("event_time").alias("timestamp"),
        pl.col("event_type").alias("event"),
    ).drop("event_time", "event_type")
    return flatten_structs(frame)


def _snowplow(frame: pl.LazyFrame) -> pl.LazyFrame:
    names = set(frame.collect_schema().names())
    frame = _rename_if(frame, {"user_id": "snowplow_user_id"})
    ts = _first_present(frame, "derived_tstamp", "collector_tstamp")
    event = pl.col("event_name")
    if "se_action" in names and "event" in names:
        event = pl.when(pl.col("event") == "struct").then(pl.col("se_action")).otherwise(event)
    session = _first_present(frame, "domain_sessionid")
    frame = frame.with_columns(
        pl.col("domain_userid").alias("user_id"),
        ts.alias("timestamp"),
        event.alias("_event"),
        session.alias("session_id"),
    )
    frame = frame.drop([c for c in ("event",) if c in names]).rename({"_event": "event"})
    return flatten_structs(frame.drop("event_name"))


def _ecommerce(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.rename(
        {"event_time": "timestamp", "event_type": "event", "user_session": "session_id"}
    )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("ga4", ("user_pseudo_id", "event_timestamp", "event_name"), _ga4, "us"),
        Preset("segment", ("timestamp",), _segment),
        Preset("amplitude", ("event_time", "event_type"), _amplitude),
        Preset("snowplow", ("domain_userid", "event_name"), _snowplow),
        Preset(
            "ga360",
            ("fullVisitorId", "visitId", "visitStartTime", "hits"),
            lambda frame: flatten_structs(ga360(frame)),
            "us",
            default_spec="ga360",
        ),
        Preset(
            "ecommerce",
            ("event_time", "event_type", "user_id", "user_session"),
            _ecommerce,
            default_spec="ecommerce",
        ),
    )
}
