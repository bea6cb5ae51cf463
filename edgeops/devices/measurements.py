"""Turning probe output into Measurements, and merging interleaved rounds."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from edgeops.models import (
    CpuShare,
    Device,
    Measurement,
    PacedRun,
    PeakMemory,
    Placement,
    UnitShare,
    Variant,
)


def percentile(samples: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), without numpy."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def with_percentiles(measurement: Measurement) -> Measurement:
    """p50 by the one definition (round_stats: the geometric mean of the round medians,
    with its interval over rounds); p90 and p99 over the pooled samples.

    results.json, the plan, the CLI, the studio and the gate all read this p50, so one
    measurement never shows two. With one round it is that round's median.
    """
    if not measurement.samples_ms:
        return measurement
    from edgeops.round_stats import as_interval, p50_interval

    s = measurement.samples_ms
    # A zero sample (a coarse timer in an imported log) has no logarithm: the plain
    # median is then the only p50 there is.
    rounds = p50_interval(measurement) if min(s) > 0 else None
    return measurement.model_copy(
        update={
            # One round: its median, exactly (not exp(log(median))).
            "p50_ms": rounds.value if rounds and rounds.rounds > 1 else percentile(s, 50),
            "p50_interval": as_interval(rounds) if rounds is not None else None,
            "p90_ms": percentile(s, 90),
            "p99_ms": percentile(s, 99),
        }
    )


def from_probe_output(
    stdout: str, exit_code: int, stderr: str, base: dict[str, Any]
) -> Measurement:
    """Parse the probe's JSON line; ``base`` holds the ids of what was measured."""
    document = last_json_line(stdout)
    if document is None:
        # SIGKILL with no output: on Linux and Android that is the OOM killer's mark.
        status = "oom" if exit_code in (-9, 137) else "error"
        tail = " ".join(stderr.strip().splitlines()[-3:])[:500] or f"exit code {exit_code}"
        return Measurement(**base, status=status, error=f"probe produced no result: {tail}")
    peak = document.get("peak_mem")
    return with_percentiles(
        Measurement(
            **base,
            status=document.get("status", "error"),
            error=document.get("error"),
            load_ms=document.get("load_ms"),
            first_ms=document.get("first_ms"),
            samples_ms=tuple(document.get("samples_ms", ())),
            rounds=1 if document.get("samples_ms") else 0,
            round_sizes=(len(document["samples_ms"]),) if document.get("samples_ms") else (),
            peak_mem=PeakMemory(**peak) if peak else None,
            cpu=CpuShare(**document["cpu"]) if document.get("cpu") else None,
            throughput_fps=document.get("throughput_fps"),
            paced=tuple(_paced(run) for run in document.get("paced", ())),
            warm_load_ms=document.get("warm_load_ms"),
            cold_load=document.get("cold_load"),
            placement=_placement(document.get("placement")),
            environment=document.get("environment", {}),
        )
    )


def _placement(placement: dict[str, Any] | None) -> Placement | None:
    """The probe's placement, read on the device it ran on."""
    if not isinstance(placement, dict):
        return None
    try:
        units = tuple(UnitShare(**u) for u in placement.get("units", ()))
        return Placement(**{**placement, "units": units, "where": "device"})
    except (ValidationError, TypeError):
        return None  # a probe of another version: no placement rather than no measurement


def _paced(run: dict[str, Any]) -> PacedRun:
    samples = tuple(run.get("samples_ms", ()))
    cpu = run.get("cpu")
    return PacedRun(
        **{k: v for k, v in run.items() if k != "cpu"},
        p50_ms=percentile(samples, 50) if samples else None,
        p90_ms=percentile(samples, 90) if samples else None,
        cpu=CpuShare(**cpu) if cpu else None,
    )


def last_json_line(stdout: str) -> dict[str, Any] | None:
    """The JSON object a probe-like script prints last; tools' chatter may come before it."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


def merge_rounds(rounds: Sequence[Measurement]) -> Measurement:
    """One Measurement from several fresh-process rounds of the same variant.

    Samples are concatenated in round order; load and first-inference times
    are the median round's, so one cold-cache round does not decide them; peak
    memory is the worst round's. Any failed round makes the whole a failure,
    because an app would hit it too.
    """
    if not rounds:
        raise ValueError("no rounds to merge")
    failed = [r for r in rounds if r.status != "ok"]
    if failed:
        worst = failed[0]
        return worst.model_copy(update={"rounds": len(rounds)})
    peak = max((r.peak_mem for r in rounds if r.peak_mem), key=lambda p: p.raw_mb, default=None)
    merged = rounds[0].model_copy(
        update={
            "samples_ms": tuple(s for r in rounds for s in r.samples_ms),
            "rounds": sum(max(r.rounds, 1) for r in rounds),
            "round_sizes": tuple(
                n for r in rounds for n in (r.round_sizes or (len(r.samples_ms),)) if n
            ),
            "load_ms": _median([r.load_ms for r in rounds]),
            "first_ms": _median([r.first_ms for r in rounds]),
            "warm_load_ms": _median([r.warm_load_ms for r in rounds]),
            "peak_mem": peak,
            "cpu": _summed_cpu([r.cpu for r in rounds]),
            "throughput_fps": _pooled_throughput(rounds),
            "paced": _pooled_paced(rounds),
            "measured_at": rounds[-1].measured_at,
            "environment": _merged_environment(rounds),
            "round_ids": _round_ids(rounds),
        }
    )
    if merged.samples_ms:
        return with_percentiles(merged)
    # Tools that print only aggregates (benchmark_model): the median round's figures,
    # and every round's kept, so nothing the device reported is dropped.
    reported = [
        {
            "p50_ms": r.p50_ms,
            **{k: v for k, v in r.environment.items() if "temp" in k or "thermal" in k},
        }
        for r in rounds
    ]
    return merged.model_copy(
        update={
            "p50_ms": _median([r.p50_ms for r in rounds]),
            "p90_ms": _median([r.p90_ms for r in rounds]),
            "p99_ms": _median([r.p99_ms for r in rounds]),
            "environment": {**merged.environment, "rounds_reported": reported},
        }
    )


def _round_ids(rounds: Sequence[Measurement]) -> tuple[int, ...] | None:
    """Every round's id in order, or None when one of them has none (pairing by order then)."""
    ids: list[int] = []
    for r in rounds:
        if r.round_ids is None:
            return None
        ids.extend(r.round_ids)
    return tuple(ids)


def _merged_environment(rounds: Sequence[Measurement]) -> dict[str, Any]:
    """The first round's environment; wall times that add up are summed over rounds."""
    environment = dict(rounds[0].environment)
    walls = [r.environment.get("probe_wall_s") for r in rounds]
    if all(isinstance(w, (int, float)) for w in walls):
        environment["probe_wall_s"] = round(sum(walls), 4)  # type: ignore[arg-type]
    return environment


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return percentile(present, 50) if present else None


def _summed_cpu(shares: Sequence[CpuShare | None]) -> CpuShare | None:
    """CPU time over wall time of all rounds together: each round's loop weighs by its length."""
    present = [c for c in shares if c is not None]
    if not present or any(c.cpu_s is None or c.wall_s is None for c in present):
        return present[0] if present else None
    cpu_s = sum(c.cpu_s for c in present if c.cpu_s is not None)
    wall_s = sum(c.wall_s for c in present if c.wall_s is not None)
    cores = present[0].cores
    one_core = 100.0 * cpu_s / wall_s if wall_s > 0 else 0.0
    return present[0].model_copy(
        update={
            "cpu_s": round(cpu_s, 5),
            "wall_s": round(wall_s, 5),
            "percent_of_one_core": round(one_core, 2),
            "percent_of_all_cores": round(one_core / cores, 2) if cores else None,
        }
    )


def _pooled_throughput(rounds: Sequence[Measurement]) -> float | None:
    """Timed runs over timed wall time, all rounds pooled (the wall time is the CPU figure's)."""
    walls = [r.cpu.wall_s if r.cpu else None for r in rounds]
    if any(w is None for w in walls) or not all(r.samples_ms for r in rounds):
        return _median([r.throughput_fps for r in rounds])
    wall_s = sum(w for w in walls if w is not None)
    return round(sum(len(r.samples_ms) for r in rounds) / wall_s, 3) if wall_s > 0 else None


def _pooled_paced(rounds: Sequence[Measurement]) -> tuple[PacedRun, ...]:
    """Per target rate, every round's frames and time added up."""
    by_rate: dict[float, list[PacedRun]] = {}
    for r in rounds:
        for run in r.paced:
            by_rate.setdefault(run.target_fps, []).append(run)
    pooled = []
    for fps, runs in by_rate.items():
        samples = tuple(s for run in runs for s in run.samples_ms)
        duration_s = sum(run.duration_s for run in runs)
        frames = sum(run.frames for run in runs)
        pooled.append(
            PacedRun(
                target_fps=fps,
                duration_s=round(duration_s, 4),
                frames=frames,
                dropped_frames=sum(run.dropped_frames for run in runs),
                over_budget_frames=sum(run.over_budget_frames for run in runs),
                achieved_fps=round(frames / duration_s, 3) if duration_s > 0 else 0.0,
                samples_ms=samples,
                p50_ms=percentile(samples, 50) if samples else None,
                p90_ms=percentile(samples, 90) if samples else None,
                cpu=_summed_cpu([run.cpu for run in runs]),
            )
        )
    return tuple(pooled)


def unmeasurable(
    jobs: list[tuple[Device, Variant, str]], rounds: dict[int, list[Measurement]]
) -> list[Measurement]:
    """A variant no plugin could measure in any compute unit of a device is recorded as such."""
    answered = {(jobs[i][0].id, jobs[i][1].id) for i, ms in rounds.items() if ms}
    missing: dict[tuple[str, str], list[str]] = {}
    for device, variant, cu in jobs:
        if (device.id, variant.id) not in answered:
            missing.setdefault((device.id, variant.id), []).append(cu)
    out = []
    for device, variant, _cu in jobs:
        cus = missing.pop((device.id, variant.id), None)
        if cus:
            out.append(
                Measurement(
                    variant_id=variant.id,
                    device_id=device.id,
                    profile_id=device.profile_id,
                    compute_unit=cus[0],
                    status="unsupported",
                    error=f"no installed plugin measures {variant.format} on {device.transport} with {', '.join(cus)}",
                )
            )
    return out
