"""A phone's TFLite measurement with benchmark_model, against a real adbd.

benchmark_model cannot run on this machine, so every test here pushes a
STAND-IN shell script in its place (adb_testing.stand_in_benchmark_model): it
records the argv it received and prints a real log from tests/data/fixtures.
What is real: adbd, adb-shell, the verified push, the command line as the
device's shell runs it, the sentinel exit code, the timeout and the parsing.
What is not: the tool's own measuring.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeops.files import sha256_file, size_bytes
from edgeops.models import Artifact, MeasureSettings, Recipe
from edgeops_adb.session import AdbSession

from adb_testing import (
    MODELS,
    device_for,
    received_argv,
    stand_in_benchmark_model,
    stand_in_dumpsys,
    tools_without,
)

RPI_LOG = "tflite_benchmark_rpi_xnnpack_google-XNNPACK-999.txt"
MEMINFO = "android_dumpsys_meminfo_android10plus_rive-unity-134.txt"
MODEL = MODELS / "coral__mobilenet_v1_0.25_128_quant.tflite"
FAST = MeasureSettings(warmup_runs=1, min_runs=5, min_duration_s=0.0, threads=1, timeout_s=30)


def tflite_variant(path: Path = MODEL) -> Artifact:
    return Artifact(
        id="mobilenet-quant", format="tflite", recipe=Recipe(name="as-is", format="tflite"),
        path=path, sha256=sha256_file(path), size_bytes=size_bytes(path),
    )  # fmt: skip


def phone(daemon, tmp_path: Path, **labels: str):
    # python="" makes the session treat this Linux adbd as a phone: no Python there.
    return device_for(daemon, tmp_path, python="", **labels)


def measure(edgeops_pm, device, compute_unit="xnnpack", settings=FAST, variant=None):
    session = edgeops_pm.hook.edgeops_connect(device=device)
    assert isinstance(session, AdbSession) and session.python is None
    try:
        return edgeops_pm.hook.edgeops_measure(
            session=session, variant=variant or tflite_variant(),
            compute_unit=compute_unit, settings=settings,
        )  # fmt: skip
    finally:
        session.close()


def test_stand_in_is_pushed_verified_run_with_the_exact_argv_and_its_log_parsed(
    edgeops_pm, adbd, tmp_path
):
    """Stand-in binary (not the real benchmark_model) printing the real Raspberry Pi log."""
    stand_in = stand_in_benchmark_model(tmp_path / "tool", RPI_LOG)
    device = phone(adbd, tmp_path, benchmark_model=str(stand_in))
    m = measure(edgeops_pm, device)
    assert m.status == "ok", m.error
    remote = Path(device.labels["remote_dir"])
    (binary,) = remote.glob("benchmark_model-*")
    (model,) = remote.glob("coral__mobilenet*.tflite")
    assert sha256_file(binary) == sha256_file(stand_in) and sha256_file(model) == sha256_file(MODEL)
    assert received_argv(tmp_path / "tool") == [
        str(binary), f"--graph={model}", "--warmup_runs=1", "--num_runs=5", "--min_secs=0",
        "--max_secs=15", "--report_peak_memory_footprint=true", "--use_xnnpack=true",
        "--num_threads=1",
    ]  # fmt: skip
    # The fixture's figures, read through the device's shell and the sentinel.
    assert (m.p50_ms, m.load_ms, m.first_ms) == (55.0432, 18.777, 64.791)
    assert m.peak_mem.raw_mb == 18.7227 and "ru_maxrss" in m.peak_mem.definition
    assert m.environment["tool"] == "tflite-benchmark_model"
    assert m.environment["p50_ms_statistic"].startswith("mean of 50 runs")
    assert m.environment["benchmark_model"] == str(binary)
    # This machine has neither dumpsys nor thermal zones: nothing read, no wait.
    assert m.environment["thermal_state"] == "unknown"


def test_each_compute_unit_gets_its_flags_and_taskset_pins_to_the_big_cores(
    edgeops_pm, adbd, tmp_path
):
    """Stand-in binary; the pinning is checked from the stand-in's own Cpus_allowed_list."""
    stand_in = stand_in_benchmark_model(tmp_path / "tool", RPI_LOG)
    last_core = max(os.sched_getaffinity(0))
    device = phone(
        adbd, tmp_path, benchmark_model=str(stand_in), big_cores=format(1 << last_core, "x")
    )
    for unit, flags in (
        ("cpu", ["--use_xnnpack=false"]),
        ("gpu", ["--use_gpu=true", "--use_xnnpack=false"]),
        ("nnapi", ["--use_nnapi=true", "--use_xnnpack=false"]),
    ):
        assert measure(edgeops_pm, device, unit).status == "ok"
        argv = received_argv(tmp_path / "tool")
        assert argv[-1 - len(flags) : -1] == flags
        assert (tmp_path / "tool" / "cpus.txt").read_text().strip() == str(last_core)
    assert measure(edgeops_pm, device, "ane") is None  # no such unit: not this plugin's


def test_the_binary_is_pushed_only_when_the_device_lacks_it(edgeops_pm, adbd, tmp_path):
    """Stand-in binary; a second session finds the verified copy and does not push again."""
    stand_in = stand_in_benchmark_model(tmp_path / "tool", RPI_LOG)
    device = phone(adbd, tmp_path, benchmark_model=str(stand_in))
    assert measure(edgeops_pm, device).status == "ok"
    (binary,) = Path(device.labels["remote_dir"]).glob("benchmark_model-*")
    first_write_ns = binary.stat().st_mtime_ns
    assert measure(edgeops_pm, device).status == "ok"
    assert binary.stat().st_mtime_ns == first_write_ns
    # A path only on the device cannot be tested here: this adbd's files are this host's.


@pytest.mark.parametrize(
    ("output", "exit_code", "status", "says"),
    [
        ("ERROR: Failed to apply GPU delegate.", 1, "unsupported", "Failed to apply GPU"),
        ("ERROR: Failed to allocate tensors!", 1, "load_failed", "allocate tensors"),
        ("killed", 137, "oom", "low-memory killer"),
        ("Segmentation fault", 139, "error", "exited with 139"),
        ("STARTING!", 0, "error", "capture the tool's whole output"),
    ],
)
def test_failures_come_back_through_the_sentinel_with_their_status(
    edgeops_pm, adbd, tmp_path, output, exit_code, status, says
):
    """Stand-in binary printing a benchmark_model error line and exiting with its code."""
    stand_in = stand_in_benchmark_model(tmp_path / "tool", message=output, exit_code=exit_code)
    m = measure(edgeops_pm, phone(adbd, tmp_path, benchmark_model=str(stand_in)))
    assert m.status == status and says in m.error and "\n" not in m.error


def test_a_run_over_the_time_limit_is_a_timeout_measurement(edgeops_pm, adbd, tmp_path):
    """Stand-in binary that sleeps past the limit; the device's own timeout kills it."""
    stand_in = stand_in_benchmark_model(tmp_path / "tool", RPI_LOG, sleep_s=5)
    device = phone(adbd, tmp_path, benchmark_model=str(stand_in))
    m = measure(edgeops_pm, device, settings=FAST.model_copy(update={"timeout_override_s": 1.0}))
    assert m.status == "timeout" and "over 1 s" in m.error


def test_a_phone_without_a_benchmark_model_gets_the_fix(edgeops_pm, adbd, tmp_path):
    m = measure(edgeops_pm, phone(adbd, tmp_path))
    assert m.status == "error" and "set its label benchmark_model in devices.toml" in m.error
    m = measure(edgeops_pm, phone(adbd, tmp_path, benchmark_model="/nonexistent/benchmark_model"))
    assert m.status == "error" and "neither a file on this host nor an executable" in m.error


def test_non_tflite_variants_are_not_this_plugins(edgeops_pm, adbd, tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"not really")
    variant = tflite_variant().model_copy(update={"format": "onnx", "path": onnx})
    assert measure(edgeops_pm, phone(adbd, tmp_path), variant=variant) is None


def test_package_memory_and_cool_down_are_recorded_with_their_definitions(
    edgeops_pm, start_adbd, tmp_path
):
    """Stand-ins for benchmark_model and dumpsys (adbd here runs on Linux, not Android).

    dumpsys battery reports 41.5 °C, then 39.0, then 37.0: the measurement
    waits two polls, and dumpsys meminfo prints the real Android 10 fixture.
    """
    tools = tmp_path / "bin"
    stand_in_dumpsys(tools, [415, 390, 370], MEMINFO)
    daemon = start_adbd(path=tools_without(set(), tools))
    stand_in = stand_in_benchmark_model(tmp_path / "tool", RPI_LOG)
    device = phone(
        daemon, tmp_path, benchmark_model=str(stand_in), package="com.example.app",
        thermal_target_c="38", thermal_poll_s="0.2", thermal_max_wait_s="10",
    )  # fmt: skip
    m = measure(edgeops_pm, device)
    env = m.environment
    assert m.status == "ok"
    assert (env["battery_temp_c"], env["thermal_state"], env["thermal_source"]) == (
        37.0, "ok", "dumpsys battery"
    )  # fmt: skip
    assert 0.4 <= env["thermal_wait_s"] < 5
    assert env["app_package"] == "com.example.app" and env["app_memory_complete"] is False
    assert env["app_pss_total_mb"] > 0 and env["app_rss_total_mb"] > 0
    assert "PSS" in env["memory_definitions"]["app_pss_total_mb"]
    assert "read after the run" in env["memory_definitions"]["app_rss_total_mb"]
    assert "ru_maxrss" in m.peak_mem.definition  # the footprint figure keeps its own definition
