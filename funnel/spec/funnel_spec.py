"""Funnel specs: what a funnel is, as data (TOML), validated with errors that name the key.

A spec in TOML::

    name = "checkout"
    mode = "ordered"        # ordered | strict | any_order | first_occurrence
    window = "session"      # or a duration from entry, e.g. "2h"
    unit = "sessions"       # or "users"
    entry = "closed"        # or "open"
    hold = ["cart_id"]      # properties that must stay equal along the path
    currency = "EUR"        # shown with money (value at risk) in tables

    [sessions]
    timeout = "30m"
    max_length = "12h"      # optional
    use_column = false      # true: use the data's session_id column

    [columns]               # canonical -> source column
    user_id = "visitor"

    [[steps]]
    name = "cart"
    event = "add_to_cart"           # or a list of alternatives
    where = "value > 0"             # optional SQL condition (docs/conditions.md)
    # optional = true, within = "10m": funnel/spec/steps.py

    [[exclude]]
    event = "cart_cleared"
    between = ["cart", "purchase"]  # default: first and last step

``[experiment]`` (funnel/spec/experiment.py) names an experiment's arm column and split.
The semantics are written down in docs/semantics.md.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funnel.durations import parse_duration
from funnel.errors import SpecError, did_you_mean
from funnel.spec.conditions import Filter
from funnel.spec.experiment import Experiment, parse_experiment
from funnel.spec.names import name_tuples
from funnel.spec.steps import Exclusion, Step, check_keys, parse_exclusions, parse_steps
from funnel.spec.taxonomy import AttributionOptions, Cause, parse_attribution
from funnel.spec.toml_text import to_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Exclusion", "FunnelSpec", "SessionOptions", "Step"]

_TOP_KEYS = {
    "name",
    "mode",
    "window",
    "unit",
    "entry",
    "hold",
    "sessions",
    "columns",
    "steps",
    "exclude",
    "description",
    "causes",
    "attribution",
    "currency",
    "experiment",
}
_SESSION_KEYS = {"timeout", "max_length", "use_column"}
_CHOICES = {
    "mode": ("ordered", "strict", "any_order", "first_occurrence"),
    "unit": ("sessions", "users"),
    "entry": ("closed", "open"),
}


def _check_mode(
    mode: str, steps: list[Step], exclusions: list[Exclusion], opts: dict, hold: list
) -> None:
    """What each matching mode can take (docs/semantics.md, section 4)."""
    if mode in ("any_order", "first_occurrence") and (exclusions or opts.get("entry") == "open"):
        raise SpecError(
            f"mode: {mode} funnels take no exclusions and no open entry",
            hint='use mode = "ordered" for those',
        )
    if mode == "first_occurrence" and hold:
        raise SpecError(
            "hold: first_occurrence funnels take no hold (a step's first occurrence is fixed)",
            hint='use mode = "ordered" to hold properties along the path',
        )
    if mode in ("strict", "any_order"):
        for i, s in enumerate(steps):
            if s.optional or s.within_s is not None:
                key = "optional" if s.optional else "within"
                raise SpecError(
                    f"steps[{i}].{key}: {mode} funnels take no optional steps or step limits",
                    hint='use mode = "ordered" or "first_occurrence"',
                )


@dataclass(frozen=True, kw_only=True)
class SessionOptions:
    """How sessions are rebuilt. ``timeout_s`` of inactivity splits sessions (GA4: 30 min)."""

    timeout_s: float = 1800.0
    max_length_s: float | None = None
    use_column: bool = False


@dataclass(frozen=True, kw_only=True)
class FunnelSpec:
    """A validated funnel definition.

    >>> spec = FunnelSpec.from_dict({"steps": [{"name": "cart", "event": "add_to_cart"},
    ...                                        {"name": "buy", "event": "purchase"}]})
    >>> [s.name for s in spec.steps], spec.mode, spec.window_s
    (['cart', 'buy'], 'ordered', None)
    """

    name: str = "funnel"
    steps: tuple[Step, ...]
    mode: str = "ordered"
    window_s: float | None = None
    unit: str = "sessions"
    entry: str = "closed"
    hold: tuple[str, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    sessions: SessionOptions = field(default_factory=SessionOptions)
    columns: Mapping[str, str] = field(default_factory=dict)
    causes: tuple[Cause, ...] = ()
    attribution: AttributionOptions = field(default_factory=AttributionOptions)
    currency: str | None = None
    experiment: Experiment | None = None  # [experiment]: funnel/spec/experiment.py
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        name_tuples(self, "hold")

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def property_columns(self) -> set[str]:
        """Every property column the spec reads (filters and held properties)."""
        cols = set(self.hold)
        for part in (*self.steps, *self.exclusions):
            if part.where is not None:
                cols |= part.where.columns()
        return cols

    def conditions(self, *, causes: bool = True) -> list[Filter]:
        """Every ``where`` of the spec (steps, exclusions, and the causes' when asked)."""
        out = [p.where for p in (*self.steps, *self.exclusions) if p.where is not None]
        if causes:
            out += [f for c in self.causes for f in (c.where, c.unless_where) if f is not None]
        return out

    def cause_columns(self) -> set[str]:
        """Columns the causes read (optional for built-in causes) and attribution uses."""
        cols = {self.attribution.value, *self.attribution.drivers}
        for c in self.causes:
            cols |= c.columns()
        return cols

    @classmethod
    def from_toml(cls, path: str | Path) -> FunnelSpec:
        """Read and validate a spec file; errors name the file and the key."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError(f"{path}: spec file not found", hint="check the --spec path") from None
        except IsADirectoryError:
            raise SpecError(
                f"{path}: is a folder, not a spec file", hint="give the .toml file"
            ) from None
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start : exc.start + 1]
            raise SpecError(
                f"{path}: not UTF-8 text (byte {exc.start}: {bad!r})",
                hint="save the spec as UTF-8 (TOML files are UTF-8)",
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(
                f"{path}: not valid TOML: {exc}", hint="check quoting and brackets"
            ) from None
        try:
            return cls.from_dict(data)
        except SpecError as exc:
            raise SpecError(f"{path}: {exc.message}", hint=exc.hint) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FunnelSpec:
        """Validate a spec given as plain data (the parsed TOML)."""
        check_keys(data, _TOP_KEYS, "")
        opts: dict[str, Any] = {}
        for key, choices in _CHOICES.items():
            if key in data:
                if data[key] not in choices:
                    raise SpecError(
                        f"{key}: {data[key]!r} is not one of {', '.join(choices)}",
                        hint=did_you_mean(str(data[key]), choices),
                    )
                opts[key] = data[key]
        if "currency" in data:
            cur = data["currency"]
            if not isinstance(cur, str) or not 0 < len(cur.strip()) <= 8:
                raise SpecError(
                    f"currency: {cur!r} is not a currency",
                    hint='a code or symbol, e.g. currency = "EUR"',
                )
            opts["currency"] = cur.strip()
        if "experiment" in data:
            opts["experiment"] = parse_experiment(data["experiment"])
        window = data.get("window", "session")
        opts["window_s"] = None if window == "session" else parse_duration(window, key="window")
        if opts["window_s"] is not None and opts["window_s"] <= 0:
            raise SpecError("window: must be positive", hint='e.g. window = "2h" or "session"')
        steps = parse_steps(data.get("steps"))
        names = [s.name for s in steps]
        exclusions = parse_exclusions(data.get("exclude", []), steps)
        hold = data.get("hold", [])
        hold = [hold] if isinstance(hold, str) else hold
        if not isinstance(hold, list) or not all(isinstance(h, str) for h in hold):
            raise SpecError("hold: expected a list of property names", hint='hold = ["cart_id"]')
        sess = data.get("sessions", {})
        check_keys(sess, _SESSION_KEYS, "sessions.")
        sessions = SessionOptions(
            timeout_s=parse_duration(sess.get("timeout", "30m"), key="sessions.timeout"),
            max_length_s=(
                parse_duration(sess["max_length"], key="sessions.max_length")
                if "max_length" in sess
                else None
            ),
            use_column=bool(sess.get("use_column", False)),
        )
        if sessions.timeout_s <= 0:
            raise SpecError("sessions.timeout: must be positive", hint='e.g. timeout = "30m"')
        columns = data.get("columns", {})
        if not isinstance(columns, Mapping):
            raise SpecError("columns: expected a table", hint='[columns] user_id = "visitor"')
        _check_mode(opts.get("mode", "ordered"), steps, exclusions, opts, hold)
        causes, attribution = parse_attribution(data, names, [s.events for s in steps])
        return cls(
            name=str(data.get("name", "funnel")),
            causes=causes,
            attribution=attribution,
            steps=tuple(steps),
            hold=tuple(hold),
            exclusions=tuple(exclusions),
            sessions=sessions,
            columns=dict(columns),
            source=dict(data),
            **opts,
        )

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (JSON-ready)."""
        return (
            {
                "name": self.name,
                "mode": self.mode,
                "window_s": self.window_s,
                "unit": self.unit,
                "entry": self.entry,
                "hold": list(self.hold),
                "steps": [s.to_dict() for s in self.steps],
                "exclude": [
                    {"event": list(e.events), "between": [self.steps[i].name for i in e.between]}
                    | ({"where": e.where.text} if e.where else {})
                    for e in self.exclusions
                ],
                "sessions": {
                    "timeout_s": self.sessions.timeout_s,
                    "max_length_s": self.sessions.max_length_s,
                    "use_column": self.sessions.use_column,
                },
                "causes": [c.to_dict(self.step_names) for c in self.causes],
                "attribution": {
                    "value": self.attribution.value,
                    "drivers": list(self.attribution.drivers),
                    "min_units": self.attribution.min_units,
                    "page": self.attribution.page,
                    "return_within_s": self.attribution.return_within_s,
                },
            }
            | ({"currency": self.currency} if self.currency else {})
            | ({"experiment": self.experiment.to_dict()} if self.experiment else {})
        )

    def to_toml(self) -> str:
        """The spec as TOML: as it was written (without comments), or from its data."""
        return to_toml(self.source) if self.source else to_toml(self.to_dict())
