"""Run the map over buckets on this machine: in memory, or out of core through bucket files.

* **In memory**: a dump whose peak fits the budget is one bucket, read in one streaming
  pass: the fastest run. (A forced number of buckets splits rows read in memory: tests use
  it.)
* **Out of core**: one streaming pass writes the marked rows, narrowed to the columns the
  map reads, to one folder of Parquet files per bucket in a temporary folder; then the
  buckets run one after another, each inside the budget, and each spills its partial
  results there, so a done bucket holds no memory. The reduce reads them back. The folder
  is removed on success, on error and on Ctrl-C.

The budget picks the runner and the number of buckets from the peak memory per event of a
bucket (:data:`BYTES_PER_EVENT`, measured: ``benchmarks/README.md``).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import polars as pl

from funnel.errors import FunnelError, first_line
from funnel.input.load import format_of
from funnel.input.text import unreadable, unreadable_hint
from funnel.runners.bucket import BucketPlan, Partials, bucket_rows, map_bucket

__all__ = [
    "BYTES_PER_EVENT",
    "RunPlan",
    "available_memory",
    "choose_run",
    "default_memory",
    "estimate_rows",
    "parse_size",
    "run_buckets",
]

BYTES_PER_EVENT = 200  # peak bytes per event of one in-memory bucket (measured at 10M: ~170)
# rows of one bucket out of core at most: smaller sorts are faster per row (cache), and
# the peak stays far below the budget (benchmarks/README.md)
BUCKET_ROWS = 2_500_000
_UNITS = {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}
_UNITS |= {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
BucketProgress = Callable[[int, int], None]  # (buckets done, buckets)
T = TypeVar("T")


def parse_size(text: str | int) -> int:
    """Bytes in a size such as ``2GiB``, ``500MB`` or ``1073741824``.

    >>> parse_size("2GiB"), parse_size("1.5 gb"), parse_size(4096)
    (2147483648, 1500000000, 4096)
    """
    if isinstance(text, int):
        return text
    t = text.strip().lower().replace(" ", "")
    num = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = t[len(num) :] or "b"
    if unit in ("k", "m", "g", "t"):
        unit += "ib"
    try:
        value = float(num)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or value <= 0:
        raise FunnelError(
            f"memory size {text!r} is not a size",
            hint="write it like 2GiB, 500MB or 8g (--memory)",
        )
    return int(value * _UNITS[unit])


def available_memory() -> int:
    """Memory available to this process now (cgroup limit or the machine's), in bytes."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            avail = min(avail, int(text))
    return avail


DEFAULT_MEMORY_CAP = 4 << 30


def default_memory() -> int:
    """The budget when none is given: half of the memory available now, at most 4 GiB.

    Above ~10M events a run in buckets out of core costs 5-10% more time than one in
    memory and a third of the memory (benchmarks/README.md), so a larger default would
    buy little and risk much on a shared machine.
    """
    return min(available_memory() // 2, DEFAULT_MEMORY_CAP)


def estimate_rows(frame: pl.LazyFrame, files: tuple[str, ...]) -> int:
    """Rows of the dump: exact for Parquet (file metadata), from the size on disk otherwise
    (about 60 bytes a row, 6x that when compressed)."""
    parquet = [f for f in files if f.lower().endswith((".parquet", ".pq"))]
    rows = 0
    if parquet:
        rows += int(pl.scan_parquet(parquet).select(pl.len()).collect().item())
    for f in files:
        if f not in parquet:
            size = os.path.getsize(f)
            rows += size * (6 if f.lower().endswith(".gz") else 1) // 60
    if not files:  # a frame given in memory
        rows = int(frame.select(pl.len()).collect().item())
    return rows


@dataclass(frozen=True)
class RunPlan:
    """How a run goes: ``buckets`` sets of users, ``out_of_core`` through files or not."""

    buckets: int
    out_of_core: bool
    rows: int = 0  # the estimate it was chosen for


def choose_run(rows: int, memory: int, buckets: int | None = None) -> RunPlan:
    """In memory, one bucket, when the estimated peak fits half of ``memory`` (the rest:
    the reduce and the interpreter): the fastest run. Otherwise out of core, in buckets of
    at most :data:`BUCKET_ROWS` rows whose peak fits. ``buckets`` forces a count.

    >>> choose_run(10_000_000, 12 << 30)
    RunPlan(buckets=1, out_of_core=False, rows=10000000)
    >>> choose_run(10_000_000, 1 << 30)
    RunPlan(buckets=4, out_of_core=True, rows=10000000)
    >>> choose_run(100_000_000, 2 << 30)
    RunPlan(buckets=40, out_of_core=True, rows=100000000)
    """
    fits = rows * BYTES_PER_EVENT <= memory * 0.5
    if buckets is None:
        per_bucket = max(1, min(BUCKET_ROWS, int(memory * 0.5 / BYTES_PER_EVENT)))
        buckets = 1 if fits else max(2, math.ceil(rows / per_bucket))
    return RunPlan(buckets=buckets, out_of_core=not fits, rows=rows)


def _in_memory(frame: pl.LazyFrame, plan: BucketPlan, buckets: int) -> Iterator[Partials]:
    if buckets == 1:
        yield map_bucket(frame, plan)
        return
    rows = bucket_rows(frame, plan, buckets).collect(engine="streaming")
    for part in rows.partition_by("_bucket", include_key=False, maintain_order=False):
        yield map_bucket(part.lazy(), plan)


def _out_of_core(
    frame: pl.LazyFrame, plan: BucketPlan, buckets: int, folder: str
) -> Iterator[Partials]:
    target = pl.PartitionBy(folder, key="_bucket", include_key=False)
    # uncompressed: written once, read once, removed (zstd cost more time than it saved);
    # small row groups: the writer of every bucket buffers one
    bucket_rows(frame, plan, buckets).sink_parquet(
        target, mkdir=True, compression="uncompressed", statistics=False
    )
    for sub in sorted(Path(folder).iterdir()):
        files = sorted(sub.glob("*.parquet"))
        part = map_bucket(pl.scan_parquet(files), plan)
        for f in files:  # the bucket's rows are used: free the disk now
            f.unlink()
        yield part.spill(str(sub))  # done buckets hold no memory while others run


def run_buckets(
    frame: pl.LazyFrame,
    plan: BucketPlan,
    run: RunPlan,
    reduce: Callable[[list[Partials]], T],
    *,
    tmp_dir: str | None = None,
    progress: BucketProgress | None = None,
) -> T:
    """Map every bucket of ``frame`` (marked rows), one after another, then ``reduce`` the
    partials. Out of core, the bucket files and spilled partials live in a temporary folder
    in ``tmp_dir``, removed on success, on error and on Ctrl-C."""
    if not run.out_of_core:
        return reduce(_collect(_in_memory(frame, plan, run.buckets), frame, plan, run, progress))
    if tmp_dir is not None and not os.path.isdir(tmp_dir):
        raise FunnelError(f"--tmp-dir {tmp_dir}: no such folder", hint="create it or pick another")
    _check_room(tmp_dir or tempfile.gettempdir(), run.rows)
    # KeyboardInterrupt unwinds through the with: the folder goes in every case
    with tempfile.TemporaryDirectory(prefix="funnel-buckets-", dir=tmp_dir) as folder:
        runner = _out_of_core(frame, plan, run.buckets, folder)
        return reduce(_collect(runner, frame, plan, run, progress))


BUCKET_BYTES_PER_EVENT = 40  # on disk, uncompressed (measured: 29 bytes at 100M)


def _check_room(folder: str, rows: int) -> None:
    """Refuse to start when ``folder`` cannot hold the bucket files (before any work)."""
    need, free = rows * BUCKET_BYTES_PER_EVENT, shutil.disk_usage(folder).free
    if need > free:
        raise FunnelError(
            f"{folder} has {free / 2**30:.1f} GiB free; the bucket files of this dump need "
            f"about {need / 2**30:.1f} GiB",
            hint="point --tmp-dir at a disk with room, or give a larger --memory",
        )


def _collect(
    runner: Iterator[Partials],
    frame: pl.LazyFrame,
    plan: BucketPlan,
    run: RunPlan,
    progress: BucketProgress | None,
) -> list[Partials]:
    parts = []
    try:
        for part in runner:
            parts.append(part)
            if progress is not None:
                progress(len(parts), run.buckets)
    except MemoryError:
        raise FunnelError(
            f"out of memory in bucket {len(parts) + 1} of {run.buckets}",
            hint="give a smaller --memory (more, smaller buckets) or more memory",
        ) from None
    except (pl.exceptions.ComputeError, pl.exceptions.DuplicateError) as exc:
        raise _unreadable(plan.files, exc) from None
    if not parts:  # no rows at all: the empty tables still come from one (empty) bucket
        parts.append(map_bucket(frame.clear(), plan))
    return parts


def _unreadable(files: tuple[str, ...], exc: Exception) -> FunnelError:
    """The error for a read that failed: which text file, which line and why (bytes that
    are not UTF-8, quoting a CSV reader cannot follow), found by reading the text files
    again; the reader's own message when none of them is to blame."""
    for path in files:
        if format_of(path) in ("csv", "ndjson"):
            why = unreadable(path)
            if why is not None:
                return FunnelError(f"{path}: cannot read: {why}", hint=unreadable_hint(why))
    where = files[0] if len(files) == 1 else "the input"
    return FunnelError(
        f"{where}: cannot read every row: {first_line(exc)}",
        hint="check that each file is complete and of the type its name says",
    )
