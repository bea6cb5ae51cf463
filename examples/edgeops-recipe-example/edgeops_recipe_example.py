"""An edgeops plugin in a handful of lines: the recipe "ort-optimized".

ONNX Runtime can save the graph it optimizes at load time (fused conv + activation,
folded constants), so a phone skips that work at every start.
"""

from pathlib import Path

from edgeops import Artifact, Recipe, Variant, hookimpl
from edgeops.plugin import variant_from

RECIPE = Recipe(
    name="ort-optimized", format="onnx", description="ORT extended graph optimizations, saved"
)
EDGEOPS_TOOLS = ("onnxruntime",)


@hookimpl
def edgeops_recipes(artifact: Artifact) -> list[Recipe]:
    return [RECIPE] if artifact.format == "onnx" else []


@hookimpl
def edgeops_recipe_catalog() -> list[str]:
    return [RECIPE.id]


@hookimpl
def edgeops_optimize(artifact: Artifact, recipe: Recipe, workdir: Path) -> Variant | None:
    # Only this plugin is asked for its own recipes (the pipeline routes by owner);
    # the check keeps the hook honest when called by hand.
    if recipe.id != RECIPE.id or artifact.path is None:
        return None
    import onnxruntime as ort

    out = workdir / "ort-optimized.onnx"
    options = ort.SessionOptions()
    # EXTENDED, not ALL: ALL adds layout changes specific to this machine's CPU.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(artifact.path), options, providers=["CPUExecutionProvider"])
    return variant_from(artifact, recipe, out)
