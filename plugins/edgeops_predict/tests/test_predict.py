"""The predictor: hand-built networks, graph readers, the fit's data, and predictions through hooks."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from edgeops import Measurement, ModelSpec, Quality, Recipe, RecipeStep, Results, Variant
from edgeops.models import InputSpec, QualitySpec
from edgeops.pipeline import Pipeline
from edgeops.plugin import load_profiles
from edgeops_predict import accuracy, calibrate, graphs, predictor, zoo
from edgeops_predict.latency import LayerArrays, latency_ms
from edgeops_predict.layers import Compression
from edgeops_predict.platforms import DATA, apple_engine

TFLITE_V1 = "coral__mobilenet_v1_0.25_128_quant.tflite"


@pytest.mark.parametrize("name", sorted(zoo.PUBLISHED_MACS))
def test_hand_built_networks_match_published_macs(name):
    # EfficientNet-Lite's published MAdds run 3-6% above a count of convs and fcs alone.
    assert zoo.build(name).macs == pytest.approx(zoo.PUBLISHED_MACS[name], rel=0.06)


def test_tflite_graph_reads_like_the_hand_built_network(data_dir):
    net = graphs.read_network(data_dir / "models" / "tflite" / TFLITE_V1, "tflite")
    built = zoo.build("mobilenet_v1_0.25_128")
    assert net is not None
    assert net.macs == built.macs
    kinds = [layer.kind for layer in net.layers if layer.macs]
    # The file's classifier is a 1x1 CONV_2D where the paper has a fully connected layer.
    assert kinds[:-1] == [layer.kind for layer in built.layers if layer.macs][:-1]


def test_onnx_graph_counts_convolutions(data_dir):
    path = data_dir / "models" / "onnx" / "ultraface__version-slim-320.onnx"
    net = graphs.read_network(path, "onnx")
    assert net is not None and net.macs > 0
    assert {"depthwise", "pointwise", "conv"} <= {layer.kind for layer in net.layers}
    assert graphs.read_network(path, "tflite") is None  # not a TFLite file: no basis


def test_every_published_figure_has_a_source_and_a_network():
    with open(DATA / "published.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 100
    for r in rows:
        assert len(r["source"]) > 30, r
        assert float(r["latency_ms"]) > 0
        zoo.build(r["model"])


def test_split_holds_out_other_networks_and_other_devices():
    rows = calibrate.load_rows()
    split = [(r, calibrate.is_held_out(r.device, r.model, r.compute_unit)) for r in rows]
    held = {(r.device, r.model) for r, out in split if out}
    train = {(r.device, r.model) for r, out in split if not out}
    assert not held & train
    assert {d for d, _ in held} - {d for d, _ in train} == {
        "iphone15pro",
        "iphone12pro",
        "pixel4",
        "rpi4-2020",
        "pixel3a",
        "pixel3a-1thread",
    }
    assert not {m for _, m in held if m.startswith(("mobileone", "efficientnet"))} & {
        m for _, m in train
    }


@pytest.mark.slow
def test_fitted_constants_are_reproducible(tmp_path):
    committed = predictor.fitted()
    refit = calibrate.write_fitted(tmp_path / "fitted.json")
    for family, v in committed["families"].items():
        for p, x in v["params"].items():
            assert refit["families"][family]["params"][p] == pytest.approx(x, rel=0.02), (family, p)


def test_held_out_table_reports_every_family():
    lines = {line["family"]: line for line in accuracy.table(accuracy.score())}
    assert {"ne", "cpu", "cpu-xnnpack", "gpu", "nnapi", "all"} <= set(lines)
    assert lines["all"]["n"] > 50
    for line in lines.values():
        assert 0 <= line["within_10"] <= line["within_25"] <= 1
        assert 0 <= line["coverage_90"] <= 1
    # Adaptation narrows the interval.
    assert lines["all"]["width_after"] < lines["all"]["width_before"]


def test_compression_ranks_recipes_on_the_neural_engine():
    engine, calibrated = apple_engine("A16", "all")
    assert calibrated
    params = predictor.fitted()["families"]["ne"]["params"]
    arrays = LayerArrays.of(zoo.build("resnet50"))
    fp16 = latency_ms(arrays, engine, Compression(16), params)
    pruned = latency_ms(arrays, engine, Compression(16, sparsity=0.75), params)
    w8a8 = latency_ms(arrays, engine, Compression(8, activation_bits=8), params)
    assert w8a8 < pruned < fp16  # published: 0.94 < 1.28 < 1.52 ms (coremltools docs)
    on_a17 = latency_ms(
        arrays, apple_engine("A17 Pro", "all")[0], Compression(8, activation_bits=8), params
    )
    assert on_a17 < w8a8


def _tflite_variant(data_dir: Path) -> Variant:
    path = data_dir / "models" / "tflite" / TFLITE_V1
    return Variant(
        id="v-int8",
        format="tflite",
        path=path,
        size_bytes=path.stat().st_size,
        recipe=Recipe(name="int8-full", format="tflite", steps=(RecipeStep(op="convert"),)),
        quality=Quality(
            metrics={"snr_db": 40.0}, higher_is_better={"snr_db": True}, sample_count=1
        ),
    )


@pytest.mark.parametrize(
    "profile_id,unit", [("pixel6", "cpu"), ("galaxy-s23", "gpu"), ("nexus5", "cpu")]
)
def test_android_profiles_get_predictions_with_intervals(edgeops_pm, data_dir, profile_id, unit):
    profile = load_profiles(edgeops_pm)[profile_id]
    m = edgeops_pm.hook.edgeops_predict(
        profile=profile, variant=_tflite_variant(data_dir), compute_unit=unit
    )
    assert m is not None and m.status == "ok" and m.method == "predicted"
    i = m.p50_interval
    assert i is not None and i.low_ms < m.p50_ms < i.high_ms
    assert i.coverage == 0.9 and "conformal" in i.method
    assert m.peak_mem is not None and m.peak_mem.raw_mb > 0
    assert m.environment["layers"] == 30


@pytest.mark.parametrize("unit", ["nnapi", "gpu"])  # Pixel 6: NNAPI elsewhere, a Mali GPU
def test_engines_checked_on_other_hardware_state_no_coverage(edgeops_pm, data_dir, unit):
    m = edgeops_pm.hook.edgeops_predict(
        profile=load_profiles(edgeops_pm)["pixel6"],
        variant=_tflite_variant(data_dir),
        compute_unit=unit,
    )
    assert m is not None and m.p50_interval is not None
    assert m.p50_interval.coverage is None and "uncalibrated" in m.p50_interval.method


def test_onnx_on_a_board_is_predicted_but_says_uncalibrated(edgeops_pm, data_dir):
    path = data_dir / "models" / "onnx" / "ultraface__version-slim-320.onnx"
    variant = Variant(
        id="v-onnx",
        format="onnx",
        path=path,
        size_bytes=path.stat().st_size,
        recipe=Recipe(name="fp32", format="onnx"),
    )
    m = edgeops_pm.hook.edgeops_predict(
        profile=load_profiles(edgeops_pm)["rpi5"], variant=variant, compute_unit="cpu"
    )
    assert m is not None and m.p50_interval is not None
    assert m.p50_interval.coverage is None and "uncalibrated" in m.p50_interval.method


def test_predicted_plan_adapts_to_an_imported_measurement(edgeops_pm, edgeops_workspace, data_dir):
    """pixel6 without a device: a plan from predictions; one measured variant corrects the rest."""
    profile = load_profiles(edgeops_pm)["pixel6"]
    a = _tflite_variant(data_dir)
    # Another full-int8 variant: it shares kernels with a, so its error says something of a's.
    b = a.model_copy(update={"id": "v-b"})
    predicted = [
        edgeops_pm.hook.edgeops_predict(profile=profile, variant=v, compute_unit="cpu")
        for v in (a, b)
    ]
    measured = Measurement(
        variant_id=b.id,
        device_id="pixel6-a",
        profile_id="pixel6",
        compute_unit="cpu",
        status="ok",
        p50_ms=predicted[1].p50_ms * 2,
        samples_ms=(1.0,),
    )
    spec = ModelSpec(
        name="m",
        source=str(a.path),
        source_sha256="0" * 64,
        inputs=(InputSpec(name="x", shape=(1, 128, 128, 3)),),
        quality=QualitySpec(metric="snr_db", floor=0.0),
    )
    results = Results(
        edgeops_version="0",
        run_id="r",
        spec=spec,
        profiles=(profile,),
        variants=(a, b),
        measurements=(*predicted, measured),
    )
    pipeline = Pipeline(edgeops_pm, edgeops_workspace)
    plan = pipeline.select(results).plans[0]
    assert plan.status == "supported"
    assert plan.method == "predicted"
    adapted = next(c for c in plan.choices if c.variant_id == a.id)
    assert adapted.method == "predicted"
    assert adapted.expected_p50_ms == pytest.approx(predicted[0].p50_ms * 2, rel=1e-6)
    interval, before = adapted.p50_interval, predicted[0].p50_interval
    assert interval is not None and before is not None and "adapted" in interval.method
    assert math.log(interval.high_ms / interval.low_ms) < math.log(before.high_ms / before.low_ms)


@pytest.fixture(scope="module")
def mlpackage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real mlprogram made by coremltools from torch: conv, depthwise, pointwise, fc."""
    from edgeops.plugin import quiet

    path = tmp_path_factory.mktemp("coreml") / "tiny.mlpackage"
    with quiet():
        import coremltools as ct
        import torch
        from torch import nn

        net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, groups=8),
            nn.Conv2d(8, 16, 1),
            nn.Flatten(),
            nn.Linear(16 * 16 * 16, 10),
        ).eval()
        traced = torch.jit.trace(net, torch.zeros(1, 3, 16, 16))
        model = ct.convert(
            traced,
            inputs=[ct.TensorType(name="x", shape=(1, 3, 16, 16))],
            convert_to="mlprogram",
            minimum_deployment_target=ct.target.iOS16,
        )
        model.save(str(path))
    return path


@pytest.mark.slow
def test_coreml_graph_counts_like_torch(mlpackage):
    got = graphs.read_network(mlpackage, "coreml")
    assert got is not None
    by_kind = {layer.kind: layer.macs for layer in got.layers if layer.macs}
    assert by_kind == {
        "conv": 16 * 16 * 8 * 3 * 9,
        "depthwise": 16 * 16 * 8 * 9,
        "pointwise": 16 * 16 * 16 * 8,
        "fc": 16 * 16 * 16 * 10,
    }


def test_a_profile_with_no_variant_of_its_format_says_why(edgeops_pm):
    from edgeops.models import SelectionPolicy

    profile = load_profiles(edgeops_pm)["nexus5"]
    plan = edgeops_pm.hook.edgeops_select(
        profile=profile,
        variants=[],
        measurements=[],
        policy=SelectionPolicy(quality=QualitySpec(metric="snr_db", floor=0.0)),
    )
    assert plan.status == "not_measured" and plan.choices == ()
    assert "no tflite variant could be made" in plan.note


def test_adaptation_does_not_cross_kernel_classes(edgeops_pm, data_dir):
    """An fp32 measurement says nothing of an int8 variant's error: that prediction stays."""
    profile = load_profiles(edgeops_pm)["pixel6"]
    a = _tflite_variant(data_dir)
    b = a.model_copy(update={"id": "v-b", "recipe": Recipe(name="fp32", format="tflite")})
    pa, pb = (
        edgeops_pm.hook.edgeops_predict(profile=profile, variant=v, compute_unit="cpu")
        for v in (a, b)
    )
    measured = pb.model_copy(update={"method": "measured", "p50_ms": pb.p50_ms * 3})
    adapted = edgeops_pm.hook.edgeops_adapt_predictions(
        profile=profile, predictions=[pa, pb], measurements=[measured]
    )
    assert adapted == [pa]  # b's prediction gives way to its measurement; a's is untouched


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe,unit,calibrated",
    [
        (Recipe(name="fp16", format="coreml"), "all", True),
        (
            Recipe(
                name="palettize-kmeans-4",
                format="coreml",
                steps=(RecipeStep(op="palettize", params={"nbits": 4}),),
            ),
            "cpu_and_ne",
            True,
        ),
        (Recipe(name="fp16", format="coreml"), "cpu_and_gpu", False),
    ],
)
def test_iphones_get_core_ml_predictions_per_compute_unit(
    edgeops_pm, mlpackage, recipe, unit, calibrated
):
    variant = Variant(id="v-ml", format="coreml", path=mlpackage, size_bytes=1, recipe=recipe)
    m = edgeops_pm.hook.edgeops_predict(
        profile=load_profiles(edgeops_pm)["iphone14pro"], variant=variant, compute_unit=unit
    )
    assert m is not None and m.status == "ok" and m.method == "predicted"
    assert m.environment["engine_family"] == "ne" and m.environment["calibrated"] is calibrated
    assert (m.p50_interval.coverage == 0.9) is calibrated


@pytest.mark.slow
def test_fp32_core_ml_is_unsupported_on_the_neural_engine(edgeops_pm, mlpackage):
    recipe = Recipe(name="fp32", format="coreml", compute_precision="float32")
    variant = Variant(id="v-32", format="coreml", path=mlpackage, size_bytes=1, recipe=recipe)
    m = edgeops_pm.hook.edgeops_predict(
        profile=load_profiles(edgeops_pm)["iphone14pro"], variant=variant, compute_unit="all"
    )
    assert m is not None and m.status == "unsupported"


def test_w8a8_gains_nothing_on_core_ml_gpu():
    engine, calibrated = apple_engine("A17 Pro", "cpu_and_gpu")
    assert not calibrated
    params = predictor.fitted()["families"]["ne"]["params"]
    arrays = LayerArrays.of(zoo.build("mobilenet_v2_1.0_224"))
    fp16 = latency_ms(arrays, engine, Compression(16), params)
    w8a8 = latency_ms(arrays, engine, Compression(8, activation_bits=8), params)
    assert w8a8 >= fp16 * 0.8  # only the halved activation bytes, no int8 compute gain


def test_manifest_and_report_show_the_interval_and_say_predicted(
    edgeops_pm, edgeops_workspace, data_dir
):
    from edgeops.pipeline.bundle import build_manifest
    from edgeops.report.tables import markdown_report

    profile = load_profiles(edgeops_pm)["nexus5"]
    variant = _tflite_variant(data_dir).model_copy(update={"sha256": "0" * 64})
    predicted = edgeops_pm.hook.edgeops_predict(
        profile=profile, variant=variant, compute_unit="cpu"
    )
    spec = ModelSpec(
        name="m",
        source=str(variant.path),
        source_sha256="0" * 64,
        quality=QualitySpec(metric="snr_db", floor=0.0),
    )
    results = Results(
        edgeops_version="0",
        run_id="r",
        spec=spec,
        profiles=(profile,),
        variants=(variant,),
        measurements=(predicted,),
    )
    results = Pipeline(edgeops_pm, edgeops_workspace).select(results)
    choice = build_manifest(results).profiles["nexus5"].choices[0]
    assert choice.method == "predicted"
    assert choice.p50_interval is not None
    assert choice.p50_interval.low_ms < choice.expected_p50_ms < choice.p50_interval.high_ms
    report = markdown_report(results)
    assert "Predicted, not measured" in report
    assert "(predicted) p50" in report and "(90%)" in report


def _npu_row(model: str, device: str = "galaxy-s23", ms: float = 1.0) -> dict[str, str]:
    return {
        "model": model,
        "recipe": "int8-full",
        "device": device,
        "runtime": "tflite",
        "compute_unit": "npu",
        "threads": "",
        "weight_bits": "8",
        "sparsity": "0",
        "activation_bits": "8",
        "latency_ms": str(ms),
        "statistic": "AI Hub inference time",
        "source": "a test row written by this test, not a published figure",
    }


def test_npu_fit_never_sees_the_reserved_models(tmp_path):
    """AI Hub's figures for the reserved models are kept for an independent check (issue 27)."""
    path = tmp_path / "published.csv"
    with open(DATA / "published.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert not {r["model"] for r in rows} & calibrate.RESERVED_MODELS
    rows += [_npu_row(m, ms=0.5) for m in sorted(calibrate.RESERVED_MODELS)]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    loaded = calibrate.load_rows(path)
    assert not {r.model for r in loaded} & calibrate.RESERVED_MODELS
    npu = predictor.fitted()["families"]["npu"]
    trained = {g.split(":", 1)[1] for g in npu["training_groups"]}
    assert trained and not trained & calibrate.RESERVED_MODELS
    assert npu["training_rows"] == sum(1 for r in loaded if r.compute_unit == "npu")


def test_npu_is_held_out_by_model():
    rows = [r for r in calibrate.load_rows() if r.compute_unit == "npu"]
    assert {r.device for r in rows} == {"galaxy-s23", "galaxy-s24"}
    # One group per network across devices: leaving a group out leaves the whole network out.
    assert len({r.group for r in rows}) == len({r.model for r in rows}) >= 3
    assert all(not calibrate.is_held_out(r.device, r.model, r.compute_unit) for r in rows)
    npu = predictor.fitted()["families"]["npu"]
    assert npu["calibration_residuals"] == len(rows) and math.isfinite(npu["q_log"])


def test_predicted_galaxy_s24_plan_ranks_npu_against_cpu_and_gpu(
    edgeops_pm, edgeops_workspace, data_dir
):
    profile = load_profiles(edgeops_pm)["galaxy-s24"]
    assert "npu" in profile.compute_units
    variant = _tflite_variant(data_dir)
    predicted = [
        edgeops_pm.hook.edgeops_predict(profile=profile, variant=variant, compute_unit=unit)
        for unit in ("cpu", "gpu", "npu")
    ]
    assert all(m is not None and m.method == "predicted" for m in predicted)
    npu = predicted[2]
    assert npu.environment["engine_family"] == "npu"
    assert "NPU compile not verified here" in npu.environment["npu_variant"]
    assert not npu.samples_ms
    i = npu.p50_interval
    assert i is not None and i.coverage == 0.9 and i.low_ms < npu.p50_ms < i.high_ms
    # A float graph is not what the NPU runs: no npu prediction for it.
    fp32 = variant.model_copy(
        update={"recipe": Recipe(name="fp32", format="tflite", steps=(RecipeStep(op="convert"),))}
    )
    on_npu = edgeops_pm.hook.edgeops_predict(profile=profile, variant=fp32, compute_unit="npu")
    assert on_npu is None or on_npu.environment.get("engine_family") != "npu"
    spec = ModelSpec(
        name="m",
        source=str(variant.path),
        source_sha256="0" * 64,
        inputs=(InputSpec(name="x", shape=(1, 128, 128, 3)),),
        quality=QualitySpec(metric="snr_db", floor=0.0),
    )
    results = Results(
        edgeops_version="0",
        run_id="r",
        spec=spec,
        profiles=(profile,),
        variants=(variant,),
        measurements=tuple(predicted),
    )
    plan = Pipeline(edgeops_pm, edgeops_workspace).select(results).plans[0]
    assert plan.status == "supported" and plan.method == "predicted"
    units = {c.compute_unit for c in plan.choices}
    assert {"cpu", "gpu", "npu"} <= units, units
    for c in plan.choices:
        assert c.method == "predicted" and c.p50_interval is not None
    best = min(predicted, key=lambda m: m.p50_ms)
    assert plan.choices[0].compute_unit == best.compute_unit
