"""TFLite backend: Keras, SavedModel, ONNX, PyTorch (litert-torch, else ONNX) and .tflite sources.

TensorFlow is imported only inside hook bodies (4-6 s, conversion-notes.md), so
loading the plugin costs nothing; quality runs on ai-edge-litert's interpreter.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from edgeops.plugin import (
    Artifact,
    Backend,
    BuildContext,
    DeviceProfile,
    ModelSpec,
    Quality,
    Recipe,
    RecipeBook,
    RecipeFamily,
    ReferenceOutputs,
    SampleSet,
    Session,
    StageError,
    Variant,
    compare_with_reference,
    inside,
    sample_feeds,
    sha256_file,
    write_bytes,
)

from . import convert, device_outputs, npu, recipes, running, work

FORMAT = recipes.FORMAT


class TfliteBackend(Backend):
    format = FORMAT
    tools = (
        "tensorflow", "keras", "tf-keras", "ai-edge-litert", "onnx2tf", "onnxsim",
        "litert-torch", "ai-edge-quantizer",
    )  # fmt: skip
    runtime = "ai_edge_litert"

    def conversion_inputs(self, spec: ModelSpec) -> list[str]:
        return ["onnx"] if convert.needs_onnx(spec) else []

    def convert(self, context: BuildContext, workdir: Path) -> Artifact | None:
        artifact = convert.convert(context.spec, workdir, list(context.artifacts))
        return _with_work(artifact) if artifact is not None else None

    def reference(
        self, spec: ModelSpec, samples: SampleSet, workdir: Path
    ) -> ReferenceOutputs | None:
        source = spec.source_path
        if spec.is_factory:
            return None
        if source.suffix == ".tflite":
            convert.check_flatbuffer(source)
            outputs = running.run_on_samples(source, samples)
            names, framework = running.TfliteModel(source).output_names, "ai-edge-litert"
        elif source.suffix == ".keras":
            keras_model = convert.load_keras(source)
            inputs = convert.keras_inputs(keras_model)
            outputs = [
                convert.run_keras(keras_model, inputs, feed) for feed in sample_feeds(samples)
            ]
            names, framework = tuple(f"output_{k}" for k in range(len(outputs[0]))), "keras"
        elif source.is_dir() and (source / "saved_model.pb").is_file():
            signature = convert.load_signature(source)
            outputs = [convert.run_signature(signature, feed) for feed in sample_feeds(samples)]
            names = tuple(sorted(signature.structured_outputs, key=running.natural_key))
            framework = "tensorflow"
        else:
            return None
        import numpy as np

        buffer = io.BytesIO()
        arrays: dict[str, Any] = {
            f"{k}/{i}": a for i, row in enumerate(outputs) for k, a in enumerate(row)
        }
        np.savez(buffer, **arrays)
        path = workdir / "reference.npz"
        write_bytes(path, buffer.getvalue())
        return ReferenceOutputs(
            path=path, sha256=sha256_file(path), framework=framework, output_names=names
        )

    def recipes(self) -> RecipeBook:
        return RecipeBook(
            recipes=(*recipes.RECIPES, recipes.AS_IS),
            names=npu.RECIPE_NAMES,
            families=(RecipeFamily(name="quantize", format=FORMAT, steps=(recipes.Quantize,)),),
        )

    def propose(self, artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:
        if artifact.path is None:
            return []
        whole = list(recipes.recipes_for(artifact.path))
        if recipes.INT8_FULL not in whole:
            return whole  # an NPU compiler takes only the full-integer model
        integer_steps = tuple(recipes.INT8_FULL.typed_steps(recipes.Quantize))
        socs = sorted({s for p in profiles if (s := npu.npu_soc(p)) is not None})
        return whole + [npu.recipe_for(soc, integer_steps) for soc in socs]

    def unfit(self, variant: Variant, profile: DeviceProfile) -> str | None:
        return npu.unfit(variant, profile)

    def optimize(
        self, artifact: Artifact, recipe: Recipe, context: BuildContext, workdir: Path
    ) -> Variant:
        assert artifact.path is not None  # samples: None for a recipe that needs none
        out = inside(workdir, f"{recipe.name}.tflite")
        compile_step = recipe.step_of(npu.NpuCompile)
        if compile_step is None:
            recipes.apply(recipe, artifact.path, out, context.samples)
        else:
            integer = inside(workdir, f"{recipe.name}.int8.tflite")
            recipes.apply(recipes.INT8_FULL, artifact.path, integer, context.samples)
            npu.compile_for_soc(integer, out, compile_step)
        return _with_work(
            artifact.model_copy(
                update={
                    "id": "", "recipe": recipe, "path": out, "parent": artifact.id, "quality": None,
                    "quantized_layers": recipes.quantized_layers(recipe, out),
                }
            )
        )  # fmt: skip

    def evaluate(
        self, variant: Variant, context: BuildContext, outputs_dir: Path
    ) -> Quality | None:
        assert variant.path and context.samples and context.reference
        if variant.recipe is not None and variant.recipe.step_of(npu.NpuCompile) is not None:
            # The compiled file holds the vendor's NPU bytecode, which only that SoC's
            # dispatch library runs: its quality is measured on the phone, not here.
            return None
        reference = context.reference
        outputs = running.run_on_samples(variant.path, context.samples)
        quality = compare_with_reference(context.spec, reference, outputs, keep=outputs_dir)
        floor = recipes.MISCONVERSION_SNR_DB.get(variant.recipe.name if variant.recipe else "fp32")
        snr = quality.metrics["snr_db"]
        if floor is not None and snr < floor:
            # A float variant this far from the reference was converted wrongly; it must
            # not count as a variant that merely lost some quality.
            raise StageError(
                f"{variant.name} disagrees with the {reference.framework} reference "
                f"(SNR {snr:.1f} dB, a float conversion gives ≥ {floor:g} dB): a silent "
                "mis-conversion; convert through another route"
            )
        return quality

    def evaluate_on_device(
        self,
        session: Session,
        variant: Variant,
        remote_model: str,
        context: BuildContext,
        compute_unit: str = "cpu",
        outputs_dir: Path | None = None,
    ) -> Quality | None:
        # A board with Python runs the probe's interpreter; a phone has none, and its
        # session runs the model itself on raw bytes (adb: LiteRT's benchmark_model). The
        # NPU's compiled variants have no device outputs yet.
        run = getattr(session, "tensor_outputs", None)
        if compute_unit == "npu" or (session.python is None and run is None):
            return None
        if context.samples is None or context.reference is None or variant.path is None:
            return None
        settings = context.device_output_settings
        if session.python is not None:
            outputs = device_outputs.on_board(
                self, session, variant.path, remote_model, compute_unit, context
            )
        else:
            outputs = device_outputs.on_phone(
                run, variant.path, remote_model, compute_unit, context.samples, settings.samples,
                settings.timeout_s,
            )  # fmt: skip
        return compare_with_reference(
            context.spec, context.reference, outputs, where="device", keep=outputs_dir
        )


def _with_work(artifact: Artifact) -> Artifact:
    assert artifact.path is not None
    macs, params = work.count_work(artifact.path)
    return artifact.model_copy(update={"macs": macs, "params": params})


# The entry point names this module; the core registers its backend, routed by format.
BACKEND = TfliteBackend
