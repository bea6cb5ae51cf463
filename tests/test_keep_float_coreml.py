"""Keeping the few layers that break int8 in float, for Core ML (issue 25).

Real coremltools on a tiny conv net built in code (tests/tiny_outlier_net.py):
its per-tensor int8 weights variant fails the floor on the host estimate, and the
``keep_float = "auto"`` twin, made with ``OptimizationConfig(op_name_configs={name:
None})``, passes within ``max_drop`` with fewer than 20% of its layers in float.
"""

from pathlib import Path

import numpy as np
import pytest

from edgeops.devices.profiles import resolve_profiles
from edgeops.models import MeasureSettings
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec

NET = Path(__file__).parent / "tiny_outlier_net.py"
FAST = MeasureSettings(rounds=2, min_runs=3, min_duration_s=0.0, warmup_runs=1)

COREML_AUTO = """
[[sweep]]
recipe = "coreml:linear_quantize"
dtype = "int8"
granularity = "per_tensor"
keep_float = ["none", "auto"]
"""


def optimized(folder: Path, pm, workspace, sweep: str):
    config = folder / "edgeops.toml"
    config.write_text(
        f"""
[model]
name = "outliers"
source = "{NET}:build"
samples = "{NET}:samples"
sample_count = 8

[[model.inputs]]
name = "image"
shape = [1, 3, 16, 16]

[model.quality]
metric = "{NET}:fidelity"
floor = 0.98

{sweep}
"""
    )
    spec, _ = load_spec(config)
    pipeline = Pipeline(pm, workspace)
    host = resolve_profiles(["host"], pm)[0].model_copy(update={"formats": ("coreml",)})
    return pipeline, pipeline.optimize(pipeline.convert(spec, [host], FAST))


@pytest.mark.slow
def test_coreml_mixed_twin_passes_where_int8_fails(tmp_path, edgeops_pm, edgeops_workspace):
    _, results = optimized(tmp_path, edgeops_pm, edgeops_workspace, COREML_AUTO)
    by_name = {v.name: v for v in results.variants}
    int8 = by_name["coreml:linear_quantize-none"]
    mixed = by_name["coreml:linear_quantize-auto"]
    assert int8.status == "ok" and mixed.status == "ok", (int8.error, mixed.error)
    assert int8.quality is not None and mixed.quality is not None
    assert int8.quality.where == mixed.quality.where == "host-estimate"
    assert int8.quality.metrics["fidelity"] < 0.98 <= mixed.quality.metrics["fidelity"]
    kept = mixed.kept_float
    assert kept is not None and kept.drop <= kept.max_drop == 0.01
    # Every 16x16x3x3 conv weight is quantized (the 1x1 stem is under the threshold).
    assert (
        [x.op for x in int8.quantized_layers]
        == ["conv"] * 8
        == [x.op for x in (*mixed.quantized_layers, *kept.layers)]
    )
    # The one layer kept is the one with the outlier weight, ranked first.
    assert [x.name for x in kept.layers] == ["body_3_weight_to_fp16"] == list(kept.asked)
    assert kept.sensitivity[0].name == "body_3_weight_to_fp16"
    assert len(kept.layers) < 0.2 * kept.total_layers
    assert "body_3_weight_to_fp16" not in {x.name for x in mixed.quantized_layers}
    assert mixed.id != int8.id and mixed.sha256 != int8.sha256
    assert mixed.recipe.keeps_float and not int8.recipe.keeps_float


@pytest.mark.slow
def test_host_estimate_leaves_kept_layers_float(tmp_path, edgeops_pm, edgeops_workspace):
    """The estimate runs the file's own weights: the kept one as fp16, the rest int8."""
    import tiny_outlier_net

    from edgeops_coreml.host_estimate import decompressed_weights

    sweep = COREML_AUTO.replace('["none", "auto"]', '"none"') + (
        '\n[[sweep]]\nrecipe = "coreml:linear_quantize"\nname = "kept"\ndtype = "int8"\n'
        'granularity = "per_tensor"\nfloat_layers = [["body_3_weight_to_fp16"]]\n'
    )
    _, results = optimized(tmp_path, edgeops_pm, edgeops_workspace, sweep)
    mixed = next(v for v in results.variants if v.name.startswith("coreml:kept"))
    assert mixed.status == "ok", mixed.error
    source = tiny_outlier_net.build().state_dict()
    weights = decompressed_weights(mixed.path)
    kept = weights["body_3_weight_to_fp16"]
    np.testing.assert_allclose(kept, source["body.3.weight"].numpy(), rtol=1e-3, atol=1e-3)
    # Quantized: one scale per tensor, so at most 256 distinct values.
    assert len(np.unique(weights["body_0_weight_to_fp16_quantized"])) <= 256
    assert len(np.unique(kept)) > 256
