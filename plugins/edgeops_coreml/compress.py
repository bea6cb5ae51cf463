"""Weight compression of an mlprogram with coremltools.optimize.coreml, one recipe step at a time.

Steps (steps.py):
- ``prune``: magnitude pruning to ``target_sparsity`` per tensor;
- ``palettize``: ``nbits`` look-up table, ``mode`` kmeans or uniform, per tensor or per
  grouped channel;
- ``linear_quantize``: ``dtype`` int8 or int4, per channel or per block.

A step after ``prune`` is applied jointly, so the sparse mask is kept (iOS 18).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from edgeops.plugin import StageError, StepConfig, quiet

from .sdk import NOISY_LOGGERS, coremltools
from .steps import LinearQuantize, Palettize, Prune

# coremltools' own default: tensors this small (biases, norms, most depthwise
# kernels) are left alone by every compression op, and so by our pruning.
WEIGHT_THRESHOLD = 2048
log = logging.getLogger(__name__)
# Reached sparsity may fall short of the asked one only by ties and rounding.
SPARSITY_TOLERANCE = 0.01


def apply_steps(model: Any, steps: list[StepConfig]) -> tuple[Any, dict[str, Any]]:
    """The compressed model, and facts about it worth keeping (reached sparsity, and the
    tensors coremltools left dense)."""
    facts: dict[str, Any] = {}
    joint = False
    for step in steps:
        if isinstance(step, Prune):
            model, report = prune(model, step.target_sparsity)
            facts.update(report.facts())
            joint = True
        elif isinstance(step, Palettize):
            model = palettize(model, step, joint)
        elif isinstance(step, LinearQuantize):
            targets = weight_layers(model)
            model = linear_quantize(model, step, joint)
            if step.dtype == "int8":
                facts["quantized_layers"] = quantized_layers(model, targets)
        else:
            raise StageError(f"{step.op!r} is not a Core ML weight-compression step")
    return model, facts


def prune(model: Any, target_sparsity: float) -> tuple[Any, SparsityReport]:
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
    result = sparsity_report(pruned)
    if result.pruned_elements == 0 or result.reached < target_sparsity - SPARSITY_TOLERANCE:
        raise StageError(
            f"pruning reached {result.reached:.1%} sparsity over the tensors it pruned, asked "
            f"{target_sparsity:.0%}; the weights' threshold was not applied"
        )
    if result.skipped:
        log.info(
            "prune %.0f%%: coremltools left %d tensor(s) dense by design (rank-1 tensors such "
            "as biases are never compressed): %s",
            100 * target_sparsity,
            len(result.skipped),
            ", ".join(result.skipped),
        )
    return pruned, result


@dataclass(frozen=True)
class SparsityReport:
    """Sparsity over the tensors pruning targeted, and what coremltools skipped.

    coremltools compresses no rank-1 tensor (a 4096-wide bias; MIL's 1-D tensor bug)
    whatever its size, so counting every tensor over the size threshold reported 44%
    for a 50% prune and failed the recipe. The target holds for the tensors pruned;
    the skipped ones are named, with their share of the weights.
    """

    reached: float  # zeros over the pruned tensors' elements
    overall: float  # zeros over every tensor above the size threshold
    pruned_elements: int
    skipped: tuple[str, ...]
    skipped_elements: int

    def facts(self) -> dict[str, Any]:
        total = self.pruned_elements + self.skipped_elements
        return {
            "sparsity": round(self.reached, 4),
            "sparsity_overall": round(self.overall, 4),
            "sparsity_skipped_tensors": list(self.skipped),
            "sparsity_skipped_share": round(self.skipped_elements / total, 4) if total else 0.0,
        }


def sparsity_report(model: Any) -> SparsityReport:
    """Zeros in the large weight tensors, after decompression, over those pruning targets:
    coremltools' own rule (need_compress_const) skips every rank-1 tensor, so those
    are counted apart. A targeted tensor short of the target is still a failure."""
    import numpy as np

    opt = coremltools().optimize.coreml
    with quiet(*NOISY_LOGGERS):
        dense = opt.get_weights_metadata(
            opt.decompress_weights(model), weight_threshold=WEIGHT_THRESHOLD
        )
    zeros = pruned = skipped_elements = all_zeros = 0
    skipped = []
    for name, meta in dense.items():
        if not np.issubdtype(meta.val.dtype, np.floating):
            continue
        values = np.asarray(meta.val)
        count = int(np.sum(values == 0))
        all_zeros += count
        if values.ndim > 1:
            zeros += count
            pruned += values.size
        else:
            skipped.append(name)
            skipped_elements += values.size
    total = pruned + skipped_elements
    return SparsityReport(
        reached=zeros / pruned if pruned else 0.0,
        overall=all_zeros / total if total else 0.0,
        pruned_elements=pruned,
        skipped=tuple(skipped),
        skipped_elements=skipped_elements,
    )


def sparsity(model: Any) -> float:
    """Share of zeros among the large weight tensors, after decompression."""
    return sparsity_report(model).overall


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
    # None in op_name_configs is coremltools' own "leave this const uncompressed".
    kept: dict[str, Any] = {name: None for name in step.float_layers}
    unknown = sorted(set(kept) - set(weight_layers(model)))
    if unknown:
        raise StageError(
            f"float_layers {', '.join(unknown)} name no weight this model quantizes; "
            "use the names in the variant's quantized_layers"
        )
    with quiet(*NOISY_LOGGERS):
        return opt.linear_quantize_weights(
            model,
            opt.OptimizationConfig(global_config=config, op_name_configs=kept),
            joint_compression=joint,
        )


# The int8 data const coremltools writes for a quantized weight const ``w``.
_QUANTIZED_DATA = re.compile(r"_quantized_quantized_data(_\d+)?$")


def quantized_layers(model: Any, targets: dict[str, str]) -> list[list[str]]:
    """[weight const name, op type] of every weight ``model`` holds in int8, in graph
    order, read from the compressed model itself: a weight kept in float is a plain
    float const there, so it is not listed."""
    import numpy as np

    opt = coremltools().optimize.coreml
    with quiet(*NOISY_LOGGERS):
        weights = opt.get_weights_metadata(model, weight_threshold=0)
    found = []
    for name, meta in weights.items():
        stem = _QUANTIZED_DATA.sub("", name)
        if stem in targets and np.issubdtype(meta.val.dtype, np.integer):
            found.append([stem, targets[stem]])
    return found


def weight_layers(model: Any) -> dict[str, str]:
    """Weight const name -> the op type reading it, for every weight compression targets:
    over the size threshold and not rank-1 (coremltools never compresses those)."""
    opt = coremltools().optimize.coreml
    with quiet(*NOISY_LOGGERS):
        weights = opt.get_weights_metadata(model, weight_threshold=WEIGHT_THRESHOLD)
    return {
        name: (meta.child_ops[0].op_type if meta.child_ops else "const")
        for name, meta in weights.items()
        if meta.val.ndim > 1
    }
