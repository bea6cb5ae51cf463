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
    Measurement,
    MeasureSettings,
    Session,
    Variant,
    failed_measurement,
    tool_round,
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


def measure_on_phone(
    session: Session, variant: Variant, compute_unit: str, settings: MeasureSettings
) -> Measurement:
    """One executor_runner round of ``variant`` on the session's phone (the runner found or
    pushed by ``edgeops.plugin.tool_round``, as the adb backend's benchmark_model is)."""
    big_cores = session.device.labels.get(BIG_CORES_LABEL)
    ran = tool_round(
        session, variant, compute_unit, settings, RUNNER_LABEL, RUNNER_NEEDED,
        lambda runner, remote_model: runner_argv(runner, remote_model, settings, big_cores),
        check_timeout_s=CHECK_TIMEOUT_S,
    )  # fmt: skip
    if isinstance(ran, Measurement):
        return ran
    output = ran.result.stdout + "\n" + ran.result.stderr
    return to_measurement(output, ran.result.exit_code, ran.argv, variant, session.device,
                          compute_unit)  # fmt: skip


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
