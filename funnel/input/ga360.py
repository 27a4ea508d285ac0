"""The Universal Analytics (GA360) BigQuery export, ``ga_sessions_YYYYMMDD``: one row per
session with its hits nested, turned into one event row per hit.

Export it as Parquet or JSON lines (``bq extract --destination_format PARQUET
project:dataset.ga_sessions_20240501 gs://bucket/ga_sessions_20240501-*.parquet``), then
``funnel analyze ga_sessions/ --preset ga360``. Following the schema Google documents
(support.google.com/analytics/answer/3437719):

* ``user_id`` = ``fullVisitorId``; ``session_id`` = ``visitId`` (unique per visitor);
  ``timestamp`` = ``visitStartTime`` (epoch s) + ``hits.time`` (ms since the visit started),
  in microseconds.
* ``event``: the enhanced e-commerce action of the hit (``hits.eCommerceAction.action_type``
  1 ``product_click``, 2 ``view_item``, 3 ``add_to_cart``, 4 ``remove_from_cart``,
  5 ``checkout_step_<step>`` with ``hits.eCommerceAction.step``, 6 ``purchase``,
  7 ``refund``, 8 ``checkout_option``); other hits by their type: ``page_view``,
  ``exception``, an event hit's ``hits.eventInfo.eventAction``, otherwise the lower-cased
  ``hits.type``.
* Properties: ``value``, ``shipping`` and ``tax`` from ``hits.transaction``
  (``transactionRevenue`` etc. are in millionths of the currency: divided), ``page`` =
  ``hits.page.pagePath``, ``page_load_ms`` = ``hits.latencyTracking.pageLoadTime``,
  ``error`` = ``hits.exceptionInfo.description``, ``fatal`` =
  ``hits.exceptionInfo.isFatal``; ``items_count`` and ``items_value`` from
  ``hits.product``; every other field as a dotted column (``device.deviceCategory``).
  Integers written as text (BigQuery's JSON) are read as numbers.
"""

from __future__ import annotations

import polars as pl

__all__ = ["ga360"]

ACTIONS = {
    "1": "product_click",
    "2": "view_item",
    "3": "add_to_cart",
    "4": "remove_from_cart",
    "6": "purchase",
    "7": "refund",
    "8": "checkout_option",
}
_MICROS = 1_000_000  # the export's money fields are in millionths


def _field(schema: pl.Schema, path: str) -> pl.Expr | None:
    """``hits.a.b`` as an expression when the export has it (null fields are left out of
    JSON exports, so a field may be missing altogether)."""
    parts = path.split(".")
    dtype = schema.get(parts[0])
    expr = pl.col(parts[0])
    for name in parts[1:]:
        if not isinstance(dtype, pl.Struct):
            return None
        fields = {f.name: f.dtype for f in dtype.fields}
        if name not in fields:
            return None
        dtype, expr = fields[name], expr.struct.field(name)
    return expr


def _number(expr: pl.Expr | None, dtype: type[pl.DataType] = pl.Float64) -> pl.Expr:
    return pl.lit(None, dtype) if expr is None else expr.cast(dtype, strict=False)


def _text(expr: pl.Expr | None) -> pl.Expr:
    return pl.lit(None, pl.String) if expr is None else expr.cast(pl.String)


def _event(schema: pl.Schema) -> pl.Expr:
    action = _text(_field(schema, "hits.eCommerceAction.action_type"))
    step = _text(_field(schema, "hits.eCommerceAction.step"))
    kind = _text(_field(schema, "hits.type")).str.to_lowercase()
    by_kind = (
        pl.when(kind == "page")
        .then(pl.lit("page_view"))
        .when(kind == "event")
        .then(pl.coalesce(_text(_field(schema, "hits.eventInfo.eventAction")), pl.lit("event")))
        .otherwise(kind)
    )
    return (
        pl.when(action == "5")
        .then(pl.concat_str(pl.lit("checkout_step_"), pl.coalesce(step, pl.lit("0"))))
        .otherwise(action.replace_strict(ACTIONS, default=None, return_dtype=pl.String))
        .fill_null(by_kind)
    )


def _items(schema: pl.Schema) -> list[pl.Expr]:
    product = _field(schema, "hits.product")
    if product is None:
        return [pl.lit(0).alias("items_count"), pl.lit(None, pl.Float64).alias("items_value")]
    inner = schema["hits"]
    assert isinstance(inner, pl.Struct)
    dtype = {f.name: f.dtype for f in inner.fields}["product"]
    fields = (
        {f.name for f in dtype.inner.fields}
        if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)
        else set()
    )
    value = pl.lit(None, pl.Float64)
    if "productPrice" in fields:
        item = pl.element().struct
        qty = (
            item.field("productQuantity").cast(pl.Float64, strict=False).fill_null(1)
            if "productQuantity" in fields
            else 1
        )
        each = item.field("productPrice").cast(pl.Float64, strict=False) / _MICROS * qty
        value = product.list.eval(each).list.sum()
    return [product.list.len().fill_null(0).alias("items_count"), value.alias("items_value")]


def ga360(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Sessions with nested hits -> one canonical event row per hit (see the module); the
    remaining records stay structs (the preset flattens them to dotted columns)."""
    frame = frame.explode("hits").filter(pl.col("hits").is_not_null())
    schema = frame.collect_schema()
    start = pl.col("visitStartTime").cast(pl.Int64, strict=False) * _MICROS
    offset = _number(_field(schema, "hits.time"), pl.Int64).fill_null(0) * 1000
    money = {
        "value": "transactionRevenue",
        "shipping": "transactionShipping",
        "tax": "transactionTax",
    }
    props = [
        (_number(_field(schema, f"hits.transaction.{src}")) / _MICROS).alias(name)
        for name, src in money.items()
    ]
    props += [
        _text(_field(schema, "hits.page.pagePath")).alias("page"),
        _number(_field(schema, "hits.latencyTracking.pageLoadTime"), pl.Int64).alias(
            "page_load_ms"
        ),
        _text(_field(schema, "hits.exceptionInfo.description")).alias("error"),
        _field(schema, "hits.exceptionInfo.isFatal").alias("fatal")
        if _field(schema, "hits.exceptionInfo.isFatal") is not None
        else pl.lit(None, pl.Boolean).alias("fatal"),
    ]
    frame = frame.with_columns(
        pl.col("fullVisitorId").cast(pl.String).alias("user_id"),
        pl.col("visitId").cast(pl.String).alias("session_id"),
        (start + offset).alias("timestamp"),
        _event(schema).alias("event"),
        *props,
        *_items(schema),
    )
    hits = schema["hits"]
    drop = ["fullVisitorId", "visitId", "visitStartTime"]
    if isinstance(hits, pl.Struct):  # the rest of the hit as dotted columns (no lists)
        rest = [f.name for f in hits.fields if not isinstance(f.dtype, pl.List)]
        frame = frame.with_columns(pl.col("hits").struct.field(n).alias(f"hits.{n}") for n in rest)
    frame = frame.drop([*drop, "hits"])
    nested = [c for c, t in frame.collect_schema().items() if isinstance(t, pl.List)]
    return frame.drop(nested)  # repeated records (custom dimensions...) are not events
