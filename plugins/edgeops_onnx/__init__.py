"""ONNX Runtime backend: ONNX and PyTorch sources, fp32/fp16/int8 recipes, host quality."""

from __future__ import annotations

import io
from pathlib import Path

from edgeops.plugin import (
    Artifact,
    Backend,
    BuildContext,
    ModelSpec,
    Quality,
    Recipe,
    RecipeBook,
    RecipeFamily,
    ReferenceOutputs,
    SampleSet,
    Session,
    Variant,
    compare_with_reference,
    inside,
    sha256_file,
    write_bytes,
)
from edgeops_torch_route.torch_sources import factory_module

from . import convert, recipes, running, work

FORMAT = "onnx"


class OnnxBackend(Backend):
    format = FORMAT
    tools = ("onnx", "onnxruntime", "torch", "onnxscript")
    runtime = "onnxruntime"

    def convert(self, context: BuildContext, workdir: Path) -> Artifact | None:
        spec = context.spec
        out = workdir / "model.onnx"
        if spec.is_factory:
            model = convert.export_factory(spec, out)
        elif spec.source_path.suffix == ".onnx":
            model = convert.copy_onnx(spec, out)
        else:
            return None
        return Artifact(
            format=FORMAT,
            path=out,
            inputs=spec.inputs or convert.graph_inputs(model),
            output_names=convert.graph_outputs(model),
            params=convert.parameter_count(model),
            macs=work.count_macs(model),
        )

    def reference(
        self, spec: ModelSpec, samples: SampleSet, workdir: Path
    ) -> ReferenceOutputs | None:
        if spec.is_factory:
            outputs = running.run_torch(factory_module(spec), spec, samples)
            names, framework = tuple(f"output_{k}" for k in range(len(outputs[0]))), "torch"
        elif spec.source_path.suffix == ".onnx":
            # At the spec's input shapes: a resolution sweep rebinds the source first.
            source = workdir / "source.onnx"
            convert.copy_onnx(spec, source)
            names, outputs = running.run_onnx(source, samples)
            framework = "onnxruntime"
        else:
            return None
        import numpy as np

        buffer = io.BytesIO()
        np.savez(
            buffer, **{f"{k}/{i}": a for i, row in enumerate(outputs) for k, a in enumerate(row)}
        )
        path = workdir / "reference.npz"
        write_bytes(path, buffer.getvalue())
        return ReferenceOutputs(
            path=path, sha256=sha256_file(path), framework=framework, output_names=names
        )

    def recipes(self) -> RecipeBook:
        return RecipeBook(
            recipes=tuple(recipes.RECIPES),
            families=(
                RecipeFamily(name="float16", format=FORMAT, steps=(recipes.Float16,)),
                RecipeFamily(
                    name="quantize_dynamic", format=FORMAT, steps=(recipes.QuantizeDynamic,)
                ),
                RecipeFamily(
                    name="quantize_static", format=FORMAT, steps=(recipes.QuantizeStatic,)
                ),
            ),
        )

    def optimize(
        self, artifact: Artifact, recipe: Recipe, context: BuildContext, workdir: Path
    ) -> Variant:
        assert artifact.path is not None  # samples: None for a recipe that needs none
        out = inside(workdir, f"{recipe.name}.onnx")
        recipes.apply(recipe, artifact.path, out, context.samples)
        import onnx

        # Counted again from the variant's own file: a recipe that changed the graph shows it.
        model = onnx.load(str(out), load_external_data=False)
        return artifact.model_copy(
            update={
                "id": "", "recipe": recipe, "path": out, "parent": artifact.id, "quality": None,
                "params": convert.parameter_count(model), "macs": work.count_macs(model),
                "quantized_layers": recipes.quantized_layers(recipe, out),
            }
        )  # fmt: skip

    def evaluate(
        self, variant: Variant, context: BuildContext, outputs_dir: Path
    ) -> Quality | None:
        assert variant.path and context.samples and context.reference
        _, outputs = running.run_onnx(variant.path, context.samples)
        return compare_with_reference(context.spec, context.reference, outputs, keep=outputs_dir)

    def evaluate_on_device(
        self,
        session: Session,
        variant: Variant,
        remote_model: str,
        context: BuildContext,
        compute_unit: str = "cpu",
        outputs_dir: Path | None = None,
    ) -> Quality | None:
        # The probe's onnxruntime returns outputs in the model's order and layout, which
        # is the reference's for an ONNX variant: no mapping between them.
        if session.python is None or context.samples is None or context.reference is None:
            return None
        outputs = self.probe_outputs(session, remote_model, compute_unit, context)
        return compare_with_reference(
            context.spec, context.reference, outputs, where="device", keep=outputs_dir
        )


# The entry point names this module; the core registers its backend, routed by format.
BACKEND = OnnxBackend
