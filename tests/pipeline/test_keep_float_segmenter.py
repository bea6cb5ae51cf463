"""Keeping the layer that breaks int8 in float, on the example segmenter (issue 25).

tests/sensitive_segmenter.py is examples/segmenter with its committed weights and
one deliberately sensitive layer: the last convolution (one output channel, so
its per-channel int8 scale is one scale) holds a weight of 1000 on a dead
channel. Full int8 loses the mask; the ``keep_float = "auto"`` twin keeps that
one convolution in float. Real conversions and real ONNX Runtime, on 2 samples
to keep the search (one variant per quantized layer, 55 here) short.
TFLite, Core ML and Core AI run the same search in ``benchmarks/keep_float.py``
(README: its table); their mechanisms are tested on small models.
"""

from pathlib import Path

import pytest

from edgeops.devices.profiles import resolve_profiles
from edgeops.models import MeasureSettings
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec

SEGMENTER = Path(__file__).parent.parent / "sensitive_segmenter.py"
FAST = MeasureSettings(rounds=2, min_runs=3, min_duration_s=0.0, warmup_runs=1)


@pytest.mark.slow
def test_onnx_segmenter_mixed_twin_passes_where_int8_fails(tmp_path, edgeops_pm, edgeops_workspace):
    config = tmp_path / "edgeops.toml"
    config.write_text(
        f"""
[model]
name = "segmenter"
source = "{SEGMENTER}:build"
samples = "{SEGMENTER}:samples"
task = "segmentation"
sample_count = 2

[[model.inputs]]
name = "image"
shape = [1, 3, 128, 128]

[model.quality]
metric = "iou"
floor = 0.9

[[sweep]]
recipe = "onnx:quantize_static"
keep_float = ["none", "auto"]
"""
    )
    spec, _ = load_spec(config)
    pipeline = Pipeline(edgeops_pm, edgeops_workspace)
    host = resolve_profiles(["host"], edgeops_pm)[0].model_copy(update={"formats": ("onnx",)})
    results = pipeline.optimize(pipeline.convert(spec, [host], FAST))
    by_name = {v.name: v for v in results.variants}
    int8 = by_name["onnx:quantize_static-none"]
    mixed = by_name["onnx:quantize_static-auto"]
    assert int8.status == "ok" and mixed.status == "ok", (int8.error, mixed.error)
    assert int8.quality is not None and mixed.quality is not None
    assert int8.quality.metrics["iou"] < 0.9 <= mixed.quality.metrics["iou"]
    kept = mixed.kept_float
    assert kept is not None and kept.drop <= kept.max_drop == 0.01
    assert 0 < len(kept.layers) < 0.2 * kept.total_layers == 0.2 * len(int8.quantized_layers)
    # The one layer that matters is the last convolution (16 channels to 1), the one with
    # the outlier weight, ranked first by far; the mixed file holds its weight in float.
    assert kept.asked == (kept.sensitivity[0].name,) and kept.layers[0].op == "Conv"
    assert kept.sensitivity[0].recovered > 0.9 > kept.sensitivity[1].recovered
    assert float_weight_shape(mixed.path, kept.asked[0]) == [1, 16, 1, 1]


def float_weight_shape(path: Path, node_name: str) -> list[int]:
    """The shape of the float initializer ``node_name`` reads as its weight (fails if the
    weight comes through a DequantizeLinear, i.e. is int8)."""
    import onnx

    graph = onnx.load(str(path)).graph
    node = next(n for n in graph.node if n.name == node_name)
    (weight,) = [i for i in graph.initializer if i.name == node.input[1]]
    assert weight.data_type == onnx.TensorProto.FLOAT
    return list(weight.dims)
