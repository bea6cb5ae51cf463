"""Fixtures: a real labgrid farm on 127.0.0.1 (farm_testing.py), and a tiny ONNX model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from farm_testing import Farm, start_farm, stop_farm


@pytest.fixture
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """A farm of the test's own, to kill parts of."""
    started = start_farm(tmp_path_factory.mktemp("farm"))
    yield started
    stop_farm(started)


@pytest.fixture(scope="module")
def shared_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """One farm for a module's tests that leave it whole."""
    started = start_farm(tmp_path_factory.mktemp("farm"))
    yield started
    stop_farm(started)


@pytest.fixture(scope="session")
def tiny_onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """y = relu(x @ w): small enough that the probe's runs take milliseconds."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32), "w"
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("models") / "tiny.onnx"
    onnx.save(model, str(path))
    return path
