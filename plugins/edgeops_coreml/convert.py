"""Sources → Core ML mlprogram (.mlpackage): PyTorch factories and ONNX through torch.

Routes measured here (conversion-notes.md): a factory is traced with
``torch.jit.trace`` and converted by ``ct.convert``; an ONNX model goes through
onnx2torch first (coremltools has no ONNX front end). An ``.mlpackage`` source
is copied as is. Inputs and outputs stay fp32 whatever the compute precision:
with fp16 and an iOS 17+ target coremltools would make them fp16 otherwise.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from edgeops.plugin import (
    InputSpec,
    ModelError,
    ModelSpec,
    copy_file,
    import_factory,
    quiet,
    write_text,
)

from .sdk import NOISY_LOGGERS, coremltools, onnx2torch

PACKAGE_NAME = "model.mlpackage"
BUILD_INFO_NAME = "coreml.json"
# onnx2torch rejects opset-20 exports from torch's new exporter (Resize-19,
# conversion-notes.md) and old op versions too (Slice-1 in an opset-9 model here),
# so every graph is converted to opset 17 first.
ONNX2TORCH_OPSET = 17
# The base artifact's target: the newest iOS of the A11 iPhones (chips/a11.toml), so
# the plain conversion loads on every iPhone edgeops knows. Recipes ask for more.
BASE_IOS = 16
PRECISIONS = ("float16", "float32")


# --------------------------------------------------------------------------- torch side


def torch_source(spec: ModelSpec) -> tuple[Any, tuple[InputSpec, ...]]:
    """The source as an fp32 torch module in eval mode, and its inputs."""
    if spec.is_factory:
        import torch

        if not spec.inputs:
            raise ModelError(f"{spec.source} is a PyTorch factory: add [[model.inputs]]")
        net = import_factory(spec.source, ModelError, "source")()
        if not isinstance(net, torch.nn.Module):
            raise ModelError(f"{spec.source} returned {type(net).__name__}, not a torch.nn.Module")
        return net.eval(), spec.inputs
    if spec.source_path.suffix == ".onnx":
        return _onnx_as_torch(spec.source_path, spec.inputs)
    raise ModelError(f"the Core ML backend cannot read {spec.source_path.name}")


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


def resolved(spec: ModelSpec) -> ModelSpec:
    """The spec with an absolute source, so a later stage finds it from any folder."""
    head, sep, tail = spec.source.rpartition(":")
    if spec.is_factory:
        return spec.model_copy(update={"source": f"{Path(head).resolve()}{sep}{tail}"})
    return spec.model_copy(update={"source": str(Path(spec.source).resolve())})


def _onnx_as_torch(path: Path, inputs: tuple[InputSpec, ...]) -> tuple[Any, tuple[InputSpec, ...]]:
    import onnx
    from onnx import version_converter

    # The ONNX backend checked this file and read its inputs (the run's ONNX
    # artifact, see edgeops_conversion_inputs); they arrive in ``inputs``.
    model = onnx.load(str(path))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset != ONNX2TORCH_OPSET:
        try:
            model = version_converter.convert_version(model, ONNX2TORCH_OPSET)
        except Exception as exc:
            raise ModelError(
                f"{path.name}: cannot convert opset {opset} to {ONNX2TORCH_OPSET} "
                f"for onnx2torch ({_short(exc)}); re-export it with opset {ONNX2TORCH_OPSET}"
            ) from exc
    try:
        with quiet(*NOISY_LOGGERS):
            net = onnx2torch().convert(model)
    except Exception as exc:
        raise ModelError(f"onnx2torch cannot convert {path.name} ({_short(exc)})") from exc
    return net.eval(), inputs


def example_args(inputs: tuple[InputSpec, ...]) -> tuple[Any, ...]:
    import torch

    return tuple(torch.zeros(i.shape, dtype=getattr(torch, i.dtype)) for i in inputs)


def trace(net: Any, inputs: tuple[InputSpec, ...]) -> tuple[Any, int]:
    """TorchScript of ``net`` and its number of outputs."""
    import torch

    args = example_args(inputs)
    with quiet(*NOISY_LOGGERS), torch.no_grad():
        try:
            traced = torch.jit.trace(net, args, check_trace=False)
            result = traced(*args)
        except Exception as exc:
            raise ModelError(f"torch.jit.trace failed ({_short(exc)})") from exc
    return traced, len(result) if isinstance(result, (tuple, list)) else 1


def count_work(net: Any, inputs: tuple[InputSpec, ...]) -> tuple[int, int]:
    """Multiply-accumulates of convolutions and linear layers, and the largest layer's
    input plus output elements, from one forward pass.

    Convolutions and linear layers hold nearly all the arithmetic of the conv nets
    edgeops ships; the prediction (predict.py) needs an order of magnitude, not an
    exact count. The largest layer's tensors are what must be resident at once when
    a runtime frees each activation after its last use: the activation part of the
    predicted peak memory.
    """
    import math

    import torch

    macs = 0
    largest_elements = sum(math.prod(i.shape) for i in inputs)

    def conv(module: Any, args: Any, output: Any) -> None:
        nonlocal macs
        kernel = math.prod(module.kernel_size) * module.in_channels // module.groups
        macs += kernel * output.numel()

    def linear(module: Any, args: Any, output: Any) -> None:
        nonlocal macs
        macs += module.in_features * output.numel()

    def tensors(module: Any, args: Any, output: Any) -> None:
        nonlocal largest_elements
        flat = [*args, *(output if isinstance(output, (tuple, list)) else (output,))]
        elements = sum(t.numel() for t in flat if isinstance(t, torch.Tensor))
        largest_elements = max(largest_elements, elements)

    handles = []
    for module in net.modules():
        if isinstance(module, torch.nn.modules.conv._ConvNd):
            handles.append(module.register_forward_hook(conv))
        elif isinstance(module, torch.nn.Linear):
            handles.append(module.register_forward_hook(linear))
        if not any(True for _ in module.children()):
            handles.append(module.register_forward_hook(tensors))
    try:
        with torch.no_grad(), quiet(*NOISY_LOGGERS):
            net(*example_args(inputs))
    finally:
        for handle in handles:
            handle.remove()
    return macs, largest_elements


# --------------------------------------------------------------------------- Core ML side


def coreml_name(name: str) -> str:
    """Core ML feature names are identifiers; ONNX's ("x.1", "1273") often are not."""
    clean = re.sub(r"\W", "_", name)
    return clean if clean[:1].isalpha() or clean[:1] == "_" else f"input_{clean}"


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
            raise ModelError(f"ct.convert failed ({_short(exc)}); {log.tail()}") from exc


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


# --------------------------------------------------------------------------- build info


def write_build_info(workdir: Path, info: dict[str, Any]) -> None:
    """What the base conversion was made from and with, beside the package.

    Recipes that need another deployment target, precision or a torch-side pass
    (W8A8) rebuild from the spec recorded here.
    """
    write_text(workdir / BUILD_INFO_NAME, json.dumps(info, indent=2, default=str))


def read_build_info(package: Path) -> dict[str, Any]:
    file = package.parent / BUILD_INFO_NAME
    return json.loads(file.read_text()) if file.is_file() else {}


def spec_of(package: Path) -> ModelSpec | None:
    raw = read_build_info(package).get("spec")
    return ModelSpec.model_validate(raw) if raw else None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("…" if len(text) > 300 else "")
