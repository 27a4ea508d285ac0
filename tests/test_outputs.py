"""Outputs never destroy data: refused before any work when they would touch an input,
written whole or not at all, in the format their name says; exit codes for the rest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import funnel
from funnel.cli import main
from funnel.outputs import atomic_path, write_table

SAMPLE = Path("sample_events/events.parquet")


def _sum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dump(tmp_path):
    folder = tmp_path / "dump"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "events.parquet")
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "{f}", "--sessions-out", "{f}"],
        ["analyze", "{f}", "--rejects-out", "{f}"],
        ["analyze", "{d}", "--html", "{d}/report.html", "--sessions-out", "{d}/s.parquet"],
        ["causes", "{d}", "--evidence-out", "{d}/evidence.csv"],
        ["report", "{f}", "--html", "{f}"],
        ["validate", "{d}/*.parquet", "--rejects-out", "{d}/rejects.parquet"],
        ["compare", "{f}", "--arm", "experiment_arm", "--html", "{d}/../nope/x.html"],
        ["analyze", "{f}", "--sessions-out", "{d}/../s.xlsx"],
        ["analyze", "{f}", "--sessions-out", "{d}/../a.csv", "--rejects-out", "{d}/../a.csv"],
    ],
)
def test_outputs_that_would_touch_the_inputs_are_refused_before_any_work(dump, args):
    before = _sum(dump / "events.parquet")
    files = sorted(os.listdir(dump))
    argv = [a.format(f=dump / "events.parquet", d=dump) for a in args]
    res = CliRunner().invoke(main, [*argv, "-q"])
    assert res.exit_code == 1, res.output
    assert res.output.startswith("error: ") and "Traceback" not in res.output
    assert _sum(dump / "events.parquet") == before
    assert sorted(os.listdir(dump)) == files  # nothing written beside the inputs
    assert not (dump.parent / "a.csv").exists()


def test_each_output_is_written_in_the_format_its_name_says(tmp_path, dump):
    out = tmp_path / "out"
    out.mkdir()
    res = CliRunner().invoke(
        main,
        [
            "analyze",
            str(dump),
            "-q",
            "--sessions-out",
            str(out / "s.ndjson"),
            "--rejects-out",
            str(out / "r.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    rejected = json.loads((out / "r.json").read_text())
    assert len(rejected) == 15 and {"reason", "file"} <= set(rejected[0])
    lines = (out / "s.ndjson").read_text().splitlines()
    assert len(lines) == 2612 and json.loads(lines[0])["session_id"]
    assert sorted(os.listdir(out)) == ["r.json", "s.ndjson"]  # no temporaries left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "table.csv"
    target.write_text("old\n")

    def broken(self, path, *a, **k):
        Path(path).write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_csv", broken)
    with pytest.raises(funnel.FunnelError, match="No space left"):
        write_table(pl.DataFrame({"a": [1]}), str(target))
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["table.csv"]
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        Path(tmp).write_text("partial")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["table.csv"] and target.read_text() == "old\n"


def test_exit_codes_interrupt_and_unexpected_errors(monkeypatch):
    import funnel.cli_engine as opts

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(opts, "analyze", interrupted)
    res = CliRunner().invoke(main, ["analyze", str(SAMPLE), "-q"])
    assert res.exit_code == 130 and "interrupted" in res.output

    def bug(*a, **k):
        raise ZeroDivisionError("division by zero\nmore")

    monkeypatch.setattr(opts, "analyze", bug)
    res = CliRunner().invoke(main, ["analyze", str(SAMPLE), "-q"])
    assert res.exit_code == 1
    assert res.output.strip().count("\n") == 0 and "please report" in res.output
    res = CliRunner().invoke(main, ["compare", str(SAMPLE), "--fail-if-worse", "garbage"])
    assert res.exit_code == 2  # a usage error


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", str(SAMPLE), "--tz", "Mars/Olympus"],
        ["analyze", str(SAMPLE), "--min-time", "2024-06-01", "--max-time", "2024-05-01"],
        ["compare", str(SAMPLE), "--arm", "experiment_arm", "--bootstrap", "-5"],
        ["compare", str(SAMPLE), "--arm", "experiment_arm", "--alpha", "1.5"],
        ["analyze", str(SAMPLE), "--memory", "lots"],
        ["simulate", "out", "--users", "0"],
    ],
)
def test_bad_option_values_are_usage_errors(args):
    res = CliRunner().invoke(main, [*args, "-q"] if args[0] != "simulate" else args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output


def test_a_zero_window_is_refused_with_the_key():
    with pytest.raises(funnel.SpecError, match="window: must be positive"):
        funnel.FunnelSpec.from_dict({"window": "0s", "steps": [{"event": "a"}]})


def test_the_same_input_gives_the_same_bytes_in_fresh_processes(tmp_path):
    """JSON, Markdown and the HTML report, in two processes with different hash seeds."""
    import subprocess
    import sys

    script = (
        "import funnel, sys\n"
        "from funnel.render.report import render_html\n"
        "r = funnel.analyze('sample_events/', options=funnel.AnalyzeOptions(by='device'))\n"
        "c = funnel.compare_arms(funnel.analyze('sample_events/', options=funnel.AnalyzeOptions("
        "by='experiment_arm')), 'experiment_arm', funnel.CompareOptions(bootstrap=200))\n"
        "sys.stdout.write(r.to_json(include_units=True) + r.causes.to_json(include_evidence=True)"
        " + c.to_json() + c.to_markdown() + render_html(r, c))\n"
    )
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env)
        assert run.returncode == 0, run.stderr.decode()[-2000:]
        outs.append(run.stdout)
    assert outs[0] == outs[1] and len(outs[0]) > 100_000


def test_the_library_refuses_rejects_onto_an_input_too(dump):
    before = _sum(dump / "events.parquet")
    path = str(dump / "events.parquet")
    with pytest.raises(funnel.FunnelError, match="is one of the input files"):
        funnel.analyze(path, options=funnel.AnalyzeOptions(rejects_path=path))
    assert _sum(dump / "events.parquet") == before
