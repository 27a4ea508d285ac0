"""The hostile-input corpus: small files written from rules, each with what must happen.

Every case is a folder of files (name -> bytes), the command line after ``funnel``, and an
expectation written here by hand from the rule that made the case (never from a run):

* ``Ledger(used=..., duplicates=..., rejected={reason: n}, line=...)``: the command succeeds
  and ``validate --format json`` accounts for every row exactly; ``line``: the line the
  ledger's note names for the first bad row;
* ``Fails(exit_code, text)``: a one-line named error containing ``text``.

``python -m tests.hostile_corpus DIR`` writes the corpus to DIR, to look at.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

T0 = "2024-05-01T10:00:00Z"
GOOD = [  # user, event, timestamp, value
    ("u1", "add_to_cart", "2024-05-01T10:00:00Z", "30"),
    ("u1", "begin_checkout", "2024-05-01T10:01:00Z", "30"),
    ("u1", "purchase", "2024-05-01T10:03:00Z", "30"),
    ("u2", "add_to_cart", "2024-05-01T23:59:30Z", "12"),
    ("u2", "begin_checkout", "2024-05-02T00:00:10Z", "12"),
    ("u3", "add_to_cart", "2024-05-02T08:00:00Z", "7"),
]
COLUMNS = ("user_id", "event", "timestamp", "value")


@dataclass(frozen=True)
class Ledger:
    used: int
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    line: int | None = None  # the first bad row's line, named in the ledger's notes


@dataclass(frozen=True)
class Fails:
    exit_code: int
    text: str


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, bytes]
    expect: Ledger | Fails
    args: tuple[str, ...] = ("validate", "{dir}")


# --- rows as text ---------------------------------------------------------------------


def _csv_line(fields: tuple[str, ...], sep: str) -> str:
    return sep.join(fields)


def _json_line(fields: tuple[str, ...]) -> str:
    row = dict(zip(COLUMNS, fields, strict=False))
    if "value" in row:
        row["value"] = int(row["value"]) if row["value"].isdigit() else row["value"]
    return json.dumps(row)


# a bad CSV line (fields joined by the separator, or literal text) and what it becomes
CSV_KINDS: dict[str, tuple[str | tuple[str, ...], str | None]] = {
    "extra_field": (("u9", "add_to_cart", T0, "5", "EXTRA"), "malformed"),
    "missing_field": (("u9", "add_to_cart", T0), "malformed"),
    "one_field": ("u9", "malformed"),
    "blank_line": ("", "malformed"),
    "truncated": ("u9,add_to_c", "malformed"),
    "spaces_only": ("   ", "malformed"),
    "null_user": (("", "add_to_cart", T0, "5"), "null_user"),
    "null_event": (("u9", "", T0, "5"), "null_event"),
    "bad_timestamp": (("u9", "add_to_cart", "yesterday", "5"), "bad_timestamp"),
    "future_timestamp": (("u9", "add_to_cart", "2999-01-01T00:00:00Z", "5"), "future_timestamp"),
    "before_floor": (("u9", "add_to_cart", "1990-01-01T00:00:00Z", "5"), "before_floor"),
    "duplicate": (GOOD[1], "duplicate"),
    "word_in_numbers": (("u9", "add_to_cart", T0, "abc"), None),  # inside the type window
    "quoted_separator_and_newline": (("u9", '"add,to\ncart"', T0, "5"), None),
    "escaped_quotes": (("u9", '"say ""hi"""', T0, "5"), None),
}

JSON_KINDS: dict[str, tuple[str, str | None]] = {
    "truncated": ('{"user_id": "u9", "ev', "malformed"),
    "not_json": ("hello", "malformed"),
    "array": ("[1, 2]", "malformed"),
    "number": ("42", "malformed"),
    "trailing_garbage": (_json_line(("u9", "add_to_cart", T0, "5")) + " x", "malformed"),
    "blank_line": ("", "not a row"),
    "null_user": (json.dumps({"user_id": None, "event": "a", "timestamp": T0}), "null_user"),
    "missing_user": (json.dumps({"event": "a", "timestamp": T0}), "null_user"),
    "null_event": (json.dumps({"user_id": "u9", "event": None, "timestamp": T0}), "null_event"),
    "bad_timestamp": (_json_line(("u9", "add_to_cart", "yesterday", "5")), "bad_timestamp"),
    "future_timestamp": (_json_line(("u9", "a", "2999-01-01T00:00:00Z", "5")), "future_timestamp"),
    "duplicate": (_json_line(GOOD[1]), "duplicate"),
    "unknown_key": (json.dumps({"user_id": "u9", "event": "a", "timestamp": T0, "zz": 1}), None),
    "nested_property": (
        json.dumps({"user_id": "u9", "event": "a", "timestamp": T0, "value": 5}),
        None,
    ),
}

POSITIONS = {"first": 0, "middle": 3, "last": len(GOOD)}


def _expect(outcome: str | None, line: int) -> Ledger:
    good = len(GOOD)
    if outcome is None:
        return Ledger(used=good + 1)
    if outcome == "not a row":
        return Ledger(used=good)
    if outcome == "duplicate":
        return Ledger(used=good, duplicates=1)
    return Ledger(used=good, rejected={outcome: 1}, line=line)


def _pack(name: str, text: str) -> bytes:
    data = text.encode()
    return gzip.compress(data, mtime=0) if name.endswith(".gz") else data


def row_cases() -> Iterator[Case]:
    """One bad line at the first, a middle and the last position of a small dump, in each
    text format (with and without a newline at the end of the file)."""
    for ext, sep in ((".csv", ","), (".tsv", "\t"), (".csv.gz", ",")):
        for kind, (bad, outcome) in CSV_KINDS.items():
            for where, at in POSITIONS.items():
                for final_newline in (True, False) if where == "last" else (True,):
                    if kind == "blank_line" and where == "last" and not final_newline:
                        continue  # a file ending in one newline has no blank line
                    text_bad = bad if isinstance(bad, str) else _csv_line(bad, sep)
                    lines = [_csv_line(r, sep) for r in GOOD]
                    lines.insert(at, text_bad)
                    text = "\n".join([sep.join(COLUMNS), *lines]) + ("\n" if final_newline else "")
                    name = f"csv-{kind}-{where}{'' if final_newline else '-no-eol'}{ext}"
                    yield Case(name, {f"events{ext}": _pack(ext, text)}, _expect(outcome, at + 2))
    for ext in (".ndjson", ".jsonl.gz"):
        for kind, (bad, outcome) in JSON_KINDS.items():
            for where, at in POSITIONS.items():
                lines = [_json_line(r) for r in GOOD]
                lines.insert(at, bad)
                text = "\n".join(lines) + "\n"
                yield Case(
                    f"json-{kind}-{where}{ext}",
                    {f"events{ext}": _pack(ext, text)},
                    _expect(outcome, at + 1),
                )


def late_type_cases() -> Iterator[Case]:
    """A word in a column of numbers after the 10,000 rows the types are inferred from."""
    many = [
        (
            f"u{i % 300}",
            "add_to_cart",
            f"2024-05-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            str(i % 90),
        )
        for i in range(10_050)
    ]
    bad = ("u7", "add_to_cart", "2024-05-02T00:00:00Z", "abc")
    for ext in (".csv", ".ndjson"):
        rows = [*many, bad]
        if ext == ".csv":
            text = "\n".join([",".join(COLUMNS), *(",".join(r) for r in rows)]) + "\n"
            line = len(rows) + 1
        else:
            text = "\n".join(_json_line(r) for r in rows) + "\n"
            line = len(rows)
        yield Case(
            f"late-word-in-numbers{ext}",
            {f"big{ext}": text.encode()},
            Ledger(used=len(many), rejected={"malformed": 1}, line=line),
        )


def _parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


def _good_frame() -> pl.DataFrame:
    return pl.DataFrame([dict(zip(COLUMNS, r, strict=False)) for r in GOOD]).with_columns(
        pl.col("value").cast(pl.Int64)
    )


def file_cases() -> Iterator[Case]:
    """Files that cannot be read as a whole, or whose columns cannot be used."""
    head = ",".join(COLUMNS) + "\n"
    good_csv = head + "".join(",".join(r) + "\n" for r in GOOD)
    good_json = "".join(_json_line(r) + "\n" for r in GOOD)
    parquet = _parquet(_good_frame())
    yield Case("empty-csv", {"e.csv": b""}, Fails(1, "cannot read"))
    yield Case("empty-ndjson", {"e.ndjson": b""}, Fails(1, "no line is a JSON object"))
    yield Case(
        "json-array-file",
        {
            "e.json": json.dumps(
                [dict(zip(COLUMNS, r, strict=False)) for r in GOOD], indent=1
            ).encode()
        },
        Fails(1, "no line is a JSON object"),
    )
    yield Case(
        "only-garbage-ndjson", {"e.ndjson": b"hello\nworld\n"}, Fails(1, "no line is a JSON object")
    )
    yield Case("header-only-csv", {"e.csv": head.encode()}, Ledger(used=0))
    yield Case("garbage-parquet", {"e.parquet": bytes(range(256)) * 3}, Fails(1, "cannot read"))
    yield Case("cut-parquet", {"e.parquet": parquet[: len(parquet) // 2]}, Fails(1, "cannot read"))
    # named .gz but not compressed: read as it is (the reader looks at the bytes)
    yield Case("not-gzip", {"e.csv.gz": good_csv.encode()}, Ledger(used=len(GOOD)))
    yield Case(
        "cut-gzip", {"e.csv.gz": gzip.compress(good_csv.encode())[:40]}, Fails(1, "cannot read")
    )
    for ext, text, first in ((".csv", good_csv, 2), (".ndjson", good_json, 1)):
        lines_in = text.count("\n")
        for line in (first, 4, lines_in):  # one byte of Latin-1 on that line
            lines = text.splitlines(keepends=True)
            lines[line - 1] = lines[line - 1].replace("u", "\xe9", 1)
            latin1 = "".join(lines).encode("latin-1")
            yield Case(f"latin1-line-{line}{ext}", {f"e{ext}": latin1}, Fails(1, f"line {line} ("))
    yield Case(
        "bad-quoting-csv",
        {"e.csv": (good_csv + 'u9,"add,to"cart,' + T0 + ",5\n").encode()},
        Fails(1, "line 8"),
    )
    # data columns named like the engine's own are read as data:<name>: every row is used
    odd = ("_file", "_k", "_cm", "_reject", "_uh", "_line", "_malformed", "_c0", "_text")
    for name in (*odd, "at_cart", "converted"):
        rows = "".join(",".join(r) + ",1\n" for r in GOOD)
        csv_text = (head.strip() + f",{name}\n" + rows).encode()
        yield Case(f"named-{name}-csv", {"e.csv": csv_text}, Ledger(used=len(GOOD)))
        frame = _good_frame().with_columns(pl.lit(1).alias(name))
        yield Case(f"named-{name}-parquet", {"e.parquet": _parquet(frame)}, Ledger(used=len(GOOD)))
        ndjson = "".join(json.dumps(r) + "\n" for r in frame.to_dicts()).encode()
        yield Case(f"named-{name}-ndjson", {"e.ndjson": ndjson}, Ledger(used=len(GOOD)))
    clash = head.strip() + ",_k,data:_k\n" + "".join(",".join(r) + ",1,2\n" for r in GOOD)
    yield Case("named-clash-csv", {"e.csv": clash.encode()}, Fails(1, "would have one name"))
    for col in ("user_id", "event"):
        rows = [dict(zip(COLUMNS, r, strict=False)) | {col: {"id": r[0]}} for r in GOOD]
        yield Case(
            f"nested-{col}-ndjson",
            {"e.ndjson": "".join(json.dumps(r) + "\n" for r in rows).encode()},
            Fails(1, "nested values"),
        )
    yield Case(
        "no-user-column",
        {"e.csv": good_csv.replace("user_id", "visitor", 1).encode()},
        Fails(1, "'user_id'"),
    )
    yield Case(
        "typo-user-column",
        {"e.csv": good_csv.replace("user_id", "user_di", 1).encode()},
        Fails(1, "did you mean 'user_di'"),
    )
    yield Case(
        "epochs-of-two-units",
        {"e.csv": b"user_id,event,timestamp\nu1,a,5\nu1,b,1714557600000\n"},
        Fails(1, "one unit"),
    )
    yield Case("no-event-files", {"notes.txt": b"hello"}, Fails(1, "no event files"))
    # several files whose types differ are joined by documented rules
    text_ts = good_csv
    epoch_ts = head + "u4,add_to_cart,1714600000,5\nu4,purchase,1714600100,5\n"
    yield Case(
        "iso-and-epoch-files",
        {"a.csv": text_ts.encode(), "b.csv": epoch_ts.encode()},
        Ledger(used=len(GOOD) + 2),
    )
    yield Case(
        "csv-json-parquet",
        {
            "a.csv": good_csv.encode(),
            "b.ndjson": good_json.replace('": "u', '": "v').encode(),
            "c.parquet": _parquet(_good_frame().with_columns(pl.lit("w").alias("user_id"))),
        },
        Ledger(used=3 * len(GOOD)),
    )
    ints = pl.DataFrame({"user_id": [1, 2], "event": ["a", "b"], "timestamp": [T0, T0]})
    yield Case(
        "int-and-text-users",
        {"a.parquet": _parquet(ints), "b.csv": good_csv.encode()},
        Ledger(used=len(GOOD) + 2),
    )
    yield Case(
        "value-int-and-text",
        {"a.csv": good_csv.encode(), "b.csv": (head + "u8,a," + T0 + ",lots\n").encode()},
        Ledger(used=len(GOOD) + 1),
    )


USAGE = {"tz-unknown", "min-after-max", "bootstrap-negative", "simulate-no-users", "unknown-preset"}


def option_cases() -> Iterator[Case]:
    """Command lines a user can get wrong, refused before any work: option values are usage
    errors (exit 2); outputs that would touch the inputs and unknown names exit 1."""
    good = {
        "e.csv": (",".join(COLUMNS) + "\n" + "".join(",".join(r) + "\n" for r in GOOD)).encode()
    }
    bad = [
        ("tz-unknown", ("analyze", "{dir}", "--tz", "Mars/Olympus"), "Mars/Olympus"),
        (
            "min-after-max",
            ("analyze", "{dir}", "--min-time", "2024-06-01", "--max-time", "2024-05-01"),
            "--min-time",
        ),
        (
            "bootstrap-negative",
            ("compare", "{dir}", "--by", "event", "--bootstrap", "-5"),
            "--bootstrap",
        ),
        ("rejects-onto-input", ("validate", "{dir}", "--rejects", "{dir}/e.csv"), "input"),
        ("rejects-unknown-type", ("validate", "{dir}", "--rejects", "{dir}/out.xlsx"), ".xlsx"),
        ("sessions-out-onto-input", ("analyze", "{dir}", "--sessions-out", "{dir}/e.csv"), "input"),
        ("simulate-no-users", ("simulate", "{dir}/sim.parquet", "--users", "0"), "--users"),
        ("unknown-preset", ("analyze", "{dir}", "--preset", "ga5"), "ga4"),
    ]
    for name, args, text in bad:
        yield Case(f"option-{name}", good, Fails(2 if name in USAGE else 1, text), args)


def all_cases() -> list[Case]:
    return [*row_cases(), *late_type_cases(), *file_cases(), *option_cases()]


def write(folder: Path) -> None:
    for case in all_cases():
        for name, data in case.files.items():
            path = folder / case.name / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


if __name__ == "__main__":
    write(Path(sys.argv[1]))
    print(f"{len(all_cases())} cases written to {sys.argv[1]}")
