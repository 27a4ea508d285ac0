"""Time funnel against what a user would otherwise write; print a table.

    python benchmarks/run.py benchmarks/data/events_10M.parquet [--repeat 3] [--memory 2GiB]

Contenders, each in a fresh process (so peak RSS, ru_maxrss of that child, is its own;
imports happen before the clock starts), median wall time of ``--repeat`` runs:

* ``funnel.analyze`` (causes on), ``funnel.analyze (no causes)``, ``funnel.validate``, with
  the default memory budget (or ``--memory``), and both analyses with a 1 GiB budget (out
  of core above ~2.5M events);
* ``duckdb plain SQL``: the window-function funnel a user writes (duckdb_funnel.sql);
* ``duckdb SQL (dedup)``: the same query over validated, de-duplicated rows;
* ``polars hand-written``: sort, cum_sum sessions, the first step times per session;
* ``polars read+sort``: the floor: read three columns and sort them.

``--memory`` passes a budget to the funnel contenders (out of core above it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

# the rows funnel uses: valid, exact duplicates dropped
DEDUP = """(SELECT DISTINCT * FROM read_parquet('PATH') WHERE user_id IS NOT NULL
    AND CAST(user_id AS VARCHAR) <> '' AND event IS NOT NULL AND timestamp IS NOT NULL)"""
DUCKDB = """
import duckdb
con = duckdb.connect()
SQL = open(os.path.join(HERE, "duckdb_funnel.sql")).read()
rows = con.execute(SQL.replace("EVENTS", SOURCE).replace("PATH", PATH)).fetchall()
out = {"entered": [r[1] for r in rows]}
"""
FUNNEL_OPTS = "funnel.AnalyzeOptions(causes=CAUSES, memory=MEMORY)"
TASKS = {
    "funnel.analyze": f"""
import funnel
CAUSES = True
r = funnel.analyze(PATH, options={FUNNEL_OPTS})
out = {{"entered": r.steps["entered"].to_list(), "events_used": r.summary["events_used"]}}
""",
    "funnel.analyze (no causes)": f"""
import funnel
CAUSES = False
r = funnel.analyze(PATH, options={FUNNEL_OPTS})
out = {{"entered": r.steps["entered"].to_list(), "events_used": r.summary["events_used"]}}
""",
    "funnel.analyze (1GiB)": """
import funnel
r = funnel.analyze(PATH, options=funnel.AnalyzeOptions(memory="1GiB"))
out = {"entered": r.steps["entered"].to_list(), "events_used": r.summary["events_used"]}
""",
    "funnel.analyze (no causes, 1GiB)": """
import funnel
r = funnel.analyze(PATH, options=funnel.AnalyzeOptions(causes=False, memory="1GiB"))
out = {"entered": r.steps["entered"].to_list(), "events_used": r.summary["events_used"]}
""",
    "funnel.validate": f"""
import funnel
CAUSES = False
led = funnel.validate(PATH, {FUNNEL_OPTS})
out = {{"used": led.total("used")}}
""",
    "duckdb plain SQL": DUCKDB.replace("SOURCE", repr("read_parquet('PATH')")),
    "duckdb SQL (dedup)": DUCKDB.replace("SOURCE", repr(DEDUP)),
    "polars hand-written": """
import polars as pl
steps = ["add_to_cart", "begin_checkout", "add_shipping_info", "add_payment_info", "purchase"]
df = (pl.scan_parquet(PATH).select("user_id", "timestamp", "event")
      .sort("user_id", "timestamp").collect())
u, ts = pl.col("user_id"), pl.col("timestamp")
new = (u != u.shift(1)) | ((ts - ts.shift(1)) > pl.duration(minutes=30))
df = df.with_columns(new.fill_null(True).cum_sum().alias("sid")).filter(
    pl.col("event").is_in(steps))
times, prev = [], None
for i, name in enumerate(steps):
    hit = pl.col("event") == name
    if prev is not None:
        hit = hit & (ts >= pl.col(prev))
    df = df.with_columns(ts.filter(hit).min().over("sid").alias(f"t{i}"))
    prev = f"t{i}"
per = df.group_by("sid").agg(pl.col("t0", "t1", "t2", "t3", "t4").first())
out = {"entered": [int(per[f"t{i}"].count()) for i in range(5)]}
""",
    "polars read+sort": """
import polars as pl
lf = pl.scan_parquet(PATH).select("user_id", "timestamp", "event")
df = lf.sort("user_id", "timestamp").collect()
out = {"rows": df.height}
""",
}


def measure(code: str, path: str, memory: str | None) -> tuple[float, float, dict]:
    imports = "".join(line + "\n" for line in code.splitlines() if line.startswith("import "))
    body = "".join(line + "\n" for line in code.splitlines() if not line.startswith("import "))
    prog = (
        f"import os, json, time\n{imports}PATH = {path!r}\nMEMORY = {memory!r}\n"
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
    ap.add_argument("--memory", help="memory budget for the funnel contenders, e.g. 2GiB")
    args = ap.parse_args()
    results = {}
    print(f"{args.path}  (median of {args.repeat} fresh processes)")
    for name, code in TASKS.items():
        if args.only and name not in args.only:
            continue
        runs = [measure(code, args.path, args.memory) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in runs)
        results[name] = (wall, max(r[1] for r in runs), runs[0][2])
        times = ", ".join(f"{r[0]:.2f}" for r in runs)
        print(
            f"{name:28s} median {wall:7.2f} s ({times})  peak RSS {results[name][1]:7.0f} MiB"
            f"  {json.dumps(runs[0][2])[:90]}",
            flush=True,
        )
    base = results.get("duckdb plain SQL")
    if base:
        for name, (wall, rss, _) in results.items():
            if name.startswith("funnel"):
                print(
                    f"{name} / duckdb plain SQL: time {wall / base[0]:.2f}x, "
                    f"peak RSS {rss / base[1]:.2f}x"
                )


if __name__ == "__main__":
    main()
