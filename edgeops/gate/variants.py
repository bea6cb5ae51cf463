"""Every variant both runs measured, compared on every profile and compute unit: for the
report only, the gate's verdict reads the primaries alone (edgeops.gate.compare)."""

from __future__ import annotations

from dataclasses import dataclass

from edgeops.gate.latency import LatencyComparison, compare_latency
from edgeops.gate.lookups import change_pct, difference, metric_value, why_unmeasured
from edgeops.gate.settings import GateSettings
from edgeops.models import Results, Variant


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
            unmeasured = why_unmeasured(b, m)
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
                    size_change_pct=change_pct(base_v.size_bytes, cur_v.size_bytes),
                    quality_change=difference(
                        metric_value(base_v, current.spec.quality.metric),
                        metric_value(cur_v, current.spec.quality.metric),
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
