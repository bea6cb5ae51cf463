"""Core ML backend: mlprogram conversion, coremltools.optimize recipes, host-estimate quality,
predictions from chip facts, and measurement on a Mac host (and its tethered iPhones)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeops import QuantizedLayer
from edgeops.hookspecs import hookimpl
from edgeops.plugin import (
    Artifact,
    Backend,
    BuildContext,
    ComputeUnit,
    Device,
    DeviceProfile,
    Measurement,
    MeasureSettings,
    ModelError,
    ModelSpec,
    Quality,
    Recipe,
    RecipeBook,
    RecipeFamily,
    Session,
    Variant,
    compare_with_reference,
)
from edgeops_torch_route import torch_sources

from . import convert, recipes

MAC_HOST = "mac-host"
FORMAT = recipes.FORMAT


class CoreMLBackend(Backend):
    format = FORMAT
    # tf2onnx: a .tflite source reaches Core ML through its ONNX graph.
    tools = ("coremltools", "torch", "onnx", "onnx2torch", "tf2onnx", "scikit-learn", "numpy")
    runtime = "coremltools"

    def compute_units(self) -> list[ComputeUnit]:
        from .chips import COMPUTE_UNITS, UNIT_RARITY, UNIT_REQUIRES

        return [
            ComputeUnit(name=cu, requires=UNIT_REQUIRES[cu], rarity=UNIT_RARITY[cu])
            for cu in COMPUTE_UNITS
        ]

    def conversion_inputs(self, spec: ModelSpec) -> list[str]:
        return torch_sources.formats_needed_first(spec)

    def convert(self, context: BuildContext, workdir: Path) -> Artifact | None:
        """A factory or an ONNX graph traced and converted to an iOS 16 fp16 mlprogram, or an
        ``.mlpackage`` source copied as it is."""
        spec = context.spec
        out = workdir / convert.PACKAGE_NAME
        if spec.source_path.suffix == ".mlpackage":
            convert.copy_package(spec, out)
            inputs, outputs = convert.package_io(out)
            convert.BUILD_INFO.write(workdir, {"source": "mlpackage"})
            return Artifact(format=FORMAT, path=out, inputs=inputs, output_names=outputs)
        source = _source(context, workdir)
        if source is None:
            return None
        if source.source_path.suffix == ".onnx" and not source.inputs:
            raise ModelError(
                f"{source.source_path.name} reaches Core ML through the ONNX backend: install "
                "it (pip install 'edgeops[onnx]') or give [[model.inputs]] in edgeops.toml"
            )
        model = convert.mlprogram_from_source(source, convert.BASE_IOS, "float16")
        convert.save(model, out)
        net, inputs = convert.folded_torch_source(source)
        macs, largest_layer_elements = torch_sources.count_work(net, inputs)
        convert.BUILD_INFO.write(
            workdir,
            {
                "ios": convert.BASE_IOS,
                "compute_precision": "float16",
                # The activation part of a predicted peak memory (predict.py).
                "largest_layer_elements": largest_layer_elements,
            },
        )
        _, outputs = convert.package_io(out)
        return Artifact(
            format=FORMAT,
            path=out,
            inputs=inputs,
            output_names=outputs,
            params=sum(p.numel() for p in net.parameters()),
            macs=macs,
        )

    def recipes(self) -> RecipeBook:
        """Every coremltools.optimize recipe, whichever iOS it needs, made per profile by
        ``propose``; for [[sweep]] tables every coremltools.optimize.coreml option is a
        typed field."""
        from .steps import W8A8, LinearQuantize, Palettize, Prune

        families = {
            "palettize": (Palettize,),
            "linear_quantize": (LinearQuantize,),
            "prune": (Prune,),
            "prune-palettize": (Prune, Palettize),
            "prune-linear_quantize": (Prune, LinearQuantize),
            "w8a8": (W8A8,),
        }
        return RecipeBook(
            names=tuple(c.name for c in recipes.catalogue()),
            families=tuple(
                RecipeFamily(name=n, format=FORMAT, steps=s) for n, s in families.items()
            ),
        )

    def propose(self, artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:
        """coremltools.optimize recipes, each at the lowest iOS its profiles share; a recipe
        no profile's iOS or chip can use is not proposed (recipes.why_not)."""
        return recipes.propose(profiles)

    def unfit(self, variant: Variant, profile: DeviceProfile) -> str | None:
        """A deployment target newer than the profile's newest iOS cannot load there."""
        if variant.recipe is None:
            return None
        from .chips import newest_ios

        ios, _ = recipes.convert_params(variant.recipe)
        newest = newest_ios(profile)
        if newest is not None and ios > newest:
            return f"{variant.name} needs iOS {ios}; {profile.name} stops at iOS {newest}"
        return None

    def optimize(
        self, artifact: Artifact, recipe: Recipe, context: BuildContext, workdir: Path
    ) -> Variant:
        assert artifact.path is not None  # samples: None for a recipe that needs none
        from . import optimize

        out = workdir / convert.PACKAGE_NAME
        parent, samples, source = artifact.path, context.samples, _source(context)
        convert.BUILD_INFO.write_variant(
            workdir,
            parent,
            recipe.name,
            lambda: optimize.make_variant(parent, recipe, out, samples, source),
        )
        # The int8 weights, as the build recorded them from the compressed model (compress.py):
        # the layers a keep_float = "auto" search may keep in float.
        layers = convert.BUILD_INFO.read(out).get("quantized_layers", [])
        return artifact.model_copy(
            update={
                "id": "", "recipe": recipe, "path": out, "parent": artifact.id, "quality": None,
                "quantized_layers": tuple(QuantizedLayer(name=n, op=o) for n, o in layers),
            }
        )  # fmt: skip

    def evaluate(
        self, variant: Variant, context: BuildContext, outputs_dir: Path
    ) -> Quality | None:
        assert context.samples is not None and context.reference is not None
        if _source(context) is None:
            return None  # an .mlpackage source: no torch module to run its weights in
        from . import host_estimate

        return host_estimate.evaluate(
            variant, context.reference, context.samples, context.spec, _source(context)
        )

    def estimate(self, artifact: Artifact, recipe: Recipe, context: BuildContext) -> Quality | None:
        """W8A8's host estimate without the mlprogram: the calibrated fake-quantized torch
        module on the samples, what ``evaluate`` runs for a made W8A8 variant. None for
        the weight-only recipes (their estimate reads the file's own weights back)."""
        source = _source(context)
        if source is None or context.samples is None or context.reference is None:
            return None
        from . import host_estimate

        return host_estimate.estimate_w8a8(
            recipe, context.reference, context.samples, context.spec, source
        )

    def evaluate_on_device(
        self,
        session: Session,
        variant: Variant,
        remote_model: str,
        context: BuildContext,
        compute_unit: str = "cpu_only",
        outputs_dir: Path | None = None,
    ) -> Quality | None:
        """The outputs Core ML's ``predict`` returns on a Mac host (the probe's Core ML
        runner, macOS only), in the package's declared output order, which is the
        source's for a converted model. A tethered iPhone returns none: coremltools'
        benchmarker times, it hands back no outputs."""
        from .mac_host import is_tethered_iphone

        if session.device.transport != MAC_HOST or session.python is None:
            return None
        if is_tethered_iphone(session) or context.samples is None or context.reference is None:
            return None
        outputs = self.probe_outputs(session, remote_model, compute_unit, context)
        return compare_with_reference(
            context.spec, context.reference, outputs, where="device", keep=outputs_dir
        )

    def predict(
        self, profile: DeviceProfile, variant: Variant, compute_unit: str
    ) -> Measurement | None:
        from . import predict

        return predict.predict(profile, variant, compute_unit)

    # ----------------------------------------------------------------------- Mac host

    @hookimpl
    def edgeops_discover_devices(
        self, inventory: Path | None, connect: Callable[[Device], Session]
    ) -> list[Device]:
        """The iPhones tethered to the inventory's Macs that ask for it
        (``list_iphones = "true"``)."""
        if inventory is None:
            return []
        from edgeops.plugin import read_inventory

        from .mac_host import LIST_IPHONES_LABEL, tethered_devices

        found: list[Device] = []
        for mac in read_inventory(inventory):
            if mac.transport == MAC_HOST and mac.labels.get(LIST_IPHONES_LABEL) == "true":
                session = connect(mac)
                try:
                    found.extend(tethered_devices(mac, session))
                finally:
                    session.close()
        return found

    def measure(
        self, session: Session, variant: Variant, compute_unit: str, settings: MeasureSettings
    ) -> Measurement | None:
        """A Core ML variant on an iPhone tethered to a Mac host (coremltools' benchmarker).

        A Mac itself is measured by the core probe (its Core ML runner), so this
        answers only for a device with an ``iphone`` label.
        """
        from .mac_host import is_tethered_iphone

        if not is_tethered_iphone(session) or variant.path is None or session.python is None:
            return None
        from .benchmark_results import measurement_from_benchmark
        from .mac_host import benchmark_argv

        base = {
            "variant_id": variant.id,
            "device_id": session.device.id,
            "profile_id": session.device.profile_id,
            "compute_unit": compute_unit,
        }
        argv = benchmark_argv(session, session.push(variant.path), compute_unit, settings.min_runs)
        try:
            result = session.run(argv, timeout_s=settings.timeout_s)
        except TimeoutError:
            return Measurement(
                **base,
                status="timeout",
                error=f"iPhone benchmark ran over {settings.timeout_s:g} s",
            )
        return measurement_from_benchmark(result.stdout, base)


def _source(context: BuildContext, workdir: Path | None = None) -> ModelSpec | None:
    """The spec Core ML converts from, from the run's context (never saved beside the
    model): a factory, or the ONNX graph with the ONNX backend's inputs (a .tflite's
    made by tf2onnx into the conversion's ``workdir``); None for an ``.mlpackage``
    source or one it cannot convert."""
    if context.spec.source_path.suffix == ".mlpackage":
        return None
    return torch_sources.convertible_spec(context.spec, list(context.artifacts), workdir)


# The entry point names this module; the core registers its backend, routed by format.
BACKEND = CoreMLBackend
