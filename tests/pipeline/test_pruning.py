"""Cheap first: variants ruled out on the host, each with its reason, before device time."""

from edgeops.models import QualitySpec, RecipeStep
from edgeops.pipeline.pruning import prune
from edgeops.selection import edgeops_select

from factories import policy, profile, variant

FLOOR = QualitySpec(metric="iou", floor=0.9)


def _with_steps(v, *ops):
    recipe = v.recipe.model_copy(update={"steps": tuple(RecipeStep(op=o) for o in ops)})
    return v.model_copy(update={"recipe": recipe})


def test_below_the_floor_too_big_and_dominated_are_ruled_out_with_reasons():
    phone = profile(id="phone", app_memory_limit_mb=100)
    variants = [
        variant("fp32", iou=1.0, size_bytes=80 * 2**20),  # 80 MB > 100 MB x 0.5
        _with_steps(variant("pal4-kmeans", iou=0.95, size_bytes=10 * 2**20), "palettize"),
        _with_steps(variant("pal4-uniform", iou=0.93, size_bytes=10 * 2**20), "palettize"),
        _with_steps(variant("pal2", iou=0.85, size_bytes=5 * 2**20), "palettize"),
        _with_steps(variant("int8", iou=0.94, size_bytes=20 * 2**20), "linear_quantize"),
        variant("broken", status="error"),
    ]
    out = {v.recipe.name: v for v in prune(variants, [phone], FLOOR, 0.5)}
    assert out["fp32"].pruned == {"phone": "file 80 MB > app memory budget 50 MB"}
    assert out["pal2"].pruned["*"] == "host quality: iou 0.85 < floor 0.9"
    assert out["pal4-uniform"].pruned["*"].startswith("dominated by onnx:pal4-kmeans")
    # Another kind of recipe is never "dominated": int8 is larger and worse than pal4-kmeans,
    # yet may run other, faster kernels.
    assert out["int8"].pruned == {} and out["pal4-kmeans"].pruned == {}
    assert out["broken"].pruned == {}


def test_a_byte_identical_file_is_measured_once():
    # ORT's Entropy calibration gave MinMax's very file on the example segmenter.
    minmax = _with_steps(variant("static-minmax", iou=0.99), "quantize_static")
    entropy = _with_steps(variant("static-entropy", iou=0.99), "quantize_static")
    entropy = entropy.model_copy(update={"sha256": minmax.sha256})
    other = _with_steps(variant("static-percentile", iou=0.99), "quantize_static")
    out = {v.recipe.name: v for v in prune([minmax, entropy, other], [profile()], FLOOR, 0.5)}
    assert out["static-minmax"].pruned == {} and out["static-percentile"].pruned == {}
    assert out["static-entropy"].pruned["*"].startswith("the same file as onnx:static-minmax")


def test_a_profile_whose_variants_were_all_ruled_out_says_so():
    phone = profile(id="phone")
    variants = prune([variant("pal2", iou=0.5)], [phone], FLOOR, 0.5)
    plan = edgeops_select(profile=phone, variants=variants, measurements=[], policy=policy())
    assert plan.status == "unsupported"
    assert "ruled out on the host" in (plan.note or "")
    assert plan.rejected[0].reasons == (
        "ruled out before measuring: host quality: iou 0.5 < floor 0.9",
    )


def test_a_core_ml_target_newer_than_the_phone_runs_is_ruled_out_there(
    edgeops_pm, edgeops_workspace
):
    from edgeops.pipeline import Pipeline

    from factories import unfit_on_iphonex

    results = unfit_on_iphonex(edgeops_pm)
    ruled = Pipeline(edgeops_pm, edgeops_workspace).rule_out_unfit(results).variants[0]
    assert (
        "needs iOS 17" in ruled.pruned["iphonex"] and "stops at iOS 16" in ruled.pruned["iphonex"]
    )
    assert "iphone15pro" not in ruled.pruned


def test_the_report_tells_every_variant_s_fate():
    from edgeops.models import Results
    from edgeops.report.tables import fate_rows

    from factories import measurement, spec

    pal2 = variant("pal2").model_copy(update={"pruned": {"*": "host quality: iou 0.5 < floor 0.9"}})
    slow = measurement("slow", 9.0).model_copy(
        update={"environment": {"stopped_early": "after 2 rounds: onnx:fast is clearly faster"}}
    )
    results = Results(
        edgeops_version="0",
        run_id="r",
        spec=spec(),
        variants=(variant("broken", status="error"), pal2, variant("slow"), variant("fast")),
        measurements=(slow, measurement("fast", 2.0)),
    )
    fates = dict(fate_rows(results))
    assert fates["onnx:broken"] == "failed: boom"
    assert fates["onnx:pal2"] == "ruled out for *: host quality: iou 0.5 < floor 0.9"
    assert "stopped after 2 rounds" in fates["onnx:slow"]
    assert fates["onnx:fast"] == "phone cpu: measured, 0 round(s)"


def _tflite(name: str, size_bytes: int, iou: float):
    from edgeops_tflite.recipes import RECIPES

    (recipe,) = [r for r in RECIPES if r.name == name]
    v = variant(name, iou=iou, size_bytes=size_bytes)
    return v.model_copy(update={"format": "tflite", "recipe": recipe})


def test_tflite_recipes_of_other_kinds_are_never_dominated():
    # Every TFLite recipe is one `convert` op; only its options tell int8-full (the one
    # NNAPI and NPUs run) from int8-dynamic. On a real card detector int8-dynamic was
    # no larger and as good, and pruning threw away the host's fastest variant.
    variants = [
        _tflite("int8-dynamic", 150_000, 0.99),
        _tflite("int8-full", 160_000, 0.98),
        _tflite("int16x8", 170_000, 0.98),
        _tflite("fp16", 300_000, 0.99),
    ]
    out = {v.recipe.name: v for v in prune(variants, [profile()], FLOOR, 0.5)}
    assert {name: v.pruned for name, v in out.items()} == {n: {} for n in out}


def test_the_same_kind_is_still_compared_across_amounts():
    # Core ML palettization: bits and table mode are amounts of one kernel.
    from edgeops.models import Recipe
    from edgeops_coreml.steps import Palettize

    def pal(name, nbits, mode, iou):
        recipe = Recipe.of(name=name, format="onnx", steps=[Palettize(nbits=nbits, mode=mode)])
        return variant(name, iou=iou, size_bytes=nbits * 1000).model_copy(update={"recipe": recipe})

    out = {
        v.recipe.name: v
        for v in prune(
            [pal("pal4-kmeans", 4, "kmeans", 0.95), pal("pal6-uniform", 6, "uniform", 0.94)],
            [profile()],
            FLOOR,
            0.5,
        )
    }
    assert out["pal6-uniform"].pruned["*"].startswith("dominated by onnx:pal4-kmeans")
    assert out["pal4-kmeans"].pruned == {}
