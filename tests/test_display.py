"""Tables a stakeholder reads: formatting checked against numbers written by hand."""

from __future__ import annotations

import sys

import polars as pl
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import funnel
from funnel.results.display import display_rows, header, stakeholder_html


def test_rates_with_intervals_in_one_cell_and_none_on_the_entry_step():
    df = pl.DataFrame(
        {
            "step": ["cart", "pay"],
            "entered": [12345, 7],
            "conversion_from_entry": [1.0, 0.25],
            "conversion_from_entry_lo": [0.999, 0.05],
            "conversion_from_entry_hi": [1.0, 0.6],
            "median_s": [None, 12.25],
            "value_at_risk": [1234.5, 0.0],
        }
    )
    head, rows = display_rows(df, currency="EUR")
    assert head == ["Step", "Entered", "Conversion from entry", "Median (s)", "Value at risk (EUR)"]
    assert rows == [
        ["cart", "12,345", "100%", "–", "1,234.50"],
        ["pay", "7", "25.0% [5.0–60.0]", "12.2", "0.00"],
    ]


def test_differences_ratios_and_p_values():
    df = pl.DataFrame(
        {
            "diff": [0.073],
            "diff_lo": [0.037],
            "diff_hi": [0.109],
            "risk_ratio": [1.6],
            "risk_ratio_lo": [1.456],
            "risk_ratio_hi": [1.764],
            "p_value": [0.00003],
            "q_value": [0.0123],
            "significant": [True],
        }
    )
    _, rows = display_rows(df)
    assert rows == [["+7.3 pp [+3.7–+10.9]", "1.60 [1.46–1.76]", "<0.001", "0.012", "yes"]]
    assert header("p90_s") == "P90 (s)" and header("drop_off_rate") == "Drop off rate"


def test_wide_tables_fold_the_details_and_everything_is_escaped():
    evil = "<script>alert(1)</script>"
    df = pl.DataFrame({f"c{i}": [i] for i in range(12)}).with_columns(pl.lit(evil).alias("c0"))
    out = stakeholder_html(df)
    table, details = out.split("<details>")
    assert "C7" in table and "C8" not in table  # 8 columns in the table
    assert "More columns: C8, C9, C10, C11" in details and "C0" in details  # key repeated
    assert "<script>" not in out and "&lt;script&gt;" in out
    exposure = funnel.analyze("sample_events/").causes.exposure
    first = stakeholder_html(exposure).split("<details>")[0]
    assert "Excess abandoned" in first and "Unexposed abandoned" not in first


def test_the_notebook_shows_stakeholder_tables_and_the_frames_stay_machine_readable():
    result = funnel.analyze("sample_events/")
    page = result._repr_html_()
    assert "64.7% [62.9–66.5]" in page and "_lo" not in page and "Step conversion" in page
    assert result.steps["step_conversion_lo"].dtype == pl.Float64  # unchanged behind


def test_the_spec_as_toml_and_its_currency(tmp_path):
    spec = funnel.builtin_spec()
    assert tomllib.loads(spec.to_toml()) == spec.source
    data = {"currency": "EUR", "steps": [{"event": "a"}, {"event": "b", "where": "x > 1"}]}
    mine = funnel.FunnelSpec.from_dict(data)
    assert mine.currency == "EUR" and tomllib.loads(mine.to_toml()) == data
    with pytest.raises(funnel.SpecError, match="currency"):
        funnel.FunnelSpec.from_dict({**data, "currency": ""})
    result = funnel.analyze(
        "sample_events/", funnel.FunnelSpec.from_dict({**spec.source, "currency": "EUR"})
    )
    assert "Value at risk (EUR)" in result.causes._repr_html_()
    from funnel.render.report import render_html

    page = render_html(result)
    assert "Value at risk (EUR)" in page and "currency = &quot;EUR&quot;" in page
