"""Dumps whose files disagree on types: each kind of file is brought to the canonical shape
on its own (timestamps normalised per file before they meet), then the parts are joined by
documented rules.

* Files are grouped by format and exact column types; a dump whose files all agree is one
  group, read exactly as before.
* ``timestamp`` is a UTC datetime in every part already (each part read its own way: a
  zoned datetime, naive text in ``--tz``, epoch numbers with their own unit).
* A column whose type differs between parts (``user_id`` integers in one file and text in
  another, a property ``Int64`` here and text there) is read as text everywhere, and the
  ledger notes it.

>>> import polars as pl
>>> a = pl.LazyFrame({"user_id": [1], "price": [5]})
>>> b = pl.LazyFrame({"user_id": ["u2"], "price": ["n/a"]})
>>> frame, notes = join_parts([a, b])
>>> frame.collect()["price"].to_list(), notes[1]
(['5', 'n/a'], "column 'price' is Int64 in some files and String in others: read as text")
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from funnel.input.timestamps import TimestampInfo

__all__ = ["file_schema_key", "join_parts", "joined_timestamp_info"]


def file_schema_key(schema: pl.Schema | dict[str, pl.DataType]) -> tuple:
    """What files must share to be read as one part: their columns and types, in order."""
    return tuple((name, str(dtype)) for name, dtype in schema.items())


def join_parts(frames: Sequence[pl.LazyFrame]) -> tuple[pl.LazyFrame, list[str]]:
    """Canonical parts joined into one frame: columns whose types differ become text
    (``user_id`` text without surrounding blanks); the notes say which."""
    schemas = [f.collect_schema() for f in frames]
    seen: dict[str, list[pl.DataType]] = {}
    for schema in schemas:
        for name, dtype in schema.items():
            if dtype != pl.Null:
                seen.setdefault(name, []).append(dtype)
    mixed = [name for name, types in seen.items() if len(set(types)) > 1]
    notes = []
    for name in mixed:
        kinds = sorted({str(t) for t in seen[name]})
        notes.append(
            f"column '{name}' is {' in some files and '.join(kinds)} in others: read as text"
        )

    def as_text(name: str) -> pl.Expr:
        text = pl.col(name).cast(pl.String)
        return (text.str.strip_chars() if name == "user_id" else text).alias(name)

    cast = [
        f.with_columns(as_text(c) for c in mixed if c in s)
        for f, s in zip(frames, schemas, strict=True)
    ]
    return pl.concat(cast, how="diagonal_relaxed"), notes


def joined_timestamp_info(infos: Sequence[tuple[TimestampInfo, int]]) -> TimestampInfo:
    """How timestamps were read, over parts (each with its number of files)."""
    hows = {}
    for info, n in infos:
        hows[info.how] = hows.get(info.how, 0) + n
    if len(hows) == 1:
        return infos[0][0]
    how = "; ".join(f"{h} ({n} file{'s' if n > 1 else ''})" for h, n in sorted(hows.items()))
    types = sorted({info.source_dtype for info, _ in infos})
    return TimestampInfo(source_dtype=" / ".join(types), how=how)
