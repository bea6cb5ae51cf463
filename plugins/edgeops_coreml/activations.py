"""W8A8: int8 weights and activations through coremltools.optimize.torch, calibrated on the samples.

``linear_quantize_activations`` on the mlprogram calibrates by calling predict,
which needs macOS; LinearQuantizer in calibration-only mode gives W8A8 on Linux
(3.9 s, 35 dB on the U-Net, conversion-notes.md). Its quantize/dequantize pairs
become Core ML ops, so the target must be iOS 17 or later.

Layers kept in float (``W8A8.float_layers``, torch module names) are
``LinearQuantizerConfig(module_name_configs={name: None})``, coremltools' own "leave
this module unquantized": its weights and the activations it produces stay float.
"""

from __future__ import annotations

import copy
from typing import Any

from edgeops.plugin import ModelSpec, SampleSet, StageError, quiet, sample_feeds
from edgeops_torch_route import torch_sources

from . import convert
from .sdk import NOISY_LOGGERS, coremltools

# Observers on from step 0, fake quantization from step 0, observers frozen after
# calibration and batch norm never trained: coremltools' calibration-only recipe.
CALIBRATION_MILESTONES = [0, 0, 10**9, 0]


def calibrated_torch(
    spec: ModelSpec, samples: SampleSet, float_layers: tuple[str, ...] = ()
) -> tuple[Any, list[list[str]]]:
    """The source with int8 fake-quantized weights and activations, calibrated on the
    samples, but for ``float_layers``; and [module name, type] of every module whose
    weight it quantized (the layers a ``keep_float = "auto"`` search may keep in float)."""
    import torch

    coremltools()
    from coremltools.optimize.torch.quantization import (
        LinearQuantizer,
        LinearQuantizerConfig,
        ModuleLinearQuantizerConfig,
    )

    net, inputs = convert.cached_torch_source(spec)
    unknown = sorted(set(float_layers) - {name for name, _ in net.named_modules()})
    if unknown:
        raise StageError(
            f"float_layers {', '.join(unknown)} name no module of this model; "
            "use the names in the variant's quantized_layers"
        )
    config = LinearQuantizerConfig(
        global_config=ModuleLinearQuantizerConfig(
            quantization_scheme="symmetric", milestones=CALIBRATION_MILESTONES
        ),
        module_name_configs=dict.fromkeys(float_layers),
    )
    with quiet(*NOISY_LOGGERS), torch.no_grad():
        quantizer = LinearQuantizer(copy.deepcopy(net), config)
        example = torch_sources.example_args(inputs)
        prepared = quantizer.prepare(example_inputs=example, inplace=True)
        layers = [
            [name, type(sub).__name__]
            for name, sub in prepared.named_modules()
            if hasattr(sub, "weight_fake_quant")
        ]
        quantizer.step()
        for feed in sample_feeds(samples):
            prepared(*[torch.from_numpy(feed[i.name]) for i in inputs])
        return quantizer.finalize(inplace=True).eval(), layers


def w8a8_mlprogram(
    spec: ModelSpec, ios: int, samples: SampleSet, float_layers: tuple[str, ...] = ()
) -> tuple[Any, list[list[str]]]:
    """The W8A8 mlprogram, and the modules it quantized (calibrated_torch)."""
    net, layers = calibrated_torch(spec, samples, float_layers)
    _, inputs = convert.cached_torch_source(spec)
    traced, output_count = convert.trace(net, inputs)
    return convert.to_mlprogram(traced, inputs, output_count, ios, "float16"), layers
