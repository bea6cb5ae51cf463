"""ONNX Runtime backend: ONNX and PyTorch sources, fp32/fp16/int8 recipes, host quality."""

from __future__ import annotations

import io
from pathlib import Path

from edgeops.hookspecs import hookimpl
from edgeops.plugin import (
    Artifact,
    DeviceProfile,
    ModelSpec,
    Quality,
    Recipe,
    RecipeFamily,
    ReferenceOutputs,
    SampleSet,
    Variant,
    compare_with_reference,
    inside,
    sha256_file,
    write_bytes,
)

from . import convert, recipes, running, work

# Distributions whose versions change what this plugin makes: part of every cache key.
EDGEOPS_TOOLS = ("onnx", "onnxruntime", "torch", "onnxscript")
# The module this backend needs at run time; `edgeops plugins` says whether it imports.
EDGEOPS_RUNTIME = "onnxruntime"
FORMAT = "onnx"


@hookimpl
def edgeops_convert(spec: ModelSpec, target: str, workdir: Path) -> Artifact | None:
    if target != FORMAT:
        return None
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


@hookimpl
def edgeops_reference(
    spec: ModelSpec, samples: SampleSet, workdir: Path
) -> ReferenceOutputs | None:
    if spec.is_factory:
        outputs = running.run_torch(convert.load_factory_module(spec), spec, samples)
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
    np.savez(buffer, **{f"{k}/{i}": a for i, row in enumerate(outputs) for k, a in enumerate(row)})
    path = workdir / "reference.npz"
    write_bytes(path, buffer.getvalue())
    return ReferenceOutputs(
        path=path, sha256=sha256_file(path), framework=framework, output_names=names
    )


@hookimpl
def edgeops_recipes(artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:
    if artifact.format != FORMAT or not any(FORMAT in p.formats for p in profiles):
        return []
    return list(recipes.RECIPES)


@hookimpl
def edgeops_recipe_families() -> list[RecipeFamily]:
    return [
        RecipeFamily(name="float16", format=FORMAT, steps=(recipes.Float16,)),
        RecipeFamily(name="quantize_dynamic", format=FORMAT, steps=(recipes.QuantizeDynamic,)),
        RecipeFamily(name="quantize_static", format=FORMAT, steps=(recipes.QuantizeStatic,)),
    ]


@hookimpl
def edgeops_recipe_catalog() -> list[str]:
    return [r.id for r in recipes.RECIPES]


@hookimpl
def edgeops_optimize(
    artifact: Artifact, recipe: Recipe, workdir: Path, samples: SampleSet
) -> Variant | None:
    if recipe.format != FORMAT or artifact.path is None:
        return None
    out = inside(workdir, f"{recipe.name}.onnx")
    recipes.apply(recipe, artifact.path, out, samples)
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


@hookimpl
def edgeops_evaluate(
    variant: Variant,
    reference: ReferenceOutputs,
    samples: SampleSet,
    spec: ModelSpec,
    outputs_dir: Path,
) -> Quality | None:
    if variant.format != FORMAT or variant.path is None:
        return None
    _, outputs = running.run_onnx(variant.path, samples)
    return compare_with_reference(spec, reference, outputs, keep=outputs_dir)
