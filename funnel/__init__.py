"""funnel: checkout-abandonment analytics on clickstream dumps.

>>> import funnel
>>> funnel.builtin_spec().step_names[0]
'cart'
"""

from funnel.analyze import AnalyzeOptions, analyze, validate
from funnel.compare import CompareOptions, compare_results
from funnel.comparison import Comparison
from funnel.durations import parse_duration
from funnel.errors import FunnelError, SchemaError, SpecError
from funnel.expr import parse_filter
from funnel.load import LoadOptions, scan_events
from funnel.presets import PRESETS
from funnel.result import CauseTables, FunnelResult
from funnel.sessionize import SessionizeOptions, order_events, sessionize
from funnel.spec import Exclusion, FunnelSpec, SessionOptions, Step, builtin_spec
from funnel.stats import risk_ratio, wilson_interval
from funnel.taxonomy import AttributionOptions, Cause
from funnel.validate import Ledger, ValidateOptions
from funnel.versions import compare, compare_arms

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
    "order_events",
    "parse_duration",
    "parse_filter",
    "risk_ratio",
    "scan_events",
    "sessionize",
    "validate",
    "wilson_interval",
]
