"""Generate benchmark dumps: N events of shop sessions, rows shuffled (not sorted by user).

Besides the canonical columns, ``value`` and ``device``, sparse event parameters carry the
evidence the built-in causes look for (shipping and tax, page load time, payment status,
HTTP status, guest checkout), so attribution does real work.

python benchmarks/generate.py 10_000_000          # benchmarks/data/events_10M.parquet
python benchmarks/generate.py 10_000_000 --int-ids  # benchmarks/data/events_10M_int.parquet

Written in chunks of at most 5M events (one row group each), so 100M events never sit in
memory at once; every chunk draws its sessions from the users of the whole dump.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

FUNNEL = ["add_to_cart", "begin_checkout", "add_shipping_info", "add_payment_info", "purchase"]
OTHER = ["page_view", "view_item", "login_wall", "exception", "payment_attempt"]
OTHER_WEIGHTS = [0.55, 0.30, 0.05, 0.03, 0.07]  # browsing dominates, as in real dumps


CHUNK = 5_000_000


def generate(
    n: int, seed: int = 0, *, n_users: int | None = None, int_ids: bool = False
) -> pl.DataFrame:
    """About ``n`` events of sessions of ``n_users`` users (default: one per 24 events)."""
    rng = np.random.default_rng(seed)
    n_sessions = n // 12
    lengths = rng.poisson(11, n_sessions) + 1
    lengths = lengths[np.cumsum(lengths) <= n]
    total = int(lengths.sum())
    users = rng.integers(0, max(1, n_users or n_sessions // 2), len(lengths))
    starts = rng.integers(1_714_000_000, 1_714_000_000 + 60 * 86400, len(lengths)) * 1_000_000
    session_of = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    gaps = rng.exponential(30e6, total).astype(np.int64)
    gaps[pos == 0] = 0
    cum = np.cumsum(gaps)
    ts = starts[session_of] + cum - np.repeat(cum[np.cumsum(lengths) - lengths], lengths)
    depth = rng.geometric(0.35, len(lengths)) - 1  # how far into the funnel a session goes
    offset = rng.integers(0, 4, len(lengths))  # browsing before the cart
    step = pos - offset[session_of]
    in_funnel = (step >= 0) & (step < np.minimum(depth, 5)[session_of])
    event = np.where(
        in_funnel,
        np.array(FUNNEL)[np.clip(step, 0, 4)],
        rng.choice(np.array(OTHER), total, p=OTHER_WEIGHTS),
    )
    value = np.round(rng.lognormal(4, 0.6, total), 2)
    df = pl.DataFrame(
        {
            "user_id": (
                pl.Series(users[session_of])
                if int_ids
                else pl.Series(users[session_of]).cast(pl.String).str.pad_start(9, "0")
            ),
            "timestamp": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
            "event": event,
            "value": value,
            "device": np.array(["mobile", "desktop", "tablet"])[rng.integers(0, 3, total)],
        }
    )
    # evidence for the built-in causes, as sparse event parameters (GA4-style, mostly null)
    r = rng.random(total)
    ev = pl.col("event")
    df = df.with_columns(
        pl.when(ev == "add_shipping_info").then(pl.lit(value * r * 0.2)).alias("shipping"),
        pl.when(ev == "add_shipping_info").then(pl.lit(value * 0.05)).alias("tax"),
        pl.when(ev == "page_view")
        .then(pl.lit((rng.lognormal(7.3, 0.5, total)).astype(np.int64)))
        .alias("page_load_ms"),
        pl.when(ev == "payment_attempt")
        .then(pl.when(pl.lit(r) < 0.3).then(pl.lit("declined")).otherwise(pl.lit("success")))
        .alias("payment_status"),
        pl.when(ev == "exception")
        .then(pl.when(pl.lit(r) < 0.5).then(pl.lit(500)).otherwise(pl.lit(404)))
        .alias("http_status"),
        pl.when(ev == "login_wall").then(pl.lit(r) < 0.7).not_().alias("guest_checkout"),
    )
    return df.sample(fraction=1.0, shuffle=True, seed=seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("events", help="how many events, e.g. 10_000_000")
    ap.add_argument("--int-ids", action="store_true", help="int64 user ids instead of text")
    args = ap.parse_args()
    n = int(args.events.replace("_", ""))
    out = Path(__file__).parent / "data"
    out.mkdir(exist_ok=True)
    label = f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"
    path = out / f"events_{label}{'_int' if args.int_ids else ''}.parquet"
    n_users = max(1, n // 24)
    tmp = path.with_suffix(".parquet.part")
    writer = None
    try:
        for i, start in enumerate(range(0, n, CHUNK)):
            chunk = generate(min(CHUNK, n - start), i, n_users=n_users, int_ids=args.int_ids)
            table = chunk.to_arrow()
            writer = writer or pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
        if writer is not None:
            writer.close()
        tmp.replace(path)  # whole or not at all
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
