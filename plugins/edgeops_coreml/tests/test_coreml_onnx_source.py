"""A bare .onnx source (no [[model.inputs]]) shipped to an iPhone: Core ML variants and
their host estimate, through the pipeline and its worker processes."""

from __future__ import annotations

import pytest

from edgeops.devices.profiles import resolve_profiles
from edgeops.models import MeasureSettings
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec
from edgeops.testing import test_data_dir

pytestmark = pytest.mark.slow
FAST = MeasureSettings(rounds=1, min_runs=3, min_duration_s=0.0, warmup_runs=1)
ULTRAFACE = test_data_dir() / "models" / "onnx" / "ultraface__version-slim-320.onnx"


def test_a_bare_onnx_gets_a_host_estimate_for_its_core_ml_variants(edgeops_pm, edgeops_workspace):
    # The run's spec has no inputs: conversion took them from the ONNX backend's
    # artifact. The host estimate reloaded the source from the run's spec and called
    # it with none: "forward() missing 1 required positional argument: 'input_1'" on
    # every Core ML variant, so an iPhone got nothing.
    spec, _ = load_spec(ULTRAFACE)
    assert not spec.inputs
    spec = spec.model_copy(
        update={"sample_count": 2, "recipes": ("coreml:fp16", "coreml:palettize-kmeans-4")}
    )
    (iphone,) = resolve_profiles(["iphone15pro"], edgeops_pm)
    pipeline = Pipeline(edgeops_pm, edgeops_workspace)
    results = pipeline.optimize(pipeline.convert(spec, [iphone], FAST, run_id="bare"))
    made = {v.name: v for v in results.variants if v.format == "coreml"}
    assert set(made) == {"coreml:fp16", "coreml:palettize-kmeans-4"}
    for variant in made.values():
        assert variant.status == "ok", variant.error
        assert variant.quality is not None and variant.quality.where == "host-estimate"
        assert variant.quality.metrics["snr_db"] > 20
