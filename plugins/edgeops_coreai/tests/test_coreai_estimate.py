"""Core AI's host estimate (``CoreAIBackend.estimate``) and its W8A8 recipe, with real
coreai-opt, coreai-torch and the Core AI runtime on the tiny net of edgeops.testing.

The estimate is coreai-opt's prepared (fake-quantized) module run by torch in fp32; the
made variant is the same quantization exported to an ``.aimodel`` computing in fp16 and
run by Core AI's runtime. They differ only by fp16 arithmetic, so they must agree within
what fp16 adds to int8's error (the tolerance below says how much that is)."""

from __future__ import annotations

import pytest

from edgeops.plugin import BuildContext, Recipe, StageError
from edgeops_coreai.steps import W8A8, Float16, Quantize

# fp16 rounds each op's result to 2**-11 relative, a noise about 66 dB below the signal
# per op (a few dB more over the net's three convolutions); int8 weights per channel give
# the tiny net about 45 dB. Noises add in power, so fp16 moves the SNR by
# 10*log10(1 + 10**(-15/10)) ~ 0.14 dB when it is 15 dB below int8's (measured here:
# 45.6 estimated, 45.7 made). 0.5 dB allows fp16 noise up to 10 dB below int8's, and
# still fails an estimate that missed the quantization (float: SNR above 90 dB).
SNR_TOLERANCE_DB = 0.5


def recipe_of(step: Quantize | W8A8) -> Recipe:
    return Recipe.of(name="q", format="coreai", owner="coreai", steps=(step, Float16()))


@pytest.fixture(scope="module")
def context(tiny_torch_spec, tiny_torch_samples, tiny_torch_reference, tiny_artifact):
    return BuildContext(
        spec=tiny_torch_spec,
        samples=tiny_torch_samples,
        reference=tiny_torch_reference,
        artifacts=(tiny_artifact,),
    )


def estimate(tiny_artifact, context, step: Quantize | W8A8) -> float:
    import edgeops_coreai

    quality = edgeops_coreai.CoreAIBackend().estimate(tiny_artifact, recipe_of(step), context)
    assert quality is not None and quality.where == "host-estimate"
    return quality.metrics["snr_db"]


def test_the_estimate_agrees_with_the_made_variant_within_fp16(tiny_artifact, context, tmp_path):
    import edgeops_coreai

    backend = edgeops_coreai.CoreAIBackend()
    step = Quantize(dtype="int8")
    estimated = estimate(tiny_artifact, context, step)
    variant = backend.optimize(tiny_artifact, recipe_of(step), context, tmp_path / "made")
    scored = backend.evaluate(variant, context, tmp_path / "outputs")
    assert scored is not None and scored.where == "host"
    assert abs(estimated - scored.metrics["snr_db"]) <= SNR_TOLERANCE_DB
    # It is an estimate of int8, not of float: the quantization shows (float: exact).
    assert estimated < 60


def test_a_layer_kept_in_float_changes_the_estimate(tiny_artifact, context):
    full = estimate(tiny_artifact, context, Quantize(dtype="int8"))
    # The 64x128x3x3 convolution, the most weights: its int8 error leaves the estimate
    # (here the others' errors no longer partly cancel it: the SNR moves either way).
    one = estimate(tiny_artifact, context, Quantize(dtype="int8", float_layers=("3",)))
    assert abs(one - full) > 0.1
    # Every module in float: the estimate is the float net, exact but for fp32 rounding.
    every = estimate(tiny_artifact, context, Quantize(dtype="int8", float_layers=("0", "3", "5")))
    assert every > 90 > full + 40


def test_no_estimate_for_a_recipe_that_does_not_quantize(tiny_artifact, context):
    import edgeops_coreai

    recipe = Recipe.of(name="fp16", format="coreai", owner="coreai", steps=(Float16(),))
    assert edgeops_coreai.CoreAIBackend().estimate(tiny_artifact, recipe, context) is None


@pytest.mark.slow
def test_w8a8_names_graph_ops_and_keeps_the_named_one_in_float(context):
    """Slow: graph mode is what lets W8A8 name an op that is no module, and the first
    graph-mode prepare in a process has coreai-opt export its ~560 annotation patterns
    with torch.export (about 20 s of CPU here, cProfile; the second prepare takes 5 s)."""
    from edgeops_coreai import compress, convert, optimize

    def w8a8(step: W8A8) -> compress.Compressed:
        net, inputs = convert.fresh_module(context.spec)
        calibration = optimize._sample_args(context.samples, inputs)
        return compress.apply(net, [step], calibration[0], calibration, finalize=False)

    full = w8a8(W8A8())
    # The exported graph's ops, the batch norm folded into the first convolution.
    assert [op for _, op in full.quantized_layers] == ["conv2d", "relu"] * 2 + ["conv2d"]
    last = full.quantized_layers[-1][0]
    kept = w8a8(W8A8(float_layers=(last,)))
    assert [name for name, _ in kept.quantized_layers] == [
        name for name, _ in full.quantized_layers[:-1]
    ]
    assert kept.float_weight_elements == 128 * 4  # the 1x1 convolution 128 -> 4 stays float
    # A module name is no op name: refused, not silently matching nothing.
    with pytest.raises(StageError, match=r"head\.1 name no op .* quantized_layers"):
        compress.check_float_ops(full.module, ("head.1",))


def test_the_keep_float_search_ranks_core_ai_layers_by_this_estimate(
    edgeops_pm, edgeops_workspace, tiny_artifact, context
):
    """Through the pipeline (edgeops_estimate, routed to CoreAIBackend.estimate): the
    sensitivity is the estimate's, and the only variant made is the full-int8 twin."""
    from edgeops.models import Results
    from edgeops.pipeline import Pipeline

    pipeline = Pipeline(edgeops_pm, edgeops_workspace)
    # A generous budget: the twin (about 45 dB against the fp32 asset's) passes, so the
    # search stops at count 0 after ranking every layer.
    step = Quantize(dtype="int8", keep_float="auto", max_drop=0.9)
    recipe = recipe_of(step).model_copy(update={"deployment_target": "iOS27"})
    results = Results(
        edgeops_version="0",
        run_id="r",
        spec=context.spec,
        samples=context.samples,
        reference=context.reference,
        artifacts=(tiny_artifact,),
    )
    mixed = pipeline.make_variant(tiny_artifact, recipe, results)
    assert mixed.status == "ok", mixed.error
    kept = mixed.kept_float
    assert kept is not None
    assert {s.source for s in kept.sensitivity} == {"estimate"}
    assert sorted(s.name for s in kept.sensitivity) == ["0", "3", "5"]
    assert [count for count, _ in kept.tried] == [0]
    assert pipeline.stats["optimizations_made"] == 1
    # The variant's own quality is the Core AI runtime's, not the estimate.
    assert mixed.quality is not None and mixed.quality.where == "host"
