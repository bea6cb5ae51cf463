"""Sources → ONNX: an .onnx file checked and copied, or a PyTorch factory exported."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.plugin import (
    InputSpec,
    ModelError,
    ModelSpec,
    copy_file,
    quiet,
    write_bytes,
)
from edgeops_torch_route.torch_sources import factory_module

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
    """The model at ``path``, with the external data files beside it loaded in.

    Each external data location is checked before it is read: a plain relative
    path inside the model's folder (no ``..``, not absolute), a regular file, the
    tensor's bytes within it.
    """
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    # The source was checked to be a regular file when the config was read (files.py).
    with open(path, "rb") as f:
        head = f.read(512).lstrip()
    if head[:1] == b"<" or head[:9].lower() == b"<!doctype":
        raise ModelError(
            f"{path} is a web page (HTML), not an ONNX model; download the raw file, "
            "not the page that shows it"
        )
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelError(f"{path} is not a valid ONNX model ({_short(exc)}); re-export it") from exc
    if external_data_files(model, path):
        load_external_data_for_model(model, str(path.parent))
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(f"{path} is not a valid ONNX model ({_short(exc)}); re-export it") from exc
    return model


def external_data_files(model: onnx.ModelProto, path: Path) -> list[Path]:
    """The external data files ``model`` (read from ``path``) names, each checked."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    folder = path.parent.resolve()
    found: list[Path] = []
    for tensor in _all_tensors(model):
        if not uses_external_data(tensor):
            continue
        info = ExternalDataInfo(tensor)
        location = str(info.location)
        parts = Path(location).parts
        if not location or Path(location).is_absolute() or ".." in parts or "\\" in location:
            raise ModelError(
                f"{path}: tensor {tensor.name!r} keeps its data at {location!r}, outside the "
                "model's folder; save the model with its data file beside it"
            )
        data = folder / location
        if folder not in data.resolve().parents:
            raise ModelError(
                f"{path}: tensor {tensor.name!r}'s data file {location} leads outside the "
                "model's folder; replace the link with the file itself"
            )
        if not data.is_file():  # a FIFO or a device would hang or never end
            raise ModelError(
                f"{path}: tensor {tensor.name!r}'s data file {location} is missing or not a "
                "regular file; copy the data file beside the model"
            )
        size = data.stat().st_size
        end = (info.offset or 0) + (info.length or 0)
        if end > size:
            raise ModelError(
                f"{path}: tensor {tensor.name!r} wants bytes up to {end} of {location}, which "
                f"has {size}; copy the whole data file beside the model"
            )
        if data not in found:
            found.append(data)
    return found


def _all_tensors(model: onnx.ModelProto) -> list[Any]:
    from onnx.external_data_helper import _get_all_tensors

    return list(_get_all_tensors(model))


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
        if _has_external_data(spec.source_path):
            # Its data files come along inside the copy: one self-contained .onnx is what
            # every later stage, the cache's hash and the bundle carry.
            write_bytes(out, _serialized(model, spec.source_path))
        else:
            copy_file(spec.source_path, out)
        return model
    return rebind(model, spec, out)


# protobuf's bound on one message: a model past it must keep its data outside.
MAX_INLINE_BYTES = 2**31 - 1


def _has_external_data(path: Path) -> bool:
    import onnx
    from onnx.external_data_helper import uses_external_data

    bare = onnx.load(str(path), load_external_data=False)
    return any(uses_external_data(t) for t in _all_tensors(bare))


def _serialized(model: onnx.ModelProto, path: Path) -> bytes:
    if model.ByteSize() > MAX_INLINE_BYTES:
        raise ModelError(
            f"{path.name} with its external data is over 2 GB, past what one ONNX file holds; "
            "edgeops does not carry external data files yet, so ship a smaller model"
        )
    return bytes(model.SerializeToString())


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


def dummy_inputs(spec: ModelSpec) -> tuple[Any, ...]:
    import torch

    if not spec.inputs:
        raise ModelError(
            f"{spec.source} is a PyTorch factory: add [[model.inputs]] to edgeops.toml"
        )
    return tuple(torch.zeros(i.shape, dtype=getattr(torch, i.dtype)) for i in spec.inputs)


def export_factory(spec: ModelSpec, out: Path) -> onnx.ModelProto:
    import torch

    net = factory_module(spec)
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
