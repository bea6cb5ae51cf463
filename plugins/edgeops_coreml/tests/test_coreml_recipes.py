"""The sweep per profile, and real compressions: sizes shrink as the recipe says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeops.devices.profiles import load_profiles
from edgeops.files import size_bytes
from edgeops_coreml import compress, convert, host_estimate
from edgeops_coreml.recipes import propose


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


def _by_name(recipes):
    return {r.name: r for r in recipes}


def test_a11_gets_no_ios18_or_w8a8_recipe_and_is_told_why(profiles):
    recipes = _by_name(propose([profiles["iphonex"]]))
    assert {"int4-block32", "prune-50-int8", "palettize-kmeans-4-g16", "w8a8"}.isdisjoint(recipes)
    fp16 = recipes["fp16"]
    assert (fp16.deployment_target, fp16.compute_precision, fp16.steps) == ("iOS16", "float16", ())
    mixed = _by_name(propose([profiles["iphonex"], profiles["iphone15pro"]]))
    assert "left out for iphonex: needs iOS 18; A11 devices stop at iOS 16" in (
        mixed["int4-block32"].description
    )
    assert mixed["int4-block32"].deployment_target == "iOS18"
    # The shared recipes stay loadable on the iPhone X.
    assert mixed["int8-linear"].deployment_target == "iOS16"


def test_w8a8_only_where_the_chip_accelerates_int8_activations(profiles):
    assert "w8a8" not in _by_name(propose([profiles["iphone12"], profiles["iphone14pro"]]))
    for profile_id in ("iphone15pro", "iphone16", "mac-m4"):
        assert "w8a8" in _by_name(propose([profiles[profile_id]]))
    mixed = _by_name(propose([profiles["iphone12"], profiles["iphone15pro"]]))
    assert "left out for iphone12: A14 does not accelerate int8 activations" in (
        mixed["w8a8"].description
    )


def test_non_apple_profiles_get_no_coreml_recipes(profiles):
    assert propose([profiles["host"]]) == []


def test_sizes_shrink_as_the_recipes_say(make_variant, tiny_artifact):
    size = {n: size_bytes(Path(make_variant(n).path)) for n in ("fp32", "int8-linear")}
    for name in ("palettize-kmeans-2", "palettize-kmeans-4", "palettize-kmeans-8"):
        size[name] = size_bytes(Path(make_variant(name).path))
    size["fp16"] = size_bytes(Path(tiny_artifact.path))
    assert size["fp32"] > 1.8 * size["fp16"]
    assert size["fp16"] > 1.7 * size["int8-linear"]
    assert size["palettize-kmeans-8"] > size["palettize-kmeans-4"] > size["palettize-kmeans-2"]
    assert size["palettize-kmeans-2"] < 0.25 * size["fp16"]


def test_pruning_reaches_the_sparsity_asked_even_past_fp16_range(make_variant):
    import edgeops_coreml  # noqa: F401

    for name, asked in (("prune-50", 0.5), ("prune-75", 0.75)):
        variant = make_variant(name)
        reached = convert.BUILD_INFO.read(Path(variant.path))["sparsity"]
        assert reached == pytest.approx(asked, abs=compress.SPARSITY_TOLERANCE)
        weights = host_estimate.decompressed_weights(Path(variant.path))
        big = next(w for w in weights.values() if w.size > 65_504)  # the 64->128 conv
        assert np.mean(big == 0) == pytest.approx(asked, abs=0.001)


@pytest.mark.slow
def test_joint_and_blockwise_recipes_build_at_ios18(make_variant):
    for name in ("prune-50-palettize-kmeans-4", "int4-block32"):
        package = Path(make_variant(name).path)
        assert convert.BUILD_INFO.read(package)["ios"] == 18
        assert convert.load(package).get_spec().specificationVersion == 9  # iOS 18


@pytest.mark.slow
def test_a_3_bit_table_per_tensor_targets_ios18_and_builds(
    tiny_artifact, tiny_torch_samples, tiny_torch_spec, tmp_path
):
    import edgeops_coreml
    from edgeops.plugin import Recipe
    from edgeops_coreml.recipes import needed_ios
    from edgeops_coreml.steps import Palettize

    recipe = Recipe.of(name="palettize-3", format="coreml", steps=[Palettize(nbits=3)])
    assert needed_ios(recipe) == 18
    from edgeops.plugin import BuildContext

    context = BuildContext(spec=tiny_torch_spec, samples=tiny_torch_samples)
    variant = edgeops_coreml.CoreMLBackend().optimize(tiny_artifact, recipe, context, tmp_path)
    assert variant.status == "ok", variant.error
    assert convert.BUILD_INFO.read(Path(variant.path))["ios"] == 18


def test_a_step_coremltools_would_reject_is_an_error_at_once():
    from pydantic import ValidationError

    from edgeops_coreml.steps import LinearQuantize, Palettize

    with pytest.raises(ValidationError, match="group_size applies"):
        Palettize(nbits=4, granularity="per_tensor", group_size=16)
    with pytest.raises(ValidationError):
        Palettize(nbits=5)
    with pytest.raises(ValidationError, match="block_size goes with"):
        LinearQuantize(dtype="int4", block_size=32)


WIDE_BIAS_NET = """
import torch
from torch import nn


def build():
    torch.manual_seed(0)
    # A 4096-wide head: its bias (4096 values, rank 1) is over the size threshold,
    # and coremltools never compresses a rank-1 tensor.
    return nn.Sequential(nn.Linear(8, 4096), nn.ReLU()).eval()
"""


def test_pruning_measures_sparsity_over_the_tensors_it_targets(tmp_path):
    # Counted over every large tensor, the dense bias made a 50% prune "reach 44.4%",
    # and the recipe was reported as an error.
    import edgeops_coreml
    from edgeops.devices.profiles import load_profiles
    from edgeops.models import InputSpec, ModelSpec, QualitySpec
    from edgeops.pipeline.samples import build_samples
    from edgeops_coreml.recipes import propose

    (tmp_path / "wide.py").write_text(WIDE_BIAS_NET)
    spec = ModelSpec(
        name="wide", source=f"{tmp_path / 'wide.py'}:build", source_sha256="wide",
        task="generic", inputs=(InputSpec(name="x", shape=(1, 8)),), sample_count=2,
        quality=QualitySpec(metric="snr_db", floor=0.0),
    )  # fmt: skip
    from edgeops.plugin import BuildContext
    from edgeops.testing import converted

    (tmp_path / "base").mkdir()
    base = converted(edgeops_coreml, spec, "coreml", tmp_path / "base", "wide-base")
    recipes = {r.name: r for r in propose([load_profiles()["iphone15pro"]])}
    (tmp_path / "p50").mkdir()
    samples = build_samples(spec, spec.inputs, tmp_path / "samples")
    variant = edgeops_coreml.CoreMLBackend().optimize(
        base, recipes["prune-50"], BuildContext(spec=spec, samples=samples), tmp_path / "p50"
    )
    info = convert.BUILD_INFO.read(Path(variant.path))
    assert info["sparsity"] == pytest.approx(0.5, abs=compress.SPARSITY_TOLERANCE)
    assert info["sparsity_overall"] == pytest.approx(0.5 * 32768 / (32768 + 4096), abs=0.01)
    assert len(info["sparsity_skipped_tensors"]) == 1
    assert info["sparsity_skipped_share"] == pytest.approx(4096 / (32768 + 4096), abs=1e-3)
