"""The order of the stages (DESIGN §2). Every piece of work is a hook call.

convert → samples → reference → optimize → evaluate → measure → select.
Each stage reads and returns a Results, so a stage can run alone from the
file the stage before wrote. The pipeline caches, counts what it reused and
tells the observer hooks where it is; it knows no backend.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy
from pydantic import BaseModel

from edgeops import __version__
from edgeops.backend import BuildContext
from edgeops.devices.leases import LeaseBook
from edgeops.devices.measurements import merge_rounds, unmeasurable
from edgeops.devices.scheduling import MeasureJob, MeasureRunner, RoundBook, job_key
from edgeops.errors import EdgeopsError, ModelError, PluginError, StageError, UsageError
from edgeops.files import sha256_tree, size_bytes, write_text
from edgeops.models import (
    Artifact,
    CacheStats,
    ComputeUnit,
    Device,
    DeviceOutputSettings,
    DeviceProfile,
    KeptFloat,
    Measurement,
    MeasureSettings,
    ModelSpec,
    Objective,
    Plan,
    Quality,
    Recipe,
    ReferenceOutputs,
    Results,
    SampleSet,
    SelectionPolicy,
    Variant,
    VariantOutputs,
)
from edgeops.options.declare import default_of
from edgeops.options.selection import SelectionOptions
from edgeops.options.work import WorkOptions
from edgeops.pipeline import keep_float
from edgeops.pipeline.cache import Cache, cache_key
from edgeops.pipeline.device_outputs import score_device_outputs
from edgeops.pipeline.factories import factory_code_sha256, is_factory
from edgeops.pipeline.halving import first_looks, survivors
from edgeops.pipeline.incumbents import (
    choosable,
    marked_remeasured,
    units_to_measure,
    with_device_time,
)
from edgeops.pipeline.journal import RunJournal
from edgeops.pipeline.memory_limit import default_bound_mb, memory_limit
from edgeops.pipeline.names import check_name
from edgeops.pipeline.pruning import prune
from edgeops.pipeline.samples import build_samples, load_labels
from edgeops.pipeline.sweep import Expansion, RecipeFamily, expand
from edgeops.pipeline.time_limit import time_limit
from edgeops.pipeline.workers import Task, run_in_workers, worker_count
from edgeops.plugin_manager import (
    answers_by_plugin,
    declared_compute_units,
    hook_of,
    tool_versions,
)
from edgeops.quality import (
    OUTPUTS_FILE,
    dead_reference,
    meets_floors,
    reference_label_metrics,
)
from edgeops.report.outputs import DEFAULT_KEEP, DEFAULT_WORST_K, OUTPUTS_FORMAT, score_outputs
from edgeops.selection import carry_load_failures


@dataclass
class Workspace:
    """``.edgeops/``: the cache and the run history."""

    root: Path
    # --no-cache: make everything again (measurements included) and replace the entries.
    refresh_cache: bool = False

    @property
    def cache(self) -> Cache:
        return Cache(self.root / "cache", refresh=self.refresh_cache)

    @property
    def history_path(self) -> Path:
        return self.root / "runs.sqlite"

    def journal(self, run_id: str) -> RunJournal:
        return RunJournal(self.root / "runs" / run_id)


TRACEBACK_FILE = "traceback.txt"
EVALUATE_TRACEBACK_FILE = "evaluate-traceback.txt"


def one_line(exc: BaseException) -> str:
    missing = _missing_module(exc)
    if missing is not None:
        from edgeops.extras import missing_module_message

        return missing_module_message(missing)
    text = " ".join(str(exc).split())
    if isinstance(exc, EdgeopsError):
        return text
    return f"{type(exc).__name__}: {text}"[:400]


def _missing_module(exc: BaseException | None) -> ModuleNotFoundError | None:
    """The ModuleNotFoundError behind ``exc`` (a plugin may wrap it in a StageError)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, ModuleNotFoundError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


class Pipeline:
    def __init__(
        self,
        pm: pluggy.PluginManager,
        workspace: Workspace,
        leases: LeaseBook | None = None,
        jobs: int | None = 1,
        task_timeout_s: float = default_of(WorkOptions, "task_timeout_s"),
        worker_memory_mb: float | None = None,
        halving: bool = False,
    ) -> None:
        """``jobs``: worker processes making and scoring variants (None: every core;
        1: in this process, where inline test plugins are seen)."""
        self.pm = pm
        self.hook = pm.hook
        self.workspace = workspace
        self.jobs = jobs
        self.task_timeout_s = task_timeout_s
        self.worker_memory_mb = worker_memory_mb
        self.halving = halving
        self.cache = workspace.cache
        self.tools = tool_versions(pm)
        # Full tracebacks of what failed in this run, by a label such as "optimize-onnx-fp16":
        # a one-line error is enough to read a table, not to fix a plugin.
        self.tracebacks: dict[str, str] = {}
        self.stats: dict[str, int] = dict.fromkeys(CacheStats.model_fields, 0)
        self.leases = leases or LeaseBook()
        # Outputs kept per variant for the report's gallery (0 keeps none), and how
        # many worst samples per variant it shows.
        self.keep_outputs = DEFAULT_KEEP
        self.worst_k = DEFAULT_WORST_K
        self.outputs: dict[str, VariantOutputs] = {}
        # How measured variants' outputs on their devices are scored (None: the defaults).
        self.device_outputs: DeviceOutputSettings | None = None
        self._loaded_labels: dict[tuple[str, int], list[Any]] = {}

    def _advanced(self, stage: str, label: str, outcome: str, reason: str = "") -> None:
        """Tell observers one item of ``stage`` ended, and how (``edgeops_stage_advanced``)."""
        self.hook.edgeops_stage_advanced(stage=stage, label=label, outcome=outcome, reason=reason)

    # ----------------------------------------------------------------------- convert

    def convert(
        self,
        spec: ModelSpec,
        profiles: list[DeviceProfile],
        settings: MeasureSettings | None = None,
        run_id: str | None = None,
    ) -> Results:
        self.check_recipe_names(spec.recipes)
        run_id = run_id or uuid.uuid4().hex[:12]
        if spec.sweep:
            self.sweep(spec)  # a bad table fails now, not after every conversion
        formats = list(dict.fromkeys(f for p in profiles for f in p.formats))
        self.hook.edgeops_stage_started(stage="convert", total=len(formats))
        made: dict[str, Artifact | None] = {}
        samples: SampleSet | None = None
        for target in formats:
            made_before = self.stats["conversions_made"]
            artifact = self._convert_with_inputs(spec, target, made, ())
            if samples is None and artifact is not None and artifact.status == "ok":
                # Checked after the first conversion, so samples that do not fit
                # fail in seconds, not after every format is converted.
                samples = self._samples(spec, artifact)
            if artifact is None:
                self._advanced("convert", target, "unsupported", "no installed plugin makes it")
            elif artifact.status != "ok":
                self._advanced("convert", target, "failed", artifact.error or "")
            else:
                fresh = self.stats["conversions_made"] > made_before
                self._advanced("convert", target, "made" if fresh else "cached")
        artifacts = [a for a in made.values() if a is not None]
        # Only a format some profile runs counts: an intermediate one (the ONNX a .tflite
        # or .onnx source reaches Core ML through) alone ships nothing.
        wanted = [a for a in artifacts if a.format in formats]
        ok = [a for a in wanted if a.status == "ok"]
        self.save_tracebacks(run_id)
        if not ok:
            failed = [a for a in wanted if a.error] or [a for a in artifacts if a.error]
            if failed:
                raise ModelError(failed[0].error or "conversion failed")
            raise UsageError(
                f"no installed plugin converts {spec.source_path.name} to any of {', '.join(formats)}; "
                "install the backend extra (see `edgeops plugins`)"
            )
        self.hook.edgeops_stage_finished(
            stage="convert", summary=f"{len(ok)} format(s): {', '.join(a.format for a in ok)}"
        )
        assert samples is not None
        reference = self._reference(spec, samples)
        return Results(
            edgeops_version=__version__,
            run_id=run_id,
            spec=spec,
            profiles=tuple(profiles),
            samples=samples,
            reference=reference,
            artifacts=tuple(artifacts),
            settings=settings or MeasureSettings(),
        )

    def _convert_with_inputs(
        self,
        spec: ModelSpec,
        target: str,
        made: dict[str, Artifact | None],
        chain: tuple[str, ...],
    ) -> Artifact | None:
        """``target``, after the formats its conversion starts from (``edgeops_conversion_inputs``).

        So a PyTorch source is exported to ONNX once, and TFLite and Core ML start
        from that artifact instead of exporting again.
        """
        if target in made:
            return made[target]
        if target in chain:
            raise PluginError(f"conversion inputs loop: {' -> '.join((*chain, target))}")
        for needs in self.hook.edgeops_conversion_inputs(spec=spec, target=target):
            for first in needs:
                self._convert_with_inputs(spec, first, made, (*chain, target))
        ready = [a for a in made.values() if a is not None and a.status == "ok"]
        made[target] = self._convert_one(spec, target, ready)
        return made[target]

    def _convert_one(
        self, spec: ModelSpec, target: str, artifacts: list[Artifact] | None = None
    ) -> Artifact | None:
        key = cache_key(
            "convert", spec.source_sha256, Path(spec.source).name, spec.inputs, target, self.tools
        )
        cached = self.cache.get("artifacts", key, Artifact)
        if cached is not None:
            self.stats["conversions_reused"] += 1
            return cached

        def build(workdir: Path) -> Artifact:
            started = time.perf_counter()
            what = f"converting to {target}"
            bound_mb = self.worker_memory_mb or default_bound_mb()
            with time_limit(self.task_timeout_s, what), memory_limit(bound_mb, what):
                made = self.hook.edgeops_convert(
                    spec=spec,
                    target=target,
                    workdir=workdir,
                    artifacts=list(artifacts or ()),
                    context=BuildContext(spec=spec, artifacts=tuple(artifacts or ())),
                )
            if made is None:
                raise _NoPlugin
            return self._finish(made, key, started)

        try:
            artifact = self.cache.put("artifacts", key, build)
        except _NoPlugin:
            return None
        except Exception as exc:
            # Not cached: a corrupt source is fixed by the user, and the next run must retry.
            self.tracebacks[f"convert-{target}"] = traceback.format_exc()
            return Artifact(
                id=key, format=target, status="error", error=one_line(exc), tools=self.tools
            )
        self.stats["conversions_made"] += 1
        return artifact

    def _finish(self, made: Artifact, key: str, started: float) -> Artifact:
        assert made.path is not None
        return made.model_copy(
            update={
                "id": key,
                "sha256": sha256_tree(made.path),
                "size_bytes": size_bytes(made.path),
                "tools": self.tools,
                "duration_s": round(time.perf_counter() - started, 3),
            }
        )

    def _samples(self, spec: ModelSpec, artifact: Artifact) -> SampleSet:
        inputs = spec.inputs or artifact.inputs
        origin = spec.samples or "synthetic"
        origin_hash = _origin_hash(origin)
        # With a resolution, samples of another size are resized: another set.
        key = cache_key("samples", origin, origin_hash, inputs, spec.sample_count, spec.resolution)
        cached = self.cache.get("samples", key, SampleSet)
        if cached is not None:
            return cached
        return self.cache.put("samples", key, lambda wd: build_samples(spec, inputs, wd))

    def _reference(self, spec: ModelSpec, samples: SampleSet) -> ReferenceOutputs:
        key = cache_key(
            "reference", spec.source_sha256, Path(spec.source).name, samples.sha256, self.tools
        )
        cached = self.cache.get("reference", key, ReferenceOutputs)
        if cached is not None:
            return self._living(cached, samples, spec)

        def build(workdir: Path) -> ReferenceOutputs:
            with time_limit(self.task_timeout_s, "running the source model for reference outputs"):
                made = self.hook.edgeops_reference(spec=spec, samples=samples, workdir=workdir)
            if made is None:
                raise ModelError(
                    f"no installed plugin can run {spec.source_path.name} to make reference outputs"
                )
            return made

        return self._living(self.cache.put("reference", key, build), samples, spec)

    @staticmethod
    def _living(
        reference: ReferenceOutputs, samples: SampleSet, spec: ModelSpec
    ) -> ReferenceOutputs:
        # Before any variant is scored: against a constant reference every variant,
        # even a 2-bit one, agrees perfectly and would ship.
        why = dead_reference(reference, samples)
        if why is not None:
            raise ModelError(why)
        return reference.model_copy(
            update={"label_metrics": reference_label_metrics(spec, reference)}
        )

    # ----------------------------------------------------------------------- optimize

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
            variant = self._make_one(artifact, recipe, results)
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

    def save_tracebacks(self, run_id: str) -> Path | None:
        """Write this run's full tracebacks to ``runs/<run_id>/tracebacks/<label>.txt``."""
        if not self.tracebacks:
            return None
        from edgeops.pipeline.names import safe_name

        folder = self.workspace.journal(run_id).folder / "tracebacks"
        for label, text in self.tracebacks.items():
            write_text(folder / f"{safe_name(label)}.txt", text)
        return folder

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
            below = _below_floor(variant, results)
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

    def recipe_families(self) -> list[RecipeFamily]:
        """Every plugin's recipe families, each stamped with its plugin as owner."""
        out: list[RecipeFamily] = []
        for owner, families in answers_by_plugin(self.pm, "edgeops_recipe_families"):
            out.extend(dataclasses.replace(f, owner=owner) for f in families)
        return out

    def sweep(self, spec: ModelSpec) -> Expansion:
        """The recipes ``spec``'s ``[[sweep]]`` tables make, and what they drop and why."""
        return expand(spec.sweep, self.recipe_families())

    def check_recipe_names(self, wanted: tuple[str, ...] | None) -> None:
        """Refuse names no plugin can propose: ``format:name``, or a bare name for every format."""
        if wanted is None:
            return
        known = sorted({r for rs in self.hook.edgeops_recipe_catalog() for r in rs})
        bare = {r.split(":", 1)[-1] for r in known}
        for name in wanted:
            if name in known or name in bare:
                continue
            import difflib

            close = difflib.get_close_matches(name, [*known, *sorted(bare)], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(f"unknown recipe {name!r} in recipes; {hint}known: {', '.join(known)}")

    def proposed_recipes(self, artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:
        """Every plugin's recipes for ``artifact``, each stamped with the plugin that proposed it.

        Two plugins proposing one ``format:name`` is refused: which file would it be?
        """
        owners: dict[str, str] = {}
        out = []
        for owner, recipes in answers_by_plugin(
            self.pm, "edgeops_recipes", artifact=artifact, profiles=profiles
        ):
            for recipe in recipes:
                if recipe.format != artifact.format:
                    continue
                try:
                    # Backends name files after recipes; a name that is a path is refused here.
                    check_name(recipe.name, f"recipe name from plugin {owner!r}")
                except UsageError as exc:
                    raise PluginError(f"{exc}; fix or disable the plugin") from exc
                if recipe.id in owners:
                    if owners[recipe.id] == owner:
                        continue
                    raise PluginError(
                        f"plugins {owners[recipe.id]!r} and {owner!r} both propose {recipe.id}; "
                        f"rename one recipe or disable a plugin with EDGEOPS_DISABLE_PLUGINS"
                    )
                owners[recipe.id] = owner
                out.append(recipe.model_copy(update={"owner": owner}))
        return out

    def _make_one(self, artifact: Artifact, recipe: Recipe, results: Results) -> Variant:
        """One variant of the sweep: its recipe applied, or, for ``keep_float = "auto"``,
        the mixed variant the search finds (keep_float.py)."""
        assert results.samples is not None
        context = build_context(results)
        if keep_float.auto_step(recipe) is None:
            return self._optimize_one(artifact, recipe, context)

        def made(candidate: Recipe) -> Variant:
            variant = self._optimize_one(artifact, candidate, context)
            return self._evaluate_one(variant, results) if variant.status == "ok" else variant

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
            float_quality = self._evaluate_one(artifact, results).quality
            if float_quality is None:
                raise StageError(
                    f"{recipe.id}: the unquantized {artifact.format} model has no host quality"
                )
            found = keep_float.search(recipe, float_quality, results.spec.quality, made)
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

    # ----------------------------------------------------------------------- evaluate

    def evaluate(self, results: Results) -> Results:
        assert results.samples is not None and results.reference is not None
        todo = [v for v in results.variants if v.status == "ok"]
        self.hook.edgeops_stage_started(stage="evaluate", total=len(todo))
        evaluated = {}
        for variant in todo:
            reused_before = self.stats["evaluations_reused"]
            scored = evaluated[variant.id] = self._evaluate_one(variant, results)
            below = _below_floor(scored, results)
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
            _origin_hash(results.spec.labels) if results.spec.labels else None,
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
            _origin_hash(labels) if labels else None,
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

    def _evaluate_one(self, variant: Variant, results: Results) -> Variant:
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

    # ----------------------------------------------------------------------- measure

    def measure(
        self,
        results: Results,
        devices: list[Device],
        settings: MeasureSettings | None = None,
        reuse_measurements: bool = False,
        journal: RunJournal | None = None,
    ) -> Results:
        settings = settings or results.settings
        results = self.rule_out_unfit(results)
        profiles = {p.id: p for p in results.profiles}
        device_for: dict[str, Device] = {}
        # An inventory's device for a profile is preferred to this machine.
        for found in sorted(devices, key=lambda d: d.transport == "local"):
            if found.profile_id in profiles:
                device_for.setdefault(found.profile_id, found)
        ok_variants = [v for v in results.variants if v.status == "ok"]
        measurements: list[Measurement] = []
        jobs: list[tuple[Device, Variant, str]] = []
        for profile in profiles.values():
            device = device_for.get(profile.id)
            for variant in ok_variants:
                if variant.format not in profile.formats or variant.pruned_for(profile.id):
                    continue
                if device is None:
                    measurements.extend(self._predict(profile, variant))
                    continue
                jobs.extend((device, variant, cu) for cu in units_to_measure(variant, profile))
        todo, reused = [], []
        for job in jobs:
            # A re-measured baseline is this session's or nothing (never another's, cached).
            reuse = reuse_measurements and job[1].remeasured_from is None
            cached = self._cached_measurement(job, settings) if reuse else None
            if cached is None:
                todo.append(job)
            else:
                measurements.append(cached)
                reused.append(MeasureJob(0, *job).label)
                self.stats["measurements_reused"] += 1
        holder = f"{results.run_id}:{os.getpid()}"
        fresh = self._measure_interleaved(todo, settings, holder, journal, reused)
        # A job no plugin answers (xnnpack for an .onnx file) is never cached; its
        # variant counts as measurable when a reused sibling answered.
        answered = {(m.device_id, m.variant_id) for m in measurements}
        measurements.extend(
            m
            for m in fresh
            if m.status != "unsupported" or (m.device_id, m.variant_id) not in answered
        )
        measurements = score_device_outputs(
            self.hook, self.leases, holder, measurements, results.variants,
            list(device_for.values()), self.device_output_context(results),
            keep_in=self._device_outputs_dir if self.keep_outputs else None,
        )  # fmt: skip
        measurements = marked_remeasured(measurements, results.variants)
        return results.model_copy(
            update={
                # A prediction for what failed to load on a measured device is that failure,
                # in results.json and the tables as in the plan.
                "measurements": tuple(carry_load_failures(measurements, measurements)),
                "settings": settings,
                "devices": tuple({d.id: d for d in device_for.values()}.values()),
            }
        )

    def _device_outputs_dir(self, m: Measurement) -> Path:
        # A device's name comes from the inventory: hashed, never a path component.
        return self.cache.entry_dir(
            "device-outputs", cache_key(m.variant_id, m.device_id, m.compute_unit)
        )

    def device_output_context(self, results: Results) -> BuildContext:
        """What a backend scores device outputs with: the run's, and its settings."""
        return build_context(results).model_copy(update={"device_outputs": self.device_outputs})

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
        """Rule variants out on the host before any device time (pruning.py)."""
        factor = (
            memory_safety_factor
            if memory_safety_factor is not None
            else default_of(SelectionOptions, "memory_safety_factor")
        )
        variants = prune(
            list(results.variants), list(results.profiles), results.spec.quality, factor
        )
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

    def remeasure(
        self,
        results: Results,
        devices: list[Device],
        extra_rounds: dict[tuple[str, str, str], int],
    ) -> Results:
        """Add rounds to some measurements, keyed (variant, device, compute unit), and merge them in.

        ``ship --until-decided`` uses it for comparisons the gate cannot decide yet.
        """
        by_device = {d.id: d for d in devices}
        variants = {v.id: v for v in results.variants}
        rounds = max(extra_rounds.values(), default=0)
        jobs = [
            (by_device[dev], variants[vid], cu)
            for (vid, dev, cu) in extra_rounds
            if dev in by_device and vid in variants
        ]
        if not jobs or rounds <= 0:
            return results
        # Rounds added for a decision time the loop only: that is all it rests on.
        settings = results.settings.model_copy(update={"rounds": rounds, "full_rounds": 0})
        holder, earlier = f"{results.run_id}:{os.getpid()}", results.measurements
        fresh = {
            (m.variant_id, m.device_id, m.compute_unit): m
            for m in self._measure_interleaved(jobs, settings, holder, earlier=earlier)
        }
        merged = tuple(
            merge_rounds([m, fresh[key]])
            if (key := (m.variant_id, m.device_id, m.compute_unit)) in fresh
            and fresh[key].status == "ok"
            else m
            for m in results.measurements
        )
        return results.model_copy(update={"measurements": merged})

    def _measurement_key(self, job: tuple[Device, Variant, str], settings: MeasureSettings) -> str:
        device, variant, cu = job
        return cache_key("measure", variant.id, device, cu, settings)

    def _cached_measurement(
        self, job: tuple[Device, Variant, str], settings: MeasureSettings
    ) -> Measurement | None:
        return self.cache.get_value(
            "measurements", self._measurement_key(job, settings), Measurement
        )

    def _measure_interleaved(
        self,
        jobs: list[tuple[Device, Variant, str]],
        settings: MeasureSettings,
        holder: str,
        journal: RunJournal | None = None,
        reused: list[str] | None = None,
        earlier: tuple[Measurement, ...] = (),
    ) -> list[Measurement]:
        """Every job in ``settings.rounds`` fresh-process rounds, devices in parallel.

        Rounds a journal already holds (an interrupted run) are not measured again.
        ``reused`` labels the jobs ``--reuse-measurements`` took from the cache, told
        to observers as one item each.
        """
        # A resumed run retries what the device failed, not only what is missing.
        done = {
            key: [m for m in ms if m.status != "device_failed"]
            for key, ms in (journal.rounds() if journal else {}).items()
        }
        rounds = {
            i: list(done.get(job_key(d.id, v.id, cu), ())) for i, (d, v, cu) in enumerate(jobs)
        }
        reused = reused or []
        self.hook.edgeops_stage_started(
            stage="measure", total=len(jobs) * settings.rounds + len(reused)
        )
        for label in reused:
            self._advanced("measure", label, "cached")
        book = RoundBook(rounds, record=journal.append if journal else lambda m: None)
        for m in earlier:  # added rounds are numbered after the run's earlier ones
            book.reserve_ids(m.device_id, m.round_ids or ())
        runner = MeasureRunner(self.hook, holder, book, self.leases)
        measure_jobs = [MeasureJob(i, d, v, cu) for i, (d, v, cu) in enumerate(jobs)]
        for measure_job in measure_jobs:
            for _ in rounds[measure_job.index]:
                self._advanced("measure", measure_job.label, "cached")
        stopped: dict[int, str] = {}
        # Successive halving: every job gets the first looks' rounds, then only the
        # jobs no other job dominates get more (halving.py).
        looks = first_looks(settings.rounds) if self.halving else [settings.rounds]
        active = measure_jobs
        for look in looks:
            if not active:
                break
            handled = self.hook.edgeops_execute_measurements(
                jobs=active, settings=settings.model_copy(update={"rounds": look}), runner=runner
            )
            if not handled:
                raise PluginError("no installed plugin executes measurements")
            if look < settings.rounds:
                # A job with no round after a look is one no plugin measures there:
                # asked again each look, it would only be told unsupported again.
                active = [job for job in active if rounds[job.index]]
                active, dropped = survivors(active, rounds, self.compute_units())
                stopped.update(dropped)
                for index, why in dropped.items():
                    self._advanced("measure", measure_jobs[index].label, "pruned", why)
        merged = []
        for i, job in enumerate(jobs):
            if rounds[i]:
                m = merge_rounds(rounds[i])
                if i in stopped:
                    m = m.model_copy(
                        update={"environment": {**m.environment, "stopped_early": stopped[i]}}
                    )
                self.cache.put_value("measurements", self._measurement_key(job, settings), m)
                merged.append(m)
        merged.extend(unmeasurable(jobs, rounds))
        ok = sum(m.status == "ok" for m in merged)
        self.hook.edgeops_stage_finished(
            stage="measure", summary=f"{ok} of {len(merged)} measurement(s) ok"
        )
        return merged

    def _predict(self, profile: DeviceProfile, variant: Variant) -> list[Measurement]:
        """The predictors' figures for ``variant`` on each compute unit, cached.

        A prediction depends only on the file, the profile and the plugins' code
        (``self.tools``), so it is kept like a variant: reading a Core ML graph
        imports coremltools (about 10 s), which made an unchanged re-run slow.
        """
        key = cache_key("predict", variant.id, variant.sha256, profile, self.tools)
        cached = self.cache.get_value("predictions", key, _Predictions)
        if cached is not None:
            return list(cached.measurements)
        out = []
        for cu in profile.compute_units:
            m = self.hook.edgeops_predict(profile=profile, variant=variant, compute_unit=cu)
            if m is not None:
                out.append(m.model_copy(update={"method": "predicted"}))
        self.cache.put_value("predictions", key, _Predictions(measurements=tuple(out)))
        return out

    # ----------------------------------------------------------------------- select

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

    def compute_units(self) -> dict[str, ComputeUnit]:
        return declared_compute_units(self.pm)

    def cache_stats(self) -> CacheStats:
        return CacheStats(**self.stats)


def build_context(results: Results) -> BuildContext:
    """What every build call of a run gets: its spec, samples, reference and conversions."""
    return BuildContext(
        spec=results.spec,
        samples=results.samples,
        reference=results.reference,
        artifacts=tuple(a for a in results.artifacts if a.status == "ok"),
    )


def recipe_wanted(recipe: Recipe, wanted: tuple[str, ...] | None) -> bool:
    """A config names recipes ``format:name``, or by bare name meaning every format."""
    return wanted is None or recipe.id in wanted or recipe.name in wanted


class _Predictions(BaseModel):
    """What the predictors gave for one variant and profile: a cache entry."""

    measurements: tuple[Measurement, ...]


class _NoOutputs(Exception):
    """Quality without kept outputs: none asked for, or a backend that keeps none."""


class _NoPlugin(Exception):
    """No plugin answered a firstresult hook: not an error, nothing to cache."""


def _origin_hash(origin: str) -> str:
    """What the samples' content depends on, cheaply: the factory's code or the files."""
    if is_factory(origin):
        return factory_code_sha256(origin)
    path = Path(origin)
    return sha256_tree(path) if path.exists() else origin


def _below_floor(variant: Variant, results: Results) -> str:
    """Why a scored variant's host quality misses the floor ("" when it does not)."""
    if variant.status != "ok" or variant.quality is None:
        return ""
    fits, why = meets_floors(variant.quality, results.spec.quality)
    return "" if fits else f"host quality: {'; '.join(why)}"


def _pruned_reason(pruned: dict[str, str]) -> str:
    """``Variant.pruned`` in one line: the reason for every profile, or each profile's."""
    if "*" in pruned:
        return pruned["*"]
    return "; ".join(f"{profile}: {why}" for profile, why in sorted(pruned.items()))


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
