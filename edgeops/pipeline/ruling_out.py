"""The prune stage: what the host rules out before any device time (pruning.py holds the rules)."""

from __future__ import annotations

from edgeops.errors import PluginError
from edgeops.models import (
    Results,
)
from edgeops.options.declare import default_of
from edgeops.options.selection import SelectionOptions
from edgeops.pipeline.optimizing import Optimizing


class RulingOut(Optimizing):
    """prune: variants ruled out on the host before any device time."""

    def rule_out_unfit(self, results: Results) -> Results:
        """Variants a backend says cannot run on a profile at all (``edgeops_variant_unfit``:
        an iOS 17 target on an iPhone X) are ruled out there, whatever the pruning setting."""
        variants = []
        for variant in results.variants:
            pruned = dict(variant.pruned)
            if variant.status == "ok":
                for profile in results.profiles:
                    if variant.format not in profile.formats or profile.id in pruned:
                        continue
                    reasons = [
                        r
                        for r in self.hook.edgeops_variant_unfit(variant=variant, profile=profile)
                        if r
                    ]
                    if reasons:
                        pruned[profile.id] = f"cannot run there: {'; '.join(reasons)}"
            variants.append(
                variant.model_copy(update={"pruned": pruned})
                if pruned != variant.pruned
                else variant
            )
        return results.model_copy(update={"variants": tuple(variants)})

    def prune(self, results: Results, memory_safety_factor: float | None = None) -> Results:
        """Rule variants out on the host before any device time (``edgeops_prune``; the
        core's rules are pruning.py's)."""
        factor = (
            memory_safety_factor
            if memory_safety_factor is not None
            else default_of(SelectionOptions, "memory_safety_factor")
        )
        variants = self.hook.edgeops_prune(
            variants=list(results.variants),
            profiles=list(results.profiles),
            quality=results.spec.quality,
            memory_safety_factor=factor,
        )
        if variants is None:
            raise PluginError("no installed plugin prunes (edgeops_prune)")
        # What cannot run on a profile at all is ruled out here too, so it is told with
        # the rest; measure() asks again for a run that skips this stage (--no-prune).
        results = self.rule_out_unfit(results.model_copy(update={"variants": tuple(variants)}))
        variants = list(results.variants)
        ruled_out = sum(bool(v.pruned) for v in variants)
        built = [v for v in variants if v.status == "ok"]
        self.hook.edgeops_stage_started(stage="prune", total=len(built))
        for variant in built:
            if variant.pruned:
                self._advanced("prune", variant.name, "pruned", _pruned_reason(variant.pruned))
            else:
                self._advanced("prune", variant.name, "kept")
        self.hook.edgeops_stage_finished(
            stage="prune",
            summary=f"{ruled_out} of {len(variants)} variant(s) ruled out on the host",
        )
        return results.model_copy(update={"variants": tuple(variants)})


def _pruned_reason(pruned: dict[str, str]) -> str:
    """``Variant.pruned`` in one line: the reason for every profile, or each profile's."""
    if "*" in pruned:
        return pruned["*"]
    return "; ".join(f"{profile}: {why}" for profile, why in sorted(pruned.items()))
