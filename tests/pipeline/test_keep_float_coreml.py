"""Keeping the few layers that break int8 in float, for Core ML (issue 25).

Real coremltools on a tiny conv net built in code (tests/tiny_outlier_net.py):
its per-tensor int8 weights variant fails the floor on the host estimate, and the
``keep_float = "auto"`` twin, made with ``OptimizationConfig(op_name_configs={name:
None})``, passes within ``max_drop`` with fewer than 20% of its layers in float.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeops.devices.profiles import resolve_profiles
from edgeops.errors import StageError
from edgeops.models import MeasureSettings
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec
from edgeops.pipeline.sweep import expand

NET = Path(__file__).parent.parent / "tiny_outlier_net.py"
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


def test_sweep_drops_keep_float_on_int4(edgeops_pm, edgeops_workspace):
    families = Pipeline(edgeops_pm, edgeops_workspace).recipe_families()
    tables = [
        {"recipe": "coreml:linear_quantize", "dtype": "int4", "granularity": "per_block",
         "block_size": 32, "keep_float": "auto"},
        {"recipe": "coreml:linear_quantize", "name": "int8", "dtype": "int8", "keep_float": "auto"},
    ]  # fmt: skip
    expansion = expand(tables, families)
    assert [d.reason for d in expansion.dropped] == [
        "keep_float and float_layers need dtype = 'int8'"
    ]
    assert [r.id for r in expansion.recipes] == ["coreml:int8"]
    assert expansion.recipes[0].keeps_float


def test_float_layers_naming_no_weight_fail_with_the_fix():
    import coremltools as ct
    import tiny_outlier_net
    import torch

    from edgeops_coreml import compress
    from edgeops_coreml.steps import LinearQuantize

    example = torch.rand(1, 3, 16, 16)
    traced = torch.jit.trace(tiny_outlier_net.build(), example)
    model = ct.convert(
        traced,
        inputs=[ct.TensorType(name="image", shape=example.shape)],
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS17,
    )
    step = LinearQuantize(dtype="int8", float_layers=("body.3.weight",))
    with pytest.raises(StageError, match=r"body\.3\.weight name no weight .* quantized_layers"):
        compress.apply_steps(model, [step])
    # The right name keeps exactly that weight in float.
    step = LinearQuantize(dtype="int8", float_layers=("body_3_weight_to_fp16",))
    _, facts = compress.apply_steps(model, [step])
    names = [name for name, _ in facts["quantized_layers"]]
    assert len(names) == 7 and "body_3_weight_to_fp16" not in names


@pytest.mark.slow
def test_w8a8_keeps_the_named_module_float(tmp_path, edgeops_pm, edgeops_workspace):
    """W8A8's mechanism: ``LinearQuantizerConfig(module_name_configs={name: None})``; the
    variant lists the modules it quantized, and the kept one is not among them."""
    sweep = (
        '[[sweep]]\nrecipe = "coreml:w8a8"\nname = "w8a8-kept"\nfloat_layers = [["body.3"]]\n'
        '\n[[sweep]]\nrecipe = "coreml:w8a8"\nname = "w8a8-bad"\nfloat_layers = [["body_3"]]\n'
    )
    _, results = optimized(tmp_path, edgeops_pm, edgeops_workspace, sweep)
    by_name = {v.name: v for v in results.variants}
    kept = next(v for name, v in by_name.items() if name.startswith("coreml:w8a8-kept"))
    bad = next(v for name, v in by_name.items() if name.startswith("coreml:w8a8-bad"))
    assert kept.status == "ok", kept.error
    names = [x.name for x in kept.quantized_layers]
    assert "body.3" not in names and "body.2" in names and "body.4" in names
    assert kept.quality is not None and kept.quality.where == "host-estimate"
    assert bad.status == "error" and "body_3 name no module" in (bad.error or "")


W8A8_AUTO = '[[sweep]]\nrecipe = "coreml:w8a8"\nkeep_float = ["none", "auto"]\n'


@pytest.mark.slow
def test_w8a8_detector_keeps_its_output_cat_float(tmp_path, edgeops_pm, edgeops_workspace):
    """The detector's sensitive layer is the final ``torch.cat`` of its ``forward`` (pixel
    boxes and [0, 1] scores on one scale), not a module: kept in float as that one call.
    Slow (about a minute here: 6 W8A8 mlprogram conversions, 8 samples); the layers are
    ranked by the estimate (no mlprogram), every count tried is a made variant."""
    from test_keep_float import optimized as detector_optimized

    pipeline, results = detector_optimized(
        tmp_path, edgeops_pm, edgeops_workspace, W8A8_AUTO, "coreml"
    )
    by_name = {v.name: v for v in results.variants}
    int8, mixed = by_name["coreml:w8a8-none"], by_name["coreml:w8a8-auto"]
    assert int8.status == "ok" and mixed.status == "ok", (int8.error, mixed.error)
    assert int8.quality.where == mixed.quality.where == "host-estimate"
    assert int8.quality.metrics["score_fidelity"] < 0.99 <= mixed.quality.metrics["score_fidelity"]
    kept = mixed.kept_float
    assert kept.drop <= kept.max_drop == 0.01
    # The function calls are layers, by FX node name; the one asked is the output cat.
    calls = [(x.name, x.op) for x in int8.quantized_layers if not x.op[:1].isupper()]
    assert calls == [
        ("add", "add"),
        ("mul", "mul"),
        ("mul_1", "mul"),
        ("cat", "cat"),
        ("cat_1", "cat"),
    ]
    assert kept.asked == ("cat_1",) and kept.layers[0].op == "cat"
    assert len(kept.layers) < 0.2 * kept.total_layers == 0.2 * len(int8.quantized_layers)
    assert len(mixed.quantized_layers) == kept.total_layers - len(kept.layers)
    # Ranked by the estimate, which is never shown as a scored number.
    assert {s.source for s in kept.sensitivity} == {"estimate"}
    assert kept.sensitivity[0].name == "cat_1"
    assert kept.value == mixed.quality.metrics["score_fidelity"]

    # A search cut short (its outcome not cached) runs again from the cache: no estimate
    # and no variant is computed twice.
    shutil.rmtree(pipeline.cache.root / "keep-float")
    asked = []
    undo = edgeops_pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: asked.append(name), lambda *args: None
    )
    try:
        _, rerun = detector_optimized(tmp_path, edgeops_pm, edgeops_workspace, W8A8_AUTO, "coreml")
    finally:
        undo()
    again = next(v for v in rerun.variants if v.name == "coreml:w8a8-auto")
    assert again.kept_float == kept
    assert "edgeops_estimate" not in asked and "edgeops_optimize" not in asked


def test_w8a8_keeps_one_function_call_float_not_every_call_of_its_kind():
    """The per-call mechanism on the real detector, prepared (no calibration): ``cat_1``
    (the output cat) gets no qconfig, the other ``cat`` keeps its own."""
    import copy

    import tiny_detector
    import torch
    from coremltools.optimize.torch.quantization import (
        LinearQuantizer,
        LinearQuantizerConfig,
        ModuleLinearQuantizerConfig,
    )

    from edgeops_coreml import activations

    net = tiny_detector.build()
    calls = activations.function_calls(net)
    assert calls["cat"] == ("", torch.cat, 0) and calls["cat_1"] == ("", torch.cat, 1)

    def prepared(kept):
        config = LinearQuantizerConfig(
            global_config=ModuleLinearQuantizerConfig(
                quantization_scheme="symmetric", milestones=activations.CALIBRATION_MILESTONES
            )
        )
        quantizer = LinearQuantizer(copy.deepcopy(net), config)
        activations.keep_calls_float(quantizer, [calls[name] for name in kept])
        model = quantizer.prepare(example_inputs=(torch.rand(1, 3, 64, 64),), inplace=True)
        qconfigs = model.meta["_observed_graph_module_attrs"].node_name_to_qconfig
        return activations.quantized_calls(model, qconfigs), qconfigs

    every, _ = prepared([])
    assert [name for name, op in every if op == "cat"] == ["cat", "cat_1"]
    kept, qconfigs = prepared(["cat_1"])
    assert kept == [x for x in every if x[0] != "cat_1"]
    assert qconfigs["cat_1"] is None and qconfigs["cat"] is not None
