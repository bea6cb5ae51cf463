"""A .tflite source reaches the iPhone: tf2onnx (the ONNX backend), then onnx2torch and
coremltools, with a host estimate of each Core ML variant."""

from __future__ import annotations

import pytest

from edgeops.devices.profiles import resolve_profiles
from edgeops.models import MeasureSettings
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec
from edgeops.testing import test_data_dir

pytestmark = pytest.mark.slow
FAST = MeasureSettings(rounds=1, min_runs=3, min_duration_s=0.0, warmup_runs=1)
TFLITE = test_data_dir() / "models" / "tflite"


def test_a_tflite_source_gets_core_ml_variants_for_an_iphone(edgeops_pm, edgeops_workspace):
    # MediaPipe's face detector (float, 128x128 NHWC). It used to get one tflite:as-is
    # variant and no Core ML route, so every iPhone was `not_converted`.
    spec, _ = load_spec(TFLITE / "mediapipe__face_detection_short_range.tflite")
    spec = spec.model_copy(update={"sample_count": 2, "recipes": ("coreml:fp16",)})
    (iphone,) = resolve_profiles(["iphone15pro"], edgeops_pm)
    pipeline = Pipeline(edgeops_pm, edgeops_workspace)
    converted = pipeline.convert(spec, [iphone], FAST, run_id="tfl")
    formats = {a.format: a for a in converted.artifacts}
    assert set(formats) == {"coreml"}  # tf2onnx's graph is Core ML's source, not a variant
    assert formats["coreml"].status == "ok", formats["coreml"].error
    assert formats["coreml"].inputs[0].shape == (1, 128, 128, 3)  # NHWC kept
    results = pipeline.optimize(converted)
    (variant,) = [v for v in results.variants if v.format == "coreml"]
    assert variant.status == "ok", variant.error
    assert variant.quality is not None and variant.quality.where == "host-estimate"
    assert variant.quality.metrics["snr_db"] > 20
