"""What the TFLite backend says when the ONNX step it goes through failed (issue 28, smaller list)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeops.errors import ModelError
from edgeops.models import Artifact, ModelSpec, QualitySpec
from edgeops_tflite.convert import convert


def test_a_failed_onnx_conversion_is_named_not_a_missing_backend(tmp_path: Path) -> None:
    spec = ModelSpec(
        name="m",
        source=str(tmp_path / "m.onnx"),
        source_sha256="0" * 64,
        quality=QualitySpec(metric="snr_db", floor=20),
    )
    failed = Artifact(format="onnx", status="error", error="m.onnx cannot take input shape x")
    with pytest.raises(ModelError) as raised:
        convert(spec, tmp_path, [failed])
    assert "install" not in str(raised.value)
    assert "the ONNX conversion failed: m.onnx cannot take input shape x" in str(raised.value)
    with pytest.raises(ModelError, match="install the ONNX backend"):
        convert(spec, tmp_path, [])
