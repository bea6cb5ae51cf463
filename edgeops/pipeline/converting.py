"""The convert stage: the source in each format, the samples and the reference outputs."""

from __future__ import annotations

import time
import traceback
import uuid
from pathlib import Path

from edgeops import __version__
from edgeops.backend import BuildContext
from edgeops.errors import ModelError, PluginError, UsageError
from edgeops.models import (
    Artifact,
    DeviceProfile,
    MeasureSettings,
    ModelSpec,
    ReferenceOutputs,
    Results,
    SampleSet,
)
from edgeops.pipeline.cache import cache_key
from edgeops.pipeline.failures import (
    _NoPlugin,
    one_line,
)
from edgeops.pipeline.memory_limit import default_bound_mb, memory_limit
from edgeops.pipeline.proposing import Proposing
from edgeops.pipeline.samples import build_samples
from edgeops.pipeline.state import origin_hash
from edgeops.pipeline.time_limit import time_limit
from edgeops.quality import (
    dead_reference,
    reference_label_metrics,
)


class Converting(Proposing):
    """convert: the source in every format a profile runs, its samples and reference outputs."""

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

    def _samples(self, spec: ModelSpec, artifact: Artifact) -> SampleSet:
        inputs = spec.inputs or artifact.inputs
        origin = spec.samples or "synthetic"
        source_hash = origin_hash(origin)
        # With a resolution, samples of another size are resized: another set.
        key = cache_key("samples", origin, source_hash, inputs, spec.sample_count, spec.resolution)
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
