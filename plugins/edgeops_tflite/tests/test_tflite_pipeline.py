"""Sources → TFLite variants → host quality → the probe on this machine, with real tools."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgeops.devices.profiles import resolve_profiles
from edgeops.errors import ModelError
from edgeops.files import sha256_file
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec
from edgeops_tflite import convert as tflite_convert
from edgeops_tflite.layout import IoLayout
from edgeops_tflite.running import TfliteModel

from tflite_testdata import FAST, INVALID_TFLITE, REAL_TFLITE, SHARED_MODELS

pytestmark = pytest.mark.slow
REAL_ONNX_MNIST = SHARED_MODELS / "onnx" / "ortexamples__mnist.onnx"


def _run(pm, workspace, source, **spec_update):
    spec, _ = load_spec(source)
    spec = spec.model_copy(update={"sample_count": 4, **spec_update})
    pipeline = Pipeline(pm, workspace)
    # The host with TFLite's two CPU paths; host.toml lists only "cpu" until the pipeline
    # counts reused measurements when it looks for unmeasurable compute units.
    (host,) = resolve_profiles(["host"], pm)
    host = host.model_copy(update={"compute_units": ("cpu", "xnnpack")})
    results = pipeline.optimize(pipeline.convert(spec, [host], FAST))
    return pipeline, results


def _by_name(results):
    return {v.name: v for v in results.variants}


@pytest.fixture(scope="module")
def keras_results(keras_model_file, tmp_path_factory):
    from edgeops.pipeline import Workspace
    from edgeops.plugin_manager import make_plugin_manager

    pm = make_plugin_manager()
    workspace = Workspace(tmp_path_factory.mktemp("ws") / ".edgeops")
    return _run(pm, workspace, keras_model_file, task="segmentation")


def test_keras_source_gives_all_five_recipes_with_quality(keras_results):
    _, results = keras_results
    variants = _by_name(results)
    assert set(variants) == {
        f"tflite:{r}" for r in ("fp32", "fp16", "int8-dynamic", "int8-full", "int16x8")
    }
    assert all(v.status == "ok" for v in variants.values()), [v.error for v in variants.values()]
    assert results.reference.framework == "keras"
    assert variants["tflite:fp32"].quality.metrics["snr_db"] > 100  # Keras → TFLite is exact
    assert 50 < variants["tflite:fp16"].quality.metrics["snr_db"] < 100
    assert variants["tflite:int8-full"].quality.metrics["snr_db"] > 25
    assert (
        variants["tflite:int16x8"].quality.metrics["snr_db"]
        > variants["tflite:int8-full"].quality.metrics["snr_db"]
    )
    size = {name.split(":")[1]: v.size_bytes for name, v in variants.items()}
    assert size["int8-full"] < size["fp16"] < size["fp32"]
    assert size["int8-dynamic"] < size["fp16"]


def test_keras_variants_are_measured_by_the_probe_with_and_without_xnnpack(
    keras_results, local_device
):
    pipeline, results = keras_results
    keep = {"tflite:fp32", "tflite:int8-full"}
    results = results.model_copy(
        update={"variants": tuple(v for v in results.variants if v.name in keep)}
    )
    measured = pipeline.measure(results, [local_device], FAST).measurements
    assert {(results.variant(m.variant_id).name, m.compute_unit) for m in measured} == {
        (name, cu) for name in keep for cu in ("cpu", "xnnpack")
    }
    for m in measured:
        assert m.status == "ok", m.error
        assert m.p50_ms > 0 and len(m.samples_ms) >= FAST.min_runs
        assert m.environment["runtime"] == "ai-edge-litert"
        assert "VmHWM" in m.peak_mem.definition


def test_a_reference_from_another_model_makes_the_float_variant_an_error_with_its_snr(
    keras_results, tmp_path
):
    """A silent mis-conversion is what this looks like from the variant's side."""
    import keras

    pipeline, results = keras_results
    other = keras.saving.load_model(results.spec.source)
    for weights in other.trainable_weights:
        weights.assign(np.random.default_rng(1).normal(size=weights.shape).astype("float32"))
    other_file = tmp_path / "other.keras"
    other.save(other_file)
    spec, _ = load_spec(other_file)
    wrong = pipeline._reference(spec.model_copy(update={"sample_count": 4}), results.samples)
    evaluated = _by_name(pipeline.evaluate(results.model_copy(update={"reference": wrong})))
    fp32 = evaluated["tflite:fp32"]
    assert fp32.status == "error"
    assert "SNR" in fp32.error and "mis-conversion" in fp32.error
    assert evaluated["tflite:int8-full"].status == "ok"  # quantized ones are judged by the floor


def test_check_conversion_refuses_a_model_that_disagrees_with_its_source(
    keras_results, keras_model_file
):
    _, results = keras_results
    fp32 = _by_name(results)["tflite:fp32"]
    source = tflite_convert.load_keras(keras_model_file)
    inputs = tflite_convert.keras_inputs(source)

    def off_by_a_lot(feed):
        return [o * -1.0 for o in tflite_convert.run_keras(source, inputs, feed)]

    with pytest.raises(ModelError, match=r"SNR -?\d+\.\d dB"):
        tflite_convert.check_conversion(
            TfliteModel(fp32.path), inputs, off_by_a_lot, "Keras", "test"
        )


def test_pytorch_factory_goes_through_litert_torch_and_ai_edge_quantizer_without_onnx(
    factory_config, edgeops_pm, edgeops_workspace
):
    _, results = _run(edgeops_pm, edgeops_workspace, factory_config, recipes=("fp32", "int8-full"))
    tflite = next(a for a in results.artifacts if a.format == "tflite")
    assert tflite.status == "ok", tflite.error
    assert tflite.conversion_route == "litert-torch"
    assert not (tflite.path.parent / "saved_model").exists()  # no TF graph, no ONNX
    layout = IoLayout.load(tflite.path)
    assert layout.converter == "litert-torch" and layout.is_identity
    assert TfliteModel(tflite.path).inputs[0].shape == (1, 3, 20, 28)  # NCHW kept
    variants = _by_name(results)
    assert variants["tflite:fp32"].quality.metrics["snr_db"] > 60
    int8 = variants["tflite:int8-full"]
    assert int8.status == "ok", int8.error
    assert int8.conversion_route == "litert-torch"
    assert {q.op for q in int8.quantized_layers} >= {"CONV_2D", "CONCATENATION"}
    assert TfliteModel(int8.path).inputs[0].dtype == "float32"  # float I/O, as TFLiteConverter's
    assert int8.quality.metrics["iou"] > 0.8


def test_pytorch_factory_falls_back_to_onnx2tf_without_litert_torch_and_says_why(
    factory_config, edgeops_pm, edgeops_workspace, monkeypatch
):
    # litert-torch as absent as Python can make it: importing it raises ImportError.
    monkeypatch.setitem(sys.modules, "litert_torch", None)
    # A dead proxy: onnx2tf must use our calibration file, not download its own.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    _, results = _run(edgeops_pm, edgeops_workspace, factory_config, recipes=("fp32", "int8-full"))
    tflite = next(a for a in results.artifacts if a.format == "tflite")
    assert tflite.status == "ok", tflite.error
    route = tflite.conversion_route
    assert route.startswith("onnx2tf (litert-torch not installed: ") and "\n" not in route
    assert tflite.inputs[0].shape == (1, 3, 20, 28)  # the source's layout: samples are made in it
    layout = IoLayout.load(tflite.path)
    assert layout.converter == "onnx2tf"
    assert layout.inputs[0].perm == (0, 2, 3, 1)
    assert layout.outputs[0].perm == (0, 2, 3, 1)
    assert TfliteModel(tflite.path).inputs[0].shape == (1, 20, 28, 3)
    variants = _by_name(results)
    assert results.reference.framework == "torch"
    assert variants["tflite:fp32"].quality.metrics["snr_db"] > 60
    assert variants["tflite:int8-full"].status == "ok"
    assert variants["tflite:int8-full"].quality.metrics["iou"] > 0.8
    assert IoLayout.load(variants["tflite:int8-full"].path) == layout


def test_onnx2tf_gets_a_copy_and_leaves_the_source_untouched(tmp_path):
    """onnx2tf runs onnxsim in place on its input (conversion-notes.md)."""
    source = REAL_ONNX_MNIST
    before = sha256_file(source)
    tflite_convert.run_onnx2tf(source, tmp_path / "saved_model")
    assert (tmp_path / "saved_model" / "saved_model.pb").is_file()
    assert not list((tmp_path / "saved_model").glob("*.tflite"))  # only the SavedModel is kept
    assert sha256_file(source) == before


@pytest.mark.parametrize("path", REAL_TFLITE, ids=lambda p: p.stem)
def test_real_tflite_models_get_host_quality_and_local_measurements(
    path, edgeops_pm, edgeops_workspace, local_device
):
    pipeline, results = _run(edgeops_pm, edgeops_workspace, path)
    (variant,) = results.variants
    assert variant.name == "tflite:as-is" and variant.status == "ok"
    assert variant.quality.metrics["snr_db"] == 200.0  # the reference is this very model
    measured = {
        m.compute_unit: m for m in pipeline.measure(results, [local_device], FAST).measurements
    }
    assert measured["xnnpack"].status == "ok", measured["xnnpack"].error
    assert measured["xnnpack"].peak_mem.over_baseline_mb > 0
    if "selfie" in path.name:
        # Its Convolution2DTransposeBias op exists only in the XNNPACK delegate.
        assert measured["cpu"].status == "load_failed"
        assert "Convolution2DTransposeBias" in measured["cpu"].error
    elif "mobilenet_v1_0.25_128_quant" in path.name:
        # Timed on the builtin kernels, whose uint8 arithmetic is not XNNPACK's: the
        # outputs this device returns land at 27.5 dB against the XNNPACK-made reference,
        # under the generic 30 dB floor, so the device's verdict fails the unit.
        assert measured["cpu"].device_quality.where == "device"
        assert measured["cpu"].status == "error" and measured["cpu"].p50_ms is not None
        assert measured["cpu"].error.startswith("device outputs differ from host: snr_db")
    else:
        assert measured["cpu"].status == "ok", measured["cpu"].error
        assert measured["cpu"].device_quality.where == "device"
    assert measured["xnnpack"].device_quality.metrics["snr_db"] == 200.0  # the same kernels


def test_an_invalid_tflite_fails_conversion_with_one_line(edgeops_pm, edgeops_workspace):
    with pytest.raises(ModelError) as caught:
        _run(edgeops_pm, edgeops_workspace, INVALID_TFLITE)
    assert "\n" not in str(caught.value) and "fake-op-double" in str(caught.value)


def test_cli_ship_of_an_invalid_tflite_prints_one_line_and_fails(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "edgeops", "ship", str(INVALID_TFLITE), "--profile", "host", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("edgeops: error:")]
    assert len(errors) == 1 and "fake-op-double" in errors[0], done.stderr
    assert done.stderr.strip().splitlines()[-1] == errors[0]  # the message is one whole line


def test_a_predicted_plan_never_chooses_a_unit_that_failed_to_load_here(
    edgeops_pm, edgeops_workspace, local_device
):
    # MediaPipe's selfie segmenter: the plain `cpu` interpreter fails on its
    # Convolution2DTransposeBias custom op here, and pixel6's predicted primary was
    # tflite:as-is on `cpu`, a unit that cannot even load it.
    selfie = SHARED_MODELS / "tflite" / "mediapipe__selfie_segmentation.tflite"
    spec, _ = load_spec(selfie)
    spec = spec.model_copy(update={"sample_count": 4})
    pipeline = Pipeline(edgeops_pm, edgeops_workspace)
    host, pixel6 = resolve_profiles(["host", "pixel6"], edgeops_pm)
    host = host.model_copy(update={"compute_units": ("cpu", "xnnpack")})
    results = pipeline.optimize(pipeline.convert(spec, [host, pixel6], FAST))
    results = pipeline.select(pipeline.measure(results, [local_device], FAST))
    here = {m.compute_unit: m for m in results.measurements if m.profile_id == "host"}
    assert here["cpu"].status == "load_failed"
    predicted = {m.compute_unit: m for m in results.measurements if m.profile_id == "pixel6"}
    assert predicted["cpu"].method == "predicted" and predicted["cpu"].status == "load_failed"
    assert predicted["cpu"].p50_ms is None and predicted["xnnpack"].status == "ok"
    plan = next(p for p in results.plans if p.profile_id == "pixel6")
    assert plan.choices and all(c.compute_unit != "cpu" for c in plan.choices)
    reasons = [r for r in plan.rejected if r.compute_unit == "cpu"]
    assert reasons and "failed to load on" in reasons[0].reasons[0]
    assert "Convolution2DTransposeBias" in reasons[0].reasons[0]
