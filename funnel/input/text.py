"""Text files (CSV, TSV, JSON lines) read row by row without losing the rows that are wrong.

A text export can hold rows no reader can take: a line with more or fewer fields than the
header, a line cut off when the export stopped, a line that is not JSON, a word in a column
of numbers after the rows the types were guessed from. Polars' readers either stop at such
a row or fill it silently. Here every row of a text file comes out with two marks:

* ``_line``: the line of the file the row starts on (1 is the CSV header);
* ``_malformed``: what is wrong with the row, or null.

Validation rejects a marked row as ``malformed`` (see :mod:`funnel.input.validate`); the
rest of the file is used. Column types are the ones polars infers from the first
:data:`INFER_ROWS` rows; a later value that is not of that type marks its row.

How, without a Python loop over rows:

* **CSV**: the file is read twice, side by side. Once by polars' CSV reader with every
  column as text and ragged lines allowed, once as plain lines (``scan_lines``). From the
  lines, a running count of quote characters says which lines continue a quoted value
  (RFC 4180 quoting, the only quoting polars reads), so each record gets its first line and
  its number of fields. The two reads give the same records in the same order and are
  zipped together. A blank line is a record of its own in both.
* **JSON lines**: the file is read as lines; ``json_path_match("$")`` tells a JSON object
  from anything else, and only those are decoded. Blank lines are not rows.

Data columns named ``_...`` or ``at_...`` come out as ``data:...``
(:mod:`funnel.input.reserved`).

Cost (``benchmarks/text_read.py``, 1M rows of 7 columns): 0.33 s against 0.15 s for
polars' own CSV reader, 1.31 s against 0.33 s for its JSON-lines reader (telling JSON from
anything else is most of it). Parquet is read as it is; large dumps belong in Parquet.
"""

from __future__ import annotations

import codecs
import gzip
import re
from typing import IO

import polars as pl

from funnel.errors import SchemaError, first_line
from funnel.input.reserved import check_names, escape

__all__ = [
    "INFER_ROWS",
    "TEXT_MARKS",
    "first_bad_utf8",
    "scan_csv_file",
    "scan_ndjson_file",
    "unreadable",
    "unreadable_hint",
]

TEXT_MARKS = ("_file", "_line", "_malformed")  # what every row of a text file carries

INFER_ROWS = 10_000  # rows the column types are inferred from

_KIND = {pl.Boolean: "true or false", pl.Int64: "an integer", pl.Float64: "a number"}


def _typed(name: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr | None]:
    """Text column ``name`` as ``dtype``, and the problem of a value that is not one."""
    text = pl.col(name)
    if dtype == pl.String:
        return text, None
    if dtype == pl.Null:  # no value in the rows the types were inferred from (as polars)
        return pl.lit(None).alias(name), None
    if dtype == pl.Boolean:
        typed = text.str.to_lowercase().replace_strict(
            {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
        )
    else:
        typed = text.cast(dtype, strict=False)
    kind = _KIND.get(dtype.base_type(), str(dtype))  # type: ignore[call-overload]
    problem = pl.when(text.is_not_null() & typed.is_null()).then(
        pl.format(f"column '{name}': '{{}}' is not {kind}", text.str.slice(0, 40))
    )
    return typed.alias(name), problem


def _with_types(frame: pl.LazyFrame, schema: pl.Schema, first: list[pl.Expr]) -> pl.LazyFrame:
    """Text columns cast to ``schema``; ``_malformed``: the first of ``first`` (problems of
    the row's shape) and the columns' type problems."""
    columns, problems = [], list(first)
    for name, dtype in schema.items():
        typed, problem = _typed(name, dtype)
        columns.append(typed)
        if problem is not None:
            problems.append(problem)
    malformed = pl.coalesce(problems) if problems else pl.lit(None, pl.String)
    return frame.with_columns(*columns, malformed.cast(pl.String).alias("_malformed"))


def _records(path: str, separator: str) -> pl.LazyFrame:
    """One row per CSV record after the header, in file order: ``_line`` (its first line),
    ``_fields`` (how many fields it has) and ``_blank`` (an empty line)."""
    line = pl.col("_text")
    quotes = line.str.count_matches('"', literal=True)
    inside = (quotes.cum_sum() - quotes) % 2 == 1  # the line continues a quoted value
    # separators outside quotes: drop quoted parts (a continued line starts inside one)
    bare = pl.when(pl.col("_inside")).then(pl.lit('"') + line).otherwise(line)
    seps = bare.str.replace_all(r'"[^"]*("|$)', "").str.count_matches(separator, literal=True)
    lines = (
        pl.scan_lines(path, name="_text")
        .with_row_index("_line", offset=1)
        .with_columns(inside.alias("_inside"))
        .with_columns(seps.alias("_seps"))
        .with_columns(pl.col("_seps").cum_sum().alias("_cum"))
        .with_columns(
            (~pl.col("_inside")).alias("_start"),
            (~pl.col("_inside")).shift(-1, fill_value=True).alias("_end"),
        )
    )
    starts = lines.filter(pl.col("_start") & (pl.col("_line") > 1)).select(
        pl.col("_line").cast(pl.Int64),
        (pl.col("_cum") - pl.col("_seps")).alias("_before"),
        (line.str.strip_chars() == "").alias("_blank"),
    )
    ends = lines.filter(pl.col("_end") & (pl.col("_line") > 1)).select(pl.col("_cum"))
    return pl.concat([starts, ends], how="horizontal").select(
        "_line", (pl.col("_cum") - pl.col("_before") + 1).alias("_fields"), "_blank"
    )


def scan_csv_file(path: str, separator: str = ",", *, infer_rows: int = INFER_ROWS) -> pl.LazyFrame:
    """The rows of one CSV (or TSV) file with ``_file``, ``_line`` and ``_malformed``;
    column types are inferred from the first ``infer_rows`` rows.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "e.csv")
    >>> _ = open(p, "w").write("u,n\\na,1\\nb,2,3\\nc,x\\n\\nd")
    >>> rows = scan_csv_file(p, infer_rows=1).select("u", "n", "_line", "_malformed")
    >>> rows.collect().rows()  # doctest: +NORMALIZE_WHITESPACE
    [('a', 1, 2, None), ('b', 2, 3, '3 fields, the header has 2'),
     ('c', None, 4, "column 'n': 'x' is not an integer"), (None, None, 5, 'blank line'),
     ('d', None, 6, '1 field, the header has 2')]
    """
    schema = pl.scan_csv(path, separator=separator, infer_schema_length=infer_rows)
    schema = schema.collect_schema()
    check_names(path, schema.names())
    schema = pl.Schema({escape(n): t for n, t in schema.items()})
    text = pl.scan_csv(
        path,
        separator=separator,
        infer_schema=False,
        truncate_ragged_lines=True,
        with_column_names=lambda names: [escape(n) for n in names],
    )
    n = len(schema)
    fields = pl.col("_fields")
    shape = (
        pl.when(pl.col("_blank"))
        .then(pl.lit("blank line"))
        .when(fields != n)
        .then(
            pl.format(
                "{} field{}, the header has {}",
                fields,
                pl.when(fields == 1).then(pl.lit("")).otherwise(pl.lit("s")),
                pl.lit(n),
            )
        )
    )
    frame = pl.concat([text, _records(path, separator)], how="horizontal")
    frame = _with_types(frame, schema, [shape])
    return frame.with_columns(pl.lit(path).alias("_file")).drop("_fields", "_blank")


def scan_ndjson_file(path: str, *, infer_rows: int = INFER_ROWS) -> pl.LazyFrame:
    """The rows of one JSON-lines file with ``_file``, ``_line`` and ``_malformed``;
    blank lines are not rows; column types are inferred from the first ``infer_rows``
    objects.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "e.ndjson")
    >>> _ = open(p, "w").write('{"u":"a","n":1}\\n\\n{"u":"b","n":\\n{"u":"c","n":"x"}\\n[1]\\n')
    >>> rows = scan_ndjson_file(p, infer_rows=1).select("u", "n", "_line", "_malformed")
    >>> rows.collect().rows()  # doctest: +NORMALIZE_WHITESPACE
    [('a', 1, 1, None), (None, None, 3, 'not a JSON object: {"u":"b","n":'),
     ('c', None, 4, "column 'n': 'x' is not an integer"), (None, None, 5, 'not a JSON object: [1]')]
    """
    line = pl.col("_text")
    lines = (
        pl.scan_lines(path, name="_text")
        .with_row_index("_line", offset=1)
        .filter(line.str.strip_chars() != "")
        .with_columns(
            (
                line.str.strip_chars_start().str.starts_with("{")
                & line.str.json_path_match("$").is_not_null()
            ).alias("_ok")
        )
    )
    sample = lines.filter("_ok").head(infer_rows).select("_text").collect()["_text"]
    if sample.is_empty():
        raise SchemaError(
            f"{path}: no line is a JSON object",
            hint="give JSON lines: one object per line (a JSON array must be converted, "
            "e.g. jq -c '.[]' FILE)",
        )
    decoded = sample.str.json_decode(infer_schema_length=None).dtype
    assert isinstance(decoded, pl.Struct)
    schema = pl.Schema({f.name: f.dtype for f in decoded.fields})
    check_names(path, schema.names())
    # scalars are decoded as text and typed afterwards, so a wrong type marks one row
    as_text = {n: (t if t.is_nested() else pl.String()) for n, t in schema.items()}
    frame = lines.select(
        pl.col("_line").cast(pl.Int64),
        pl.when("_ok").then(line).str.json_decode(pl.Struct(as_text)).alias("_row"),
        pl.when(~pl.col("_ok"))
        .then(pl.format("not a JSON object: {}", line.str.slice(0, 40)))
        .alias("_bad"),
    )
    frame = frame.with_columns(pl.col("_row").struct.rename_fields([escape(n) for n in schema]))
    frame = frame.unnest("_row")
    scalars = pl.Schema({escape(n): t for n, t in schema.items() if not t.is_nested()})
    frame = _with_types(frame, scalars, [pl.col("_bad")]).drop("_bad")
    return frame.with_columns(pl.lit(path).alias("_file"))


def _open(path: str) -> IO[bytes]:
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


def first_bad_utf8(path: str) -> tuple[int, int, int] | None:
    """``(line, byte offset, byte)`` of the first bytes of ``path`` that are not UTF-8, or
    None; reads the file in 16 MiB blocks (a diagnosis, after a read failed).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "e.csv")
    >>> _ = open(p, "wb").write("u,e\\nb,caf\\xe9\\n".encode("latin-1"))
    >>> first_bad_utf8(p)
    (2, 9, 233)
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = newlines = 0
    with _open(path) as fh:
        while True:
            chunk = fh.read(1 << 24)
            pending = decoder.getstate()[0]  # the start of a character cut by the block
            data = pending + chunk
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                line = newlines + data.count(b"\n", 0, exc.start) + 1
                return line, offset - len(pending) + exc.start, data[exc.start]
            if not chunk:
                return None
            newlines += chunk.count(b"\n")
            offset += len(chunk)


def line_at(path: str, offset: int, text: str = "") -> int:
    """The line of ``path`` that byte ``offset`` is on, or with ``text`` the line of its
    first occurrence from there (a reader's message names a field and a block's offset).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "e.csv")
    >>> _ = open(p, "wb").write(b"u,e\\na,b\\nc,d\\n")
    >>> line_at(p, 4), line_at(p, 4, "c,")
    (2, 3)
    """
    with _open(path) as fh:
        data = fh.read()
    if text and (found := data.find(text.encode(), offset)) >= 0:
        offset = found
    return data.count(b"\n", 0, offset) + 1


def unreadable(path: str) -> str | None:
    """Why text file ``path`` cannot be read, with the line, or None when it can. A
    diagnosis after a read failed: reads the file again (streaming, keeping nothing)."""
    try:
        bad = first_bad_utf8(path)
    except (OSError, EOFError) as exc:  # a compressed file cut off or damaged
        return f"the compressed file is damaged or cut off: {first_line(exc)}"
    if bad is not None:
        line, offset, byte = bad
        return f"line {line} (byte {offset:,}) is not UTF-8 text: byte 0x{byte:02X}"
    try:
        if format_of_text(path) == "csv":
            rows = scan_csv_file(path, "\t" if path.lower().endswith(".tsv") else ",")
        else:
            rows = scan_ndjson_file(path)
        rows.select(pl.all().null_count()).collect(engine="streaming")
    except Exception as exc:  # whatever polars raises, it is reported
        found = re.search(r"offset in the file is (\d+) bytes", str(exc))
        field = re.search(r"could not parse `(.+?)` as", str(exc))
        where = ""
        if found:
            line = line_at(path, int(found.group(1)), field.group(1) if field else "")
            where = f"line {line}: " if field else f"near line {line}: "
        return where + first_line(exc)
    return None


def unreadable_hint(why: str) -> str:
    """What to do about what :func:`unreadable` found."""
    if "UTF-8" in why:
        return "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE > NEW)"
    return "fix or remove that line (the file is left as it is)"


def format_of_text(path: str) -> str:
    name = path.lower().removesuffix(".gz")
    return "csv" if name.endswith((".csv", ".tsv")) else "ndjson"
