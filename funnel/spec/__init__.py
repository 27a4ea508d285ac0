"""Specs as data: funnels, conditions and the cause taxonomy, read from TOML and validated."""

from funnel.spec.funnel_spec import Exclusion, FunnelSpec, SessionOptions, Step
from funnel.spec.shipped import builtin_spec

__all__ = ["Exclusion", "FunnelSpec", "SessionOptions", "Step", "builtin_spec"]
