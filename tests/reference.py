"""A naive, independent reference of the engine, in plain Python over a handful of events.

It follows the written semantics (docs/semantics.md) directly: loops over users, sessions
and candidate events, which is exactly what the engine must not do. The only thing it
borrows is the documented arbitrary tie-breaker (the content hash), given per row.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

from funnel.spec.funnel_spec import FunnelSpec
from tests.reference_conditions import holds

CANON = ("user_id", "timestamp", "event")


def _matches(row: dict, events: tuple[str, ...], where) -> bool:
    return row["event"] in events and (where is None or holds(where.text, row))


def _step_match(row: dict, spec: FunnelSpec, k: int) -> bool:
    return _matches(row, spec.steps[k].events, spec.steps[k].where)


def _rank(row: dict, spec: FunnelSpec) -> int:
    for k in range(len(spec.steps)):
        if _step_match(row, spec, k):
            return k
    return len(spec.steps)


def ledger(rows: list[dict], now: dt.datetime, floor: dt.datetime) -> dict[str, Any]:
    """Reasons in priority order; duplicates = identical rows beyond the first."""
    out: dict[str, Any] = {"rejected": defaultdict(int), "duplicates": 0, "used": 0}
    seen = set()
    for row in rows:
        if row["user_id"] in (None, ""):
            out["rejected"]["null_user"] += 1
        elif row["event"] in (None, ""):
            out["rejected"]["null_event"] += 1
        elif row["timestamp"] is None:
            out["rejected"]["bad_timestamp"] += 1
        elif row["timestamp"] > now:
            out["rejected"]["future_timestamp"] += 1
        elif row["timestamp"] < floor:
            out["rejected"]["before_floor"] += 1
        else:
            key = tuple(sorted((k, v) for k, v in row.items() if k != "_tie"))
            if key in seen:
                out["duplicates"] += 1
            else:
                seen.add(key)
                out["used"] += 1
    return out


def clean(rows: list[dict], now: dt.datetime, floor: dt.datetime) -> list[dict]:
    kept, seen = [], set()
    for row in rows:
        if row["user_id"] in (None, "") or row["event"] in (None, "") or row["timestamp"] is None:
            continue
        if not (floor <= row["timestamp"] <= now):
            continue
        key = tuple(sorted((k, v) for k, v in row.items() if k != "_tie"))
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def sessions(rows: list[dict], spec: FunnelSpec) -> list[list[dict]]:
    """Sessions as lists of rows in order; each row gets ``_start`` and ``_end``."""
    by_user: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_user[r["user_id"]].append(r)
    opts = spec.sessions
    out = []
    for user in sorted(by_user):
        evs = sorted(by_user[user], key=lambda r: (r["timestamp"], _rank(r, spec), r["_tie"]))
        buckets: list[list[dict]] = []
        if opts.use_column:
            provided: dict[str, list[dict]] = defaultdict(list)
            for r in evs:
                if r.get("session_id") is not None:
                    provided[r["session_id"]].append(r)
            buckets = [provided[k] for k in sorted(provided)]
            evs = [r for r in evs if r.get("session_id") is None]
        current: list[dict] = []
        for r in evs:
            gap = (r["timestamp"] - current[-1]["timestamp"]).total_seconds() if current else 0
            if current and gap > opts.timeout_s:
                buckets.append(current)
                current = []
            current.append(r)
        if current:
            buckets.append(current)
        for b in buckets:
            if opts.max_length_s is None:
                pieces = [b]
            else:
                chunks: dict[int, list[dict]] = defaultdict(list)
                for r in b:
                    secs = (r["timestamp"] - b[0]["timestamp"]) / dt.timedelta(microseconds=1)
                    chunks[int(secs // int(opts.max_length_s * 1e6))].append(r)
                pieces = [chunks[c] for c in sorted(chunks)]
            for i, p in enumerate(pieces):
                given = p[0].get("session_id") if opts.use_column else None
                for r in p:
                    r["_start"], r["_end"] = p[0]["timestamp"], p[-1]["timestamp"]
                    r["_given"] = given  # the provided id: sessions are ordered by it
                    # later pieces of a provided session carry their start: ids stay unique
                    r["_sess"] = (
                        f"{given}/{p[0]['timestamp'].strftime('%Y%m%dT%H%M%S.%fZ')}"
                        if given is not None and i > 0
                        else given
                    )
                out.append(p)
    return out


def _eq(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a == b


def _within(spec: FunnelSpec, t0: dt.datetime, t: dt.datetime) -> bool:
    return spec.window_s is None or (t - t0).total_seconds() <= spec.window_s


def _path_ordered(g: list[dict], spec: FunnelSpec) -> dict[int, int] | None:
    k = len(spec.steps)
    entry = None
    for i, r in enumerate(g):
        steps = [s for s in range(k) if _step_match(r, spec, s)]
        if steps and (spec.entry == "open" or steps[0] == 0):
            entry = (i, steps[0] if spec.entry == "open" else 0)
            break
    if entry is None:
        return None
    pos = {entry[1]: entry[0]}
    last = entry[0]  # the row of the last step reached
    t0, row0 = g[entry[0]]["timestamp"], g[entry[0]]
    held = lambda r: all(_eq(r.get(h), row0.get(h)) for h in spec.hold)  # noqa: E731
    for s in range(entry[1] + 1, k):
        found = None
        limit = spec.steps[s].within_s
        for j in range(last + 1, len(g)):
            r = g[j]
            if not _step_match(r, spec, s) or not _within(spec, t0, r["timestamp"]):
                continue
            if not held(r):
                continue
            if (
                limit is not None
                and (r["timestamp"] - g[last]["timestamp"]).total_seconds() > limit
            ):
                continue
            blocked = False
            for x in spec.exclusions:
                a, b = x.between
                if a < s <= b and a in pos:
                    if any(_matches(g[m], x.events, x.where) for m in range(pos[a] + 1, j)):
                        blocked = True
            if blocked:
                continue
            found = j
            break
        if spec.steps[s].optional:
            # skipped when the next required step's next (held) event comes first
            req = next(m for m in range(s + 1, k) if not spec.steps[m].optional)
            rival = next(
                (j for j in range(last + 1, len(g)) if _step_match(g[j], spec, req) and held(g[j])),
                None,
            )
            if found is not None and (rival is None or found < rival):
                pos[s], last = found, found
            continue
        if found is None:
            break
        pos[s], last = found, found
    return pos


def _path_first(g: list[dict], spec: FunnelSpec) -> dict[int, int] | None:
    """first_occurrence: each step at its first occurrence in the group, after the step
    reached before it; optional steps and limits as in ordered."""
    k = len(spec.steps)
    first = {}
    for s in range(k):
        first[s] = next((j for j, r in enumerate(g) if _step_match(r, spec, s)), None)
    if first[0] is None:
        return None
    pos, last = {0: first[0]}, first[0]
    t0 = g[first[0]]["timestamp"]

    def ok(s: int, j: int | None) -> bool:
        if j is None or j <= last or not _within(spec, t0, g[j]["timestamp"]):
            return False
        limit = spec.steps[s].within_s
        return limit is None or (g[j]["timestamp"] - g[last]["timestamp"]).total_seconds() <= limit

    for s in range(1, k):
        if spec.steps[s].optional:
            req = next(m for m in range(s + 1, k) if not spec.steps[m].optional)
            rival = first[req] if first[req] is not None and first[req] > last else None
            if ok(s, first[s]) and (rival is None or first[s] < rival):
                pos[s], last = first[s], first[s]
            continue
        if not ok(s, first[s]):
            break
        pos[s], last = first[s], first[s]
    return pos


def _path_any(g: list[dict], spec: FunnelSpec) -> dict[int, int] | None:
    first_any = next(
        (
            i
            for i, r in enumerate(g)
            if any(_step_match(r, spec, s) for s in range(len(spec.steps)))
        ),
        None,
    )
    entry = next((i for i, r in enumerate(g) if _step_match(r, spec, 0)), None)
    if entry is None:
        return None
    t0, row0 = g[first_any]["timestamp"], g[entry]
    pos = {}
    for s in range(len(spec.steps)):
        f = next(
            (
                i
                for i, r in enumerate(g)
                if _step_match(r, spec, s)
                and (s == 0 or all(_eq(r.get(h), row0.get(h)) for h in spec.hold))
            ),
            None,
        )
        if f is None or not _within(spec, t0, g[f]["timestamp"]):
            break
        pos[s] = f
    return pos or None


def _path_strict(g: list[dict], spec: FunnelSpec) -> dict[int, int] | None:
    k, best = len(spec.steps), None
    for r0, row in enumerate(g):
        steps = [s for s in range(k) if _step_match(row, spec, s)]
        if not steps or (spec.entry == "closed" and steps[0] != 0):
            continue
        s0 = steps[0]
        pos = {s0: r0}
        i = 1
        while s0 + i < k and r0 + i < len(g):
            nxt = g[r0 + i]
            if not _step_match(nxt, spec, s0 + i) or not _within(
                spec, row["timestamp"], nxt["timestamp"]
            ):
                break
            if not all(_eq(nxt.get(h), row.get(h)) for h in spec.hold):
                break
            pos[s0 + i] = r0 + i
            i += 1
        if best is None or max(pos) > max(best):
            best = pos
    return best


def _user_sessions(sess: list[list[dict]], user: str) -> list[list[dict]]:
    """The user's sessions in the engine's session order: rows without a provided session
    id (cut by time) first, then provided ids in order."""
    mine = [s for s in sess if s[0]["user_id"] == user]
    mine.sort(key=lambda s: (s[0]["_given"] is not None, s[0]["_given"] or "", s[0]["_start"]))
    return mine


def _span(sess: list[list[dict]], first: list[dict], last: list[dict]) -> list[dict]:
    """Rows of the user's sessions from ``first`` to ``last`` (or back), in the engine's
    session order."""
    mine = _user_sessions(sess, first[0]["user_id"])
    ids = [id(s) for s in mine]
    a, b = sorted((ids.index(id(first)), ids.index(id(last))))  # either may come first
    return [r for s in mine[a : b + 1] for r in s]


def _later(sess: list[list[dict]], session: list[dict]) -> list[list[dict]]:
    """The user's sessions after ``session``, in the engine's session order."""
    mine = _user_sessions(sess, session[0]["user_id"])
    return mine[[id(s) for s in mine].index(id(session)) + 1 :]


def units(rows: list[dict], spec: FunnelSpec, internals: bool = False) -> list[dict]:
    """The per-unit table, as dicts, sorted like the engine's.

    ``internals`` adds ``_group`` (the unit's rows), ``_exit_session`` (rows of the session
    where the path stopped), ``_furthest`` (step index), ``_span`` (the rows of the
    sessions from entry to exit), ``_exit_index`` (the exit row's index in its session) and
    ``_later_sessions`` (the user's sessions after it), for the causes reference.
    """
    sess = sessions(rows, spec)
    session_of = {id(r): s for s in sess for r in s}
    if spec.unit == "users" and spec.window_s is not None:
        groups: dict[str, list[dict]] = defaultdict(list)
        for s in sess:
            groups[s[0]["user_id"]].extend(s)
        # a path across sessions follows time, whatever the sessions are
        group_list = [
            sorted(groups[u], key=lambda r: (r["timestamp"], _rank(r, spec), r["_tie"]))
            for u in sorted(groups)
        ]
    else:
        group_list = sess
    k = len(spec.steps)
    names = spec.step_names
    finder = {
        "ordered": _path_ordered,
        "any_order": _path_any,
        "strict": _path_strict,
        "first_occurrence": _path_first,
    }[spec.mode]
    out = []
    for g in group_list:
        pos = finder(g, spec)
        if not pos:
            continue
        entry, furthest = min(pos), max(pos)
        at = {n: None for n in names}
        running = None
        for s in range(entry, furthest + 1):
            if s not in pos:  # an optional step skipped
                continue
            t = g[pos[s]]["timestamp"]
            running = t if running is None or spec.mode != "any_order" else max(running, t)
            at[names[s]] = running
        erow = g[pos[entry]]
        label = (
            erow["_sess"]
            if erow.get("_sess") is not None
            else (erow["_start"].strftime("%Y%m%dT%H%M%S.%fZ"))
        )
        converted = furthest == k - 1
        exit_row = g[pos[furthest]]
        out.append(
            {
                "user_id": erow["user_id"],
                "session_id": f"{erow['user_id']}/{label}",
                "entry_step": names[entry],
                "furthest_step": names[furthest],
                "converted": converted,
                "entered_at": at[names[entry]],
                **{f"at_{n}": at[n] for n in names},
                "time_to_convert_s": (at[names[-1]] - at[names[entry]]).total_seconds()
                if converted
                else None,
                "time_at_exit_s": None
                if converted
                else (exit_row["_end"] - at[names[furthest]]).total_seconds(),
                "last_event_at": exit_row["_end"],
            }
            | (
                {
                    "_group": g,
                    "_exit_session": session_of[id(exit_row)],
                    "_furthest": furthest,
                    "_span": _span(sess, session_of[id(erow)], session_of[id(exit_row)]),
                    "_exit_index": next(
                        i for i, r in enumerate(session_of[id(exit_row)]) if r is exit_row
                    ),
                    "_later_sessions": _later(sess, session_of[id(exit_row)]),
                }
                if internals
                else {}
            )
        )
    if spec.unit == "users" and spec.window_s is None:
        best: dict[str, dict] = {}
        for u in out:
            key = (-names.index(u["furthest_step"]), u["entered_at"], u["session_id"])
            cur = best.get(u["user_id"])
            if cur is None or key < (
                -names.index(cur["furthest_step"]),
                cur["entered_at"],
                cur["session_id"],
            ):
                best[u["user_id"]] = u
        out = list(best.values())
    return sorted(out, key=lambda u: (u["entered_at"], u["user_id"], u["session_id"]))


def split_censored(
    us: list[dict], rows: list[dict], spec: FunnelSpec, censor: str | None
) -> tuple[list[dict], list[dict]]:
    """(kept, censored) units: censored when the unit's last event (the end of the session
    where its path stopped) is within the horizon of the last used event of ``rows``.
    ``censor``: "auto" (the timeout; for users over a window the larger of window and
    timeout), a number of seconds, or None."""
    if censor is None or not rows:
        return us, []
    if censor == "auto":
        horizon = spec.sessions.timeout_s
        if spec.unit == "users" and spec.window_s is not None:
            horizon = max(horizon, spec.window_s)
    else:
        horizon = float(censor)
    end = max(r["timestamp"] for r in rows)
    late = [(end - u["last_event_at"]).total_seconds() <= horizon for u in us]
    kept = [u for u, x in zip(us, late, strict=True) if not x]
    return kept, [u for u, x in zip(us, late, strict=True) if x]


def quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    v = sorted(values)
    h = (len(v) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (h - lo) * (v[hi] - v[lo])


def step_counts(us: list[dict], spec: FunnelSpec) -> list[tuple[int, int | None]]:
    names = spec.step_names
    out = []
    for i, n in enumerate(names):
        entered = sum(u[f"at_{n}"] is not None for u in us)
        # went further: reached any later step (an optional next step may be skipped)
        nxt = (
            None
            if i + 1 == len(names)
            else sum(
                u[f"at_{n}"] is not None and any(u[f"at_{m}"] is not None for m in names[i + 1 :])
                for u in us
            )
        )
        out.append((entered, nxt))
    return out
