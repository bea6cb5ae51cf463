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
    assert merged.rounds == 2 and merged.p50_ms == 2.0 and merged.peak_mem_mb == 30
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
