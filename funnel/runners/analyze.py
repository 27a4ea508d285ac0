"""The pipeline end to end: load -> validate -> sessionize -> steps -> tables.

Everything stays lazy until one ``collect_all`` at the end, so the dump is read and sorted
once; the ledger counts, the duplicate counts and the per-unit paths share that plan.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import polars as pl

from funnel.causes.evidence import cause_rows, row_flags, shown_columns
from funnel.causes.tables import attribution_rows, build_causes
from funnel.engine.sessionize import (
    SessionizeOptions,
    carried_columns,
    collect_sorted,
    flag_duplicates,
    order_events,
    sessionize,
    sort_key_names,
    sort_keys,
)
from funnel.engine.steps import match_paths, step_rank
from funnel.engine.tables import breakdown_table, step_table, timing_table, trend_table, units_table
from funnel.errors import SchemaError, closest
from funnel.input.load import LoadedEvents, LoadOptions, scan_events
from funnel.input.presets import PRESETS
from funnel.input.timestamps import normalize_timestamp
from funnel.input.validate import ValidateOptions, mark_rejects
from funnel.results.ledger import Ledger
from funnel.results.result import CauseTables, FunnelResult
from funnel.spec.funnel_spec import FunnelSpec, builtin_spec

__all__ = ["AnalyzeOptions", "analyze", "prepare", "validate"]

Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | pl.DataFrame | pl.LazyFrame


@dataclass(frozen=True, kw_only=True)
class AnalyzeOptions:
    """Options of :func:`analyze` beyond the spec.

    ``by``: columns to break the funnel down by; ``trend_every``: ``1d`` or ``1w``;
    ``rejects_path``: write rejected rows there (``.csv`` or ``.parquet``);
    ``causes``: attribute abandonment to causes (docs/causes.md).
    """

    load: LoadOptions = field(default_factory=LoadOptions)
    validate: ValidateOptions = field(default_factory=ValidateOptions)
    by: tuple[str, ...] = ()
    causes: bool = True
    trend_every: str = "1d"
    rejects_path: str | None = None


def _from_frame(frame: pl.DataFrame | pl.LazyFrame, options: LoadOptions) -> LoadedEvents:
    lf = frame.lazy()
    if options.mapping:
        lf = lf.rename({src: dst for dst, src in options.mapping.items() if src != dst})
    names = lf.collect_schema().names()
    for col in ("user_id", "timestamp", "event"):
        if col not in names:
            near = closest(col, names)
            raise SchemaError(
                f"<frame>: required column '{col}' is missing; columns found: {', '.join(names)}",
                hint=(f"did you mean '{near}'? " if near else "") + f"map it with {col}=COLUMN",
            )
    if "_file" not in names:
        lf = lf.with_columns(pl.lit("<frame>").alias("_file"))
    lf, info = normalize_timestamp(lf, unit=options.timestamp_unit, timezone=options.timezone)
    lf = lf.with_columns(pl.col("user_id").cast(pl.String), pl.col("event").cast(pl.String))
    return LoadedEvents(frame=lf, files=("<frame>",), timestamp=info)


def prepare(
    source: Source, options: AnalyzeOptions | None = None, spec: FunnelSpec | None = None
) -> LoadedEvents:
    """Load and mark rejects lazily; applies the spec's ``[columns]`` mapping."""
    options = options or AnalyzeOptions()
    load = options.load
    if spec is not None and spec.columns:
        load = replace(load, mapping={**spec.columns, **load.mapping})
    if load.preset is not None and load.timestamp_unit is None and load.preset in PRESETS:
        load = replace(load, timestamp_unit=PRESETS[load.preset].timestamp_unit)
    if isinstance(source, (pl.DataFrame, pl.LazyFrame)):
        loaded = _from_frame(source, load)
    else:
        loaded = scan_events(source, load)
    return replace(loaded, frame=mark_rejects(loaded.frame, options.validate))


def _check_columns(names: list[str], wanted: dict[str, str]) -> None:
    for col, where in wanted.items():
        if col not in names:
            near = closest(col, names)
            raise SchemaError(
                f"column '{col}' ({where}) is not in the data; columns: {', '.join(names)}",
                hint=f"did you mean '{near}'?" if near else "check the column name",
            )


def _ledger_frames(prepared: LoadedEvents) -> list[pl.LazyFrame]:
    m = prepared.frame
    return [
        m.group_by("_file").agg(pl.len().alias("rows")),
        m.filter(pl.col("_reject").is_not_null())
        .group_by("_file", "_reject")
        .agg(pl.len().alias("rows")),
    ]


def _duplicate_counts(ordered: pl.LazyFrame, files: tuple[str, ...]) -> pl.LazyFrame:
    """Duplicates per file; a single file's name is not carried through the sort."""
    names = ordered.collect_schema().names()
    file_col = pl.col("_file") if "_file" in names else pl.lit(files[0])
    dups = ordered.filter(pl.col("_dup"))
    return dups.group_by(file_col.alias("_file")).agg(pl.len().alias("rows"))


def _write_rejects(prepared: LoadedEvents, path: str) -> None:
    rejected = (
        prepared.frame.filter(pl.col("_reject").is_not_null())
        .with_columns(pl.col("_timestamp_raw").alias("timestamp"))
        .rename({"_reject": "reason", "_file": "file"})
        .drop("_timestamp_raw")
    )
    if path.endswith(".parquet"):
        rejected.sink_parquet(path)
    else:
        # CSV cannot hold nested values: write lists and structs as JSON-like text
        schema = rejected.collect_schema()
        nested = [c for c, t in schema.items() if t.is_nested()]
        rejected.with_columns(
            pl.col(c).map_batches(
                lambda s: pl.Series(s.name, [str(v) for v in s.to_list()]), return_dtype=pl.String
            )
            for c in nested
        ).collect().write_csv(path)


def validate(
    source: Source, options: AnalyzeOptions | None = None, spec: FunnelSpec | None = None
) -> Ledger:
    """Load and validate only: the ledger (duplicates included), nothing else.

    >>> import polars as pl
    >>> df = pl.DataFrame({"user_id": ["a", "a", None], "event": ["x", "x", "y"],
    ...                    "timestamp": ["2024-05-01T10:00:00Z"] * 3})
    >>> validate(df).to_dict()["used"], validate(df).to_dict()["duplicates"]
    (1, 1)
    """
    options = options or AnalyzeOptions()
    prepared = prepare(source, options, spec)
    ordered = order_events(
        prepared.frame.filter(pl.col("_reject").is_null()), several_files=len(prepared.files) > 1
    )
    dups = _duplicate_counts(ordered, prepared.files)
    totals, rejects, dup = pl.collect_all([*_ledger_frames(prepared), dups])
    if options.rejects_path:
        _write_rejects(prepared, options.rejects_path)
    return Ledger.build(totals, rejects, dup, prepared.notes())


def analyze(
    source: Source, spec: FunnelSpec | None = None, options: AnalyzeOptions | None = None
) -> FunnelResult:
    """Analyse a dump (path, folder, glob or polars frame) with a funnel spec.

    Collects once at the end (documented exception to "stages never collect").

    >>> import polars as pl
    >>> df = pl.DataFrame({
    ...     "user_id": ["a", "a", "a", "b"],
    ...     "event": ["add_to_cart", "begin_checkout", "purchase", "add_to_cart"],
    ...     "timestamp": ["2024-05-01T10:00:00Z", "2024-05-01T10:01:00Z",
    ...                   "2024-05-01T10:03:00Z", "2024-05-01T11:00:00Z"]})
    >>> spec = FunnelSpec.from_dict({"steps": [{"event": "add_to_cart"},
    ...     {"event": "begin_checkout"}, {"event": "purchase"}]})
    >>> result = analyze(df, spec)
    >>> result.steps["entered"].to_list()
    [2, 1, 1]
    >>> result.timing.filter(kind="time_to_convert")["median_s"][0]
    180.0
    """
    options = options or AnalyzeOptions()
    if spec is None:
        preset = options.load.preset
        spec = builtin_spec(PRESETS[preset].default_spec if preset in PRESETS else "checkout")
    prepared = prepare(source, options, spec)
    schema = prepared.frame.collect_schema()
    names = schema.names()
    wanted = {c: "spec" for c in sorted(spec.property_columns())}
    wanted |= {c: "--by" for c in options.by}
    _check_columns(names, wanted)
    if spec.sessions.use_column and "session_id" not in names:
        raise SchemaError(
            "sessions.use_column is set but the data has no session_id column",
            hint="map one with --map session_id=COLUMN or drop use_column",
        )
    valid = prepared.frame.filter(pl.col("_reject").is_null()).drop("_reject", "_timestamp_raw")
    sess_opts = SessionizeOptions(
        timeout_s=spec.sessions.timeout_s,
        max_length_s=spec.sessions.max_length_s,
        use_column=spec.sessions.use_column,
    )
    keep = set(spec.property_columns()) | set(options.by)
    # text read by value only rides through the sort as codes (u32), not strings
    coded = {"event"} - set(options.by)
    mask: list[pl.Expr] = []
    shown: set[str] = set()
    aside = None
    if options.causes:
        user_causes = [x for x in spec.causes if not x.builtin]
        _check_columns(names, {c: f"cause {x.name}" for x in user_causes for c in x.columns()})
        # causes are matched while reading (a bit mask); the rows with a bit are kept
        # aside, unsorted; only the value and driver columns ride through the sort
        mask = [row_flags(spec, set(names))]
        drivers = set(spec.attribution.drivers) & set(names)
        coded |= {c for c in drivers - keep if schema[c] == pl.String}
        keep |= drivers | ({spec.attribution.value} & set(names))
        shown = set(shown_columns(spec, set(names)))

        def aside(rows: pl.LazyFrame) -> pl.LazyFrame:
            return cause_rows(rows, spec, set(names))

    # text read by value only is coded while reading (the mask reads the event's code)
    to_codes = pl.col(sorted(coded)).cast(pl.Categorical)
    keyed = sort_keys(valid, rank=step_rank(spec), extra=[to_codes, *mask])
    several = len(prepared.files) > 1
    for exact in (False, True):
        # the one sort: read, hash and select streaming (never every column at once), then
        # sort the keys and gather two columns at a time: a lower peak (benchmarks/README.md)
        pre = carried_columns(
            keyed, keep=sorted(keep | shown), use_column=sess_opts.use_column, several_files=several
        )
        keys = sort_key_names(
            pre.collect_schema().names(),
            exact_users=exact,
            use_column=sess_opts.use_column,
            several_files=several,
        )
        rows, details, ledger_counts = collect_sorted(
            pre,
            keys,
            index="_read" if options.causes else None,
            aside=aside,
            unsorted=sorted(shown - keep) + (["_cm"] if options.causes else []),
            also=_ledger_frames(prepared),  # the ledger counts share the scan
        )
        totals, rejects = ledger_counts
        ordered = flag_duplicates(rows.lazy()).collect(engine="in-memory")
        del rows
        if exact or not ordered["_collision"].any():
            break
    dup = _duplicate_counts(ordered.lazy(), prepared.files)
    sess = sessionize(ordered.lazy().filter(~pl.col("_dup")), sess_opts)
    units_lf = units_table(match_paths(sess, spec), spec, keep=list(options.by))
    new_user = (pl.col("user_id") != pl.col("user_id").shift(1)).fill_null(True)
    counts = sess.select(
        pl.len().alias("events"),
        pl.col("_first").sum().alias("sessions"),
        new_user.sum().alias("users"),
    )
    plans = [dup, units_lf, counts]
    if options.causes:  # in the same collect: the sessions are computed once for both
        plans += attribution_rows(sess, spec, set(names), details, ordered.height)
    dup, units, counted, *attr_rows = pl.collect_all(plans, engine="in-memory")
    if options.rejects_path:
        _write_rejects(prepared, options.rejects_path)
    causes = None
    if options.causes:
        n_sessions = int(counted["sessions"][0])
        units, tables, cause_notes = build_causes(
            *attr_rows, units, spec, set(names), n_sessions, details
        )
        causes = CauseTables(**tables, notes=tuple(cause_notes))
    del ordered, sess
    units = units.drop(pl.selectors.starts_with("_"))
    ledger = Ledger.build(totals, rejects, dup, prepared.notes())
    steps = step_table(units, spec)
    n_units, n_conv = units.height, int(units["converted"].sum())
    summary = {
        "events_used": int(counted["events"][0]),
        "sessions": int(counted["sessions"][0]),
        "users": int(counted["users"][0]),
        "unit": spec.unit,
        "units_entered": n_units,
        "units_converted": n_conv,
        "conversion": n_conv / n_units if n_units else None,
    }
    return FunnelResult(
        spec=spec,
        ledger=ledger,
        steps=steps,
        timing=timing_table(units, spec),
        units=units,
        trend=trend_table(units, spec, options.trend_every),
        breakdown=breakdown_table(units, spec, list(options.by)) if options.by else None,
        causes=causes,
        summary=summary,
    )
