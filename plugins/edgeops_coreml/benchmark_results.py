"""Measurements from coremltools' ``MLModelBenchmarker`` results (iphone_benchmark.py's JSON).

Each of ``load``, ``first`` and ``predict`` is ``dataclasses.asdict`` of a
``MLModelBenchmarker.Measurement``: ``{"statistics": {"minimum", "maximum",
"average", "std_dev", "median"} | None, "samples": [ms, ...]}`` (coremltools 9.0,
models/ml_program/experimental/perf_utils.py). The samples are Core ML's own
``last_predict_duration`` / load duration on the phone, converted from ns to ms
by coremltools; edgeops keeps them raw and computes its percentiles from them.
"""

from __future__ import annotations

from typing import Any

from edgeops.plugin import Measurement, last_json_line, percentile, with_percentiles

TIMING = (
    "coremltools MLModelBenchmarker on the iPhone through its modelrunner app (devicectl): "
    "Core ML's own load and prediction durations; no peak memory is reported"
)


def samples_of(block: Any, what: str) -> list[float]:
    if not isinstance(block, dict) or not isinstance(block.get("samples"), list):
        raise ValueError(f"benchmark result has no {what}.samples")
    return [float(s) for s in block["samples"]]


def measurement_from_benchmark(stdout: str, base: dict[str, Any]) -> Measurement:
    """One Measurement (one round) from the script's output; ``base`` holds the ids."""
    document = last_json_line(stdout)
    if document is None:
        return Measurement(**base, status="error", error="the iPhone benchmark printed no result")
    status = document.get("status", "error")
    if status != "ok":
        return Measurement(**base, status=status, error=document.get("error"))
    try:
        load = samples_of(document.get("load"), "load")
        first = samples_of(document.get("first"), "first")
        warm = samples_of(document.get("predict"), "predict")
    except ValueError as exc:
        return Measurement(**base, status="error", error=str(exc))
    environment = {
        "timing": TIMING,
        "device": document.get("device", {}),
        "coremltools": document.get("coremltools"),
        "load_samples_ms": load,
        "coremltools_statistics": (document.get("predict") or {}).get("statistics"),
    }
    return with_percentiles(
        Measurement(
            **base,
            status="ok",
            load_ms=percentile(load, 50) if load else None,
            first_ms=first[0] if first else None,
            samples_ms=tuple(warm),
            rounds=1,
            round_sizes=(len(warm),),
            environment=environment,
        )
    )
