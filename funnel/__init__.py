"""funnel: checkout-abandonment analytics on clickstream dumps.

>>> import funnel
>>> funnel.builtin_spec().step_names[0]
'cart'
"""

from funnel.durations import parse_duration
from funnel.engine.sessionize import SessionizeOptions, order_events, sessionize
from funnel.errors import FunnelError, SchemaError, SpecError
from funnel.input.load import LoadOptions, scan_events
from funnel.input.presets import PRESETS
from funnel.input.validate import ValidateOptions
from funnel.results.comparison import Comparison
from funnel.results.inspection import Inspection
from funnel.results.ledger import Ledger
from funnel.results.result import CauseTables, FunnelResult
from funnel.runners.analyze import AnalyzeOptions, analyze, validate
from funnel.runners.compare import compare, compare_arms
from funnel.runners.inspect import inspect
from funnel.spec.conditions import parse_filter
from funnel.spec.funnel_spec import Exclusion, FunnelSpec, SessionOptions, Step
from funnel.spec.shipped import builtin_spec
from funnel.spec.taxonomy import AttributionOptions, Cause
from funnel.stats import risk_ratio, wilson_interval
from funnel.versions.compare import CompareOptions, compare_results

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "AnalyzeOptions",
    "AttributionOptions",
    "Cause",
    "CauseTables",
    "CompareOptions",
    "Comparison",
    "Exclusion",
    "FunnelError",
    "FunnelResult",
    "FunnelSpec",
    "Inspection",
    "Ledger",
    "LoadOptions",
    "SchemaError",
    "SessionOptions",
    "SessionizeOptions",
    "SpecError",
    "Step",
    "ValidateOptions",
    "__version__",
    "analyze",
    "builtin_spec",
    "compare",
    "compare_arms",
    "compare_results",
    "inspect",
    "order_events",
    "parse_duration",
    "parse_filter",
    "risk_ratio",
    "scan_events",
    "sessionize",
    "validate",
    "wilson_interval",
]
