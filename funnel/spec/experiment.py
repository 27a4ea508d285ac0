"""``[experiment]``: a spec declares which column holds the arms of an experiment, and its
split; comparing those arms then checks the sample ratio (segments are not checked).

    [experiment]
    arm = "experiment_arm"
    split = { A = 50, B = 50 }   # optional: equal shares by default
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from funnel.errors import SpecError, did_you_mean

__all__ = ["Experiment", "parse_experiment"]


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """The arm column of an experiment and its expected share per arm (None: equal)."""

    arm: str
    split: Mapping[str, float] | None = field(default=None)

    def shares(self, labels: list[str]) -> tuple[float, ...]:
        """The expected share of each arm of ``labels``, in that order.

        >>> Experiment(arm="arm", split={"A": 90, "B": 10}).shares(["A", "B"])
        (90, 10)
        >>> Experiment(arm="arm").shares(["A", "B", "C"])
        (1.0, 1.0, 1.0)
        """
        if self.split is None:
            return (1.0,) * len(labels)
        missing = [x for x in labels if x not in self.split]
        if missing:
            raise SpecError(
                f"experiment.split: no share for arm {missing[0]!r}",
                hint=did_you_mean(missing[0], list(self.split))
                + " arms in the data: "
                + ", ".join(labels),
            )
        return tuple(self.split[x] for x in labels)

    def to_dict(self) -> dict[str, Any]:
        return {"arm": self.arm} | ({"split": dict(self.split)} if self.split else {})


def parse_experiment(raw: Any) -> Experiment:
    """Validate an ``[experiment]`` table; errors name the key.

    >>> parse_experiment({"arm": "experiment_arm", "split": {"A": 50, "B": 50}}).split
    {'A': 50, 'B': 50}
    """
    if not isinstance(raw, Mapping):
        raise SpecError("experiment: expected a table", hint='[experiment] arm = "arm_column"')
    for key in raw:
        if key not in ("arm", "split"):
            raise SpecError(
                f"experiment.{key}: unknown key", hint=did_you_mean(key, ["arm", "split"])
            )
    arm = raw.get("arm")
    if not isinstance(arm, str) or not arm.strip():
        raise SpecError("experiment.arm: expected a column name", hint='arm = "experiment_arm"')
    split = raw.get("split")
    if split is not None:
        ok = (
            isinstance(split, Mapping)
            and split
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                for v in split.values()
            )
        )
        if not ok:
            raise SpecError(
                "experiment.split: expected a positive share per arm",
                hint="split = { A = 50, B = 50 }",
            )
        split = {str(k): v for k, v in split.items()}
    return Experiment(arm=arm.strip(), split=split)
