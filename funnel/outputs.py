"""Outputs that never destroy data: checked before any work, written whole or not at all.

* :func:`check_outputs` runs before the analysis: no output may be an input file, or land
  where the inputs would read it back (inside an input folder, or matching an input glob,
  with a data file's extension); its folder must exist and be writable; its extension
  must say a format this writer knows; two outputs may not share a path.
* :func:`atomic_path` gives a temporary file in the output's own folder and renames it into
  place only when the writer finished; on an error or Ctrl-C the temporary goes, and a file
  that was there before stays as it was.
* :func:`write_table` writes the format the name says: ``.csv``, ``.parquet``,
  ``.json`` (an array of records) or ``.ndjson``/``.jsonl`` (one record a line).

>>> import tempfile, os, polars as pl
>>> d = tempfile.mkdtemp()
>>> write_table(pl.DataFrame({"a": [1]}), os.path.join(d, "t.ndjson"))
>>> open(os.path.join(d, "t.ndjson")).read()
'{"a":1}\\n'
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from funnel.errors import FunnelError

__all__ = ["TABLE_FORMATS", "atomic_path", "check_outputs", "write_table"]

TABLE_FORMATS = (".csv", ".parquet", ".json", ".ndjson", ".jsonl")
_DATA = (".parquet", ".pq", ".csv", ".tsv", ".ndjson", ".jsonl", ".json", ".gz")


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def check_outputs(
    outputs: dict[str, str | None], inputs: Sequence[str], formats: dict[str, tuple[str, ...]]
) -> None:
    """Refuse, before any work, an output (``{option: path}``) that would overwrite or feed
    an input, whose folder is missing or read-only, whose name says no format in
    ``formats[option]``, or that another output also names."""
    given = {opt: p for opt, p in outputs.items() if p}
    local = [str(i) for i in inputs if "://" not in str(i)]
    input_files = set()
    for src in local:
        if os.path.isfile(src):
            input_files.add(Path(src).resolve())
    seen: dict[Path, str] = {}
    for opt, path in given.items():
        target = Path(path).resolve()
        if target in seen:
            raise FunnelError(
                f"{opt} {path}: {seen[target]} writes there too",
                hint="give each output its own file",
            )
        seen[target] = opt
        allowed = formats.get(opt, TABLE_FORMATS)
        if not path.lower().endswith(allowed):
            raise FunnelError(
                f"{opt} {path}: unknown output type", hint=f"name it {' or '.join(allowed)}"
            )
        if target in input_files:
            raise FunnelError(f"{opt} {path} is one of the input files", hint="write elsewhere")
        for src in local:
            inside_folder = os.path.isdir(src) and Path(src).resolve() in target.parents
            by_glob = _is_glob(src) and fnmatch.fnmatch(str(target), str(Path(src).absolute()))
            if (inside_folder or by_glob) and path.lower().endswith(_DATA):
                raise FunnelError(
                    f"{opt} {path} lies where the input {src} would read it",
                    hint="write outputs outside the input folder",
                )
        folder = target.parent
        if not folder.is_dir():
            raise FunnelError(f"{opt} {path}: no folder {folder}", hint="create it first")
        if not os.access(folder, os.W_OK):
            raise FunnelError(f"{opt} {path}: folder {folder} is read-only", hint="write elsewhere")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary path beside ``path``, renamed onto it when the block ends without an
    error; removed otherwise (also on Ctrl-C). A full disk leaves the old file intact and
    is a :class:`FunnelError` naming the file."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent or "."
        )
        os.close(fd)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from None
        raise


def _cannot_write(path: str | os.PathLike[str], exc: OSError) -> FunnelError:
    return FunnelError(
        f"{path}: cannot write: {exc.strerror or exc}", hint="check the disk and the folder"
    )


def _as_json_text(df: pl.DataFrame) -> pl.DataFrame:
    """Nested columns (lists, structs) as JSON text, for CSV; vectorised."""
    nested = [c for c, t in df.schema.items() if t.is_nested()]
    return df.with_columns(
        pl.struct(c)
        .struct.json_encode()
        .str.strip_prefix('{"' + c.replace('"', '\\"') + '":')
        .str.strip_suffix("}")
        .alias(c)
        for c in nested
    )


def write_table(df: pl.DataFrame, path: str) -> None:
    """Write ``df`` in the format its name says, atomically; nested values as JSON text in
    CSV (which cannot hold them)."""
    low = path.lower()
    if not low.endswith(TABLE_FORMATS):
        raise FunnelError(f"{path}: unknown output type", hint="use " + ", ".join(TABLE_FORMATS))
    with atomic_path(path) as tmp:
        if low.endswith(".parquet"):
            df.write_parquet(tmp)
        elif low.endswith((".ndjson", ".jsonl")):
            df.write_ndjson(tmp)
        elif low.endswith(".json"):
            df.write_json(tmp)
        else:
            _as_json_text(df).write_csv(tmp)
