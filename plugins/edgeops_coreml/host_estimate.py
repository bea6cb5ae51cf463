"""Host-side quality of a Core ML variant, without macOS: its weights, run by torch.

coremltools cannot predict on Linux. The variant's compressed weights are read
back from its .mlpackage (``decompress_weights``) and put into the source torch
module with batch norms folded (convert.folded_torch_source), which then runs on
the samples. A W8A8 variant runs its calibrated fake-quantized torch module
instead. Both check weights (and W8A8's activation grid), not Core ML's fp16
arithmetic, so the result is labelled ``host-estimate`` (conversion-notes.md:
the two routes agree to 69-77 dB, within fp16 rounding).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from edgeops.plugin import (
    ModelSpec,
    Quality,
    Recipe,
    ReferenceOutputs,
    SampleSet,
    StageError,
    Variant,
    compare_with_reference,
    quiet,
    sample_feeds,
)
from edgeops_torch_route import torch_sources

from . import convert
from .sdk import NOISY_LOGGERS, coremltools
from .steps import W8A8

# What coremltools appends to a torch parameter's name when it casts or compresses it.
_SUFFIXES = re.compile(r"(_to_fp16|_palettized|_quantized|_sparsified|_decompressed|_\d+)+$")


def decompressed_weights(package: Path) -> dict[str, Any]:
    """Every float weight of the variant, decompressed to a dense fp32 array, by const name."""
    import numpy as np

    opt = coremltools().optimize.coreml
    with quiet(*NOISY_LOGGERS):
        dense = opt.get_weights_metadata(
            opt.decompress_weights(convert.load(package)), weight_threshold=0
        )
    return {
        name: np.asarray(meta.val, dtype=np.float32)
        for name, meta in dense.items()
        if np.issubdtype(meta.val.dtype, np.floating)
    }


def const_stem(torch_key: str) -> str:
    """The name coremltools gives a torch parameter's const, before its suffixes.

    "up1.fuse.0.weight" becomes "up1_fuse_0_weight"; a name that would start with a
    digit ("0.weight" in an nn.Sequential) gets coremltools' "op_" prefix.
    """
    stem = re.sub(r"\W", "_", torch_key)
    return f"op_{stem}" if stem[:1].isdigit() else stem


def with_variant_weights(net: Any, package: Path) -> tuple[Any, dict[str, str]]:
    """A copy of ``net`` holding the variant's weights; and which const replaced which parameter."""
    import torch

    state = copy.deepcopy(net.state_dict())
    by_stem = {const_stem(k): k for k in state}
    replaced = {}
    for const, value in decompressed_weights(package).items():
        key = by_stem.get(_SUFFIXES.sub("", const))
        if key is None or tuple(state[key].shape) != value.shape:
            continue
        state[key] = torch.from_numpy(value).to(state[key].dtype)
        replaced[key] = const
    if not replaced:
        raise StageError(
            f"none of {package.name}'s weights match the torch source's parameters; "
            "cannot estimate its quality on this host"
        )
    estimate = copy.deepcopy(net)
    estimate.load_state_dict(state)
    return estimate.eval(), replaced


def source_spec(variant: Variant, spec: ModelSpec, source: ModelSpec | None = None) -> ModelSpec:
    """The spec the variant was converted from, inputs included: ``source`` (the
    plugin's, from the run's context), else the run's spec with the variant's inputs.

    A bare ``.onnx`` run spec has no ``[[model.inputs]]``: conversion took them from
    the ONNX backend's artifact (torch_sources.convertible_spec). Reloading the
    source from the run spec gave a module called with no inputs, and every Core
    ML variant failed with "forward() missing ... 'input_1'".
    """
    if source is not None:
        return source
    fallback = torch_sources.absolute_source(spec)
    if not fallback.inputs and variant.inputs:
        fallback = fallback.model_copy(update={"inputs": variant.inputs})
    return fallback


def estimate_net(
    variant: Variant, spec: ModelSpec, samples: SampleSet, source: ModelSpec | None = None
) -> Any:
    assert variant.path is not None
    # The base (no recipe) is estimated too: its fp16 weights are the float reference
    # a keep_float = "auto" search measures drops from.
    w8a8 = variant.recipe.step_of(W8A8) if variant.recipe is not None else None
    if w8a8 is not None:
        from .activations import calibrated_torch

        # Its float_layers: the layers the variant left unquantized, left so here too. A
        # keep_float = "auto" variant carries the auto recipe; its file was made with the
        # layers the search asked for (scoring the recipe's own, none, gave full int8's).
        kept = variant.kept_float.asked if variant.kept_float else w8a8.float_layers
        return calibrated_torch(source_spec(variant, spec, source), samples, kept)[0]
    net, _ = convert.folded_torch_source(source_spec(variant, spec, source))
    return with_variant_weights(net, variant.path)[0]


def evaluate(
    variant: Variant,
    reference: ReferenceOutputs,
    samples: SampleSet,
    spec: ModelSpec,
    source: ModelSpec | None = None,
) -> Quality:
    net = estimate_net(variant, spec, samples, source)
    return scored(net, source_spec(variant, spec, source), reference, samples, spec)


def estimate_w8a8(
    recipe: Recipe,
    reference: ReferenceOutputs,
    samples: SampleSet,
    spec: ModelSpec,
    source: ModelSpec,
) -> Quality | None:
    """What ``evaluate`` would give the W8A8 variant of ``recipe``, without making it: the
    same calibrated fake-quantized module, minus tracing and converting to an mlprogram
    (``Backend.estimate``). None for a recipe that is not W8A8 (its weights are read
    back from the file, so there is nothing cheaper than making it)."""
    w8a8 = recipe.step_of(W8A8)
    if w8a8 is None:
        return None
    from .activations import calibrated_torch

    net = calibrated_torch(source, samples, w8a8.float_layers)[0]
    return scored(net, source, reference, samples, spec)


def scored(
    net: Any, source: ModelSpec, reference: ReferenceOutputs, samples: SampleSet, spec: ModelSpec
) -> Quality:
    """``net`` run on every sample, compared with the reference (``host-estimate``)."""
    import torch

    _, inputs = convert.cached_torch_source(source)
    outputs = []
    with torch.no_grad():
        for feed in sample_feeds(samples):
            result = net(*[torch.from_numpy(feed[i.name]) for i in inputs])
            flat = result if isinstance(result, (tuple, list)) else (result,)
            outputs.append([t.detach().float().numpy() for t in flat])
    return compare_with_reference(spec, reference, outputs, where="host-estimate")
