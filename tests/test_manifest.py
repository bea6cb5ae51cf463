"""The manifest an app reads: tensors, device keys, runtimes, and room for 1.x additions."""

import json

import jsonschema
import pytest

import edgeops
from edgeops.devices.profiles import load_profiles
from edgeops.models import Manifest
from edgeops.pipeline.bundle import manifest_schema

from factories import tiny_onnx


def test_schema_is_open_so_1x_additions_never_break_a_reader():
    schema = manifest_schema()
    assert schema["$id"].endswith("manifest-1.1.json")
    assert '"additionalProperties": false' not in json.dumps(schema)
    assert "ignore keys they do not know" in schema["$comment"]


def test_profiles_carry_the_keys_an_app_matches_its_device_with():
    profiles = load_profiles()
    assert profiles["iphone12"].match == {"hw.machine": ("iPhone13,2",)}
    assert profiles["galaxy-s23"].match == {"ro.product.model": ("SM-S911*",)}
    assert "match" in profiles["pixel6"].sources


@pytest.mark.slow
def test_a_bundle_manifest_has_tensors_runtimes_and_match_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEOPS_DISABLE_PLUGINS", "tflite,coreml,executorch")
    edgeops.ship(
        tiny_onnx(tmp_path / "m.onnx"),
        ["host"],
        out=tmp_path / "b",
        workspace=tmp_path / "ws",
        rounds=1,
        min_runs=3,
        min_duration_s=0.0,
        jobs=1,
        progress=False,
    )
    data = json.loads((tmp_path / "b" / "manifest.json").read_text())
    jsonschema.validate(data, manifest_schema())
    assert data["schema_version"] == "1.1"
    assert data["inputs"] == [
        {
            "name": "x",
            "shape": [1, 3, 32, 32],
            "dtype": "float32",
            "layout": None,
            "value_range": [0.0, 1.0],
        }
    ]
    assert data["outputs"][0]["name"] == "y" and data["outputs"][0]["shape"] == [1, 2, 32, 32]
    assert all(c["runtime"] for c in data["profiles"]["host"]["choices"])
    assert data["profiles"]["host"]["platform"] == "linux"

    # A later 1.x adds keys anywhere: edgeops's own reader (and the schema) take them.
    data["new_top_level"] = {"x": 1}
    data["profiles"]["host"]["choices"][0]["new_key"] = True
    jsonschema.validate(data, manifest_schema())
    assert Manifest.model_validate(data).model == "m"
