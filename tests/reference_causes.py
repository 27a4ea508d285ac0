"""A naive reference of cause attribution (docs/causes.md), in plain Python per unit.

Works on the units of :func:`tests.reference.units` with ``internals=True``: loops over
abandoned units, their exit session's rows and every cause, as the engine must not.
"""

from __future__ import annotations

import datetime as dt
import math

from funnel.spec.funnel_spec import FunnelSpec
from funnel.spec.taxonomy import UNEXPLAINED, Cause
from tests.reference_conditions import holds


def _named(event: str, names: tuple[str, ...]) -> bool:
    """A name, a prefix ending in '*', or '*' (docs/causes.md)."""
    return any(event.startswith(n[:-1]) if n.endswith("*") else event == n for n in names)


def _is(row: dict, events: tuple[str, ...], where) -> bool:
    return _named(row["event"], events) and (where is None or holds(where.text, row))


def _holds_at(rows: list[dict], i: int, c: Cause, session: list) -> bool:
    """Row ``i`` is one of ``c``'s events and meets its ``where``, with its earlier values
    taken from the rows before it in its session (docs/causes.md)."""
    r = rows[i]
    if not _named(r["event"], c.events):
        return False
    row = dict(r)
    before = [x for j, x in enumerate(rows[:i]) if session[j] == session[i]]
    for e in c.earlier:
        found = [
            x[e.column]
            for x in before
            if _named(x["event"], e.events) and x.get(e.column) is not None
        ]
        row[e.name] = (found[0] if e.take == "first" else found[-1]) if found else None
    return c.where is None or holds(c.where.text, row)


def _shaped(rows: list[dict], i: int, c: Cause, session: list) -> bool:
    """Row ``i`` is evidence-shaped for ``c``: it holds (:func:`_holds_at`), and so do the
    ``in_a_row - 1`` rows of ``c``'s events before it in its session."""
    if not _holds_at(rows, i, c, session):
        return False
    if c.in_a_row == 1:
        return True
    prior = [j for j in range(i) if session[j] == session[i] and _named(rows[j]["event"], c.events)]
    need = prior[len(prior) - (c.in_a_row - 1) :]
    return len(need) == c.in_a_row - 1 and all(_holds_at(rows, j, c, session) for j in need)


def _cancellable(cause: Cause) -> bool:
    return bool(cause.unless_events) or cause.unless_where is not None


def _cancels(row: dict, cause: Cause) -> bool:
    if not cause.unless_events and cause.unless_where is None:
        return False
    ok_event = not cause.unless_events or _named(row["event"], cause.unless_events)
    return ok_event and (cause.unless_where is None or holds(cause.unless_where.text, row))


def attribute(units: list[dict], spec: FunnelSpec) -> dict[str, dict]:
    """session_id -> {primary_cause, causes, cart_value, evidence: {cause: (event, left)}}."""
    out = {}
    for u in units:
        if u["converted"]:
            continue
        rows = u["_exit_session"]
        n, end = len(rows), rows[-1]["timestamp"]
        one = [0] * n  # one session
        found = []
        evidence = {}
        for c in spec.causes:
            best, count = None, 0
            for i, r in enumerate(rows):
                left = n - 1 - i
                if not _shaped(rows, i, c, one) or left >= c.within_events:
                    continue
                if (end - r["timestamp"]).total_seconds() > c.within_s:
                    continue
                if c.exit_at is not None and not (
                    u["_furthest"] in c.exit_at or rows[-1]["event"] in c.exit_events
                ):
                    continue
                if any(_cancels(rows[j], c) for j in range(i + 1, n)):
                    continue
                count += 1
                if best is None or left < best[1]:
                    best = (r["event"], left, r["timestamp"])
            if best is not None and count >= c.min_count:
                evidence[c.name] = best[:2]
                specific = (c.where is not None) + (c.exit_at is not None) + _cancellable(c)
                specific += (c.min_count > 1) + (c.in_a_row > 1)
                found.append((best[1], -specific, c.priority, c.name, best[2]))
        found.sort()
        values = [r.get(spec.attribution.value) for r in rows]
        positive = [v for v in values if v is not None and v > 0]
        out[u["session_id"]] = {
            "primary_cause": found[0][3] if found else UNEXPLAINED,
            "causes": ",".join(f[3] for f in found),
            "cart_value": float(positive[-1]) if positive else None,
            "evidence": evidence,
            "decided_at": found[0][4] if found else None,
        }
    return out


def _bin(micros: float) -> int:
    """Delay bins of the exposure comparison: 0 under a second, then 25% wide."""
    secs = micros / 1_000_000
    return 0 if secs < 1 else min(127, math.floor(math.log(secs) / math.log(1.25)) + 1)


def _first_exposure(u: dict, c: Cause, spec: FunnelSpec) -> dt.datetime | None:
    """The time of the ``min_count``-th evidence-shaped row of ``c`` in the unit's rows
    between entry and exit (abandoned: the exit session's end; converted: when it
    converted) that no later row of its session cancels."""
    rows = u["_group"]
    cut = u[f"at_{spec.step_names[-1]}"] if u["converted"] else u["last_event_at"]
    session = [(r["user_id"], r.get("_given"), r["_start"]) for r in rows]
    live = []
    for i, r in enumerate(rows):
        if not _shaped(rows, i, c, session) or not u["entered_at"] <= r["timestamp"] <= cut:
            continue
        later = [rows[j] for j in range(i + 1, len(rows)) if session[j] == session[i]]
        if not any(_cancels(x, c) for x in later):
            live.append(r["timestamp"])
    live.sort()  # repetition: the min_count-th of them
    return live[c.min_count - 1] if len(live) >= c.min_count else None


def _met_without_problem(u: dict, c: Cause, spec: FunnelSpec, left_at: dt.datetime) -> set:
    """The steps in which the unit had a row of ``c``'s events that is not evidence-shaped,
    between its entry and ``left_at``: the furthest step reached at that row, from the
    cause's exposed_from on."""
    rows, names = u["_group"], spec.step_names
    session = [(r["user_id"], r.get("_given"), r["_start"]) for r in rows]
    steps = set()
    for i, r in enumerate(rows):
        t = r["timestamp"]
        if not _named(r["event"], c.events) or _shaped(rows, i, c, session):
            continue
        if not u["entered_at"] <= t <= left_at:
            continue
        reached = [j for j, n in enumerate(names) if u[f"at_{n}"] is not None and u[f"at_{n}"] <= t]
        if reached and max(reached) >= c.exposed_from:
            steps.add(max(reached))
    return steps


def _exposure_at(u: dict, c: Cause, spec: FunnelSpec) -> tuple[int, int] | None:
    """(stratum, delay bin) of the unit's exposure to ``c``, None when not exposed."""
    t = _first_exposure(u, c, spec)
    if t is None:
        return None
    names = spec.step_names
    reached = [j for j, n in enumerate(names) if u[f"at_{n}"] is not None]
    s = max([c.exposed_from] + [j for j in reached if u[f"at_{names[j]}"] <= t])
    if u[f"at_{names[s]}"] is None:  # it never reached exposed_from: no exposure code
        return None
    return s, _bin(max(0, (t - u[f"at_{names[s]}"]) / dt.timedelta(microseconds=1)))


def _orders(units: list[dict], spec: FunnelSpec) -> dict[tuple[int, str, str], int]:
    """(step, j, k) -> +1 when, among units exposed to both causes in that step, j's
    exposure came in a later delay bin than k's more often than in an earlier one; -1 the
    other way; absent when neither."""
    tally: dict[tuple[int, str, str], int] = {}
    for u in units:
        seen = {c.name: _exposure_at(u, c, spec) for c in spec.causes}
        for j, ej in seen.items():
            for k, ek in seen.items():
                if j != k and ej and ek and ej[0] == ek[0] and ej[1] != ek[1]:
                    key = (ej[0], j, k)
                    tally[key] = tally.get(key, 0) + (1 if ej[1] > ek[1] else -1)
    return {key: (v > 0) - (v < 0) for key, v in tally.items() if v}


def exposure(
    units: list[dict],
    spec: FunnelSpec,
    decided: dict[str, dt.datetime | None],
    primary: dict[str, str],
) -> dict[str, tuple[int, int, int, int, float | None]]:
    """cause -> (exposed, exposed abandoned, unexposed, unexposed abandoned, expected
    abandoned), among units that reached the cause's exposed_from step. ``decided``:
    session_id -> when the unit's primary cause's evidence happened (abandoned units);
    ``primary``: session_id -> the primary cause (abandoned units)."""
    names = spec.step_names
    micros = dt.timedelta(microseconds=1)
    by_name = {c.name: c for c in spec.causes}
    orders = _orders(units, spec)
    out = {}
    for c in spec.causes:
        pop = [u for u in units if u[f"at_{names[c.exposed_from]}"] is not None]
        met = {}  # session_id -> steps where it met the cause's event without the problem
        for u in pop:
            cut = u[f"at_{names[-1]}"] if u["converted"] else u["last_event_at"]
            met[u["session_id"]] = _met_without_problem(
                u, c, spec, decided.get(u["session_id"]) or cut
            )
        exposed, unexposed = [], []
        for u in pop:
            at = _exposure_at(u, c, spec)
            if at is None:
                unexposed.append(u)
            else:
                exposed.append((u, *at))
        expected = 0.0
        for u, s, b in exposed:
            peers = []
            there = [v for v in unexposed if v[f"at_{names[s]}"] is not None]
            matching = any(s in met[v["session_id"]] for v in there)
            for v in there:
                reached = [j for j, n in enumerate(names) if v[f"at_{n}"] is not None]
                if matching and s not in met[v["session_id"]]:
                    continue
                f = max(reached)
                if f > s:
                    peers.append(v)
                    continue
                # left in this step for another cause: was it past this one's point?
                other = by_name.get(primary.get(v["session_id"], ""))
                own = _exposure_at(v, other, spec) if other else None
                order = orders.get((s, other.name, c.name), 0) if own and own[0] == s else 0
                left_at = decided.get(v["session_id"]) or v["last_event_at"]
                if order > 0 or (
                    order == 0 and _bin((left_at - v[f"at_{names[f]}"]) / micros) >= b
                ):
                    peers.append(v)
            if peers:
                expected += sum(not v["converted"] for v in peers) / len(peers)
            else:
                expected += not u["converted"]
        a = sum(not u["converted"] for u, _, _ in exposed)
        cc = sum(not v["converted"] for v in unexposed)
        out[c.name] = (len(exposed), a, len(unexposed), cc, expected if exposed and a else None)
    return out


def feature_counts(units: list[dict], spec: FunnelSpec) -> dict[str, tuple[int, int, int]]:
    """feature -> (abandoned units with it, converted units with it, abandoned units with it
    on a row before their last event): non-step events and non-null driver values (as
    text) seen in the sessions from a unit's entry to its exit."""
    step_events = {e for s in spec.steps for e in s.events}
    counts: dict[str, list[int]] = {}
    for u in units:
        seen, before = set(), set()
        last = u["_exit_session"][-1]
        for r in u["_span"]:
            found = [f"event={r['event']}"] if r["event"] not in step_events else []
            found += [f"{c}={r[c]}" for c in spec.attribution.drivers if r.get(c) is not None]
            seen.update(found)
            if r is not last:
                before.update(found)
        for f in seen:
            row = counts.setdefault(f, [0, 0, 0])
            row[u["converted"]] += 1
            row[2] += not u["converted"] and f in before
    return {f: tuple(v) for f, v in counts.items()}


def after_exit(units: list[dict], spec: FunnelSpec) -> dict[str, tuple]:
    """session_id -> (path after the exit, next session's start, first purchase in a later
    session) of abandoned units (docs/causes.md, "After the exit")."""
    last = spec.steps[-1]
    page = spec.attribution.page
    out = {}
    for u in units:
        if u["converted"]:
            continue
        rows = u["_exit_session"][u["_exit_index"] + 1 : u["_exit_index"] + 4]
        labels = [r["event"] if r.get(page) is None else f"{r['event']} {r[page]}" for r in rows]
        later = u["_later_sessions"]
        buys = [r["timestamp"] for s in later for r in s if _is(r, last.events, last.where)]
        out[u["session_id"]] = (
            " > ".join(labels) or "(session ended)",
            later[0][0]["timestamp"] if later else None,
            buys[0] if buys else None,
        )
    return out
