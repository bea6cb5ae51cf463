"""A profile whose formats the source cannot be converted to says so (issue 10, defect 11).

Before, a .tflite shipped to an iPhone profile read "no device attached and no
prediction available", though attaching an iPhone would not help.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factories import run_cli
from paths import DATA

pytestmark = pytest.mark.slow
MODEL = DATA / "models/tflite/coral__mobilenet_v1_0.25_128_quant.tflite"


def test_a_tflite_source_for_an_iphone_is_not_converted_with_the_reason(tmp_path: Path) -> None:
    done = run_cli(
        "ship", str(MODEL), "-p", "host", "-p", "iphone12", "--rounds", "1", "--min-runs", "3",
        "--min-duration-s", "0", "--json", cwd=tmp_path, timeout_s=900,
    )  # fmt: skip
    # Exit 5: a requested profile ships nothing; the last line names it and its status.
    assert done.returncode == 5, done.stderr[-2000:]
    assert "iphone12 (not_converted)" in done.stderr.strip().splitlines()[-1]
    plans = {p["profile_id"]: p for p in json.loads(done.stdout)["plans"]}
    iphone = plans["iphone12"]
    assert iphone["status"] == "not_converted"
    # The route through tf2onnx exists; this fully quantized graph ends at onnx2torch,
    # and the note says so (before, there was no route at all).
    assert "the conversion to coreml failed" in iphone["note"], iphone["note"]
    assert "DequantizeLinear" in iphone["note"]
    assert "no device attached" not in iphone["note"]
    manifest = json.loads(
        (tmp_path / json.loads(done.stdout)["bundle"] / "manifest.json").read_text()
    )
    assert manifest["profiles"]["iphone12"]["status"] == "not_converted"
    # The history agrees with the exit code (issue 28 item 7: a run that exited 5 was
    # recorded "ok", because the two were decided in two places).
    history = run_cli("history", "--json", cwd=tmp_path, timeout_s=120)
    (run,) = [r for r in json.loads(history.stdout)["runs"]]
    assert run["run_id"] == json.loads(done.stdout)["run_id"]
    assert run["status"] == "unsupported"


def test_an_intermediate_format_alone_is_not_a_conversion(tmp_path: Path) -> None:
    # MNIST's .onnx reaches Core ML through the ONNX backend's artifact, and onnx2torch
    # cannot read its auto_pad. For an iPhone alone, the ONNX artifact was taken as
    # "something converted" and the run died on an assert; it is the Core ML error.
    mnist = DATA / "models/onnx/ortexamples__mnist.onnx"
    done = run_cli("ship", str(mnist), "-p", "iphone12", cwd=tmp_path, timeout_s=600)
    assert done.returncode == 1, done.stderr[-2000:]  # a model that cannot convert (ModelError)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("edgeops: error:") and "auto_pad" in last
    assert "Traceback" not in done.stderr
