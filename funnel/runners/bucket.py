"""Map and reduce: the whole analysis as two pure functions over sets of users.

Events of one user never meet events of another: sessions, paths, causes, per-unit driver
features and exact duplicates (which share their user) are all per user. So the rows are
split by a hash of the user into *buckets*; :func:`map_bucket` turns one bucket's rows into
:class:`Partials` (per-unit rows, evidence rows, counts), and
:func:`funnel.runners.reduce.reduce_partials` computes every table from the partials of
all buckets, exactly. Neither reads or writes files; the runners (:mod:`funnel.runners.local`,
and a distributed engine) decide where buckets come from and where they run.

Results never depend on the number of buckets or their order: every table is sorted by
keys that identify its rows (units by entry time, user and session), after concatenation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from funnel.causes.evidence import aside_columns, cause_rows, row_flags
from funnel.causes.tables import attribute_units, attribution_rows
from funnel.engine.censor import (
    censor_keys,
)
from funnel.engine.checks import outside_sessions
from funnel.engine.sessionize import (
    SessionizeOptions,
    carried_columns,
    collect_sorted,
    content_hash,
    flag_duplicates,
    sessionize,
    sort_key_names,
    sort_keys,
)
from funnel.engine.steps import match_paths, step_rank
from funnel.engine.tables import units_table
from funnel.input.validate import MARKS
from funnel.spec import FunnelSpec

__all__ = [
    "BucketPlan",
    "Partials",
    "bucket_of",
    "bucket_rows",
    "ledger_counts",
    "map_bucket",
]


@dataclass(frozen=True, kw_only=True)
class BucketPlan:
    """What every bucket needs to know about the whole run (from the spec and the schema).

    ``names``: the data's columns; ``text``: those of them holding text (coded while
    sorting when only their value is read); ``files``: the input files (the ledger names a
    single file without carrying it through the sort); ``by_from``: ``--by`` columns
    carried under another name than the data's (:func:`funnel.input.reserved.by_columns`),
    which are among ``names``."""

    spec: FunnelSpec
    names: frozenset[str]
    text: frozenset[str]
    files: tuple[str, ...]
    by: tuple[str, ...] = ()
    by_from: tuple[tuple[str, str], ...] = ()  # (carried name, data column) of --by aliases
    causes: bool = True
    trend_every: str = "1d"
    censor_s: float | None = None  # funnel.engine.censor: the horizon, None for none

    @property
    def several_files(self) -> bool:
        return len(self.files) > 1

    def columns(self) -> list[str]:
        """The data columns a bucket reads (the rest only count in the content hash)."""
        spec = self.spec
        wanted = {"user_id", "timestamp", "event", *spec.property_columns(), *self.by}
        if spec.sessions.use_column:  # otherwise the provided session id is not read
            wanted.add("session_id")
        if self.causes:
            wanted |= spec.cause_columns()
        aliases = {name for name, _ in self.by_from}  # made by bucket_rows
        return sorted((wanted & self.names) - aliases)


@dataclass(frozen=True)
class Partials:
    """What one bucket contributes: per-unit rows (with causes and exposure codes), evidence
    rows and driver counts of its units, and counts (``events``/``sessions``/``users``, the
    ledger's ``totals``/``rejects``/``duplicates`` per file). Sums over buckets are exact.

    The large parts (units, evidence) may be lazy: scans of files a runner spilled them to
    (:meth:`spill`), so that buckets done do not hold memory while others run."""

    units: pl.DataFrame | pl.LazyFrame
    evidence: pl.DataFrame | pl.LazyFrame | None
    driver_counts: pl.DataFrame | None
    counts: pl.DataFrame
    totals: pl.DataFrame
    rejects: pl.DataFrame
    duplicates: pl.DataFrame
    events: pl.DataFrame  # used rows per event name: the data's event inventory

    def spill(self, stem: str) -> Partials:
        """Write units and evidence to ``{stem}.units.parquet`` / ``{stem}.evidence.parquet``
        and hold scans of them instead (uncompressed: read once, then removed)."""
        out = {}
        for name in ("units", "evidence"):
            frame = getattr(self, name)
            if isinstance(frame, pl.DataFrame):
                path = f"{stem}.{name}.parquet"
                frame.write_parquet(path, compression="uncompressed", statistics=False)
                frame = pl.scan_parquet(path)
            out[name] = frame
        return replace(self, **out)


def bucket_of(buckets: int) -> pl.Expr:
    """``_bucket``: which of ``buckets`` sets of users a row belongs to (a hash of the user,
    independent of the sort hash; rejected rows without a user share one bucket)."""
    return (pl.col("user_id").hash(seed=3) % buckets).cast(pl.UInt32).alias("_bucket")


def bucket_rows(rows: pl.LazyFrame, plan: BucketPlan, buckets: int) -> pl.LazyFrame:
    """Marked rows narrowed to what :func:`map_bucket` reads, with their ``_bucket``: the
    columns of :meth:`BucketPlan.columns`, ``_file``, ``_reject`` and ``_ch``, the content
    hash over every data column (so exact duplicates stay exact)."""
    names = rows.collect_schema().names()
    data = [c for c in names if c not in MARKS]
    rejected = pl.col("_reject").is_not_null()
    where = [pl.when(rejected).then(c).alias(c) for c in ("_line", "_malformed") if c in names]
    return rows.select(
        *plan.columns(),
        *[pl.col(source).alias(name) for name, source in plan.by_from],
        "_file",
        "_reject",
        *where,  # where in a text file a rejected row is, and what is wrong with it
        content_hash(data).alias("_ch"),
        bucket_of(buckets),
    )


def ledger_counts(rows: pl.LazyFrame) -> list[pl.LazyFrame]:
    """Rows per file and rejected rows per (file, reason), from marked rows; for rows of
    text files also the first line of each (file, reason) and what is wrong with it."""
    names = rows.collect_schema().names()
    first = []
    if "_line" in names:
        first.append(pl.col("_line").min().alias("first_line"))
        first.append(pl.col("_malformed").sort_by("_line").first().alias("detail"))
    return [
        rows.group_by("_file").agg(pl.len().alias("rows")),
        rows.filter(pl.col("_reject").is_not_null())
        .group_by("_file", "_reject")
        .agg(pl.len().alias("rows"), *first),
    ]


def duplicate_counts(ordered: pl.LazyFrame, files: tuple[str, ...]) -> pl.LazyFrame:
    """Duplicates per file; a single file's name is not carried through the sort."""
    names = ordered.collect_schema().names()
    file_col = pl.col("_file") if "_file" in names else pl.lit(files[0])
    dups = ordered.filter(pl.col("_dup"))
    return dups.group_by(file_col.alias("_file")).agg(pl.len().alias("rows"))


def map_bucket(rows: pl.LazyFrame, plan: BucketPlan) -> Partials:
    """The partial results of one bucket's rows (marked by :func:`funnel.input.validate.
    mark_rejects`, with ``_file``). Collects (documented exception: a map is one unit of
    work), reads and writes nothing else."""
    spec, names = plan.spec, set(plan.names)
    have = rows.collect_schema().names()
    aliases = [pl.col(source).alias(n) for n, source in plan.by_from if n not in have]
    rows = rows.with_columns(aliases) if aliases else rows  # rows not from bucket_rows
    valid = rows.filter(pl.col("_reject").is_null()).drop("_reject", "_timestamp_raw", strict=False)
    sess_opts = SessionizeOptions(
        timeout_s=spec.sessions.timeout_s,
        max_length_s=spec.sessions.max_length_s,
        use_column=spec.sessions.use_column,
    )
    keep = set(spec.property_columns()) | set(plan.by)
    # text read by value only rides through the sort as codes (u32), not strings
    coded = {"event"} - set(plan.by)
    mask: list[pl.Expr] = []
    shown: set[str] = set()
    aside = None
    if plan.causes:
        # causes are matched while reading (a bit mask); the rows with a bit are kept
        # aside, unsorted; only the value and driver columns ride through the sort
        mask = row_flags(spec, names)
        drivers = set(spec.attribution.drivers) & names
        coded |= (drivers - keep) & plan.text
        keep |= drivers | ({spec.attribution.value} & names)
        shown = set(aside_columns(spec, names))

        def aside(read: pl.LazyFrame) -> pl.LazyFrame:
            return cause_rows(read, spec, names)

    to_codes = pl.col(sorted(coded)).cast(pl.Categorical)
    keyed = sort_keys(valid, rank=step_rank(spec), extra=[to_codes, *mask])
    for exact in (False, True):
        # read, hash and select streaming, then sort the keys and gather the columns
        pre = carried_columns(
            keyed,
            keep=sorted(keep | shown),
            use_column=sess_opts.use_column,
            several_files=plan.several_files,
        )
        keys = sort_key_names(
            pre.collect_schema().names(),
            exact_users=exact,
            use_column=sess_opts.use_column,
            several_files=plan.several_files,
        )
        sorted_rows, details, (totals, rejects) = collect_sorted(
            pre,
            keys,
            index="_read" if plan.causes else None,
            aside=aside,
            unsorted=sorted(shown - keep) + (["_cm"] if plan.causes else []),
            also=ledger_counts(rows),  # the ledger counts share the scan
        )
        ordered = flag_duplicates(sorted_rows.lazy()).collect(engine="in-memory")
        del sorted_rows
        # two users sharing a 64-bit hash: sort again with the user itself as a key
        if exact or not ordered["_collision"].any():
            break
    dups = duplicate_counts(ordered.lazy(), plan.files)
    sess = sessionize(ordered.lazy().filter(~pl.col("_dup")), sess_opts)
    units_lf = units_table(match_paths(sess, spec), spec, keep=list(plan.by))
    new_user = (pl.col("user_id") != pl.col("user_id").shift(1)).fill_null(True)
    counts = sess.select(
        pl.col("timestamp").max().alias("data_end"),  # the reduce takes the largest
        pl.len().cast(pl.Int64).alias("events"),
        pl.col("_first").sum().cast(pl.Int64).alias("sessions"),
        new_user.sum().cast(pl.Int64).alias("users"),
    )
    counts = pl.concat([counts, outside_sessions(sess, units_lf, spec)], how="horizontal")
    inventory = sess.group_by("event").agg(pl.len().cast(pl.Int64).alias("rows"))
    plans = [dups, units_lf, counts, inventory]
    if plan.causes:  # in the same collect: the sessions are computed once for both
        plans += attribution_rows(sess, spec, names, details, ordered.height)
    dups, units, counted, events, *attr_rows = pl.collect_all(plans, engine="in-memory")
    evidence = driver_counts = None
    if plan.causes:
        n_sessions = int(counted["sessions"][0])
        end = censor_keys(units["last_event_at"], counted["data_end"][0], plan.censor_s)
        units, evidence, driver_counts = attribute_units(
            *attr_rows, units.with_columns(end), spec, names, n_sessions, details
        )
        units = units.drop("_end")
    del ordered, sess
    return Partials(
        units=units.drop("_sid", "_exit_sid", "_exit_end", "_furthest", "_exit_row"),
        evidence=evidence,
        driver_counts=driver_counts,
        counts=counted,
        totals=totals,
        rejects=rejects,
        duplicates=dups,
        events=events.with_columns(pl.col("event").cast(pl.String)),
    )
