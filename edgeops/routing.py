"""A ``Backend`` turned into hook implementations, each routed by format.

The plugin manager registers a backend as one pluggy plugin whose hooks answer
only for the backend's format: the one place that asks "is this mine?". Only the
methods the backend overrides become hooks, so ``edgeops plugins`` lists what it
really does. Its own ``@hookimpl`` methods (a transport only its format uses)
register with it under the same name.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

from edgeops.backend import Backend, BuildContext
from edgeops.devices.device_quality import DeviceScore, score_on_device
from edgeops.devices.sessions import Session
from edgeops.errors import PluginError
from edgeops.hookspecs import PROJECT, hookimpl
from edgeops.models import (
    Artifact,
    ComputeUnit,
    DeviceProfile,
    Measurement,
    MeasureSettings,
    ModelSpec,
    Quality,
    Recipe,
    ReferenceOutputs,
    SampleSet,
    Variant,
)

# The module attribute naming a package's Backend, for an entry point that names the module.
BACKEND_ATTRIBUTE = "BACKEND"


def backend_of(plugin: object) -> Backend | None:
    """The Backend an entry point (or an EDGEOPS_PLUGINS module) names, if it names one:
    a Backend subclass, an instance, or a module whose ``BACKEND`` is either."""
    if isinstance(plugin, ModuleType):
        plugin = getattr(plugin, BACKEND_ATTRIBUTE, None)
    if isinstance(plugin, type) and issubclass(plugin, Backend):
        if inspect.isabstract(plugin):
            missing = ", ".join(sorted(plugin.__abstractmethods__))
            raise PluginError(f"backend {plugin.__name__} does not implement {missing}")
        plugin = plugin()
    if isinstance(plugin, Backend):
        if not isinstance(getattr(type(plugin), "format", None), str):
            raise PluginError(f"backend {type(plugin).__name__} sets no `format` class attribute")
        return plugin
    return None


def _overrides(backend: Backend, method: str) -> bool:
    return getattr(type(backend), method) is not getattr(Backend, method)


class RoutedBackend:
    """One backend as a pluggy plugin: hook functions set per instance (see ``routed``)."""

    def __init__(self, backend: Backend, module: ModuleType | None) -> None:
        self.backend = backend
        # Read by the plugin manager: the cache key and `edgeops plugins`.
        self.EDGEOPS_TOOLS = backend.tools
        self.EDGEOPS_RUNTIME = backend.runtime
        # The code hashed into cache keys: the backend's package (or module).
        source = module if module is not None else inspect.getmodule(type(backend))
        self.__file__ = getattr(source, "__file__", None) or inspect.getfile(type(backend))

    def __repr__(self) -> str:
        return f"<backend {type(self.backend).__name__} format={self.backend.format!r}>"


def routed(plugin: object) -> object:
    """``plugin`` as pluggy registers it: a Backend routed by format, else itself."""
    backend = backend_of(plugin)
    if backend is None:
        return plugin
    module = plugin if isinstance(plugin, ModuleType) else None
    out = RoutedBackend(backend, module)
    for name, function in _hooks(backend).items():
        setattr(out, name, function)
    # Hooks the backend's class or module declares itself (a transport of its format).
    for owner in (backend, module):
        if owner is None:
            continue
        for name, value in inspect.getmembers(owner):
            if name.startswith("edgeops_") and hasattr(value, f"{PROJECT}_impl"):
                if name in vars(out):
                    raise PluginError(
                        f"backend {type(backend).__name__} answers {name} twice: as a "
                        "Backend method and as a @hookimpl; keep one"
                    )
                setattr(out, name, value)
    return out


def _hooks(backend: Backend) -> dict[str, Any]:
    """Every hook ``backend`` answers, each a small closure asking its format first."""
    return {
        **_build_hooks(backend),
        **_quality_hooks(backend),
        **_optional_hooks(backend),
        **_measure_hook(backend),
    }


def _build_hooks(backend: Backend) -> dict[str, Any]:
    fmt = backend.format

    @hookimpl
    def edgeops_conversion_inputs(spec: ModelSpec, target: str) -> list[str]:
        return backend.conversion_inputs(spec) if target == fmt else []

    @hookimpl
    def edgeops_convert(
        spec: ModelSpec,
        target: str,
        workdir: Path,
        artifacts: list[Artifact],
        context: BuildContext | None,
    ) -> Artifact | None:
        if target != fmt:
            return None
        context = context or BuildContext(spec=spec, artifacts=tuple(artifacts))
        return backend.convert(context, workdir)

    @hookimpl
    def edgeops_recipes(artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:
        # Also routed by profile: an artifact made only as another's conversion input
        # (ONNX for TFLite) gets no recipes when no profile runs its format.
        if artifact.format != fmt or not any(fmt in p.formats for p in profiles):
            return []
        proposals = backend.propose(artifact, profiles)
        known = set(backend.recipes().catalogue(fmt))
        for recipe in proposals:
            if recipe.id not in known:
                raise PluginError(
                    f"backend {type(backend).__name__} proposes {recipe.id}, which its "
                    "recipes() book does not list; add it to the RecipeBook"
                )
        return proposals

    @hookimpl
    def edgeops_recipe_catalog() -> list[str]:
        return backend.recipes().catalogue(fmt)

    @hookimpl
    def edgeops_recipe_families() -> list[Any]:
        return list(backend.recipes().families)

    @hookimpl
    def edgeops_optimize(
        artifact: Artifact,
        recipe: Recipe,
        workdir: Path,
        samples: SampleSet | None,
        context: BuildContext | None,
    ) -> Variant | None:
        # The hookspec's whole signature, so a test may call it as the pipeline does;
        # the samples are in the context.
        if recipe.format != fmt or artifact.path is None:
            return None
        if context is None:
            raise PluginError(f"edgeops_optimize for {recipe.id} was called without its context")
        return backend.optimize(artifact, recipe, context, workdir)

    return {
        "edgeops_conversion_inputs": edgeops_conversion_inputs,
        "edgeops_convert": edgeops_convert,
        "edgeops_recipes": edgeops_recipes,
        "edgeops_recipe_catalog": edgeops_recipe_catalog,
        "edgeops_recipe_families": edgeops_recipe_families,
        "edgeops_optimize": edgeops_optimize,
    }


def _quality_hooks(backend: Backend) -> dict[str, Any]:
    """The host-quality hooks (reference, evaluate, estimate) the backend overrides, and only those."""
    fmt = backend.format
    hooks: dict[str, Any] = {}
    if _overrides(backend, "reference"):

        @hookimpl
        def edgeops_reference(
            spec: ModelSpec, samples: SampleSet, workdir: Path
        ) -> ReferenceOutputs | None:
            return backend.reference(spec, samples, workdir)

        hooks["edgeops_reference"] = edgeops_reference

    if _overrides(backend, "evaluate"):

        @hookimpl
        def edgeops_evaluate(
            variant: Variant,
            reference: ReferenceOutputs,
            samples: SampleSet,
            spec: ModelSpec,
            outputs_dir: Path,
            context: BuildContext | None,
        ) -> Quality | None:
            if variant.format != fmt or variant.path is None:
                return None
            context = context or BuildContext(spec=spec, samples=samples, reference=reference)
            return backend.evaluate(variant, context, outputs_dir)

        hooks["edgeops_evaluate"] = edgeops_evaluate

    if _overrides(backend, "estimate"):

        @hookimpl
        def edgeops_estimate(
            artifact: Artifact, recipe: Recipe, context: BuildContext
        ) -> Quality | None:
            if recipe.format != fmt or artifact.path is None:
                return None
            return backend.estimate(artifact, recipe, context)

        hooks["edgeops_estimate"] = edgeops_estimate
    return hooks


def _optional_hooks(backend: Backend) -> dict[str, Any]:
    """The hooks of the other optional methods the backend overrides, and only those."""
    fmt = backend.format
    hooks: dict[str, Any] = {}
    if _overrides(backend, "evaluate_on_device"):

        @hookimpl
        def edgeops_evaluate_on_device(
            session: Session,
            variant: Variant,
            compute_unit: str,
            context: BuildContext,
            outputs_dir: Path | None,
        ) -> DeviceScore | None:
            if variant.format != fmt or variant.path is None or context.reference is None:
                return None
            return score_on_device(
                backend, session, variant, compute_unit, context, context.spec.quality, outputs_dir
            )

        hooks["edgeops_evaluate_on_device"] = edgeops_evaluate_on_device

    if _overrides(backend, "unfit"):

        @hookimpl
        def edgeops_variant_unfit(variant: Variant, profile: DeviceProfile) -> str | None:
            return backend.unfit(variant, profile) if variant.format == fmt else None

        hooks["edgeops_variant_unfit"] = edgeops_variant_unfit

    if _overrides(backend, "compute_units"):

        @hookimpl
        def edgeops_compute_units() -> list[ComputeUnit]:
            return backend.compute_units()

        hooks["edgeops_compute_units"] = edgeops_compute_units

    if _overrides(backend, "predict"):

        @hookimpl
        def edgeops_predict(
            profile: DeviceProfile, variant: Variant, compute_unit: str
        ) -> Measurement | None:
            # A profile that does not run the format gets no estimate of it either.
            if variant.format != fmt or variant.status != "ok" or fmt not in profile.formats:
                return None
            return backend.predict(profile, variant, compute_unit)

        hooks["edgeops_predict"] = edgeops_predict
    return hooks


def _measure_hook(backend: Backend) -> dict[str, Any]:
    """Its own measuring route (``measure``), then the probe with its runner, if it has either."""
    fmt = backend.format
    hooks: dict[str, Any] = {}
    runner = backend.probe_runner()
    own = _overrides(backend, "measure")
    if runner is not None or own:
        # trylast with the probe alone, as the core probe: a transport with a better tool
        # answers first. A backend's own route goes before the probe.
        @hookimpl(trylast=not own)
        def edgeops_measure(
            session: Any, variant: Variant, compute_unit: str, settings: MeasureSettings
        ) -> Measurement | None:
            if variant.format != fmt or variant.path is None:
                return None
            measured = backend.measure(session, variant, compute_unit, settings) if own else None
            if measured is not None or runner is None or session.python is None:
                return measured
            if compute_unit not in runner.compute_units:
                return None
            from edgeops.devices.probe_measure import measure_with_probe

            def build(remote_model: str) -> str:
                return backend.build_on_device(session, variant, remote_model, compute_unit)

            return measure_with_probe(
                session, variant, compute_unit, settings, runner=runner.path, build=build
            )

        hooks["edgeops_measure"] = edgeops_measure
    return hooks
