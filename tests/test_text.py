"""Text files read row by row (funnel.input.text) against plain Python's csv and json
modules: every record comes out once, on the line it starts on, malformed exactly when the
reference says so, and typed as the reference infers."""

from __future__ import annotations

import csv
import io
import json

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnel.input.text import scan_csv_file, scan_ndjson_file

INFER = 3  # rows the types are inferred from, small so that later rows can disagree


def _kind(values: list[str]) -> str:
    """The type polars infers for a CSV column from its first values (empty = missing)."""
    present = [v for v in values if v != ""]

    def all_(test) -> bool:
        return bool(present) and all(test(v) for v in present)

    if all_(lambda v: v.lstrip("-").isdigit()):
        return "int"
    if all_(lambda v: v.replace(".", "", 1).lstrip("-").isdigit()):
        return "float"
    return "str"


def _typed(value: str, kind: str):
    if value == "":
        return None, None
    try:
        return {"int": int, "float": float, "str": str}[kind](value), None
    except ValueError:
        word = "an integer" if kind == "int" else "a number"
        return None, f"'{value}' is not {word}"


def csv_reference(text: str) -> list[tuple]:
    """(line, u, n, problem) per record after the header, from the csv module."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    records, line = [], reader.line_num + 1
    for fields in reader:
        records.append((line, fields))
        line = reader.line_num + 1
    kinds = [_kind([f[i] if i < len(f) else "" for _, f in records[:INFER]]) for i in (0, 1)]
    out = []
    for line, fields in records:
        padded = ([*fields, "", ""])[:2]
        values = [_typed(v, k) for v, k in zip(padded, kinds, strict=False)]
        problem = None
        if not fields:
            problem = "blank line"
        elif len(fields) != len(header):
            s = "" if len(fields) == 1 else "s"
            problem = f"{len(fields)} field{s}, the header has {len(header)}"
        else:
            problem = next(
                (f"column '{c}': {p}" for c, (_, p) in zip(("u", "n"), values, strict=False) if p),
                None,
            )
        blank = not fields
        out.append(
            (line, None if blank else values[0][0], None if blank else values[1][0], problem)
        )
    return out


cell = st.sampled_from(["a", "7", "-3", "2.5", "", "x y", '"q,1"', '"two\nlines"', '"say ""hi"""'])
record = st.one_of(
    st.lists(cell, min_size=2, max_size=2).map(",".join),  # well formed
    st.lists(cell, min_size=0, max_size=4).map(",".join),  # ragged or blank
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(record, max_size=12), crlf=st.booleans(), last_newline=st.booleans())
def test_csv_rows_match_the_csv_module(tmp_path, rows, crlf, last_newline):
    end = "\r\n" if crlf else "\n"
    text = end.join(["u,n", *rows]) + (end if last_newline else "")
    path = tmp_path / "e.csv"
    path.write_bytes(text.encode())
    got = scan_csv_file(str(path), infer_rows=INFER).select("_line", "u", "n", "_malformed")
    expected = csv_reference(text.replace("\r\n", "\n"))
    # the csv module reads a trailing empty line as no record; polars as none either
    assert got.collect().rows() == expected


def ndjson_reference(text: str) -> list[tuple]:
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        rows.append((number, line, obj if isinstance(obj, dict) else None))
    window = [o for _, _, o in rows if o is not None][:INFER]
    present = [o["n"] for o in window if o.get("n") is not None]
    kind = "null"
    if present:
        kind = "int" if all(type(v) is int for v in present) else "str"
    out = []
    for number, line, obj in rows:
        if obj is None:
            out.append((number, None, None, f"not a JSON object: {line[:40]}"))
            continue
        n, problem = obj.get("n"), None
        if kind == "null":
            n = None
        elif n is not None and kind == "int" and type(n) is not int:
            # a string of digits is an integer (BigQuery writes its int64 as strings)
            if n.lstrip("-").isdigit():
                n = int(n)
            else:
                n, problem = None, f"column 'n': '{n}' is not an integer"
        elif n is not None and kind == "str":
            n = str(n)
        out.append((number, obj.get("u"), n, problem))
    return out


json_line = st.one_of(
    st.fixed_dictionaries(
        {"u": st.sampled_from(["a", "b"])},
        optional={"n": st.one_of(st.none(), st.integers(-5, 5), st.sampled_from(["x", "7"]))},
    ).map(json.dumps),
    st.sampled_from(['{"u": "a", "n": ', "[1, 2]", "7", "not json", "", "   ", '{"u": "c"} x']),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(json_line, min_size=1, max_size=12))
def test_ndjson_rows_match_the_json_module(tmp_path, lines):
    text = "\n".join(lines) + "\n"
    path = tmp_path / "e.ndjson"
    path.write_text(text)
    expected = ndjson_reference(text)
    if all(row[3] and row[3].startswith("not a JSON") for row in expected):
        return  # no object at all: a named error, tested in test_hostile
    got = scan_ndjson_file(str(path), infer_rows=INFER)
    names = got.collect_schema().names()
    got = got.select("_line", "u", "n" if "n" in names else pl.lit(None).alias("n"), "_malformed")
    assert got.collect().rows() == expected
