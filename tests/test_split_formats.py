"""A dump split into files of different formats and types gives the results of one clean
file: random logs (bad rows, duplicates, ties, midnight) cut into parts, each part written
its own way (Parquet with zoned datetimes or epoch numbers, CSV or TSV with ISO text, JSON
lines with epoch milliseconds, gzip), against the same rows as one polars frame."""

from __future__ import annotations

import gzip

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnel
from tests.test_engine_vs_reference import _frame, _make_rows, _options, row_strategy, specs

FORMATS = ["parquet", "parquet-epoch", "csv", "tsv", "ndjson-epoch-ms", "csv.gz"]


def _write(part: pl.DataFrame, folder, i: int, fmt: str) -> None:
    ts = pl.col("timestamp")
    if fmt == "parquet":
        part.write_parquet(folder / f"p{i}.parquet")
    elif fmt == "parquet-epoch":  # epoch seconds as integers (whole seconds here)
        part.with_columns(ts.dt.epoch("s")).write_parquet(folder / f"p{i}.parquet")
    elif fmt in ("csv", "tsv", "csv.gz"):
        text = part.with_columns(ts.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        sep = "\t" if fmt == "tsv" else ","
        data = text.write_csv(separator=sep).encode()
        name = folder / f"p{i}.{fmt}"
        name.write_bytes(gzip.compress(data, mtime=0) if fmt.endswith(".gz") else data)
    else:
        part.with_columns(ts.dt.epoch("ms")).write_ndjson(folder / f"p{i}.ndjson")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    raw=st.lists(row_strategy, min_size=1, max_size=50),
    dup_idx=st.lists(st.integers(0, 100), max_size=4),
    spec=specs(),
    formats=st.lists(st.sampled_from(FORMATS), min_size=1, max_size=4),
    seed=st.randoms(),
)
def test_files_of_any_format_and_type_give_the_clean_results(
    tmp_path_factory, raw, dup_idx, spec, formats, seed
):
    rows = _make_rows(raw, dup_idx)
    clean = funnel.analyze(_frame(rows), spec, _options())
    seed.shuffle(rows)
    frame = _frame(rows)
    folder = tmp_path_factory.mktemp("split")
    size = -(-frame.height // len(formats))
    for i, fmt in enumerate(formats):
        part = frame.slice(i * size, size)
        if part.height:
            _write(part, folder, i, fmt)
    split = funnel.analyze(str(folder), spec, _options())
    assert split.units.equals(clean.units)
    assert split.steps.equals(clean.steps)
    assert split.timing.equals(clean.timing)
    for outcome in ("used", "duplicate", "rejected"):
        assert split.ledger.total(outcome) == clean.ledger.total(outcome), outcome
    assert split.ledger.by_reason() == clean.ledger.by_reason()
