"""Time the Spark engine against the local one; print wall time and peak memory per process.

    python benchmarks/spark_run.py benchmarks/data/events_10M_int.parquet [--repeat 3]
        [--engines local spark spark-driver spark-inside] [--master local[2]] [--buckets N]

Each run is a fresh process (imports and, for Spark, the session start happen before the
clock starts; the start is printed apart). A sampler reads the RSS of the whole process
tree from /proc every 0.1 s and keeps the peaks of: the driver (the Python process that
calls funnel), the JVM, the Python workers (summed: they run side by side) and the tree.
Every engine runs ``funnel.analyze`` with causes on: ``local``, ``spark`` (the default
``reduce_in="auto"``), ``spark-driver`` (the reduce on the driver) and ``spark-inside``
(``reduce_in="spark"``: the per-unit rows stay in Spark);
each run prints whether its tables (``--format json`` of the result and the causes) are the
same bytes as the first engine's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

CHILD = """
import hashlib, json, sys, time
t0 = time.perf_counter()
import funnel
ENGINE, PATH, MASTER, BUCKETS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
opts = funnel.AnalyzeOptions(buckets=int(BUCKETS) if BUCKETS != "auto" else None)
if ENGINE.startswith("spark"):
    import funnel.spark
    session = funnel.spark.spark_session(MASTER, {"spark.driver.memory": "4g"})
    session.range(1).count()
    start = time.perf_counter() - t0
    t1 = time.perf_counter()
    where = {"spark-inside": "spark", "spark-driver": "driver"}.get(ENGINE, "auto")
    r = funnel.spark.analyze(PATH, options=opts, spark=session, reduce_in=where)
else:
    start = time.perf_counter() - t0
    t1 = time.perf_counter()
    r = funnel.analyze(PATH, options=opts)
wall = time.perf_counter() - t1
tables = hashlib.md5((r.to_json() + r.causes.to_json()).encode()).hexdigest()
print(json.dumps({"wall_s": wall, "start_s": start, "tables": tables, "units": r.units.height}))
"""


def _tree(root: int) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                todo += [int(x) for x in task.read_text().split()]
            except OSError:
                pass
    return out


def _rss_and_kind(pid: int) -> tuple[int, str]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return 0, "gone"
    lines = [line for line in status.splitlines() if line.startswith("VmRSS")]
    rss = int(lines[0].split()[1]) if lines else 0
    return rss * 1024, "jvm" if cmd.endswith("java") else "python"


def _sample(root: int, peaks: dict[str, int], stop: threading.Event) -> None:
    while not stop.is_set():
        now = {"driver": 0, "jvm": 0, "workers": 0, "tree": 0}
        for pid in _tree(root):
            rss, kind = _rss_and_kind(pid)
            key = "driver" if pid == root else ("jvm" if kind == "jvm" else "workers")
            now[key] += rss
            now["tree"] += rss
        for k, v in now.items():
            peaks[k] = max(peaks.get(k, 0), v)
        time.sleep(0.1)


def measure(engine: str, path: str, master: str, buckets: str) -> dict:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, engine, path, master, buckets],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    peaks: dict[str, int] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(proc.pid, peaks, stop))
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{engine} failed")
    return json.loads(out.strip().splitlines()[-1]) | {"peaks": peaks}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engines", nargs="*", default=["local", "spark"])
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--buckets", default="auto")
    args = ap.parse_args()
    events = None
    print(f"{args.path}  (median of {args.repeat} fresh processes; peak RSS in MiB)")
    for engine in args.engines:
        runs = [measure(engine, args.path, args.master, args.buckets) for _ in range(args.repeat)]
        wall = statistics.median(r["wall_s"] for r in runs)
        peaks = {k: max(r["peaks"].get(k, 0) for r in runs) / 2**20 for k in runs[0]["peaks"]}
        if events is None:
            events = runs[0]["tables"]
        same = "same tables" if runs[0]["tables"] == events else "TABLES DIFFER"
        same += f", {runs[0]['units']:,} units in the result"
        times = ", ".join(f"{r['wall_s']:.2f}" for r in runs)
        print(
            f"{engine:12s} wall {wall:7.2f} s ({times})"
            f"  start {statistics.median(r['start_s'] for r in runs):5.1f} s"
            f"  driver {peaks['driver']:6.0f}  jvm {peaks['jvm']:6.0f}"
            f"  workers {peaks['workers']:6.0f}  tree {peaks['tree']:6.0f}  {same}",
            flush=True,
        )


if __name__ == "__main__":
    os.environ.setdefault("FUNNEL_SPARK_LOG", os.devnull)
    main()
