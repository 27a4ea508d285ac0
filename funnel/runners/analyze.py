"""The pipeline end to end: plan, map over buckets of users, reduce.

:func:`analyze` loads the dump lazily and marks rejects (:func:`prepare`), checks the
columns the spec needs, picks a runner for the memory budget (:mod:`funnel.runners.local`),
maps every bucket to partial results and reduces them to the tables
(:mod:`funnel.runners.bucket`). :func:`validate` is the same run with the ledger only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import polars as pl

from funnel.engine.censor import censor_horizon
from funnel.errors import SchemaError, closest
from funnel.input.load import LoadedEvents, LoadOptions, canonical, scan_events
from funnel.input.presets import PRESETS
from funnel.input.reserved import by_columns, check_names, escape, restore
from funnel.input.validate import MARKS, ValidateOptions, mark_rejects
from funnel.outputs import atomic_path, check_outputs, write_table
from funnel.results.ledger import Ledger
from funnel.results.result import FunnelResult
from funnel.runners.bucket import BucketPlan, Partials
from funnel.runners.local import (
    BucketProgress,
    choose_run,
    default_memory,
    estimate_rows,
    parse_size,
    run_buckets,
)
from funnel.runners.reduce import reduce_ledger, reduce_partials
from funnel.spec import FunnelSpec, builtin_spec
from funnel.spec.names import name_tuples

__all__ = [
    "LEDGER_ONLY",
    "AnalyzeOptions",
    "analyze",
    "bucket_plan",
    "default_spec",
    "load_options",
    "prepare",
    "validate",
    "write_rejects",
]

T = TypeVar("T")


class ArrowStream(Protocol):
    """Anything that exports an Arrow stream (the Arrow PyCapsule interface): pandas and
    pyarrow tables, record batch readers, DuckDB relations, ..."""

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...


Source = (
    str
    | os.PathLike[str]
    | Sequence[str | os.PathLike[str]]
    | pl.DataFrame
    | pl.LazyFrame
    | ArrowStream
)


@dataclass(frozen=True, kw_only=True)
class AnalyzeOptions:
    """Options of :func:`analyze` beyond the spec.

    ``by``: columns to break the funnel down by (one as text, or several);
    ``trend_every``: ``1d`` or ``1w``;
    ``rejects_path``: write rejected rows there (``.csv`` or ``.parquet``);
    ``causes``: attribute abandonment to causes (docs/causes.md);
    ``memory``: the memory budget (``"2GiB"`` or bytes; default: :func:`funnel.runners.local.
    default_memory`), which picks in-memory or out-of-core runs and the number of buckets;
    ``buckets``: force a number of user buckets; ``tmp_dir``: where out-of-core runs put
    their bucket files (default: the system's temporary folder);
    ``censor``: units that ended within this horizon of the end of the data are left out
    as censored (:mod:`funnel.engine.censor`): ``"auto"`` (the session timeout, or the
    window of users counted over one), a duration such as ``"2h"``, or None to keep all.
    """

    load: LoadOptions = field(default_factory=LoadOptions)
    validate: ValidateOptions = field(default_factory=ValidateOptions)
    by: tuple[str, ...] = ()
    causes: bool = True
    trend_every: str = "1d"
    rejects_path: str | None = None
    memory: int | str | None = None
    buckets: int | None = None
    tmp_dir: str | None = None
    censor: str | None = "auto"

    def __post_init__(self) -> None:
        name_tuples(self, "by")  # one column given as text, or a list


def _from_frame(frame: pl.DataFrame | pl.LazyFrame, options: LoadOptions) -> LoadedEvents:
    lf = frame.lazy()
    names = lf.collect_schema().names()
    check_names("the frame", names)
    lf = lf.rename({c: escape(c) for c in names if escape(c) != c})  # data:_file, data:_k
    return canonical(lf.with_columns(pl.lit("<frame>").alias("_file")), options, files=("<frame>",))


def load_options(options: AnalyzeOptions, spec: FunnelSpec | None) -> LoadOptions:
    """The load options of a run: the spec's ``[columns]`` mapping (the options' own win)
    and the preset's timestamp unit when none is given."""
    load = options.load
    if spec is not None and spec.columns:
        load = replace(load, mapping={**spec.columns, **load.mapping})
    if load.preset is not None and load.timestamp_unit is None and load.preset in PRESETS:
        load = replace(load, timestamp_unit=PRESETS[load.preset].timestamp_unit)
    return load


def prepare(
    source: Source, options: AnalyzeOptions | None = None, spec: FunnelSpec | None = None
) -> LoadedEvents:
    """Load and mark rejects lazily; applies the spec's ``[columns]`` mapping."""
    options = options or AnalyzeOptions()
    load = load_options(options, spec)
    if not isinstance(source, (str, os.PathLike, pl.DataFrame, pl.LazyFrame)) and hasattr(
        source, "__arrow_c_stream__"
    ):  # one branch for every library that speaks Arrow
        source = pl.DataFrame(source)
    if isinstance(source, (pl.DataFrame, pl.LazyFrame)):
        loaded = _from_frame(source, load)
    else:
        loaded = scan_events(source, load)
    return replace(loaded, frame=mark_rejects(loaded.frame, options.validate))


def _check_columns(names: list[str], wanted: dict[str, str]) -> None:
    names = [n for n in names if n not in MARKS]  # the data's own columns
    for col, where in wanted.items():
        if col not in names:
            near = escape(col) if escape(col) in names else closest(col, names)
            read_as = " (funnel reads columns named _... or at_... as data:...)"
            raise SchemaError(
                f"column '{col}' ({where}) is not in the data; columns: {', '.join(names)}",
                hint=(f"did you mean '{near}'?" if near else "check the column name")
                + (read_as if near and near == escape(col) else ""),
            )


def write_rejects(rows: pl.LazyFrame, path: str) -> None:
    """Write the rejected rows of marked ``rows`` with their ``reason`` and ``file``, and
    the timestamp as it was read, in the format the name says (whole or not at all)."""
    where = {"_line": "line", "_malformed": "problem"}
    where = {k: v for k, v in where.items() if k in rows.collect_schema().names()}
    rejected = restore(  # data columns under their own names again
        rows.filter(pl.col("_reject").is_not_null())
        .with_columns(pl.col("_timestamp_raw").alias("timestamp"))
        .rename({"_reject": "reason", "_file": "file", **where})
        .drop("_timestamp_raw")
    )
    if path.lower().endswith(".parquet"):  # streamed: rejects may be many
        with atomic_path(path) as tmp:
            rejected.sink_parquet(tmp)
    else:
        write_table(rejected.collect(), path)


def bucket_plan(
    prepared: LoadedEvents, spec: FunnelSpec, options: AnalyzeOptions, *, causes: bool
) -> BucketPlan:
    """Check the columns the spec and options need; what every bucket needs to know."""
    schema = prepared.frame.collect_schema()
    names = schema.names()
    wanted = {c: "spec" for c in sorted(spec.property_columns())}
    by = by_columns(tuple(options.by), frozenset(names))  # carried name -> data column
    wanted |= {c: "--by" for c in by.values()}
    if causes:
        user_causes = [x for x in spec.causes if not x.builtin]
        wanted |= {c: f"cause {x.name}" for x in user_causes for c in x.columns()}
    _check_columns(names, wanted)
    # built-in causes may read columns the data lacks: those read as null
    nulls = {c: pl.Null() for c in spec.cause_columns() if c not in schema} if causes else {}
    own = {c: t for c, t in schema.items() if c not in MARKS}
    for condition in spec.conditions(causes=causes):
        condition.check({**own, **nulls})
    if spec.sessions.use_column and "session_id" not in names:
        raise SchemaError(
            "sessions.use_column is set but the data has no session_id column",
            hint="map one with --map session_id=COLUMN or drop use_column",
        )
    return BucketPlan(
        spec=spec,
        names=frozenset(own) | frozenset(by),
        text=frozenset(c for c, t in own.items() if t == pl.String)
        | frozenset(k for k, v in by.items() if own.get(v) == pl.String),
        files=prepared.files,
        by=tuple(by),
        by_from=tuple((k, v) for k, v in by.items() if k != v),
        causes=causes,
        trend_every=options.trend_every,
        censor_s=censor_horizon(spec, options.censor),
    )


def _run(
    prepared: LoadedEvents,
    plan: BucketPlan,
    options: AnalyzeOptions,
    reduce: Callable[[list[Partials]], T],
    progress: BucketProgress | None,
) -> T:
    if options.rejects_path:  # before any work: it may not touch the inputs
        inputs = [f for f in prepared.files if f != "<frame>"]
        check_outputs({"rejects_path": options.rejects_path}, inputs, {})
    memory = parse_size(options.memory) if options.memory is not None else default_memory()
    rows = estimate_rows(prepared.frame, () if prepared.files == ("<frame>",) else prepared.files)
    run = choose_run(rows, memory, options.buckets)
    out = run_buckets(prepared.frame, plan, run, reduce, tmp_dir=options.tmp_dir, progress=progress)
    if options.rejects_path:
        write_rejects(prepared.frame, options.rejects_path)
    return out


# what validate runs: the sort and the duplicates of a funnel whose one step nothing matches
LEDGER_ONLY = FunnelSpec.from_dict({"steps": [{"event": "\x00"}]})


def default_spec(spec: FunnelSpec | None, options: AnalyzeOptions) -> FunnelSpec:
    """``spec``, or the built-in spec of the preset (the checkout funnel without one)."""
    if spec is not None:
        return spec
    preset = options.load.preset
    return builtin_spec(PRESETS[preset].default_spec if preset in PRESETS else "checkout")


def validate(
    source: Source,
    options: AnalyzeOptions | None = None,
    spec: FunnelSpec | None = None,
    *,
    progress: BucketProgress | None = None,
) -> Ledger:
    """Load and validate only: the ledger (duplicates included), nothing else.

    The same run as :func:`analyze` without causes (duplicates need the sort).

    >>> import polars as pl
    >>> df = pl.DataFrame({"user_id": ["a", "a", None], "event": ["x", "x", "y"],
    ...                    "timestamp": ["2024-05-01T10:00:00Z"] * 3})
    >>> validate(df).to_dict()["used"], validate(df).to_dict()["duplicates"]
    (1, 1)
    """
    options = replace(options or AnalyzeOptions(), by=(), causes=False)
    prepared = prepare(source, options, spec)
    plan = bucket_plan(prepared, LEDGER_ONLY, options, causes=False)
    notes = prepared.notes()
    return _run(prepared, plan, options, lambda parts: reduce_ledger(parts, notes), progress)


def analyze(
    source: Source,
    spec: FunnelSpec | None = None,
    options: AnalyzeOptions | None = None,
    *,
    progress: BucketProgress | None = None,
) -> FunnelResult:
    """Analyse a dump (path, folder, glob or polars frame) with a funnel spec.

    Plan (load lazily, check columns), map over buckets of users, reduce to tables.
    ``progress(done, buckets)`` is called after each bucket.

    >>> import polars as pl
    >>> df = pl.DataFrame({
    ...     "user_id": ["a", "a", "a", "b"],
    ...     "event": ["add_to_cart", "begin_checkout", "purchase", "add_to_cart"],
    ...     "timestamp": ["2024-05-01T10:00:00Z", "2024-05-01T10:01:00Z",
    ...                   "2024-05-01T10:03:00Z", "2024-05-01T11:00:00Z"]})
    >>> spec = FunnelSpec.from_dict({"steps": [{"event": "add_to_cart"},
    ...     {"event": "begin_checkout"}, {"event": "purchase"}]})
    >>> result = analyze(df, spec)  # b's session ends at the end of the data: censored
    >>> result.steps["entered"].to_list(), result.censored["user_id"].to_list()
    ([1, 1, 1], ['b'])
    >>> analyze(df, spec, AnalyzeOptions(censor=None)).steps["entered"].to_list()
    [2, 1, 1]
    >>> result.timing.filter(kind="time_to_convert")["median_s"][0]
    180.0
    """
    options = options or AnalyzeOptions()
    spec = default_spec(spec, options)
    prepared = prepare(source, options, spec)
    plan = bucket_plan(prepared, spec, options, causes=options.causes)
    notes = prepared.notes()
    return _run(
        prepared, plan, options, lambda parts: reduce_partials(parts, plan, notes), progress
    )
