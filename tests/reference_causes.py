"""A naive reference of cause attribution (docs/causes.md), in plain Python per unit.

Works on the units of :func:`tests.reference.units` with ``internals=True``: loops over
abandoned units, their exit session's rows and every cause, as the engine must not.
"""

from __future__ import annotations

from funnel.spec.funnel_spec import FunnelSpec
from funnel.spec.taxonomy import UNEXPLAINED, Cause
from tests.reference_conditions import holds


def _is(row: dict, events: tuple[str, ...], where) -> bool:
    return row["event"] in events and (where is None or holds(where.text, row))


def _cancels(row: dict, cause: Cause) -> bool:
    if not cause.unless_events and cause.unless_where is None:
        return False
    ok_event = not cause.unless_events or row["event"] in cause.unless_events
    return ok_event and (cause.unless_where is None or holds(cause.unless_where.text, row))


def attribute(units: list[dict], spec: FunnelSpec) -> dict[str, dict]:
    """session_id -> {primary_cause, causes, cart_value, evidence: {cause: (event, left)}}."""
    out = {}
    for u in units:
        if u["converted"]:
            continue
        rows = u["_exit_session"]
        n, end = len(rows), rows[-1]["timestamp"]
        found = []
        evidence = {}
        for c in spec.causes:
            best = None
            for i, r in enumerate(rows):
                left = n - 1 - i
                if not _is(r, c.events, c.where) or left >= c.within_events:
                    continue
                if (end - r["timestamp"]).total_seconds() > c.within_s:
                    continue
                if c.exit_at is not None and u["_furthest"] not in c.exit_at:
                    continue
                if any(_cancels(rows[j], c) for j in range(i + 1, n)):
                    continue
                if best is None or left < best[1]:
                    best = (r["event"], left)
            if best is not None:
                evidence[c.name] = best
                found.append((best[1], c.priority, c.name))
        found.sort()
        values = [r.get(spec.attribution.value) for r in rows]
        positive = [v for v in values if v is not None and v > 0]
        out[u["session_id"]] = {
            "primary_cause": found[0][2] if found else UNEXPLAINED,
            "causes": ",".join(f[2] for f in found),
            "cart_value": float(positive[-1]) if positive else None,
            "evidence": evidence,
        }
    return out


def exposure(units: list[dict], spec: FunnelSpec) -> dict[str, tuple[int, int, int, int]]:
    """cause -> (exposed, exposed abandoned, unexposed, unexposed abandoned)."""
    out = {}
    for c in spec.causes:
        step = spec.step_names[c.exposed_from]
        n1 = a = n0 = cc = 0
        for u in units:
            if u[f"at_{step}"] is None:
                continue
            end = u["_exit_session"][-1]["timestamp"]
            hit = any(
                _is(r, c.events, c.where) and u["entered_at"] <= r["timestamp"] <= end
                for r in u["_group"]
            )
            if hit:
                n1, a = n1 + 1, a + (not u["converted"])
            else:
                n0, cc = n0 + 1, cc + (not u["converted"])
        out[c.name] = (n1, a, n0, cc)
    return out


def feature_counts(units: list[dict], spec: FunnelSpec) -> dict[str, tuple[int, int]]:
    """feature -> (abandoned units with it, converted units with it): non-step events and
    non-null driver values (as text) seen in the sessions from a unit's entry to its exit."""
    step_events = {e for s in spec.steps for e in s.events}
    counts: dict[str, list[int]] = {}
    for u in units:
        seen = set()
        for r in u["_span"]:
            if r["event"] not in step_events:
                seen.add(f"event={r['event']}")
            for col in spec.attribution.drivers:
                if r.get(col) is not None:
                    seen.add(f"{col}={r[col]}")
        for f in seen:
            counts.setdefault(f, [0, 0])[u["converted"]] += 1
    return {f: (a, c) for f, (a, c) in counts.items()}
