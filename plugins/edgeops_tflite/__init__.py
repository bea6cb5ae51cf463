"""TFLite backend: Keras, SavedModel, ONNX, PyTorch and .tflite sources, five recipes, host quality.

TensorFlow is imported only inside hook bodies (4-6 s, conversion-notes.md), so
loading the plugin costs nothing; quality runs on ai-edge-litert's interpreter.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

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
    StageError,
    Variant,
    compare_with_reference,
    inside,
    sample_feeds,
    sha256_file,
    write_bytes,
)

from . import convert, recipes, running, work

# Distributions whose versions change what this plugin makes: part of every cache key.
EDGEOPS_TOOLS = ("tensorflow", "keras", "tf-keras", "ai-edge-litert", "onnx2tf", "onnxsim")
# The module this backend needs at run time; `edgeops plugins` says whether it imports.
EDGEOPS_RUNTIME = "ai_edge_litert"
FORMAT = recipes.FORMAT


@hookimpl
def edgeops_conversion_inputs(spec: ModelSpec, target: str) -> list[str]:
    return ["onnx"] if target == FORMAT and convert.needs_onnx(spec) else []


@hookimpl
def edgeops_convert(
    spec: ModelSpec, target: str, workdir: Path, artifacts: list[Artifact]
) -> Artifact | None:
    if target != FORMAT:
        return None
    artifact = convert.convert(spec, workdir, artifacts)
    return _with_work(artifact) if artifact is not None else None


def _with_work(artifact: Artifact) -> Artifact:
    assert artifact.path is not None
    macs, params = work.count_work(artifact.path)
    return artifact.model_copy(update={"macs": macs, "params": params})


@hookimpl
def edgeops_reference(
    spec: ModelSpec, samples: SampleSet, workdir: Path
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
        outputs = [convert.run_keras(keras_model, inputs, feed) for feed in sample_feeds(samples)]
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


@hookimpl
def edgeops_recipes(artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:
    if (
        artifact.format != FORMAT
        or artifact.path is None
        or not any(FORMAT in p.formats for p in profiles)
    ):
        return []
    return list(recipes.recipes_for(artifact.path))


@hookimpl
def edgeops_recipe_families() -> list[RecipeFamily]:
    return [RecipeFamily(name="quantize", format=FORMAT, steps=(recipes.Quantize,))]


@hookimpl
def edgeops_recipe_catalog() -> list[str]:
    return [r.id for r in (*recipes.RECIPES, recipes.AS_IS)]


@hookimpl
def edgeops_optimize(
    artifact: Artifact, recipe: Recipe, workdir: Path, samples: SampleSet
) -> Variant | None:
    if recipe.format != FORMAT or artifact.path is None:
        return None
    out = inside(workdir, f"{recipe.name}.tflite")
    recipes.apply(recipe, artifact.path, out, samples)
    return _with_work(
        artifact.model_copy(
            update={
                "id": "",
                "recipe": recipe,
                "path": out,
                "parent": artifact.id,
                "quality": None,
                "quantized_layers": recipes.quantized_layers(recipe, out),
            }
        )  # fmt: skip
    )


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
    outputs = running.run_on_samples(variant.path, samples)
    quality = compare_with_reference(spec, reference, outputs, keep=outputs_dir)
    floor = recipes.MISCONVERSION_SNR_DB.get(variant.recipe.name if variant.recipe else "fp32")
    snr = quality.metrics["snr_db"]
    if floor is not None and snr < floor:
        # A float variant this far from the reference was converted wrongly; it must
        # not count as a variant that merely lost some quality.
        raise StageError(
            f"{variant.name} disagrees with the {reference.framework} reference (SNR {snr:.1f} dB, "
            f"a float conversion gives ≥ {floor:g} dB): a silent mis-conversion; "
            "convert through another route"
        )
    return quality
