"""A Core AI variant: the source module, compressed by the recipe's steps, converted, checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeops.plugin import ModelSpec, Recipe, StageError
from edgeops_torch_route import torch_sources

from . import compress, convert
from .steps import STEP_TYPES


def make_variant(
    base_asset: Path, recipe: Recipe, out: Path, spec: ModelSpec | None
) -> dict[str, Any]:
    """Write the variant's ``.aimodel`` to ``out``; return the facts worth keeping about it.

    ``spec`` is the one the base was converted from (the run's, from its context).

    Facts: the sparsity the pruner reached, the asset's stored constants by type, and
    its bits per weight, which must fall in the range the steps imply.
    """
    try:
        steps = recipe.typed_steps(*STEP_TYPES)
    except ValueError as exc:
        raise StageError(" ".join(str(exc).split())[:300]) from exc
    if spec is None:
        raise StageError(f"{recipe.name}: Core AI converts only a factory or an ONNX source")
    info = convert.BUILD_INFO.read(base_asset)
    net, inputs = convert.fresh_module(spec)
    compressed = compress.apply(net, steps, torch_sources.example_args(inputs))
    asset = convert.to_asset(
        compressed.module, inputs, tuple(info["outputs"]), out, fp16=compressed.fp16
    )
    storage = [tuple(t) for t in asset.summary().storage_types]
    base_bpw = compress.bits_per_weight(info["storage_types"], int(info["params"]))
    # The modules kept in float (keep_float) are not expected in the compressed storage.
    compressed_elements = int(info["weight_elements"]) - compressed.float_weight_elements
    checked = compress.check_storage(
        recipe.name, steps, storage, compressed_elements, int(info["params"]), base_bpw
    )
    return {
        **compressed.facts,
        **checked,
        "fp16": compressed.fp16,
        "storage_types": storage,
        "quantized_layers": compressed.quantized_layers,
    }
