"""Host-estimate quality: the variant's own weights in torch, compared with the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeops_coreml import convert, host_estimate
from edgeops_torch_route import torch_sources


def _evaluate(make_variant, name, tiny_torch_reference, tiny_torch_samples, tiny_torch_spec):
    import tempfile

    import edgeops_coreml
    from edgeops.plugin import BuildContext

    context = BuildContext(
        spec=tiny_torch_spec, samples=tiny_torch_samples, reference=tiny_torch_reference
    )
    with tempfile.TemporaryDirectory() as outputs_dir:
        return edgeops_coreml.CoreMLBackend().evaluate(
            make_variant(name), context, Path(outputs_dir)
        )


def test_torch_side_weights_are_the_packages_decompressed_weights(make_variant, tiny_torch_spec):
    """Fidelity: every compressed weight lands in torch, value for value, on the 4-bit LUT."""
    package = Path(make_variant("palettize-kmeans-4").path)
    net, _ = convert.folded_torch_source(torch_sources.absolute_source(tiny_torch_spec))
    estimate, replaced = host_estimate.with_variant_weights(net, package)
    decompressed = host_estimate.decompressed_weights(package)
    compressed = {n for n, w in decompressed.items() if w.size > 2048}
    assert set(replaced.values()) == set(decompressed) and compressed <= set(replaced.values())
    state = estimate.state_dict()
    for key, name in replaced.items():
        np.testing.assert_array_equal(state[key].numpy(), decompressed[name])
        if name in compressed:
            assert len(np.unique(decompressed[name])) <= 16  # one 4-bit LUT per tensor
    # ...and the torch module the pipeline starts from is left untouched.
    assert not np.array_equal(net.state_dict()["3.weight"].numpy(), state["3.weight"].numpy())


def test_quality_is_labelled_host_estimate_and_orders_by_bits(
    make_variant, tiny_torch_reference, tiny_torch_samples, tiny_torch_spec
):
    q8, q2 = (
        _evaluate(make_variant, name, tiny_torch_reference, tiny_torch_samples, tiny_torch_spec)
        for name in ("palettize-kmeans-8", "palettize-kmeans-2")
    )
    assert q8.where == q2.where == "host-estimate"
    assert q8.metrics["snr_db"] > q2.metrics["snr_db"] + 10
    assert q8.metrics["snr_db"] > 35  # 8-bit LUT on fp16 weights: near-lossless
    assert {"iou", "pixel_agreement", "cosine"} <= set(q8.metrics)


@pytest.mark.slow
def test_w8a8_builds_quantized_activations_and_scores_below_weights_only_int8(
    make_variant, tiny_torch_reference, tiny_torch_samples, tiny_torch_spec
):
    package = Path(make_variant("w8a8").path)
    ops = convert.load(package).get_spec().mlProgram.functions["main"]
    op_types = {op.type for block in ops.block_specializations.values() for op in block.operations}
    assert {"quantize", "dequantize"} <= op_types
    w8a8 = _evaluate(
        make_variant, "w8a8", tiny_torch_reference, tiny_torch_samples, tiny_torch_spec
    )
    int8 = _evaluate(
        make_variant, "int8-linear", tiny_torch_reference, tiny_torch_samples, tiny_torch_spec
    )
    assert w8a8.where == "host-estimate"
    assert 15 < w8a8.metrics["snr_db"] < int8.metrics["snr_db"]
