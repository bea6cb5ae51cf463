"""Core AI's mechanism for keeping layers in float (issue 25): coreai-opt's per-module
config, ``QuantizerConfig(module_name_configs={name: None})``, with real coreai-opt and
coreai-torch on the tiny net of edgeops.testing. The search itself on the sensitive
segmenter is tests/pipeline/test_keep_float_segmenter.py."""

from __future__ import annotations

from typing import Any

import pytest

from edgeops.plugin import Recipe, StageError
from edgeops_coreai import convert
from edgeops_coreai.recipes import QUANTIZE_FAMILY
from edgeops_coreai.steps import Float16, Quantize

# The tiny net: nn.Sequential(conv 3->64, bn, relu, conv 64->128, relu, conv 128->4).
MODULES = ["0", "3", "5"]


def make(tiny_artifact, tiny_torch_spec, tmp_path, step: Quantize):
    import edgeops_coreai
    from edgeops.plugin import BuildContext

    recipe = Recipe.of(name="q", format="coreai", owner="coreai", steps=(step, Float16()))
    return edgeops_coreai.CoreAIBackend().optimize(
        tiny_artifact, recipe, BuildContext(spec=tiny_torch_spec), tmp_path
    )


@pytest.mark.slow
def test_a_module_named_in_float_layers_stays_float_in_the_asset(
    tiny_artifact, tiny_torch_spec, tmp_path
):
    full = make(tiny_artifact, tiny_torch_spec, tmp_path / "full", Quantize(dtype="int8"))
    assert [x.name for x in full.quantized_layers] == MODULES
    assert [x.op for x in full.quantized_layers] == ["Conv2d"] * 3
    kept = make(
        tiny_artifact,
        tiny_torch_spec,
        tmp_path / "kept",
        Quantize(dtype="int8", float_layers=("3",)),
    )
    assert [x.name for x in kept.quantized_layers] == ["0", "5"]
    # The asset itself: the 64x128x3x3 weights (73,728) leave Int8 for float.
    int8 = dict(map(tuple, convert.BUILD_INFO.read(full.path)["storage_types"]))["Int8"]
    mixed = dict(map(tuple, convert.BUILD_INFO.read(kept.path)["storage_types"]))["Int8"]
    assert int8 - mixed == 64 * 128 * 9


def test_float_layers_naming_no_module_fail_with_the_fix(tiny_artifact, tiny_torch_spec, tmp_path):
    step = Quantize(dtype="int8", float_layers=("3.weight",))
    with pytest.raises(
        StageError, match=r"3\.weight name no conv or linear module .* quantized_layers"
    ):
        make(tiny_artifact, tiny_torch_spec, tmp_path, step)


def test_keep_float_needs_int8_and_is_a_sweep_family(edgeops_pm, edgeops_workspace):
    from edgeops.pipeline import Pipeline
    from edgeops.pipeline.sweep import expand

    families = Pipeline(edgeops_pm, edgeops_workspace).recipe_families()
    assert QUANTIZE_FAMILY.id in {f.id for f in families}
    tables: list[dict[str, Any]] = [
        {"recipe": "coreai:quantize", "dtype": "int4", "granularity": "per_block",
         "keep_float": "auto"},
        {"recipe": "coreai:quantize", "dtype": "int8", "keep_float": ["none", "auto"]},
    ]  # fmt: skip
    expansion = expand(tables, families)
    assert [d.reason for d in expansion.dropped] == [
        "keep_float and float_layers need dtype = 'int8'"
    ]
    auto = [r for r in expansion.recipes if r.keeps_float]
    assert len(auto) == 1 and auto[0].deployment_target == "iOS27"
