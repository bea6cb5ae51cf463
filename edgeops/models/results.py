"""Everything a run produced (results.json)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import Field

from edgeops.models.artifacts import Artifact, Variant
from edgeops.models.base import RESULTS_SCHEMA_VERSION, Frozen, utc_now
from edgeops.models.devices import Device, DeviceProfile, MeasureSettings
from edgeops.models.measurements import Measurement
from edgeops.models.plans import Plan, SelectionPolicy
from edgeops.models.spec import ModelSpec, ReferenceOutputs, SampleSet


class CacheStats(Frozen):
    conversions_made: int = 0
    conversions_reused: int = 0
    optimizations_made: int = 0
    optimizations_reused: int = 0
    evaluations_reused: int = 0
    measurements_reused: int = 0


class VariantOutputs(Frozen):
    """A variant's outputs on some samples, kept in the cache next to the reference's.

    The report and ``edgeops studio`` show them beside the reference's; the
    per-sample scores say which samples a variant gets most wrong.
    """

    variant_id: str
    path: Path = Field(
        description=".npz with keys '<output index>/<sample index>', as the reference's"
    )
    sha256: str
    kept: tuple[int, ...] = Field(description="Sample indices whose outputs the .npz holds")
    metric: str = Field(description="The metric the samples are ranked by (the spec's)")
    higher_is_better: bool = True
    per_sample: tuple[float, ...] = Field(
        description="The metric against the reference, per sample, for every sample"
    )
    worst: tuple[int, ...] = Field(description="Sample indices, worst against the reference first")
    label_metric: str | None = Field(None, description="Metric against the labels, if any")
    per_sample_labels: tuple[float, ...] = ()
    worst_labels: tuple[int, ...] = Field((), description="Worst against the labels first")


class Results(Frozen):
    """Everything a run produced: enough to re-run selection or a gate without re-measuring."""

    schema_version: str = RESULTS_SCHEMA_VERSION
    edgeops_version: str
    run_id: str
    created_at: datetime = Field(default_factory=utc_now)
    spec: ModelSpec
    profiles: tuple[DeviceProfile, ...] = ()
    devices: tuple[Device, ...] = ()
    samples: SampleSet | None = None
    reference: ReferenceOutputs | None = None
    artifacts: tuple[Artifact, ...] = ()
    variants: tuple[Variant, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    settings: MeasureSettings = MeasureSettings()
    policy: SelectionPolicy | None = None
    plans: tuple[Plan, ...] = ()
    cache: CacheStats = CacheStats()
    outputs: tuple[VariantOutputs, ...] = Field(
        (), description="Kept variant outputs and per-sample scores (report gallery)"
    )

    def variant(self, variant_id: str) -> Variant:
        for v in self.variants:
            if v.id == variant_id:
                return v
        raise KeyError(variant_id)
