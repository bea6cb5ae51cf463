"""Sources → ONNX: an .onnx file checked and copied, or a PyTorch factory exported."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.plugin import (
    InputSpec,
    ModelError,
    ModelSpec,
    copy_file,
    import_factory,
    quiet,
    write_bytes,
)

if TYPE_CHECKING:
    import onnx

# Opset 18: the torch 2.13 exporter's own default generation, and new enough for
# ORT's per-channel QDQ quantization.
EXPORT_OPSET = 18

_ONNX_DTYPES = {
    1: "float32",
    10: "float16",
    11: "float64",
    7: "int64",
    6: "int32",
    3: "int8",
    2: "uint8",
    9: "bool",
}


def load_checked(path: Path) -> onnx.ModelProto:
    import onnx

    head = path.read_bytes()[:512].lstrip()
    if head[:1] == b"<" or head[:9].lower() == b"<!doctype":
        raise ModelError(
            f"{path} is a web page (HTML), not an ONNX model; download the raw file, "
            "not the page that shows it"
        )
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(f"{path} is not a valid ONNX model ({_short(exc)}); re-export it") from exc
    return model


def graph_inputs(model: onnx.ModelProto) -> tuple[InputSpec, ...]:
    initializers = {i.name for i in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        # Symbolic dimensions (a batch 'N') are measured at 1.
        shape = tuple(d.dim_value if d.dim_value > 0 else 1 for d in tensor.shape.dim)
        inputs.append(
            InputSpec(
                name=value.name, shape=shape, dtype=_ONNX_DTYPES.get(tensor.elem_type, "float32")
            )
        )
    return tuple(inputs)


def graph_outputs(model: onnx.ModelProto) -> tuple[str, ...]:
    return tuple(o.name for o in model.graph.output)


def parameter_count(model: onnx.ModelProto) -> int:
    import math

    return sum(math.prod(i.dims) for i in model.graph.initializer)


def copy_onnx(spec: ModelSpec, out: Path) -> onnx.ModelProto:
    """The source as it is, or rebound to the spec's input shapes when they differ."""
    model = load_checked(spec.source_path)
    if not spec.inputs or all(
        i.shape == g.shape for i, g in zip(spec.inputs, graph_inputs(model), strict=False)
    ):
        copy_file(spec.source_path, out)
        return model
    return rebind(model, spec, out)


def rebind(model: onnx.ModelProto, spec: ModelSpec, out: Path) -> onnx.ModelProto:
    """``model`` with its inputs fixed to the spec's shapes, checked by one run.

    Symbolic and fixed dimensions alike are replaced, the inner shapes inferred
    again; a graph that hard-codes its size (a Reshape to fixed numbers) fails
    the run, and the error says the model cannot take the shape.
    """
    import numpy as np
    import onnx
    import onnxruntime as ort

    bound = onnx.ModelProto()
    bound.CopyFrom(model)
    wanted = {i.name: i.shape for i in spec.inputs}
    for value in bound.graph.input:
        if value.name in wanted:
            dims = value.type.tensor_type.shape.dim
            if len(dims) != len(wanted[value.name]):
                found = [d.dim_value or d.dim_param or "?" for d in dims]
                raise ModelError(
                    f"{spec.source_path.name}: input {value.name!r} has {len(dims)} dimensions "
                    f"{found}, but [[model.inputs]] gives {len(wanted[value.name])} "
                    f"{list(wanted[value.name])}; give a shape of rank {len(dims)}"
                )
            for dim, size in zip(dims, wanted[value.name], strict=True):
                dim.Clear()
                dim.dim_value = size
    del bound.graph.value_info[:]
    for value in bound.graph.output:
        value.type.tensor_type.ClearField("shape")
    shapes = ", ".join(f"{name} {list(shape)}" for name, shape in wanted.items())
    try:
        bound = onnx.shape_inference.infer_shapes(bound)
        session = ort.InferenceSession(
            bound.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        feed = {i.name: np.zeros(i.shape, dtype=np.dtype(i.dtype)) for i in spec.inputs}
        session.run(None, feed)
    except Exception as exc:  # onnx and onnxruntime raise many types; all mean "cannot"
        raise ModelError(
            f"{spec.source_path.name} cannot take input shape {shapes}: {_short(exc)}"
        ) from exc
    write_bytes(out, bound.SerializeToString())
    return bound


def load_factory_module(spec: ModelSpec) -> Any:
    """Import the factory's file and call it: the user's nn.Module, in eval mode."""
    net = import_factory(spec.source, ModelError, "source")()
    import torch

    if not isinstance(net, torch.nn.Module):
        raise ModelError(f"{spec.source} returned {type(net).__name__}, not a torch.nn.Module")
    return net.eval()


def dummy_inputs(spec: ModelSpec) -> tuple[Any, ...]:
    import torch

    if not spec.inputs:
        raise ModelError(
            f"{spec.source} is a PyTorch factory: add [[model.inputs]] to edgeops.toml"
        )
    return tuple(torch.zeros(i.shape, dtype=getattr(torch, i.dtype)) for i in spec.inputs)


def export_factory(spec: ModelSpec, out: Path) -> onnx.ModelProto:
    import torch

    net = load_factory_module(spec)
    args = dummy_inputs(spec)
    with quiet("torch", "torch.onnx", "onnxscript") as log, torch.no_grad():
        try:
            torch.onnx.export(
                net,
                args,
                str(out),
                input_names=[i.name for i in spec.inputs],
                opset_version=EXPORT_OPSET,
                dynamo=True,
                external_data=False,
            )
        except Exception as exc:
            raise ModelError(
                f"torch.onnx.export of {spec.source} failed ({_short(exc)}); {log.tail()}"
            ) from exc
    return load_checked(out)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("…" if len(text) > 300 else "")
