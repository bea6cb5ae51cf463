"""edgeops: ship one ML model to many phones and edge boards.

Public API: ``ship``, ``gate`` and ``load_results`` (the CLI is a thin layer
over them; see ``edgeops.api``), the hook markers for plugin authors, the data
models that move between stages, and the errors. Everything else is private.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Names load on first use, so `edgeops --help` does not pay for pydantic and pluggy.
_LAZY = {
    "Artifact": "edgeops.models",
    "Choice": "edgeops.models",
    "CommandResult": "edgeops.devices.sessions",
    "Device": "edgeops.models",
    "DeviceError": "edgeops.errors",
    "DeviceProfile": "edgeops.models",
    "EdgeopsError": "edgeops.errors",
    "Interval": "edgeops.models",
    "KeepFloatStep": "edgeops.models",
    "KeptFloat": "edgeops.models",
    "Manifest": "edgeops.models",
    "MeasureSettings": "edgeops.models",
    "Measurement": "edgeops.models",
    "ModelError": "edgeops.errors",
    "ModelSpec": "edgeops.models",
    "PeakMemory": "edgeops.models",
    "Plan": "edgeops.models",
    "PluginError": "edgeops.errors",
    "ProbeError": "edgeops.errors",
    "Quality": "edgeops.models",
    "QuantizedLayer": "edgeops.models",
    "Recipe": "edgeops.models",
    "RecipeStep": "edgeops.models",
    "ReferenceOutputs": "edgeops.models",
    "Rejection": "edgeops.models",
    "Results": "edgeops.models",
    "ResultsError": "edgeops.errors",
    "SampleSet": "edgeops.models",
    "SamplesError": "edgeops.errors",
    "SelectionPolicy": "edgeops.models",
    "Session": "edgeops.devices.sessions",
    "StageError": "edgeops.errors",
    "UsageError": "edgeops.errors",
    "Variant": "edgeops.models",
    "hookimpl": "edgeops.hookspecs",
    "load_results": "edgeops.api",
    "hookspec": "edgeops.hookspecs",
    "make_plugin_manager": "edgeops.plugin_manager",
    "ship": "edgeops.api",
}

if TYPE_CHECKING:
    from edgeops.api import gate, load_results, ship  # noqa: F401 (gate: see edgeops/gate)
    from edgeops.devices.sessions import CommandResult, Session
    from edgeops.errors import (
        DeviceError,
        EdgeopsError,
        ModelError,
        PluginError,
        ProbeError,
        ResultsError,
        SamplesError,
        StageError,
        UsageError,
    )
    from edgeops.hookspecs import hookimpl, hookspec
    from edgeops.models import (
        Artifact,
        Choice,
        Device,
        DeviceProfile,
        Interval,
        KeepFloatStep,
        KeptFloat,
        Manifest,
        Measurement,
        MeasureSettings,
        ModelSpec,
        PeakMemory,
        Plan,
        Quality,
        QuantizedLayer,
        Recipe,
        RecipeStep,
        ReferenceOutputs,
        Rejection,
        Results,
        SampleSet,
        SelectionPolicy,
        Variant,
    )
    from edgeops.plugin_manager import make_plugin_manager


def __getattr__(name: str) -> Any:
    if name == "gate":
        # The package edgeops.gate, made callable: edgeops.gate(baseline, current).
        import importlib

        return importlib.import_module("edgeops.gate")
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgeops' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Artifact",
    "Choice",
    "CommandResult",
    "Device",
    "DeviceError",
    "DeviceProfile",
    "EdgeopsError",
    "Interval",
    "KeepFloatStep",
    "KeptFloat",
    "Manifest",
    "MeasureSettings",
    "Measurement",
    "ModelError",
    "ModelSpec",
    "PeakMemory",
    "Plan",
    "PluginError",
    "ProbeError",
    "Quality",
    "QuantizedLayer",
    "Recipe",
    "RecipeStep",
    "ReferenceOutputs",
    "Rejection",
    "Results",
    "ResultsError",
    "SampleSet",
    "SamplesError",
    "SelectionPolicy",
    "Session",
    "StageError",
    "UsageError",
    "Variant",
    "__version__",
    "gate",
    "hookimpl",
    "hookspec",
    "load_results",
    "make_plugin_manager",
    "ship",
]
