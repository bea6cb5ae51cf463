"""The measure stage: rounds on the devices, interleaved, and predictions where none is attached."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

from edgeops.backend import BuildContext
from edgeops.devices.measurements import merge_rounds, unmeasurable
from edgeops.devices.scheduling import MeasureJob, MeasureRunner, RoundBook, job_key
from edgeops.errors import PluginError
from edgeops.models import (
    Device,
    DeviceProfile,
    Measurement,
    MeasureSettings,
    Results,
    Variant,
)
from edgeops.pipeline.cache import cache_key
from edgeops.pipeline.device_outputs import score_device_outputs
from edgeops.pipeline.halving import first_looks, survivors
from edgeops.pipeline.incumbents import (
    marked_remeasured,
    units_to_measure,
)
from edgeops.pipeline.journal import RunJournal
from edgeops.pipeline.ruling_out import RulingOut
from edgeops.pipeline.state import build_context
from edgeops.selection import carry_load_failures


class Measuring(RulingOut):
    """measure: every variant on its profile's device in fresh-process rounds, or predicted."""

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


class _Predictions(BaseModel):
    """What the predictors gave for one variant and profile: a cache entry."""

    measurements: tuple[Measurement, ...]
