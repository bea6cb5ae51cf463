"""Keeping the few layers that break int8 in float (issue 25): the search and its report.

Real ONNX Runtime on a detector built in code (tests/tiny_detector.py):
its full-int8 variant fails the floor, and the ``keep_float = "auto"`` twin passes
within ``max_drop`` with fewer than 20% of its layers in float.
"""

from pathlib import Path

import pytest

from edgeops.devices.profiles import resolve_profiles
from edgeops.errors import StageError
from edgeops.models import (
    MeasureSettings,
    Quality,
    QualitySpec,
    QuantizedLayer,
    Recipe,
    RecipeStep,
    Variant,
)
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec
from edgeops.pipeline.keep_float import _fewest, relative_drop, search
from edgeops.pipeline.sweep import expand
from edgeops.report.html import build_views, pareto_figure
from edgeops.report.tables import markdown_report

DETECTOR = Path(__file__).parent.parent / "tiny_detector.py"
FAST = MeasureSettings(rounds=2, min_runs=3, min_duration_s=0.0, warmup_runs=1)


def detector_config(folder: Path, sweep: str) -> Path:
    config = folder / "edgeops.toml"
    config.write_text(
        f"""
[model]
name = "detector"
source = "{DETECTOR}:build"
samples = "{DETECTOR}:samples"
sample_count = 8

[[model.inputs]]
name = "image"
shape = [1, 3, 64, 64]

[model.quality]
metric = "{DETECTOR}:score_fidelity"
floor = 0.99

{sweep}
"""
    )
    return config


def optimized(folder: Path, pm, workspace, sweep: str, target: str = "onnx"):
    spec, _ = load_spec(detector_config(folder, sweep))
    pipeline = Pipeline(pm, workspace)
    host = resolve_profiles(["host"], pm)[0].model_copy(update={"formats": (target,)})
    return pipeline, pipeline.optimize(pipeline.convert(spec, [host], FAST))


TFLITE_AUTO = """
[[sweep]]
recipe = "tflite:quantize"
optimize = true
ops = "int8"
calibrate = true
keep_float = ["none", "auto"]
"""


ONNX_AUTO = """
[[sweep]]
recipe = "onnx:quantize_static"
keep_float = ["none", "auto"]
"""


@pytest.mark.slow
def test_onnx_detector_mixed_twin_passes_where_int8_fails(
    tmp_path, edgeops_pm, edgeops_workspace, local_device
):
    pipeline, results = optimized(tmp_path, edgeops_pm, edgeops_workspace, ONNX_AUTO)
    by_name = {v.name: v for v in results.variants}
    int8 = by_name["onnx:quantize_static-none"]
    mixed = by_name["onnx:quantize_static-auto"]
    assert int8.status == "ok" and mixed.status == "ok", (int8.error, mixed.error)
    assert int8.quality.metrics["score_fidelity"] < 0.99
    kept = mixed.kept_float
    assert kept is not None and mixed.quality is not None
    assert mixed.quality.metrics["score_fidelity"] >= 0.99
    assert kept.drop <= kept.max_drop == 0.01
    assert 0 < len(kept.layers) < 0.2 * kept.total_layers
    # The sensitive layer is the output Concat that mixes pixels with scores.
    assert kept.layers[0].op == "Concat"
    assert kept.sensitivity[0].name == kept.layers[0].name
    assert kept.sensitivity[0].recovered > kept.sensitivity[-1].recovered
    assert len(kept.sensitivity) == kept.total_layers == len(int8.quantized_layers)
    # Its own id and file, not the full-int8 one.
    assert mixed.id != int8.id and mixed.sha256 != int8.sha256
    assert mixed.recipe.keeps_float and not int8.recipe.keeps_float
    # The files differ where they should: the kept layer's output is quantized in the
    # int8 file only (quantize_static still dequantizes the inputs a float node reads).
    name = kept.layers[0].name
    assert output_quantized(int8.path, name) and not output_quantized(mixed.path, name)

    # The report names the kept layer and ranks every layer; the plan may pick the mix.
    report = markdown_report(results)
    assert "## onnx:quantize_static-auto: layers kept in float" in report
    # ORT quantizes a Reshape only after a quantized input: the one after the Concat
    # runs in float with it, and counts.
    assert kept.asked == (name,) and [x.op for x in kept.layers] == ["Concat", "Reshape"]
    layers = ", ".join(x.name for x in kept.layers)
    assert f"2 of {kept.total_layers} layers in float: {layers}" in report
    assert f"| 1 | {name} | Concat |" in report
    # A Concat has no weights: the mix is about int8's size (here one Q/DQ pair less),
    # far from float's, and the smallest variant that meets the floor.
    assert mixed.size_bytes < 0.5 * by_name["onnx:fp32"].size_bytes
    # Unpruned, so full int8 is measured too (and rejected for its quality).
    measured = pipeline.measure(results, [local_device], FAST)
    selected = pipeline.select(measured, objective="smallest")
    (plan,) = selected.plans
    assert plan.choices[0].variant_id == mixed.id
    # The Pareto plot has the mix between full int8 and float, its kept layers in the hover.
    (view,) = build_views(selected)
    figure = pareto_figure(view, "score_fidelity")
    hovers = [t for trace in figure["data"] for t in trace.get("text", ())]
    mixed_hover = [t for t in hovers if "quantize_static-auto" in t]
    assert len(mixed_hover) == 1 and f"2 of {kept.total_layers} layers in float" in mixed_hover[0]
    assert any("quantize_static-none" in t for t in hovers) and any("fp32" in t for t in hovers)


def output_quantized(path: Path, node_name: str) -> bool:
    import onnx

    graph = onnx.load(str(path)).graph
    outputs = next(n for n in graph.node if n.name == node_name).output
    return any(n.op_type == "QuantizeLinear" and n.input[0] in outputs for n in graph.node)


def test_fewest_doubles_then_bisects():
    asked = []

    def passes(count):
        asked.append(count)
        return count >= 5

    assert _fewest(20, passes) == 5
    assert asked == [1, 2, 4, 8, 6, 5]
    assert _fewest(3, lambda count: False) is None
    assert _fewest(3, lambda count: True) == 1


def fake_quality(value: float) -> Quality:
    return Quality(metrics={"iou": value}, higher_is_better={"iou": True}, sample_count=1)


LAYERS = tuple(QuantizedLayer(name=f"n{i}", op="Conv") for i in range(10))
AUTO = Recipe(
    name="q",
    format="onnx",
    steps=(RecipeStep(op="quantize_static", params={"keep_float": "auto", "max_drop": 0.01}),),
)


def scored(fidelity_of):
    """A ``made`` for the search from a rule: float layers -> iou (the search's logic alone)."""

    def made(recipe: Recipe) -> Variant:
        kept = tuple(recipe.steps[0].params["float_layers"])
        return Variant(
            format="onnx",
            recipe=recipe,
            quality=fake_quality(fidelity_of(kept)),
            quantized_layers=tuple(x for x in LAYERS if x.name not in kept),
        )

    return made


def test_search_keeps_the_two_layers_that_matter():
    # n3 and n7 each cost 0.05 of IoU; the rest nothing.
    def iou(kept):
        return 1.0 - 0.05 * len({"n3", "n7"} - set(kept))

    mixed = search(AUTO, fake_quality(1.0), QualitySpec(metric="iou", floor=0.9), scored(iou))
    kept = mixed.kept_float
    assert kept.asked == ("n3", "n7") and kept.value == 1.0
    assert [s.name for s in kept.sensitivity[:2]] == ["n3", "n7"]
    assert kept.tried == ((0, 0.9), (1, 0.95), (2, 1.0))
    assert mixed.recipe == AUTO


def test_search_refuses_when_only_all_float_meets_the_budget():
    def iou(kept):
        return 1.0 if len(kept) == len(LAYERS) else 0.5

    with pytest.raises(StageError, match="no number of layers kept in float"):
        search(AUTO, fake_quality(1.0), QualitySpec(metric="iou", floor=0.9), scored(iou))


def test_search_keeps_none_when_full_int8_is_within_budget():
    mixed = search(
        AUTO, fake_quality(1.0), QualitySpec(metric="iou", floor=0.9), scored(lambda kept: 0.995)
    )
    assert mixed.kept_float.layers == () and mixed.kept_float.drop == pytest.approx(0.005)


def test_relative_drop_follows_the_metric_direction():
    assert relative_drop(0.99, 1.0, True) == pytest.approx(0.01)
    assert relative_drop(1.01, 1.0, False) == pytest.approx(0.01)
    assert relative_drop(-0.5, 0.0, True) == 0.5


@pytest.mark.slow
def test_tflite_detector_mixed_twin_passes_where_int8_fails(
    tmp_path, edgeops_pm, edgeops_workspace
):
    # PyTorch -> TFLite through litert-torch, quantized by ai-edge-quantizer (float_layers
    # kept by op scope): about a minute here; the model is kept tiny for it.
    _, results = optimized(tmp_path, edgeops_pm, edgeops_workspace, TFLITE_AUTO, "tflite")
    by_name = {v.name: v for v in results.variants}
    int8, mixed = by_name["tflite:quantize-none"], by_name["tflite:quantize-auto"]
    assert int8.status == "ok" and mixed.status == "ok", (int8.error, mixed.error)
    assert mixed.conversion_route == "litert-torch"
    assert int8.quality.metrics["score_fidelity"] < 0.99 <= mixed.quality.metrics["score_fidelity"]
    kept = mixed.kept_float
    assert kept.drop <= kept.max_drop
    assert kept.asked == (kept.layers[0].name,) and kept.layers[0].op == "CONCATENATION"
    # The reshapes after it stay in float with it (else they quantize it again), and count.
    assert [layer.op for layer in kept.layers[1:]] == ["TRANSPOSE", "RESHAPE"]
    assert len(kept.layers) < 0.2 * kept.total_layers == 0.2 * len(int8.quantized_layers)
    # The file holds them in float: its own quantized layers are the rest.
    assert len(mixed.quantized_layers) == kept.total_layers - len(kept.layers)


def test_sweep_drops_what_cannot_keep_float(edgeops_pm, edgeops_workspace):
    families = Pipeline(edgeops_pm, edgeops_workspace).recipe_families()
    tables = [
        {"recipe": "onnx:quantize_static", "keep_float": "auto", "float_layers": [["a"]]},
        {"recipe": "onnx:quantize_static", "name": "qop", "keep_float": "auto", "format": "QOperator"},
        {"recipe": "tflite:quantize", "optimize": True, "keep_float": "auto"},
        {"recipe": "tflite:quantize", "name": "full", "optimize": True, "ops": "int8",
         "calibrate": True, "keep_float": "auto"},
    ]  # fmt: skip
    expansion = expand(tables, families)
    reasons = [d.reason for d in expansion.dropped]
    assert reasons == [
        "give float_layers or keep_float = 'auto', not both",
        "keep_float = 'auto' needs format = 'QDQ'",
        "keep_float and float_layers need ops = 'int8'",
    ]
    assert [r.id for r in expansion.recipes] == ["tflite:full"]
    assert expansion.recipes[0].keeps_float


def made_and_asked(fidelity_of):
    """``scored`` that also records which float_layers it was asked to make."""
    asked: list[tuple[str, ...]] = []
    inner = scored(fidelity_of)

    def made(recipe: Recipe) -> Variant:
        asked.append(tuple(recipe.steps[0].params["float_layers"]))
        return inner(recipe)

    return made, asked


def estimate_by(fidelity_of):
    """A backend's quick estimate from a rule (its ranking may differ from the real one)."""

    def estimated(recipe: Recipe) -> Quality:
        return fake_quality(fidelity_of(tuple(recipe.steps[0].params["float_layers"])))

    return estimated


def two_layers_matter(kept):
    return 1.0 - 0.05 * len({"n3", "n7"} - set(kept))


def test_search_ranks_by_the_estimate_and_still_makes_every_count_it_tries():
    made, asked = made_and_asked(two_layers_matter)
    # The estimate is off in value (0.2 lower) but right in order: it ranks.
    mixed = search(
        AUTO,
        fake_quality(1.0),
        QualitySpec(metric="iou", floor=0.9),
        made,
        estimate_by(lambda kept: two_layers_matter(kept) - 0.2),
    )
    kept = mixed.kept_float
    # Made: the twin and the counts 1 and 2; no one-layer variant per layer.
    assert asked == [(), ("n3",), ("n3", "n7")]
    assert kept.asked == ("n3", "n7") and kept.value == 1.0 == mixed.quality.metrics["iou"]
    assert kept.tried == ((0, 0.9), (1, 0.95), (2, 1.0))
    assert {s.source for s in kept.sensitivity} == {"estimate"}
    assert [s.name for s in kept.sensitivity[:2]] == ["n3", "n7"]
    # Shown as the estimate it is, and recovered against the estimate of full int8.
    assert kept.sensitivity[0].value == pytest.approx(0.75)
    assert kept.sensitivity[0].recovered == pytest.approx(0.05)


def test_search_without_an_estimate_makes_one_variant_per_layer():
    made, asked = made_and_asked(two_layers_matter)
    mixed = search(
        AUTO, fake_quality(1.0), QualitySpec(metric="iou", floor=0.9), made, lambda recipe: None
    )
    assert asked[: 1 + len(LAYERS)] == [()] + [(x.name,) for x in LAYERS]
    assert {s.source for s in mixed.kept_float.sensitivity} == {"variant"}
    assert mixed.kept_float.asked == ("n3", "n7")


def test_an_estimate_missing_for_one_layer_falls_back_to_made_variants():
    made, asked = made_and_asked(two_layers_matter)

    def estimated(recipe):
        kept = tuple(recipe.steps[0].params["float_layers"])
        return None if kept == ("n5",) else fake_quality(two_layers_matter(kept))

    mixed = search(AUTO, fake_quality(1.0), QualitySpec(metric="iou", floor=0.9), made, estimated)
    assert len(asked) > len(LAYERS)
    assert {s.source for s in mixed.kept_float.sensitivity} == {"variant"}


def test_an_estimate_failing_for_one_layer_drops_that_layer_as_a_failed_twin_would():
    made, asked = made_and_asked(two_layers_matter)

    def estimated(recipe):
        kept = tuple(recipe.steps[0].params["float_layers"])
        if kept == ("n5",):
            raise StageError("float_layers n5 name no module")
        return fake_quality(two_layers_matter(kept))

    mixed = search(AUTO, fake_quality(1.0), QualitySpec(metric="iou", floor=0.9), made, estimated)
    ranked = [s.name for s in mixed.kept_float.sensitivity]
    assert len(ranked) == len(LAYERS) - 1 and "n5" not in ranked
    assert mixed.kept_float.asked == ("n3", "n7") and asked == [(), ("n3",), ("n3", "n7")]


def test_a_wrong_screen_still_ends_with_a_verified_variant():
    spec = QualitySpec(metric="iou", floor=0.9)
    # The screen ranks n7 fifth: doubling passes at 8, bisection (6, 5) settles on 5.
    made, asked = made_and_asked(two_layers_matter)
    order = ["n3", "n0", "n1", "n2", "n7", "n4", "n5", "n6", "n8", "n9"]

    def misranked(kept):
        return 0.5 + (0.1 * (10 - order.index(kept[0])) if len(kept) == 1 else 0.0)

    mixed = search(AUTO, fake_quality(1.0), spec, made, estimate_by(misranked))
    kept = mixed.kept_float
    assert kept.asked == tuple(order[:5]) and kept.value == 1.0
    assert [count for count, _ in kept.tried] == [0, 1, 2, 4, 5, 6, 8]
    # Every count tried was made; the chosen one scored by the backend, not predicted.
    assert all(tuple(order[:n]) in asked for n in (1, 2, 4, 5, 6, 8))
    # A screen that ranks both sensitive layers last: no count short of all passes.
    made, _ = made_and_asked(two_layers_matter)
    last = ["n0", "n1", "n2", "n4", "n5", "n6", "n8", "n9", "n3", "n7"]

    def worst(kept):
        return 0.5 + (0.1 * (10 - last.index(kept[0])) if len(kept) == 1 else 0.0)

    with pytest.raises(StageError, match="no number of layers kept in float"):
        search(AUTO, fake_quality(1.0), spec, made, estimate_by(worst))


def test_the_report_says_which_sensitivities_are_estimates():
    from edgeops.models import Results
    from edgeops.report.kept_float import kept_float_lines

    from factories import spec

    made, _ = made_and_asked(two_layers_matter)
    mixed = search(
        AUTO,
        fake_quality(1.0),
        QualitySpec(metric="iou", floor=0.9),
        made,
        estimate_by(two_layers_matter),
    )
    results = Results(spec=spec(), variants=(mixed,), edgeops_version="0", run_id="r")
    lines = "\n".join(kept_float_lines(results))
    assert "| rank | layer | op | iou | recovered | from | kept |" in lines
    assert "| 1 | n3 | Conv | 0.95 | +0.05 | estimate | yes |" in lines
    assert "`estimate`, the backend's quick estimate" in lines
