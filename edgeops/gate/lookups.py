"""What the gate reads from a run: a profile's primary, its measurement, a variant's
metric, and the changes between two figures."""

from __future__ import annotations

from edgeops.models import Choice, Measurement, Plan, Results, Variant


def primary_of(plan: Plan | None) -> Choice | None:
    if plan is None or plan.status != "supported" or not plan.choices:
        return None
    return plan.choices[0]


def is_predicted(plan: Plan) -> bool:
    return plan.method == "predicted" or any(c.method == "predicted" for c in plan.choices[:1])


def measurement_of(results: Results, choice: Choice, profile_id: str) -> Measurement | None:
    key = (choice.variant_id, profile_id, choice.compute_unit)
    found = [m for m in results.measurements if (m.variant_id, m.profile_id, m.compute_unit) == key]
    # One device per profile is measured (pipeline.measure); an ok one wins over a failed one.
    return next((m for m in found if m.status == "ok"), found[0] if found else None)


def why_unmeasured(base: Measurement | None, cur: Measurement | None) -> str | None:
    """Why the pair cannot be compared on device figures, or None when it can."""
    for m, side in ((base, "baseline"), (cur, "current")):
        if m is None:
            return f"no {side} measurement of the primary"
        if m.method == "predicted":
            return f"{side} figure is a prediction; predictions never pass"
        if m.status != "ok":
            return f"{side} measurement is {m.status}"
    return None


def find_variant(results: Results, variant_id: str) -> Variant | None:
    return next((v for v in results.variants if v.id == variant_id), None)


def variant_name(results: Results, variant_id: str) -> str:
    v = find_variant(results, variant_id)
    return v.name if v else variant_id


def choice_label(choice: Choice | None) -> str | None:
    return f"{choice.variant_name} ({choice.compute_unit})" if choice else None


def metric_value(variant: Variant | None, metric: str) -> float | None:
    if variant is None or variant.quality is None:
        return None
    return variant.quality.metrics.get(metric)


def higher_is_better(variant: Variant | None, metric: str, default: bool) -> bool:
    if variant is None or variant.quality is None:
        return default
    return variant.quality.higher_is_better.get(metric, default)


def change_pct(base: float | None, cur: float | None) -> float | None:
    if base is None or cur is None or base == 0:
        return None
    return (cur / base - 1.0) * 100.0


def difference(base: float | None, cur: float | None) -> float | None:
    return cur - base if base is not None and cur is not None else None


def signed_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"
