"""Core AI backend: ``.aimodel`` conversion with coreai-torch, coreai-opt recipes, host
quality from the Core AI runtime itself, predictions from chip facts, and measurement on
a Mac host up to the macOS boundary.

Core AI (iOS 27 / macOS 27) is the successor of Core ML; unlike Core ML, its runtime
ships inside the coreai-core wheel for Linux, so a variant's quality here is computed
by running the variant, not estimated.
"""

from __future__ import annotations

import time
from pathlib import Path

from edgeops import QuantizedLayer
from edgeops.plugin import (
    Artifact,
    Backend,
    BuildContext,
    ComputeUnit,
    DeviceProfile,
    Measurement,
    MeasureSettings,
    ModelSpec,
    Quality,
    Recipe,
    RecipeBook,
    Session,
    Variant,
    compare_with_reference,
    variant_from,
)
from edgeops_torch_route import torch_sources

from . import convert, recipes
from .sdk import TOOLS

FORMAT = recipes.FORMAT


# Core AI specializes a model for a preferred compute unit (SpecializationOptions:
# cpu_only, or a preferred ComputeUnitKind gpu / neural_engine; coreai/runtime); the
# units keep Core ML's names so a profile lists one set for both formats. Declared
# here too, identically, so Core AI works without the Core ML backend installed.
COMPUTE_UNITS = {
    "cpu_only": ((), 0),
    "cpu_and_gpu": (("gpu",), 1),
    "cpu_and_ne": (("ane",), 2),
    "all": (("ane",), 2),
}


class CoreAIBackend(Backend):
    format = FORMAT
    tools = TOOLS

    def compute_units(self) -> list[ComputeUnit]:
        return [
            ComputeUnit(name=name, requires=requires, rarity=rarity)
            for name, (requires, rarity) in COMPUTE_UNITS.items()
        ]

    def conversion_inputs(self, spec: ModelSpec) -> list[str]:
        return torch_sources.formats_needed_first(spec)

    def convert(self, context: BuildContext, workdir: Path) -> Artifact | None:
        """A factory or an ONNX graph exported with ``torch.export`` and saved as ``.aimodel``."""
        source = torch_sources.convertible_spec(context.spec, list(context.artifacts), workdir)
        if source is None:
            return None
        from . import work

        # Without inputs from the ONNX backend, convert.load_module reads the graph's own.
        net, inputs = convert.fresh_module(source)
        outputs = convert.output_names(convert.output_count(net, inputs))
        out = workdir / convert.ASSET_NAME
        started = time.perf_counter()
        asset = convert.to_asset(net, inputs, outputs, out)
        macs, largest = torch_sources.count_work(net, inputs)
        params = sum(p.numel() for p in net.parameters())
        weight_elements = work.weight_elements(net)
        convert.BUILD_INFO.write(
            workdir,
            {
                "outputs": list(outputs),
                "params": params,
                "weight_elements": weight_elements,
                # The activation part of a predicted peak memory (predict.py).
                "largest_layer_elements": largest,
                "storage_types": asset.summary().storage_types,
                "convert_s": round(time.perf_counter() - started, 3),
            },
        )
        return Artifact(
            format=FORMAT,
            path=out,
            inputs=inputs,
            output_names=outputs,
            params=params,
            macs=macs,
        )

    def recipes(self) -> RecipeBook:
        """Every coreai-opt recipe; all of them need OS 27. ``[[sweep]]`` tables may cross
        ``coreai:quantize`` (weights, computing in fp16) and ``coreai:w8a8`` (weights and
        activations) with ``keep_float``."""
        return RecipeBook(
            names=tuple(c.name for c in recipes.catalogue()),
            families=(recipes.QUANTIZE_FAMILY, recipes.W8A8_FAMILY),
        )

    def propose(self, artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:
        """The whole coreai-opt catalogue, for every profile that runs Core AI (OS 27)."""
        return recipes.propose(profiles)

    def optimize(
        self, artifact: Artifact, recipe: Recipe, context: BuildContext, workdir: Path
    ) -> Variant:
        assert artifact.path is not None
        from . import optimize

        out = workdir / convert.ASSET_NAME
        parent = artifact.path
        source = torch_sources.convertible_spec(context.spec, list(context.artifacts))
        convert.BUILD_INFO.write_variant(
            workdir,
            parent,
            recipe.name,
            lambda: optimize.make_variant(parent, recipe, out, source, context.samples),
        )
        # The modules whose weights are int8: the layers a keep_float = "auto" search may
        # keep in float (compress.quantized_modules).
        layers = convert.BUILD_INFO.read(out).get("quantized_layers", [])
        return variant_from(
            artifact,
            recipe,
            out,
            quantized_layers=tuple(QuantizedLayer(name=n, op=o) for n, o in layers),
        )

    def evaluate(
        self, variant: Variant, context: BuildContext, outputs_dir: Path
    ) -> Quality | None:
        assert variant.path and context.samples and context.reference
        from .runtime import run_asset

        outputs = run_asset(variant.path, variant.inputs, variant.output_names, context.samples)
        # The whole spec: its labels and user metric are scored too, and the outputs kept.
        return compare_with_reference(
            context.spec, context.reference, outputs, where="host", keep=outputs_dir
        )

    def estimate(self, artifact: Artifact, recipe: Recipe, context: BuildContext) -> Quality | None:
        """coreai-opt's prepared (fake-quantized) module for ``recipe``, run by torch on the
        run's samples: no export, no conversion, no Core AI runtime (optimize.estimate_outputs).
        None for a recipe without a quantizing step. Labelled ``host-estimate``: a keep_float
        search ranks layers by it, and scores every variant it keeps with ``evaluate``."""
        if context.samples is None or context.reference is None:
            return None
        from . import optimize

        source = torch_sources.convertible_spec(context.spec, list(context.artifacts))
        outputs = optimize.estimate_outputs(recipe, source, context.samples)
        if outputs is None:
            return None
        return compare_with_reference(
            context.spec, context.reference, outputs, where="host-estimate"
        )

    def predict(
        self, profile: DeviceProfile, variant: Variant, compute_unit: str
    ) -> Measurement | None:
        from . import predict

        return predict.predict(profile, variant, compute_unit)

    def measure(
        self, session: Session, variant: Variant, compute_unit: str, settings: MeasureSettings
    ) -> Measurement | None:
        """A Core AI variant on a Mac host (mac_probe.py), or why not on its tethered iPhone."""
        from . import mac

        if session.device.transport != mac.MAC_HOST:
            return None
        return mac.measure(session, variant, compute_unit, settings)


# The entry point names this module; the core registers its backend, routed by format.
BACKEND = CoreAIBackend
