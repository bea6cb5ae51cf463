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
from edgeops.models import Results

MAX_SAMPLES_PER_MEASUREMENT = 100_000
MAX_SAMPLES_PER_RUN = 2_000_000
# 2 M samples are about 40 MB of JSON (52 MB indented, as a bundle writes it); a
# file far past that is not a run's results, and is refused before it is parsed.
MAX_FILE_BYTES = 128 * 1024 * 1024


def read_raw(path: Path, name: str) -> Any:
    """The parsed JSON of a results file or bundle, or None where read_results will say why.

    Sizes are checked here, before pydantic builds a model of every sample: an
    11 M-sample file took 47 s and 650 MB to be refused after validation.
    """
    file = path / "results.json" if path.is_dir() else path
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise ResultsError(
                f"{name} is {file.stat().st_size / 2**20:.0f} MB, over the gate's "
                f"{MAX_FILE_BYTES / 2**20:.0f} MB bound; pass the results.json a run wrote"
            )
        data = json.loads(file.read_text())
    except (OSError, ValueError, RecursionError):
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
        if v.size_bytes is not None and v.size_bytes < 0:
            raise ResultsError(f"{name}: variant {v.name} has size {v.size_bytes}; re-run it")
        for metric, value in v.quality.metrics.items() if v.quality else ():
            if not math.isfinite(value):
                raise ResultsError(
                    f"{name}: variant {v.name} has quality {metric} = {value}; "
                    "re-run the evaluation that wrote it"
                )
    for m in results.measurements:
        where = f"{name}: measurement of {m.variant_id[:8]} on {m.device_id}"
        total += len(m.samples_ms)
        if len(m.samples_ms) > MAX_SAMPLES_PER_MEASUREMENT or total > MAX_SAMPLES_PER_RUN:
            raise ResultsError(_over_bound(name, total))
        bad = next((s for s in m.samples_ms if not (math.isfinite(s) and s > 0)), None)
        if bad is not None:
            raise ResultsError(
                f"{where} has a sample of {bad} ms; samples are positive and finite: re-measure it"
            )
        for figure in ("p50_ms", "p90_ms", "p99_ms"):
            value = getattr(m, figure)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ResultsError(f"{where} has {figure} = {value}; re-measure it")
        if m.peak_mem is not None:
            for figure in ("raw_mb", "baseline_mb", "over_baseline_mb"):
                value = getattr(m.peak_mem, figure)
                if value is not None and not (math.isfinite(value) and value >= 0):
                    raise ResultsError(f"{where} has peak memory {figure} = {value}; re-measure it")
    for plan in results.plans:
        if plan.status == "supported" and not plan.choices:
            raise ResultsError(
                f"{name}: profile {plan.profile_id} is supported with no choices; "
                "re-run `edgeops select` on the measurements"
            )
