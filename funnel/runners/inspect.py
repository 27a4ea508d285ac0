"""Inspect a dump before writing a spec: its events, columns and time range, the ledger, and
a starter checkout funnel guessed from the event names (``funnel inspect``)."""

from __future__ import annotations

import re
from dataclasses import replace

import polars as pl

from funnel.input.validate import MARKS
from funnel.results.inspection import Inspection
from funnel.runners.analyze import AnalyzeOptions, Source, prepare, validate
from funnel.spec.funnel_spec import FunnelSpec

__all__ = ["inspect", "starter_spec"]

# checkout stages and the event names that mean them, most specific first (GA4, Segment,
# Amplitude and Snowplow conventions, GA360 after its preset, then plain words)
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cart", (r"^add_?to_?cart$", r"product.?added", r"add.?to.?(cart|basket)", r"cart")),
    ("checkout", (r"^begin_?checkout$", r"checkout.?started", r"checkout")),
    ("shipping", (r"^add_?shipping_?info$", r"shipping|delivery|address")),
    ("payment", (r"^add_?payment_?info$", r"payment.?info|billing|payment")),
    ("purchase", (r"^purchase$", r"order.?completed", r"transaction|purchase|order")),
)
_NOT_FORWARD = re.compile(r"remove|view|fail|error|reject|refund|cancel|abandon", re.I)


def starter_spec(events: pl.DataFrame) -> tuple[FunnelSpec | None, list[str]]:
    """A checkout funnel from the event names of ``events`` (``event``, ``rows``): for each
    stage the most frequent name that matches its most specific pattern; at least two
    stages, in order. Returns the spec (or None) and notes on what was picked.

    >>> ev = pl.DataFrame({"event": ["page_view", "Product Added", "Checkout Started",
    ...     "Order Completed", "remove_from_cart"], "rows": [90, 30, 20, 9, 5]})
    >>> spec, notes = starter_spec(ev)
    >>> [(s.name, s.events[0]) for s in spec.steps]
    [('cart', 'Product Added'), ('checkout', 'Checkout Started'), ('purchase', 'Order Completed')]
    """
    ranked = events.sort(["rows", "event"], descending=[True, False])["event"].to_list()
    taken: set[str] = set()
    steps, notes = [], []
    for stage, patterns in STAGES:
        for pattern in patterns:
            found = [
                e
                for e in ranked
                if e not in taken and re.search(pattern, e, re.I) and not _NOT_FORWARD.search(e)
            ]
            if found:
                taken.add(found[0])
                steps.append({"name": stage, "event": found[0]})
                break
    if len(steps) < 2:
        notes.append(
            "no starter spec: fewer than two checkout stages (cart, checkout, shipping, "
            "payment, purchase) could be told from the event names; list your steps"
        )
        return None, notes
    picked = ", ".join(f"{s['name']} = {s['event']!r}" for s in steps)
    notes.append(f"starter spec guessed from event names: {picked}; check it before use")
    return FunnelSpec.from_dict({"name": "checkout", "steps": steps}), notes


def inspect(source: Source, options: AnalyzeOptions | None = None) -> Inspection:
    """What a dump holds: events with counts, columns with types and null shares, the time
    range and the ledger, over the rows that would be used; and a starter spec.

    >>> import funnel
    >>> found = funnel.inspect("sample_events/")
    >>> found.events["event"][0], found.starter.step_names[0], found.starter.step_names[-1]
    ('page_view', 'cart', 'purchase')
    """
    options = replace(options or AnalyzeOptions(), by=(), causes=False)
    ledger = validate(source, options)
    rows = prepare(source, options).frame.filter(pl.col("_reject").is_null())
    data = [c for c in rows.collect_schema().names() if c not in MARKS]
    schema = rows.collect_schema()
    per_event = rows.group_by("event").agg(
        pl.len().cast(pl.Int64).alias("rows"),
        pl.col("user_id").n_unique().cast(pl.Int64).alias("users"),
    )
    stats = rows.select(
        pl.len().alias("rows"),
        pl.col("user_id").n_unique().alias("users"),
        pl.col("timestamp").min().alias("first"),
        pl.col("timestamp").max().alias("last"),
        *[pl.col(c).null_count().alias(f"null:{c}") for c in data],
        *[pl.col(c).n_unique().alias(f"distinct:{c}") for c in data],
    )
    per_event, stats = pl.collect_all([per_event, stats], engine="streaming")
    n = int(stats["rows"][0])
    events = per_event.with_columns((pl.col("rows") / max(n, 1)).alias("share")).select(
        "event", "rows", "share", "users"
    )
    events = events.sort(["rows", "event"], descending=[True, False])
    # a column named _... or at_... is shown as data:..., the name a spec uses for it
    columns = pl.DataFrame(
        {
            "column": data,
            "dtype": [str(schema[c]) for c in data],
            "null_share": [int(stats[f"null:{c}"][0]) / max(n, 1) for c in data],
            "distinct": [int(stats[f"distinct:{c}"][0]) for c in data],
        },
        schema={
            "column": pl.String,
            "dtype": pl.String,
            "null_share": pl.Float64,
            "distinct": pl.Int64,
        },
    )
    first, last = stats["first"][0], stats["last"][0]
    summary = {
        "rows": n,
        "users": int(stats["users"][0]),
        "first": first.isoformat() if first is not None else None,
        "last": last.isoformat() if last is not None else None,
    }
    starter, notes = starter_spec(events)
    return Inspection(
        events=events,
        columns=columns,
        summary=summary,
        ledger=ledger,
        starter=starter,
        notes=tuple(notes),
    )
