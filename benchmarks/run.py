"""Time funnel.analyze against DuckDB SQL and against polars read+sort; print a table.

    python benchmarks/run.py benchmarks/data/events_10M.parquet [--repeat 3]

Each measurement runs in a fresh process, so peak RSS (ru_maxrss of that child) is its own;
imports happen before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

TASKS = {
    "funnel.analyze": """
import funnel
r = funnel.analyze(PATH)
out = {"entered": r.steps["entered"].to_list(), "events_used": r.summary["events_used"]}
""",
    "funnel.analyze (no causes)": """
import funnel
r = funnel.analyze(PATH, options=funnel.AnalyzeOptions(causes=False))
out = {"entered": r.steps["entered"].to_list(), "events_used": r.summary["events_used"]}
""",
    "polars read+sort": """
import polars as pl
lf = pl.scan_parquet(PATH).select("user_id", "timestamp", "event")
df = lf.sort("user_id", "timestamp").collect()
out = {"rows": df.height}
""",
    "duckdb SQL": """
import duckdb
con = duckdb.connect()
con.execute("SET threads TO 2")
SQL = open(os.path.join(HERE, "duckdb_funnel.sql")).read().replace("PATH", PATH)
rows = con.execute(SQL).fetchall()
out = {"entered": [r[1] for r in rows]}
""",
}


def measure(code: str, path: str) -> tuple[float, float, dict]:
    imports = "".join(line + "\n" for line in code.splitlines() if line.startswith("import "))
    body = "".join(line + "\n" for line in code.splitlines() if not line.startswith("import "))
    prog = (
        f"import os, json, time\n{imports}PATH = {path!r}\n"
        f"HERE = {os.path.dirname(os.path.abspath(__file__))!r}\n"
        f"t0 = time.perf_counter()\n{body}\nout['wall_s'] = time.perf_counter() - t0\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.Popen([sys.executable, "-c", prog], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout = proc.stdout.read() if proc.stdout else ""
    if status != 0:
        raise SystemExit(f"benchmark failed: {code}")
    out = json.loads(stdout.strip().splitlines()[-1])
    return out.pop("wall_s"), usage.ru_maxrss / 1024, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    results = {}
    for name, code in TASKS.items():
        if args.only and name not in args.only:
            continue
        runs = [measure(code, args.path) for _ in range(args.repeat)]
        best = min(r[0] for r in runs)
        results[name] = (best, max(r[1] for r in runs), runs[0][2])
        print(
            f"{name:20s} best {best:7.2f} s  peak RSS {results[name][1]:8.0f} MiB  {runs[0][2]}",
            flush=True,
        )
    if "funnel.analyze" in results:
        f = results["funnel.analyze"]
        for other in ("duckdb SQL", "polars read+sort", "funnel.analyze (no causes)"):
            if other in results:
                o = results[other]
                print(f"funnel / {other}: time {f[0] / o[0]:.2f}x, peak RSS {f[1] / o[1]:.2f}x")


if __name__ == "__main__":
    main()
