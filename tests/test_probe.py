import ast
import json
import subprocess
import sys
from pathlib import Path

from edgeops.devices import probe

from factories import tiny_onnx

PROBE = Path(probe.__file__)


def test_probe_imports_only_the_standard_library_at_module_level():
    tree = ast.parse(PROBE.read_text())
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top_level.add(node.module.split(".")[0])
    assert top_level - {"__future__"} <= set(sys.stdlib_module_names)


def run_probe(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-I", str(PROBE), *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_probe_measures_an_onnx_model(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx")
    doc = run_probe(
        "--model", str(model), "--min-runs", "7", "--min-duration-s", "0", "--warmup", "1"
    )
    assert doc["status"] == "ok"
    assert len(doc["samples_ms"]) == 7 and all(s > 0 for s in doc["samples_ms"])
    assert doc["load_ms"] > 0 and doc["first_ms"] > 0
    mem = doc["peak_mem"]
    assert mem["definition"].startswith("VmHWM")
    # The probe (python + numpy + onnxruntime) holds tens of MB; the tiny model adds little.
    assert 10 < mem["baseline_mb"] < mem["raw_mb"] < 1000
    assert abs(mem["over_baseline_mb"] - (mem["raw_mb"] - mem["baseline_mb"])) < 0.02
    assert doc["environment"]["runtime"] == "onnxruntime"


def test_probe_runs_until_the_minimum_duration(tmp_path):
    model = tiny_onnx(
        tmp_path / "m.onnx", size=128
    )  # runs long enough that timing overhead is small
    doc = run_probe(
        "--model", str(model), "--min-runs", "1", "--min-duration-s", "0.3", "--warmup", "0"
    )
    assert len(doc["samples_ms"]) > 1
    assert sum(doc["samples_ms"]) >= 200


def test_probe_reports_load_failure_of_a_corrupt_model(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    doc = run_probe("--model", str(bad))
    assert doc["status"] == "load_failed" and doc["error"]


def test_probe_refuses_an_unknown_compute_unit(tmp_path):
    doc = run_probe("--model", str(tiny_onnx(tmp_path / "m.onnx")), "--compute-unit", "ane")
    assert doc["status"] == "unsupported"


def test_vmhwm_is_not_inherited_from_a_big_parent(tmp_path):
    """ru_maxrss carries over across fork+exec; VmHWM must not (conversion-notes.md)."""
    code = (
        "import subprocess, sys, json\n"
        "ballast = bytearray(400 * 1024 * 1024)\n"
        "for i in range(0, len(ballast), 4096): ballast[i] = 1\n"
        f"out = subprocess.run([sys.executable, '-I', {str(PROBE)!r}, '--model', sys.argv[1],"
        " '--min-runs', '2', '--min-duration-s', '0'], capture_output=True, text=True).stdout\n"
        "print(out)\n"
    )
    model = tiny_onnx(tmp_path / "m.onnx")
    out = subprocess.run(
        [sys.executable, "-c", code, str(model)], capture_output=True, text=True, check=True
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["peak_mem"]["raw_mb"] < 300
