"""The app-facing manifest's models (``manifest.json``), re-exported by edgeops.models.

Readers ignore keys they do not know: 1.x only adds keys (MANIFEST_SCHEMA_VERSION).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edgeops.models.base import MANIFEST_SCHEMA_VERSION, Frozen, Method, PlanStatus
from edgeops.models.measurements import Interval


class _ManifestPart(BaseModel):
    # Not "forbid": a reader of 1.0 must keep working on a 1.x manifest, so the schema
    # lets every object carry keys added later, and readers ignore them.
    model_config = ConfigDict(frozen=True, extra="ignore")


class ManifestTensor(_ManifestPart):
    """One model input or output, as the app must feed or read it."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    layout: str | None = Field(None, description="e.g. NCHW or NHWC; None when not known")
    value_range: tuple[float, float] | None = Field(
        None, description="Inputs: the [low, high] the model was scored on"
    )


class ManifestVariant(_ManifestPart):
    file: str = Field(description="Path inside the bundle, '/'-separated")
    format: str
    recipe: str | None
    sha256: str
    size_bytes: int
    delegates: tuple[str, ...] = Field(
        (),
        description="Runtime backends inside the file the app must link with its runtime, "
        "e.g. ExecuTorch's 'XnnpackBackend' or 'CoreMLBackend'; empty for most formats",
    )


class ManifestChoice(_ManifestPart):
    variant: str = Field(description="Key into 'variants'")
    compute_unit: str = Field(
        description="The delegate or compute units to load it with: LiteRT 'cpu', 'xnnpack', "
        "'gpu', 'nnapi'; Core ML MLComputeUnits 'cpu_only', 'cpu_and_gpu', 'cpu_and_ne', 'all'; "
        "ONNX Runtime's execution provider"
    )
    requires: tuple[str, ...] = ()
    min_free_memory_mb: float | None = None
    expected_p50_ms: float | None = None
    p50_interval: Interval | None = Field(
        None,
        description="Where the p50 lies: for a prediction, its calibrated interval; for a "
        "measurement, the 95% t interval over its rounds",
    )
    method: Method
    runtime: str | None = Field(
        None, description="Runtime to load it with (its format): 'coreai' needs iOS/macOS 27"
    )
    min_os: str | None = Field(None, description="Oldest OS it loads on, e.g. 'iOS27', 'iOS16'")


class ManifestProfile(_ManifestPart):
    status: PlanStatus
    platform: str | None = None
    match: dict[str, tuple[str, ...]] = Field(
        {},
        description="Device keys this profile stands for (hw.machine, ro.product.device, "
        "ro.product.model); a value ending in '*' is a prefix",
    )
    choices: tuple[ManifestChoice, ...] = Field(
        (), description="Primary first, then fallbacks in the order an app should try them"
    )


class Manifest(Frozen):
    """What an app reads at run time to pick its variant."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        json_schema_extra={
            "$id": f"https://edgeops.dev/schemas/manifest-{MANIFEST_SCHEMA_VERSION}.json",
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": "Readers must ignore keys they do not know: 1.x versions only add keys.",
        },
    )

    schema_version: Literal["1.1"] = "1.1"  # MANIFEST_SCHEMA_VERSION, as a type
    model: str
    version: str
    created_at: datetime
    inputs: tuple[ManifestTensor, ...] = ()
    outputs: tuple[ManifestTensor, ...] = ()
    variants: dict[str, ManifestVariant]
    profiles: dict[str, ManifestProfile]
