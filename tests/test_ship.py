"""`edgeops ship` end to end, in real subprocesses, on real models and runtimes."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from edgeops.files import sha256_file
from edgeops.models import Manifest

from factories import BROKEN_RECIPE_PLUGIN, FAST, run_cli
from paths import DATA, REPO

pytestmark = pytest.mark.slow
SEGMENTER = REPO / "examples" / "segmenter"


# These tests are about the pipeline; the ONNX backend alone keeps them quick.
# Other backends' own tests ship through them.
ONNX_ONLY = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}
# The interrupted runs are about signals and resume: without paced runs (two rates of
# twice --min-duration-s each) a probe takes a fifth of the time.
NO_PACED = ("--paced-fps", "")


def ship(cwd: Path, *args: str, env: dict[str, str] | None = ONNX_ONLY):
    # Generous: the first segmenter ship trains it (about 80 s alone, minutes on a busy machine).
    result = run_cli("ship", *args, *FAST, "--json", cwd=cwd, env=env, timeout_s=1500)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_segmenter_bundle_is_complete_and_valid(tmp_path):
    # Every installed backend: this is the run the README promises.
    summary = ship(tmp_path, str(SEGMENTER), "--profile", "host", "--out", "bundle", env=None)
    bundle = tmp_path / "bundle"
    assert summary["bundle"] == "bundle"
    names = {v["recipe"]["name"]: v for v in summary["variants"] if v["format"] == "onnx"}
    assert {"fp32", "fp16", "int8-dynamic", "int8-static"} <= set(names)
    assert not summary["samples"]["synthetic"]
    sizes = summary["sizes_by_format"]
    assert {"onnx", "tflite"} <= set(sizes)
    assert sizes["onnx"]["int8-static"] < sizes["onnx"]["fp16"] < sizes["onnx"]["fp32"]
    # Trained weights make IoU meaningful: fp16 agrees with the reference almost everywhere.
    assert names["fp32"]["quality"]["metrics"]["iou"] > 0.999
    assert names["fp16"]["quality"]["metrics"]["iou"] > 0.98
    for v in names.values():
        assert {"iou", "pixel_agreement", "snr_db", "cosine"} <= set(v["quality"]["metrics"])

    manifest = json.loads((bundle / "manifest.json").read_text())
    jsonschema.validate(manifest, Manifest.model_json_schema())
    plan = manifest["profiles"]["host"]
    assert plan["status"] == "supported" and plan["choices"]
    for _key, file in manifest["variants"].items():
        path = bundle / file["file"]
        assert sha256_file(path) == file["sha256"] and path.stat().st_size == file["size_bytes"]
    assert {c["variant"] for c in plan["choices"]} <= set(manifest["variants"])

    results = json.loads((bundle / "results.json").read_text())
    ok = [m for m in results["measurements"] if m["status"] == "ok"]
    assert len(ok) >= 4
    for m in ok:
        # Successive halving may stop a clearly beaten job after its first round.
        stopped = m["environment"].get("stopped_early")
        # Each round takes at least --min-runs (5) samples: a slow variant stopped after
        # its first round has 5.
        assert m["rounds"] == 2 or (m["rounds"] == 1 and stopped), m
        assert len(m["samples_ms"]) >= 5 * m["rounds"], m
        assert m["p50_ms"] <= m["p90_ms"] <= m["p99_ms"]
        assert m["peak_mem"]["definition"].startswith("VmHWM")
        assert m["load_ms"] > 0 and m["first_ms"] > 0
    assert (bundle / "report.md").read_text().startswith("# segmenter 1.0.0")


def test_second_ship_converts_and_optimizes_nothing(tmp_path):
    model = str(DATA / "models/onnx/ultraface__version-slim-320.onnx")
    first = ship(tmp_path, model)
    assert first["cache"]["conversions_made"] == 1 and first["cache"]["optimizations_made"] == 4
    assert first["cache"]["conversions_reused"] == 0 and first["cache"]["optimizations_reused"] == 0
    second = ship(tmp_path, model, "--reuse-measurements")
    assert second["cache"]["conversions_made"] == 0 and second["cache"]["optimizations_made"] == 0
    assert (
        second["cache"]["conversions_reused"] == 1 and second["cache"]["optimizations_reused"] == 4
    )
    assert second["cache"]["measurements_reused"] == 4
    assert [m["samples_ms"] for m in second["measurements"]] == [
        m["samples_ms"] for m in first["measurements"]
    ]
    # Reusing the measurements too: the line looked at is about the cache of conversions.
    human = run_cli("ship", model, *FAST, "--reuse-measurements", cwd=tmp_path, env=ONNX_ONLY)
    assert "nothing converted or optimized" in human.stdout.replace("\n", " ")
    history = run_cli("history", "--json", cwd=tmp_path)
    assert [r["status"] for r in json.loads(history.stdout)["runs"]] == ["ok", "ok", "ok"]


def test_symbolic_batch_dimension_model(tmp_path):
    """PAN's output batch dimension is symbolic ('unk__23')."""
    summary = ship(
        tmp_path,
        str(DATA / "models/onnx/skinclotheshair__PAN_mobilenetv3_small_100_simplifier.onnx"),
        "--task",
        "segmentation",
        "--allow-unsupported",
    )
    assert summary["plans"][0]["status"] in {"supported", "unsupported"}
    assert all(m["status"] == "ok" for m in summary["measurements"])
    assert summary["samples"]["synthetic"]


def test_one_failing_recipe_is_recorded_and_the_run_goes_on(tmp_path):
    """MNIST (CNTK, opset 8): every ONNX recipe is made (static int8 once failed in ORT's
    pre-processing); a plugin's recipe that fails is recorded and the rest ship."""
    (tmp_path / "broken_recipe.py").write_text(BROKEN_RECIPE_PLUGIN)
    env = {**ONNX_ONLY, "PYTHONPATH": str(tmp_path), "EDGEOPS_PLUGINS": "broken_recipe"}
    summary = ship(
        tmp_path, str(DATA / "models/onnx/ortexamples__mnist.onnx"), "--task", "classification",
        env=env,
    )  # fmt: skip
    status = {v["recipe"]["name"]: v["status"] for v in summary["variants"]}
    assert status["broken"] == "error" and status["fp32"] == "ok"
    assert status["int8-static"] == "ok"
    failed = next(v for v in summary["variants"] if v["status"] == "error")
    assert failed["error"] == "broken: the converter refused this graph"
    rejected = summary["plans"][0]["rejected"]
    assert any(r["variant_name"] == "onnx:broken" for r in rejected)
    assert summary["plans"][0]["status"] == "supported"


def test_stages_run_alone_from_the_files_before(tmp_path):
    model = str(DATA / "models/onnx/ultraface__version-slim-320.onnx")
    for args in (
        ("convert", model, "-o", "c.json"),
        ("optimize", "c.json", "-o", "o.json"),
        ("measure", "o.json", *FAST, "-o", "m.json"),
        ("select", "m.json", "--out", "b", "--json"),
    ):
        result = run_cli(*args, cwd=tmp_path, env=ONNX_ONLY)
        assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["plans"][0]["status"] == "supported"
    assert (tmp_path / "b" / "manifest.json").is_file()


def test_ctrl_c_leaves_cache_and_bundle_consistent(tmp_path):
    model = str(DATA / "models/onnx/ultraface__version-slim-320.onnx")
    rounds = ("--rounds", "3", "--min-duration-s", "2", *NO_PACED)
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeops", "ship", model, *rounds],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ONNX_ONLY},
    )
    # Wait until measuring has begun: optimizations are then in the cache.
    deadline = time.time() + 120
    while (
        time.time() < deadline
        and len(list((tmp_path / ".edgeops/cache/variants").glob("*/entry.json"))) < 4
    ):
        time.sleep(0.2)
    time.sleep(1.5)
    os.kill(process.pid, signal.SIGINT)
    # The measurement under way finishes first; on 2 cores shared with the suite's
    # other peers a probe round can take tens of seconds.
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr.strip().splitlines()[-1] and "Traceback" not in stderr
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".old"))]
    assert leftovers == []
    assert not (tmp_path / "dist").exists()
    for entry in (tmp_path / ".edgeops/cache").glob("*/*/entry.json"):
        json.loads(entry.read_text())
    with sqlite3.connect(tmp_path / ".edgeops/runs.sqlite") as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    # The next run picks up the finished work.
    summary = ship(tmp_path, model)
    assert summary["cache"]["optimizations_made"] == 0


def test_resume_measures_only_what_is_missing(tmp_path):
    model = str(DATA / "models/onnx/ultraface__version-slim-320.onnx")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgeops",
            "ship",
            model,
            "--rounds",
            "3",
            "--min-runs",
            "5",
            "--min-duration-s",
            "0.5",
            # Every variant for every round, so the count of rounds is known.
            "--no-prune",
            *NO_PACED,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **ONNX_ONLY},
    )
    journals = tmp_path / ".edgeops" / "runs"
    deadline = time.time() + 180
    while time.time() < deadline:
        lines = [p for p in journals.glob("*/rounds.jsonl") if len(p.read_text().splitlines()) >= 5]
        if lines:
            break
        time.sleep(0.1)
    process.kill()  # a crash, not a Ctrl-C: nothing gets to clean up
    process.wait()
    (journal,) = journals.glob("*/rounds.jsonl")
    before = journal.read_text().splitlines()
    assert 5 <= len(before) < 12

    summary = ship(tmp_path, "--resume", "--no-prune")
    after = journal.read_text().splitlines()
    assert after[: len(before)] == before
    assert len(after) == 12  # 4 variants × 3 rounds, none measured twice
    assert summary["run_id"] == journal.parent.name
    assert all(m["rounds"] == 3 and m["status"] == "ok" for m in summary["measurements"])
    first = json.loads(before[0])
    merged = next(m for m in summary["measurements"] if m["variant_id"] == first["variant_id"])
    assert merged["samples_ms"][: len(first["samples_ms"])] == first["samples_ms"]
    history = json.loads(run_cli("history", "--json", cwd=tmp_path).stdout)
    assert [r["status"] for r in history["runs"]] == ["ok"]
