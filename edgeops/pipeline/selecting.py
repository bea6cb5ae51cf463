"""The select stage: each profile's plan from its variants and measurements."""

from __future__ import annotations

from edgeops.models import (
    DeviceProfile,
    Measurement,
    Objective,
    Plan,
    Results,
    SelectionPolicy,
)
from edgeops.options.declare import default_of
from edgeops.options.selection import SelectionOptions
from edgeops.pipeline.incumbents import (
    choosable,
    with_device_time,
)
from edgeops.pipeline.measuring import Measuring
from edgeops.selection import carry_load_failures


class Selecting(Measuring):
    """select: a plan (primary and fallbacks) for every profile."""

    def select(
        self,
        results: Results,
        memory_safety_factor: float | None = None,
        objective: Objective | None = None,
        baseline_primaries: dict[str, str] | None = None,
    ) -> Results:
        """Plans for every profile; ``memory_safety_factor`` and ``objective`` None mean
        their declared defaults (edgeops/options/selection.py).

        ``baseline_primaries`` (profile id to format:recipe) break ties.
        """
        SelectionOptions.from_keywords(memory_safety_factor=memory_safety_factor)  # its range
        given: dict[str, float] = (
            {} if memory_safety_factor is None else {"memory_safety_factor": memory_safety_factor}
        )
        if results.spec.fallback_max_slowdown is not None:
            given["fallback_max_slowdown"] = results.spec.fallback_max_slowdown
        if results.spec.placement_min_share is not None:
            given["placement_min_share"] = results.spec.placement_min_share
        policy = SelectionPolicy(
            **given,
            latency_budget_ms=results.spec.latency_budget_ms,
            quality=results.spec.quality,
            objective=objective or default_of(SelectionOptions, "objective"),
            compute_units=self.compute_units(),
        )
        baseline_primaries = baseline_primaries or {}
        self.hook.edgeops_stage_started(stage="select", total=len(results.profiles))
        plans = []
        mine = choosable(results)  # a file measured for the gate only is never chosen
        for profile in results.profiles:
            unconverted = _not_converted(results, profile)
            if unconverted is not None:
                plans.append(unconverted)
                self._advanced("select", profile.id, unconverted.status, _plan_reason(unconverted))
                continue
            plans.append(
                self.hook.edgeops_select(
                    profile=profile,
                    variants=[v for v in mine.variants if v.format in profile.formats],
                    measurements=carry_load_failures(
                        results.measurements,
                        self._adapted(
                            profile, [m for m in mine.measurements if m.profile_id == profile.id]
                        ),
                    ),
                    policy=policy.model_copy(
                        update={"baseline_primary": baseline_primaries.get(profile.id)}
                    ),
                )
            )
            plan = plans[-1] = with_device_time(plans[-1], results.measurements)
            self._advanced("select", profile.id, plan.status, _plan_reason(plan))
        supported = sum(p.status == "supported" for p in plans)
        self.hook.edgeops_stage_finished(
            stage="select", summary=f"{supported} of {len(plans)} profile(s) supported"
        )
        return results.model_copy(
            update={"plans": tuple(plans), "policy": policy, "cache": self.cache_stats()}
        )

    def _adapted(self, profile: DeviceProfile, mine: list[Measurement]) -> list[Measurement]:
        """Predictions corrected from the profile's measured figures, where a plugin can."""
        predicted = [m for m in mine if m.method == "predicted"]
        measured = [m for m in mine if m.method == "measured" and m.status == "ok"]
        if not predicted or not measured:
            return mine
        adapted = self.hook.edgeops_adapt_predictions(
            profile=profile, predictions=predicted, measurements=measured
        )
        if adapted is None:
            return mine
        return [m for m in mine if m.method != "predicted"] + list(adapted)


def _plan_reason(plan: Plan) -> str:
    """Why a profile got no variant, in one line ("" for a supported one)."""
    if plan.status == "supported":
        return ""
    if plan.note:
        return plan.note
    if plan.nearest_miss is not None:
        miss = plan.nearest_miss
        return f"nearest miss {miss.variant_name}: {'; '.join(miss.reasons)}"
    return ""


def _not_converted(results: Results, profile: DeviceProfile) -> Plan | None:
    """A profile none of whose formats the source was converted to, and why.

    Without it such a profile read "no device attached and no prediction
    available", though attaching a device would not help.
    """
    if any(v.format in profile.formats for v in results.variants):
        return None
    by_format = {a.format: a for a in results.artifacts}
    why = []
    for fmt in profile.formats:
        artifact = by_format.get(fmt)
        if artifact is None:
            # A route through another format (a .tflite to Core ML goes through ONNX)
            # ends where that conversion failed: say so, not only "no plugin".
            upstream = [
                f"; the conversion to {a.format} failed: {a.error}"
                for a in results.artifacts
                if a.status != "ok" and a.format not in profile.formats
            ]
            why.append(
                f"no installed plugin converts {results.spec.source_path.name} to {fmt} "
                "(the conversion was skipped)" + "".join(upstream)
            )
        elif artifact.status != "ok":
            why.append(f"the conversion to {fmt} failed: {artifact.error}")
    if not why:
        return None  # converted, but every recipe was filtered out: selection says so
    return Plan(profile_id=profile.id, status="not_converted", note="; ".join(why))
