"""One Core ML variant from the base artifact and a recipe (recipes.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeops.plugin import ModelSpec, Recipe, SampleSet, StageError, copy_file

from . import compress, convert
from .recipes import convert_params
from .steps import STEPS, W8A8


def make_variant(
    base: Path, recipe: Recipe, out: Path, samples: SampleSet, source: ModelSpec | None
) -> dict[str, Any]:
    """Write the variant's .mlpackage at ``out``; return facts for its build info.

    ``source`` is the spec the base was converted from (None for an .mlpackage source).
    """
    ios, precision = convert_params(recipe)
    steps = recipe.typed_steps(*STEPS)
    facts: dict[str, Any] = {"ios": ios, "compute_precision": precision}
    if steps and isinstance(steps[0], W8A8):
        from . import activations

        model, layers = activations.w8a8_mlprogram(
            _spec(source, recipe), ios, samples, steps[0].float_layers
        )
        convert.save(model, out)
        return facts | {"quantized_layers": layers}
    info = convert.BUILD_INFO.read(base)
    same_as_base = info.get("source") == "mlpackage" or (
        info.get("ios") == ios and info.get("compute_precision") == precision
    )
    if not steps and same_as_base:
        copy_file(base, out)
        return facts
    if same_as_base:
        model = convert.load(base)
    else:
        model = convert.mlprogram_from_source(_spec(source, recipe), ios, precision)
    try:
        compressed, reached = compress.apply_steps(model, steps)
    except StageError:
        raise
    except Exception as exc:
        text = " ".join(str(exc).split())[:300]
        raise StageError(f"{recipe.name}: {type(exc).__name__}: {text}") from exc
    convert.save(compressed, out)
    return facts | reached


def _spec(spec: ModelSpec | None, recipe: Recipe) -> ModelSpec:
    if spec is None:
        raise StageError(
            f"{recipe.name} needs the model's source to convert again (another target or "
            "precision, or torch-side quantization); an .mlpackage source has none"
        )
    return spec
