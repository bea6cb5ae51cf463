"""The evaluate stage: each variant's quality on this host, against the reference outputs."""

from __future__ import annotations

import tempfile
import traceback
from pathlib import Path
from typing import Any

from edgeops.files import write_text
from edgeops.models import (
    Quality,
    Results,
    Variant,
    VariantOutputs,
)
from edgeops.pipeline.cache import cache_key
from edgeops.pipeline.converting import Converting
from edgeops.pipeline.failures import (
    EVALUATE_TRACEBACK_FILE,
    one_line,
)
from edgeops.pipeline.state import build_context, origin_hash
from edgeops.quality import (
    OUTPUTS_FILE,
    meets_floors,
)
from edgeops.report.outputs import OUTPUTS_FORMAT, score_outputs
from edgeops.sample_files import load_labels


class Evaluating(Converting):
    """evaluate: every variant's quality on this host, and the outputs the report keeps."""

    def evaluate(self, results: Results) -> Results:
        assert results.samples is not None and results.reference is not None
        todo = [v for v in results.variants if v.status == "ok"]
        self.hook.edgeops_stage_started(stage="evaluate", total=len(todo))
        evaluated = {}
        for variant in todo:
            reused_before = self.stats["evaluations_reused"]
            scored = evaluated[variant.id] = self.score_variant(variant, results)
            below = below_floor(scored, results)
            if scored.status != "ok":
                self._advanced("evaluate", variant.name, "failed", scored.error or "")
            elif below:
                self._advanced("evaluate", variant.name, "pruned", below)
            elif self.stats["evaluations_reused"] > reused_before:
                self._advanced("evaluate", variant.name, "cached")
            else:
                self._advanced("evaluate", variant.name, "scored")
        self.hook.edgeops_stage_finished(
            stage="evaluate", summary=f"{len(todo)} variant(s) scored on the host"
        )
        self.save_tracebacks(results.run_id)
        return results.model_copy(
            update={
                "variants": tuple(evaluated.get(v.id, v) for v in results.variants),
                "outputs": tuple(self.outputs[v.id] for v in todo if v.id in self.outputs),
            }
        )

    def _evaluation_keys(self, variant: Variant, results: Results) -> tuple[str, str]:
        """Cache keys of a variant's quality, and of its kept outputs (which also depend
        on how many are kept and on the labels)."""
        assert results.samples is not None and results.reference is not None
        key = cache_key(
            "evaluate",
            variant.id,
            results.reference.sha256,
            results.samples.sha256,
            results.spec.task,
            # Labels and a user metric add metrics; a change in either is a new score.
            origin_hash(results.spec.labels) if results.spec.labels else None,
            results.spec.quality.user_metric_sha256,
        )
        labels = results.spec.labels
        outputs_key = cache_key(
            "outputs",
            OUTPUTS_FORMAT,
            key,
            self.keep_outputs,
            self.worst_k,
            labels,
            origin_hash(labels) if labels else None,
        )
        return key, outputs_key

    def _labels(self, results: Results) -> list[Any]:
        """The spec's labels, loaded once per pipeline (a factory may import torch)."""
        assert results.spec.labels is not None and results.samples is not None
        key = (results.spec.labels, results.samples.count)
        if key not in self._loaded_labels:
            self._loaded_labels[key] = load_labels(results.spec, results.samples.count)
        return self._loaded_labels[key]

    def kept_outputs(self, results: Results) -> tuple[VariantOutputs, ...]:
        """The outputs the cache keeps for ``results``' variants (made by workers, say)."""
        if not self.keep_outputs:
            return ()
        found = []
        for variant in results.variants:
            if variant.status == "ok":
                kept = self.cache.get(
                    "outputs", self._evaluation_keys(variant, results)[1], VariantOutputs
                )
                if kept is not None:
                    found.append(kept)
        return tuple(found)

    def score_variant(self, variant: Variant, results: Results) -> Variant:
        assert results.samples is not None and results.reference is not None
        key, outputs_key = self._evaluation_keys(variant, results)
        quality = self.cache.get_value("quality", key, Quality)
        labels = results.spec.labels
        kept = self.cache.get("outputs", outputs_key, VariantOutputs) if self.keep_outputs else None
        # A backend that keeps no outputs (Core ML's host estimate) is not asked again.
        none_kept = not self.keep_outputs or self.cache.get_value(
            "no-outputs", outputs_key, Quality
        )
        if quality is not None and (kept is not None or none_kept):
            self.stats["evaluations_reused"] += 1
            if kept is not None:
                self.outputs[variant.id] = kept
            return variant.model_copy(update={"quality": quality})
        found: list[Quality | None] = []

        def evaluate(outputs_dir: Path) -> VariantOutputs:
            found.append(
                self.hook.edgeops_evaluate(
                    variant=variant,
                    reference=results.reference,
                    samples=results.samples,
                    spec=results.spec,
                    outputs_dir=outputs_dir,
                    context=build_context(results),
                )
            )
            if not self.keep_outputs or not (outputs_dir / OUTPUTS_FILE).is_file():
                raise _NoOutputs
            return score_outputs(
                variant.id,
                results.spec,
                results.reference,  # type: ignore[arg-type]
                outputs_dir,
                keep=self.keep_outputs,
                worst_k=self.worst_k,
                labels=self._labels(results) if labels else None,
            )

        try:
            if self.keep_outputs:
                self.outputs[variant.id] = self.cache.put("outputs", outputs_key, evaluate)
            else:
                with tempfile.TemporaryDirectory() as scratch:
                    evaluate(Path(scratch))
        except _NoOutputs:
            if self.keep_outputs and found and found[0] is not None:
                self.cache.put_value("no-outputs", outputs_key, found[0])
        except Exception as exc:
            self.tracebacks[f"evaluate-{variant.name}"] = traceback.format_exc()
            # A worker process's tracebacks die with it: kept beside the variant's
            # cache entry, the parent collects them (_collect_tracebacks).
            write_text(
                self.cache.entry_dir("tracebacks", variant.id) / EVALUATE_TRACEBACK_FILE,
                self.tracebacks[f"evaluate-{variant.name}"],
            )
            return variant.model_copy(
                update={"status": "error", "error": f"quality: {one_line(exc)}"}
            )
        quality = found[0] if found else None
        if quality is None:
            return variant
        self.cache.put_value("quality", key, quality)
        return variant.model_copy(update={"quality": quality})


class _NoOutputs(Exception):
    """Quality without kept outputs: none asked for, or a backend that keeps none."""


def below_floor(variant: Variant, results: Results) -> str:
    """Why a scored variant's host quality misses the floor ("" when it does not)."""
    if variant.status != "ok" or variant.quality is None:
        return ""
    fits, why = meets_floors(variant.quality, results.spec.quality)
    return "" if fits else f"host quality: {'; '.join(why)}"
