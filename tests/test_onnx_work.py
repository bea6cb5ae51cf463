"""MACs of ONNX graphs (plugins/edgeops_onnx/work.py), checked against counts done by hand."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeops_onnx.work import count_macs

from factories import tiny_onnx
from paths import DATA


@pytest.mark.parametrize("size", [16, 32])
def test_two_convolutions_count_kernel_times_output_elements(tmp_path, size):
    model = onnx.load(str(tiny_onnx(tmp_path / "m.onnx", size=size)))
    # conv 3 -> 8, 3 x 3: 3*9 per output element, 8 x size^2 of them; conv 8 -> 2: 8*9 x 2 x size^2.
    assert count_macs(model) == (27 * 8 + 72 * 2) * size * size


def test_mnist_counts_its_two_convolutions_and_its_linear_layer():
    model = onnx.load(str(DATA / "models/onnx/ortexamples__mnist.onnx"))
    # 5 x 5 conv 1 -> 8 on 28 x 28; 5 x 5 conv 8 -> 16 on 14 x 14; a 256 -> 10 MatMul whose
    # weight the CNTK export reshapes from a constant.
    assert count_macs(model) == 25 * 8 * 28 * 28 + 25 * 8 * 16 * 14 * 14 + 256 * 10


def test_gemm_with_a_transposed_weight_counts_and_activation_products_do_not():
    w = numpy_helper.from_array(np.ones((5, 7), np.float32), "w")  # (out, in) with transB
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "w"], ["y"], transB=1),
            # y x y^T: activations by activations, as in attention: not a linear layer.
            helper.make_node("Transpose", ["y"], ["yt"]),
            helper.make_node("MatMul", ["y", "yt"], ["z"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 7])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [3, 3])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert count_macs(model) == 7 * 3 * 5
