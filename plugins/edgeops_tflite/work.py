"""Multiply-accumulates and parameters of a .tflite model, counted as every backend counts them.

The rule is the Core ML backend's (edgeops_coreml/convert.py ``count_work``):
convolutions and linear layers only, one MAC per weight an output element is
made from. TFLite weight layouts (tensorflow/lite/schema/schema.fbs):

- CONV_2D and TRANSPOSE_CONV filters are [out, h, w, in]: h x w x in per output element;
- DEPTHWISE_CONV_2D filters are [1, h, w, out]: h x w per output element (one input channel each);
- CONV_3D filters are [d, h, w, in, out]: d x h x w x in;
- FULLY_CONNECTED weights are [out, in]: in per output element;
- BATCH_MATMUL with a constant right operand [..., in, out]: in per output element.

Parameters are the elements of constant tensors: inputs of an op that no op
produces and that are not model inputs (weights, biases, quantized weights
alike), except integer constants of other ops, which are axes and shapes. The
converter stores one copy of equal constants (two all-zero biases become one),
and the count is of what the file holds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def count_work(path: Path) -> tuple[int | None, int | None]:
    """(macs, params) of the model at ``path``; (None, None) when the runtime cannot read it."""
    from ai_edge_litert import interpreter as litert

    try:
        interpreter: Any = litert.Interpreter(model_path=str(path))
        ops = interpreter._get_ops_details()
        tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    except (ValueError, RuntimeError):
        return None, None
    produced = {int(i) for op in ops for i in op["outputs"]}
    model_inputs = {d["index"] for d in interpreter.get_input_details()}
    constants = {
        int(i)
        for op in ops
        for i in op["inputs"]
        if i >= 0 and int(i) not in produced and int(i) not in model_inputs
    }

    def shape(index: int) -> tuple[int, ...]:
        return tuple(max(int(d), 1) for d in tensors[index]["shape"])

    layers = {"CONV_2D", "DEPTHWISE_CONV_2D", "CONV_3D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}
    layers.add("BATCH_MATMUL")
    in_layers = {int(i) for op in ops if op["op_name"] in layers for i in op["inputs"] if i >= 0}
    weights = {
        i
        for i in constants
        if i in in_layers or not str(tensors[i]["dtype"].__name__).startswith(("int32", "int64"))
    }
    macs = 0
    for op in ops:
        name, inputs, outputs = op["op_name"], list(op["inputs"]), list(op["outputs"])
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "CONV_3D", "FULLY_CONNECTED"):
            weight = shape(int(inputs[1]))
        elif name == "TRANSPOSE_CONV":
            weight = shape(int(inputs[1]))  # inputs: output shape, filter, input[, bias]
        elif name == "BATCH_MATMUL" and len(inputs) > 1 and int(inputs[1]) in constants:
            weight = shape(int(inputs[1]))
        else:
            continue
        out = math.prod(shape(int(outputs[0])))
        per_output = {
            "CONV_2D": lambda w: math.prod(w[1:]),
            "TRANSPOSE_CONV": lambda w: math.prod(w[1:]),
            "DEPTHWISE_CONV_2D": lambda w: w[1] * w[2],
            "CONV_3D": lambda w: math.prod(w[:4]),
            "FULLY_CONNECTED": lambda w: w[-1],
            "BATCH_MATMUL": lambda w: w[-2],
        }[name](weight)
        macs += per_output * out
    params = sum(math.prod(shape(i)) for i in weights)
    return macs, params
