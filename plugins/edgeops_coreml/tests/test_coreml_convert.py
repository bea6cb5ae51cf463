"""Conversion to mlprogram with real coremltools: a PyTorch factory and real ONNX models."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeops.errors import ModelError
from edgeops.models import ModelSpec
from edgeops.testing import assert_converts_only, convert_with, file_spec, test_data_dir
from edgeops_coreml import convert

ONNX_MODELS = test_data_dir() / "models" / "onnx"
# iOS 16's Core ML specification version (coremltools' _SPECIFICATION_VERSION_IOS_16).
SPEC_VERSION_IOS16 = 7


def _with_onnx(spec: ModelSpec, tmp_path: Path) -> list:
    """The run's ONNX artifact, made by the ONNX backend as the pipeline would first."""
    import edgeops_onnx

    (tmp_path / "onnx").mkdir()
    return [convert_with(edgeops_onnx, spec, "onnx", tmp_path / "onnx")]


def test_factory_converts_to_an_ios16_mlprogram_with_fp32_io(tiny_artifact):
    package = Path(tiny_artifact.path)
    assert package.name == "model.mlpackage" and (package / "Manifest.json").is_file()
    spec = convert.load(package).get_spec()
    assert spec.WhichOneof("Type") == "mlProgram"
    assert spec.specificationVersion == SPEC_VERSION_IOS16
    # FLOAT32 = 65568 in Core ML's ArrayDataType: fp32 I/O kept whatever the precision.
    assert [f.type.multiArrayType.dataType for f in spec.description.input] == [65568]
    assert tiny_artifact.output_names == ("output_0",)
    assert tiny_artifact.macs == 16 * 16 * (3 * 9 * 64 + 64 * 9 * 128 + 128 * 4)
    info = convert.BUILD_INFO.read(package)
    assert info["ios"] == 16 and info["compute_precision"] == "float16"
    # The spec reaches every build call in its context: it is not kept beside the model.
    assert "spec" not in info


@pytest.mark.slow
def test_real_onnx_model_converts_through_onnx2torch(tmp_path):
    import edgeops_coreml

    spec = file_spec(ONNX_MODELS / "ultraface__version-slim-320.onnx")  # opset 9, 1.2 MB
    artifact = convert_with(
        edgeops_coreml, spec, "coreml", tmp_path, tuple(_with_onnx(spec, tmp_path))
    )
    assert artifact is not None
    assert artifact.inputs[0].shape == (1, 3, 240, 320)
    assert artifact.output_names == ("output_0", "output_1")  # scores, boxes
    assert artifact.params and artifact.macs and artifact.macs > 50_000_000


def test_onnx_op_onnx2torch_lacks_is_a_one_line_model_error(tmp_path):
    import edgeops_coreml

    spec = file_spec(ONNX_MODELS / "ortexamples__mnist.onnx")
    onnx_artifacts = _with_onnx(spec, tmp_path)
    with pytest.raises(ModelError, match="onnx2torch cannot convert .*auto_pad"):
        convert_with(edgeops_coreml, spec, "coreml", tmp_path, tuple(onnx_artifacts))


def test_onnx_source_without_the_onnx_backend_names_the_extra(tmp_path):
    import edgeops_coreml

    spec = file_spec(ONNX_MODELS / "ortexamples__mnist.onnx")
    with pytest.raises(ModelError, match=r"edgeops\[onnx\]"):
        convert_with(edgeops_coreml, spec, "coreml", tmp_path)


def test_mlpackage_source_is_accepted_as_is(tiny_artifact, tmp_path):
    import edgeops_coreml
    from edgeops.files import sha256_tree

    spec = file_spec(Path(tiny_artifact.path))
    artifact = convert_with(edgeops_coreml, spec, "coreml", tmp_path)
    assert artifact is not None and artifact.path is not None
    assert sha256_tree(artifact.path) == sha256_tree(Path(tiny_artifact.path))
    assert artifact.inputs[0].name == "image" and artifact.inputs[0].shape == (1, 3, 16, 16)


def test_other_formats_and_sources_are_left_to_other_plugins(tiny_torch_spec, tmp_path):
    import edgeops_coreml

    assert_converts_only(edgeops_coreml, tiny_torch_spec, "coreml", "tflite", tmp_path)
