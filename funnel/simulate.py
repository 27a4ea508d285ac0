"""A seeded simulator of shop clickstreams with planted, known effects (makes sample_events/).

Each user has one or more visits. A visit browses (``page_view``, ``view_item``), may add to
cart and walk the GA4 checkout (``begin_checkout`` -> ``add_shipping_info`` ->
``add_payment_info`` -> ``purchase``). Abandonment is planted with known causes, and the
true cause of each abandoned checkout is recorded in a second table (``truth``):

=================== ========================================================================
cause               what the data shows
=================== ========================================================================
surprise_costs      ``add_shipping_info`` reveals ``shipping`` + ``tax`` above 15% of ``value``
forced_registration ``login_wall`` with ``guest_checkout = false``, exit on or right after it
payment_failure     ``payment_attempt`` with ``payment_status`` declined/error, no success
technical_error     an ``exception`` event with ``http_status`` 500/503 before exit
slow_site           ``page_view`` with ``page_load_ms`` above 4000 on the last pages
payment_options     ``view_payment_methods`` without the wanted method, exit at payment
delivery            ``view_delivery_options`` with a slow or costly delivery, exit at shipping
coupon_failure      ``coupon_rejected`` before exit
unexplained         abandonment without evidence
=================== ========================================================================

Confounders are planted too: shoppers who meet a login wall and still buy, see high fees and
still buy, have a card declined and then succeed, or hit a harmless client error early in
checkout. After leaving for a cause, 30% look at one more page first, so the evidence is not
always the last event. Two experiment arms: arm ``B`` cuts payment failures from 20% to 8%
of attempts, a known lift in payment -> purchase conversion. A few exact duplicates and bad
rows (null user, null event, null or future timestamp) exercise the ledger.

The generator is ordinary Python over users: it writes data, it is not the engine.

>>> events, truth = simulate(n_users=50, seed=1)
>>> events.columns[:3]
['user_id', 'timestamp', 'event']
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

__all__ = ["CHUNK_USERS", "simulate", "simulate_chunks", "write_simulation"]

START = dt.datetime(2024, 5, 6, tzinfo=dt.timezone.utc)
DEVICES = [("mobile", 0.55), ("desktop", 0.38), ("tablet", 0.07)]
COUNTRIES = [("DE", 0.3), ("US", 0.25), ("GB", 0.15), ("FR", 0.15), ("NL", 0.1), ("AT", 0.05)]
METHODS = ["card", "paypal", "klarna", "apple_pay"]


def _pick(rng: random.Random, options: list[tuple[str, float]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


class _Visit:
    def __init__(self, rng: random.Random, user: dict[str, Any], t: dt.datetime) -> None:
        self.rng, self.user, self.t, self.rows = rng, user, t, []

    def emit(self, event: str, wait: float = 20.0, **props: Any) -> None:
        self.t += dt.timedelta(seconds=max(0.5, self.rng.expovariate(1 / wait)))
        self.t = self.t.replace(microsecond=(self.t.microsecond // 1000) * 1000)
        row = {
            "user_id": self.user["id"],
            "timestamp": self.t,
            "event": event,
            "device": self.user["device"],
            "country": self.user["country"],
            "experiment_arm": self.user["arm"],
        }
        row.update(props)
        self.rows.append(row)

    def page(self, path: str, slow: bool = False) -> None:
        base = 2500 if self.user["device"] == "mobile" else 1200
        load = self.rng.randint(4500, 9000) if slow else int(self.rng.gauss(base, 400))
        self.emit("page_view", page=path, page_load_ms=max(200, load))


def _checkout(v: _Visit, value: float, spare: str | None = None) -> str | None:
    """Walk the checkout; return the planted cause of abandonment, or None if bought.
    ``spare``: a cause that makes nobody leave (the shopper meets it and goes on)."""
    rng, user = v.rng, v.user
    risk = {  # chance that a visit meets each problem
        "slow_site": 0.10 if user["device"] == "mobile" else 0.03,
        "technical_error": 0.06,
        "coupon_failure": 0.07,
        "forced_registration": 0.25,
        "surprise_costs": 0.35,
        "delivery": 0.10,
        "payment_options": 0.08,
    }
    v.emit("begin_checkout", value=value)
    if rng.random() < 0.04:  # a harmless client error: the shopper carries on
        v.emit("exception", wait=3, error="js_error")
    if rng.random() < risk["coupon_failure"]:
        v.emit("coupon_rejected", coupon="SAVE" + str(rng.randint(5, 30)))
        if rng.random() < 0.55 and spare != "coupon_failure":
            return "coupon_failure"
    if rng.random() < risk["forced_registration"]:
        v.emit("login_wall", guest_checkout=False)
        if rng.random() < 0.5 and spare != "forced_registration":
            return "forced_registration"
        v.emit("sign_up", wait=60)  # confounder: met the wall and went on
    if rng.random() < risk["slow_site"]:
        v.page("/checkout/shipping", slow=True)
        if rng.random() < 0.6 and spare != "slow_site":
            return "slow_site"
    else:
        v.page("/checkout/shipping")
    high_fees = rng.random() < risk["surprise_costs"]
    share = rng.uniform(0.18, 0.4) if high_fees else rng.uniform(0.0, 0.09)
    shipping = round(value * share * 0.7, 2)
    tax = round(value * share * 0.3, 2)
    v.emit("add_shipping_info", shipping=shipping, tax=tax, value=value, shipping_tier="standard")
    # confounder: the rest see high fees and buy anyway
    if high_fees and rng.random() < 0.45 and spare != "surprise_costs":
        return "surprise_costs"
    if rng.random() < risk["delivery"]:
        v.emit("view_delivery_options", delivery_days=rng.randint(6, 14), delivery_cost=9.9)
        if rng.random() < 0.6 and spare != "delivery":
            return "delivery"
    if rng.random() < risk["technical_error"]:
        v.emit("exception", wait=5, http_status=rng.choice([500, 503]), error="checkout_api")
        if rng.random() < 0.7 and spare != "technical_error":
            return "technical_error"
    v.page("/checkout/payment")
    if rng.random() < risk["payment_options"]:
        v.emit("view_payment_methods", methods_shown="card,paypal", wanted_method="klarna")
        if rng.random() < 0.7 and spare != "payment_options":
            return "payment_options"
    method = rng.choice(METHODS)
    v.emit("add_payment_info", payment_type=method, value=value)
    fail_rate = 0.20 if user["arm"] == "A" else 0.08  # the planted experiment effect
    if rng.random() < fail_rate:
        v.emit(
            "payment_attempt",
            wait=8,
            payment_type=method,
            payment_status=rng.choice(["declined", "declined", "error"]),
        )
        if rng.random() < 0.6 and spare != "payment_failure":
            return "payment_failure"
    v.emit("payment_attempt", wait=8, payment_type=method, payment_status="success")
    if rng.random() < 0.04:  # a few leave with no evidence at all
        return "unexplained"
    v.emit("purchase", wait=5, value=value, transaction_id=f"T{rng.randint(10**8, 10**9)}")
    return None


def _visit(rng: random.Random, user: dict[str, Any], t: dt.datetime) -> tuple[list, dict | None]:
    v = _Visit(rng, user, t)
    v.page("/")
    for _ in range(rng.randint(0, 4)):
        v.page("/category")
        v.emit("view_item", item_id=f"SKU{rng.randint(1, 300)}")
    if rng.random() > 0.45:
        return v.rows, None
    value = round(rng.lognormvariate(4.0, 0.6), 2)
    v.emit("add_to_cart", value=value)
    if rng.random() < 0.35:
        v.page("/cart")
        return v.rows, {
            "user_id": user["id"],
            "started": v.rows[0]["timestamp"],
            "cause": "left_at_cart",
            "would_buy": None,
        }
    state, t_checkout = rng.getstate(), v.t
    cause = _checkout(v, value)
    would_buy = None
    if cause not in (None, "unexplained"):
        # the counterfactual: the same shopper, the same draws, but this cause makes nobody
        # leave (its own generator: the data drawn after this visit stay the same)
        twin = random.Random()
        twin.setstate(state)
        would_buy = _checkout(_Visit(twin, user, t_checkout), value, spare=cause) is None
    if cause not in (None, "unexplained") and rng.random() < 0.3:
        v.page(rng.choice(["/cart", "/category"]))  # one last look around before leaving
    start = v.rows[0]["timestamp"]
    outcome = {"user_id": user["id"], "started": start, "cause": cause or "purchased"}
    return v.rows, outcome | {"would_buy": would_buy}


CHUNK_USERS = 50_000  # users simulated and written at a time (a few hundred MB of rows)


def simulate(
    n_users: int = 4000, seed: int = 7, days: int = 21
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Simulate ``n_users`` shoppers over ``days`` days; return (events, truth).

    ``truth`` has one row per visit that added to cart: ``user_id``, ``started`` (visit's
    first event), ``cause`` (``purchased``, ``left_at_cart`` or a planted cause) and, for a
    planted cause, ``would_buy``: whether the same shopper would have bought had that cause
    made nobody leave (the same random draws up to it). The abandonments a cause causes
    among those who met it are its ``would_buy`` count: what a fix could win back.
    The whole dump in memory: :func:`simulate_chunks` for large ones.
    """
    chunks = list(simulate_chunks(n_users, seed, days))
    return (
        pl.concat([e for e, _ in chunks], how="diagonal_relaxed"),
        pl.concat([t for _, t in chunks], how="diagonal_relaxed"),
    )


def simulate_chunks(
    n_users: int, seed: int = 7, days: int = 21, chunk_users: int = CHUNK_USERS
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """(events, truth) of ``chunk_users`` users at a time, so that a dump of any size is
    written without holding it in memory. The first chunk is seeded by ``seed`` alone (a
    dump of at most ``chunk_users`` users is the same as before chunks existed); chunk
    ``k`` by ``seed`` and ``k``."""
    for k, first in enumerate(range(0, n_users, chunk_users)):
        rng = random.Random(seed if k == 0 else f"{seed}/{k}")
        yield _simulate_users(rng, range(first, min(n_users, first + chunk_users)), days)


def _simulate_users(rng: random.Random, ids: range, days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    for i in ids:
        user = {
            "id": f"u{i:05d}",
            "device": _pick(rng, DEVICES),
            "country": _pick(rng, COUNTRIES),
            "arm": rng.choice("AB"),
        }
        t = START + dt.timedelta(seconds=rng.uniform(0, days * 86400))
        for _ in range(1 + int(rng.expovariate(1.2))):
            visit_rows, outcome = _visit(rng, user, t)
            rows.extend(visit_rows)
            if outcome:
                truth.append(outcome)
            t = visit_rows[-1]["timestamp"] + dt.timedelta(hours=rng.uniform(1, 96))
    # a few exact duplicates and bad rows, for the ledger
    for r in rng.sample(rows, k=max(1, len(rows) // 400)):
        rows.append(dict(r))
    bad = [
        ("user_id", None),
        ("event", None),
        ("timestamp", None),
        ("timestamp", dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc)),
        ("user_id", ""),
    ]
    for j, (col, value) in enumerate(bad * 3):
        r = dict(rows[(j * 7919) % len(rows)])
        r[col] = value
        rows.append(r)
    rng.shuffle(rows)
    events = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("timestamp").cast(pl.Datetime("ms", "UTC"))
    )
    return events, pl.DataFrame(truth)


def write_simulation(
    folder: Path,
    *,
    n_users: int,
    seed: int = 7,
    days: int = 21,
    truth: str | None = None,
    chunk_users: int = CHUNK_USERS,
) -> int:
    """Write ``folder/events.parquet`` (and the planted causes to ``truth``) chunk by chunk,
    each file complete or not at all (written beside, then renamed). Returns the events."""
    folder.mkdir(parents=True, exist_ok=True)
    targets = [(folder / "events.parquet", 0)] + ([(Path(truth), 1)] if truth else [])
    writers: dict[int, pq.ParquetWriter] = {}
    schemas: dict[int, pl.Schema] = {}
    parts = {i: path.with_name(path.name + ".part") for path, i in targets}
    n = 0
    try:
        for chunk in simulate_chunks(n_users, seed, days, chunk_users):
            n += chunk[0].height
            for _, i in targets:
                df = chunk[i]
                schema = schemas.setdefault(i, df.schema)  # later chunks: the first's types
                df = df.select(
                    pl.col(c).cast(t) if c in df.columns else pl.lit(None, t).alias(c)
                    for c, t in schema.items()
                )
                table = df.to_arrow()
                if i not in writers:
                    writers[i] = pq.ParquetWriter(parts[i], table.schema)
                writers[i].write_table(table)
        for w in writers.values():
            w.close()
        for path, i in targets:
            parts[i].replace(path)
    finally:
        for part in parts.values():
            part.unlink(missing_ok=True)
    return n
