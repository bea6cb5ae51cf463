"""Statistics behind the latency gate, with numpy and the standard library only.

- :func:`bootstrap_median_ratio`: a confidence interval of
  ``median(current) / median(baseline)``.
- :func:`median_interval`: the same interval for one measurement's median.
- :func:`mann_whitney_u`: the rank-sum test, two-sided, with the tie
  correction and the normal approximation.
- :func:`samples_to_decide` and :func:`samples_for_significance`: how many
  more current samples would likely settle an undecided comparison.

Rounds are clusters. Each round of a measurement is a fresh probe process, and
processes differ by more than the samples inside one do (memory layout,
frequency, background load: Mytkowicz et al., "Producing wrong data without
doing anything obviously wrong", ASPLOS 2009). In benchmarks/gate_power.py on
a 2-core host, per-process medians spread by 1.9% (5.3% with other jobs
running) while one process's median had a standard error of 0.14%; with 3
rounds a side, a bootstrap that treats every sample as independent raised
8-13% false alarms there, against 0-2% for this one.

The bootstrap here is two-stage: it resamples rounds, then samples inside each
chosen round (Davison & Hinkley, "Bootstrap Methods and their Application",
1997, §3.8). With one round per side it is the ordinary bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

# Bound on bootstrap values held at once (replicates x samples), about 16 MB of float64.
_CHUNK_VALUES = 2_000_000


@dataclass(frozen=True)
class RatioInterval:
    """``ratio = median(current) / median(baseline)`` and its bootstrap interval."""

    ratio: float
    low: float
    high: float
    confidence: float
    # Bootstrap variances of log(median) per side: they say which side limits the
    # interval, and so whether measuring the current more can narrow it.
    log_var_baseline: float
    log_var_current: float


@dataclass(frozen=True)
class RankTest:
    """Mann-Whitney U of current against baseline; ``z > 0`` means current is slower."""

    u: float
    z: float
    p_value: float


def bootstrap_median_ratio(
    baseline_rounds: Sequence[Sequence[float]],
    current_rounds: Sequence[Sequence[float]],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> RatioInterval:
    """Percentile interval of the median ratio, resampling rounds then samples.

    Each argument is a list of rounds, each a list of samples. The fixed seed
    makes a gate's verdict reproducible from the same two files.
    """
    rng = np.random.default_rng(seed)
    base = _bootstrap_log_medians(baseline_rounds, resamples, rng)
    cur = _bootstrap_log_medians(current_rounds, resamples, rng)
    log_ratios = cur - base
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(log_ratios, [tail, 1.0 - tail])
    point = float(np.median(_flat(current_rounds)) / np.median(_flat(baseline_rounds)))
    return RatioInterval(
        ratio=point,
        low=float(math.exp(low)),
        high=float(math.exp(high)),
        confidence=confidence,
        log_var_baseline=float(base.var()),
        log_var_current=float(cur.var()),
    )


def median_interval(
    rounds: Sequence[Sequence[float]],
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of one measurement's median, with the same two-stage bootstrap.

    The report draws it around each p50, so its error bars mean what the gate's do.
    """
    logs = _bootstrap_log_medians(rounds, resamples, np.random.default_rng(seed))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(logs, [tail, 1.0 - tail])
    return float(math.exp(low)), float(math.exp(high))


def _flat(rounds: Sequence[Sequence[float]]) -> np.ndarray:
    return np.concatenate([np.asarray(r, dtype=np.float64) for r in rounds])


def _bootstrap_log_medians(
    rounds: Sequence[Sequence[float]], resamples: int, rng: np.random.Generator
) -> np.ndarray:
    arrays = [np.asarray(r, dtype=np.float64) for r in rounds if len(r)]
    if not arrays:
        raise ValueError("no samples")
    values = np.concatenate(arrays)
    if np.any(values <= 0):
        raise ValueError("latency samples must be positive")
    # Resample ranks instead of values: int32 draws and partitions are several
    # times faster, and the median of the ranks picks the median value.
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.int32)
    ranks[order] = np.arange(len(values), dtype=np.int32)
    ordered = values[order]
    sizes = np.array([len(a) for a in arrays])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    n, k = len(values), len(arrays)
    middle = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    chunk = max(1, _CHUNK_VALUES // n)
    out = np.empty(resamples)
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        # Slot j of a replicate keeps round j's size but draws from a round picked at random.
        picked = rng.integers(0, k, size=(b, k)) if k > 1 else np.zeros((b, 1), dtype=np.int64)
        columns = []
        for j in range(k):
            chosen = picked[:, j]
            within = rng.integers(0, sizes[chosen][:, None], size=(b, sizes[j]))
            columns.append(ranks[offsets[chosen][:, None] + within])
        drawn = np.partition(np.concatenate(columns, axis=1), middle, axis=1)[:, middle]
        out[start : start + b] = np.log(ordered[drawn].mean(axis=1))
    return out


def mann_whitney_u(baseline: Sequence[float], current: Sequence[float]) -> RankTest:
    """Two-sided rank-sum test; average ranks for ties, tie-corrected variance.

    The normal approximation is accurate for the sample counts a gate decides
    on (ten or more per side); below that the gate says inconclusive anyway.
    """
    x = np.asarray(baseline, dtype=np.float64)
    y = np.asarray(current, dtype=np.float64)
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("no samples")
    combined = np.concatenate([x, y])
    _, inverse, counts = np.unique(combined, return_inverse=True, return_counts=True)
    # Average rank of each distinct value: the mean of the positions its copies take.
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0
    rank_sum_current = float(average_rank[inverse][n1:].sum())
    u = rank_sum_current - n2 * (n2 + 1) / 2.0
    n = n1 + n2
    tie_term = float((counts**3 - counts).sum()) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if variance <= 0:
        return RankTest(u=u, z=0.0, p_value=1.0)
    delta = u - n1 * n2 / 2.0
    # Continuity correction: U moves in steps of 1/2 at most, so shrink toward the mean.
    corrected = math.copysign(max(abs(delta) - 0.5, 0.0), delta)
    z = corrected / math.sqrt(variance)
    return RankTest(u=u, z=z, p_value=min(1.0, math.erfc(abs(z) / math.sqrt(2.0))))


def samples_to_decide(
    interval: RatioInterval, n_current: int, threshold_ratio: float, *, power: float = 0.8
) -> int | None:
    """Extra current samples after which the interval would clear the threshold with ``power``.

    Assumes the observed ratio is the true one and that new samples come as
    more rounds like those so far, so the current side's variance falls as
    1/n. Returns None when that cannot work: the observed ratio sits on the
    threshold, or the baseline alone is too uncertain (then the baseline needs
    more samples too).
    """
    distance = abs(math.log(interval.ratio) - math.log(threshold_ratio))
    z = NormalDist().inv_cdf(0.5 + interval.confidence / 2.0) + NormalDist().inv_cdf(power)
    if distance == 0.0:
        return None
    target_var = (distance / z) ** 2
    room = target_var - interval.log_var_baseline
    if room <= 0:
        return None
    if interval.log_var_current <= room:
        # The spread already allows a decision; the bootstrap's own noise kept it
        # undecided. One more round's worth is the smallest useful step.
        return max(1, n_current // 4)
    return math.ceil(n_current * (interval.log_var_current / room - 1.0))


def samples_for_significance(
    test: RankTest, n_baseline: int, n_current: int, alpha: float
) -> int | None:
    """Extra current samples for the rank test to reach ``alpha``; None if the baseline limits it.

    z grows with the square root of n1*n2/(n1+n2), which tends to n1 as only
    the current side grows.
    """
    if test.z == 0.0:
        return None
    needed = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    effective = n_baseline * n_current / (n_baseline + n_current) * (needed / test.z) ** 2
    if effective >= n_baseline:
        return None
    total = effective * n_baseline / (n_baseline - effective)
    return max(1, math.ceil(total - n_current))
