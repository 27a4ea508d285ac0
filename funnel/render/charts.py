"""Charts of results as matplotlib figures (the ``report`` extra).

Why matplotlib: the report must open offline as one file. Matplotlib draws static SVG that
is inlined into the HTML — no JavaScript runtime to embed (plotly inlines ~3.5 MB per
report, Vega-Lite needs its runtime too), nothing that can fail to load, and no console
errors by construction; the same figure objects render in notebooks (``result.plot()``).
Text from the data goes through matplotlib's XML escaping, and math parsing is switched off
so a ``$`` in an event name stays a ``$``.

Every function takes a result and returns a ``matplotlib.figure.Figure``; none collects
events (the result's small tables are already in memory).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import polars as pl

from funnel.engine.tables import breakdown_table
from funnel.errors import FunnelError
from funnel.input.reserved import units_column

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from funnel.results.comparison import Comparison
    from funnel.results.result import CauseTables, FunnelResult

__all__ = [
    "SMALL_MULTIPLES",
    "TREND_MIN_UNITS",
    "breakdown_chart",
    "cause_chart",
    "comparison_chart",
    "funnel_chart",
    "timing_chart",
    "to_svg",
    "trend_chart",
]

_BLUE, _RED, _GREY, _GREEN = "#3b6ea8", "#c8553d", "#9aa5b1", "#4f8a4b"
_RC = {
    "text.parse_math": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "funnel",  # stable element ids: the same data gives the same file
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@functools.cache
def _figure_class() -> Any:
    """The figure class of this module's charts. Never touches matplotlib's backend: the
    figures are drawn without pyplot, so the user's own ``plt.plot(); plt.show()`` works
    as before, and nothing needs a screen."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the install
        raise FunnelError(
            "charts need matplotlib", hint="pip install 'checkout-funnel[report]'"
        ) from None

    class ChartFigure(Figure):
        """A matplotlib ``Figure`` that shows itself in notebooks (Jupyter, VS Code, an
        exported notebook) as a PNG, whatever backend is active, and never twice: it is not
        registered with pyplot."""

        def _repr_png_(self) -> bytes:
            buf = io.BytesIO()
            with _style():
                self.savefig(buf, format="png", dpi=110)
            return buf.getvalue()

    return ChartFigure


@contextmanager
def _style() -> Iterator[None]:
    _figure_class()
    import matplotlib

    with matplotlib.rc_context(_RC):
        yield


def _figure(width: float, height: float) -> Figure:
    return _figure_class()(figsize=(width, height), layout="constrained")


def funnel_chart(result: FunnelResult) -> Figure:
    """Units entering each step as bars, with the drop-off between steps.

    >>> import funnel
    >>> fig = funnel.analyze("sample_events/").plot()
    >>> len(fig.axes[0].patches)
    5
    """
    steps = result.steps
    with _style():
        fig = _figure(7, 0.55 * steps.height + 1.2)
        ax = fig.add_subplot()
        names = steps["step"].to_list()[::-1]
        entered = steps["entered"].to_list()[::-1]
        ax.barh(names, entered, color=_BLUE)
        top = max(entered) if entered else 1
        for y, (n, rate) in enumerate(
            zip(entered, steps["conversion_from_entry"].to_list()[::-1], strict=True)
        ):
            label = f"{n:,}" + (f"  ({rate:.1%} of entry)" if rate is not None else "")
            ax.text(n + top * 0.01, y, label, va="center")
        for i, row in enumerate(steps.head(steps.height - 1).iter_rows(named=True)):
            y = steps.height - 1 - i
            if row["drop_off"]:
                ax.annotate(
                    f"−{row['drop_off']:,} ({row['drop_off_rate']:.0%})",
                    xy=(top * 1.02, y - 0.5),
                    color=_RED,
                    va="center",
                    annotation_clip=False,
                )
        ax.set_xlim(0, top * 1.35)
        ax.set_xlabel(f"{result.spec.unit} entering the step")
        ax.set_title(f"Funnel '{result.spec.name}': drop-off between steps in red", loc="left")
    return fig


def timing_chart(result: FunnelResult) -> Figure:
    """Time per transition and to convert: p25-p75 box, median, whiskers to p10..p90-ish
    (p90 and p95 marked), seconds on a log scale."""
    t = result.timing.filter(pl.col("kind") != "time_at_exit", pl.col("n") > 0)
    labels = [
        f"{a} → {b}" if k == "step" else "time to convert"
        for k, a, b in t.select("kind", "from_step", "to_step").iter_rows()
    ]
    with _style():
        fig = _figure(7, 0.5 * max(1, t.height) + 1.2)
        ax = fig.add_subplot()
        stats = [
            {
                "label": lab,
                "q1": r["p25_s"],
                "med": r["median_s"],
                "q3": r["p75_s"],
                "whislo": r["p25_s"],
                "whishi": r["p90_s"],
                "mean": r["mean_s"],
                "fliers": [r["p95_s"]],
            }
            for lab, r in zip(labels, t.iter_rows(named=True), strict=True)
        ][::-1]
        if stats:
            ax.bxp(
                stats,
                orientation="horizontal",
                showmeans=True,
                patch_artist=True,
                boxprops={"facecolor": "#dbe6f3"},
                flierprops={"marker": "|"},
            )
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(_plain())  # no mathtext: parse_math is off
        ax.set_xlabel("seconds (box p25–p75, line median, ▲ mean, whisker p90, | p95)")
        ax.set_title("Time per step", loc="left")
    return fig


def cause_chart(causes: CauseTables) -> Figure:
    """Abandoned units by primary cause: share with interval, and cart value at risk."""
    s = causes.summary.filter(pl.col("abandoned") > 0)
    with _style():
        fig = _figure(7, 0.4 * max(1, s.height) + 1.3)
        ax = fig.add_subplot()
        names = s["cause"].to_list()[::-1]
        share = s["share"].to_list()[::-1]
        # interval bounds can miss the rate by a rounding error: clip at 0
        lo = [max(0.0, a - b) for a, b in zip(share, s["share_lo"].to_list()[::-1], strict=True)]
        hi = [max(0.0, b - a) for a, b in zip(share, s["share_hi"].to_list()[::-1], strict=True)]
        colors = [_GREY if n == "unexplained" else _RED for n in names]
        ax.barh(names, share, xerr=[lo, hi], color=colors, ecolor="#333")
        risks = s["value_at_risk"].to_list()[::-1]
        for y, (v, up, risk) in enumerate(zip(share, hi, risks, strict=True)):
            ax.text(v + up + 0.01, y, f"{v:.0%} · value at risk {risk:,.0f}", va="center")
        ax.xaxis.set_major_formatter(_percent())
        ax.set_xlim(0, min(1.0, max([*share, 0.1]) * 1.5))
        ax.set_title("Why abandoned units left (primary cause, 95% interval)", loc="left")
    return fig


TREND_MIN_UNITS = 30  # periods with fewer units entering are too noisy to draw as a rate


def trend_chart(result: FunnelResult, min_units: int = TREND_MIN_UNITS) -> Figure:
    """Conversion per period of entry with its Wilson interval, and units per period.

    Periods where fewer than ``min_units`` units entered (default
    :data:`TREND_MIN_UNITS`) are grey points left out of the line and the interval band:
    a day with one session would otherwise jump to 0% or 100%."""
    t = result.trend
    enough = t.filter(pl.col("units") >= min_units)
    few = t.filter(pl.col("units") < min_units)
    with _style():
        fig = _figure(7, 2.6)
        ax = fig.add_subplot()
        x = enough["period"].to_list()
        ax.fill_between(
            x,
            enough["conversion_lo"].to_list(),
            enough["conversion_hi"].to_list(),
            color="#dbe6f3",
            label="95% interval",
        )
        ax.plot(
            x, enough["conversion"].to_list(), color=_BLUE, marker="o", ms=3, label="conversion"
        )
        if few.height:
            ax.plot(
                few["period"].to_list(),
                few["conversion"].to_list(),
                linestyle="none",
                marker="o",
                ms=3,
                color=_GREY,
                label=f"fewer than {min_units} {result.spec.unit}",
            )
        ax.yaxis.set_major_formatter(_percent())
        ax2 = ax.twinx()
        ax2.bar(t["period"].to_list(), t["units"].to_list(), color=_GREY, alpha=0.25, width=0.8)
        ax2.set_ylabel(f"{result.spec.unit} entering")
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.legend(loc="upper left", frameon=False)
        ax.set_title("Conversion by period of entry", loc="left")
        fig.autofmt_xdate()
    return fig


SMALL_MULTIPLES = 12  # breakdown values drawn at most (the largest by units entering)


def breakdown_chart(result: FunnelResult, by: str | None = None) -> Figure:
    """Small multiples: the funnel (conversion from entry per step) of each value of a
    breakdown column (the first of ``--by`` unless ``by``), the largest
    :data:`SMALL_MULTIPLES` values by units entering, on one scale."""
    if result.breakdown is None or result.breakdown.is_empty():
        raise FunnelError("this result has no breakdown", hint="analyse with --by COLUMN")
    units = result.unit_rows("the breakdown chart")
    columns = [c for c in result.breakdown.columns if c in units.columns]
    by = by or columns[0]
    if by not in columns:
        raise FunnelError(f"the breakdown has no column '{by}'", hint=f"one of {columns}")
    carried = units_column(units.columns, by)  # data:converted beside converted
    table = breakdown_table(units, result.spec, [carried]).rename({carried: by})
    first = table.filter(pl.col("step_index") == pl.col("step_index").min())
    sizes = (
        first.group_by(by)
        .agg(pl.col("entered").sum())
        .sort(["entered", by], descending=[True, False], nulls_last=True)
    )
    values = sizes[by].head(SMALL_MULTIPLES).to_list()
    cols = min(3, len(values))
    rows = -(-len(values) // cols)
    steps = result.spec.step_names
    with _style():
        fig = _figure(2.4 * cols + 0.6, 1.25 * rows * max(1, len(steps) / 4) + 0.6)
        axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
        for ax, value in zip(axes.flat, values, strict=False):
            part = table.filter(
                pl.col(by).is_null() if value is None else pl.col(by) == value
            ).sort("step_index")
            rate = part["conversion_from_entry"].to_list()
            y = list(range(len(rate)))
            ax.barh(y, rate, color=_BLUE)
            ax.set_yticks(y, part["step"].to_list())
            ax.xaxis.set_major_formatter(_percent())
            ax.set_xlim(0, 1)
            entered = part["entered"][0] if part.height else 0
            label = "(missing)" if value is None else str(value)
            ax.set_title(f"{label} · {entered:,} {result.spec.unit}", loc="left", fontsize=8)
        for ax in list(axes.flat)[len(values) :]:
            ax.set_visible(False)
        axes.flat[0].invert_yaxis()  # the first step on top (the axes share it)
        fig.suptitle(f"Conversion from entry by {by}", x=0.01, ha="left")
    return fig


def comparison_chart(cmp: Comparison) -> Figure:
    """Per shared step (and overall): treatment minus control in percentage points with
    the 95% interval; significant differences (adjusted) are filled."""
    rows = cmp.primary().filter(pl.col("test") != "none")
    versions = rows["version"].unique(maintain_order=True).to_list()
    with _style():
        fig = _figure(7, 0.45 * max(1, rows.height) + 1.4)
        ax = fig.add_subplot()
        labels, ys = [], 0
        for v in versions:
            part = rows.filter(version=v)
            for r in part.iter_rows(named=True):  # a handful of steps
                d, lo, hi = (r[c] * 100 for c in ("diff", "diff_lo", "diff_hi"))
                color = _GREEN if d > 0 else _RED
                ax.errorbar(
                    d,
                    ys,
                    xerr=[[d - lo], [hi - d]],
                    fmt="o",
                    color=color,
                    mfc=color if r["significant"] else "white",
                    capsize=3,
                )
                labels.append(f"{v}: {r['step']}")
                ys += 1
        ax.axvline(0, color="#333", lw=0.8)
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(f"difference vs {cmp.control}, percentage points (filled: significant)")
        ax.set_title("Conversion from entry: difference with 95% interval", loc="left")
    return fig


def _plain() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def to_svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog), for HTML."""
    buf = io.StringIO()
    with _style():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]
