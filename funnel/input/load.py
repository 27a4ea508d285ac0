"""Load: find the files of an event dump, scan them lazily and bring them to the data contract.

The data contract is four canonical columns — ``user_id``, ``timestamp``, ``event`` and an
optional ``session_id`` — plus any number of property columns, which are kept as they are.
Each row also carries ``_file``, the file it came from, so that the ledger can count per file.

Nothing is read here beyond file schemas (and, for epoch timestamps without a unit, one
``min``/``max`` aggregate, see :mod:`funnel.input.timestamps`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from funnel.errors import SchemaError, closest, first_line
from funnel.input.presets import PRESETS, Preset
from funnel.input.reserved import check_names, escape
from funnel.input.text import (
    TEXT_MARKS,
    scan_csv_file,
    scan_ndjson_file,
    unreadable,
    unreadable_hint,
)
from funnel.input.timestamps import TimestampInfo, normalize_timestamp
from funnel.input.unify import file_schema_key, join_parts, joined_timestamp_info

__all__ = [
    "CANONICAL",
    "LoadOptions",
    "LoadedEvents",
    "canonical",
    "discover_files",
    "format_of",
    "hive_columns",
    "scan_events",
    "scan_files",
    "type_groups",
    "user_id_expr",
]

CANONICAL = ("user_id", "timestamp", "event", "session_id")
REQUIRED = ("user_id", "timestamp", "event")

_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
    ".ndjson.gz": "ndjson",
    ".jsonl.gz": "ndjson",
    ".json.gz": "ndjson",
}


@dataclass(frozen=True, kw_only=True)
class LoadOptions:
    """How to read a dump.

    Parameters
    ----------
    preset
        Name of an export shape (``ga4``, ``segment``, ``amplitude``, ``snowplow``,
        ``ecommerce``) or None for data already in the canonical shape.
    mapping
        Canonical column -> source column, e.g. ``{"user_id": "visitor"}``; applied after
        the preset.
    timezone
        Zone of naive datetimes and of strings without an offset.
    timestamp_unit
        Unit of epoch-number timestamps (``s``, ``ms``, ``us``, ``ns``); inferred when None
        and every value agrees on one unit.
    """

    preset: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    timezone: str = "UTC"
    timestamp_unit: str | None = None


@dataclass(frozen=True)
class LoadedEvents:
    """A lazy frame in the canonical shape plus what loading learned on the way."""

    frame: pl.LazyFrame
    files: tuple[str, ...]
    timestamp: TimestampInfo
    extra: tuple[str, ...] = ()  # how files that disagree on types were joined

    def notes(self) -> tuple[str, ...]:
        """What loading inferred, for the ledger."""
        ts = self.timestamp
        return (f"timestamp: {ts.how} (source type {ts.source_dtype})", *self.extra)


def format_of(path: str) -> str | None:
    name = path.lower()
    for ext in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return _FORMATS[ext]
    return None


def discover_files(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """Expand a file, folder (recursively, hive layouts included) or glob into data files.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("day=1/a.parquet", "day=2/b.csv.gz", "notes.txt"):
    ...     (d / name).parent.mkdir(exist_ok=True)
    ...     _ = (d / name).write_bytes(b"")
    >>> [pathlib.Path(f).relative_to(d).as_posix() for f in discover_files(d)]
    ['day=1/a.parquet', 'day=2/b.csv.gz']
    """
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    files: list[str] = []
    for src in sources:
        text = os.fspath(src)
        if any(ch in text for ch in "*?["):
            found = sorted(glob.glob(text, recursive=True))
        elif os.path.isdir(text):
            found = sorted(
                str(p) for p in Path(text).rglob("*") if p.is_file() and not p.name.startswith(".")
            )
            found = [f for f in found if format_of(f) is not None]
        elif os.path.exists(text):
            found = [text]
        else:
            raise SchemaError(f"{text}: no such file or folder", hint="check the path")
        files.extend(f for f in found if os.path.isfile(f))
    if not files:
        raise SchemaError(
            f"{', '.join(map(os.fspath, sources))}: no event files found",
            hint="give .parquet, .csv(.gz) or .ndjson/.jsonl(.gz) files, a folder or a glob",
        )
    unknown = [f for f in files if format_of(f) is None]
    if unknown:
        raise SchemaError(
            f"{unknown[0]}: unknown file type",
            hint="name files .parquet, .csv, .csv.gz, .ndjson, .jsonl or .ndjson.gz",
        )
    return files


def hive_columns(path: str) -> dict[str, str]:
    """The ``key=value`` folders of a hive layout above ``path``, as text."""
    parts = Path(path).parts[:-1]
    return dict(p.split("=", 1) for p in parts if "=" in p and not p.startswith("="))


def _scan_one_format(fmt: str, files: list[str]) -> tuple[pl.LazyFrame, dict[str, list[str]]]:
    """Scan files of one format; return the frame and each file's column names."""
    try:
        if fmt == "parquet":
            schemas = {f: [*pl.read_parquet_schema(f), *hive_columns(f)] for f in files}
            for f, names in schemas.items():
                check_names(f, names)
            hive = any(hive_columns(f) for f in files)
            taken = {n for names in schemas.values() for n in names}
            path_col = "_file" if "_file" not in taken else "data:_file:path"
            frame = pl.scan_parquet(
                files, hive_partitioning=hive, include_file_paths=path_col, missing_columns="insert"
            )
            # data columns named like the engine's own are read as data:<name>
            frame = frame.rename({n: escape(n) for n in taken if escape(n) != n})
            frame = frame.rename({path_col: "_file"}) if path_col != "_file" else frame
            schemas = {f: [escape(n) for n in names] for f, names in schemas.items()}
            return frame, schemas
        frames, schemas = [], {}
        for f in files:  # row by row, malformed rows marked (see funnel.input.text)
            if fmt == "csv":
                lf = scan_csv_file(f, "\t" if f.lower().endswith(".tsv") else ",")
            else:
                lf = scan_ndjson_file(f)
            schemas[f] = [c for c in lf.collect_schema().names() if c not in TEXT_MARKS]
            frames.append(lf)
        return pl.concat(frames, how="diagonal_relaxed"), schemas
    except SchemaError:
        raise
    except Exception as exc:  # polars raises many types for unreadable files
        for f in files if fmt in ("csv", "ndjson") else ():
            why = unreadable(f)  # which file, which line, why
            if why is not None:
                raise SchemaError(f"{f}: cannot read: {why}", hint=unreadable_hint(why)) from None
        raise SchemaError(
            f"{files[0] if len(files) == 1 else fmt + ' files'}: cannot read: {first_line(exc)}",
            hint="check that the file is complete and of the type its name says",
        ) from exc


def _check_columns(schemas: dict[str, list[str]], needed: Mapping[str, str], where: str) -> None:
    for f, cols in schemas.items():
        for canonical, source in needed.items():
            if source not in cols:
                near = closest(source, cols)
                hint = f"did you mean '{near}'? " if near else ""
                hint += f"map it with --map {canonical}=COLUMN" + (
                    f" or check --preset {where}" if where != "canonical" else ""
                )
                raise SchemaError(
                    f"{f}: required column '{source}' ({canonical}) is missing; "
                    f"columns found: {', '.join(cols) or '(none)'}",
                    hint=hint,
                )


def user_id_expr(dtype: pl.DataType) -> pl.Expr:
    """User ids as they are when they are integers (sorted, hashed and compared as 8 bytes,
    and shown as numbers), otherwise as text without surrounding blanks.

    >>> user_id_expr(pl.Int64).meta.output_name(), user_id_expr(pl.Float64).meta.root_names()
    ('user_id', ['user_id'])
    """
    if dtype.is_integer():
        return pl.col("user_id")
    return pl.col("user_id").cast(pl.String).str.strip_chars()


def scan_files(files: list[str]) -> tuple[pl.LazyFrame, dict[str, list[str]]]:
    """The rows of ``files`` as read (any mix of formats), with ``_file``, and each file's
    columns. Reads file schemas only."""
    by_format: dict[str, list[str]] = {}
    for f in files:
        by_format.setdefault(format_of(f) or "", []).append(f)
    scans, schemas = [], {}
    for fmt, fs in sorted(by_format.items()):
        lf, sch = _scan_one_format(fmt, fs)
        scans.append(lf)
        schemas.update(sch)
    return (scans[0] if len(scans) == 1 else pl.concat(scans, how="diagonal_relaxed")), schemas


def scan_events(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    options: LoadOptions | None = None,
) -> LoadedEvents:
    """Scan an event dump lazily into the canonical shape.

    Collects nothing but file schemas (and a min/max of epoch timestamps when their unit
    must be inferred).

    >>> import polars as pl, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> pl.DataFrame({"visitor": ["a"], "ts": ["2024-05-01T10:00:00Z"], "event": ["x"]}
    ...     ).write_csv(os.path.join(d, "e.csv"))
    >>> ev = scan_events(d, LoadOptions(mapping={"user_id": "visitor", "timestamp": "ts"}))
    >>> ev.frame.select("user_id", "timestamp", "event").collect().row(0)[0]
    'a'
    """
    options = options or LoadOptions()
    files = discover_files(source)
    preset: Preset | None = None
    if options.preset is not None:
        if options.preset not in PRESETS:
            near = closest(options.preset, PRESETS)
            raise SchemaError(
                f"unknown preset '{options.preset}'",
                hint=(f"did you mean '{near}'? " if near else "")
                + "presets: "
                + ", ".join(sorted(PRESETS)),
            )
        preset = PRESETS[options.preset]
    groups = type_groups(files)
    parts = []
    for group in groups:  # one group unless the files disagree on types
        frame, schemas = scan_files(group)
        if preset is not None:
            _check_columns(schemas, {c: c for c in preset.required}, preset.name)
        parts.append(canonical(frame, options, files=tuple(group), schemas=schemas))
    if len(parts) == 1:
        return replace(parts[0], files=tuple(files))
    frame, notes = join_parts([p.frame for p in parts])
    info = joined_timestamp_info([(p.timestamp, len(p.files)) for p in parts])
    return LoadedEvents(frame=frame, files=tuple(files), timestamp=info, extra=tuple(notes))


def type_groups(files: list[str]) -> list[list[str]]:
    """Files grouped by format and column types, in first-seen order (reads Parquet
    footers, and for text formats the types the scan infers)."""
    groups: dict[tuple, list[str]] = {}
    for f in files:
        fmt = format_of(f) or ""
        if fmt == "parquet":  # the footer's schema; hive folders are typed by the joint scan
            try:
                schema = dict(pl.read_parquet_schema(f))
            except Exception:  # unreadable: the scan of its group says why, naming the file
                schema = {}
            schema |= dict.fromkeys(hive_columns(f), pl.String())
        else:  # text formats: the types the scan infers
            frame, _ = _scan_one_format(fmt, [f])
            schema = {c: t for c, t in frame.collect_schema().items() if c not in TEXT_MARKS}
        groups.setdefault((fmt, file_schema_key(schema)), []).append(f)
    return list(groups.values())


def canonical(
    frame: pl.LazyFrame,
    options: LoadOptions,
    *,
    files: tuple[str, ...],
    schemas: dict[str, list[str]] | None = None,
) -> LoadedEvents:
    """Rows as read (with ``_file``) brought to the canonical shape: the preset, the
    mapping, timestamps (:func:`funnel.input.timestamps.normalize_timestamp`) and the key
    columns' types. Row by row, so it runs on any batch of rows with the same result (the
    Spark runner's tasks do; with ``options.timestamp_unit`` given, nothing is read).
    ``schemas``: each file's columns, for messages that name the file. Never collects.

    >>> lf = pl.LazyFrame({"visitor": [" a "], "ts": [1714557600], "event": ["x"],
    ...                    "_file": ["e.csv"]})
    >>> opts = LoadOptions(mapping={"user_id": "visitor", "timestamp": "ts"})
    >>> canonical(lf, opts, files=("e.csv",)).frame.select("user_id", "event").collect().row(0)
    ('a', 'x')
    """
    preset = PRESETS.get(options.preset) if options.preset is not None else None
    # data columns named like the engine's own arrive as data:<name>: the file readers,
    # analyze's frame input and Spark's decode rename them (funnel.input.reserved)
    if preset is not None:
        frame = preset.transform(frame)
    if schemas is None or preset is not None:
        # after the preset, every file has the canonical names (mapping may still override)
        names = [c for c in frame.collect_schema().names() if c != "_file"]
        schemas = dict.fromkeys(files, names)
    mapping = {k: escape(v) for k, v in options.mapping.items()}
    unknown = [k for k in mapping if k not in CANONICAL]
    if unknown:
        near = closest(unknown[0], CANONICAL)
        raise SchemaError(
            f"--map {unknown[0]}=...: '{unknown[0]}' is not a canonical column",
            hint=(f"did you mean '{near}'? " if near else "")
            + "canonical columns: "
            + ", ".join(CANONICAL),
        )
    needed = {c: mapping.get(c, c) for c in REQUIRED}
    _check_columns(schemas, needed, preset.name if preset else "canonical")
    renames = {src: dst for dst, src in mapping.items() if src != dst}
    names = frame.collect_schema().names()
    # a canonical name that is also present as a property must not clash with the rename
    clashes = [dst for dst in renames.values() if dst in names and dst not in renames]
    frame = frame.drop(clashes).rename(renames)
    schema = frame.collect_schema()
    for col in ("user_id", "event", "session_id"):
        if col in schema and schema[col].is_nested():
            source = mapping.get(col, col)
            raise SchemaError(
                f"{files[0] if len(files) == 1 else 'input'}: column '{source}' ({col}) holds "
                f"nested values ({schema[col]}), not a plain {col}",
                hint=f"map a plain column, e.g. --map {col}={source}.FIELD (flattened names "
                "use a dot), or pick the preset of the export",
            )
    frame, ts_info = normalize_timestamp(
        frame, unit=options.timestamp_unit, timezone=options.timezone, files=files
    )
    casts = [
        user_id_expr(frame.collect_schema()["user_id"]),
        pl.col("event").cast(pl.String).str.strip_chars(),
        pl.col("_file").cast(pl.String),
    ]
    if "session_id" in frame.collect_schema().names():
        casts.append(pl.col("session_id").cast(pl.String))
    return LoadedEvents(frame=frame.with_columns(casts), files=files, timestamp=ts_info)
