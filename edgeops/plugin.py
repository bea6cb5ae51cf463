"""The declared plugin API: everything a plugin may use from the core, in one module.

A plugin imports only ``edgeops`` (the public names), ``edgeops.hookspecs``
(``hookimpl``) and this module. Everything else in the core is private and may
move; ``tests/test_plugin_boundary.py`` enforces that for the built-in plugins and
the examples, and that no plugin imports another.

What is here (``__all__``, about 30 names, each loaded on first use):

- ``Backend``, the class a backend subclasses, with ``BuildContext`` (what every build
  call gets), ``RecipeBook`` (its recipes), ``RecipeFamily`` (typed recipe kinds for
  ``[[sweep]]`` tables) and ``ProbeRunner`` (how the probe runs its files); see
  docs/backends.md;
- ``hookimpl``, for the hooks that are not a backend's (transports, commands);
- the data models that move between stages, and ``StepConfig``, the typed-recipe step
  base (``Recipe.of(...)`` builds a recipe from typed steps, the owner reads them back
  with ``recipe.typed_steps(...)``);
- ``Session``, what a transport's ``edgeops_connect`` returns, ``device_tool`` (a
  device's own measuring binary, named by an inventory label, pushed and made executable
  or found there), ``tool_round`` (one round of that binary over a variant: the tool and
  the variant pushed, its command run under the time limit, or the error or timeout
  measurement it ends as), and ``CommandContext`` for a plugin's CLI command;
- the errors a plugin raises (``ModelError``, ``StageError``, ``DeviceError``,
  ``UsageError``, all ``EdgeopsError``);
- ``compare_with_reference`` (the one comparison with the reference every backend
  uses), ``sample_feeds``, ``quiet`` (silence a noisy SDK's logs, keeping its last
  lines for errors);
- ``variant_from`` and ``failed_measurement``, the two shapes every backend builds,
  and ``execute_with_leases``, the core's default executor, for an executor that takes
  only some of the jobs.

``_LEGACY`` names (file and path helpers, percentiles, profiles) still resolve for the
built-in plugins; they are not part of the declared API. What several built-ins share
lives in helper packages beside them, not here: ``edgeops_torch_route`` (a source as a
torch module, build records) and ``edgeops_apple`` (the roofline predictions).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeops.devices.scheduling import MeasureJob, MeasureRunner
    from edgeops.models import (
        Artifact,
        Device,
        Measurement,
        MeasurementStatus,
        MeasureSettings,
        Recipe,
        Variant,
    )

# The declared API: what a backend or a transport uses. Each name loads its module on
# first use (PEP 562), so `import edgeops.plugin` costs no pipeline, CLI, numpy,
# multiprocessing or sqlite3 (tests/test_plugin_api.py checks it in a fresh process).
_DECLARED = {
    "Backend": "edgeops.backend",
    "BuildContext": "edgeops.backend",
    "ProbeRunner": "edgeops.backend",
    "RecipeBook": "edgeops.backend",
    "RecipeFamily": "edgeops.backend",
    "hookimpl": "edgeops.hookspecs",
    "Artifact": "edgeops.models",
    "ComputeUnit": "edgeops.models",
    "Device": "edgeops.models",
    "DeviceProfile": "edgeops.models",
    "MeasureSettings": "edgeops.models",
    "Measurement": "edgeops.models",
    "ModelSpec": "edgeops.models",
    "Quality": "edgeops.models",
    "Recipe": "edgeops.models",
    "ReferenceOutputs": "edgeops.models",
    "SampleSet": "edgeops.models",
    "StepConfig": "edgeops.models",
    "Variant": "edgeops.models",
    "Session": "edgeops.devices.sessions",
    "device_tool": "edgeops.devices.sessions",
    "tool_round": "edgeops.devices.tool_round",
    "CommandContext": "edgeops.cli.context",
    "EdgeopsError": "edgeops.errors",
    "DeviceError": "edgeops.errors",
    "ModelError": "edgeops.errors",
    "StageError": "edgeops.errors",
    "UsageError": "edgeops.errors",
    "compare_with_reference": "edgeops.quality",
    "sample_feeds": "edgeops.sample_files",
    "quiet": "edgeops.quiet",
}
# Names the built-in plugins still import from here, kept so they load unchanged while
# they move to the declared names (or to a shared package of their own, as the Apple
# helpers should). Frozen: tests/test_plugin_boundary.py fails when one is added.
_LEGACY = {
    "PINNED_CPUS_LABEL": "edgeops.devices.inventory",
    "THREADS_LABEL": "edgeops.devices.inventory",
    "read_inventory": "edgeops.devices.inventory",
    "QUIET_ENV": "edgeops.quiet",
    "CommandResult": "edgeops.devices.sessions",
    "Choice": "edgeops.models",
    "CpuShare": "edgeops.models",
    "InputSpec": "edgeops.models",
    "Interval": "edgeops.models",
    "MeasurementStatus": "edgeops.models",
    "PeakMemory": "edgeops.models",
    "Plan": "edgeops.models",
    "RecipeStep": "edgeops.models",
    "Results": "edgeops.models",
    "PluginError": "edgeops.errors",
    "ProbeError": "edgeops.errors",
    "SamplesError": "edgeops.errors",
    "MeasureJob": "edgeops.devices.scheduling",
    "MeasureRunner": "edgeops.devices.scheduling",
    "last_json_line": "edgeops.devices.measurements",
    "percentile": "edgeops.devices.measurements",
    "with_percentiles": "edgeops.devices.measurements",
    "builtin_profile_dir": "edgeops.devices.profiles",
    "detect_host_facts": "edgeops.devices.profiles",
    "load_profiles": "edgeops.devices.profiles",
    "check_links_inside": "edgeops.files",
    "copy_file": "edgeops.files",
    "sha256_file": "edgeops.files",
    "sha256_tree": "edgeops.files",
    "write_bytes": "edgeops.files",
    "write_text": "edgeops.files",
    "import_factory": "edgeops.pipeline.factories",
    "check_name": "edgeops.pipeline.names",
    "inside": "edgeops.pipeline.names",
    "snr_db": "edgeops.quality",
}

__all__ = [*sorted(_DECLARED), "execute_with_leases", "failed_measurement", "variant_from"]


def __getattr__(name: str) -> Any:
    module = _DECLARED.get(name) or _LEGACY.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeops.plugin' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)


def execute_with_leases(
    jobs: list[MeasureJob], settings: MeasureSettings, runner: MeasureRunner
) -> bool:
    """The core's default executor (a thread per device, SQLite leases), for an executor
    that takes only some of the jobs (the labgrid farm runs the rest through it).

    A plain function, not the hook implementation itself: a plugin that imports it at
    module level must not register a hook named after it.
    """
    from edgeops.devices.scheduling import edgeops_execute_measurements

    return bool(edgeops_execute_measurements(jobs=jobs, settings=settings, runner=runner))


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
    from edgeops.models import Measurement

    return Measurement(
        variant_id=variant.id,
        device_id=device.id,
        profile_id=device.profile_id,
        compute_unit=compute_unit,
        status=status,
        error=error,
        **fields,
    )
