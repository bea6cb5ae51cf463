"""What the gate accepts as a run: finite, positive figures, plans that hold what they claim.

A gate verdict is a CI decision. NaN compares false with every threshold, so a
NaN quality or memory figure would pass every check; a sample of 0 ms or
-1 ms is no timing at all. Such a file is bad input (exit 2), never "fail"
(exit 1, a regression) and never "pass". The sample bound keeps the gate's
time and memory bounded on a huge file: a real run holds a few thousand
samples per measurement (``max_runs`` 500 per round).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from edgeops.errors import ResultsError
from edgeops.files import read_regular
from edgeops.models import Results

MAX_SAMPLES_PER_MEASUREMENT = 100_000
MAX_SAMPLES_PER_RUN = 2_000_000
# 2 M samples are about 40 MB of JSON (52 MB indented, as a bundle writes it); a
# file far past that is not a run's results, and is refused before it is parsed.
MAX_FILE_BYTES = 128 * 1024 * 1024
# Finite is not enough: 1e308 ms is finite, and the gate's sums and ratios of it
# overflow to inf or raise. Every figure is bounded far past any real one: an
# inference of an hour, a model of a terabyte, a terabyte of memory, a quality
# metric of a billion (SNR in dB, PSNR, IoU, top-1 are all far smaller).
MAX_SAMPLE_MS = 3_600_000.0
MAX_SIZE_BYTES = 1 << 40
MAX_MEMORY_MB = float(1 << 20)
MAX_METRIC_ABS = 1e9


def read_raw(path: Path, name: str) -> Any:
    """The parsed JSON of a results file or bundle, or None where read_results will say why.

    Sizes are checked here, before pydantic builds a model of every sample: an
    11 M-sample file took 47 s and 650 MB to be refused after validation.
    """
    file = path / "results.json" if path.is_dir() else path
    if not file.exists():
        return None
    # Refuses a FIFO or a link to /dev/zero by what it is, before it is opened.
    raw = read_regular(file, name, MAX_FILE_BYTES, ResultsError)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    measurements = data.get("measurements") if isinstance(data, dict) else None
    total = 0
    for m in measurements if isinstance(measurements, list) else ():
        samples = m.get("samples_ms") if isinstance(m, dict) else None
        count = len(samples) if isinstance(samples, list) else 0
        total += count
        if count > MAX_SAMPLES_PER_MEASUREMENT or total > MAX_SAMPLES_PER_RUN:
            raise ResultsError(_over_bound(name, total))
    return data


def _over_bound(name: str, total: int) -> str:
    return (
        f"{name}: a measurement brings the run to {total} samples, over the gate's bound "
        f"({MAX_SAMPLES_PER_MEASUREMENT} per measurement, {MAX_SAMPLES_PER_RUN} per run); "
        "measure with fewer --min-runs or --rounds"
    )


def check_gate_input(results: Results, name: str) -> None:
    """Raise ResultsError (exit 2) naming the first figure the gate cannot judge."""
    total = 0
    for v in results.variants:
        if v.size_bytes is not None and not 0 <= v.size_bytes <= MAX_SIZE_BYTES:
            shown = str(v.size_bytes) if v.size_bytes < 10**20 else f"{str(v.size_bytes)[:7]}… "
            raise ResultsError(
                f"{name}: variant {v.name} has size {shown}bytes (allowed 0 to "
                f"{MAX_SIZE_BYTES}); re-run the stage that made it"
            )
        for metric, value in v.quality.metrics.items() if v.quality else ():
            if not (math.isfinite(value) and abs(value) <= MAX_METRIC_ABS):
                raise ResultsError(
                    f"{name}: variant {v.name} has quality {metric} = {value}; "
                    "re-run the evaluation that wrote it"
                )
    for m in results.measurements:
        where = f"{name}: measurement of {m.variant_id[:8]} on {m.device_id}"
        total += len(m.samples_ms)
        if len(m.samples_ms) > MAX_SAMPLES_PER_MEASUREMENT or total > MAX_SAMPLES_PER_RUN:
            raise ResultsError(_over_bound(name, total))
        bad = next((s for s in m.samples_ms if not (0 < s <= MAX_SAMPLE_MS)), None)
        if bad is not None:
            raise ResultsError(
                f"{where} has a sample of {bad} ms; samples are positive, finite and at most "
                f"{MAX_SAMPLE_MS:.0f} ms: re-measure it"
            )
        for figure in ("p50_ms", "p90_ms", "p99_ms"):
            value = getattr(m, figure)
            if value is not None and not (0 < value <= MAX_SAMPLE_MS):
                raise ResultsError(f"{where} has {figure} = {value}; re-measure it")
        if m.peak_mem is not None:
            for figure in ("raw_mb", "baseline_mb", "over_baseline_mb"):
                value = getattr(m.peak_mem, figure)
                if value is not None and not (0 <= value <= MAX_MEMORY_MB):
                    raise ResultsError(f"{where} has peak memory {figure} = {value}; re-measure it")
    for plan in results.plans:
        if plan.status == "supported" and not plan.choices:
            raise ResultsError(
                f"{name}: profile {plan.profile_id} is supported with no choices; "
                "re-run `edgeops select` on the measurements"
            )
