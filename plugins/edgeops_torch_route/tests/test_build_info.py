"""edgeops_torch_route.build_info: the record beside a converted model, and a variant's built on its parent's."""

from __future__ import annotations

import json
import time

from edgeops.models import InputSpec, ModelSpec, QualitySpec
from edgeops_torch_route.build_info import BuildInfo


def make_spec(**kw: object) -> ModelSpec:
    base: dict[str, object] = {
        "name": "m",
        "source": "m.onnx",
        "source_sha256": "0" * 64,
        "quality": QualitySpec(metric="iou", floor=0.9),
    }
    return ModelSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_a_variant_record_starts_from_its_parents(tmp_path):
    info = BuildInfo("thing.json")
    spec = make_spec(source="/abs/m.onnx", inputs=(InputSpec(name="x", shape=(1, 3)),))
    base, variant = tmp_path / "base", tmp_path / "variant"
    base.mkdir()
    variant.mkdir()
    info.write(base, {"spec": spec.model_dump(), "ios": 16})
    assert info.spec_of(base / "model") == spec

    def make() -> dict:
        time.sleep(0.05)  # the variant's conversion
        return {"ios": 18, "bits": 4}

    info.write_variant(variant, base / "model", "palettize-4", make)
    record = json.loads((variant / "thing.json").read_text())
    assert record["ios"] == 18 and record["bits"] == 4 and record["recipe"] == "palettize-4"
    assert record["spec"]["source"] == "/abs/m.onnx" and 0.05 <= record["optimize_s"] < 5


def test_a_model_without_a_record_has_no_spec(tmp_path):
    info = BuildInfo("thing.json")
    assert info.read(tmp_path / "model") == {} and info.spec_of(tmp_path / "model") is None
    info.write(tmp_path, {"source": "mlpackage"})
    assert info.spec_of(tmp_path / "model") is None
