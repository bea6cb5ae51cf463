"""The gate's sequential test and the round-level statistics, on data with known distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeops.gate.stats import (
    SequentialDesign,
    _boundaries,
    gate_ready_rounds,
    look_rounds,
    next_look,
    sequential_test,
)
from edgeops.models import Measurement
from edgeops.round_stats import (
    log_round_medians,
    p50_interval,
    ratio_interval,
    rounds_to_resolve,
    t_quantile,
)


def test_t_quantile_matches_scipy_where_the_gate_uses_it() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (4, 6, 10, 30, 100):
        for p in (0.9, 0.975, 0.99, 0.999):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=0.01)


def test_looks_grow_by_about_forty_percent() -> None:
    assert look_rounds(40) == [3, 5, 7, 10, 14, 20, 28, 40]
    assert next_look(3) == 5 and next_look(4) == 5 and next_look(40) == 56


def test_design_boundaries_meet_at_the_last_planned_look() -> None:
    design = SequentialDesign()
    bounds = _boundaries(tuple((k + 1) / 5 for k in range(5)), design)
    assert len(bounds) == 5
    a, b = bounds[-1]
    assert a == b
    # Early looks are hard to fail (alpha spent late) and the pass bound rises.
    fails = [b for _, b in bounds]
    passes = [a for a, _ in bounds]
    assert fails == sorted(fails, reverse=True) and passes == sorted(passes)


def test_design_error_rates_with_known_variance() -> None:
    # Brownian motion in information time at the 5 planned looks: the boundaries
    # must give the design's alpha at drift 0 and its power at the threshold.
    design = SequentialDesign()
    bounds = _boundaries(tuple((k + 1) / 5 for k in range(5)), design)
    theta = math.log(1.05)
    scale = theta * math.sqrt(design.max_information(1.05))
    rng = np.random.default_rng(0)
    n = 100_000
    for drift, expected in ((0.0, design.alpha), (scale, design.power)):
        w = (rng.normal(0, math.sqrt(0.2), (n, 5)) + drift * 0.2).cumsum(axis=1)
        z = w / np.sqrt(np.arange(1, 6) * 0.2)
        failed = np.zeros(n, bool)
        done = np.zeros(n, bool)
        for k, (a, b) in enumerate(bounds):
            failed |= ~done & (z[:, k] >= b)
            done |= z[:, k] >= b
            done |= z[:, k] <= a
        assert done.all()
        assert failed.mean() == pytest.approx(expected, abs=0.006)  # grid integration


def simulate(cv: float, effect: float, seed: int) -> tuple[str, int]:
    """One gate as `ship --until-decided` runs it: a gate-ready baseline, then current looks."""
    rng = np.random.default_rng(seed)
    base = list(rng.normal(0, cv, 3))
    while extra := gate_ready_rounds(base, 1.05):
        base += list(rng.normal(0, cv, min(extra, next_look(len(base)) - len(base))))
    cur = list(rng.normal(math.log(effect), cv, 3))
    while True:
        result = sequential_test(base, cur, 1.05)
        if result.verdict != "inconclusive" or len(cur) > 80:
            return result.verdict, len(cur)
        assert result.more_current_rounds is not None
        cur += list(rng.normal(math.log(effect), cv, result.more_current_rounds))


def test_no_change_passes_and_ten_percent_fails_at_two_percent_spread() -> None:
    same = [simulate(0.02, 1.0, s)[0] for s in range(100)]
    slower = [simulate(0.02, 1.10, 1000 + s)[0] for s in range(100)]
    assert same.count("fail") <= 2 and same.count("pass") >= 97
    assert slower.count("fail") >= 99


def test_baseline_too_short_names_the_rounds_it_needs() -> None:
    rng = np.random.default_rng(3)
    result = sequential_test(rng.normal(0, 0.05, 3), rng.normal(0.02, 0.05, 40), 1.05)
    assert result.verdict == "inconclusive"
    assert result.baseline_rounds_needed is not None and result.baseline_rounds_needed > 20
    assert result.more_current_rounds == 16  # to the look at 56


def test_gate_ready_rounds_want_more_from_noisier_rounds() -> None:
    rng = np.random.default_rng(4)
    quiet, noisy = rng.normal(0, 0.01, 10), rng.normal(0, 0.05, 10)
    assert gate_ready_rounds(quiet, 1.05) < gate_ready_rounds(noisy, 1.05)
    assert gate_ready_rounds(quiet[:3], 1.05) >= 7  # never fewer than 10 rounds


def test_the_sequential_test_needs_three_rounds_a_side() -> None:
    with pytest.raises(ValueError, match="3 rounds a side"):
        sequential_test([0.0, 0.1], [0.0, 0.1, 0.2], 1.05)


# --------------------------------------------------------------------------- round statistics


def rounds_measurement(
    medians: list[float], per_round: int = 20, device: str = "d", seed: int = 0
) -> Measurement:
    rng = np.random.default_rng(seed)
    samples = [m * x for m in medians for x in rng.lognormal(0, 0.01, per_round)]
    return Measurement(
        variant_id="v",
        device_id=device,
        profile_id="p",
        compute_unit="cpu",
        status="ok",
        samples_ms=tuple(samples),
        rounds=len(medians),
        round_sizes=(per_round,) * len(medians),
    )


def test_log_round_medians_are_one_per_round() -> None:
    m = rounds_measurement([1.0, 2.0, 4.0])
    assert np.exp(log_round_medians(m)) == pytest.approx([1.0, 2.0, 4.0], rel=0.01)


def test_p50_interval_widens_with_the_spread_of_rounds_not_their_samples() -> None:
    tight = p50_interval(rounds_measurement([1.0, 1.01, 0.99], per_round=1000))
    wide = p50_interval(rounds_measurement([1.0, 1.2, 0.8], per_round=1000))
    assert tight is not None and wide is not None
    assert tight.high / tight.low < 1.1 < wide.high / wide.low
    single = p50_interval(rounds_measurement([1.0]))
    assert single is not None and single.rounds == 1 and single.low == single.high


def test_ratio_interval_pairs_rounds_of_one_run() -> None:
    # A shared drift (rounds 1.0, 1.3, 0.8) moves both variants: paired, the
    # 10% difference is certain; unpaired (other device), it is not.
    drift = [1.0, 1.3, 0.8, 1.1]
    fast = rounds_measurement(drift, seed=1)
    slow = rounds_measurement([1.1 * d for d in drift], seed=2)
    paired = ratio_interval(slow, fast)
    assert paired is not None and paired.low > 1.05 and paired.value == pytest.approx(1.1, rel=0.01)
    apart = ratio_interval(slow, fast.model_copy(update={"device_id": "other"}))
    assert apart is not None and apart.low < 1.0


def test_rounds_to_resolve() -> None:
    ratio = ratio_interval(
        rounds_measurement([1.04, 1.06, 1.02], seed=1), rounds_measurement([1.0, 1.0, 1.0], seed=2)
    )
    assert ratio is not None
    assert rounds_to_resolve(ratio, 1.5, cap=20) is None  # wholly below 1.5 already
    more = rounds_to_resolve(ratio, 1.02, cap=20)
    assert more is not None and 1 <= more <= 20
