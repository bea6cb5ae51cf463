"""The release gate (DESIGN §7): did the current run get slower, bigger or worse than the baseline?

Per profile, the primary choice of each run is compared in five checks:

- **plan**: a profile that lost support fails, and so does a primary that now
  requires an accelerator the old primary did not;
- **latency**: from the raw samples, the relative change of the median with a
  bootstrap confidence interval of the median ratio and a Mann-Whitney U test;
- **memory** and **size**: relative thresholds (memory also has an absolute
  allowance, because peak resident memory moves by whole pages);
- **quality**: the spec's floor, and an allowed drop from the baseline.

Latency verdicts follow two anchors:

- asv (airspeed velocity) reports a regression only when the ratio of medians
  exceeds a factor *and* Mann-Whitney U says the samples differ
  (``asv compare --factor``, ``asv/statistics.py:is_different``). Here the
  factor applies to the whole confidence interval, not the point estimate.
- Chromium Pinpoint answers DIFFERENT, SAME or UNKNOWN, and UNKNOWN means
  "collect more repeats" (``dashboard/pinpoint/models/compare/compare.py``).
  Here: fail = DIFFERENT (interval above the threshold and the test
  significant), pass = SAME (interval's upper bound below the threshold),
  inconclusive = UNKNOWN, with an estimate of the samples that would decide it.

Predictions never pass: a check that needs a device reports "not measured"
when either side was predicted. Every variant present in both runs (same id,
or the same ``format:recipe`` name) is compared too, for the report only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from edgeops.errors import ResultsError
from edgeops.gate.stats import (
    RankTest,
    RatioInterval,
    bootstrap_median_ratio,
    mann_whitney_u,
    samples_for_significance,
    samples_to_decide,
)
from edgeops.models import Choice, Measurement, Plan, Results, Variant

Verdict = Literal["pass", "fail", "inconclusive", "not_measured"]
CheckName = Literal["plan", "latency", "memory", "size", "quality"]

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3

# The overall verdict is the worst of its checks.
_SEVERITY: dict[Verdict, int] = {"fail": 3, "inconclusive": 2, "not_measured": 1, "pass": 0}
_EXIT_CODES: dict[Verdict, int] = {
    "pass": EXIT_PASS,
    "fail": EXIT_FAIL,
    "inconclusive": EXIT_INCONCLUSIVE,
    "not_measured": EXIT_INCONCLUSIVE,
}


@dataclass(frozen=True)
class GateSettings:
    threshold_pct: float = 5.0
    threshold_pct_by_profile: dict[str, float] = field(default_factory=dict)
    memory_threshold_pct: float = 10.0
    memory_threshold_mb: float = 1.0
    size_threshold_pct: float = 5.0
    quality_drop_pct: float = 1.0
    confidence: float = 0.95
    alpha: float = 0.01
    # Below this many samples a side's median and its bootstrap mean little.
    min_samples: int = 10
    resamples: int = 2000

    def latency_threshold_pct(self, profile_id: str) -> float:
        return self.threshold_pct_by_profile.get(profile_id, self.threshold_pct)


@dataclass(frozen=True)
class LatencyComparison:
    # The current run's measurement: what a re-measure loop would measure again.
    variant_id: str
    device_id: str
    profile_id: str
    compute_unit: str
    verdict: Verdict
    detail: str
    baseline_p50_ms: float
    current_p50_ms: float
    change_pct: float
    threshold_pct: float
    ci_low_pct: float | None = None
    ci_high_pct: float | None = None
    p_value: float | None = None
    baseline_samples: int = 0
    current_samples: int = 0
    current_rounds: int = 0
    more_samples: int | None = None
    more_rounds: int | None = None

    @property
    def change(self) -> str:
        """The median's change and, once computed, its interval: ``+7.9% [+6.1, +9.8]``."""
        if self.ci_low_pct is None or self.ci_high_pct is None:
            return _pct(self.change_pct)
        return f"{self.change_pct:+.1f}% [{self.ci_low_pct:+.1f}, {self.ci_high_pct:+.1f}]"


@dataclass(frozen=True)
class Check:
    profile_id: str
    name: CheckName
    verdict: Verdict
    detail: str
    unit: str = ""
    baseline: float | None = None
    current: float | None = None
    change_pct: float | None = None
    latency: LatencyComparison | None = None


@dataclass(frozen=True)
class ProfileGate:
    profile_id: str
    baseline_primary: str | None
    current_primary: str | None
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> Verdict:
        return worst(c.verdict for c in self.checks)


@dataclass(frozen=True)
class VariantComparison:
    """One variant on one profile and compute unit, in both runs; for the report only."""

    variant: str
    profile_id: str
    compute_unit: str
    baseline_variant_id: str
    current_variant_id: str
    latency: LatencyComparison | None
    memory_change_mb: float | None
    size_change_pct: float | None
    quality_change: float | None
    note: str = ""


@dataclass(frozen=True)
class GateReport:
    model: str
    baseline_version: str
    current_version: str
    baseline_run: str
    current_run: str
    settings: GateSettings
    profiles: tuple[ProfileGate, ...]
    variants: tuple[VariantComparison, ...]

    @property
    def checks(self) -> tuple[Check, ...]:
        return tuple(c for p in self.profiles for c in p.checks)

    @property
    def verdict(self) -> Verdict:
        return worst(c.verdict for c in self.checks)

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self.verdict]


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=_SEVERITY.__getitem__, default="pass")


# --------------------------------------------------------------------------- the gate


def gate(
    baseline: Results,
    current: Results,
    settings: GateSettings | None = None,
    names: tuple[str, str] = ("baseline", "current"),
    *,
    report_variants: bool = True,
) -> GateReport:
    """Compare two runs of the same model; ``names`` label them in error messages.

    ``report_variants=False`` skips the report-only comparison of every variant.
    """
    settings = settings or GateSettings()
    check_comparable(baseline, current, names)
    base_plans = {p.profile_id: p for p in baseline.plans}
    cur_plans = {p.profile_id: p for p in current.plans}
    order = list(base_plans) + [pid for pid in cur_plans if pid not in base_plans]
    profiles = tuple(
        _gate_profile(pid, base_plans.get(pid), cur_plans.get(pid), baseline, current, settings)
        for pid in order
    )
    return GateReport(
        model=current.spec.name,
        baseline_version=baseline.spec.version,
        current_version=current.spec.version,
        baseline_run=baseline.run_id,
        current_run=current.run_id,
        settings=settings,
        profiles=profiles,
        variants=tuple(compare_variants(baseline, current, settings) if report_variants else ()),
    )


def check_comparable(baseline: Results, current: Results, names: tuple[str, str]) -> None:
    """Raise ResultsError (exit 2) when the two files cannot be gated against each other."""
    if baseline.schema_version != current.schema_version:
        raise ResultsError(
            f"{names[0]} has results schema {baseline.schema_version!r} and {names[1]} "
            f"{current.schema_version!r}; re-run the baseline with this edgeops"
        )
    if baseline.spec.name != current.spec.name:
        raise ResultsError(
            f"{names[0]} is model {baseline.spec.name!r} but {names[1]} is "
            f"{current.spec.name!r}; gate two runs of the same model"
        )
    shapes = [input_shapes(r) for r in (baseline, current)]
    if all(shapes) and shapes[0] != shapes[1]:
        described = [", ".join(f"{k} {list(v)}" for k, v in s.items()) for s in shapes]
        raise ResultsError(
            f"{names[0]} ran the model at input {described[0]} but {names[1]} at "
            f"{described[1]}: at another size it is another model, so latency and memory "
            "do not compare; gate two runs at the same input shape"
        )
    for results, name in zip((baseline, current), names, strict=True):
        bare = [
            m
            for m in results.measurements
            if m.status == "ok" and m.method == "measured" and not m.samples_ms
        ]
        if bare:
            m = bare[0]
            raise ResultsError(
                f"{name} has {len(bare)} measurement(s) without raw samples (samples_ms), e.g. "
                f"{_variant_name(results, m.variant_id)} on {m.profile_id}; re-measure it with "
                "this edgeops (`edgeops ship`) so the gate can test the samples"
            )


def input_shapes(results: Results) -> dict[str, tuple[int, ...]]:
    """The input shapes a run measured: the spec's, else its first converted artifact's."""
    inputs = results.spec.inputs or next(
        (a.inputs for a in results.artifacts if a.status == "ok" and a.inputs), ()
    )
    return {i.name: i.shape for i in inputs}


def _gate_profile(
    profile_id: str,
    base_plan: Plan | None,
    cur_plan: Plan | None,
    baseline: Results,
    current: Results,
    settings: GateSettings,
) -> ProfileGate:
    base_choice = _primary(base_plan)
    cur_choice = _primary(cur_plan)
    checks = [_plan_check(profile_id, base_plan, cur_plan)]
    if base_choice is not None and cur_choice is not None:
        base_m = _measurement(baseline, base_choice, profile_id)
        cur_m = _measurement(current, cur_choice, profile_id)
        base_v = _find_variant(baseline, base_choice.variant_id)
        cur_v = _find_variant(current, cur_choice.variant_id)
        checks.append(
            _latency_check(
                profile_id, base_m, cur_m, settings.latency_threshold_pct(profile_id), settings
            )
        )
        checks.append(_memory_check(profile_id, base_m, cur_m, settings))
        checks.append(_size_check(profile_id, base_v, cur_v, settings))
        checks.append(_quality_check(profile_id, base_v, cur_v, current, settings))
    return ProfileGate(
        profile_id=profile_id,
        baseline_primary=_choice_label(base_choice),
        current_primary=_choice_label(cur_choice),
        checks=tuple(checks),
    )


def _plan_check(profile_id: str, base: Plan | None, cur: Plan | None) -> Check:
    def check(verdict: Verdict, detail: str) -> Check:
        return Check(profile_id=profile_id, name="plan", verdict=verdict, detail=detail)

    if cur is None:
        return check(
            "fail", "profile is missing from the current run; ship with --profile " + profile_id
        )
    if base is None:
        return check("pass", f"new profile ({cur.status}); nothing to compare")
    if cur.status == "not_measured" or _predicted(cur):
        return check(
            "not_measured", "current plan is not measured on a device; predictions never pass"
        )
    if base.status == "supported" and cur.status == "unsupported":
        miss = cur.nearest_miss
        why = f": nearest miss {miss.variant_name}, {'; '.join(miss.reasons)}" if miss else ""
        return check("fail", f"lost support{why}")
    if cur.status == "unsupported":
        return check("pass", f"unsupported, and {base.status} before: nothing was lost")
    if base.status != "supported":
        return check("pass", f"gained support ({base.status} before)")
    base_primary, cur_primary = _primary(base), _primary(cur)
    assert base_primary is not None and cur_primary is not None
    added = sorted(set(cur_primary.requires) - set(base_primary.requires))
    if added:
        had = ", ".join(base_primary.requires) or "CPU only"
        return check(
            "fail",
            f"primary now requires {', '.join(added)} (was {had}); apps without it lose the primary",
        )
    if _predicted(base):
        return check("not_measured", "baseline plan was predicted; predictions never pass")
    before, after = _choice_label(base_primary), _choice_label(cur_primary)
    if before == after:
        return check("pass", f"supported in both; primary {after} unchanged")
    return check("pass", f"supported in both; primary {before} → {after}, no new accelerator")


def _latency_check(
    profile_id: str,
    base: Measurement | None,
    cur: Measurement | None,
    threshold_pct: float,
    settings: GateSettings,
) -> Check:
    unmeasured = _unmeasured(base, cur)
    if unmeasured:
        return Check(profile_id, "latency", "not_measured", unmeasured, unit="ms")
    assert base is not None and cur is not None
    lat = compare_latency(base, cur, threshold_pct, settings)
    return Check(
        profile_id=profile_id,
        name="latency",
        verdict=lat.verdict,
        detail=lat.detail,
        unit="ms",
        baseline=lat.baseline_p50_ms,
        current=lat.current_p50_ms,
        change_pct=lat.change_pct,
        latency=lat,
    )


def _memory_check(
    profile_id: str, base: Measurement | None, cur: Measurement | None, settings: GateSettings
) -> Check:
    unmeasured = _unmeasured(base, cur)
    if unmeasured:
        return Check(profile_id, "memory", "not_measured", unmeasured, unit="MB")
    assert base is not None and cur is not None
    base_mb, cur_mb = base.peak_mem_mb, cur.peak_mem_mb
    if base_mb is None or cur_mb is None:
        side = (
            "either run"
            if base_mb is None and cur_mb is None
            else ("baseline" if base_mb is None else "current")
        )
        return Check(
            profile_id=profile_id,
            name="memory",
            verdict="not_measured",
            detail=f"peak memory not reported by {side}",
            unit="MB",
            baseline=base_mb,
            current=cur_mb,
        )
    grew_mb = cur_mb - base_mb
    allowed_mb = max(
        abs(base_mb) * settings.memory_threshold_pct / 100.0, settings.memory_threshold_mb
    )
    verdict: Verdict = "fail" if grew_mb > allowed_mb else "pass"
    return Check(
        profile_id=profile_id,
        name="memory",
        verdict=verdict,
        detail=(
            f"peak {grew_mb:+.1f} MB, allowed +{allowed_mb:.1f} MB "
            f"(max of {settings.memory_threshold_pct:g}% and {settings.memory_threshold_mb:g} MB)"
        ),
        unit="MB",
        baseline=base_mb,
        current=cur_mb,
        change_pct=_change_pct(base_mb, cur_mb),
    )


def _size_check(
    profile_id: str, base: Variant | None, cur: Variant | None, settings: GateSettings
) -> Check:
    base_bytes = base.size_bytes if base else None
    cur_bytes = cur.size_bytes if cur else None
    if base_bytes is None or cur_bytes is None:
        return Check(profile_id, "size", "not_measured", "file size unknown", unit="bytes")
    change = _change_pct(base_bytes, cur_bytes)
    verdict: Verdict = (
        "fail" if change is not None and change > settings.size_threshold_pct else "pass"
    )
    return Check(
        profile_id=profile_id,
        name="size",
        verdict=verdict,
        detail=f"file {_pct(change)}, threshold {settings.size_threshold_pct:g}%",
        unit="bytes",
        baseline=float(base_bytes),
        current=float(cur_bytes),
        change_pct=change,
    )


def _quality_check(
    profile_id: str,
    base: Variant | None,
    cur: Variant | None,
    current: Results,
    settings: GateSettings,
) -> Check:
    spec = current.spec.quality
    base_value = _metric(base, spec.metric)
    cur_value = _metric(cur, spec.metric)

    def check(verdict: Verdict, detail: str) -> Check:
        return Check(
            profile_id=profile_id,
            name="quality",
            verdict=verdict,
            detail=detail,
            unit=spec.metric,
            baseline=base_value,
            current=cur_value,
            change_pct=_change_pct(base_value, cur_value),
        )

    if cur_value is None:
        return check("not_measured", f"no {spec.metric} figure for the current primary")
    higher = _higher_is_better(cur, spec.metric, spec.higher_is_better)
    if (cur_value < spec.floor) if higher else (cur_value > spec.floor):
        return check("fail", f"{spec.metric} {cur_value:.4g} is past the floor {spec.floor:g}")
    if base_value is None:
        return check(
            "pass",
            f"{spec.metric} {cur_value:.4g} meets the floor {spec.floor:g}; no baseline figure",
        )
    drop = (base_value - cur_value) if higher else (cur_value - base_value)
    allowed = abs(base_value) * settings.quality_drop_pct / 100.0
    if drop > allowed:
        return check(
            "fail",
            f"{spec.metric} dropped {drop:.3g}, more than {allowed:.3g} ({settings.quality_drop_pct:g}%)",
        )
    return check(
        "pass",
        f"meets the floor {spec.floor:g}; drop {max(drop, 0.0):.3g} within {allowed:.3g} "
        f"({settings.quality_drop_pct:g}%)",
    )


# --------------------------------------------------------------------------- latency


def compare_latency(
    base: Measurement, cur: Measurement, threshold_pct: float, settings: GateSettings
) -> LatencyComparison:
    """The latency verdict for two measured sets of samples."""
    base_rounds, cur_rounds = measurement_rounds(base), measurement_rounds(cur)
    n_base, n_cur = len(base.samples_ms), len(cur.samples_ms)
    base_p50 = float(np.median(base.samples_ms))
    cur_p50 = float(np.median(cur.samples_ms))
    unknown = LatencyComparison(
        variant_id=cur.variant_id,
        device_id=cur.device_id,
        profile_id=cur.profile_id,
        compute_unit=cur.compute_unit,
        verdict="inconclusive",
        detail="",
        baseline_p50_ms=base_p50,
        current_p50_ms=cur_p50,
        change_pct=(cur_p50 / base_p50 - 1.0) * 100.0,
        threshold_pct=threshold_pct,
        baseline_samples=n_base,
        current_samples=n_cur,
        current_rounds=len(cur_rounds),
    )
    if n_base < settings.min_samples:
        return replace(
            unknown,
            detail=(
                f"baseline has {n_base} samples, fewer than {settings.min_samples}; "
                "re-measure the baseline (UNKNOWN)"
            ),
        )
    if n_cur < settings.min_samples:
        more = settings.min_samples - n_cur
        return replace(
            unknown,
            detail=f"current has {n_cur} samples, fewer than {settings.min_samples}; measure more (UNKNOWN)",
            more_samples=more,
            more_rounds=_rounds_for(more, cur),
        )
    interval = bootstrap_median_ratio(
        base_rounds,
        cur_rounds,
        confidence=settings.confidence,
        resamples=settings.resamples,
    )
    test = mann_whitney_u(base.samples_ms, cur.samples_ms)
    verdict, decide_in = latency_verdict(
        interval, test, threshold_pct, settings.alpha, n_base, n_cur
    )
    return replace(
        unknown,
        verdict=verdict,
        detail=_latency_detail(verdict, interval, test, threshold_pct, decide_in, cur),
        ci_low_pct=(interval.low - 1.0) * 100.0,
        ci_high_pct=(interval.high - 1.0) * 100.0,
        p_value=test.p_value,
        more_samples=decide_in,
        more_rounds=_rounds_for(decide_in, cur),
    )


def latency_verdict(
    interval: RatioInterval,
    test: RankTest,
    threshold_pct: float,
    alpha: float,
    n_baseline: int,
    n_current: int,
) -> tuple[Verdict, int | None]:
    """DIFFERENT, SAME or UNKNOWN as fail, pass or inconclusive, and the samples UNKNOWN needs."""
    threshold = 1.0 + threshold_pct / 100.0
    if interval.low > threshold:
        if test.p_value < alpha and test.z > 0:
            return "fail", None
        return "inconclusive", samples_for_significance(test, n_baseline, n_current, alpha)
    if interval.high < threshold:
        return "pass", None
    return "inconclusive", samples_to_decide(interval, n_current, threshold)


def _latency_detail(
    verdict: Verdict,
    interval: RatioInterval,
    test: RankTest,
    threshold_pct: float,
    more: int | None,
    cur: Measurement,
) -> str:
    # The change and its interval have their own columns; the detail says what they mean.
    shown = f"p={test.p_value:.2g}"
    if verdict == "fail":
        return f"{shown}; whole interval above the {threshold_pct:g}% threshold (DIFFERENT)"
    if verdict == "pass":
        return f"{shown}; upper bound below the {threshold_pct:g}% threshold (SAME)"
    if more is None:
        advice = (
            "the change sits on the threshold or the baseline is too noisy; "
            "re-measure both, or review the threshold"
        )
    else:
        advice = (
            f"~{more} more samples ({_rounds_for(more, cur)} more round(s)) would likely decide"
        )
    if interval.low > 1.0 + threshold_pct / 100.0:
        return f"{shown}; above the {threshold_pct:g}% threshold but not significant; {advice} (UNKNOWN)"
    return f"{shown}; interval straddles the {threshold_pct:g}% threshold; {advice} (UNKNOWN)"


def measurement_rounds(m: Measurement) -> list[list[float]]:
    """The samples split back into their rounds (fresh processes), for the two-stage bootstrap.

    ``round_sizes`` gives the boundaries. Results written before it existed
    fall back to equal contiguous blocks: rounds of one run share min_runs and
    min_duration_s, so they hold similar counts.
    """
    samples = list(m.samples_ms)
    if m.round_sizes and sum(m.round_sizes) == len(samples):
        bounds = np.cumsum((0, *m.round_sizes))
        return [samples[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    k = max(1, min(m.rounds, len(samples)))
    return [list(block) for block in np.array_split(np.asarray(samples), k)]


def _rounds_for(more_samples: int | None, cur: Measurement) -> int | None:
    if more_samples is None:
        return None
    per_round = max(1.0, len(cur.samples_ms) / max(1, cur.rounds))
    return max(1, math.ceil(more_samples / per_round))


# --------------------------------------------------------------------------- variants, for the report


def compare_variants(
    baseline: Results, current: Results, settings: GateSettings
) -> list[VariantComparison]:
    """Every variant in both runs, on every profile and compute unit both measured."""
    rows = []
    for base_v, cur_v in matched_variants(baseline, current):
        base_ms = {
            (m.profile_id, m.compute_unit): m
            for m in baseline.measurements
            if m.variant_id == base_v.id and m.status == "ok"
        }
        for m in current.measurements:
            if m.variant_id != cur_v.id or m.status != "ok":
                continue
            b = base_ms.get((m.profile_id, m.compute_unit))
            if b is None:
                continue
            unmeasured = _unmeasured(b, m)
            latency = (
                None
                if unmeasured
                else compare_latency(b, m, settings.latency_threshold_pct(m.profile_id), settings)
            )
            rows.append(
                VariantComparison(
                    variant=cur_v.name,
                    profile_id=m.profile_id,
                    compute_unit=m.compute_unit,
                    baseline_variant_id=base_v.id,
                    current_variant_id=cur_v.id,
                    latency=latency,
                    memory_change_mb=(
                        m.peak_mem_mb - b.peak_mem_mb
                        if m.peak_mem_mb is not None and b.peak_mem_mb is not None
                        else None
                    ),
                    size_change_pct=_change_pct(base_v.size_bytes, cur_v.size_bytes),
                    quality_change=_difference(
                        _metric(base_v, current.spec.quality.metric),
                        _metric(cur_v, current.spec.quality.metric),
                    ),
                    note=unmeasured or "",
                )
            )
    return rows


def matched_variants(baseline: Results, current: Results) -> list[tuple[Variant, Variant]]:
    """Pairs of the same variant: same id first, else the same ``format:recipe`` name."""
    by_id = {v.id: v for v in baseline.variants if v.status == "ok"}
    by_name = {v.name: v for v in baseline.variants if v.status == "ok"}
    pairs = []
    for v in current.variants:
        if v.status != "ok":
            continue
        match = by_id.get(v.id) or by_name.get(v.name)
        if match is not None:
            pairs.append((match, v))
    return pairs


# --------------------------------------------------------------------------- re-measure loop


@dataclass(frozen=True)
class Remeasure:
    """An inconclusive latency comparison, named by the current run's measurement."""

    variant_id: str
    device_id: str
    profile_id: str
    compute_unit: str
    more_samples: int | None
    more_rounds: int | None
    reason: str


def undecided_comparisons(
    baseline: Results,
    current: Results,
    settings: GateSettings | None = None,
    *,
    include_report: bool = False,
) -> list[Remeasure]:
    """What ``ship --until-decided`` should measure again, and how much.

    Pure: reads the two runs and measures nothing. Lists each gating latency
    comparison (each profile's primary) that is inconclusive; with
    ``include_report`` also the report-only variant comparisons. ``more_samples``
    is None when re-measuring the current run alone would likely not decide it
    (the change sits on the threshold, or the baseline is the noisy side); a
    loop should then stop for that entry and show ``reason``.
    """
    report = gate(baseline, current, settings, report_variants=include_report)
    latencies = [c.latency for c in report.checks if c.latency is not None]
    if include_report:
        latencies += [row.latency for row in report.variants if row.latency is not None]
    todo: dict[tuple[str, str, str, str], Remeasure] = {}
    for lat in latencies:
        key = (lat.variant_id, lat.device_id, lat.profile_id, lat.compute_unit)
        if lat.verdict == "inconclusive" and key not in todo:
            todo[key] = Remeasure(
                variant_id=lat.variant_id,
                device_id=lat.device_id,
                profile_id=lat.profile_id,
                compute_unit=lat.compute_unit,
                more_samples=lat.more_samples,
                more_rounds=lat.more_rounds,
                reason=f"median {lat.change}: {lat.detail}",
            )
    return list(todo.values())


# --------------------------------------------------------------------------- lookups


def _primary(plan: Plan | None) -> Choice | None:
    if plan is None or plan.status != "supported" or not plan.choices:
        return None
    return plan.choices[0]


def _predicted(plan: Plan) -> bool:
    return plan.method == "predicted" or any(c.method == "predicted" for c in plan.choices[:1])


def _measurement(results: Results, choice: Choice, profile_id: str) -> Measurement | None:
    key = (choice.variant_id, profile_id, choice.compute_unit)
    found = [m for m in results.measurements if (m.variant_id, m.profile_id, m.compute_unit) == key]
    # One device per profile is measured (pipeline.measure); an ok one wins over a failed one.
    return next((m for m in found if m.status == "ok"), found[0] if found else None)


def _unmeasured(base: Measurement | None, cur: Measurement | None) -> str | None:
    """Why the pair cannot be compared on device figures, or None when it can."""
    for m, side in ((base, "baseline"), (cur, "current")):
        if m is None:
            return f"no {side} measurement of the primary"
        if m.method == "predicted":
            return f"{side} figure is a prediction; predictions never pass"
        if m.status != "ok":
            return f"{side} measurement is {m.status}"
    return None


def _find_variant(results: Results, variant_id: str) -> Variant | None:
    return next((v for v in results.variants if v.id == variant_id), None)


def _variant_name(results: Results, variant_id: str) -> str:
    v = _find_variant(results, variant_id)
    return v.name if v else variant_id


def _choice_label(choice: Choice | None) -> str | None:
    return f"{choice.variant_name} ({choice.compute_unit})" if choice else None


def _metric(variant: Variant | None, metric: str) -> float | None:
    if variant is None or variant.quality is None:
        return None
    return variant.quality.metrics.get(metric)


def _higher_is_better(variant: Variant | None, metric: str, default: bool) -> bool:
    if variant is None or variant.quality is None:
        return default
    return variant.quality.higher_is_better.get(metric, default)


def _change_pct(base: float | None, cur: float | None) -> float | None:
    if base is None or cur is None or base == 0:
        return None
    return (cur / base - 1.0) * 100.0


def _difference(base: float | None, cur: float | None) -> float | None:
    return cur - base if base is not None and cur is not None else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"
