"""A Core AI variant: the source module, compressed by the recipe's steps, converted, checked;
and its host estimate: the same module left fake-quantized, run by torch, not exported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeops.plugin import ModelSpec, Recipe, SampleSet, StageError, quiet, sample_feeds
from edgeops_torch_route import torch_sources

from . import compress, convert
from .sdk import NOISY_LOGGERS
from .steps import STEP_TYPES, W8A8, Quantize


def _steps(recipe: Recipe) -> list[Any]:
    try:
        return recipe.typed_steps(*STEP_TYPES)
    except ValueError as exc:
        raise StageError(" ".join(str(exc).split())[:300]) from exc


def _sample_args(samples: SampleSet | None, inputs: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Each sample as torch arguments in the inputs' order (W8A8's calibration set)."""
    import torch

    if samples is None:
        return []
    return [tuple(torch.from_numpy(feed[i.name]) for i in inputs) for feed in sample_feeds(samples)]


def make_variant(
    base_asset: Path,
    recipe: Recipe,
    out: Path,
    spec: ModelSpec | None,
    samples: SampleSet | None = None,
) -> dict[str, Any]:
    """Write the variant's ``.aimodel`` to ``out``; return the facts worth keeping about it.

    ``spec`` is the one the base was converted from (the run's, from its context);
    ``samples`` the run's, which a ``W8A8`` step calibrates on.

    Facts: the sparsity the pruner reached, the asset's stored constants by type, and
    its bits per weight, which must fall in the range the steps imply.
    """
    steps = _steps(recipe)
    if spec is None:
        raise StageError(f"{recipe.name}: Core AI converts only a factory or an ONNX source")
    info = convert.BUILD_INFO.read(base_asset)
    net, inputs = convert.fresh_module(spec)
    calibration = _sample_args(samples, inputs)
    # W8A8 exports with a real sample: its graph is traced on representative data.
    example = calibration[0] if calibration else torch_sources.example_args(inputs)
    compressed = compress.apply(net, steps, example, calibration)
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


def estimate_outputs(
    recipe: Recipe, spec: ModelSpec | None, samples: SampleSet
) -> list[list[Any]] | None:
    """The outputs on every sample of coreai-opt's prepared (fake-quantized) module for
    ``recipe``, run by torch in fp32, without export or conversion; None for a recipe
    with no quantizing step (the estimate is what a keep_float search ranks layers by).

    What it leaves out: the asset's fp16 compute (``Float16``) and Core AI's own kernels;
    fake quantization computes the same integer grid in fp32.
    """
    import numpy as np
    import torch

    steps = _steps(recipe)
    if spec is None or not any(isinstance(s, (Quantize, W8A8)) for s in steps):
        return None
    net, inputs = convert.fresh_module(spec)
    calibration = _sample_args(samples, inputs)
    if not calibration:
        return None
    prepared = compress.apply(net, steps, calibration[0], calibration, finalize=False).module
    outputs = []
    with torch.no_grad(), quiet(*NOISY_LOGGERS):
        for args in calibration:
            result = prepared(*args)
            parts = result if isinstance(result, (tuple, list)) else (result,)
            outputs.append([np.asarray(p.detach().numpy(), dtype=np.float32) for p in parts])
    return outputs
