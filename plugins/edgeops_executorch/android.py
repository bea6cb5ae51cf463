"""Measuring an ExecuTorch program on an Android phone with ExecuTorch's ``executor_runner``.

A phone has no Python, so the probe cannot run there. ExecuTorch ships no prebuilt
Android runner: it is built from ExecuTorch's sources with the NDK
(``examples/portable/executor_runner``, with ``-DEXECUTORCH_BUILD_XNNPACK=ON`` for
XNNPACK programs). The device's ``executor_runner`` label names it, as a file on this
host (pushed when the device lacks that content, made executable) or a path on the
device. One call is one fresh runner process, ``--num_executions`` times over the
model, like one probe round; the runner prints the total, so the round's figure is a
mean (``runner_log.py``), and the measurement says so.
"""

from __future__ import annotations

import shlex
from typing import Any

from edgeops.plugin import (
    Device,
    DeviceError,
    Measurement,
    MeasureSettings,
    Session,
    Variant,
    device_tool,
    failed_measurement,
)

from .runner_log import parse

RUNNER_LABEL = "executor_runner"
# The adb backend's label for a taskset mask of the big cores (e.g. "f0"): one mask per phone.
BIG_CORES_LABEL = "big_cores"
CHECK_TIMEOUT_S = 30.0
RUNNER_NEEDED = (
    "ExecuTorch's executor_runner (it has no Python for the probe; build the runner for "
    "Android from ExecuTorch's examples/portable/executor_runner, with XNNPACK)"
)


def runner_argv(
    runner: str, remote_model: str, settings: MeasureSettings, big_cores: str | None = None
) -> list[str]:
    """The runner's command: ``--num_executions`` is the probe's minimum run count."""
    argv = [
        runner,
        "--model_path",
        remote_model,
        "--num_executions",
        str(max(settings.min_runs, 1)),
    ]
    return ["taskset", big_cores, *argv] if big_cores else argv


def ensure_runner(session: Session) -> str:
    """The runner's path on the device (``edgeops.plugin.device_tool``: pushed when this
    host holds it and the device lacks that content, made executable); DeviceError, naming
    the fix, when there is none."""
    return device_tool(session, RUNNER_LABEL, RUNNER_NEEDED, timeout_s=CHECK_TIMEOUT_S)


def measure_on_phone(
    session: Session, variant: Variant, compute_unit: str, settings: MeasureSettings
) -> Measurement:
    """One executor_runner round of ``variant`` on the session's phone."""
    assert variant.path is not None
    device = session.device
    try:
        runner = ensure_runner(session)
    except DeviceError as exc:
        return failed_measurement(variant, device, compute_unit, "error", str(exc))
    remote_model = session.push(variant.path)
    argv = runner_argv(runner, remote_model, settings, device.labels.get(BIG_CORES_LABEL))
    try:
        result = session.run(argv, timeout_s=settings.timeout_s)
    except TimeoutError:
        return failed_measurement(variant, device, compute_unit, "timeout",
                                  f"executor_runner ran over {settings.timeout_s:g} s")  # fmt: skip
    output = result.stdout + "\n" + result.stderr
    return to_measurement(output, result.exit_code, argv, variant, device, compute_unit)


def to_measurement(
    output: str, exit_code: int, argv: list[str], variant: Variant, device: Device, unit: str
) -> Measurement:
    log = parse(output)
    environment: dict[str, Any] = {"tool": "executor_runner", "argv": shlex.join(argv)}
    if not log.ok:
        # SIGKILL within the time limit: on a phone, the low-memory killer.
        status = "oom" if exit_code == 137 else "error"
        return failed_measurement(variant, device, unit, status, f"executor_runner: {log.error}",
                                  environment=environment)  # fmt: skip
    environment.update(
        runs=log.executions,
        mean_ms=log.mean_ms,
        p50_ms_statistic=f"mean of {log.executions} executions (executor_runner prints a total)",
    )
    return Measurement(
        variant_id=variant.id,
        device_id=device.id,
        profile_id=device.profile_id,
        compute_unit=unit,
        status="ok",
        load_ms=log.load_ms,
        rounds=1,
        # As the adb backend's live benchmark_model rounds: the runner's one figure is a mean.
        p50_ms=log.mean_ms,
        mean_ms=log.mean_ms,
        environment=environment,
    )
