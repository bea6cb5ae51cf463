"""Weight compression of an mlprogram with coremltools.optimize.coreml, one recipe step at a time.

Steps (steps.py):
- ``prune``: magnitude pruning to ``target_sparsity`` per tensor;
- ``palettize``: ``nbits`` look-up table, ``mode`` kmeans or uniform, per tensor or per
  grouped channel;
- ``linear_quantize``: ``dtype`` int8 or int4, per channel or per block.

A step after ``prune`` is applied jointly, so the sparse mask is kept (iOS 18).
"""

from __future__ import annotations

from typing import Any

from edgeops.plugin import StageError, StepConfig, quiet

from .sdk import NOISY_LOGGERS, coremltools
from .steps import LinearQuantize, Palettize, Prune

# coremltools' own default: tensors this small (biases, norms, most depthwise
# kernels) are left alone by every compression op, and so by our pruning.
WEIGHT_THRESHOLD = 2048
# Reached sparsity may fall short of the asked one only by ties and rounding.
SPARSITY_TOLERANCE = 0.01


def apply_steps(model: Any, steps: list[StepConfig]) -> tuple[Any, dict[str, float]]:
    """The compressed model, and facts about it worth keeping (reached sparsity)."""
    facts: dict[str, float] = {}
    joint = False
    for step in steps:
        if isinstance(step, Prune):
            model, facts["sparsity"] = prune(model, step.target_sparsity)
            joint = True
        elif isinstance(step, Palettize):
            model = palettize(model, step, joint)
        elif isinstance(step, LinearQuantize):
            model = linear_quantize(model, step, joint)
        else:
            raise StageError(f"{step.op!r} is not a Core ML weight-compression step")
    return model, facts


def prune(model: Any, target_sparsity: float) -> tuple[Any, float]:
    """Zero the smallest ``target_sparsity`` of every large weight tensor.

    coremltools' own magnitude pruner picks its threshold with ``np.percentile`` on
    the fp16 weights, which overflows past 65,504 elements and reached 13.7%
    instead of 50% here (conversion-notes.md). The threshold of each tensor is
    chosen in fp32 instead and handed to the threshold pruner per weight.
    """
    import numpy as np

    ct = coremltools()
    opt = ct.optimize.coreml
    with quiet(*NOISY_LOGGERS):
        weights = opt.get_weights_metadata(model, weight_threshold=WEIGHT_THRESHOLD)
    configs = {}
    for name, meta in weights.items():
        magnitudes = np.sort(np.abs(np.asarray(meta.val, dtype=np.float32)).ravel())
        keep_from = int(round(target_sparsity * magnitudes.size))
        if keep_from == 0 or not np.issubdtype(meta.val.dtype, np.floating):
            continue
        configs[name] = opt.OpThresholdPrunerConfig(
            threshold=float(magnitudes[keep_from - 1]),
            minimum_sparsity_percentile=0.0,
            weight_threshold=WEIGHT_THRESHOLD,
        )
    if not configs:
        raise StageError(f"no weight tensor has more than {WEIGHT_THRESHOLD} elements to prune")
    with quiet(*NOISY_LOGGERS):
        pruned = opt.prune_weights(model, opt.OptimizationConfig(op_name_configs=configs))
    reached = sparsity(pruned)
    if reached < target_sparsity - SPARSITY_TOLERANCE:
        raise StageError(
            f"pruning reached {reached:.1%} sparsity, asked {target_sparsity:.0%}; "
            "the weights' threshold was not applied"
        )
    return pruned, round(reached, 4)


def sparsity(model: Any) -> float:
    """Share of zeros among the large weight tensors, after decompression."""
    import numpy as np

    opt = coremltools().optimize.coreml
    with quiet(*NOISY_LOGGERS):
        dense = opt.get_weights_metadata(
            opt.decompress_weights(model), weight_threshold=WEIGHT_THRESHOLD
        )
    floats = [np.asarray(m.val) for m in dense.values() if np.issubdtype(m.val.dtype, np.floating)]
    total = sum(a.size for a in floats)
    return float(sum(int(np.sum(a == 0)) for a in floats) / total) if total else 0.0


def palettize(model: Any, step: Palettize, joint: bool) -> Any:
    opt = coremltools().optimize.coreml
    config = opt.OpPalettizerConfig(
        nbits=step.nbits,
        mode=step.mode,
        granularity=step.granularity,
        group_size=step.group_size,
        weight_threshold=WEIGHT_THRESHOLD,
    )
    with quiet(*NOISY_LOGGERS):
        return opt.palettize_weights(
            model, opt.OptimizationConfig(global_config=config), joint_compression=joint
        )


def linear_quantize(model: Any, step: LinearQuantize, joint: bool) -> Any:
    opt = coremltools().optimize.coreml
    config = opt.OpLinearQuantizerConfig(
        mode="linear_symmetric",
        dtype=step.dtype,
        granularity=step.granularity,
        **({"block_size": step.block_size} if step.block_size else {}),
        weight_threshold=WEIGHT_THRESHOLD,
    )
    with quiet(*NOISY_LOGGERS):
        return opt.linear_quantize_weights(
            model, opt.OptimizationConfig(global_config=config), joint_compression=joint
        )
