"""PyTorch factory → .tflite with litert-torch, Google's converter, and no ONNX in between.

litert-torch 0.10.0 lowers ``torch.export``'s graph straight to TFLite, keeping
the source's NCHW inputs and outputs. It writes no SavedModel, so its variants
are quantized from the fp32 .tflite by ai-edge-quantizer (its own dependency),
not by TFLiteConverter: ``quantize`` below maps each ``Quantize`` step to an
ai-edge-quantizer recipe.

It goes in with ``--no-deps`` (install.sh): litert-converter 0.5.0 pins
xdsl==0.28.0, which declares typing-extensions<4.13, while pydantic 2.13.4
needs >=4.14.1; xdsl 0.28.0 ran here with typing-extensions 4.16.0. Versions
0.8-0.9.4 need ai-edge-litert<2.3 and are no way out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.plugin import (
    ModelError,
    ModelSpec,
    SampleSet,
    StageError,
    quiet,
    sample_feeds,
)
from edgeops_torch_route.torch_sources import factory_module

if TYPE_CHECKING:
    import numpy as np

    from .layout import IoLayout
    from .recipes import Quantize

ROUTE = "litert-torch"
# torchao (imported by litert-torch) warns at import about CUDA kernels a CPU build lacks.
_LOGGERS = ("tensorflow", "absl", "torch", "torchao", "jax", "litert_torch", "ai_edge_quantizer")
# ai-edge-quantizer keys its calibration data by signature; litert-torch names its one so.
_SIGNATURE = "serving_default"


def unavailable() -> str | None:
    """Why litert-torch cannot convert here, in one line, or None when it can."""
    try:
        with quiet(*_LOGGERS):
            import ai_edge_quantizer  # noqa: F401
            import litert_torch  # noqa: F401
    except ImportError as exc:
        return f"litert-torch not installed: {exc} (install.sh installs it with --no-deps)"
    return None


def convert(spec: ModelSpec, out: Path) -> Callable[[dict[str, np.ndarray]], list[np.ndarray]]:
    """Write the fp32 .tflite of ``spec``'s factory to ``out``; return the source as a function."""
    if not spec.inputs:
        raise ModelError(
            f"{spec.source} is a PyTorch factory: add [[model.inputs]] to edgeops.toml"
        )
    net = factory_module(spec)
    with quiet(*_LOGGERS) as log:
        import litert_torch
        import torch

        args = tuple(torch.zeros(i.shape, dtype=getattr(torch, i.dtype)) for i in spec.inputs)
        try:
            with torch.no_grad():
                litert_torch.convert(net, args).export(str(out))
        except Exception as exc:  # torch.export and the MLIR lowering raise many types
            text = " ".join(str(exc).split())[:300]
            raise ModelError(
                f"litert-torch could not convert {spec.source} ({type(exc).__name__}: {text}) "
                f"{log.tail(1)}".strip()
            ) from exc

    def run_source(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            result = net(*(torch.from_numpy(feed[i.name]) for i in spec.inputs))
        flat = result if isinstance(result, list | tuple) else [result]
        return [r.numpy() for r in flat]

    return run_source


def quantize(
    source: Path, out: Path, step: Quantize, samples: SampleSet | None, layout: IoLayout | None
) -> None:
    """``step`` applied to litert-torch's fp32 .tflite with ai-edge-quantizer, float I/O kept."""
    from .recipes import _closure, _ops

    with quiet(*_LOGGERS) as log:
        from ai_edge_quantizer import quantizer

        try:
            float_layers: tuple[str, ...] = ()
            if step.float_layers:
                # With the data moves after them, as recipes.py keeps them for TFLiteConverter:
                # the float model names its op outputs as the quantized one does.
                float_layers = tuple(_closure(_ops(source.read_bytes()), step.float_layers))
            engine = quantizer.Quantizer(str(source), _recipe(step, float_layers))
            calibration = None
            if step.calibrate:
                assert samples is not None and layout is not None
                feeds = [layout.to_tflite(feed) for feed in sample_feeds(samples)]
                calibration = engine.calibrate({_SIGNATURE: feeds})
            flatbuffer = engine.quantize(calibration).quantized_model
        except Exception as exc:
            text = " ".join(str(exc).split())[:300]
            raise StageError(
                f"ai-edge-quantizer failed ({type(exc).__name__}: {text}) {log.tail(1)}".strip()
            ) from exc
    out.write_bytes(bytes(flatbuffer))


def _recipe(step: Quantize, float_layers: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The ai-edge-quantizer recipe doing what TFLiteConverter does for ``step``."""
    from ai_edge_quantizer import recipe

    if step.weight_type == "float16":
        weights = {"num_bits": 16, "dtype": "float"}
        config = {"weight_tensor_config": weights, "compute_precision": "float", "explicit_dequantize": True}  # fmt: skip
        return [{"regex": ".*", "operation": "*", "algorithm_key": "float_casting", "op_config": config}]  # fmt: skip
    if step.ops is None:
        if not step.optimize:
            raise StageError("a Quantize step with no option changes nothing; use fp32")
        return list(recipe.dynamic_wi8_afp32())
    entries = list(recipe.static_wi8_ai8() if step.ops == "int8" else recipe.static_wi8_ai16())
    # TFLiteConverter's recipes keep float32 inputs and outputs (a QUANTIZE and a
    # DEQUANTIZE at the ends); ai-edge-quantizer makes them integer unless told.
    entries += [{"regex": ".*", "operation": op, "algorithm_key": "no_quantize"} for op in ("INPUT", "OUTPUT")]  # fmt: skip
    # An op's scope is its output tensors' names, each followed by ";"
    # (ai_edge_quantizer/utils/tfl_flatbuffer_utils.py get_op_scope).
    entries += [
        {"regex": f"(?:^|;){re.escape(name)};", "operation": "*", "algorithm_key": "no_quantize"}
        for name in float_layers
    ]
    return entries
