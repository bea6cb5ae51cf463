"""Every Core AI recipe on the tiny net with real coreai-opt and coreai-torch: what the
asset stores is checked, and its quality comes from the Core AI runtime."""

from __future__ import annotations

import pytest

from edgeops.plugin import StageError
from edgeops_coreai import compress, convert
from edgeops_coreai.steps import Float16, Palettize, Prune

pytestmark = pytest.mark.slow


def _facts(variant):
    return convert.BUILD_INFO.read(variant.path)


def _quality(variant, reference, samples, spec):
    import tempfile
    from pathlib import Path

    import edgeops_coreai
    from edgeops.plugin import BuildContext

    context = BuildContext(spec=spec, samples=samples, reference=reference)
    with tempfile.TemporaryDirectory() as outputs_dir:
        q = edgeops_coreai.CoreAIBackend().evaluate(variant, context, Path(outputs_dir))
    assert q is not None and q.where == "host"
    return q.metrics


def test_palettize_4_stores_4_bit_indices_and_keeps_quality(
    make_variant, tiny_torch_reference, tiny_torch_samples, tiny_torch_spec
):
    variant = make_variant("palettize-kmeans-4")
    facts = _facts(variant)
    assert facts["share_uint4"] > 0.99  # every weight's index, per-tensor tables
    assert 4.0 < facts["bits_per_weight"] < 6.0
    assert dict(map(tuple, facts["storage_types"]))["UInt4"] >= 0.99 * facts["weight_elements"]
    metrics = _quality(variant, tiny_torch_reference, tiny_torch_samples, tiny_torch_spec)
    assert 15 < metrics["snr_db"] < 60  # compressed: clearly not the fp32 asset's >100 dB


def test_grouped_palettization_covers_the_layers_that_divide_into_groups(make_variant):
    facts = _facts(make_variant("palettize-kmeans-4-g16"))
    # 64 and 128 output channels divide by 16; the 4-channel head (512 weights) stays fp.
    share = (3 * 9 * 64 + 64 * 9 * 128) / (3 * 9 * 64 + 64 * 9 * 128 + 128 * 4)
    assert facts["share_uint4"] == pytest.approx(share, abs=1e-3)


def test_int8_stores_int8_weights(
    make_variant, tiny_torch_reference, tiny_torch_samples, tiny_torch_spec
):
    variant = make_variant("int8-linear")
    facts = _facts(variant)
    assert facts["share_int8"] > 0.99
    assert 8.0 < facts["bits_per_weight"] < 10.0
    assert (
        _quality(variant, tiny_torch_reference, tiny_torch_samples, tiny_torch_spec)["snr_db"] > 30
    )


def test_pruning_reaches_its_sparsity_and_stores_a_mask(make_variant):
    facts = _facts(make_variant("prune-50"))
    assert facts["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert facts["share_uint1"] > 0.99
    # fp16 kept values (half the weights) plus a 1-bit mask: about 9 bits per weight.
    assert 8.0 < facts["bits_per_weight"] < 12.0


def test_joint_pruning_and_palettization_stores_indices_of_kept_weights_only(make_variant):
    facts = _facts(make_variant("prune-50-palettize-kmeans-4"))
    assert facts["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert facts["share_uint1"] > 0.99
    assert facts["share_uint4"] == pytest.approx(0.5, abs=0.02)
    assert facts["bits_per_weight"] < 4.0


def test_fp16_feeds_fp16_inputs_and_stays_close(
    make_variant, tiny_torch_reference, tiny_torch_samples, tiny_torch_spec
):
    from edgeops_coreai.runtime import input_dtypes
    from edgeops_coreai.sdk import asset_class

    variant = make_variant("fp16")
    assert input_dtypes(asset_class().load(variant.path)) == {"image": "float16"}
    assert _facts(variant)["share_float16"] > 0.99
    assert (
        _quality(variant, tiny_torch_reference, tiny_torch_samples, tiny_torch_spec)["snr_db"] > 50
    )


def test_an_asset_without_the_compressed_storage_fails_its_recipe(tiny_artifact):
    info = convert.BUILD_INFO.read(tiny_artifact.path)
    fp32_storage = [tuple(t) for t in info["storage_types"]]
    with pytest.raises(StageError, match="0% of the weights as UInt4"):
        compress.check_storage(
            "palettize-kmeans-4",
            [Palettize(nbits=4), Float16()],
            fp32_storage,
            info["weight_elements"],
            info["params"],
            32.0,
        )
    with pytest.raises(StageError, match="0% of the weights as UInt1"):
        compress.check_storage(
            "prune-50",
            [Prune(target_sparsity=0.5)],
            fp32_storage,
            info["weight_elements"],
            info["params"],
            32.0,
        )
