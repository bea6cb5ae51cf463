"""The gate's statistics on synthetic samples with known distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeops.gate.stats import (
    RankTest,
    RatioInterval,
    bootstrap_median_ratio,
    mann_whitney_u,
    samples_for_significance,
    samples_to_decide,
)


def lognormal_rounds(
    rng: np.random.Generator, median_ms: float, n: int, rounds: int = 1, sigma: float = 0.05
) -> list[list[float]]:
    values = median_ms * rng.lognormal(0.0, sigma, n)
    return [list(block) for block in np.array_split(values, rounds)]


# --------------------------------------------------------------------------- Mann-Whitney U


def test_mann_whitney_matches_reference_values() -> None:
    # Reference: scipy.stats.mannwhitneyu(current, baseline, method="asymptotic").
    test = mann_whitney_u([1, 2, 3], [4, 5, 6])
    assert test.u == 9.0
    assert test.p_value == pytest.approx(0.08085559837005224, rel=1e-12)
    assert test.z > 0  # current is slower


def test_mann_whitney_corrects_for_ties() -> None:
    # Reference as above; without the tie correction p would be 0.1893.
    test = mann_whitney_u([1, 2, 2, 3, 3, 4], [2, 2, 3, 4, 4, 4, 5])
    assert test.u == 30.5
    assert test.p_value == pytest.approx(0.18341328157786907, rel=1e-12)


def test_mann_whitney_identical_values_are_not_significant() -> None:
    assert mann_whitney_u([2.0] * 10, [2.0] * 12) == RankTest(u=60.0, z=0.0, p_value=1.0)


def test_mann_whitney_sign_follows_the_current_side() -> None:
    assert mann_whitney_u([4, 5, 6, 7], [1, 2, 3, 4]).z < 0


def test_mann_whitney_agrees_with_scipy_on_random_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(7)
    for _ in range(20):
        a = np.round(rng.normal(10, 1, rng.integers(10, 60)), 1)
        b = np.round(rng.normal(10.3, 1, rng.integers(10, 60)), 1)
        expected = stats.mannwhitneyu(b, a, method="asymptotic")
        got = mann_whitney_u(a, b)
        assert got.u == expected.statistic
        assert got.p_value == pytest.approx(expected.pvalue, rel=1e-9)


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_interval_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(1)
    trials, covered = 200, 0
    for seed in range(trials):
        base = lognormal_rounds(rng, 10.0, 101)
        cur = lognormal_rounds(rng, 11.0, 101)
        interval = bootstrap_median_ratio(base, cur, resamples=400, seed=seed)
        covered += interval.low <= 1.1 <= interval.high
    # 95% nominal; percentile intervals of a median run a little narrow or wide.
    assert 0.88 <= covered / trials <= 0.995


def test_bootstrap_is_reproducible_with_its_seed() -> None:
    rng = np.random.default_rng(2)
    base, cur = lognormal_rounds(rng, 5.0, 60, 3), lognormal_rounds(rng, 5.0, 60, 3)
    assert bootstrap_median_ratio(base, cur, seed=3) == bootstrap_median_ratio(base, cur, seed=3)


def test_rounds_that_disagree_widen_the_interval() -> None:
    # Three processes 6% apart, as when one round ran beside a background job.
    rng = np.random.default_rng(3)
    shifts = (0.97, 1.0, 1.03)
    base = [list(s * 10.0 * rng.lognormal(0, 0.01, 100)) for s in shifts]
    cur = [list(s * 10.0 * rng.lognormal(0, 0.01, 100)) for s in shifts[::-1]]
    pooled = bootstrap_median_ratio([sum(base, [])], [sum(cur, [])])
    clustered = bootstrap_median_ratio(base, cur)
    assert clustered.high - clustered.low > 3 * (pooled.high - pooled.low)
    assert clustered.log_var_baseline > 3 * pooled.log_var_baseline


def test_bootstrap_rejects_non_positive_samples() -> None:
    with pytest.raises(ValueError, match="positive"):
        bootstrap_median_ratio([[1.0, 0.0]], [[1.0, 2.0]])


# --------------------------------------------------------------------------- sample sizes


def interval(ratio: float, var_b: float, var_c: float) -> RatioInterval:
    half = 1.96 * math.sqrt(var_b + var_c)
    return RatioInterval(
        ratio=ratio,
        low=ratio * math.exp(-half),
        high=ratio * math.exp(half),
        confidence=0.95,
        log_var_baseline=var_b,
        log_var_current=var_c,
    )


def test_samples_to_decide_follows_the_variance_formula() -> None:
    # distance log(1.08/1.05); needed total variance (distance / 2.8)^2.
    ci = interval(1.08, 1e-5, 1e-4)
    more = samples_to_decide(ci, 100, 1.05)
    z = 1.959964 + 0.841621
    room = (math.log(1.08 / 1.05) / z) ** 2 - 1e-5
    assert more == math.ceil(100 * (1e-4 / room - 1))
    assert more is not None and more > 0


def test_samples_to_decide_is_none_when_the_baseline_limits() -> None:
    assert samples_to_decide(interval(1.06, 1e-3, 1e-4), 100, 1.05) is None


def test_samples_to_decide_is_none_on_the_threshold() -> None:
    assert samples_to_decide(interval(1.05, 1e-5, 1e-4), 100, 1.05) is None


def test_samples_for_significance_grows_as_z_shrinks() -> None:
    near = samples_for_significance(RankTest(u=0, z=2.0, p_value=0.045), 200, 100, 0.01)
    far = samples_for_significance(RankTest(u=0, z=1.8, p_value=0.07), 200, 100, 0.01)
    assert near is not None and far is not None and 0 < near < far
    assert samples_for_significance(RankTest(u=0, z=0.2, p_value=0.8), 50, 50, 0.01) is None


def test_suggested_samples_usually_decide() -> None:
    """Adding the estimate to an undecided comparison settles it most of the time."""
    rng = np.random.default_rng(11)
    decided = tried = 0
    for seed in range(40):
        base = lognormal_rounds(rng, 10.0, 400, 4)
        cur = lognormal_rounds(rng, 10.9, 20, 1)
        ci = bootstrap_median_ratio(base, cur, resamples=500, seed=seed)
        if ci.low > 1.05 or ci.high < 1.05:
            continue
        more = samples_to_decide(ci, 20, 1.05)
        if more is None:
            continue
        tried += 1
        grown = [cur[0] + list(10.9 * rng.lognormal(0, 0.05, more))]
        after = bootstrap_median_ratio(base, grown, resamples=500, seed=seed)
        decided += after.low > 1.05 or after.high < 1.05
    assert tried >= 10
    # The estimate aims at 80% power; allow for the noise of 10-40 trials.
    assert decided / tried >= 0.6
