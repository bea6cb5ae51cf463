import json

import numpy as np
import pytest

from edgeops.devices.measurements import from_probe_output, merge_rounds, percentile

from factories import measurement

BASE = {"variant_id": "v", "device_id": "d", "profile_id": "p", "compute_unit": "cpu"}


@pytest.mark.parametrize("q", [0, 10, 50, 90, 99, 100])
def test_percentile_matches_numpy(q):
    data = list(np.random.default_rng(q).lognormal(size=37))
    assert percentile(data, q) == pytest.approx(float(np.percentile(data, q)))


def test_probe_json_becomes_measurement_with_percentiles():
    doc = {
        "status": "ok",
        "load_ms": 3.0,
        "first_ms": 9.0,
        "samples_ms": [1.0, 2.0, 3.0, 4.0],
        "peak_mem": {
            "raw_mb": 80,
            "baseline_mb": 50,
            "over_baseline_mb": 30,
            "definition": "VmHWM",
        },
    }
    m = from_probe_output("noise\n" + json.dumps(doc) + "\n", 0, "", BASE)
    assert m.status == "ok" and m.p50_ms == 2.5 and m.peak_mem_mb == 30


def test_killed_probe_without_output_is_oom():
    m = from_probe_output("", -9, "Killed", BASE)
    assert m.status == "oom" and "Killed" in m.error


def test_merge_rounds_concatenates_samples_and_keeps_worst_memory():
    a, b = measurement("x", 1.0, mem_mb=10), measurement("x", 3.0, mem_mb=30)
    merged = merge_rounds([a, b])
    assert merged.samples_ms == a.samples_ms + b.samples_ms
    # p50: the geometric mean of the round medians (round_stats), not the pooled median.
    assert merged.rounds == 2 and merged.p50_ms == pytest.approx(3**0.5)
    assert merged.peak_mem_mb == 30
    assert merged.round_sizes == (3, 3)
    again = merge_rounds([merged, measurement("x", 5.0)])  # a resumed or re-measured run
    assert again.rounds == 3 and again.round_sizes == (3, 3, 3)


def test_any_failed_round_fails_the_whole():
    merged = merge_rounds([measurement("x", 1.0), measurement("x", 1.0, status="timeout")])
    assert merged.status == "timeout"


def test_rounds_without_raw_samples_merge_on_the_median_round():
    """benchmark_model prints aggregates only: the median round's p50, every round kept."""
    rounds = [
        measurement("x", p, mem_mb=10).model_copy(update={"samples_ms": (), "round_sizes": ()})
        for p in (3.0, 1.0, 2.0)
    ]
    merged = merge_rounds(rounds)
    assert merged.p50_ms == 2.0 and merged.rounds == 3 and merged.round_sizes == ()
    assert [r["p50_ms"] for r in merged.environment["rounds_reported"]] == [3.0, 1.0, 2.0]


def _probe_doc(samples, cpu_s, wall_s, paced_frames):
    cpu = {"cpu_s": cpu_s, "wall_s": wall_s, "cores": 4, "percent_of_one_core": 100 * cpu_s / wall_s,
           "percent_of_all_cores": 25 * cpu_s / wall_s, "definition": "process_time"}  # fmt: skip
    return {
        "status": "ok", "load_ms": 9.0, "warm_load_ms": 2.0, "cold_load": "file cache dropped",
        "first_ms": 5.0, "samples_ms": samples, "cpu": cpu,
        "throughput_fps": len(samples) / wall_s,
        "paced": [{"target_fps": 30.0, "duration_s": 1.0, "frames": paced_frames,
                   "dropped_frames": 30 - paced_frames, "over_budget_frames": 30 - paced_frames,
                   "achieved_fps": float(paced_frames), "samples_ms": [10.0] * paced_frames,
                   "cpu": cpu}],
    }  # fmt: skip


def test_probe_cpu_share_paced_runs_and_warm_load_reach_the_measurement():
    m = from_probe_output(json.dumps(_probe_doc([1.0, 2.0], 0.5, 1.0, 30)), 0, "", BASE)
    assert m.cpu.percent_of_one_core == 50 and m.cpu.cores == 4 and m.throughput_fps == 2.0
    assert (m.load_ms, m.warm_load_ms, m.cold_load) == (9.0, 2.0, "file cache dropped")
    (paced,) = m.paced
    assert paced.achieved_fps == 30 and paced.p50_ms == 10.0 and paced.cpu.cpu_s == 0.5


def test_merged_rounds_pool_cpu_time_frames_and_wall_time():
    a = from_probe_output(json.dumps(_probe_doc([1.0] * 10, 0.5, 1.0, 30)), 0, "", BASE)
    b = from_probe_output(json.dumps(_probe_doc([3.0] * 10, 2.5, 3.0, 20)), 0, "", BASE)
    merged = merge_rounds([a, b])
    # 3 s of CPU over 4 s of wall time, not the mean of 50 % and 83 %.
    assert merged.cpu.percent_of_one_core == 75.0 and merged.cpu.percent_of_all_cores == 18.75
    assert merged.throughput_fps == 5.0  # 20 runs in 4 s
    (paced,) = merged.paced
    assert (paced.frames, paced.dropped_frames, paced.duration_s) == (50, 10, 2.0)
    assert paced.achieved_fps == 25.0 and len(paced.samples_ms) == 50
    assert merged.warm_load_ms == 2.0


def test_one_measurement_has_one_p50_in_results_the_plan_and_the_table():
    # Three rounds (fresh probe processes) as the probe prints them. Pooled, their
    # median is 0.966 ms; the geometric mean of the round medians, which the plan,
    # CLI and studio used, another figure: results.json and the plan disagreed.
    from edgeops.report.tables import _p50
    from edgeops.round_stats import p50_interval
    from edgeops.selection import edgeops_select

    from factories import policy, profile, variant

    rounds_ms = [
        [0.95, 0.96, 0.966, 0.97, 0.99],
        [0.93, 0.94, 0.95, 0.96, 0.97],
        [0.966, 1.0, 1.01, 1.02, 1.03],
    ]
    base = {**BASE, "variant_id": "id-fp32", "profile_id": "phone"}
    rounds = [
        from_probe_output(json.dumps({"status": "ok", "samples_ms": r}), 0, "", base)
        for r in rounds_ms
    ]
    m = merge_rounds(rounds)
    pooled = percentile(m.samples_ms, 50)
    geo = p50_interval(m)
    assert geo is not None and geo.rounds == 3 and abs(geo.value - pooled) > 1e-3
    assert m.p50_ms == pytest.approx(geo.value)
    assert m.p50_interval is not None
    assert (m.p50_interval.low_ms, m.p50_interval.high_ms) == pytest.approx((geo.low, geo.high))
    # results.json round-trips the same figures.
    again = type(m).model_validate_json(m.model_dump_json())
    assert again.p50_ms == m.p50_ms and again.p50_interval == m.p50_interval
    plan = edgeops_select(
        profile=profile(), variants=[variant("fp32")], measurements=[m], policy=policy()
    )
    assert plan.choices[0].expected_p50_ms == pytest.approx(m.p50_ms)
    assert plan.choices[0].p50_interval == m.p50_interval
    assert _p50(m).startswith(f"{m.p50_ms:.3f} ")
