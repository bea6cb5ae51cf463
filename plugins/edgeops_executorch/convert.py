"""Sources → ExecuTorch: ``torch.export`` once, then one ``.pte`` program per recipe.

The route is ExecuTorch's own (docs "Exporting to ExecuTorch"): ``torch.export``,
then ``to_edge_transform_and_lower`` with the recipe's partitioner, then
``to_executorch()``, whose buffer is the ``.pte`` file an app loads. The base
artifact is the exported program itself (``model.pt2``, ``torch.export.save``):
every recipe lowers it, so a variant never runs the factory again. int8 recipes
quantize that program's module with PT2E (``prepare_pt2e``, calibration on the
run's samples, ``convert_pt2e``) and export it again.

ONNX sources take the route the Apple backends take: onnx2torch (edgeops.plugin's
``torch_sources``), with the graph's shape arithmetic folded so ``torch.export``
accepts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeops.plugin import InputSpec, ModelError, ModelSpec, StageError, quiet
from edgeops_torch_route import torch_sources

from .recipes import COREML_MIN_OS, RUNTIME_BACKENDS, Lower
from .sdk import NOISY_LOGGERS, short

EXPORTED_NAME = "model.pt2"
PROGRAM_NAME = "model.pte"


# --------------------------------------------------------------------------- torch side


def load_module(spec: ModelSpec) -> tuple[Any, tuple[InputSpec, ...]]:
    """The source as an fp32 torch module in eval mode, and its inputs."""
    return torch_sources.torch_source(spec, "ExecuTorch", torch_sources.exportable_onnx_module)


def export(net: Any, inputs: tuple[InputSpec, ...], out: Path) -> tuple[int, int]:
    """``torch.export`` of ``net`` on zero inputs, saved as ``out``; (outputs, graph nodes)."""
    import torch

    args = torch_sources.example_args(inputs)
    with quiet(*NOISY_LOGGERS) as log, torch.no_grad():
        try:
            program = torch.export.export(net, args)
        except Exception as exc:
            raise ModelError(
                f"torch.export cannot export the model ({short(exc)}); {log.tail()}"
            ) from exc
        torch.export.save(program, str(out))
    outputs = [n for n in program.graph.nodes if n.op == "output"][0].args[0]
    count = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    return count, len(program.graph.nodes)


def load_exported(path: Path) -> Any:
    """The exported program at ``path``, read afresh: lowering must not share one."""
    import torch

    with quiet(*NOISY_LOGGERS):
        return torch.export.load(str(path))


# --------------------------------------------------------------------------- lowering


def partitioners(step: Lower) -> list[Any]:
    """The partitioner list ``to_edge_transform_and_lower`` takes for ``step``."""
    if step.delegate == "portable":
        return []
    if step.delegate == "xnnpack":
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        return [XnnpackPartitioner()]
    import coremltools as ct
    from executorch.backends.apple.coreml.compiler import CoreMLBackend
    from executorch.backends.apple.coreml.partition import CoreMLPartitioner

    quantize = (
        # coremltools' OpLinearQuantizerConfig as a dict (CoreMLBackend parses it back).
        {"mode": "linear_symmetric", "dtype": "int8", "granularity": "per_channel"}
        if step.precision == "int8-weights"
        else None
    )
    specs = CoreMLBackend.generate_compile_specs(
        compute_unit=ct.ComputeUnit.ALL,
        minimum_deployment_target=getattr(ct.target, COREML_MIN_OS),
        compute_precision=ct.precision.FLOAT16,
        # An .mlpackage inside the program: Core ML compiles it on the device at load,
        # so lowering needs no macOS (MODEL_TYPE.COMPILED_MODEL would need coremlcompiler).
        model_type=CoreMLBackend.MODEL_TYPE.MODEL,
        op_linear_quantizer_config=quantize,
    )
    return [CoreMLPartitioner(compile_specs=specs)]


def quantized_for_xnnpack(program: Any, calibration: list[tuple[Any, ...]]) -> Any:
    """``program`` with int8 weights and activations for XNNPACK, calibrated on ``calibration``.

    Static quantization, per-channel weights: ExecuTorch's XNNPACK recipe
    (``get_symmetric_quantization_config(is_per_channel=True)``).
    """
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if not calibration:
        raise StageError("xnnpack-int8 needs samples to calibrate on; the run has none")
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True)
    )
    prepared = prepare_pt2e(program.module(), quantizer)
    with torch.no_grad():
        for args in calibration:
            prepared(*args)
    converted = convert_pt2e(prepared)
    return torch.export.export(converted, calibration[0])


def lower(
    exported: Path, step: Lower, out: Path, calibration: list[tuple[Any, ...]]
) -> dict[str, Any]:
    """Write ``out``, the ``.pte`` of ``exported`` lowered by ``step``; return facts about it:
    the runtime backends its partitions need and how many ops stayed on portable kernels."""
    from edgeops.plugin import write_bytes

    with quiet(*NOISY_LOGGERS) as log:
        try:
            from executorch.exir import to_edge_transform_and_lower

            program = load_exported(exported)
            if step.precision == "int8":
                program = quantized_for_xnnpack(program, calibration)
            edge = to_edge_transform_and_lower(program, partitioner=partitioners(step))
            facts = partition_facts(edge.exported_program().graph_module)
            buffer = edge.to_executorch().buffer
        except StageError:
            raise
        except Exception as exc:
            raise StageError(
                f"ExecuTorch could not lower to {step.recipe_name} ({short(exc)}); {log.tail()}"
            ) from exc
    wanted = set(RUNTIME_BACKENDS[step.delegate])
    if wanted and not wanted <= set(facts["delegates"]):
        # A partitioner that took nothing leaves a portable program: not what the recipe says.
        raise StageError(
            f"{step.recipe_name}: the {step.delegate} partitioner took no part of the model "
            f"({facts['portable_ops']} ops stayed on portable kernels)"
        )
    write_bytes(out, bytes(buffer))
    return facts


def partition_facts(graph_module: Any) -> dict[str, Any]:
    """The runtime backends a lowered graph calls, its partitions, and its ops left outside."""
    from executorch.exir.backend.utils import get_delegated_payload

    payloads = get_delegated_payload(graph_module)
    backends = sorted({backend for backend, _, _ in payloads.values()})
    portable = [
        n
        for n in graph_module.graph.nodes
        if n.op == "call_function"
        and "executorch_call_delegate" not in str(n.target)
        and str(n.target) != "<built-in function getitem>"
    ]
    return {"delegates": backends, "partitions": len(payloads), "portable_ops": len(portable)}


def calibration_args(
    feeds: list[dict[str, Any]], inputs: tuple[InputSpec, ...]
) -> list[tuple[Any, ...]]:
    """The samples as the positional tensors an exported program takes, in input order."""
    import torch

    return [
        tuple(torch.from_numpy(feed[i.name]).to(getattr(torch, i.dtype)) for i in inputs)
        for feed in feeds
    ]
