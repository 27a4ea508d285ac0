"""Sessionize: sort once, drop exact duplicates, cut sessions.

**The one sort.** Valid rows are sorted by a 64-bit hash of the user (cheaper to sort
than the text of the id and it keeps each user's rows together), then by time, then by a
tie rank, then by a hash of the row's content. Rows with equal timestamps for a user are
therefore ordered by (1) their funnel step — earlier steps first, events that are no step
last — then (2) the content hash: arbitrary but fixed, so results never depend on input
row order or partitioning. ``exact_users=True`` adds the user id itself as a key; the
pipeline re-runs with it in the (astronomically rare) case two users share a hash.

**Duplicates.** Rows identical in user, instant, event and every property sit next to
each other after the sort; all but the first are flagged ``_dup`` (with several files
the file name is the last sort key, so the row of the first file in name order is kept).

**Sessions.** A session ends when the next event of the same user is more than
``timeout_s`` later (GA4's rule, 30 minutes by default). With ``max_length_s``, a session
is further cut into consecutive windows of that length counted from its first event. With
``use_column``, the data's ``session_id`` defines sessions (rows sorted by it first), and
rows with a null ``session_id`` are sessionized by timeout.

``_sid`` numbers sessions (an integer unique in this run); ``session_id`` as shown to
users is ``"{user_id}/{start}"`` with the session's first timestamp, or
``"{user_id}/{session_id}"`` with ``use_column`` (a provided session cut by
``max_length_s``: its later pieces ``"{user_id}/{session_id}/{start}"``, so ids stay
unique): deterministic and stable across runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from funnel.input.validate import MARKS

__all__ = [
    "SessionizeOptions",
    "carried_columns",
    "collect_sorted",
    "content_hash",
    "flag_duplicates",
    "order_events",
    "session_label",
    "sessionize",
    "sort_key_names",
    "sort_keys",
]

_INTERNAL = (*MARKS, "_ch")


@dataclass(frozen=True, kw_only=True)
class SessionizeOptions:
    """Options of :func:`sessionize`; durations in seconds."""

    timeout_s: float = 1800.0
    max_length_s: float | None = None
    use_column: bool = False


def content_hash(columns: list[str]) -> pl.Expr:
    """The documented, arbitrary-but-fixed tie-breaker: a 58-bit hash of a row's content.

    58 bits leave room for the tie rank in the same 64-bit sort key (see ``order_events``).
    """
    return pl.struct(columns).hash(seed=11) // 64


def _tie_key(rank: pl.Expr | None, content: list[str], hashed: bool = False) -> pl.Expr:
    """Rank (clipped to 0..63) in the top 6 bits, the content hash below: one sort key."""
    ch = pl.col("_ch") if hashed else content_hash(content)
    if rank is None:
        return ch
    top = rank.cast(pl.Int64).clip(0, 63).cast(pl.UInt64) * (1 << 58)
    return top | ch


def sort_keys(
    frame: pl.LazyFrame, *, rank: pl.Expr | None = None, extra: list[pl.Expr] = ()
) -> pl.LazyFrame:
    """Add the sort keys ``_uh`` (user hash) and ``_k`` (tie rank and content hash), then
    ``extra`` columns computed per row (one ``with_columns`` stage each, in order).

    A ``_ch`` column holds the content hash already (:func:`content_hash` over every data
    column, taken before columns were dropped); otherwise it is computed here."""
    names = frame.collect_schema().names()
    content = [c for c in names if c not in _INTERNAL]
    frame = frame.with_columns(
        pl.col("user_id").hash(seed=7).alias("_uh"),
        _tie_key(rank, content, "_ch" in names).alias("_k"),
    )
    for expr in extra:
        frame = frame.with_columns(expr)
    return frame


def carried_columns(
    frame: pl.LazyFrame, *, keep: list[str], use_column: bool = False, several_files: bool = False
) -> pl.LazyFrame:
    """The columns :func:`order_events` carries through the sort, in its order: user, time,
    event, ``keep``, ``_file`` (several files), ``session_id`` (``use_column``), the keys
    ``_uh``/``_k`` and the extra columns of :func:`sort_keys`. Never collects."""
    names = frame.collect_schema().names()
    extra = names[names.index("_k") + 1 :]
    carried = ["user_id", "timestamp", "event", *keep]
    if several_files:  # with one file the ledger knows it: no 10M-row text column
        carried.append("_file")
    if use_column and "session_id" in names:
        carried.append("session_id")
    carried = list(dict.fromkeys(c for c in carried if c in names and c not in extra))
    return frame.select(*carried, "_uh", "_k", *extra)


def order_events(
    frame: pl.LazyFrame,
    *,
    rank: pl.Expr | None = None,
    use_column: bool = False,
    exact_users: bool = False,
    several_files: bool = False,
    keep: list[str] | None = None,
) -> pl.LazyFrame:
    """Sort valid rows deterministically and flag exact duplicates in ``_dup``.

    ``rank`` orders events that share a timestamp (lower first); default: all equal.
    ``keep`` limits the property columns carried through the sort (all by default): the
    content hash is taken over every column first, so duplicates are still exact. With
    ``keep`` and a single file, ``_file`` is not carried either. A frame that already has
    the sort keys (from :func:`sort_keys`) keeps them, and its extra columns are carried.

    >>> lf = pl.LazyFrame({"user_id": ["u", "u", "u"], "event": ["b", "a", "b"],
    ...     "timestamp": pl.Series([5, 5, 5]).cast(pl.Datetime("us", "UTC"))})
    >>> out = order_events(lf).collect()
    >>> sorted(out["_dup"].to_list())
    [False, False, True]
    """
    names = frame.collect_schema().names()
    if "_k" not in names:
        frame = sort_keys(frame, rank=rank)
    if keep is not None:
        frame = carried_columns(
            frame, keep=keep, use_column=use_column, several_files=several_files
        )
    keys = sort_key_names(
        names, exact_users=exact_users, use_column=use_column, several_files=several_files
    )
    frame = frame.sort(keys)  # nulls_last=True doubled the cost of this sort (polars 2.1)
    return flag_duplicates(frame)


def sort_key_names(
    names: list[str], *, exact_users: bool, use_column: bool, several_files: bool
) -> list[str]:
    """The sort order of :func:`order_events`: user hash (and the user itself when hashes
    collide), provided session, time, the tie/content key ``_k``, and the file."""
    keys = ["_uh"]
    if exact_users:
        keys.append("user_id")
    if use_column and "session_id" in names:
        keys.append("session_id")
    keys += ["timestamp", "_k"]
    if several_files:
        keys.append("_file")
    return keys


def flag_duplicates(frame: pl.LazyFrame) -> pl.LazyFrame:
    """On rows sorted by :func:`sort_key_names`: ``_dup`` (an exact copy of the previous
    row) and ``_collision`` (two users share a hash). Never collects."""
    same = [pl.col(c) == pl.col(c).shift(1) for c in ("_uh", "user_id", "timestamp", "_k")]
    dup = pl.all_horizontal(same).fill_null(False)
    collision = (
        (pl.col("_uh") == pl.col("_uh").shift(1))
        & (pl.col("user_id") != pl.col("user_id").shift(1))
    ).fill_null(False)
    return frame.with_columns(dup.alias("_dup"), collision.alias("_collision"))


def collect_sorted(
    plan: pl.LazyFrame,
    keys: list[str],
    *,
    index: str | None = None,
    aside: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
    unsorted: Sequence[str] = (),
    also: Sequence[pl.LazyFrame] = (),
) -> tuple[pl.DataFrame, pl.DataFrame | None, list[pl.DataFrame]]:
    """Collect ``plan`` (streaming) and sort it by ``keys`` with a lower peak than
    ``sort``: sort the keys and a row index, then gather two columns at a time and let
    each input column go. Collects (documented exception).

    ``index`` names a column of the sorted rows holding each row's position in the read
    order; ``aside`` is a plan over the collected rows in that order (numbered by
    ``index``), collected before the sort and returned second; ``unsorted`` columns are
    read for ``aside`` only and not sorted; ``also``: plans collected in the same streaming
    pass (they share the scan), returned third.

    >>> lf = pl.LazyFrame({"k": [3, 1, 2], "v": ["c", "a", "b"]})
    >>> rows, _, _ = collect_sorted(lf, ["k"])
    >>> rows["v"].to_list()
    ['a', 'b', 'c']
    """
    # the only reference to the frame: its columns can be freed one by one
    frame, *more = pl.collect_all([plan, *also], engine="streaming")
    side = None
    if aside is not None:
        # a temporary: a name holding frame.lazy() would keep every column alive
        side = aside(frame.lazy().with_row_index(index or "_i")).collect(engine="in-memory")
    frame = frame.drop(unsorted)
    names = frame.columns
    by_keys = frame.select(keys).with_row_index("_i").sort(keys)
    frame = frame.drop(keys)  # sorted already, in by_keys
    order = by_keys.get_column("_i")
    columns = {k: by_keys.get_column(k) for k in keys}
    del by_keys
    rest = frame.columns
    for pair in (rest[i : i + 2] for i in range(0, len(rest), 2)):
        # two columns at a time: gathered side by side (one thread each; a single column's
        # gather runs on one), while the peak grows by one column only
        part = frame.select(pair).rechunk()  # a gather over many chunks is ~5x slower
        frame = frame.drop(pair)
        columns.update(part.select(pl.all().gather(order)).to_dict())
        del part
    if index is not None:
        columns[index] = order.alias(index)
        names.append(index)
    return pl.DataFrame({name: columns[name] for name in names}), side, more


def sessionize(frame: pl.LazyFrame, options: SessionizeOptions | None = None) -> pl.LazyFrame:
    """Cut sorted, de-duplicated rows (from :func:`order_events`) into sessions.

    Adds ``_sid`` (session number), ``_session_start`` and ``_session_end`` (timestamps
    of the session's first and last event), ``_first``/``_last`` (row opens/closes it).
    Never collects.

    >>> ts = pl.Series([0, 60_000_000, 7_200_000_000]).cast(pl.Datetime("us", "UTC"))
    >>> lf = pl.LazyFrame({"user_id": ["u"] * 3, "event": ["a", "b", "c"], "timestamp": ts})
    >>> sessionize(order_events(lf)).collect()["_sid"].to_list()
    [1, 1, 2]
    """
    options = options or SessionizeOptions()
    ts = pl.col("timestamp")
    gap_us = int(options.timeout_s * 1_000_000)
    new_user = (pl.col("_uh") != pl.col("_uh").shift(1)) | (
        pl.col("user_id") != pl.col("user_id").shift(1)
    )
    gap = (ts - ts.shift(1)).dt.total_microseconds() > gap_us
    if options.use_column and "session_id" in frame.collect_schema().names():
        sid = pl.col("session_id")
        new = new_user | pl.when(sid.is_null()).then(sid.shift(1).is_not_null() | gap).otherwise(
            (sid != sid.shift(1)).fill_null(True)
        )
    else:
        new = new_user | gap
    frame = frame.with_columns(new.fill_null(True).alias("_new"))
    if options.max_length_s is not None:
        start = pl.when(pl.col("_new")).then(ts).forward_fill()
        chunk = (ts - start).dt.total_microseconds() // int(options.max_length_s * 1_000_000)
        frame = frame.with_columns(
            (pl.col("_new") | (chunk != chunk.shift(1)).fill_null(True)).alias("_new"),
            (chunk > 0).alias("_cut"),
        )
        if options.use_column and "session_id" in frame.collect_schema().names():
            # a provided session cut by max_length: its later pieces get their start in
            # their id, so no two sessions share one (u1/s2, u1/s2/20240309T235000.000000Z)
            piece_start = pl.when(pl.col("_new")).then(ts).forward_fill()
            stamp = piece_start.dt.strftime("%Y%m%dT%H%M%S%.6fZ")
            label = pl.concat_str(pl.col("session_id").cast(pl.String), pl.lit("/"), stamp)
            frame = frame.with_columns(
                pl.when(pl.col("_cut") & pl.col("session_id").is_not_null())
                .then(label)
                .otherwise(pl.col("session_id").cast(pl.String))
                .alias("session_id")
            )
        frame = frame.drop("_cut")
    frame = frame.with_columns(pl.col("_new").cum_sum().cast(pl.Int64).alias("_sid"))
    last = (pl.col("_sid") != pl.col("_sid").shift(-1)).fill_null(True)
    return frame.with_columns(
        pl.when(pl.col("_new")).then(ts).forward_fill().alias("_session_start"),
        pl.when(last).then(ts).backward_fill().alias("_session_end"),
        pl.col("_new").alias("_first"),
        last.alias("_last"),
    ).drop("_new")


def session_label(use_column: bool) -> pl.Expr:
    """The user-facing session id: ``user/start`` or ``user/provided-id``."""
    start = pl.col("_session_start").dt.strftime("%Y%m%dT%H%M%S%.6fZ")
    if use_column:
        start = pl.coalesce(pl.col("session_id").cast(pl.String), start)
    return pl.concat_str(pl.col("user_id"), pl.lit("/"), start).alias("session_id")
