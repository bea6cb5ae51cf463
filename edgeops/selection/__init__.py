"""The default selection policy (DESIGN §6), a ``trylast`` core plugin.

Per profile:
1. keep measurements with status ok, quality at or above the floor, and peak
   memory within ``app_memory_limit_mb × memory_safety_factor``;
2. drop those whose p90 is over the latency budget, if one is set;
3. choose by the objective (``fastest`` by default). Latency differences
   inside the measurement uncertainty are ties: a variant whose p50 is not
   shown, by the 95% interval of its ratio to the fastest (round_stats, at the
   level of rounds), to be more than ``equivalence_pct`` (5%) slower, and
   whose measured ratio is within that margin, is tied with it. That is a practical-equivalence margin (Kruschke's ROPE,
   "Rejecting or accepting parameter values in Bayesian estimation", AMPPS
   2018): a 3% difference inside the noise must not flip the choice between
   runs. Ties are broken by the baseline's primary, then quality when it
   differs by more than ``quality_margin_pct`` (0.5%) of the better figure,
   then the smaller file.

The fallback chain follows the primary with choices that need less: fewer
accelerators, or on the same accelerators at least
``fallback_memory_margin_pct`` (10%) less memory; anything else is a step an
app gains nothing from. A step that saves only memory must stay usable: with
no latency budget, at most ``fallback_max_slowdown`` (4x) the primary's p50
(the budget bounds it otherwise). It ends with the smallest-memory variant that meets
the floor without accelerators, under the same rule. Each plan also carries
the Pareto frontier of p50 × size × quality with the chosen point marked (the
Pareto selection of Microsoft Olive's engine footprints). With no candidate,
the profile is unsupported and the nearest miss is named.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from edgeops.hookspecs import hookimpl
from edgeops.models import (
    Choice,
    DeviceProfile,
    Interval,
    Measurement,
    Plan,
    Rejection,
    SelectionPolicy,
    Variant,
)
from edgeops.placement import fell_back
from edgeops.quality import meets_floors
from edgeops.round_stats import as_interval, p50_interval
from edgeops.selection.candidates import Candidate, demand, requirements
from edgeops.selection.fallbacks import fallback_chain
from edgeops.selection.frontier import frontier
from edgeops.selection.ties import decide, tied

__all__ = ["carry_load_failures", "decide", "edgeops_select", "requirements", "tied"]


def carry_load_failures(
    everywhere: Sequence[Measurement], mine: Sequence[Measurement]
) -> list[Measurement]:
    """``mine`` with each prediction for a variant and compute unit that failed to load on
    a measured device (this host, or any device of that format) turned into that failure.

    A predictor sees the graph, not the runtime: it gave pixel6 a p50 for
    MediaPipe's selfie segmenter on the plain ``cpu`` unit, which failed here on
    its unresolved custom op, and the predicted plan chose it. A load failure is
    the runtime's verdict on the file, so it holds on every device of the format.
    """
    failed = {
        (m.variant_id, m.compute_unit.lower()): m
        for m in everywhere
        if m.method == "measured" and m.status == "load_failed"
    }
    out = []
    for m in mine:
        seen = failed.get((m.variant_id, m.compute_unit.lower()))
        if m.method == "predicted" and seen is not None:
            m = m.model_copy(
                update={
                    "status": "load_failed",
                    "error": f"predicted only, and it failed to load on {seen.device_id} "
                    f"({seen.profile_id}) on {seen.compute_unit}: {seen.error or 'load failed'}",
                    "p50_ms": None,
                    "p90_ms": None,
                    "p99_ms": None,
                    "p50_interval": None,
                }
            )
        out.append(m)
    return out


@hookimpl(trylast=True)
def edgeops_select(
    profile: DeviceProfile,
    variants: list[Variant],
    measurements: list[Measurement],
    policy: SelectionPolicy,
) -> Plan:
    rejected = _rejected_before_measuring(profile, variants)
    early = _plan_without_measurements(profile, variants, measurements, rejected)
    if early is not None:
        return early
    candidates = _candidates(profile, variants, measurements, policy, rejected)
    if not candidates:
        return _plan_without_candidates(profile, measurements, rejected)
    decision = decide(candidates, policy)
    chain = fallback_chain(decision, candidates, policy)
    choices = tuple(_choice(c, reason, policy) for c, reason in chain)
    return Plan(
        profile_id=profile.id,
        status="supported",
        method="predicted" if any(c.method == "predicted" for c in choices) else "measured",
        choices=choices,
        rejected=tuple(rejected),
        decision=decision.kind,
        decision_note=decision.note,
        frontier=frontier(candidates, decision.primary, policy),
    )


def _rejected_before_measuring(profile: DeviceProfile, variants: list[Variant]) -> list[Rejection]:
    """The variants that failed to build, and those pruned for this profile on the host."""
    rejected = [
        Rejection(
            variant_id=v.id,
            variant_name=v.name,
            compute_unit=None,
            reasons=(f"failed to build: {v.error}",),
        )
        for v in variants
        if v.status != "ok"
    ]
    rejected += [
        Rejection(
            variant_id=v.id,
            variant_name=v.name,
            compute_unit=None,
            reasons=(f"ruled out before measuring: {reason}",),
        )
        for v in variants
        if v.status == "ok" and (reason := v.pruned_for(profile.id))
    ]
    return rejected


def _plan_without_measurements(
    profile: DeviceProfile,
    variants: list[Variant],
    measurements: list[Measurement],
    rejected: list[Rejection],
) -> Plan | None:
    """The plan when the measurements cannot be chosen from at all: a failed device, or
    nothing measured; None when selection can go on."""
    failed = [m for m in measurements if m.status == "device_failed"]
    if failed:
        # The device, not the model: selecting from what it measured before failing
        # would ship a partial sweep, and "unsupported" would blame the model.
        return Plan(
            profile_id=profile.id,
            status="device_failed",
            method="measured",
            rejected=tuple(rejected),
            note=f"device {failed[0].device_id} failed: {failed[0].error}",
        )
    if measurements:
        return None
    built = [v for v in variants if v.status == "ok"]
    if built and all(v.pruned_for(profile.id) for v in built):
        return Plan(
            profile_id=profile.id,
            status="unsupported",
            rejected=tuple(rejected),
            note="every variant was ruled out on the host, before any device time "
            "(quality floor, file size, or dominated): see rejected",
        )
    formats = ", ".join(profile.formats)
    return Plan(
        profile_id=profile.id,
        status="not_measured",
        rejected=tuple(rejected),
        note="no device attached and no prediction available"
        if built
        else f"no {formats} variant could be made, so there is nothing to load"
        + (" (see rejected)" if rejected else f"; add a backend or recipe for {formats}"),
    )


def _candidates(
    profile: DeviceProfile,
    variants: list[Variant],
    measurements: list[Measurement],
    policy: SelectionPolicy,
    rejected: list[Rejection],
) -> list[Candidate]:
    """The measurements that meet the floor and the limits; the others join ``rejected``."""
    by_id = {v.id: v for v in variants}
    memory_cap_mb = (
        profile.app_memory_limit_mb * policy.memory_safety_factor
        if profile.app_memory_limit_mb
        else None
    )
    candidates: list[Candidate] = []
    # A delegate that needs nothing of the device (XNNPACK) is still required
    # when the plain CPU failed on the same variant, e.g. on a custom op.
    cpu_failed = {
        m.variant_id for m in measurements if m.compute_unit.lower() == "cpu" and m.status != "ok"
    }
    for m in measurements:
        variant = by_id.get(m.variant_id)
        if variant is None or variant.status != "ok":
            continue
        reasons = _reasons_against(variant, m, policy, memory_cap_mb)
        if reasons:
            rejected.append(
                Rejection(
                    variant_id=variant.id,
                    variant_name=variant.name,
                    compute_unit=m.compute_unit,
                    reasons=tuple(reasons),
                )
            )
            continue
        cu = m.compute_unit
        needs = set(requirements(cu, policy.compute_units))
        if fell_back(m.placement, policy.placement_min_share):
            # Most of its graph ran on the CPU: it is no claim on the accelerator.
            needs -= set(requirements(cu, policy.compute_units))
        if not needs and cu.lower() != "cpu" and m.variant_id in cpu_failed:
            needs.add(cu.lower())
        interval = p50_interval(m) if m.method == "measured" else None
        candidates.append(
            Candidate(variant, m, interval, frozenset(needs), demand(cu, policy.compute_units))
        )
    return candidates


def _plan_without_candidates(
    profile: DeviceProfile, measurements: list[Measurement], rejected: list[Rejection]
) -> Plan:
    timed_out = [m for m in measurements if m.status == "timeout"]
    if timed_out and all(m.status != "ok" for m in measurements):
        # Ran out of time is no verdict on the model: "unsupported" would blame it.
        return Plan(
            profile_id=profile.id,
            status="not_measured",
            method=_method(measurements),
            rejected=tuple(rejected),
            note=f"every measurement ended in a timeout ({timed_out[0].error}); "
            "measure again with a lower --min-duration-s or fewer --paced-fps",
        )
    return Plan(
        profile_id=profile.id,
        status="unsupported",
        method=_method(measurements),
        rejected=tuple(rejected),
        nearest_miss=_nearest_miss(rejected, measurements),
        note="no variant meets the quality floor, memory and latency limits on this profile",
    )


def _reasons_against(
    variant: Variant, m: Measurement, policy: SelectionPolicy, memory_cap_mb: float | None
) -> list[str]:
    if m.status != "ok":
        return [f"{m.status}: {m.error}" if m.error else m.status]
    reasons = []
    reasons.extend(meets_floors(variant.quality, policy.quality)[1])
    mem = m.peak_mem_mb
    if memory_cap_mb is not None and mem is not None and mem > memory_cap_mb:
        reasons.append(
            f"peak memory {mem:.0f} MB > {memory_cap_mb:.0f} MB (app limit × {policy.memory_safety_factor:g})"
        )
    if (
        policy.latency_budget_ms is not None
        and m.p90_ms is not None
        and m.p90_ms > policy.latency_budget_ms
    ):
        reasons.append(f"p90 {m.p90_ms:.2f} ms > budget {policy.latency_budget_ms:g} ms")
    return reasons


def _choice(c: Candidate, reason: str, policy: SelectionPolicy) -> Choice:
    mem = c.measurement.peak_mem_mb
    quality = c.variant.quality.metrics if c.variant.quality else {}
    return Choice(
        variant_id=c.variant.id,
        variant_name=c.variant.name,
        compute_unit=c.measurement.compute_unit,
        method=c.measurement.method,
        expected_p50_ms=c.p50_ms if math.isfinite(c.p50_ms) else None,
        p50_interval=_measured_interval(c) or c.measurement.p50_interval,
        rounds=c.interval.rounds if c.interval else 0,
        peak_mem_mb=mem,
        size_bytes=c.variant.size_bytes,
        quality=quality,
        reason="; ".join(
            r for r in (reason, fell_back(c.measurement.placement, policy.placement_min_share)) if r
        ),
        requires=tuple(sorted(c.requires)),
        # The app should keep the same headroom the selector demanded.
        min_free_memory_mb=math.ceil(mem / policy.memory_safety_factor)
        if mem is not None
        else None,
        # A profile may run several formats (Core AI and Core ML on iOS 27): the app
        # must know which runtime, and from which OS, each choice needs.
        runtime=c.variant.format,
        min_os=c.variant.recipe.deployment_target if c.variant.recipe else None,
    )


def _measured_interval(c: Candidate) -> Interval | None:
    """The p50's interval over rounds, as the manifest carries it; None with one round."""
    return as_interval(c.interval) if c.interval is not None else None


def _nearest_miss(rejected: list[Rejection], measurements: list[Measurement]) -> Rejection | None:
    measured_ok: dict[tuple[str, str | None], Measurement] = {
        (m.variant_id, m.compute_unit): m for m in measurements if m.status == "ok"
    }
    ranked = [r for r in rejected if (r.variant_id, r.compute_unit) in measured_ok]
    if not ranked:
        return rejected[0] if rejected else None
    return min(
        ranked,
        key=lambda r: (
            len(r.reasons),
            measured_ok[(r.variant_id, r.compute_unit)].p50_ms or math.inf,
        ),
    )


def _method(measurements: list[Measurement]) -> str:
    return "predicted" if all(m.method == "predicted" for m in measurements) else "measured"
