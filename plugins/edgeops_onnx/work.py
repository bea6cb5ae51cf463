"""Multiply-accumulates of an ONNX graph, counted as every edgeops backend counts them.

The rule (the Core ML backend's ``count_work``, edgeops_coreml/convert.py):
convolutions and linear layers only, each output element costing one MAC per
weight it is made from. A convolution's output element costs
kernel height x width x input channels / groups; a linear layer's (MatMul or
Gemm whose weight is a constant) costs its input features. Activation x
activation products (attention scores) and element-wise ops are not counted,
so the figure compares across formats and across the variants of one model:
quantizing a model does not change its count.

Shapes come from ONNX shape inference; a symbolic dimension counts as 1, as
the model's InputSpec does. A graph whose shapes cannot be inferred gets None.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

# op -> (index of the data input, index of the weight input)
_CONVOLUTIONS = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3, "ConvTranspose": 1}
_LINEAR = {"MatMul": 1, "Gemm": 1, "MatMulInteger": 1, "QLinearMatMul": 3}
# Ops that pass a constant weight through unchanged in meaning (a quantized or cast copy).
_WEIGHT_WRAPPERS = {
    "DequantizeLinear", "Cast", "Identity", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
}  # fmt: skip


def count_macs(model: onnx.ModelProto) -> int | None:
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # onnx raises several types for graphs it cannot follow
        return None
    graph = inferred.graph
    shapes: dict[str, tuple[int, ...]] = {i.name: tuple(i.dims) for i in graph.initializer}
    for info in (*graph.input, *graph.value_info, *graph.output):
        if info.type.HasField("tensor_type") and info.type.tensor_type.HasField("shape"):
            dims = info.type.tensor_type.shape.dim
            shapes.setdefault(
                info.name, tuple(d.dim_value if d.HasField("dim_value") else 1 for d in dims)
            )
    constants = {i.name for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" or (
            node.op_type in _WEIGHT_WRAPPERS and node.input and node.input[0] in constants
        ):
            constants.update(node.output)
    macs = 0
    for node in graph.node:
        if node.op_type in _CONVOLUTIONS:
            weight = shapes.get(node.input[_CONVOLUTIONS[node.op_type]])
            output = shapes.get(node.output[0])
            if weight is None or output is None:
                return None
            groups = next((a.i for a in node.attribute if a.name == "group"), 1)
            if node.op_type == "ConvTranspose":
                # Weight (C_in, C_out / groups, k...): torch's rule, in_channels / groups x kernel.
                kernel = math.prod(weight[2:]) * weight[0] // groups
            else:
                kernel = math.prod(weight[1:])  # (C_out, C_in / groups, k...)
            macs += kernel * math.prod(output)
        elif node.op_type in _LINEAR:
            weight_name = node.input[_LINEAR[node.op_type]]
            if weight_name not in constants:
                continue  # activation x activation: not a linear layer
            weight = shapes.get(weight_name)
            output = shapes.get(node.output[0])
            if weight is None or output is None or len(weight) < 2:
                return None
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            features = weight[-1] if (node.op_type == "Gemm" and trans_b) else weight[-2]
            macs += features * math.prod(output)
    return macs
