"""The recipe steps applied to a torch module with coreai-opt, then checked on the result.

- ``Palettize``: ``KMeansPalettizer`` with a ``PalettizationSpec`` per weight
  (``n_bits``, ``PerTensorGranularity`` or ``PerGroupedChannelGranularity``);
  after a ``Prune`` the spec's ``sparsity_detection_threshold`` makes it joint, so
  the table is fitted on the kept weights and the zeros stay zero
  (coreai_opt/palettization/spec/spec.py).
- ``Quantize``: ``Quantizer`` with a symmetric int8/int4 ``QuantizationSpec``,
  per channel or per block, weights only (the ``QuantizerConfig.presets`` w8/w4 shapes);
  its ``float_layers`` are ``module_name_configs={name: None}``, and the modules it
  quantized (weights parametrized with a fake quantizer after ``prepare``) are
  recorded as ``quantized_layers`` for a ``keep_float = "auto"`` search.
- ``W8A8``: ``Quantizer`` in graph mode (``torch.export``) with int8 weights per
  channel and int8 activations per tensor (coreai-opt's default activation spec)
  on every op it annotates, calibrated on the run's samples
  (``Quantizer.calibration_mode``); its ``float_layers`` are ops of the exported
  graph (``cat_1``), ``ModuleQuantizerConfig(op_name_config={name: None})``, so an
  op that is no module (a ``torch.cat`` in ``forward``) can stay in float; the ops
  it annotated are recorded as ``quantized_layers``.
- ``Prune``: ``MagnitudePruner`` with ``PruningSpec(target_sparsity)``, unstructured.
- ``Float16``: ``cast_fp32_to_fp16`` on the exported program (convert.to_asset).

A compressor is finalized for torch (weights folded back, dense) when another
step follows, and for Core AI (custom ops ``lut_to_dense``, ``sparse_to_dense``,
dequantize) when it is the last, so the asset stores the compressed form. For a
host estimate (``finalize=False``) the last is left prepared: coreai-opt's fake
quantizers computing in torch what the asset will hold, with no export.

What a recipe reached is checked, not assumed (as the Core ML backend checks
pruning): the sparsity of the pruned weights in torch, and the bits per weight of
the saved asset from its own summary of stored constants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeops.plugin import StageError, StepConfig, quiet

from .sdk import NOISY_LOGGERS, coreai_opt, short
from .steps import W8A8, Float16, Palettize, Prune, Quantize

# Reached sparsity may fall short of the asked one only by rounding per tensor.
SPARSITY_TOLERANCE = 0.01
# Joint palettization: a weight with at least this share of exact zeros keeps them.
# Below any sparsity a Prune step asks for (they start at 0.25), above a dense tensor's.
JOINT_SPARSITY_THRESHOLD = 0.2
# A compressed storage type must hold at least this share of the conv and linear
# weights (the U-Net: 94-100%, see expected_storage); below it a compressor skipped most.
MIN_COVERAGE = 0.5
# Every compressing recipe must store fewer bits than this share of the fp32 asset's
# (the U-Net with fp32 values, measured: pruning 50% 61%, fp16 50%, 4-bit tables 22%).
MAX_SHARE_OF_BASE = 0.75
# Bits per stored element of each Core AI storage type (AIModelAssetSummary.storage_types).
_BITS = {"Bool": 1, "Float64": 64, "BFloat16": 16}


@dataclass
class Compressed:
    module: Any
    fp16: bool = False
    facts: dict[str, float] = field(default_factory=dict)
    # [module name, module type] of every module whose weight a Quantize step quantized.
    quantized_layers: list[list[str]] = field(default_factory=list)
    # Weights of the modules a Quantize step kept in float: not expected in Int8.
    float_weight_elements: int = 0


def apply(
    module: Any,
    steps: list[StepConfig],
    example: tuple[Any, ...],
    calibration: Sequence[tuple[Any, ...]] = (),
    finalize: bool = True,
) -> Compressed:
    """``module`` with every step applied, the last compressor finalized for Core AI, or,
    with ``finalize=False``, left prepared (fake-quantized) for a torch estimate.

    ``calibration``: the inputs a ``W8A8`` step calibrates its activation ranges on.
    """
    out = Compressed(module)
    compressors = [s for s in steps if not isinstance(s, Float16)]
    pruned = False
    for k, step in enumerate(compressors):
        last = k == len(compressors) - 1
        # The last compressor's prepared module is the estimate (no finalize at all).
        prepared_only = last and not finalize
        try:
            with quiet(*NOISY_LOGGERS):
                if isinstance(step, Prune):
                    out.module, sparsity = _prune(out.module, step, example, last)
                    out.facts["sparsity"] = sparsity
                    pruned = True
                elif isinstance(step, Palettize):
                    out.module = _palettize(out.module, step, example, last, joint=pruned)
                elif isinstance(step, Quantize):
                    out.float_weight_elements = _check_float_layers(out.module, step.float_layers)
                    out.module, out.quantized_layers = _quantize(
                        out.module, step, example, last, prepared_only
                    )
                elif isinstance(step, W8A8):
                    out.module, out.quantized_layers, out.float_weight_elements = _w8a8(
                        out.module, step, example, calibration, last, prepared_only
                    )
        except StageError:
            raise
        except Exception as exc:
            raise StageError(f"coreai-opt {step.op} failed ({short(exc)})") from exc
    out.fp16 = any(isinstance(s, Float16) for s in steps)
    return out


def _backend(last: bool) -> Any:
    common = coreai_opt().common
    return common.ExportBackend.CoreAI if last else common.ExportBackend.Torch


def _prune(module: Any, step: Prune, example: tuple[Any, ...], last: bool) -> tuple[Any, float]:
    pruning = coreai_opt().pruning
    config = pruning.MagnitudePrunerConfig(
        global_config=pruning.ModuleMagnitudePrunerConfig(
            op_state_spec={"weight": pruning.PruningSpec(target_sparsity=step.target_sparsity)}
        )
    )
    pruner = pruning.MagnitudePruner(module, config)
    prepared = pruner.prepare(example)
    reached = weight_sparsity(prepared)
    if reached < step.target_sparsity - SPARSITY_TOLERANCE:
        raise StageError(
            f"pruning reached {reached:.1%} sparsity, asked {step.target_sparsity:.0%}; "
            "the pruner left weights dense"
        )
    return pruner.finalize(backend=_backend(last)), round(reached, 4)


def weight_sparsity(module: Any) -> float:
    """Share of zeros among the conv and linear weights as the module computes with them."""
    import torch

    zeros = total = 0
    for sub in module.modules():
        if isinstance(sub, (torch.nn.modules.conv._ConvNd, torch.nn.Linear)):
            with torch.no_grad():
                weight = sub.weight  # a parametrized weight is computed with its mask
            zeros += int((weight == 0).sum())
            total += weight.numel()
    return zeros / total if total else 0.0


def _palettize(
    module: Any, step: Palettize, example: tuple[Any, ...], last: bool, joint: bool
) -> Any:
    pal = coreai_opt().palettization
    spec_mod = pal.spec
    from coreai_opt.palettization.config.palettization_config import OpKMeansPalettizerConfig

    granularity = (
        spec_mod.PerGroupedChannelGranularity(axis=0, group_size=step.group_size)
        if step.granularity == "per_grouped_channel"
        else spec_mod.PerTensorGranularity()
    )
    weight_spec = pal.PalettizationSpec(
        n_bits=step.nbits,
        granularity=granularity,
        sparsity_detection_threshold=JOINT_SPARSITY_THRESHOLD if joint else None,
    )
    config = pal.KMeansPalettizerConfig(
        global_config=pal.ModuleKMeansPalettizerConfig(
            op_input_spec=None,
            op_output_spec=None,
            op_state_spec={
                k: weight_spec for k in OpKMeansPalettizerConfig.get_default_state_spec()
            },
        )
    )
    palettizer = pal.KMeansPalettizer(module, config)
    palettizer.prepare(example)
    return palettizer.finalize(backend=_backend(last))


def _weight_spec(dtype: str, per_block: bool, block_size: int) -> Any:
    """Symmetric integer weights, one scale per output channel or per block of inputs."""
    import torch

    q = coreai_opt().quantization  # first: sdk.py imports it with its logs silenced
    from coreai_opt.quantization.spec import (
        PerBlockGranularity,
        PerChannelGranularity,
        QuantizationScheme,
    )

    granularity = (
        PerBlockGranularity(axis=None, block_size=block_size)
        if per_block
        else PerChannelGranularity(axis=None)
    )
    return q.QuantizationSpec(
        dtype=getattr(torch, dtype), qscheme=QuantizationScheme.SYMMETRIC, granularity=granularity
    )


def _quantize(
    module: Any, step: Quantize, example: tuple[Any, ...], last: bool, prepared_only: bool
) -> tuple[Any, list[list[str]]]:
    import re

    q = coreai_opt().quantization
    weight_spec = _weight_spec(step.dtype, step.granularity == "per_block", step.block_size)
    # Eager mode: 6 s on the U-Net where graph mode (the presets' default) took 101 s,
    # for the same weight-only result (measured on this machine, coreai-opt 0.4.0).
    # module_name_configs keys are regular expressions (re.fullmatch): names escaped.
    config = q.QuantizerConfig(
        global_config=q.ModuleQuantizerConfig(
            op_input_spec=None, op_output_spec=None, op_state_spec={"weight": weight_spec}
        ),
        module_name_configs={re.escape(name): None for name in step.float_layers},
        execution_mode=q.ExecutionMode.EAGER,
    )
    quantizer = q.Quantizer(module, config)
    prepared = quantizer.prepare(example)
    layers = quantized_modules(prepared)
    if prepared_only:
        return prepared, layers
    return quantizer.finalize(prepared, backend=_backend(last)), layers


def _w8a8(
    module: Any,
    step: W8A8,
    example: tuple[Any, ...],
    calibration: Sequence[tuple[Any, ...]],
    last: bool,
    prepared_only: bool,
) -> tuple[Any, list[list[str]], int]:
    """int8 weights and activations in graph mode, calibrated on ``calibration``; the
    module, the ops it quantized, and the weight elements of the ops kept in float."""
    import re

    import torch

    q = coreai_opt().quantization
    from coreai_opt.quantization.spec import default_activation_quantization_spec

    if not calibration:
        raise StageError("w8a8 needs the run's samples to calibrate its activation ranges")
    activations = default_activation_quantization_spec()
    # Graph mode: only the exported graph names an op that is no module (a torch.cat in
    # forward), and op_name_config keys are regular expressions over those names.
    config = q.QuantizerConfig(
        global_config=q.ModuleQuantizerConfig(
            op_input_spec={"*": activations},
            op_output_spec={"*": activations},
            op_state_spec={"weight": _weight_spec("int8", False, 0)},
            op_name_config={re.escape(name): None for name in step.float_layers},
        ),
        execution_mode=q.ExecutionMode.GRAPH,
    )
    quantizer = q.Quantizer(module, config)
    prepared = quantizer.prepare(example)
    check_float_ops(prepared, step.float_layers)
    with torch.no_grad(), quantizer.calibration_mode(prepared):
        for args in calibration:
            prepared(*args)
    layers = quantized_ops(prepared)
    kept = float_op_weight_elements(prepared, step.float_layers)
    if prepared_only:
        return prepared, layers, kept
    return quantizer.finalize(prepared, backend=_backend(last)), layers, kept


def float_op_weight_elements(prepared: Any, float_layers: Sequence[str]) -> int:
    """Weight elements the ops in ``float_layers`` read straight from a parameter: a kept
    conv's weight has no fake quantizer between it and the op, so it stays float."""
    kept = set(float_layers)
    total = 0
    for node in prepared.graph.nodes:
        if node.op == "call_function" and node.name in kept:
            for arg in node.all_input_nodes:
                if arg.op == "get_attr" and str(arg.target).endswith("weight"):
                    total += int(arg.meta["val"].numel())
    return total


def check_float_ops(prepared: Any, float_layers: Sequence[str]) -> None:
    """Fail on a name that is no op of the exported graph: op_name_config would match
    nothing and silently keep nothing in float."""
    ops = {node.name for node in prepared.graph.nodes if node.op == "call_function"}
    unknown = sorted(set(float_layers) - ops)
    if unknown:
        raise StageError(
            f"float_layers {', '.join(unknown)} name no op of this model's exported graph; "
            "use the names in the variant's quantized_layers"
        )


def quantized_ops(prepared: Any) -> list[list[str]]:
    """[op name, op type] of each op the graph-mode quantizer annotated (its inputs,
    outputs or weight quantized): an op kept in float (op_name_config None) has no
    annotation, so it is not listed. The type is the aten op's name (``conv2d``, ``cat``)."""
    return [
        [node.name, str(getattr(node.target, "_opname", node.target))]
        for node in prepared.graph.nodes
        if node.op == "call_function" and "quantization_annotation" in node.meta
    ]


def quantized_modules(prepared: Any) -> list[list[str]]:
    """[name, type] of each module whose weight the prepared quantizer fake-quantizes, in
    module order: a module kept in float has no parametrized weight, so it is not listed."""
    from torch.nn.utils import parametrize

    return [
        [name, type(sub).__name__.removeprefix("Parametrized")]
        for name, sub in prepared.named_modules()
        if name and parametrize.is_parametrized(sub, "weight")
    ]


def _check_float_layers(module: Any, float_layers: tuple[str, ...]) -> int:
    """The weight elements of the modules ``float_layers`` name; a name that is not a
    conv or linear module (what the quantizer compresses) would silently keep nothing in
    float, so it fails."""
    import torch

    weights = {
        name: sub.weight.numel()
        for name, sub in module.named_modules()
        if isinstance(sub, (torch.nn.modules.conv._ConvNd, torch.nn.Linear))
    }
    unknown = sorted(set(float_layers) - set(weights))
    if unknown:
        raise StageError(
            f"float_layers {', '.join(unknown)} name no conv or linear module in this model; "
            "use the names in the variant's quantized_layers"
        )
    return sum(weights[name] for name in float_layers)


# --------------------------------------------------------------------------- checks on the asset


def storage_bits(storage_types: list[tuple[str, int]]) -> dict[str, int]:
    """Bits stored per storage type of an asset's summary, e.g. ("UInt4", 10080) → 40320."""
    import re

    out: dict[str, int] = {}
    for name, count in storage_types:
        digits = re.search(r"(\d+)$", name)
        bits = _BITS.get(name) or (int(digits.group(1)) if digits else None)
        if bits is None:
            raise StageError(f"unknown Core AI storage type {name!r} in the asset summary")
        out[name] = bits * int(count)
    return out


def bits_per_weight(storage_types: list[tuple[str, int]], parameters: int) -> float:
    """All constant bits the asset stores over the source's parameter count.

    The constants include look-up tables, scales, masks, biases and a few shape
    constants, so this is the asset's whole cost per weight (the fp32 U-Net: 32.03).
    """
    if parameters <= 0:
        raise StageError("the source module has no parameters to count bits per weight over")
    return sum(storage_bits(storage_types).values()) / parameters


def expected_storage(steps: list[StepConfig]) -> list[tuple[str, float]]:
    """Storage types the compressed weights must appear in, with the share of the conv and
    linear weights each must cover (as element counts in the asset's summary).

    Measured on the U-Net (coreai-core 1.0.0b3): 4-bit palettization stores every weight
    as UInt4 (grouped: 94%; layers whose output channels do not divide into groups of 16
    stay fp32), int8/int4 as Int8/Int4, pruning a UInt1 mask per weight plus the kept
    values, joint pruning + palettization the mask plus UInt4 indices of the kept weights.
    """
    pruned = next((s for s in steps if isinstance(s, Prune)), None)
    kept = 1.0 - pruned.target_sparsity if pruned else 1.0
    out: list[tuple[str, float]] = []
    if pruned:
        out.append(("UInt1", MIN_COVERAGE))
    for step in steps:
        if isinstance(step, Palettize):
            out.append((f"UInt{step.nbits}", MIN_COVERAGE * kept))
        elif isinstance(step, Quantize):
            out.append(("Int8" if step.dtype == "int8" else "Int4", MIN_COVERAGE * kept))
        elif isinstance(step, W8A8):
            out.append(("Int8", MIN_COVERAGE * kept))
    if any(isinstance(s, Float16) for s in steps) and not out:
        out.append(("Float16", MIN_COVERAGE))
    return out


def check_storage(
    recipe_name: str,
    steps: list[StepConfig],
    storage_types: list[tuple[str, int]],
    weight_elements: int,
    parameters: int,
    base_bits_per_weight: float,
) -> dict[str, float]:
    """Fail a variant whose asset does not hold its compression; return what it reached."""
    counts = dict(storage_types)
    facts: dict[str, float] = {}
    for kind, share in expected_storage(steps):
        covered = counts.get(kind, 0) / weight_elements if weight_elements else 0.0
        facts[f"share_{kind.lower()}"] = round(covered, 4)
        if covered < share:
            raise StageError(
                f"{recipe_name}: the asset stores {covered:.0%} of the weights as {kind}, "
                f"expected at least {share:.0%}; the compression did not reach the asset"
            )
    bpw = bits_per_weight(storage_types, parameters)
    facts["bits_per_weight"] = round(bpw, 3)
    if steps and bpw > base_bits_per_weight * MAX_SHARE_OF_BASE:
        raise StageError(
            f"{recipe_name}: {bpw:.2f} bits per weight, not below {MAX_SHARE_OF_BASE:.0%} of the "
            f"fp32 asset's {base_bits_per_weight:.2f}; the compression did not shrink the asset"
        )
    return facts
