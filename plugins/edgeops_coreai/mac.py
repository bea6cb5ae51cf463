"""Measuring Core AI variants on a Mac host, and what stops at a tethered iPhone.

The session is the ``mac-host`` transport's (the Core ML backend connects it; this
plugin only uses the Session protocol: push, run, python). A Mac runs mac_probe.py
with its own Python and coreai-core: ahead-of-time compile, cold and warm load
with a specialization for the preferred compute unit, and timed inference.

An iPhone tethered to that Mac is not reachable for Core AI: coremltools' path
(``remote_device`` + ``MLModelBenchmarker`` over devicectl) loads Core ML models
only, and coreai-core 1.0.0b3 / coreai-torch 0.4.3 ship no remote-device runner
(coreai_torch.debugging.benchmarker runs on the local machine). Such a device gets
an ``unsupported`` measurement that says so, rather than no answer.
"""

from __future__ import annotations

from pathlib import Path

from edgeops.plugin import (
    Measurement,
    MeasureSettings,
    PeakMemory,
    Session,
    Variant,
    last_json_line,
    with_percentiles,
)

from . import convert
from .runtime import input_dtypes
from .sdk import asset_class

MAC_HOST = "mac-host"
IPHONE_LABEL = "iphone"
XCRUN_LABEL = "xcrun"
# "false" on a Mac's inventory entry skips the ahead-of-time compile (it needs Xcode).
COMPILE_LABEL = "coreai_compile"
IPHONE_GAP = (
    "Core AI on a tethered iPhone: no runner exists yet; coremltools' remote_device / "
    "MLModelBenchmarker (devicectl) load Core ML models only and coreai-core 1.0.0b3 has "
    "no remote-device API; measure it from an app with Instruments, or use the predictions"
)


def probe_argv(session: Session, remote_model: str, variant: Variant, compute_unit: str,
               settings: MeasureSettings) -> list[str]:  # fmt: skip
    assert session.python is not None
    labels = session.device.labels
    dtypes = input_dtypes(asset_class().load(variant.path)) if variant.path else {}
    argv = [
        *session.python,
        session.push(Path(__file__).with_name("mac_probe.py")),
        "--model", remote_model,
        "--compute-unit", compute_unit,
        "--warmup", str(settings.warmup_runs),
        "--min-runs", str(settings.min_runs),
        "--max-runs", str(settings.max_runs),
        "--min-duration-s", str(settings.min_duration_s),
        "--xcrun", labels.get(XCRUN_LABEL, "xcrun"),
    ]  # fmt: skip
    for spec in variant.inputs:
        name = convert.coreai_name(spec.name)
        shape = "x".join(str(d) for d in spec.shape)
        argv += ["--input", f"{name}:{shape}:{dtypes.get(name, spec.dtype)}"]
    if labels.get(COMPILE_LABEL, "true") != "false":
        argv.append("--compile")
    return argv


def measure(
    session: Session, variant: Variant, compute_unit: str, settings: MeasureSettings
) -> Measurement:
    base = {
        "variant_id": variant.id,
        "device_id": session.device.id,
        "profile_id": session.device.profile_id,
        "compute_unit": compute_unit,
    }
    if IPHONE_LABEL in session.device.labels:
        return Measurement(**base, status="unsupported", error=IPHONE_GAP)
    if session.python is None or variant.path is None:
        return Measurement(**base, status="error", error="the Mac has no python3 to run the probe")
    argv = probe_argv(session, session.push(variant.path), variant, compute_unit, settings)
    try:
        result = session.run(argv, timeout_s=settings.timeout_s)
    except TimeoutError:
        return Measurement(
            **base, status="timeout", error=f"Core AI probe ran over {settings.timeout_s:g} s"
        )
    return from_probe_output(result.stdout, result.stderr, base)


def from_probe_output(stdout: str, stderr: str, base: dict[str, str]) -> Measurement:
    doc = last_json_line(stdout)
    if not isinstance(doc, dict) or "status" not in doc:
        tail = " ".join(stderr.split())[-300:] or "no output"
        return Measurement(
            **base, status="error", error=f"Core AI probe printed no result ({tail})"
        )
    environment = dict(doc.get("environment") or {})
    if doc["status"] != "ok":
        return Measurement(
            **base, status=doc["status"], error=doc.get("error"), environment=environment
        )
    peak = doc.get("peak_mb")
    baseline = doc.get("baseline_mb")
    measurement = Measurement(
        **base,
        status="ok",
        load_ms=doc.get("load_ms"),
        first_ms=doc.get("first_ms"),
        samples_ms=tuple(doc.get("samples_ms") or ()),
        rounds=1,
        round_sizes=(len(doc.get("samples_ms") or ()),),
        peak_mem=PeakMemory(
            raw_mb=float(peak),
            baseline_mb=baseline,
            over_baseline_mb=float(peak) - float(baseline) if baseline is not None else None,
            definition="phys_footprint of the Core AI probe (task_info TASK_VM_INFO), largest "
            "reading after load, first inference and timed runs; baseline after import",
        )
        if peak is not None
        else None,
        environment=environment,
    )
    return with_percentiles(measurement)
