"""Comparing funnel versions: the engine against a naive reference, invariance, calibration
on A/A splits, power on the planted arm difference, alignment of differing specs."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

import funnel
from funnel.errors import SpecError
from funnel.versions.compare import CompareOptions, Version, compare_versions
from tests import reference_compare as ref

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 1, 23, 50, tzinfo=UTC)
SAMPLE = "sample_events/"


def _spec(k: int) -> funnel.FunnelSpec:
    return funnel.FunnelSpec.from_dict(
        {"steps": [{"name": f"s{i}", "event": f"e{i}"} for i in range(k)]}
    )


unit_strategy = st.fixed_dictionaries(
    {
        "user": st.integers(0, 7),
        "furthest": st.integers(0, 3),
        "gaps": st.lists(st.sampled_from([0, 0, 5, 30, 90, 600]), min_size=3, max_size=3),
        "start": st.integers(0, 7200),
        "cause": st.sampled_from(["surprise_costs", "payment_failure", "unexplained"]),
    }
)


def _units(raw: list[dict], k: int, prefix: str) -> list[dict]:
    out = []
    for i, r in enumerate(raw):
        f = min(r["furthest"], k - 1)
        t = T0 + dt.timedelta(seconds=r["start"])
        times = [t]
        for g in r["gaps"][: k - 1]:
            times.append(times[-1] + dt.timedelta(seconds=g))
        converted = f == k - 1
        unit = {"user_id": f"{prefix}{r['user']}", "session_id": f"{prefix}{i}"}
        unit |= {f"at_s{j}": times[j] if j <= f else None for j in range(k)}
        unit |= {
            "converted": converted,
            "time_to_convert_s": (times[k - 1] - times[0]).total_seconds() if converted else None,
            "primary_cause": None if converted else r["cause"],
        }
        out.append(unit)
    return out


def _frame(units: list[dict], k: int) -> pl.DataFrame:
    schema = {"user_id": pl.String, "session_id": pl.String}
    schema |= {f"at_s{j}": pl.Datetime("us", "UTC") for j in range(k)}
    schema |= {"converted": pl.Boolean, "time_to_convert_s": pl.Float64, "primary_cause": pl.String}
    return pl.DataFrame(units, schema=schema)


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(2, 4),
    raws=st.lists(st.lists(unit_strategy, min_size=1, max_size=40), min_size=2, max_size=3),
    seed=st.randoms(use_true_random=False),
)
def test_compare_matches_reference_and_ignores_row_order(k, raws, seed):
    spec = _spec(k)
    labels = ["ctl", "b", "c"][: len(raws)]
    units = {lab: _units(raw, k, prefix=lab) for lab, raw in zip(labels, raws, strict=False)}
    versions = [Version(lab, spec, _frame(us, k)) for lab, us in units.items()]
    opts = CompareOptions(bootstrap=50, control="ctl")
    got = compare_versions(versions, opts, kind="dumps")
    want = ref.compare(units, spec.step_names, "ctl")

    assert got.steps.height == len(want["rows"])
    for r in got.steps.iter_rows(named=True):
        w = want["rows"][(r["version"], r["step"], r["metric"])]
        assert (r["x"], r["n"], r["control_x"], r["control_n"]) == (
            w["x"],
            w["n"],
            w["x0"],
            w["n0"],
        )
        assert _close(r["diff"], w["diff"])
        assert _close(r["p_value"], w["p"]), (r, w)
        assert _close(r["p_adjusted"], w.get("p_adj")), (r, w)
    for r in got.timing.iter_rows(named=True):
        w = want["timing"][(r["version"], r["from_step"], r["to_step"])]
        assert (r["n"], r["control_n"]) == (w["n"], w["n0"])
        assert _close(r["median_s"], w["median"]) and _close(r["control_median_s"], w["median0"])
        assert _close(r["p_value"], w["p"])
    for r in got.causes.iter_rows(named=True):
        assert (r["x"], r["n"]) == want["causes"][(r["version"], r["cause"])]
        assert (r["control_x"], r["control_n"]) == want["causes"][("ctl", r["cause"])]

    # row order does not matter
    shuffled = []
    for v in versions:
        idx = list(range(v.units.height))
        seed.shuffle(idx)
        shuffled.append(Version(v.label, spec, v.units[idx]))
    again = compare_versions(shuffled, opts, kind="dumps")
    assert again.to_json() == got.to_json()


@pytest.fixture(scope="module")
def sample() -> funnel.FunnelResult:
    return funnel.analyze(SAMPLE, options=funnel.AnalyzeOptions(by=("experiment_arm",)))


def test_aa_splits_are_calibrated(sample):
    """Random 50/50 splits of the sample's users: false positives at alpha 0.05 are 3-7%."""
    units, spec = sample.units, sample.spec
    users = units["user_id"].unique().sort()
    overall, verdicts, steps, times, familywise = [], [], [], [], []
    for seed in range(500):  # 500 simulated A/A experiments
        rng = np.random.default_rng(seed)
        arm_a = users.filter(pl.Series(rng.random(users.len()) < 0.5))
        in_a = units["user_id"].is_in(arm_a.implode())
        cmp = compare_versions(
            [Version("A", spec, units.filter(in_a)), Version("B", spec, units.filter(~in_a))],
            CompareOptions(bootstrap=0),
            kind="arms",
        )
        primary = cmp.steps.filter(metric="conversion_from_entry", test="z")
        decision = cmp.steps.filter(step="overall").row(0, named=True)
        overall.append(decision["p_value"] < 0.05)
        # the verdict line says what the row says, and fires as often as alpha
        verdicts.append(not cmp.verdicts()[0].endswith(")"))
        assert verdicts[-1] == decision["significant"]
        steps.extend((primary["p_value"] < 0.05).to_list())
        times.extend((cmp.timing["p_value"] < 0.05).to_list())
        familywise.append(bool(primary["significant"].any()))
    assert 0.03 <= np.mean(overall) <= 0.07
    assert 0.03 <= np.mean(verdicts) <= 0.07
    assert 0.03 <= np.mean(steps) <= 0.07
    assert 0.03 <= np.mean(times) <= 0.07
    assert np.mean(familywise) <= 0.07  # Holm keeps the family-wise rate near alpha


def test_planted_arm_difference_is_detected(sample):
    """Arm B cuts payment failures (20% -> 8%): more conversion, fewer payment-failure exits."""
    opts = CompareOptions(bootstrap=200, expected_split=(50, 50))  # an experiment
    cmp = funnel.compare(SAMPLE, by="experiment_arm", options=opts)
    assert cmp.control == "A"
    overall = cmp.steps.filter(step="overall").row(0, named=True)
    assert overall["diff"] > 0 and overall["significant"]
    assert overall["diff_lo"] > 0
    pay = cmp.steps.filter(step="purchase", metric="step_conversion").row(0, named=True)
    assert pay["diff"] > 0 and pay["p_value"] < 0.05
    fail = cmp.causes.filter(cause="payment_failure").row(0, named=True)
    assert fail["diff"] < 0 and fail["diff_hi"] < 0
    # the counts are the analyse breakdown's, computed independently of compare
    bd = sample.breakdown.filter(step="purchase")
    per_arm = dict(zip(bd["experiment_arm"], bd["entered"], strict=True))
    assert (overall["control_x"], overall["x"]) == (per_arm["A"], per_arm["B"])
    assert cmp.summary["sample_ratio_p"] > 0.01 and not cmp.warnings


def test_cause_mix_chi_square_matches_scipy(sample):
    cmp = funnel.compare(SAMPLE, by="experiment_arm", options=CompareOptions(bootstrap=0))
    counts = (
        sample.units.filter(pl.col("primary_cause").is_not_null())
        .group_by("experiment_arm", "primary_cause")
        .len()
        .pivot(on="primary_cause", index="experiment_arm", values="len")
        .fill_null(0)
        .sort("experiment_arm")
    )
    table = counts.drop("experiment_arm").to_numpy()
    want = chi2_contingency(table, correction=False)
    mix = cmp.summary["cause_mix"]
    assert mix["chi2"] == pytest.approx(want.statistic) and mix["dof"] == want.dof
    assert mix["p_value"] == pytest.approx(want.pvalue)


def test_sample_ratio_mismatch_warns_loudly():
    cmp = funnel.compare(
        SAMPLE, by="experiment_arm", options=CompareOptions(bootstrap=0, expected_split=(80, 20))
    )
    assert cmp.summary["sample_ratio_p"] < 0.001
    assert any("SAMPLE RATIO MISMATCH" in w for w in cmp.warnings)
    assert cmp.srm["expected_share"].to_list() == [0.8, 0.2]


def _arm_units(n_a: int, n_b: int, crossover: bool) -> list[Version]:
    spec = _spec(2)
    rows = [
        {
            "user_id": f"u{i}",
            "session_id": f"s{i}",
            "at_s0": T0,
            "at_s1": None,
            "converted": False,
            "time_to_convert_s": None,
            "arm": "A" if i < n_a else "B",
        }
        for i in range(n_a + n_b)
    ]
    if crossover:
        rows.append(rows[0] | {"session_id": "x", "arm": "B"})
    df = pl.DataFrame(rows, schema_overrides={"at_s1": pl.Datetime("us", "UTC")})
    return [Version(a, spec, df.filter(arm=a)) for a in ("A", "B")]


def test_crossover_users_are_dropped_from_arms_or_kept_on_request():
    dropped = compare_versions(_arm_units(5, 5, True), CompareOptions(bootstrap=0), kind="arms")
    assert dropped.versions["units"].to_list() == [4, 5]
    assert dropped.summary["crossover_users"] == 1 and "left out" in dropped.notes[0]
    kept = compare_versions(
        _arm_units(5, 5, True), CompareOptions(bootstrap=0, crossovers="keep"), kind="arms"
    )
    assert kept.versions["units"].to_list() == [5, 6]


def test_periods_split_units_at_the_cut(sample):
    cut = "2024-05-15T00:00:00+00:00"
    cmp = funnel.compare(SAMPLE, split_at=cut, options=CompareOptions(bootstrap=0))
    entered = sample.units["entered_at"]
    cut_dt = dt.datetime(2024, 5, 15, tzinfo=UTC)
    before, after = int((entered < cut_dt).sum()), int((entered >= cut_dt).sum())
    assert cmp.versions["units"].to_list() == [before, after]
    assert cmp.versions["version"].to_list() == ["before", "after"]


def test_two_dumps_equal_the_arms_of_one(tmp_path, sample):
    events = pl.read_parquet(SAMPLE + "events.parquet")
    for arm in ("A", "B"):
        (tmp_path / arm).mkdir()
        events.filter(pl.col("experiment_arm") == arm).write_parquet(tmp_path / arm / "e.parquet")
    opts = CompareOptions(bootstrap=0)
    # each dump ends at its own last event, so censoring (on by default) would differ
    keep = funnel.AnalyzeOptions(censor=None)
    dumps = funnel.compare(
        str(tmp_path / "A"), str(tmp_path / "B"), options=opts, analyze_options=keep
    )
    arms = funnel.compare(SAMPLE, by="experiment_arm", options=opts, analyze_options=keep)
    cols = ["step", "metric", "x", "n", "control_x", "control_n", "p_value"]
    assert dumps.steps.select(cols).equals(arms.steps.select(cols))
    assert set(dumps.ledgers) == {"A", "B"}


CHECKOUT = [
    ("cart", "add_to_cart"),
    ("checkout", "begin_checkout"),
    ("shipping", "add_shipping_info"),
    ("payment", "add_payment_info"),
    ("purchase", "purchase"),
]


def _steps(pairs, **extra):
    return {"name": "v2", "steps": [{"name": n, "event": e} | extra.get(n, {}) for n, e in pairs]}


def test_spec_versions_align_by_name_and_same_as(sample):
    """Version 2 drops the shipping step and renames payment to 'details' (same_as)."""
    v2 = [p for p in CHECKOUT if p[0] != "shipping"]
    v2 = [("details", e) if n == "payment" else (n, e) for n, e in v2]
    other = funnel.FunnelSpec.from_dict(_steps(v2, details={"same_as": "payment"}))
    cmp = funnel.compare(SAMPLE, other_spec=other, options=CompareOptions(bootstrap=0))
    assert cmp.summary["shared_steps"] == ["cart", "checkout", "payment", "purchase"]
    assert cmp.one_sided.select("version", "step").rows() == [("checkout", "shipping")]
    v2_alone = funnel.analyze(SAMPLE, other)
    entered = dict(zip(v2_alone.steps["step"], v2_alone.steps["entered"], strict=True))
    row = cmp.steps.filter(step="payment", metric="conversion_from_entry").row(0, named=True)
    assert row["x"] == entered["details"]
    assert row["control_x"] == sample.steps.filter(step="payment")["entered"][0]
    assert any("same sessions" in n for n in cmp.notes)
    # an explicit mapping does the same without same_as in the spec
    plain = funnel.FunnelSpec.from_dict(_steps(v2))
    mapped = funnel.compare(
        SAMPLE, other_spec=plain, options=CompareOptions(bootstrap=0, align={"details": "payment"})
    )
    assert mapped.steps.select("step", "x").equals(cmp.steps.select("step", "x"))


def test_spec_versions_in_another_order_are_refused():
    swapped = [CHECKOUT[0], CHECKOUT[2], CHECKOUT[1], *CHECKOUT[3:]]
    other = funnel.FunnelSpec.from_dict(_steps(swapped))
    with pytest.raises(SpecError, match="another order"):
        funnel.compare(SAMPLE, other_spec=other, options=CompareOptions(bootstrap=0))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"by": "experiment_arm", "split_at": "2024-05-15"}],
)
def test_compare_needs_exactly_one_mode(kwargs):
    with pytest.raises(SpecError, match="exactly one"):
        funnel.compare(SAMPLE, **kwargs)


def test_options_are_validated():
    with pytest.raises(SpecError, match="did you mean 'holm'"):
        CompareOptions(adjust="hlm")
    with pytest.raises(SpecError, match="alpha"):
        CompareOptions(alpha=5)
    with pytest.raises(SpecError, match="not a version"):
        funnel.compare(SAMPLE, by="experiment_arm", options=CompareOptions(control="C"))


def test_result_surfaces_are_stable_and_escaped():
    events = pl.read_parquet(SAMPLE + "events.parquet").with_columns(
        pl.col("experiment_arm").replace({"B": "Z<script>alert('x')</script>|B"})
    )
    cmp = funnel.compare(events, by="experiment_arm", options=CompareOptions(bootstrap=100))
    data = json.loads(cmp.to_json())
    assert list(data)[:3] == ["schema_version", "comparison", "verdicts"]
    assert "NaN" not in cmp.to_json()
    assert data["comparison"]["control"] == "A"
    for text in (cmp.to_markdown(), cmp._repr_html_()):
        assert "<script>" not in text and "&lt;script&gt;" in text
    assert "\\|B" in cmp.to_markdown()
    assert "\n" not in repr(cmp) and repr(cmp).startswith("Comparison(arms: 2 versions")
    assert (
        cmp.to_json()
        == funnel.compare(
            events.sample(fraction=1.0, shuffle=True, seed=3),
            by="experiment_arm",
            options=CompareOptions(bootstrap=100),
        ).to_json()
    )


def test_same_as_is_validated():
    steps = [{"name": "a", "event": "x"}, {"name": "b", "event": "y", "same_as": "a"}]
    with pytest.raises(SpecError, match="compared as 'a'"):
        funnel.FunnelSpec.from_dict({"steps": steps})
    with pytest.raises(SpecError, match="same_as"):
        funnel.FunnelSpec.from_dict({"steps": [{"name": "a", "event": "x", "same_as": 3}]})
    spec = funnel.FunnelSpec.from_dict({"steps": [{"event": "x", "same_as": "pay"}]})
    assert spec.to_dict()["steps"][0]["same_as"] == "pay"


def test_explicit_periods_are_half_open_and_leave_the_rest_out(sample):
    periods = [("2024-05-06", "2024-05-13"), ("2024-05-13", "2024-05-20")]
    cmp = funnel.compare(SAMPLE, periods=periods, options=CompareOptions(bootstrap=0))
    entered = sample.units["entered_at"]
    cuts = [dt.datetime(2024, 5, d, tzinfo=UTC) for d in (6, 13, 20)]
    want = [int(((entered >= a) & (entered < b)).sum()) for a, b in itertools.pairwise(cuts)]
    assert cmp.versions["units"].to_list() == want
    assert cmp.versions["version"].to_list() == ["2024-05-06..2024-05-13", "2024-05-13..2024-05-20"]
    left = sample.units.height - sum(want)
    assert any(f"{left} units entered outside" in n for n in cmp.notes)
    with pytest.raises(SpecError, match="overlap"):
        funnel.compare(SAMPLE, periods=[("2024-05-06", "2024-05-14"), ("2024-05-13", "2024-05-20")])
    with pytest.raises(SpecError, match="not an ISO date"):
        funnel.compare(SAMPLE, periods=[("2024-05-06", "soon"), ("2024-05-13", "2024-05-20")])


def test_users_as_units(sample):
    spec = funnel.FunnelSpec.from_dict(
        {"unit": "users", "steps": [{"name": n, "event": e} for n, e in CHECKOUT]}
    )
    cmp = funnel.compare(
        SAMPLE,
        by="experiment_arm",
        spec=spec,
        options=CompareOptions(bootstrap=0),
        analyze_options=funnel.AnalyzeOptions(censor=None),  # every user, as all_units()
    )
    assert cmp.versions["unit"].to_list() == ["users", "users"]
    assert cmp.versions["units"].to_list() == cmp.versions["users"].to_list()
    per_arm = sample.all_units().group_by("experiment_arm").agg(pl.col("user_id").n_unique())
    want = dict(per_arm.iter_rows())
    assert cmp.versions["users"].to_list() == [want["A"], want["B"]]


def test_an_empty_version_is_a_warning_not_a_crash():
    versions = _arm_units(3, 0, False)
    cmp = compare_versions(versions, CompareOptions(bootstrap=100), kind="dumps")
    assert any("no units entered the funnel in 'B'" in w for w in cmp.warnings)
    assert cmp.steps.filter(step="overall")["p_value"].is_null().all()
    json.loads(cmp.to_json())
    assert "Warning" in cmp.to_markdown()


def test_segments_get_no_sample_ratio_alarm_and_experiments_do():
    """compare --by device compares segments: no sample-ratio check unless a split is
    declared; with three versions the verdict's detectable effect is at alpha / 2."""
    from funnel.versions.stats import minimum_detectable_effect

    cmp = funnel.compare(SAMPLE, by="device", options=CompareOptions(bootstrap=0))
    assert not cmp.warnings and cmp.summary["sample_ratio_p"] is None
    assert any(n.startswith("no sample-ratio check") for n in cmp.notes)
    for row in cmp.steps.filter(step="overall").iter_rows(named=True):
        level = cmp.summary["alpha"] / 2  # two treatments against the control
        mde = minimum_detectable_effect(row["control_rate"], row["n"], row["control_n"], level, 0.8)
        assert row["mde"] == pytest.approx(mde)
        if not row["significant"]:  # the verdict shows the detectable effect of its row
            assert f"±{row['mde'] * 100:.1f} pp" in " ".join(cmp.verdicts())
    declared = funnel.compare(
        SAMPLE, by="device", options=CompareOptions(bootstrap=0, expected_split=(1, 1, 1))
    )
    assert any("SAMPLE RATIO MISMATCH" in w for w in declared.warnings)


def test_a_spec_declares_the_experiment_whose_sample_ratio_is_checked():
    base = {"steps": [{"event": "add_to_cart"}, {"event": "purchase"}]}
    opts = CompareOptions(bootstrap=0)
    equal = funnel.FunnelSpec.from_dict(base | {"experiment": {"arm": "experiment_arm"}})
    cmp = funnel.compare(SAMPLE, spec=equal, by="experiment_arm", options=opts)
    assert cmp.srm["expected_share"].to_list() == [0.5, 0.5] and not cmp.warnings
    skewed = funnel.FunnelSpec.from_dict(
        base | {"experiment": {"arm": "experiment_arm", "split": {"A": 80, "B": 20}}}
    )
    cmp = funnel.compare(SAMPLE, spec=skewed, by="experiment_arm", options=opts)
    assert cmp.srm["expected_share"].to_list() == [0.8, 0.2]
    assert any("SAMPLE RATIO MISMATCH" in w for w in cmp.warnings)
    # another column of the same data is a segment: not checked
    assert funnel.compare(SAMPLE, spec=skewed, by="device", options=opts).srm is None
    missing = funnel.FunnelSpec.from_dict(
        base | {"experiment": {"arm": "experiment_arm", "split": {"A": 50, "C": 50}}}
    )
    with pytest.raises(funnel.SpecError, match=r"experiment\.split: no share for arm 'B'"):
        funnel.compare(SAMPLE, spec=missing, by="experiment_arm", options=opts)
    with pytest.raises(funnel.SpecError, match=r"experiment\.arms: unknown key"):
        funnel.FunnelSpec.from_dict(base | {"experiment": {"arms": "x"}})
    assert equal.to_dict()["experiment"] == {"arm": "experiment_arm"}
