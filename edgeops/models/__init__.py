"""The data that moves between stages (DESIGN §3).

Every model is frozen and serialisable, so any stage can run alone from the
JSON the stage before it wrote. Units are in the field names. The models live in
small modules named for what they hold; import them from here, as readers always have.
"""

from edgeops.models.artifacts import (
    Artifact,
    KeptFloat,
    LayerSensitivity,
    Quality,
    QuantizedLayer,
    Variant,
)
from edgeops.models.base import (
    MANIFEST_SCHEMA_VERSION,
    RESULTS_SCHEMA_VERSION,
    Frozen,
    MeasurementStatus,
    Method,
    PlanStatus,
    Platform,
    Task,
    Transport,
    utc_now,
)
from edgeops.models.devices import (
    PROBE_START_BOUND_S,
    PROBE_TIMEOUT_MARGIN,
    Device,
    DeviceOutputSettings,
    DeviceProfile,
    MeasureSettings,
)
from edgeops.models.manifest import (
    Manifest,
    ManifestChoice,
    ManifestProfile,
    ManifestTensor,
    ManifestVariant,
)
from edgeops.models.measurements import (
    CpuShare,
    Interval,
    Measurement,
    PacedRun,
    PeakMemory,
    Placement,
    UnitShare,
)
from edgeops.models.plans import (
    Choice,
    ComputeUnit,
    FrontierPoint,
    Objective,
    Plan,
    Rejection,
    SelectionPolicy,
)
from edgeops.models.recipes import KeepFloatStep, Recipe, RecipeStep, StepConfig, StepT
from edgeops.models.results import CacheStats, Results, VariantOutputs
from edgeops.models.spec import (
    InputSpec,
    ModelSpec,
    QualityFloor,
    QualitySpec,
    ReferenceOutputs,
    SampleSet,
)

__all__ = [
    "Artifact",
    "CacheStats",
    "Choice",
    "ComputeUnit",
    "CpuShare",
    "Device",
    "DeviceOutputSettings",
    "DeviceProfile",
    "FrontierPoint",
    "Frozen",
    "InputSpec",
    "Interval",
    "KeepFloatStep",
    "KeptFloat",
    "LayerSensitivity",
    "MANIFEST_SCHEMA_VERSION",
    "Manifest",
    "ManifestChoice",
    "ManifestProfile",
    "ManifestTensor",
    "ManifestVariant",
    "MeasureSettings",
    "Measurement",
    "MeasurementStatus",
    "Method",
    "ModelSpec",
    "Objective",
    "PROBE_START_BOUND_S",
    "PROBE_TIMEOUT_MARGIN",
    "PacedRun",
    "PeakMemory",
    "Placement",
    "Plan",
    "PlanStatus",
    "Platform",
    "Quality",
    "QualityFloor",
    "QualitySpec",
    "QuantizedLayer",
    "RESULTS_SCHEMA_VERSION",
    "Recipe",
    "RecipeStep",
    "ReferenceOutputs",
    "Rejection",
    "Results",
    "SampleSet",
    "SelectionPolicy",
    "StepConfig",
    "StepT",
    "Task",
    "Transport",
    "UnitShare",
    "Variant",
    "VariantOutputs",
    "utc_now",
]
