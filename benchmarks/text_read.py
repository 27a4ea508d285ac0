"""What reading text dumps row by row costs: polars' own CSV / JSON-lines readers (which
stop at a malformed row, or fill it silently) against funnel's readers, which mark each
malformed row with its line (funnel.input.text). Prints the median wall time of each.

    python benchmarks/text_read.py 1_000_000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from funnel.input.text import scan_csv_file, scan_ndjson_file


def _dump(n: int, folder: Path) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {
            "user_id": rng.integers(0, n // 10, n).astype(str),
            "timestamp": pl.datetime_range(
                pl.datetime(2024, 5, 1), pl.datetime(2024, 6, 1), "1s", eager=True
            )
            .head(n)
            .dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "event": rng.choice(["page_view", "add_to_cart", "begin_checkout", "purchase"], n),
            "cart_value": rng.random(n) * 100,
            "shipping": rng.integers(0, 10, n),
            "device": rng.choice(["mobile", "desktop"], n),
            "page": rng.choice(["/cart", "/checkout/shipping", "/checkout/payment"], n),
        }
    )
    csv, ndjson = str(folder / "e.csv"), str(folder / "e.ndjson")
    frame.write_csv(csv)
    frame.write_ndjson(ndjson)
    return csv, ndjson


def _median(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", type=lambda s: int(s.replace("_", "")))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv, ndjson = _dump(args.rows, Path(tmp))
        contenders = {
            "polars scan_csv": lambda: pl.scan_csv(csv, infer_schema_length=10_000),
            "funnel scan_csv_file": lambda: scan_csv_file(csv),
            "polars scan_ndjson": lambda: pl.scan_ndjson(ndjson, infer_schema_length=10_000),
            "funnel scan_ndjson_file": lambda: scan_ndjson_file(ndjson),
        }
        print(f"{args.rows:,} rows, 7 columns; median of {args.repeat} (streaming collect)")
        for name, scan in contenders.items():
            seconds = _median(lambda s=scan: s().collect(engine="streaming"), args.repeat)
            print(f"  {name:<26} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
