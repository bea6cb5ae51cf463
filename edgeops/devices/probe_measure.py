"""Measuring through the stdlib probe on any device that has Python.

This is the measurement of the local machine, SSH boards and adb boards alike,
so their results compare 1:1. A core plugin, ``trylast``: a device plugin with
a better tool (an Android phone's ``benchmark_model``) answers first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeops.devices.inventory import THREADS_LABEL, labelled_threads
from edgeops.devices.measurements import from_probe_output
from edgeops.devices.probe_push import push_probe
from edgeops.devices.probe_runners import RUNNERS
from edgeops.devices.sessions import Session
from edgeops.hookspecs import hookimpl
from edgeops.models import ComputeUnit, Measurement, MeasureSettings, Variant

# Compute units the probe can drive, per model file suffix.
PROBE_COMPUTE_UNITS = {suffix: tuple(runner.compute_units) for suffix, runner in RUNNERS.items()}


def probe_argv(
    session: Session,
    remote_model: str,
    compute_unit: str,
    settings: MeasureSettings,
    runner: str | None = None,
) -> list[str]:
    """The probe's command line: the one place its arguments are written.

    ``runner`` is a backend's runner file already pushed (``edgeops.plugin.ProbeRunner``).
    """
    assert session.python is not None
    argv = [
        *session.python,
        push_probe(session),
        "--model", remote_model,
        "--compute-unit", compute_unit,
        "--warmup", str(settings.warmup_runs),
        "--min-runs", str(settings.min_runs),
        "--max-runs", str(settings.max_runs),
        "--min-duration-s", str(settings.min_duration_s),
    ]  # fmt: skip
    label = session.device.labels.get(THREADS_LABEL)
    # Also checked here: a discovered device has no devices.toml to be checked in.
    threads = settings.threads or (
        labelled_threads(label, f"device {session.device.name!r}") if label is not None else None
    )
    if threads:
        argv += ["--threads", str(threads)]
    argv += [
        "--paced-fps", ",".join(f"{fps:g}" for fps in settings.paced_fps),
        "--paced-duration-s", str(settings.paced_seconds),
    ]  # fmt: skip
    if settings.timed_only:
        argv.append("--timed-only")
    if runner is not None:
        argv += ["--runner", runner]
    return argv


@hookimpl
def edgeops_compute_units() -> list[ComputeUnit]:
    """The probe's plain CPU units: they run on any device that runs the format."""
    return [ComputeUnit(name=cu) for cu in ("cpu", "xnnpack")]


@hookimpl(trylast=True)
def edgeops_measure(
    session: Session, variant: Variant, compute_unit: str, settings: MeasureSettings
) -> Measurement | None:
    if session.python is None or variant.path is None:
        return None
    if compute_unit not in PROBE_COMPUTE_UNITS.get(variant.path.suffix, ()):
        return None
    return measure_with_probe(session, variant, compute_unit, settings)


def measure_with_probe(
    session: Session,
    variant: Variant,
    compute_unit: str,
    settings: MeasureSettings,
    runner: Path | None = None,
    build: Callable[[str], str] | None = None,
) -> Measurement:
    """One round of ``variant`` through the probe: pushed, built on the device when its
    backend builds there (``build``), then run by the probe's runner or the backend's own."""
    assert variant.path is not None
    base = {
        "variant_id": variant.id,
        "device_id": session.device.id,
        "profile_id": session.device.profile_id,
        "compute_unit": compute_unit,
    }
    remote_model = session.push(variant.path)
    if build is not None:
        remote_model = build(remote_model)
    remote_runner = session.push(runner) if runner is not None else None
    argv = probe_argv(session, remote_model, compute_unit, settings, remote_runner)
    try:
        result = session.run(argv, timeout_s=settings.timeout_s)
    except TimeoutError:
        return Measurement(
            **base, status="timeout", error=f"probe ran over {settings.timeout_s:g} s"
        )
    measured = from_probe_output(result.stdout, result.exit_code, result.stderr, base)
    # The probe process's whole life, start-up included: what orchestration cost is measured against.
    environment = {**measured.environment, "probe_wall_s": round(result.duration_s, 4)}
    return measured.model_copy(update={"environment": environment})
