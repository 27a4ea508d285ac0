"""The HTML report in a real headless browser (Debian's chromium), Markdown, notebook display,
progress, and escaping of hostile names.

CI installs chromium and sets FUNNEL_REQUIRE_BROWSER=1, so the browser tests cannot be
skipped there; elsewhere they skip when no chromium is installed.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import funnel
from funnel.cli import main
from funnel.render.progress import Progress
from funnel.render.report import render_html, write_report

SAMPLE = "sample_events/"
CHARTS = (
    "funnel",
    "timing",
    "causes",
    "after-exit",
    "trend",
    "breakdown-experiment_arm",
    "comparison",
)
EVIL = "<script>alert('x')</script>\"&'"


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("FUNNEL_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (FUNNEL_REQUIRE_BROWSER is set)")
        pytest.skip("no chromium installed (CI installs Debian's chromium)")
    return exe


def _browse(path: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    return subprocess.run(
        [_chromium(), *flags, *extra, path.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


class _Charts(HTMLParser):
    """Per ``<figure data-chart=...>``: how many SVG shapes and texts it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.current: str | None = None
        self.shapes: dict[str, int] = {}
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure" and "data-chart" in attrs:
            self.current = attrs["data-chart"]
            self.shapes[self.current] = 0
        elif tag == "script":
            self.scripts += 1
        elif self.current and tag in ("path", "rect", "text", "use", "polyline", "line"):
            self.shapes[self.current] += 1

    def handle_endtag(self, tag):
        if tag == "figure":
            self.current = None


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    result = funnel.analyze(SAMPLE, options=funnel.AnalyzeOptions(by=("experiment_arm",)))
    cmp = funnel.compare_arms(result, "experiment_arm", funnel.CompareOptions(bootstrap=200))
    path = tmp_path_factory.mktemp("report") / "report.html"
    return write_report(path, result, cmp, inputs=[SAMPLE])


def test_report_renders_in_a_browser_with_every_chart(report, tmp_path):
    run = _browse(report, tmp_path, "--dump-dom")
    console = [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == []
    parsed = _Charts()
    parsed.feed(run.stdout)  # the DOM as the browser built it
    assert set(parsed.shapes) == set(CHARTS)
    for name, shapes in parsed.shapes.items():
        assert shapes > 20, (name, shapes)
    assert parsed.scripts == 0
    shot = tmp_path / "shot.png"
    _browse(
        report, tmp_path, "--hide-scrollbars", "--window-size=1100,3000", f"--screenshot={shot}"
    )
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (3000, 1100)
    ink = (pixels.mean(axis=2) < 0.6).mean()  # share of dark pixels: bars, text, lines
    assert ink > 0.02
    assert np.unique(pixels.reshape(-1, 3), axis=0).shape[0] > 50  # colours, not a blank page


def test_report_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    assert "<script" not in text and "<link" not in text and "<iframe" not in text
    assert re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text) is None
    assert re.search(r"url\((?!#)", text) is None  # only references inside the page
    assert "$\\mathdefault" not in text  # tick labels are plain text


def test_the_browser_check_can_fail(tmp_path):
    """The console check catches a script error: inject one into a copy of a page."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>undefinedFn()</script></body></html>")
    run = _browse(page, tmp_path, "--dump-dom")
    assert any("Uncaught" in ln for ln in run.stderr.splitlines())


def _hostile_events() -> pl.DataFrame:
    rows = []
    for i in range(40):
        u = f"{EVIL}u{i}"
        steps = [EVIL + "cart", "begin_checkout", "purchase"][: 1 + i % 3]
        for j, e in enumerate(steps):
            rows.append(
                {"user_id": u, "event": e, "minute": i * 3 + j, "arm": EVIL if i % 2 else "A"}
            )
    df = pl.DataFrame(rows)
    return df.with_columns(
        (pl.datetime(2024, 5, 1) + pl.duration(minutes=pl.col("minute")))
        .dt.replace_time_zone("UTC")
        .alias("timestamp")
    ).drop("minute")


def test_hostile_names_are_escaped_everywhere(tmp_path):
    spec = funnel.FunnelSpec.from_dict(
        {
            "name": EVIL,
            "steps": [
                {"name": EVIL + "cart", "event": EVIL + "cart"},
                {"name": "checkout", "event": "begin_checkout"},
                {"name": "purchase", "event": "purchase"},
            ],
        }
    )
    path = tmp_path / "evil<b>name.parquet"
    _hostile_events().write_parquet(path)
    result = funnel.analyze(str(path), spec, funnel.AnalyzeOptions(by=("arm",)))
    cmp = funnel.compare_arms(result, "arm", funnel.CompareOptions(bootstrap=50))
    page = write_report(tmp_path / "evil.html", result, cmp, inputs=[str(path)])
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and "<b>" not in text
    assert "&lt;script&gt;" in text
    run = _browse(page, tmp_path, "--dump-dom")
    parsed = _Charts()
    parsed.feed(run.stdout)
    assert parsed.scripts == 0
    assert [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln] == []
    for md in (result.to_markdown(), cmp.to_markdown()):
        assert "<script" not in md and "&lt;script&gt;" in md


def test_markdown_leads_with_the_verdict():
    result = funnel.analyze(SAMPLE)
    md = result.to_markdown()
    first = md.splitlines()[2]
    # the planted sessions (test_sample_events) but the one censored at the data's end
    assert first.startswith("**2,611 sessions entered the funnel and 885 converted (33.9%)")
    assert "| cart | 2,611 |" in md
    cmp = funnel.compare_arms(
        funnel.analyze(SAMPLE, options=funnel.AnalyzeOptions(by=("experiment_arm",))),
        "experiment_arm",
        funnel.CompareOptions(bootstrap=0),
    )
    assert cmp.to_markdown().splitlines()[2].startswith("- B vs A: overall conversion")


def test_plot_returns_figures():
    from matplotlib.figure import Figure

    result = funnel.analyze(SAMPLE)
    assert isinstance(result.plot(), Figure) and isinstance(result.causes.plot(), Figure)
    bars = result.plot().axes[0].patches
    assert [round(b.get_width()) for b in bars][::-1] == result.steps["entered"].to_list()
    html = render_html(result)
    assert html.count("<svg") == 5  # funnel, timing, causes, after the exit, trend


def test_cli_report_and_html_flags(tmp_path):
    runner = CliRunner()
    out = tmp_path / "r.html"
    res = runner.invoke(main, ["report", SAMPLE, "-o", str(out), "--compare-by", "experiment_arm"])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").count("data-chart=") == len(CHARTS)
    res = runner.invoke(main, ["analyze", SAMPLE, "--format", "markdown", "--html", str(out)])
    assert res.exit_code == 0 and res.output.startswith("### Funnel")
    assert 'data-chart="funnel"' in out.read_text(encoding="utf-8")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_on_a_terminal_only_and_cleans_up():
    tty = _Tty()
    with Progress("analysing x\x1b[2J", stream=tty, delay=0.05, interval=0.02) as p:
        time.sleep(0.3)
        p.stage("sorting")
        p.buckets(1, 4)
        time.sleep(0.3)
    text = tty.getvalue()
    assert "analysing x" in text and "sorting" in text and "1/4" in text
    assert "\x1b[2J" not in text and "\\x1b[2J" in text  # the label's escape is shown, not run
    assert text.rstrip("\n").endswith("\x1b[2K") or "\x1b[2K" in text[-40:]  # erased at the end
    quiet = _Tty()
    with Progress("x", stream=quiet, quiet=True, delay=0, interval=0.01):
        time.sleep(0.1)
    assert quiet.getvalue() == ""
    fast = _Tty()
    with Progress("x", stream=fast, delay=5, interval=0.01):
        time.sleep(0.05)
    assert fast.getvalue() == ""  # runs shorter than the delay print nothing


def test_control_characters_in_the_data_never_reach_the_terminal(tmp_path):
    df = pl.read_parquet(SAMPLE + "events.parquet").with_columns(
        pl.when(pl.col("event") == "page_view")
        .then(pl.lit("page\x1b[2J\x07view"))
        .otherwise(pl.col("event"))
        .alias("event"),
        pl.when(pl.col("device") == "mobile")
        .then(pl.lit("mob\x1b]0;x\x07"))
        .otherwise(pl.col("device"))
        .alias("device"),
    )
    df.write_parquet(tmp_path / "evil.parquet")
    for args in (["analyze", "--by", "device"], ["causes"], ["validate"]):
        res = CliRunner().invoke(main, [args[0], str(tmp_path / "evil.parquet"), *args[1:], "-q"])
        assert res.exit_code == 0, res.output
        assert "\x1b" not in res.output and "\x07" not in res.output
    assert (
        "mob\\x1b]0;x\\x07"
        in CliRunner()
        .invoke(main, ["analyze", str(tmp_path / "evil.parquet"), "--by", "device", "-q"])
        .output
    )


def test_every_result_object_renders_in_a_notebook():
    result = funnel.analyze(SAMPLE, options=funnel.AnalyzeOptions(by=("experiment_arm",)))
    cmp = funnel.compare_arms(result, "experiment_arm", funnel.CompareOptions(bootstrap=0))
    for obj in (result, result.causes, result.ledger, cmp):
        page = obj._repr_html_()
        assert page.startswith("<div>") and "<table>" in page and "<script" not in page
        assert "\n" not in repr(obj)


def test_trend_greys_out_periods_with_few_units_and_draws_small_multiples():
    from funnel.render import charts

    result = funnel.analyze("sample_events/", options=funnel.AnalyzeOptions(by="device"))
    few = result.trend.filter(pl.col("units") < charts.TREND_MIN_UNITS).height
    assert few > 0  # the sample's last days have a handful of sessions
    fig = result.plot("trend")
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    drawn = lines["conversion"].get_xdata()
    assert len(drawn) == result.trend.height - few  # the line skips them
    assert len(lines[f"fewer than {charts.TREND_MIN_UNITS} sessions"].get_xdata()) == few
    multiples = result.plot("breakdown")
    titled = [a.get_title(loc="left") for a in multiples.axes if a.get_visible()]
    devices = result.units["device"].drop_nulls().unique().to_list()
    assert len(titled) == len(devices)
    assert all(any(t.startswith(d) for t in titled) for d in devices)
    every = result.plot("trend", min_units=1).axes[0]  # configurable: nothing greyed
    assert len(every.get_lines()[0].get_xdata()) == result.trend.height
    with pytest.raises(funnel.SpecError):
        result.plot("pie")
