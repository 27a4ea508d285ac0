"""Compare funnel versions: steps aligned, conversion, time per step and cause mix tested.

A *version* is the per-unit table of one funnel run (``FunnelResult.units``) with its spec.
Versions come from arms of an experiment in one dump, two dumps, two periods of one dump or
two specs run on one dump (:func:`funnel.compare`); :func:`compare_results` compares results
you already have. docs/compare.md sets out the statistics and their assumptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from funnel.errors import SpecError, did_you_mean
from funnel.results.comparison import Comparison
from funnel.results.result import FunnelResult
from funnel.stats import wilson_interval
from funnel.versions.stats import sample_ratio_test
from funnel.versions.tables import (
    CAUSES_SCHEMA,
    ONE_SIDED_SCHEMA,
    STEPS_SCHEMA,
    TIMING_SCHEMA,
    Version,
    as_frame,
    cause_rows,
    one_sided_rows,
    shared_path,
    step_rows,
    timing_rows,
)

__all__ = ["CompareOptions", "Version", "compare_results", "compare_versions"]


@dataclass(frozen=True, kw_only=True)
class CompareOptions:
    """How versions are compared.

    ``control``: the version the others are compared with (default: the first);
    ``alpha``: significance level; ``adjust``: ``holm`` (default) or ``bh`` across steps;
    ``expected_split``: expected share of users per version of an experiment, for the
    sample ratio check (none without it); ``bootstrap`` resamples (0: no interval) and ``seed``
    for the median differences; ``power`` for the minimum detectable effect;
    ``align``: step name -> name it is compared as (added to the specs' ``same_as``);
    ``crossovers``: ``drop`` (default) or ``keep`` units of users seen in two arms.

    >>> CompareOptions(adjust="bh", expected_split=(90, 10)).alpha
    0.05
    >>> CompareOptions(adjust="bonferroni")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    funnel.errors.SpecError: adjust: 'bonferroni' is not one of ('holm', 'bh') ...
    """

    control: str | None = None
    alpha: float = 0.05
    adjust: str = "holm"
    confidence: float = 0.95
    power: float = 0.8
    expected_split: tuple[float, ...] | None = None
    bootstrap: int = 2000
    seed: int = 0
    align: Mapping[str, str] = field(default_factory=dict)
    crossovers: str = "drop"

    def __post_init__(self) -> None:
        for key, value, choices in (
            ("adjust", self.adjust, ("holm", "bh")),
            ("crossovers", self.crossovers, ("drop", "keep")),
        ):
            if value not in choices:
                raise SpecError(
                    f"{key}: {value!r} is not one of {choices}", hint=did_you_mean(value, choices)
                )
        for key, value in (
            ("alpha", self.alpha),
            ("confidence", self.confidence),
            ("power", self.power),
        ):
            if not 0 < value < 1:
                raise SpecError(f"{key}: {value} is not between 0 and 1", hint=f"e.g. {key}=0.05")
        if self.expected_split is not None and (
            not self.expected_split or any(s <= 0 for s in self.expected_split)
        ):
            raise SpecError("expected_split: shares must be positive", hint="e.g. 50,50")


def _crossovers(versions: list[Version]) -> pl.DataFrame:
    """Users with units in more than one version."""
    both = pl.concat([v.units.select("user_id", pl.lit(v.label).alias("_v")) for v in versions])
    return both.group_by("user_id").agg(pl.col("_v").n_unique()).filter(pl.col("_v") > 1)


def _sample_ratio(
    versions: list[Version],
    counts: dict[str, dict[str, int]],
    split: tuple[float, ...],
    labels: list[str],
) -> tuple[pl.DataFrame, float]:
    """Users per version against the expected shares (given in the caller's order)."""
    if len(split) != len(versions):
        raise SpecError(
            f"expected_split: {len(split)} shares for {len(versions)} versions",
            hint="give one share per version, in the order " + ", ".join(labels),
        )
    shares = dict(zip(labels, split, strict=True))
    observed = [counts[v.label]["users"] for v in versions]
    expected = [shares[v.label] for v in versions]
    frame = pl.DataFrame(
        {
            "version": [v.label for v in versions],
            "users": observed,
            "expected_share": [e / sum(expected) for e in expected],
            "observed_share": [o / max(1, sum(observed)) for o in observed],
        },
        schema={
            "version": pl.String,
            "users": pl.Int64,
            "expected_share": pl.Float64,
            "observed_share": pl.Float64,
        },
    )
    return frame, sample_ratio_test(observed, expected)


def _version_table(
    versions: list[Version], counts: dict[str, dict[str, int]], control: str, opts: CompareOptions
) -> pl.DataFrame:
    rows = []
    for v in versions:
        c = counts[v.label]
        lo, hi = wilson_interval(c["converted"], c["units"], opts.confidence)
        rows.append(
            {
                "version": v.label,
                "role": "control" if v.label == control else "treatment",
                "spec": v.spec.name,
                "unit": v.spec.unit,
                "units": c["units"],
                "users": c["users"],
                "converted": c["converted"],
                "conversion": c["converted"] / c["units"] if c["units"] else None,
                "conversion_lo": lo,
                "conversion_hi": hi,
            }
        )
    return as_frame(rows)


def compare_versions(
    versions: list[Version], options: CompareOptions | None = None, *, kind: str = "results"
) -> Comparison:
    """Compare versions (the first is the control unless ``options.control`` says otherwise).

    ``kind`` says where the versions came from (``arms``, ``dumps``, ``periods``, ``specs``,
    ``results``); arms get an equal expected split and crossover handling.
    """
    opts = options or CompareOptions()
    if len(versions) < 2:
        raise SpecError(
            f"a comparison needs two versions or more, got {len(versions)}",
            hint="check the --by column has two values or more",
        )
    labels = [v.label for v in versions]
    control = opts.control if opts.control is not None else labels[0]
    if control not in labels:
        raise SpecError(
            f"control: {control!r} is not a version", hint=did_you_mean(control, labels)
        )
    versions = sorted(versions, key=lambda v: v.label != control)
    notes, warnings = [], []
    empty = [v.label for v in versions if v.units.height == 0]
    if empty:
        warnings.append(
            f"no units entered the funnel in {', '.join(map(repr, empty))}: nothing to compare"
        )
    units = {v.spec.unit for v in versions}
    if len(units) > 1:
        warnings.append(f"the versions count different units ({', '.join(sorted(units))})")
    cross = _crossovers(versions)
    if cross.height:
        if kind == "arms" and opts.crossovers == "drop":
            gone = cross["user_id"]
            before = sum(v.units.height for v in versions)
            versions = [
                Version(v.label, v.spec, v.units.filter(~pl.col("user_id").is_in(gone.implode())))
                for v in versions
            ]
            dropped = before - sum(v.units.height for v in versions)
            notes.append(
                f"{cross.height} users were seen in more than one arm; their {dropped} units "
                "are left out (crossovers=drop)"
            )
        elif kind == "specs":
            notes.append(
                "both versions are the same sessions under two specs: the tests assume "
                "independent samples, so their p-values are conservative here"
            )
        else:
            notes.append(
                f"{cross.height} users have units in more than one version; each unit counts "
                "in its own version and the tests treat units as independent"
            )
    align = dict(opts.align)
    shared = shared_path(versions, align)
    steps, counts = step_rows(versions, shared, align, opts)
    timing = timing_rows(versions, shared, align, opts)
    causes, mix = cause_rows(versions, opts)
    mix_ok = all("primary_cause" in v.units.columns for v in versions)
    if mix and mix["min_expected"] < 5:
        notes.append("cause mix: some expected counts are below 5, the chi-square is rough")
    # the sample ratio is a check of an experiment's assignment: only when its split is
    # declared (segments such as devices are not meant to be of any size)
    split = opts.expected_split
    if split is None and kind == "arms":
        notes.append(
            "no sample-ratio check: when these are the arms of an experiment, give its split "
            "(--expected-split 50,50, or an [experiment] table in the spec)"
        )
    srm, srm_p = None, None
    if split is not None:
        srm, srm_p = _sample_ratio(versions, counts, split, labels)
        if srm_p < 0.001:
            warnings.append(
                f"SAMPLE RATIO MISMATCH: users per version {srm['users'].to_list()} do not fit "
                f"the expected split (chi-square p = {srm_p:.2g}); assignment or logging is "
                "broken and the comparison is not trustworthy"
            )
    summary = {
        "kind": kind,
        "control": control,
        "alpha": opts.alpha,
        "adjust": opts.adjust,
        "confidence": opts.confidence,
        "power": opts.power,
        "bootstrap": opts.bootstrap,
        "seed": opts.seed,
        "shared_steps": shared,
        "crossover_users": cross.height,
        "sample_ratio_p": srm_p,
        "cause_mix": mix,
    }
    return Comparison(
        versions=_version_table(versions, counts, control, opts),
        steps=as_frame(steps, STEPS_SCHEMA),
        timing=as_frame(timing, TIMING_SCHEMA),
        causes=as_frame(causes, CAUSES_SCHEMA) if mix_ok else None,
        one_sided=as_frame(one_sided_rows(versions, shared, align, opts), ONE_SIDED_SCHEMA),
        srm=srm,
        summary=summary,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def compare_results(
    results: Mapping[str, FunnelResult], options: CompareOptions | None = None
) -> Comparison:
    """Compare results you already have, e.g. two dumps analysed separately.

    >>> import polars as pl, funnel
    >>> def dump(buy):
    ...     return pl.DataFrame({"user_id": ["a", "a", "b", "b"],
    ...         "event": ["add_to_cart", "purchase", "add_to_cart", buy],
    ...         "timestamp": ["2024-05-01T10:00:00Z", "2024-05-01T10:02:00Z"] * 2})
    >>> spec = funnel.FunnelSpec.from_dict({"steps": [{"event": "add_to_cart"},
    ...                                               {"event": "purchase"}]})
    >>> keep = funnel.AnalyzeOptions(censor=None)  # two minutes of data: keep every unit
    >>> before = funnel.analyze(dump("page_view"), spec, keep)
    >>> after = funnel.analyze(dump("purchase"), spec, keep)
    >>> cmp = compare_results({"before": before, "after": after},
    ...                       CompareOptions(bootstrap=0))
    >>> cmp.steps.filter(step="overall")["diff"][0]
    0.5
    """
    versions = [Version(label, r.spec, r.unit_rows("a comparison")) for label, r in results.items()]
    ledgers = {label: r.ledger for label, r in results.items()}
    out = compare_versions(versions, options)
    return out.with_ledgers(ledgers)
