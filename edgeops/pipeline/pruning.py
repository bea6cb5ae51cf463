"""Cheap first: rule variants out on the host before any device time.

Four rules, each recorded on the variant with its reason (``Variant.pruned``):

- its file is byte for byte another variant's of the same format (same sha256:
  ORT's Entropy calibration gave MinMax's file on the example, and TFLite's
  "quantize" without optimizations gave the plain conversion): it would measure
  the same, so only the first is kept;
- its host quality is below the floor: no device makes it better;
- its file is larger than the profile's app memory budget
  (``app_memory_limit_mb`` × the safety factor): it cannot even be loaded there;
- another variant of the same format and the same kind of recipe (the same step
  ops with the same kind-defining parameters, ``StepConfig.kind_fields``, and the
  same compute precision and deployment target, so the two run the same kernels:
  TFLite's int8-full, int16x8, fp16 and int8-dynamic are all one ``convert`` op
  and four kinds) is no larger and at least as good on the
  floor metric, one of them strictly: the dominated one is only ever a worse
  choice. Recipes of different kinds are never compared this way, since a
  smaller file of another kind (int8 against fp16) may be slower.
"""

from __future__ import annotations

from edgeops.hookspecs import hookimpl
from edgeops.models import DeviceProfile, QualitySpec, Variant
from edgeops.quality import meets_floors


@hookimpl(trylast=True)
def edgeops_prune(
    variants: list[Variant],
    profiles: list[DeviceProfile],
    quality: QualitySpec,
    memory_safety_factor: float,
) -> list[Variant]:
    """The core's rules, above."""
    return prune(variants, profiles, quality, memory_safety_factor)


def prune(
    variants: list[Variant],
    profiles: list[DeviceProfile],
    quality: QualitySpec,
    memory_safety_factor: float,
) -> list[Variant]:
    """``variants`` with ``pruned`` filled in; variants that failed to build are left as they are."""
    out = []
    ok = [v for v in variants if v.status == "ok"]
    first_of: dict[tuple[str, str], Variant] = {}
    for variant in ok:
        if variant.sha256:
            first_of.setdefault((variant.format, variant.sha256), variant)
    for variant in variants:
        if variant.status != "ok":
            out.append(variant)
            continue
        pruned: dict[str, str] = {}
        same = first_of.get((variant.format, variant.sha256)) if variant.sha256 else None
        if same is not None and same.id != variant.id:
            pruned["*"] = f"the same file as {same.name} (sha256 {(variant.sha256 or '')[:12]})"
        if "*" not in pruned and variant.quality is not None:
            fits, why = meets_floors(variant.quality, quality)
            if not fits:
                pruned["*"] = f"host quality: {'; '.join(why)}"
        if "*" not in pruned:
            better = _dominated_by(variant, ok, quality)
            if better is not None:
                pruned["*"] = f"dominated by {better.name} (no larger, at least as good)"
        if "*" not in pruned and variant.size_bytes:
            size_mb = variant.size_bytes / 2**20
            for profile in profiles:
                if variant.format not in profile.formats or not profile.app_memory_limit_mb:
                    continue
                budget_mb = profile.app_memory_limit_mb * memory_safety_factor
                if size_mb > budget_mb:
                    pruned[profile.id] = (
                        f"file {size_mb:.0f} MB > app memory budget {budget_mb:.0f} MB"
                    )
        out.append(variant.model_copy(update={"pruned": pruned}) if pruned else variant)
    return out


def _kind(variant: Variant) -> tuple[object, ...]:
    recipe = variant.recipe
    if recipe is None:
        return (variant.format,)
    steps = tuple(s.kind() for s in recipe.steps)
    return variant.format, steps, recipe.compute_precision, recipe.deployment_target


def _score(variant: Variant, quality: QualitySpec) -> float | None:
    if variant.quality is None or quality.metric not in variant.quality.metrics:
        return None
    value = variant.quality.metrics[quality.metric]
    return value if quality.higher_is_better else -value


def _dominated_by(variant: Variant, others: list[Variant], quality: QualitySpec) -> Variant | None:
    mine = _score(variant, quality)
    if mine is None or variant.size_bytes is None:
        return None
    for other in others:
        if other.id == variant.id or _kind(other) != _kind(variant) or other.size_bytes is None:
            continue
        theirs = _score(other, quality)
        if theirs is None:
            continue
        no_worse = other.size_bytes <= variant.size_bytes and theirs >= mine
        strictly = other.size_bytes < variant.size_bytes or theirs > mine
        if no_worse and strictly:
            return other
    return None
