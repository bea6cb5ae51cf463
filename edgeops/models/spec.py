"""What to ship: the model spec, its quality floors, and the samples and reference
outputs it is scored on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from edgeops.models.base import Frozen, Task


class InputSpec(Frozen):
    name: str
    shape: tuple[int, ...] = Field(description="Concrete shape; symbolic dimensions become 1.")
    dtype: str = "float32"
    layout: str | None = Field(
        None, description="e.g. NCHW or NHWC; informs metrics and converters"
    )
    value_range: tuple[float, float] = (0.0, 1.0)


class QualityFloor(Frozen):
    metric: str
    floor: float
    higher_is_better: bool = True


class QualitySpec(Frozen):
    metric: str = Field(
        description="Metric name the floor applies to, e.g. iou, top1_agreement, snr_db"
    )
    floor: float = Field(description="Lowest acceptable value of the metric")
    higher_is_better: bool = True
    floors: tuple[QualityFloor, ...] = Field(
        (), description="More floors a variant must meet as well: no one metric decides alone"
    )
    user_metric: str | None = Field(
        None,
        description="'file.py:function' called with (outputs, reference, labels); its value is "
        "the metric named after the function",
    )
    user_metric_sha256: str | None = Field(None, description="The user metric's code, for caches")

    def all_floors(self) -> tuple[QualityFloor, ...]:
        return (
            QualityFloor(
                metric=self.metric, floor=self.floor, higher_is_better=self.higher_is_better
            ),
            *self.floors,
        )


class ModelSpec(Frozen):
    """What to ship: from edgeops.toml or CLI flags."""

    name: str
    version: str = "0.0.0"
    source: str = Field(description="A model file, or a PyTorch factory 'file.py:function'")
    source_sha256: str = Field(description="Hash of the source (the .py files for a factory)")
    task: Task = "generic"
    inputs: tuple[InputSpec, ...] = ()
    samples: str | None = Field(None, description="Folder of .npy/.npz, or 'file.py:function'")
    sample_count: int = 16
    labels: str | None = Field(
        None,
        description="Ground truth per sample, in the samples' order: a folder of .npy or "
        "'file.py:function'; the report ranks samples against it too",
    )
    quality: QualitySpec
    recipes: tuple[str, ...] | None = Field(
        None, description="Restrict the sweep to these recipe names"
    )
    latency_budget_ms: float | None = None
    fallback_max_slowdown: float | None = Field(
        None, description="See SelectionPolicy.fallback_max_slowdown; None: its default"
    )
    placement_min_share: float | None = Field(
        None, description="See SelectionPolicy.placement_min_share; None: its default"
    )
    resolution: tuple[int, int] | None = Field(
        None,
        description="Set on the spec of one size of a resolution sweep: samples of another "
        "size are resized to it (otherwise a size mismatch is an error)",
    )
    resolutions: tuple[tuple[int, int], ...] = Field(
        (),
        description="(height, width) sizes for the first input: `edgeops resolutions` runs "
        "the model at each",
    )
    sweep: tuple[dict[str, Any], ...] = Field(
        (),
        description="[[sweep]] tables: a recipe family and its typed parameters, lists as axes",
    )

    def __hash__(self) -> int:
        # pydantic's frozen hash fails on the [[sweep]] dicts, and backends cache
        # conversions per spec (functools.lru_cache): a config with a sweep made
        # every Core ML conversion fail with "unhashable type: 'dict'".
        return hash(self.model_dump_json())

    @property
    def source_path(self) -> Path:
        return Path(self.source.split(":", 1)[0]) if self.is_factory else Path(self.source)

    @property
    def is_factory(self) -> bool:
        from edgeops.pipeline.factories import is_factory

        return is_factory(self.source)


class SampleSet(Frozen):
    """Inputs for quality and calibration, materialised as one .npz (keys: '<input>/<index>')."""

    path: Path
    sha256: str
    count: int
    synthetic: bool = Field(
        description="True when no samples were given and random inputs stand in"
    )
    origin: str


class ReferenceOutputs(Frozen):
    """Outputs of the source model, in its own framework, on every sample."""

    path: Path = Field(description=".npz with keys '<output>/<index>'")
    sha256: str
    framework: str
    output_names: tuple[str, ...]
    label_metrics: dict[str, float] = Field(
        {},
        description="The reference's own accuracy against the labels (and the user metric), "
        "so the loss a variant causes shows beside it",
    )
