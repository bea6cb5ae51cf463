"""Conversion to .aimodel with real coreai-torch, and host runs with the real Core AI runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeops import testing
from edgeops.errors import ModelError
from edgeops_coreai import convert

ONNX_MODELS = testing.test_data_dir() / "models" / "onnx"


def test_factory_converts_to_an_os27_aimodel(tiny_artifact):
    from edgeops_coreai.sdk import asset_class

    asset = Path(tiny_artifact.path)
    assert asset.name == "model.aimodel"
    assert {p.name for p in asset.iterdir()} >= {"main.mlirb", "metadata.json"}
    summary = asset_class().load(asset).summary()
    # Core AI runs from iOS / macOS 27: every asset says so itself.
    assert float(summary._compatibility_version) == 27.0
    assert summary.function_names == ["main"]
    assert [name for name, _ in summary.function_inputs("main")] == ["image"]
    assert tiny_artifact.output_names == ("output_0",)
    assert tiny_artifact.macs == 16 * 16 * (3 * 9 * 64 + 64 * 9 * 128 + 128 * 4)
    info = convert.BUILD_INFO.read(asset)
    assert info["weight_elements"] == 3 * 9 * 64 + 64 * 9 * 128 + 128 * 4
    # The spec reaches every build call in its context: it is not kept beside the model.
    assert "spec" not in info
    # fp32 weights: all in Float32 storage (the batch norm folded into the convolution).
    assert dict(map(tuple, info["storage_types"]))["Float32"] >= info["weight_elements"]


def test_host_quality_of_the_fp32_asset_comes_from_the_core_ai_runtime(
    tiny_artifact, tiny_torch_reference, tiny_torch_samples, tiny_torch_spec, tmp_path
):
    import edgeops_coreai
    from edgeops.plugin import BuildContext

    context = BuildContext(
        spec=tiny_torch_spec, samples=tiny_torch_samples, reference=tiny_torch_reference
    )
    quality = edgeops_coreai.CoreAIBackend().evaluate(tiny_artifact, context, tmp_path)
    # Kept for the report's gallery, as every backend's outputs are.
    assert (tmp_path / "outputs.npz").is_file()
    assert quality is not None and quality.where == "host"
    assert quality.sample_count == tiny_torch_samples.count
    # The runtime on this CPU against torch fp32: rounding only (1e-7 differences).
    assert quality.metrics["snr_db"] > 100
    assert quality.metrics["iou"] == 1.0


def test_runtime_output_differs_from_torch_only_by_rounding(
    tiny_artifact, tiny_torch_spec, tiny_torch_samples
):
    import numpy as np
    import torch

    from edgeops.sample_files import sample_feeds
    from edgeops_coreai.runtime import run_asset

    outputs = run_asset(tiny_artifact.path, tiny_artifact.inputs, ("output_0",), tiny_torch_samples)
    net, _ = convert.load_module(tiny_torch_spec)
    for feed, got in zip(sample_feeds(tiny_torch_samples), outputs, strict=True):
        with torch.no_grad():
            want = net(torch.from_numpy(feed["image"])).numpy()
        assert got[0].shape == want.shape
        assert float(np.max(np.abs(got[0] - want))) < 1e-5


@pytest.mark.slow
def test_real_onnx_model_converts_through_onnx2torch_and_runs(tmp_path):
    import numpy as np

    import edgeops_coreai
    from edgeops.pipeline.samples import build_samples
    from edgeops_coreai.runtime import run_asset

    spec = testing.file_spec(ONNX_MODELS / "ultraface__version-slim-320.onnx")  # opset 9, 1.2 MB
    artifact = testing.convert_with(edgeops_coreai, spec, "coreai", tmp_path)
    assert artifact is not None and artifact.path is not None
    assert artifact.inputs[0].shape == (1, 3, 240, 320)
    assert artifact.output_names == ("output_0", "output_1")  # scores, boxes
    samples = build_samples(
        spec.model_copy(update={"sample_count": 1}), artifact.inputs, tmp_path / "s"
    )
    ((scores, boxes),) = run_asset(artifact.path, artifact.inputs, artifact.output_names, samples)
    assert scores.shape == (1, 4420, 2) and boxes.shape == (1, 4420, 4)
    # Softmax scores: each anchor's two classes sum to one.
    assert np.allclose(scores.sum(-1), 1.0, atol=1e-4)


def test_bad_onnx_file_is_a_one_line_model_error(tmp_path):
    import edgeops_coreai

    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        testing.convert_with(edgeops_coreai, testing.file_spec(bad), "coreai", tmp_path)


def test_other_formats_and_sources_are_left_to_other_plugins(tiny_torch_spec, tmp_path):
    import edgeops_coreai

    testing.assert_converts_only(edgeops_coreai, tiny_torch_spec, "coreai", "coreml", tmp_path)
