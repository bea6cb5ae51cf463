"""The release gate (DESIGN §7): did the current run get slower, bigger or worse than the baseline?

Per profile, the primary choice of each run is compared in five checks:

- **plan**: a profile that lost support fails, and so does a primary that now
  requires an accelerator the old primary did not;
- **latency**: a sequential test on the rounds (fresh probe processes), one
  observation each, with published error rates (gate_stats);
- **memory** and **size**: relative thresholds (memory also has an absolute
  allowance, because peak resident memory moves by whole pages);
- **quality**: the spec's floor, and an allowed drop from the baseline.

Latency verdicts follow Chromium Pinpoint's DIFFERENT, SAME or UNKNOWN
(``dashboard/pinpoint/models/compare/compare.py``): fail = DIFFERENT (the
sequential test decided for a slowdown of the threshold), pass = SAME (it
decided for no slowdown), inconclusive = UNKNOWN, with the rounds the next
look needs. Pooled loop iterations are never tested: Mann-Whitney U on them
gave p ~ 1e-99 for a file against itself.

Predictions never pass: a check that needs a device reports "not measured"
when either side was predicted. Every variant present in both runs (same id,
or the same ``format:recipe`` name) is compared too, for the report only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from edgeops.errors import EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_OK, ResultsError
from edgeops.errors import EXIT_USAGE as EXIT_USAGE_CODE
from edgeops.gate.latency import (
    LatencyComparison,
    Verdict,
    compare_latency,
)
from edgeops.gate.lookups import (
    change_pct,
    choice_label,
    find_variant,
    higher_is_better,
    is_predicted,
    measurement_of,
    metric_value,
    primary_of,
    signed_pct,
    variant_name,
    why_unmeasured,
)
from edgeops.gate.pairing import remeasured_baseline
from edgeops.gate.settings import GateSettings
from edgeops.gate.variants import VariantComparison, compare_variants
from edgeops.models import Measurement, Plan, Results, Variant
from edgeops.round_stats import log_round_medians, measurement_rounds  # noqa: F401

CheckName = Literal["plan", "latency", "memory", "size", "quality"]

# The exit codes are declared once, with the errors (edgeops/errors.py).
EXIT_USAGE = EXIT_USAGE_CODE
EXIT_PASS = EXIT_OK
EXIT_FAIL = EXIT_FAILED

# The overall verdict is the worst of its checks.
_SEVERITY: dict[Verdict, int] = {"fail": 3, "inconclusive": 2, "not_measured": 1, "pass": 0}
_EXIT_CODES: dict[Verdict, int] = {
    "pass": EXIT_PASS,
    "fail": EXIT_FAIL,
    "inconclusive": EXIT_INCONCLUSIVE,
    "not_measured": EXIT_INCONCLUSIVE,
}


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
                f"{variant_name(results, m.variant_id)} on {m.profile_id}; re-measure it with "
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
    base_choice = primary_of(base_plan)
    cur_choice = primary_of(cur_plan)
    checks = [_plan_check(profile_id, base_plan, cur_plan)]
    if base_choice is not None and cur_choice is not None:
        base_m = measurement_of(baseline, base_choice, profile_id)
        cur_m = measurement_of(current, cur_choice, profile_id)
        base_v = find_variant(baseline, base_choice.variant_id)
        cur_v = find_variant(current, cur_choice.variant_id)
        again = remeasured_baseline(baseline, current, profile_id)
        # Paired only beside the current on its own device (gate/pairing.py).
        paired = again is not None and cur_m is not None and again.device_id == cur_m.device_id
        checks.append(
            _latency_check(
                profile_id,
                again if paired else base_m,
                cur_m,
                settings.latency_threshold_pct(profile_id),
                settings,
                paired=paired,
            )
        )
        checks.append(_memory_check(profile_id, base_m, cur_m, settings))
        checks.append(_size_check(profile_id, base_v, cur_v, settings))
        checks.append(_quality_check(profile_id, base_v, cur_v, current, settings))
    return ProfileGate(
        profile_id=profile_id,
        baseline_primary=choice_label(base_choice),
        current_primary=choice_label(cur_choice),
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
    if cur.status == "device_failed":
        # The device, not the model: no verdict on the model, and never a pass.
        return check("not_measured", f"the device failed in the current run: {cur.note}")
    if base.status == "supported" and cur.status == "not_converted":
        return check("fail", f"lost support: {cur.note}")
    if cur.status == "not_measured" or is_predicted(cur):
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
    base_primary, cur_primary = primary_of(base), primary_of(cur)
    assert base_primary is not None and cur_primary is not None
    added = sorted(set(cur_primary.requires) - set(base_primary.requires))
    if added:
        had = ", ".join(base_primary.requires) or "CPU only"
        return check(
            "fail",
            f"primary now requires {', '.join(added)} (was {had}); apps without it lose the primary",
        )
    if is_predicted(base):
        return check("not_measured", "baseline plan was predicted; predictions never pass")
    before, after = choice_label(base_primary), choice_label(cur_primary)
    if before == after:
        return check("pass", f"supported in both; primary {after} unchanged")
    return check("pass", f"supported in both; primary {before} → {after}, no new accelerator")


def _latency_check(
    profile_id: str,
    base: Measurement | None,
    cur: Measurement | None,
    threshold_pct: float,
    settings: GateSettings,
    *,
    paired: bool = False,
) -> Check:
    unmeasured = why_unmeasured(base, cur)
    if unmeasured:
        return Check(profile_id, "latency", "not_measured", unmeasured, unit="ms")
    assert base is not None and cur is not None
    lat = compare_latency(base, cur, threshold_pct, settings, paired=paired)
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
    unmeasured = why_unmeasured(base, cur)
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
        change_pct=change_pct(base_mb, cur_mb),
    )


def _size_check(
    profile_id: str, base: Variant | None, cur: Variant | None, settings: GateSettings
) -> Check:
    base_bytes = base.size_bytes if base else None
    cur_bytes = cur.size_bytes if cur else None
    if base_bytes is None or cur_bytes is None:
        return Check(profile_id, "size", "not_measured", "file size unknown", unit="bytes")
    change = change_pct(base_bytes, cur_bytes)
    verdict: Verdict = (
        "fail" if change is not None and change > settings.size_threshold_pct else "pass"
    )
    return Check(
        profile_id=profile_id,
        name="size",
        verdict=verdict,
        detail=f"file {signed_pct(change)}, threshold {settings.size_threshold_pct:g}%",
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
    base_value = metric_value(base, spec.metric)
    cur_value = metric_value(cur, spec.metric)

    def check(verdict: Verdict, detail: str) -> Check:
        return Check(
            profile_id=profile_id,
            name="quality",
            verdict=verdict,
            detail=detail,
            unit=spec.metric,
            baseline=base_value,
            current=cur_value,
            change_pct=change_pct(base_value, cur_value),
        )

    if cur_value is None:
        return check("not_measured", f"no {spec.metric} figure for the current primary")
    higher = higher_is_better(cur, spec.metric, spec.higher_is_better)
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


# --------------------------------------------------------------------------- re-measure loop


@dataclass(frozen=True)
class Remeasure:
    """An inconclusive latency comparison, named by the current run's measurement."""

    variant_id: str
    device_id: str
    profile_id: str
    compute_unit: str
    more_rounds: int | None
    reason: str
    # Paired: the re-measured baseline's (variant, device, compute unit), which
    # needs the same rounds, measured in alternation with the current's.
    paired_baseline: tuple[str, str, str] | None = None


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
    ``include_report`` also the report-only variant comparisons. ``more_rounds``
    is the current rounds the next look of the sequential test needs; None
    when the baseline lacks the rounds to test at all (a loop should then stop
    for that entry and show ``reason``).
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
                more_rounds=lat.more_rounds,
                reason=f"median {lat.change}: {lat.detail}",
                paired_baseline=lat.paired_baseline,
            )
    return list(todo.values())


def paired_in_run(
    results: Results, profile_id: str, settings: GateSettings | None = None
) -> LatencyComparison | None:
    """A run's primary against the baseline's primary it re-measured beside it, or None.

    What the run holds on its own (``ship --baseline``): the paired latency
    comparison a gate against that baseline makes, for the report.
    """
    settings = settings or GateSettings()
    plan = next((p for p in results.plans if p.profile_id == profile_id), None)
    choice = primary_of(plan)
    cur = measurement_of(results, choice, profile_id) if choice else None
    if cur is None or cur.status != "ok" or cur.method != "measured":
        return None
    again = next(
        (
            m
            for m in results.measurements
            if m.remeasured_from
            and m.profile_id == profile_id
            and m.device_id == cur.device_id
            and m.status == "ok"
        ),
        None,
    )
    if again is None:
        return None
    threshold = settings.latency_threshold_pct(profile_id)
    return compare_latency(again, cur, threshold, settings, paired=True)
