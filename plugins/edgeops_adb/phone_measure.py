"""Measuring a TFLite variant on an Android phone with TFLite's ``benchmark_model``.

A phone has no Python, so the core's probe cannot run there. Per device, the
inventory names the tool and the options (``labels``):

- ``benchmark_model``: a file on this host (pushed, checksum-verified, only when
  the device lacks that exact content) or a path on the device;
- ``big_cores``: a ``taskset`` mask (e.g. ``f0``) that pins the run to the big cores;
- ``package``: an app whose ``dumpsys meminfo`` is read after the run.

One call is one fresh ``benchmark_model`` process, like one probe round.
"""

from __future__ import annotations

import shlex
from typing import Any

from edgeops.plugin import (
    Measurement,
    MeasurementStatus,
    MeasureSettings,
    Variant,
    device_tool,
    failed_measurement,
    tool_round,
)

from .benchmark_log import parse_benchmark_log, to_measurement
from .benchmark_model import COMPUTE_UNIT_FLAGS, NPU_UNIT, benchmark_argv, npu_argv
from .meminfo import AppMemory, parse_dumpsys_meminfo
from .npu_log import parse_npu_log
from .placement_log import parse_placement
from .session import CHECKSUM_TIMEOUT_S, AdbSession

BINARY_LABEL = "benchmark_model"
BINARY_NEEDED = "TFLite's benchmark_model (it has no Python for the probe)"
BIG_CORES_LABEL = "big_cores"
PACKAGE_LABEL = "package"
# The device folder holding the vendor's NPU runtime and libLiteRtDispatch_<vendor>.so,
# pushed there once as LiteRT's NPU guide does (adb push .../lib/aarch64-android/*).
NPU_LIBRARIES_LABEL = "npu_libraries"
DUMPSYS_TIMEOUT_S = 30.0
_OUTPUT_TAIL_CHARS = 300

# Lines benchmark_model logs before it gives up (tensorflow/lite/tools/benchmark/
# benchmark_tflite_model.cc): a delegate the phone cannot apply is "unsupported",
# a model the interpreter cannot build is "load_failed".
_UNSUPPORTED_MARKERS = ("Failed to apply", "Disallowed CPU fallback detected")
_LOAD_FAILED_MARKERS = (
    "Failed to initialize the interpreter",
    "Failed to allocate tensors",
    "Failed to mmap model",
    "Failed to load model",
    "Could not open",
)
_STATUS_MARKERS: tuple[tuple[tuple[str, ...], MeasurementStatus], ...] = (
    (_UNSUPPORTED_MARKERS, "unsupported"),
    (_LOAD_FAILED_MARKERS, "load_failed"),
)


def measure_on_phone(
    session: AdbSession, variant: Variant, compute_unit: str, settings: MeasureSettings
) -> Measurement | None:
    """One benchmark_model round, or None when this is not a phone's TFLite job."""
    if session.python is not None or variant.format != "tflite" or variant.path is None:
        return None  # a board with Python gets the core's probe
    if compute_unit not in COMPUTE_UNIT_FLAGS and compute_unit != NPU_UNIT:
        return None
    device = session.device

    def command(binary: str, remote_model: str) -> list[str]:
        if compute_unit == NPU_UNIT:
            libraries = device.labels.get(NPU_LIBRARIES_LABEL, session.remote_dir)
            return npu_argv(binary, remote_model, settings, libraries)
        big_cores = device.labels.get(BIG_CORES_LABEL)
        return benchmark_argv(binary, remote_model, compute_unit, settings, big_cores=big_cores)

    ran = tool_round(session, variant, compute_unit, settings, BINARY_LABEL, BINARY_NEEDED,
                     command, check_timeout_s=CHECKSUM_TIMEOUT_S)  # fmt: skip
    if isinstance(ran, Measurement):
        return ran
    result = ran.result
    environment: dict[str, Any] = {"benchmark_model": ran.tool_path, "argv": shlex.join(ran.argv)}
    if PACKAGE_LABEL in device.labels:
        environment.update(app_memory(session, device.labels[PACKAGE_LABEL]))
    if compute_unit == NPU_UNIT:
        npu = parse_npu_log(result.stdout)
        if npu.dispatch_library:
            environment["npu_dispatch_library"] = npu.dispatch_library
        if (reason := npu.failure()) is not None:
            return failed_measurement(variant, device, compute_unit, "error", reason,
                                      environment=environment)  # fmt: skip
    if result.exit_code != 0:
        status, reason = failure(result.stdout, result.exit_code)
        return failed_measurement(variant, device, compute_unit, status, reason,
                                  environment=environment)  # fmt: skip
    try:
        log = parse_benchmark_log(result.stdout)
    except ValueError as exc:
        return failed_measurement(variant, device, compute_unit, "error",
                                  f"{exc}: {tail(result.stdout)}")  # fmt: skip
    measured = to_measurement(
        log, variant.id, device.id, device.profile_id, compute_unit, environment=environment
    )
    # Where the graph ran, from the delegate lines of the same log: a delegate that
    # "loaded" may have taken a handful of nodes and left the rest to the CPU.
    return measured.model_copy(update={"placement": parse_placement(result.stdout, compute_unit)})


def ensure_benchmark_model(session: AdbSession) -> str:
    """The tool's path on the device (``edgeops.plugin.device_tool``): a host file is pushed
    through the session's verified push, which skips the copy when the device already holds
    that content, and made 0755 there. DeviceError, naming the fix, when it has none."""
    return device_tool(session, BINARY_LABEL, BINARY_NEEDED, timeout_s=CHECKSUM_TIMEOUT_S)


def failure(output: str, exit_code: int) -> tuple[MeasurementStatus, str]:
    """The status of a run that exited non-zero, and one line saying why."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for markers, status in _STATUS_MARKERS:
        hit = next((line for line in lines if any(m in line for m in markers)), None)
        if hit is not None:
            return status, f"benchmark_model: {hit}"
    if exit_code == 137:
        # SIGKILL from outside within the time limit: on a phone, the low-memory killer.
        return "oom", "benchmark_model was killed (SIGKILL), most likely by the low-memory killer"
    return "error", f"benchmark_model exited with {exit_code}: {tail(output)}"


def app_memory(session: AdbSession, package: str) -> dict[str, Any]:
    """``dumpsys meminfo <package>`` read after the run, as environment entries.

    This is the app's process (e.g. the benchmark APK or the app that hosts the
    model), not benchmark_model's; each figure says so in its definition.
    """
    result = session.run(["dumpsys", "meminfo", package], timeout_s=DUMPSYS_TIMEOUT_S)
    try:
        app = parse_dumpsys_meminfo(result.stdout)
    except ValueError:
        return {"app_memory_error": f"dumpsys meminfo {package}: {tail(result.stdout)}"}
    figures: dict[str, Any] = {"app_package": package, "app_memory_complete": app.complete}
    definitions: dict[str, str] = {}
    for key in ("pss_total_kb", "rss_total_kb"):
        value = getattr(app, key)
        if value is not None:
            name = f"app_{key.removesuffix('_kb')}_mb"
            figures[name] = round(value / 1024, 3)
            definitions[name] = (
                f"{AppMemory.definitions[key]}, of package {package}, read after the run"
            )
    figures["memory_definitions"] = definitions
    return figures


def tail(output: str) -> str:
    text = " ".join(output.split())
    return text[-_OUTPUT_TAIL_CHARS:] or "no output"
