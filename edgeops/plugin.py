"""The declared plugin API: everything a backend may use from the core, in one module.

A plugin imports only ``edgeops`` (the public names), ``edgeops.hookspecs``
(``hookimpl``) and this module. Everything else in the core is private and may
move; ``tests/test_plugin_boundary.py`` enforces that for the built-in backends,
and that no plugin imports another.

What is here:

- ``Backend``, the class a backend subclasses, with ``BuildContext`` (what every build
  call gets), ``RecipeBook`` (its recipes) and ``ProbeRunner`` (how the probe runs its
  files); see docs/backends.md;
- the data models that move between stages, and the typed-recipe base class
  ``StepConfig`` (``Recipe.of(...)`` builds a recipe from typed steps, the owner
  reads them back with ``recipe.typed_steps(...)``);
- the errors a hook raises (``ModelError``, ``StageError``, ``DeviceError``, ...);
- ``BuildInfo``: what a converted model was made from, as JSON beside it;
- atomic writes and hashing (``write_bytes``, ``write_text``, ``copy_file``,
  ``sha256_file``, ``sha256_tree``);
- path safety: ``check_name`` (a name that becomes one path component),
  ``inside`` (a path built from names, checked to stay in its folder) and
  ``check_links_inside`` (no link in a folder model leaves it);
- ``quiet``: silence a noisy SDK's logs while keeping its last lines for errors;
- sample feeds, the one comparison with the reference every backend uses, the
  factory importer, the inventory reader, profiles and chip folders;
- the session protocol transports return, percentile helpers, and the measurement
  runner the execution hook receives; ``execute_with_leases``, the core's default
  executor (a thread per device, SQLite leases), for an executor that takes only
  some of the jobs (the labgrid farm runs the rest through it);
- ``variant_from`` and ``failed_measurement``: the two shapes every backend builds;
- ``roofline``, the prediction arithmetic and constants both Apple backends use;
- ``torch_sources``, the module both Apple backends convert from: a factory or an
  ONNX graph (through onnx2torch) as a torch module, example inputs, the work one
  forward pass does (its SDKs are imported only when a function runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeops import roofline, torch_sources
from edgeops.backend import Backend, BuildContext, ProbeRunner, RecipeBook
from edgeops.build_info import BuildInfo
from edgeops.cli.context import CommandContext
from edgeops.devices.inventory import PINNED_CPUS_LABEL, THREADS_LABEL, read_inventory
from edgeops.devices.measurements import last_json_line, percentile, with_percentiles
from edgeops.devices.profiles import builtin_profile_dir, detect_host_facts, load_profiles
from edgeops.devices.scheduling import MeasureJob, MeasureRunner
from edgeops.devices.scheduling import edgeops_execute_measurements as execute_with_leases
from edgeops.devices.sessions import CommandResult, Session
from edgeops.errors import (
    DeviceError,
    EdgeopsError,
    ModelError,
    PluginError,
    ProbeError,
    SamplesError,
    StageError,
    UsageError,
)
from edgeops.files import (
    check_links_inside,
    copy_file,
    sha256_file,
    sha256_tree,
    write_bytes,
    write_text,
)
from edgeops.hookspecs import hookimpl
from edgeops.models import (
    Artifact,
    Choice,
    ComputeUnit,
    CpuShare,
    Device,
    DeviceProfile,
    InputSpec,
    Interval,
    Measurement,
    MeasurementStatus,
    MeasureSettings,
    ModelSpec,
    PeakMemory,
    Plan,
    Quality,
    Recipe,
    RecipeStep,
    ReferenceOutputs,
    Results,
    SampleSet,
    StepConfig,
    Variant,
)
from edgeops.pipeline.factories import import_factory
from edgeops.pipeline.names import check_name, inside
from edgeops.pipeline.samples import sample_feeds
from edgeops.pipeline.sweep import RecipeFamily
from edgeops.quality import compare_with_reference, snr_db
from edgeops.quiet import QUIET_ENV, quiet

__all__ = [
    "PINNED_CPUS_LABEL",
    "THREADS_LABEL",
    "QUIET_ENV",
    "Artifact",
    "Backend",
    "BuildContext",
    "BuildInfo",
    "Choice",
    "CommandContext",
    "CommandResult",
    "ComputeUnit",
    "CpuShare",
    "Device",
    "DeviceError",
    "DeviceProfile",
    "EdgeopsError",
    "InputSpec",
    "Interval",
    "MeasureJob",
    "MeasureRunner",
    "MeasureSettings",
    "Measurement",
    "MeasurementStatus",
    "ModelError",
    "ModelSpec",
    "PeakMemory",
    "Plan",
    "PluginError",
    "ProbeError",
    "ProbeRunner",
    "Quality",
    "Recipe",
    "RecipeBook",
    "RecipeFamily",
    "RecipeStep",
    "ReferenceOutputs",
    "Results",
    "SampleSet",
    "SamplesError",
    "Session",
    "StageError",
    "StepConfig",
    "UsageError",
    "Variant",
    "builtin_profile_dir",
    "check_links_inside",
    "check_name",
    "compare_with_reference",
    "copy_file",
    "detect_host_facts",
    "execute_with_leases",
    "failed_measurement",
    "hookimpl",
    "import_factory",
    "inside",
    "last_json_line",
    "load_profiles",
    "percentile",
    "quiet",
    "read_inventory",
    "roofline",
    "sample_feeds",
    "sha256_file",
    "sha256_tree",
    "snr_db",
    "torch_sources",
    "variant_from",
    "with_percentiles",
    "write_bytes",
    "write_text",
]


def variant_from(artifact: Artifact, recipe: Recipe, path: Path, **fields: Any) -> Variant:
    """The Variant ``recipe`` made from ``artifact`` at ``path``.

    It keeps the artifact's signature (inputs, outputs, params) and drops what is
    the artifact's own: its id (the pipeline sets the variant's), its quality. Other
    fields (``macs``, ``inputs``) may be given.
    """
    update: dict[str, Any] = {
        "id": "",
        "recipe": recipe,
        "path": path,
        "parent": artifact.id,
        "quality": None,
        "sha256": None,
        "size_bytes": None,
        "duration_s": None,
    }
    update.update(fields)
    return artifact.model_copy(update=update)


def failed_measurement(
    variant: Variant,
    device: Device,
    compute_unit: str,
    status: MeasurementStatus,
    error: str,
    **fields: Any,
) -> Measurement:
    """A measurement that did not produce samples: OOM, a load failure, a timeout, an error.

    Such a result is the model's on that device (or the device's own, with
    ``status="error"``); it is never a silent gap.
    """
    return Measurement(
        variant_id=variant.id,
        device_id=device.id,
        profile_id=device.profile_id,
        compute_unit=compute_unit,
        status=status,
        error=error,
        **fields,
    )
