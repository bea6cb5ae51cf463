"""A reference that ignores its input is refused before any variant is scored."""

import numpy as np
import pytest

from edgeops.devices.profiles import resolve_profiles
from edgeops.errors import ModelError
from edgeops.models import MeasureSettings
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec

from factories import tiny_onnx


def dead_onnx(path, size=16):
    """The dead segmenter's shape of failure: a constant mask plus 1e-9 of the input."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    constant = numpy_helper.from_array(np.full((1, 1, size, size), 0.73, np.float32), "c")
    scale = numpy_helper.from_array(np.array(1e-9, np.float32), "s")
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
            helper.make_node("Mul", ["m", "s"], ["tiny"]),
            helper.make_node("Add", ["c", "tiny"], ["y"]),
        ],
        "dead",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, size, size])],
        [constant, scale],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _convert(path, edgeops_pm, edgeops_workspace):
    spec, _ = load_spec(path)
    spec = spec.model_copy(update={"recipes": ("fp32",), "task": "segmentation"})
    host = resolve_profiles(["host"], edgeops_pm)[0].model_copy(update={"formats": ("onnx",)})
    return Pipeline(edgeops_pm, edgeops_workspace).convert(spec, [host], MeasureSettings())


def test_a_dead_reference_stops_the_run_before_scoring(tmp_path, edgeops_pm, edgeops_workspace):
    with pytest.raises(ModelError, match="do not depend on its input") as raised:
        _convert(dead_onnx(tmp_path / "dead.onnx"), edgeops_pm, edgeops_workspace)
    assert "across 16 different samples" in str(raised.value)
    # Cached from the first run or not, the second run is refused the same way.
    with pytest.raises(ModelError, match="do not depend on its input"):
        _convert(tmp_path / "dead.onnx", edgeops_pm, edgeops_workspace)


def test_a_living_reference_passes(tmp_path, edgeops_pm, edgeops_workspace):
    results = _convert(tiny_onnx(tmp_path / "m.onnx"), edgeops_pm, edgeops_workspace)
    assert results.reference is not None
