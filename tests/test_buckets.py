"""Map and reduce over buckets of users: the same bytes whatever the buckets and the runner.

Random logs (shuffled, duplicates, ties, bad rows, across midnight) through 1, 7 and 64
buckets, in memory and out of core through bucket files, with causes and a breakdown:
``--format json`` output must be byte-identical. Also: the bucket folder never outlives a
run, and one user with a million events finishes under a small memory budget.
"""

from __future__ import annotations

import datetime as dt
import os

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnel
from funnel.runners import local
from funnel.runners.local import choose_run, parse_size
from tests.test_causes import cause_specs
from tests.test_engine_vs_reference import _frame, _make_rows, _options, row_strategy, write_parts


def _json(result: funnel.FunnelResult) -> str:
    causes = result.causes.to_json(include_evidence=True) if result.causes else ""
    return result.to_json(include_units=True) + causes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.lists(row_strategy, min_size=0, max_size=60),
    dup_idx=st.lists(st.integers(0, 100), max_size=4),
    spec=cause_specs(),
    seed=st.randoms(),
    cut=st.integers(1, 4),
)
def test_results_are_the_same_bytes_for_any_buckets_and_runner(
    tmp_path_factory, raw, dup_idx, spec, seed, cut
):
    rows = _make_rows(raw, dup_idx)
    seed.shuffle(rows)
    folder = write_parts(_frame(rows), tmp_path_factory.mktemp("parts"), cut) if rows else None
    source = str(folder) if folder else _frame(rows)
    base = _json(funnel.analyze(source, spec, _options(by=("cart",), buckets=1)))
    for buckets in (7, 64):
        got = funnel.analyze(source, spec, _options(by=("cart",), buckets=buckets))
        assert _json(got) == base, buckets
    tmp = tmp_path_factory.mktemp("buckets")
    out_of_core = funnel.analyze(
        source, spec, _options(by=("cart",), memory="1KiB", buckets=7, tmp_dir=str(tmp))
    )
    assert _json(out_of_core) == base
    assert os.listdir(tmp) == []  # the bucket folder is gone


def test_out_of_core_is_chosen_by_the_budget_and_counts_buckets(tmp_path):
    done = []
    opts = funnel.AnalyzeOptions(memory="1MiB", tmp_dir=str(tmp_path))
    small = funnel.analyze("sample_events/", options=opts, progress=lambda d, n: done.append(n))
    whole = funnel.analyze("sample_events/")
    assert small.to_json() == whole.to_json()
    assert done and done[0] > 1  # several buckets, counted as they finish
    assert os.listdir(tmp_path) == []


def test_the_bucket_folder_is_removed_on_error_and_interrupt(tmp_path, monkeypatch):
    calls = []

    def interrupted(rows, plan):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(rows, plan)

    real = local.map_bucket
    monkeypatch.setattr(local, "map_bucket", interrupted)
    opts = funnel.AnalyzeOptions(memory="1MiB", tmp_dir=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        funnel.analyze("sample_events/", options=opts)
    assert len(calls) == 2 and os.listdir(tmp_path) == []


def test_validate_gives_the_same_ledger_on_every_runner(tmp_path):
    whole = funnel.validate("sample_events/")
    split = funnel.validate("sample_events/", funnel.AnalyzeOptions(memory="1MiB", buckets=5))
    assert whole.to_dict() == split.to_dict()
    assert whole.total("duplicate") > 0 and whole.total("rejected") > 0


def test_one_user_with_a_million_events_finishes_in_a_small_budget():
    n = 1_000_000
    start = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    names = ["add_to_cart", "begin_checkout", "page_view", "page_view"]
    events = pl.DataFrame(
        {
            "user_id": ["whale"] * n + ["minnow"],
            "timestamp": pl.datetime_range(
                start, start + dt.timedelta(seconds=n), "1s", eager=True, time_zone="UTC"
            ),
            "event": (names * (n // 4)) + ["add_to_cart"],
        }
    )
    # both sessions run to the end of the data: kept (censor=None) to count them
    opts = funnel.AnalyzeOptions(memory="64MiB", buckets=16, censor=None)
    result = funnel.analyze(events, options=opts)
    # one session of the whale (1 s gaps), one of the minnow (its event is the last second)
    assert result.summary["sessions"] == 2 and result.summary["events_used"] == n + 1
    assert result.steps["entered"].to_list()[:2] == [2, 1]


@pytest.mark.parametrize("text", ["2x", "-1GiB", "GiB", ""])
def test_a_bad_memory_size_names_the_option(text):
    with pytest.raises(funnel.FunnelError, match="--memory"):
        parse_size(text)


def test_the_budget_decides_the_runner():
    small = choose_run(1000, parse_size("1GiB"))
    assert (small.buckets, small.out_of_core) == (1, False)
    big = choose_run(100_000_000, parse_size("2GiB"))
    assert big.out_of_core and big.buckets * parse_size("1GiB") >= 100_000_000 * 200
    tight = choose_run(100_000_000, parse_size("200MiB"))  # buckets shrink with the budget
    assert tight.buckets * parse_size("100MiB") >= 100_000_000 * 200


def test_simulate_writes_chunk_by_chunk_into_one_complete_file(tmp_path):
    from funnel.simulate import simulate_chunks, write_simulation

    n = write_simulation(tmp_path, n_users=120, seed=3, chunk_users=50)
    written = pl.read_parquet(tmp_path / "events.parquet")
    chunks = list(simulate_chunks(120, 3, chunk_users=50))
    assert len(chunks) == 3 and n == written.height == sum(e.height for e, _ in chunks)
    ids = written["user_id"].drop_nulls().filter(written["user_id"].drop_nulls() != "")
    assert ids.str.slice(1).cast(pl.Int64).max() == 119
    assert [p.name for p in tmp_path.iterdir()] == ["events.parquet"]  # no .part left


@pytest.mark.parametrize("mode", ["arms", "periods"])
def test_compare_is_the_same_bytes_on_every_runner(tmp_path, mode):
    kwargs = (
        {"by": "experiment_arm"}
        if mode == "arms"
        else {"periods": [("2024-05-06", "2024-05-16"), ("2024-05-16", "2024-06-01")]}
    )
    opts = funnel.CompareOptions(bootstrap=200, seed=1)
    outputs = {
        funnel.compare("sample_events/", options=opts, analyze_options=run, **kwargs).to_json()
        for run in (
            funnel.AnalyzeOptions(),
            funnel.AnalyzeOptions(buckets=7),
            funnel.AnalyzeOptions(memory="1MiB", tmp_dir=str(tmp_path)),
        )
    }
    assert len(outputs) == 1
    assert os.listdir(tmp_path) == []


def test_cli_memory_and_tmp_dir(tmp_path):
    from click.testing import CliRunner

    from funnel.cli import main

    runner = CliRunner()
    args = ["analyze", "sample_events/", "--format", "json", "--quiet"]
    whole = runner.invoke(main, args)
    small = runner.invoke(main, [*args, "--memory", "1MiB", "--tmp-dir", str(tmp_path)])
    assert whole.exit_code == small.exit_code == 0
    assert small.output == whole.output and os.listdir(tmp_path) == []
    bad = runner.invoke(main, [*args, "--memory", "lots"])
    assert bad.exit_code == 2 and "--memory" in bad.output


def test_a_full_disk_is_refused_before_any_work(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(1, 1, 1))
    opts = funnel.AnalyzeOptions(memory="1MiB", tmp_dir=str(tmp_path))
    with pytest.raises(funnel.FunnelError, match="--tmp-dir"):
        funnel.analyze("sample_events/", options=opts)
    assert os.listdir(tmp_path) == []


def test_integer_user_ids_stay_integers_and_count_the_same(tmp_path):
    events = pl.read_parquet("sample_events/events.parquet")
    numbered = events.with_columns(pl.col("user_id").str.slice(1).cast(pl.Int64, strict=False))
    numbered = numbered.with_columns(
        pl.when(events["user_id"] == "").then(None).otherwise(pl.col("user_id")).alias("user_id")
    )
    text = funnel.analyze(events.with_columns(pl.col("user_id").replace("", None)))
    ints = funnel.analyze(numbered)
    split = funnel.analyze(numbered, options=funnel.AnalyzeOptions(memory="1MiB"))
    assert ints.units["user_id"].dtype == pl.Int64
    assert ints.steps.equals(text.steps) and ints.timing.equals(text.timing)
    assert ints.causes.summary.equals(text.causes.summary)
    assert ints.ledger.to_dict() == text.ledger.to_dict()
    assert _json(split) == _json(ints)
