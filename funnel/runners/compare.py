"""Where compared versions come from: arms of one dump, two dumps, two periods, two specs.

:func:`compare` runs :func:`funnel.analyze` as few times as it can (once for arms and
periods, once per dump or spec otherwise) and hands the per-unit tables to
:func:`funnel.versions.compare.compare_versions`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from funnel.errors import SchemaError, SpecError
from funnel.input.reserved import DATA_PREFIX, units_column
from funnel.results.comparison import Comparison
from funnel.results.result import FunnelResult
from funnel.runners.analyze import AnalyzeOptions, Source, analyze
from funnel.spec.funnel_spec import FunnelSpec
from funnel.versions.compare import CompareOptions, Version, compare_versions

__all__ = ["Analyze", "compare", "compare_arms", "compare_with"]

# an analysis: (source, spec, options) -> result
Analyze = Callable[[Any, FunnelSpec | None, AnalyzeOptions], FunnelResult]


def _label(source: Any, fallback: str) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name.rstrip("/") or fallback
    if isinstance(source, (list, tuple)) and len(source) == 1:
        return _label(source[0], fallback)
    return fallback


def _split_time(value: str | dt.datetime, key: str = "split_at") -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise SpecError(
                f"{key}: {value!r} is not an ISO date or datetime", hint="e.g. 2024-05-15"
            ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _periods(
    periods: Sequence[tuple[str | dt.datetime, str | dt.datetime]],
) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    if len(periods) < 2:
        raise SpecError("periods: give two periods or more", hint="--period A..B --period C..D")
    out = {}
    for i, pair in enumerate(periods):
        if len(pair) != 2:
            raise SpecError(f"periods[{i}]: expected (start, end)", hint="--period A..B")
        lo, hi = (_split_time(x, key=f"periods[{i}]") for x in pair)
        if lo >= hi:
            raise SpecError(f"periods[{i}]: the start is not before the end", hint="--period A..B")
        text = [x.strip() if isinstance(x, str) else x.isoformat() for x in pair]
        out[f"{text[0]}..{text[1]}"] = (lo, hi)
    bounds = sorted(out.values())
    if any(a[1] > b[0] for a, b in itertools.pairwise(bounds)):
        raise SpecError("periods overlap", hint="a unit must belong to one period only")
    return out


def compare_arms(
    result: FunnelResult, by: str, options: CompareOptions | None = None
) -> Comparison:
    """Compare the arms in column ``by`` of a result analysed with ``by`` among its
    ``AnalyzeOptions.by`` (one analysis for the funnel and the comparison).

    >>> import funnel
    >>> result = funnel.analyze("sample_events/",
    ...                         options=funnel.AnalyzeOptions(by=("experiment_arm",)))
    >>> cmp = compare_arms(result, "experiment_arm", funnel.CompareOptions(bootstrap=0))
    >>> cmp.versions["version"].to_list()
    ['A', 'B']
    """
    units = result.unit_rows(f"comparing the arms of '{by}'")
    # a --by column named like a units column is there as data:<name> (funnel.input.reserved)
    found = [
        c for c in (units_column(units.columns, by), by.removeprefix(DATA_PREFIX)) if c in units
    ]
    if not found:
        raise SchemaError(
            f"column '{by}' is not in the result's units",
            hint=f"analyse with AnalyzeOptions(by=('{by}',))",
        )
    arm = pl.col(found[0])
    missing = units.filter(arm.is_null()).height
    labels = sorted(units.select(arm.drop_nulls().cast(pl.String).unique()).to_series().to_list())
    experiment = result.spec.experiment
    options = options or CompareOptions()
    if experiment is not None and experiment.arm == by and options.expected_split is None:
        # the spec declares these the arms of an experiment: check its sample ratio
        options = replace(options, expected_split=experiment.shares(labels))
    versions = [
        Version(str(x), result.spec, units.filter(arm.cast(pl.String) == x)) for x in labels
    ]
    out = compare_versions(versions, options, kind="arms").with_ledgers({"all": result.ledger})
    if missing:
        note = f"{missing} units have no {by} value and are left out"
        out = replace(out, notes=(*out.notes, note))
    return out


def compare(
    source: Source,
    other: Source | None = None,
    *,
    by: str | None = None,
    split_at: str | dt.datetime | None = None,
    periods: Sequence[tuple[str | dt.datetime, str | dt.datetime]] | None = None,
    spec: FunnelSpec | None = None,
    other_spec: FunnelSpec | None = None,
    options: CompareOptions | None = None,
    analyze_options: AnalyzeOptions | None = None,
) -> Comparison:
    """Compare funnel versions; give exactly one of ``other``, ``by``, ``split_at``,
    ``periods``, ``other_spec``.

    - ``by="experiment_arm"``: arms of one dump (the value on each unit's entry event);
      the control is ``options.control`` or the first value in sort order.
    - ``other=PATH``: two dumps, ``source`` is the control (``other_spec``, when given, is
      the second dump's spec).
    - ``split_at="2024-05-15"``: units entering before (control) vs from that time on.
    - ``periods=[(start, end), (start, end)]``: units entering in each half-open range
      ``[start, end)``; the first range is the control, units in neither are left out.
    - ``other_spec=SPEC``: the same dump under ``spec`` (control) and ``other_spec``; steps
      are aligned by name or by ``same_as`` / ``options.align``.

    >>> import funnel
    >>> cmp = funnel.compare("sample_events/", by="experiment_arm",
    ...                      options=funnel.CompareOptions(bootstrap=200))
    >>> cmp.control, cmp.steps.filter(step="overall")["diff"][0] > 0
    ('A', True)
    """
    return compare_with(
        analyze,
        source,
        other,
        by=by,
        split_at=split_at,
        periods=periods,
        spec=spec,
        other_spec=other_spec,
        options=options,
        analyze_options=analyze_options,
    )


def compare_with(
    run: Analyze,
    source: Any,
    other: Any = None,
    *,
    by: str | None = None,
    split_at: str | dt.datetime | None = None,
    periods: Sequence[tuple[str | dt.datetime, str | dt.datetime]] | None = None,
    spec: FunnelSpec | None = None,
    other_spec: FunnelSpec | None = None,
    options: CompareOptions | None = None,
    analyze_options: AnalyzeOptions | None = None,
) -> Comparison:
    """:func:`compare` with ``run`` in place of :func:`funnel.analyze` (the Spark runner
    passes its own; sources are whatever ``run`` reads)."""
    # with a second dump, other_spec is that dump's spec
    modes = {"other": other, "by": by, "split_at": split_at, "periods": periods}
    modes["other_spec"] = other_spec if other is None else None
    given = [k for k, v in modes.items() if v is not None]
    if len(given) != 1:
        raise SpecError(
            "compare needs exactly one of other, by, split_at, periods, other_spec; "
            f"got {given or 'none'}",
            hint="e.g. --by experiment_arm, a second dump, --split-at 2024-05-15, "
            "--period A..B --period C..D or --other-spec",
        )
    opts = options or CompareOptions()
    aopts = analyze_options or AnalyzeOptions()
    if by is not None:
        result = run(source, spec, replace(aopts, by=tuple(dict.fromkeys((*aopts.by, by)))))
        return compare_arms(result, by, opts)
    if split_at is not None or periods is not None:
        result = run(source, spec, aopts)
        units = result.unit_rows("comparing periods")
        if split_at is not None:
            cut = _split_time(split_at)
            ranges = {"before": (None, cut), "after": (cut, None)}
            note = f"before: units entering before {cut.isoformat()}; after: from then on"
        else:
            ranges = _periods(periods)
            note = "periods are half-open [start, end) on the time units entered the funnel"
        versions = []
        for label, (lo, hi) in ranges.items():
            keep = pl.lit(True)
            if lo is not None:
                keep &= pl.col("entered_at") >= lo
            if hi is not None:
                keep &= pl.col("entered_at") < hi
            versions.append(Version(label, result.spec, units.filter(keep)))
        left = units.height - sum(v.units.height for v in versions)
        if left:
            note += f"; {left} units entered outside the periods and are left out"
        out = compare_versions(versions, opts, kind="periods")
        return replace(out.with_ledgers({"all": result.ledger}), notes=(*out.notes, note))
    if other is not None:
        a = run(source, spec, aopts)
        b = run(other, other_spec or spec, aopts)
        la, lb = _label(source, "A"), _label(other, "B")
        if la == lb:
            la, lb = "A", "B"
        versions = [
            Version(la, a.spec, a.unit_rows("a comparison")),
            Version(lb, b.spec, b.unit_rows("a comparison")),
        ]
        out = compare_versions(versions, opts, kind="dumps")
        return out.with_ledgers({la: a.ledger, lb: b.ledger})
    assert other_spec is not None
    a = run(source, spec, aopts)
    b = run(source, other_spec, aopts)
    la, lb = a.spec.name, b.spec.name
    if la == lb:
        la, lb = f"{la} (control)", f"{lb} (other)"
    versions = [
        Version(la, a.spec, a.unit_rows("a comparison")),
        Version(lb, b.spec, b.unit_rows("a comparison")),
    ]
    return compare_versions(versions, opts, kind="specs").with_ledgers({"all": a.ledger})
