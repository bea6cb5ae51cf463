"""Sources → Core ML mlprogram (.mlpackage): PyTorch factories and ONNX through torch.

Routes measured here (conversion-notes.md): a factory is traced with
``torch.jit.trace`` and converted by ``ct.convert``; an ONNX model goes through
onnx2torch first (coremltools has no ONNX front end). An ``.mlpackage`` source
is copied as is. Inputs and outputs stay fp32 whatever the compute precision:
with fp16 and an iOS 17+ target coremltools would make them fp16 otherwise.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from edgeops.plugin import InputSpec, ModelError, ModelSpec, copy_file, quiet
from edgeops_torch_route import torch_sources
from edgeops_torch_route.build_info import BuildInfo

from .sdk import NOISY_LOGGERS, coremltools

PACKAGE_NAME = "model.mlpackage"
# What the base conversion was made from, beside it: recipes rebuild from its spec.
BUILD_INFO = BuildInfo("coreml.json")
# The base artifact's target: the newest iOS of the A11 iPhones (chips/a11.toml), so
# the plain conversion loads on every iPhone edgeops knows. Recipes ask for more.
BASE_IOS = 16
PRECISIONS = ("float16", "float32")


# --------------------------------------------------------------------------- torch side


def torch_source(spec: ModelSpec) -> tuple[Any, tuple[InputSpec, ...]]:
    """The source as an fp32 torch module in eval mode, and its inputs."""
    return torch_sources.torch_source(spec, "Core ML", _onnx_as_torch)


@functools.lru_cache(maxsize=4)
def cached_torch_source(spec: ModelSpec) -> tuple[Any, tuple[InputSpec, ...]]:
    """One load per source and process: recipes and evaluations reuse it read-only."""
    return torch_source(spec)


@functools.lru_cache(maxsize=4)
def folded_torch_source(spec: ModelSpec) -> tuple[Any, tuple[InputSpec, ...]]:
    """The source with batch norms folded into their convolutions (torch.fx).

    Core ML folds them anyway; folding first gives the converted weights the torch
    parameters' names, so a variant's compressed weights can be put back into this
    module for the host estimate (conversion-notes.md: "fold batch norm first").
    A module torch.fx cannot trace is used unfolded.
    """
    import torch.fx.experimental.optimization as fx_optimization

    net, inputs = cached_torch_source(spec)
    try:
        with quiet(*NOISY_LOGGERS):
            return fx_optimization.fuse(net).eval(), inputs
    except Exception:
        return net, inputs


@functools.lru_cache(maxsize=4)
def mlprogram_from_source(spec: ModelSpec, ios: int, precision: str) -> Any:
    """The converted source for a deployment target and precision, once per process.

    coremltools' compression functions return new models and leave this one intact,
    so every recipe of the same target and precision starts from it.
    """
    net, inputs = folded_torch_source(spec)
    traced, output_count = trace(net, inputs)
    return to_mlprogram(traced, inputs, output_count, ios, precision)


def _onnx_as_torch(path: Path, inputs: tuple[InputSpec, ...]) -> tuple[Any, tuple[InputSpec, ...]]:
    import onnx

    # The ONNX backend checked this file and read its inputs (the run's ONNX
    # artifact, see edgeops_conversion_inputs); they arrive in ``inputs``.
    model = torch_sources.at_onnx2torch_opset(onnx.load(str(path)), path)
    return torch_sources.onnx2torch_module(model, path).eval(), inputs


def trace(net: Any, inputs: tuple[InputSpec, ...]) -> tuple[Any, int]:
    """TorchScript of ``net`` and its number of outputs."""
    import torch

    args = torch_sources.example_args(inputs)
    with quiet(*NOISY_LOGGERS), torch.no_grad():
        try:
            traced = torch.jit.trace(net, args, check_trace=False)
            result = traced(*args)
        except Exception as exc:
            raise ModelError(f"torch.jit.trace failed ({torch_sources.short_error(exc)})") from exc
    return traced, len(result) if isinstance(result, (tuple, list)) else 1


# --------------------------------------------------------------------------- Core ML side


# Core ML feature names must be identifiers.
coreml_name = torch_sources.identifier


def output_names(count: int) -> tuple[str, ...]:
    return tuple(f"output_{k}" for k in range(count))


def to_mlprogram(
    traced: Any,
    inputs: tuple[InputSpec, ...],
    output_count: int,
    ios: int,
    precision: str,
) -> Any:
    """``ct.convert`` of a traced module: an in-memory MLModel (mlprogram)."""
    import numpy as np

    ct = coremltools()
    if precision not in PRECISIONS:
        raise ModelError(f"unknown compute precision {precision!r}; use one of {PRECISIONS}")
    with quiet(*NOISY_LOGGERS) as log:
        try:
            return ct.convert(
                traced,
                convert_to="mlprogram",
                inputs=[
                    ct.TensorType(name=coreml_name(i.name), shape=i.shape, dtype=np.float32)
                    for i in inputs
                ],
                outputs=[
                    ct.TensorType(name=n, dtype=np.float32) for n in output_names(output_count)
                ],
                compute_precision=getattr(ct.precision, precision.upper()),
                minimum_deployment_target=getattr(ct.target, f"iOS{ios}"),
            )
        except Exception as exc:
            raise ModelError(
                f"ct.convert failed ({torch_sources.short_error(exc)}); {log.tail()}"
            ) from exc


def save(model: Any, out: Path) -> None:
    with quiet(*NOISY_LOGGERS):
        model.save(str(out))


def load(path: Path) -> Any:
    """An MLModel from disk; on Linux it cannot be compiled or run, only read and rewritten."""
    ct = coremltools()
    with quiet(*NOISY_LOGGERS):
        return ct.models.MLModel(str(path), skip_model_load=True)


def package_io(path: Path) -> tuple[tuple[InputSpec, ...], tuple[str, ...]]:
    """Inputs and output names read from an .mlpackage's spec."""
    spec = load(path).get_spec()
    inputs = []
    for feature in spec.description.input:
        array = feature.type.multiArrayType
        inputs.append(InputSpec(name=feature.name, shape=tuple(int(d) for d in array.shape)))
    return tuple(inputs), tuple(o.name for o in spec.description.output)


def copy_package(spec: ModelSpec, out: Path) -> None:
    if not (spec.source_path / "Manifest.json").is_file():
        raise ModelError(f"{spec.source_path} is not an .mlpackage (no Manifest.json)")
    copy_file(spec.source_path, out)
