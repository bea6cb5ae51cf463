"""A variant's file read into the predictor's layer list: ONNX, TFLite and Core ML graphs.

Only shapes and op types are read; nothing is run. Heavy SDKs are imported inside the
functions (STYLE: `edgeops --help` stays fast).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .layers import Layer, Network

# Ops whose time the model counts as pure data movement (elementwise layers).
_SKIP = {"Constant", "Shape", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}


def _prod(dims: Any) -> int:
    dims = [int(d) for d in dims]
    return int(math.prod(dims)) if dims else 1


def read_network(path: Path, fmt: str) -> Network | None:
    """The layer list of a model file, or None for a format or file this cannot read."""
    try:
        if fmt == "onnx":
            return _onnx(path)
        if fmt == "tflite":
            return _tflite(path)
        if fmt == "coreml":
            return _coreml(path)
    except Exception:  # an unreadable graph is no basis for a prediction, not a crash
        return None
    return None


def _conv_layer(w_shape: list[int], out_elems: int, in_elems: int, groups: int) -> Layer:
    cin_g = w_shape[1]
    area = _prod(w_shape[2:])
    macs = out_elems * cin_g * area
    if groups > 1 and cin_g == 1:
        kind = "depthwise"
    elif area == 1:
        kind = "pointwise"
    else:
        kind = "conv"
    return Layer(kind, macs, _prod(w_shape), in_elems, out_elems)


def _onnx(path: Path) -> Network:
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    g = model.graph
    shapes: dict[str, list[int]] = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        dims = [d.dim_value or 1 for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
    # Weights behind a DequantizeLinear (QDQ) or a Cast (fp16 with fp32 I/O).
    source = {n.output[0]: n.input[0] for n in g.node if n.op_type in ("DequantizeLinear", "Cast")}

    def shape(name: str) -> list[int]:
        while name not in shapes and name in source:
            name = source[name]
        return shapes.get(name, [])

    inputs = {i.name for i in g.initializer}
    net = Network(
        path.stem, input_elems=sum(_prod(shape(i.name)) for i in g.input if i.name not in inputs)
    )
    for node in g.node:
        if node.op_type in _SKIP or node.op_type in ("DequantizeLinear", "QuantizeLinear", "Cast"):
            continue
        out = _prod(shape(node.output[0])) if node.output else 0
        first = _prod(shape(node.input[0])) if node.input else 0
        if node.op_type in ("Conv", "ConvInteger", "QLinearConv"):
            w = shape(node.input[3] if node.op_type == "QLinearConv" else node.input[1])
            groups = next((a.i for a in node.attribute if a.name == "group"), 1)
            if len(w) >= 3:
                net.layers.append(_conv_layer(w, out, first, groups))
                continue
        if node.op_type in ("Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"):
            w = shape(node.input[1] if node.op_type != "QLinearMatMul" else node.input[3])
            if w:
                k = w[-2] if node.op_type != "Gemm" else _prod(w) // max(1, out)
                net.layers.append(Layer("fc", out * k, _prod(w), first, out))
                continue
        net.layers.append(Layer("elementwise", 0, 0, first, out))
    return net


def _tflite(path: Path) -> Network:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    net = Network(path.stem, input_elems=sum(_prod(d["shape"]) for d in interp.get_input_details()))

    def dims(i: int) -> list[int]:
        return [int(x) for x in tensors[i]["shape"]] if i in tensors else []

    for op in interp._get_ops_details():
        name = op["op_name"]
        ins, outs = list(op["inputs"]), list(op["outputs"])
        if name in ("DEQUANTIZE", "QUANTIZE", "RESHAPE", "SQUEEZE"):
            continue
        out = _prod(dims(outs[0])) if outs else 0
        first = _prod(dims(ins[0])) if ins and ins[0] >= 0 else 0
        if name == "CONV_2D" and len(ins) > 1:
            w = dims(ins[1])  # OHWI
            net.layers.append(_conv_layer([w[0], w[3], w[1], w[2]], out, first, 1))
        elif name == "DEPTHWISE_CONV_2D" and len(ins) > 1:
            w = dims(ins[1])  # 1HWO
            net.layers.append(_conv_layer([w[3], 1, w[1], w[2]], out, first, w[3]))
        elif name in ("FULLY_CONNECTED", "BATCH_MATMUL") and len(ins) > 1:
            w = dims(ins[1])
            k = w[-1] if name == "FULLY_CONNECTED" else w[-2]
            net.layers.append(Layer("fc", out * k, _prod(w), first, out))
        else:
            net.layers.append(Layer("elementwise", 0, 0, first, out))
    return net


def _coreml(path: Path) -> Network:
    from edgeops.plugin import quiet  # coremltools logs at import

    with quiet():
        import coremltools as ct

        spec = ct.utils.load_spec(str(path))
    fn = spec.mlProgram.functions["main"]
    block = fn.block_specializations[fn.opset]
    types: dict[str, list[int]] = {}

    def tensor_dims(t: Any) -> list[int]:
        return [
            int(d.constant.size) if d.WhichOneof("dimension") == "constant" else 1
            for d in t.tensorType.dimensions
        ]

    for inp in fn.inputs:
        types[inp.name] = tensor_dims(inp.type)
    net = Network(path.stem, input_elems=sum(_prod(v) for v in types.values()))
    for op in block.operations:
        for o in op.outputs:
            types[o.name] = tensor_dims(o.type)
        if op.type.startswith("constexpr") or op.type == "const":
            continue

        def arg(name: str, op: Any = op) -> list[int]:
            args = op.inputs[name].arguments if name in op.inputs else []
            return types.get(args[0].name, []) if args and args[0].name else []

        out = _prod(types.get(op.outputs[0].name, [])) if op.outputs else 0
        first = _prod(arg("x"))
        if op.type == "conv":
            w = arg("weight")
            x = arg("x")
            # The groups argument may be a named const; the shapes say it just as well.
            groups = x[1] // w[1] if len(x) > 1 and len(w) > 1 and w[1] else 1
            if len(w) >= 3:
                net.layers.append(_conv_layer(w, out, first, groups))
                continue
        if op.type in ("linear", "matmul"):
            w = arg("weight") or arg("y")
            if w:
                net.layers.append(Layer("fc", out * w[-1], _prod(w), first, out))
                continue
        net.layers.append(Layer("elementwise", 0, 0, first, out))
    return net
