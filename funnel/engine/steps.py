"""Steps: match each unit's events against the funnel, giving one path per unit.

Works on the sorted, sessionized rows without any per-unit Python: every step is a few
running values over the sorted rows. For each step ``k`` the column ``next_k`` holds, on
every row, the position of the next row (at or after it) that matches step ``k``
(a backward fill). The path is then followed by *gathering*: the match of step ``k`` is
``next_k`` read at the row just after the match of step ``k-1`` — valid while it stays in
the same group (first-occurrence mode reads ``next_k`` on the group's first row instead:
the step's first occurrence). Strict mode uses shifted rows; any-order mode first
occurrences, each on its own.

The output, :func:`match_paths`, has one row per unit that entered the funnel:
``_g`` (group number), ``_entry`` and ``_furthest`` (0-based step indices), ``at_<step>``
(time the step was reached, null if not), ``_exit_end`` (end of the session where the path
stopped), ``_exit_row`` (the position of the furthest step's row in the input rows) and
every column of the entry event. Semantics: docs/semantics.md.
"""

from __future__ import annotations

import polars as pl

from funnel.spec.funnel_spec import FunnelSpec

__all__ = ["group_key", "match_exprs", "match_paths", "step_rank", "user_number"]


def _matches(events: tuple[str, ...], where) -> pl.Expr:
    expr = pl.col("event").is_in(list(events))
    return expr & where.to_polars() if where is not None else expr


def match_exprs(spec: FunnelSpec) -> list[pl.Expr]:
    """One boolean expression per step: does this row match the step?"""
    return [_matches(s.events, s.where) for s in spec.steps]


def _lowest_match(ms: list[pl.Expr]) -> pl.Expr:
    """Index of the lowest step a row matches, null when it matches none."""
    return pl.coalesce([pl.when(m).then(pl.lit(i, pl.Int64)) for i, m in enumerate(ms)])


def step_rank(spec: FunnelSpec) -> pl.Expr:
    """Tie rank: the lowest step a row matches; rows matching no step rank last."""
    return _lowest_match(match_exprs(spec)).fill_null(len(spec.steps))


def user_number() -> pl.Expr:
    """A number per user over rows sorted by user (hash ``_uh``, then id): 1, 2, ..."""
    new_user = (pl.col("_uh") != pl.col("_uh").shift(1)) | (
        pl.col("user_id") != pl.col("user_id").shift(1)
    )
    return new_user.fill_null(True).cum_sum().cast(pl.Int64)


def group_key(spec: FunnelSpec) -> pl.Expr:
    """Rows are grouped per session, or per user for users counted over a duration window."""
    if spec.unit == "users" and spec.window_s is not None:
        return user_number()
    return pl.col("_sid")


def _gather(col: str | pl.Expr, idx: pl.Expr) -> pl.Expr:
    expr = pl.col(col) if isinstance(col, str) else col
    return expr.gather(idx.clip(upper_bound=pl.len().cast(pl.Int64) - 1))


def _window_ok(t_col: pl.Expr, spec: FunnelSpec) -> pl.Expr:
    if spec.window_s is None:
        return pl.lit(True)
    limit = int(spec.window_s * 1_000_000)
    return (t_col - pl.col("_t_entry")).dt.total_microseconds() <= limit


def _with_groups(frame: pl.LazyFrame) -> pl.LazyFrame:
    frame = frame.with_row_index("_pos").with_columns(pl.col("_pos").cast(pl.Int64))
    first = (pl.col("_g") != pl.col("_g").shift(1)).fill_null(True)
    last = (pl.col("_g") != pl.col("_g").shift(-1)).fill_null(True)
    return frame.with_columns(
        first.alias("_gfirst"),
        pl.when(last).then(pl.col("_pos")).backward_fill().alias("_gend"),
        pl.when(first).then(pl.col("_pos")).forward_fill().alias("_gstart"),
    )


def _next(match: pl.Expr) -> pl.Expr:
    return pl.when(match).then(pl.col("_pos")).backward_fill()


def _in_group(pos: pl.Expr) -> pl.Expr:
    return pl.when(pos <= pl.col("_gend")).then(pos)


def _hold_ok(spec: FunnelSpec) -> pl.Expr:
    ok = pl.lit(True)
    for h in spec.hold:
        ok = ok & (pl.col(h) == _gather(f"_anchor_{h}", pl.col("_gstart"))).fill_null(False)
    return ok


def _entry(frame: pl.LazyFrame, spec: FunnelSpec, ms: list[pl.Expr]) -> pl.LazyFrame:
    """Find each group's entry row (``_pe``) and entry step (``_se``) on its first row."""
    if spec.entry == "open":
        frame = frame.with_columns(_lowest_match(ms).alias("_stepidx"))
        nxt = _next(pl.col("_stepidx").is_not_null())
    else:
        frame = frame.with_columns(pl.lit(0, pl.Int64).alias("_stepidx"))
        nxt = _next(ms[0])
    frame = frame.with_columns(pl.when(pl.col("_gfirst")).then(_in_group(nxt)).alias("_pe"))
    frame = frame.with_columns(
        _gather("_stepidx", pl.col("_pe")).alias("_se"),
        _gather("timestamp", pl.col("_pe")).alias("_t_entry"),
        *[_gather(h, pl.col("_pe")).alias(f"_anchor_{h}") for h in spec.hold],
    )
    return frame


def _prev_reached(spec: FunnelSpec, i: int) -> pl.Expr:
    """Position of the last step reached before step ``i``: the step before, or before an
    optional step not reached, back to a required one (null once the path stopped)."""
    back = [pl.col(f"_p{i - 1}")]
    j = i - 1
    while j > 0 and spec.steps[j].optional:
        j -= 1
        back.append(pl.col(f"_p{j}"))
    return pl.coalesce(back)


def _candidate(spec: FunnelSpec, i: int, prev: pl.Expr) -> pl.Expr:
    """Where step ``i`` would be matched after position ``prev``: the next match after it
    (ordered), or the step's first occurrence in the group if it comes after it."""
    if spec.mode == "first_occurrence":
        first = _in_group(pl.col(f"_n{i}"))  # read on the group's first row
        return pl.when(first > prev).then(first)
    q = prev + 1
    return pl.when(q <= pl.col("_gend")).then(_in_group(_gather(f"_n{i}", q)))


def _ordered(frame: pl.LazyFrame, spec: FunnelSpec, ms: list[pl.Expr]) -> pl.LazyFrame:
    """Ordered and first-occurrence paths: step by step from the entry; an optional step
    is taken when it comes before the next required step's match; ``within`` limits the
    time from the previous step reached (docs/semantics.md, sections 4 and 5)."""
    k = len(spec.steps)
    frame = _entry(frame, spec, ms)
    hold = _hold_ok(spec)
    frame = frame.with_columns(
        *[_next(ms[i] & hold).alias(f"_n{i}") for i in range(k)],
        *[
            _next(_matches(x.events, x.where)).alias(f"_x{j}")
            for j, x in enumerate(spec.exclusions)
        ],
    )
    for i, step in enumerate(spec.steps):
        chain = pl.lit(None, pl.Int64)
        if i:
            prev = _prev_reached(spec, i)
            cand = _candidate(spec, i, prev)
            t = _gather("timestamp", cand)
            ok = _window_ok(t, spec)
            if step.within_s is not None:
                since = (t - _gather("timestamp", prev)).dt.total_microseconds()
                ok = ok & (since <= int(step.within_s * 1_000_000))
            for j, x in enumerate(spec.exclusions):
                a, b = x.between
                if a < i <= b:
                    pa = pl.col(f"_p{a}")
                    cut = _in_group(_gather(f"_x{j}", pa + 1))
                    ok = ok & (cut.is_null() | (cut >= cand) | (pa + 1 > pl.col("_gend")))
            if step.optional:  # skipped when the next required step comes first
                r = next(j for j in range(i + 1, k) if not spec.steps[j].optional)
                later = _candidate(spec, r, prev)
                ok = ok & (later.is_null() | (cand < later))
            chain = pl.when(ok).then(cand)
        p = pl.when(pl.col("_se") == i).then(pl.col("_pe")).when(pl.col("_se") < i).then(chain)
        frame = frame.with_columns(p.alias(f"_p{i}"))
    return frame


def _any_order(frame: pl.LazyFrame, spec: FunnelSpec, ms: list[pl.Expr]) -> pl.LazyFrame:
    k = len(spec.steps)
    any_step = pl.any_horizontal(ms)
    frame = frame.with_columns(
        pl.when(pl.col("_gfirst")).then(_in_group(_next(any_step))).alias("_pany"),
        pl.when(pl.col("_gfirst")).then(_in_group(_next(ms[0]))).alias("_pe"),
        pl.lit(0, pl.Int64).alias("_se"),
    )
    frame = frame.with_columns(
        _gather("timestamp", pl.col("_pany")).alias("_t_entry"),
        *[_gather(h, pl.col("_pe")).alias(f"_anchor_{h}") for h in spec.hold],
    )
    hold = _hold_ok(spec)
    frame = frame.with_columns(
        *[_next(ms[i] & (hold if i else pl.lit(True))).alias(f"_n{i}") for i in range(k)]
    )
    ok = pl.col("_pe").is_not_null()
    for i in range(k):
        first = pl.when(pl.col("_gfirst")).then(_in_group(pl.col(f"_n{i}")))
        ok = ok & first.is_not_null() & _window_ok(_gather("timestamp", first), spec)
        frame = frame.with_columns(pl.when(ok).then(first).alias(f"_p{i}"))
    return frame


def _path_times(spec: FunnelSpec) -> list[pl.Expr]:
    """at_<step>: time the path reached each step (any order: when all earlier were done)."""
    out, running = [], None
    for i, s in enumerate(spec.steps):
        t = _gather("timestamp", pl.col(f"_p{i}"))
        if spec.mode == "any_order":
            running = (
                t
                if running is None
                else pl.when(t.is_not_null()).then(pl.max_horizontal(running, t))
            )
            t = running
        out.append(t.alias(f"at_{s.name}"))
    return out


def _strict(frame: pl.LazyFrame, spec: FunnelSpec, ms: list[pl.Expr]) -> pl.LazyFrame:
    """Strict: the next event of the group must be the next step; best run per group."""
    k = len(spec.steps)
    mask = pl.sum_horizontal([m.cast(pl.Int64) * (1 << i) for i, m in enumerate(ms)])
    if spec.entry == "open":
        start = _lowest_match(ms)
    else:
        start = pl.when(ms[0]).then(pl.lit(0, pl.Int64))
    frame = frame.with_columns(
        mask.alias("_mask"), start.alias("_se"), pl.col("timestamp").alias("_t_entry")
    )
    ok, length = pl.col("_se").is_not_null(), pl.lit(1, pl.Int64)
    times = [pl.col("timestamp")]
    for i in range(1, k):
        step = pl.col("_se") + i
        same = pl.col("_g").shift(-i) == pl.col("_g")
        bit = ((pl.col("_mask").shift(-i) // (2 ** step.clip(0, 62))) % 2) == 1
        t_i = pl.col("timestamp").shift(-i)
        ok = ok & same.fill_null(False) & (step < k) & bit.fill_null(False) & _window_ok(t_i, spec)
        for h in spec.hold:
            ok = ok & (pl.col(h).shift(-i) == pl.col(h)).fill_null(False)
        length = length + ok.cast(pl.Int64)
        times.append(t_i)
    frame = frame.with_columns(
        (pl.col("_se") + length - 1).alias("_furthest"),
        pl.col("_session_end").alias("_exit_end0"),
        *[pl.col("_session_end").shift(-i).alias(f"_exit_end{i}") for i in range(1, k)],
        pl.col("_sid").alias("_exit_sid0"),
        *[pl.col("_sid").shift(-i).alias(f"_exit_sid{i}") for i in range(1, k)],
        pl.col("_row").alias("_exit_row0"),
        *[pl.col("_row").shift(-i).alias(f"_exit_row{i}") for i in range(1, k)],
        *[t.alias(f"_ts{i}") for i, t in enumerate(times)],
    )
    best = (
        frame.filter(pl.col("_se").is_not_null())
        .sort(["_g", "_furthest", "_pos"], descending=[False, True, False])
        .group_by("_g", maintain_order=True)
        .first()
    )
    at = []
    for j, s in enumerate(spec.steps):
        cases = [pl.when(pl.col("_se") + i == j).then(pl.col(f"_ts{i}")) for i in range(k)]
        reached = (pl.col("_se") <= j) & (pl.col("_furthest") >= j)
        at.append(pl.when(reached).then(pl.coalesce(cases)).alias(f"at_{s.name}"))

    def at_exit(col: str) -> pl.Expr:
        steps_on = pl.col("_furthest") - pl.col("_se")
        return pl.coalesce(
            [pl.when(steps_on == i).then(pl.col(f"{col}{i}")) for i in range(k)]
        ).alias(col)

    return best.with_columns(
        *at,
        at_exit("_exit_end"),
        at_exit("_exit_sid"),
        at_exit("_exit_row"),
        pl.col("_se").alias("_entry"),
    )


def match_paths(frame: pl.LazyFrame, spec: FunnelSpec) -> pl.LazyFrame:
    """One row per unit (session, or user) that entered the funnel, with its path.

    ``frame`` is the output of :func:`funnel.engine.sessionize.sessionize`. Never collects.
    """
    k = len(spec.steps)
    ms = match_exprs(spec)
    # the position of each row in ``frame``: the unit's exit row (_exit_row) is found by it
    frame = frame.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
    if spec.unit == "users" and spec.window_s is not None and spec.sessions.use_column:
        # rows were sorted by provided session first; a path across sessions needs time order
        frame = frame.sort("_uh", "user_id", "timestamp", "_k")
    frame = frame.with_columns(group_key(spec).alias("_g"))
    if spec.mode == "strict":
        out = _strict(_with_groups(frame), spec, ms)
    else:
        relevant = pl.any_horizontal([*ms, *[_matches(x.events, x.where) for x in spec.exclusions]])
        frame = _with_groups(frame.filter(relevant))
        frame = (
            _any_order(frame, spec, ms) if spec.mode == "any_order" else _ordered(frame, spec, ms)
        )
        # the furthest step reached is the last non-null position
        last = list(reversed(range(k)))
        furthest = pl.coalesce([pl.when(pl.col(f"_p{i}").is_not_null()).then(i) for i in last])
        frame = frame.with_columns(furthest.alias("_furthest"))
        entry_cols = [c for c in frame.collect_schema().names() if not c.startswith("_")]
        exit_pos = pl.coalesce([pl.col(f"_p{i}") for i in last])
        frame = frame.with_columns(
            *_path_times(spec),
            _gather("_session_end", exit_pos).alias("_exit_end"),
            _gather("_sid", exit_pos).alias("_exit_sid"),
            _gather("_row", exit_pos).alias("_exit_row"),
            pl.col("_se").alias("_entry"),
            # properties of the entry event, not of the group's first relevant row
            *[_gather(c, pl.col("_pe")).alias(c) for c in [*entry_cols, "_sid", "_session_start"]],
        )
        out = frame.filter(pl.col("_gfirst"))
    keep = ["_g", "_sid", "_entry", "_furthest", "_exit_end", "_exit_sid", "_exit_row"]
    keep.append("_session_start")
    names = out.collect_schema().names()
    props = [c for c in names if not c.startswith("_") and not c.startswith("at_")]
    at = [f"at_{s.name}" for s in spec.steps]
    return out.filter(pl.col("_furthest").is_not_null()).select(*keep, *at, *props)
