"""The optimize stage: each recipe applied to its conversion, then scored (evaluating.py)."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from edgeops.backend import BuildContext
from edgeops.errors import StageError
from edgeops.models import (
    Artifact,
    KeptFloat,
    Quality,
    Recipe,
    Results,
    Variant,
)
from edgeops.pipeline import keep_float
from edgeops.pipeline.cache import cache_key
from edgeops.pipeline.evaluating import Evaluating, below_floor
from edgeops.pipeline.failures import (
    EVALUATE_TRACEBACK_FILE,
    TRACEBACK_FILE,
    one_line,
)
from edgeops.pipeline.proposing import recipe_wanted
from edgeops.pipeline.state import build_context
from edgeops.pipeline.workers import Task, run_in_workers, worker_count
from edgeops.plugin_manager import (
    hook_of,
)


class Optimizing(Evaluating):
    """optimize: every proposed and swept recipe applied, in this process or in workers."""

    def optimize(self, results: Results) -> Results:
        assert results.samples is not None
        profiles = list(results.profiles)
        plan: list[tuple[Artifact, Recipe]] = []
        swept = self.sweep(results.spec).recipes if results.spec.sweep else []
        swept_formats = {r.format for r in swept}
        for artifact in results.artifacts:
            if artifact.status != "ok":
                continue
            for recipe in self.proposed_recipes(artifact, profiles):
                # A format the sweep covers keeps only its plain conversions from the
                # proposals (the references every swept variant is compared with).
                if artifact.format in swept_formats and recipe.steps:
                    continue
                if recipe_wanted(recipe, results.spec.recipes):
                    plan.append((artifact, recipe))
            plan.extend((artifact, r) for r in swept if r.format == artifact.format)
        # --no-cache runs in this process: worker processes open the cache afresh.
        if (self.jobs is None or self.jobs > 1) and len(plan) > 1 and not self.cache.refresh:
            return self._optimize_in_workers(results, plan)
        self.hook.edgeops_stage_started(stage="optimize", total=len(plan))
        variants = []
        for artifact, recipe in plan:
            reused_before = self.stats["optimizations_reused"]
            variant = self.make_variant(artifact, recipe, results)
            variants.append(variant)
            if variant.status != "ok":
                self._advanced("optimize", recipe.id, "failed", variant.error or "")
            else:
                cached = self.stats["optimizations_reused"] > reused_before
                self._advanced("optimize", recipe.id, "cached" if cached else "made")
        failed = sum(v.status != "ok" for v in variants)
        self.hook.edgeops_stage_finished(
            stage="optimize", summary=f"{len(variants)} variant(s), {failed} failed"
        )
        self.save_tracebacks(results.run_id)
        return self.evaluate(results.model_copy(update={"variants": tuple(variants)}))

    def _optimize_in_workers(
        self, results: Results, plan: list[tuple[Artifact, Recipe]]
    ) -> Results:
        """Make and score every variant in worker processes (workers.py)."""
        model_mb = max((a.size_bytes or 0 for a in results.artifacts), default=0) / 2**20
        count, budget_mb = worker_count(self.jobs, len(plan), model_mb)
        budget_mb = self.worker_memory_mb or budget_mb
        tasks = [Task(i, artifact, recipe) for i, (artifact, recipe) in enumerate(plan)]
        self.hook.edgeops_stage_started(stage="optimize", total=len(tasks))
        made: dict[int, Variant] = {}

        def failed(task: Task, reason: str) -> Variant:
            # Not cached: a crash or a hang may not happen again, so the next run retries.
            return Artifact(
                format=task.recipe.format,
                recipe=task.recipe,
                parent=task.artifact.id,
                status="error",
                error=reason,
                tools=self.tools,
                id=cache_key("optimize", task.artifact.id, task.recipe.cache_identity(), "failed"),
            )

        def finished(task: Task, variant: Variant, counted: dict[str, int]) -> None:
            made[task.index] = variant
            for name, value in counted.items():
                self.stats[name] = self.stats.get(name, 0) + value
            # A worker makes and scores, so a variant below the floor is told as pruned here.
            below = below_floor(variant, results)
            if variant.status != "ok":
                self._advanced("optimize", task.recipe.id, "failed", variant.error or "")
            elif below:
                self._advanced("optimize", task.recipe.id, "pruned", below)
            else:
                cached = counted.get("optimizations_reused", 0) > 0
                self._advanced("optimize", task.recipe.id, "cached" if cached else "made")

        run_in_workers(
            tasks,
            results,
            self.workspace.root,
            count,
            budget_mb,
            self.task_timeout_s,
            failed,
            finished,
            gallery=(self.keep_outputs, self.worst_k),
        )
        variants = [made[i] for i in range(len(tasks))]
        failed_count = sum(v.status != "ok" for v in variants)
        self.hook.edgeops_stage_finished(
            stage="optimize",
            summary=f"{len(variants)} variant(s) made and scored in {count} worker(s), "
            f"{failed_count} failed",
        )
        self._collect_tracebacks(variants)
        self.save_tracebacks(results.run_id)
        made_results = results.model_copy(update={"variants": tuple(variants)})
        return made_results.model_copy(update={"outputs": self.kept_outputs(made_results)})

    def _collect_tracebacks(self, variants: list[Variant]) -> None:
        """Tracebacks a worker process wrote beside its cached failure."""
        for v in variants:
            stored = self.cache.entry_dir("variants", v.id) / TRACEBACK_FILE
            if v.status != "ok" and v.recipe is not None and stored.is_file():
                self.tracebacks[f"optimize-{v.format}-{v.recipe.name}"] = stored.read_text()
            scored = self.cache.entry_dir("tracebacks", v.id) / EVALUATE_TRACEBACK_FILE
            if v.status != "ok" and (v.error or "").startswith("quality:") and scored.is_file():
                self.tracebacks[f"evaluate-{v.name}"] = scored.read_text()

    def make_variant(self, artifact: Artifact, recipe: Recipe, results: Results) -> Variant:
        """One variant of the sweep: its recipe applied, or, for ``keep_float = "auto"``,
        the mixed variant the search finds (keep_float.py)."""
        assert results.samples is not None
        context = build_context(results)
        if keep_float.auto_step(recipe) is None:
            return self._optimize_one(artifact, recipe, context)

        def made(candidate: Recipe) -> Variant:
            variant = self._optimize_one(artifact, candidate, context)
            return self.score_variant(variant, results) if variant.status == "ok" else variant

        key = cache_key(
            "keep-float",
            artifact.id,
            recipe.cache_identity(),
            self._evaluation_keys(artifact, results)[0],
            results.spec.quality,
        )
        try:
            cached = self.cache.get_value("keep-float", key, KeptFloat)
            if cached is not None:
                # The variants are cached too: this is the chosen one, made again from its layers.
                found = made(
                    keep_float.with_float_layers(recipe, cached.asked, f"float{len(cached.asked)}")
                )
                return found.model_copy(update={"recipe": recipe, "kept_float": cached, "id": key})
            float_quality = self.score_variant(artifact, results).quality
            if float_quality is None:
                raise StageError(
                    f"{recipe.id}: the unquantized {artifact.format} model has no host quality"
                )
            found = keep_float.search(
                recipe,
                float_quality,
                results.spec.quality,
                made,
                lambda candidate: self._estimate(artifact, candidate, context, results),
            )
        except Exception as exc:
            self.tracebacks[f"optimize-{recipe.format}-{recipe.name}"] = traceback.format_exc()
            return Artifact(
                format=recipe.format,
                recipe=recipe,
                parent=artifact.id,
                status="error",
                error=one_line(exc),
                tools=self.tools,
                id=key,
            )
        assert found.kept_float is not None
        self.cache.put_value("keep-float", key, found.kept_float)
        # Its own id: the same file as the explicit recipe it resolved to, but another variant.
        return found.model_copy(update={"id": key})

    def _estimate(
        self, artifact: Artifact, recipe: Recipe, context: BuildContext, results: Results
    ) -> Quality | None:
        """The recipe owner's quick estimate of ``recipe``'s quality (``edgeops_estimate``),
        cached like a score; None when it has none (the search then makes and scores
        real variants instead). An estimate that fails raises, as its variant would."""
        if not recipe.owner or self.pm.get_plugin(recipe.owner) is None:
            return None
        key = cache_key(
            "estimate",
            self._evaluation_keys(artifact, results)[0],
            recipe.cache_identity(),
            self.tools,
        )
        cached = self.cache.get_value("estimate", key, Quality)
        if cached is not None:
            return cached
        estimate = hook_of(self.pm, "edgeops_estimate", recipe.owner)
        quality = estimate(artifact=artifact, recipe=recipe, context=context)
        if quality is None:
            return None
        return self.cache.put_value("estimate", key, quality)

    def _optimize_one(self, artifact: Artifact, recipe: Recipe, context: BuildContext) -> Variant:
        samples = context.samples
        assert samples is not None
        key = cache_key(
            "optimize", artifact.id, recipe.cache_identity(), samples.sha256, self.tools
        )
        label = f"optimize-{recipe.format}-{recipe.name}"
        cached = self.cache.get("variants", key, Artifact)
        if cached is not None:
            self.stats["optimizations_reused"] += 1
            stored = self.cache.entry_dir("variants", key) / TRACEBACK_FILE
            if cached.status != "ok" and stored.is_file():
                self.tracebacks[label] = stored.read_text()
            return cached

        def failed(error: str) -> Variant:
            return Artifact(
                format=recipe.format,
                recipe=recipe,
                parent=artifact.id,
                status="error",
                error=error,
                tools=self.tools,
                id=key,
            )

        def build(workdir: Path) -> Variant:
            started = time.perf_counter()
            if not recipe.owner or self.pm.get_plugin(recipe.owner) is None:
                return failed(
                    f"the plugin that proposed {recipe.id} ({recipe.owner!r}) is not loaded"
                )
            # Only the owner answers: a built-in must never make a third-party recipe
            # (it would hand back a plain copy under the other plugin's name).
            optimize = hook_of(self.pm, "edgeops_optimize", recipe.owner)
            try:
                made = optimize(
                    artifact=artifact,
                    recipe=recipe,
                    workdir=workdir,
                    samples=samples,
                    context=context,
                )
            except Exception as exc:
                # A recipe that fails on this model fails the same way next time with the
                # same tools (they are in the key), so the failure is cached too, and
                # its traceback with it.
                self.tracebacks[label] = traceback.format_exc()
                (workdir / TRACEBACK_FILE).write_text(self.tracebacks[label])
                return failed(one_line(exc))
            if made is None:
                return failed(f"plugin {recipe.owner!r} proposed {recipe.id} but did not make it")
            return self._finish(made.model_copy(update={"recipe": recipe}), key, started)

        self.stats["optimizations_made"] += 1
        return self.cache.put("variants", key, build)
