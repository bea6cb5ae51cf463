"""The default selection policy (DESIGN §6), a ``trylast`` core plugin.

Per profile:
1. keep measurements with status ok, quality at or above the floor, and peak
   memory within ``app_memory_limit_mb × memory_safety_factor``;
2. drop those whose p90 is over the latency budget, if one is set;
3. rank by p50, smaller file first on ties.

The fallback chain follows the primary with choices that need less (fewer
accelerators, or less memory) and ends with the smallest-memory variant that
meets the floor on a plain CPU. With no candidate, the profile is unsupported
and the nearest miss is named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgeops.hookspecs import hookimpl
from edgeops.models import (
    Choice,
    ComputeUnit,
    DeviceProfile,
    Measurement,
    Plan,
    Rejection,
    SelectionPolicy,
    Variant,
)
from edgeops.quality import meets_floor


def requirements(compute_unit: str, units: dict[str, ComputeUnit]) -> tuple[str, ...]:
    """What an app must have to use ``compute_unit``, as its backend declares it.

    A unit no backend declares is taken to need an accelerator of its own name: a
    fallback must never be assumed to run anywhere without evidence.
    """
    known = units.get(compute_unit)
    return known.requires if known is not None else (compute_unit,)


def demand(compute_unit: str, units: dict[str, ComputeUnit]) -> int:
    known = units.get(compute_unit)
    return known.rarity if known is not None else 1


@dataclass(frozen=True)
class _Candidate:
    variant: Variant
    measurement: Measurement
    requires: frozenset[str]
    rarity: int

    @property
    def p50_ms(self) -> float:
        return self.measurement.p50_ms if self.measurement.p50_ms is not None else math.inf

    @property
    def memory_mb(self) -> float:
        mem = self.measurement.peak_mem_mb
        return mem if mem is not None else math.inf

    def rank_key(self) -> tuple[float, int]:
        return (self.p50_ms, self.variant.size_bytes or 0)


@hookimpl(trylast=True)
def edgeops_select(
    profile: DeviceProfile,
    variants: list[Variant],
    measurements: list[Measurement],
    policy: SelectionPolicy,
) -> Plan:
    by_id = {v.id: v for v in variants}
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
    if (
        not measurements
        and any(v.status == "ok" for v in variants)
        and all(v.pruned_for(profile.id) for v in variants if v.status == "ok")
    ):
        return Plan(
            profile_id=profile.id,
            status="unsupported",
            rejected=tuple(rejected),
            note="every variant was ruled out on the host, before any device time "
            "(quality floor, file size, or dominated): see rejected",
        )
    if not measurements:
        formats = ", ".join(profile.formats)
        return Plan(
            profile_id=profile.id,
            status="not_measured",
            rejected=tuple(rejected),
            note="no device attached and no prediction available"
            if any(v.status == "ok" for v in variants)
            else f"no {formats} variant could be made, so there is nothing to load"
            + (" (see rejected)" if rejected else f"; add a backend or recipe for {formats}"),
        )
    memory_cap_mb = (
        profile.app_memory_limit_mb * policy.memory_safety_factor
        if profile.app_memory_limit_mb
        else None
    )
    candidates: list[_Candidate] = []
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
        else:
            cu = m.compute_unit
            candidates.append(
                _Candidate(
                    variant,
                    m,
                    frozenset(requirements(cu, policy.compute_units)),
                    demand(cu, policy.compute_units),
                )
            )
    if not candidates:
        return Plan(
            profile_id=profile.id,
            status="unsupported",
            method=_method(measurements),
            rejected=tuple(rejected),
            nearest_miss=_nearest_miss(rejected, measurements),
            note="no variant meets the quality floor, memory and latency limits on this profile",
        )
    chain = _fallback_chain(sorted(candidates, key=_Candidate.rank_key))
    choices = tuple(_choice(c, reason, policy) for c, reason in chain)
    return Plan(
        profile_id=profile.id,
        status="supported",
        method="predicted" if any(c.method == "predicted" for c in choices) else "measured",
        choices=choices,
        rejected=tuple(rejected),
    )


def _reasons_against(
    variant: Variant, m: Measurement, policy: SelectionPolicy, memory_cap_mb: float | None
) -> list[str]:
    if m.status != "ok":
        return [f"{m.status}: {m.error}" if m.error else m.status]
    reasons = []
    ok, why = meets_floor(variant.quality, policy.quality.metric, policy.quality.floor)
    if not ok and why:
        reasons.append(why)
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


def _fallback_chain(ranked: list[_Candidate]) -> list[tuple[_Candidate, str]]:
    on_cpu = [c for c in ranked if not c.requires]
    last_resort = min(on_cpu, key=lambda c: (c.memory_mb, c.p50_ms)) if on_cpu else None
    primary = ranked[0]
    chain = [(primary, f"fastest p50 ({primary.p50_ms:.3g} ms) of {len(ranked)} candidates")]
    for c in ranked[1:]:
        if c is last_resort:
            continue
        last = chain[-1][0]
        if c.rarity < last.rarity:
            chain.append((c, f"needs fewer accelerators ({_needs(c)})"))
        elif c.requires <= last.requires and c.memory_mb < last.memory_mb:
            chain.append((c, f"needs less memory ({c.memory_mb:.0f} MB)"))
    if last_resort is not None and last_resort is not primary:
        chain.append(
            (
                last_resort,
                f"smallest memory on CPU meeting the floor ({last_resort.memory_mb:.0f} MB)",
            )
        )
    return chain


def _needs(c: _Candidate) -> str:
    return ", ".join(sorted(c.requires)) or "CPU only"


def _choice(c: _Candidate, reason: str, policy: SelectionPolicy) -> Choice:
    mem = c.measurement.peak_mem_mb
    quality = c.variant.quality.metrics if c.variant.quality else {}
    return Choice(
        variant_id=c.variant.id,
        variant_name=c.variant.name,
        compute_unit=c.measurement.compute_unit,
        method=c.measurement.method,
        expected_p50_ms=c.measurement.p50_ms,
        p50_interval=c.measurement.p50_interval,
        peak_mem_mb=mem,
        size_bytes=c.variant.size_bytes,
        quality=quality,
        reason=reason,
        requires=tuple(sorted(c.requires)),
        # The app should keep the same headroom the selector demanded.
        min_free_memory_mb=math.ceil(mem / policy.memory_safety_factor)
        if mem is not None
        else None,
    )


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
