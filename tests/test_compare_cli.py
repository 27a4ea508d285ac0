"""``funnel compare`` on the command line: formats, the CI gate and its exit codes, two dump
files, Benjamini-Hochberg."""

from __future__ import annotations

import json

import polars as pl
import pytest

SAMPLE = "sample_events/"


def test_cli_compare_formats_and_gate(tmp_path):
    from click.testing import CliRunner

    from funnel.cli import EXIT_WORSE, main

    runner = CliRunner()
    base = ["compare", SAMPLE, "--by", "experiment_arm", "--bootstrap", "100"]
    res = runner.invoke(main, base)
    assert res.exit_code == 0, res.output
    assert "B vs A: overall conversion" in res.output and "BETTER" in res.output
    md = runner.invoke(main, [*base, "--format", "markdown"])
    assert md.output.startswith("### Funnel comparison") and "|---|" in md.output
    js = json.loads(runner.invoke(main, [*base, "--format", "json"]).output)
    assert js["comparison"]["kind"] == "arms" and js["steps"]
    # B is better: a gate on B as treatment passes, on A (B as control) it fails with exit 3
    assert runner.invoke(main, [*base, "--fail-if-worse", "overall:1pp"]).exit_code == 0
    worse = runner.invoke(main, [*base, "--control", "B", "--fail-if-worse", "overall:1pp"])
    assert worse.exit_code == EXIT_WORSE == 3
    assert "FAIL: A vs B: overall dropped by 7.2 pp" in worse.output
    # a drop smaller than the threshold passes; relative thresholds are understood
    loose = runner.invoke(main, [*base, "--control", "B", "--fail-if-worse", "overall:10pp"])
    assert loose.exit_code == 0
    rel = runner.invoke(main, [*base, "--control", "B", "--fail-if-worse", "purchase:15%"])
    assert rel.exit_code == 3 and "relative" in rel.output
    # not significant: no failure whatever the threshold (periods differ by chance only)
    quiet = runner.invoke(
        main, ["compare", SAMPLE, "--split-at", "2024-05-15", "--fail-if-worse", "overall:0"]
    )
    assert quiet.exit_code == 0, quiet.output
    bad = runner.invoke(main, [*base, "--fail-if-worse", "overall"])
    assert bad.exit_code == 2 and "STEP:THRESHOLD" in bad.output  # a usage error
    typo = runner.invoke(main, [*base, "--fail-if-worse", "purchse:1pp"])
    assert typo.exit_code == 1 and "did you mean 'purchase'" in typo.output
    srm = runner.invoke(main, [*base, "--expected-split", "80,20"])
    assert srm.exit_code == 0 and "WARNING: SAMPLE RATIO MISMATCH" in srm.output


def test_cli_two_dumps_and_bh(tmp_path):
    from click.testing import CliRunner
    from scipy.stats import false_discovery_control

    from funnel.cli import main

    events = pl.read_parquet(SAMPLE + "events.parquet")
    for arm in ("A", "B"):
        events.filter(pl.col("experiment_arm") == arm).write_parquet(tmp_path / f"{arm}.parquet")
    res = CliRunner().invoke(
        main,
        ["compare", str(tmp_path / "A.parquet"), str(tmp_path / "B.parquet"), "--adjust", "bh",
         "--format", "json", "--bootstrap", "0"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["comparison"]["kind"] == "dumps" and data["comparison"]["adjust"] == "bh"
    assert [v["version"] for v in data["versions"]] == ["A.parquet", "B.parquet"]
    rows = [r for r in data["steps"] if r["metric"] == "conversion_from_entry" and r["p_value"]]
    want = false_discovery_control([r["p_value"] for r in rows])
    assert [r["p_adjusted"] for r in rows] == pytest.approx(list(want))
