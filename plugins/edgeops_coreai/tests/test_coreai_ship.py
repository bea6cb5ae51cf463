"""`edgeops ship` to an iPhone on iOS 27, in a real subprocess: Core AI variants with host
quality from the Core AI runtime beside Core ML ones, and the runtime named per choice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jsonschema
import pytest

from edgeops.models import Manifest

pytestmark = pytest.mark.slow

CONFIG = textwrap.dedent(
    """
    [model]
    name = "tiny"
    version = "1.0.0"
    source = "tiny_net.py:build"
    task = "segmentation"
    sample_count = 4
    recipes = ["coreai:fp32", "coreai:fp16", "coreai:palettize-kmeans-4", "coreml:fp16"]

    [[model.inputs]]
    name = "image"
    shape = [1, 3, 16, 16]

    [model.quality]
    metric = "snr_db"
    floor = 20.0
    """
)


def test_ship_to_an_ios27_iphone_sweeps_core_ai_beside_core_ml(tmp_path, tiny_torch_spec):
    model = tmp_path / "tiny"
    model.mkdir()
    (model / "tiny_net.py").write_text(tiny_torch_spec.source_path.read_text())
    (model / "edgeops.toml").write_text(CONFIG)
    result = subprocess.run(
        [sys.executable, "-m", "edgeops", "ship", str(model), "--profile", "iphone16-ios27",
         "--out", "bundle", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "EDGEOPS_HOME": str(tmp_path / "home"),
             "EDGEOPS_DISABLE_PLUGINS": "tflite,executorch"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    variants = {(v["format"], v["recipe"]["name"]): v for v in summary["variants"]}
    assert {("coreai", "fp32"), ("coreai", "fp16"), ("coreai", "palettize-kmeans-4")} <= set(
        variants
    )
    assert ("coreml", "fp16") in variants
    for key in [k for k in variants if k[0] == "coreai"]:
        quality = variants[key]["quality"]
        assert variants[key]["status"] == "ok" and quality["where"] == "host", key
        assert {"iou", "pixel_agreement", "snr_db", "cosine"} <= set(quality["metrics"])
    assert variants[("coreai", "fp32")]["quality"]["metrics"]["snr_db"] > 100
    assert variants[("coreml", "fp16")]["quality"]["where"] == "host-estimate"

    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    jsonschema.validate(manifest, Manifest.model_json_schema())
    plan = manifest["profiles"]["iphone16-ios27"]
    assert plan["status"] == "supported" and plan["choices"]
    for choice in plan["choices"]:
        assert choice["method"] == "predicted"
        assert choice["runtime"] in ("coreai", "coreml")
        assert choice["min_os"] == ("iOS27" if choice["runtime"] == "coreai" else choice["min_os"])
        assert manifest["variants"][choice["variant"]]["format"] == choice["runtime"]
    results = json.loads((tmp_path / "bundle" / "results.json").read_text())
    predicted = {m["compute_unit"] for m in results["measurements"] if m["method"] == "predicted"}
    assert {"cpu_only", "cpu_and_ne"} <= predicted
