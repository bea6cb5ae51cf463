"""W8A8: int8 weights and activations through coremltools.optimize.torch, calibrated on the samples.

``linear_quantize_activations`` on the mlprogram calibrates by calling predict,
which needs macOS; LinearQuantizer in calibration-only mode gives W8A8 on Linux
(3.9 s, 35 dB on the U-Net, conversion-notes.md). Its quantize/dequantize pairs
become Core ML ops, so the target must be iOS 17 or later.

Layers kept in float (``W8A8.float_layers``) are of two kinds:

- torch module names (``head.1``): ``LinearQuantizerConfig(module_name_configs={name:
  None})``, coremltools' own "leave this module unquantized": its weights and the
  activations it produces stay float;
- function calls in a ``forward`` (``torch.cat``, ``+``), by their FX node name
  (``cat_1``): not modules, so ``module_name_configs`` cannot name them, and
  coremltools' ``module_type_configs={torch.cat: None}`` would keep every cat of the
  model. torch.ao, which coremltools prepares through, has the per-call setting
  ``QConfigMapping.set_module_name_object_type_order(module, function, index,
  None)``; it is set on the mapping coremltools built (``keep_calls_float``), and
  torch.ao's record of each node's qconfig is checked to hold None for that call.
  The call then runs in float; its output is quantized again only where a quantized
  op reads it (as a float node in ONNX Runtime).

The quantized layers are both: every module whose weight is fake-quantized, and
every function call whose output an activation quantizer reads.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from edgeops.plugin import ModelSpec, SampleSet, StageError, quiet, sample_feeds
from edgeops_torch_route import torch_sources

from . import convert
from .sdk import NOISY_LOGGERS, coremltools

# Observers on from step 0, fake quantization from step 0, observers frozen after
# calibration and batch norm never trained: coremltools' calibration-only recipe.
CALIBRATION_MILESTONES = [0, 0, 10**9, 0]


# The last module calibrated in this process, by what determines it. A made W8A8 variant
# is calibrated to build its mlprogram, then scored by the host estimate, which runs the
# same module: kept, it is calibrated once. One only, so memory stays one model's. Safe
# to share: finalize() fixes every scale (a reference model, no live observer), and
# tracing and running it under no_grad change nothing in it.
_LAST: dict[str, tuple[Any, list[list[str]]]] = {}


def calibrated_torch(
    spec: ModelSpec, samples: SampleSet, float_layers: tuple[str, ...] = ()
) -> tuple[Any, list[list[str]]]:
    """The source with int8 fake-quantized weights and activations, calibrated on the
    samples, but for ``float_layers``; and [module name, type] of every module whose
    weight it quantized (the layers a ``keep_float = "auto"`` search may keep in float)."""
    key = json.dumps([spec.model_dump(mode="json"), samples.sha256, list(float_layers)])
    if key not in _LAST:
        made = _calibrate(spec, samples, float_layers)
        _LAST.clear()
        _LAST[key] = made
    return _LAST[key]


def _calibrate(
    spec: ModelSpec, samples: SampleSet, float_layers: tuple[str, ...]
) -> tuple[Any, list[list[str]]]:
    import torch

    coremltools()
    from coremltools.optimize.torch.quantization import (
        LinearQuantizer,
        LinearQuantizerConfig,
        ModuleLinearQuantizerConfig,
    )

    net, inputs = convert.cached_torch_source(spec)
    modules = {name for name, _ in net.named_modules()}
    kept_calls = [name for name in float_layers if name not in modules]
    calls = function_calls(net) if kept_calls else {}
    unknown = sorted(set(kept_calls) - set(calls))
    if unknown:
        raise StageError(
            f"float_layers {', '.join(unknown)} name no module or function call of this "
            "model; use the names in the variant's quantized_layers"
        )
    config = LinearQuantizerConfig(
        global_config=ModuleLinearQuantizerConfig(
            quantization_scheme="symmetric", milestones=CALIBRATION_MILESTONES
        ),
        module_name_configs=dict.fromkeys(name for name in float_layers if name in modules),
    )
    with quiet(*NOISY_LOGGERS), torch.no_grad():
        quantizer = LinearQuantizer(copy.deepcopy(net), config)
        keep_calls_float(quantizer, [calls[name] for name in kept_calls])
        example = torch_sources.example_args(inputs)
        prepared = quantizer.prepare(example_inputs=example, inplace=True)
        qconfigs = prepared.meta["_observed_graph_module_attrs"].node_name_to_qconfig
        # Only the source's own modules: coremltools' fused ConvBnAct2d holds its conv
        # as ``<name>.conv``, which answers for the same weight but names no module of
        # the source (so it could not be kept in float, and it counted the layer twice).
        layers = [
            [name, type(sub).__name__]
            for name, sub in prepared.named_modules()
            if hasattr(sub, "weight_fake_quant") and name in modules
        ] + quantized_calls(prepared, qconfigs)
        # What torch.ao recorded for each node: the per-call setting reached that call.
        missed = sorted(name for name in kept_calls if qconfigs.get(name, True) is not None)
        if missed:
            raise StageError(
                f"float_layers {', '.join(missed)}: torch.ao did not apply the per-call "
                "setting to that call (fused into another op?); it cannot be kept in float"
            )
        quantizer.step()
        for feed in sample_feeds(samples):
            prepared(*[torch.from_numpy(feed[i.name]) for i in inputs])
        return quantizer.finalize(inplace=True).eval(), layers


def function_calls(net: Any) -> dict[str, tuple[str, Any, int]]:
    """FX node name -> (the module whose forward calls it, the function, which call of that
    function in that forward it is), for every function call (``torch.cat``, ``add``) in
    ``net``'s graph, traced as torch.ao's FX quantization traces it (QuantizationTracer),
    so the names are those of the prepared graph and of ``quantized_layers``."""
    from torch.ao.quantization.fx.tracer import QuantizationTracer

    tracer = QuantizationTracer([], [])
    graph = tracer.trace(net)
    seen: dict[tuple[str, Any], int] = {}
    out: dict[str, tuple[str, Any, int]] = {}
    for node in graph.nodes:
        if node.op == "call_function":
            path, _ = tracer.node_name_to_scope[node.name]
            index = seen.get((path, node.target), 0)
            seen[(path, node.target)] = index + 1
            out[node.name] = (path, node.target, index)
    return out


def keep_calls_float(quantizer: Any, calls: list[tuple[str, Any, int]]) -> None:
    """No qconfig for these function calls: torch.ao's per-call setting
    ``QConfigMapping.set_module_name_object_type_order(module, function, index, None)``,
    on the mapping coremltools built from its config. coremltools' own config keys
    functions by type only (``module_type_configs={torch.cat: None}``: every cat of the
    model), so the one call is set on its mapping, before ``prepare`` reads it."""
    if not calls:
        return
    mapping = getattr(quantizer, "_qconfig_mapping", None)
    if mapping is None or not hasattr(mapping, "set_module_name_object_type_order"):
        raise StageError(
            "this coremltools has no torch.ao QConfigMapping on its LinearQuantizer; "
            "only modules can be kept in float (float_layers of module names)"
        )
    for path, function, index in calls:
        mapping.set_module_name_object_type_order(path, function, index, None)


def quantized_calls(prepared: Any, qconfigs: dict[str, Any]) -> list[list[str]]:
    """[FX node name, function name] of every function call the prepared model quantizes
    as an op of its own, in graph order: a call coremltools' backend config has a
    pattern for (``cat``, ``add``, ``mul``, ...), with a qconfig (``qconfigs``: torch.ao's
    record per node), whose output an activation quantizer reads. A call outside the
    config (``getitem``, ``exp``) may be followed by one too, but that is its consumer's
    input quantizer, which no qconfig of the call removes; likewise a call kept in float
    whose consumer is quantized (its output is quantized for that consumer, as in
    ONNX Runtime)."""
    from coremltools.optimize.torch.quantization._backend_config import get_backend_config
    from torch.ao.quantization import FakeQuantizeBase

    patterns = {
        id(config.pattern)
        for config in get_backend_config().configs
        if callable(config.pattern) and not isinstance(config.pattern, type)
    }
    # Every name: a quantizer shared by several tensors (a cat's inputs) has several.
    modules = dict(prepared.named_modules(remove_duplicate=False))
    found: dict[str, str] = {}
    for node in prepared.graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), FakeQuantizeBase):
            continue
        source = node.args[0] if node.args else None
        if (
            getattr(source, "op", None) == "call_function"
            and id(source.target) in patterns
            and qconfigs.get(source.name) is not None
        ):
            found[source.name] = getattr(source.target, "__name__", str(source.target))
    return [[name, op] for name, op in found.items()]


def w8a8_mlprogram(
    spec: ModelSpec, ios: int, samples: SampleSet, float_layers: tuple[str, ...] = ()
) -> tuple[Any, list[list[str]]]:
    """The W8A8 mlprogram, and the modules it quantized (calibrated_torch)."""
    net, layers = calibrated_torch(spec, samples, float_layers)
    _, inputs = convert.cached_torch_source(spec)
    traced, output_count = convert.trace(net, inputs)
    return convert.to_mlprogram(traced, inputs, output_count, ios, "float16"), layers
