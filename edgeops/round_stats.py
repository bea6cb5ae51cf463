"""Process-level statistics: a round (one fresh probe process) is one observation.

Samples inside one process are not independent draws of what a release will
see: memory layout, frequency and background load are fixed for the process
and change between processes (Mytkowicz et al., "Producing wrong data without
doing anything obviously wrong", ASPLOS 2009). On this 2-core host, per-process
medians spread by 1.9% (5.3% with other jobs running) while one process's
median had a standard error of 0.14% (benchmarks/gate_power.py). A test that
pools the samples of all rounds therefore claims a precision the data do not
have: Mann-Whitney U on pooled samples gave p ~ 1e-99 for a file against itself.

So every figure here works on one number per round, the round's median, on
the log scale (a slowdown is a ratio): the p50 of a measurement is the
geometric mean of its round medians, and its interval is Student's t on
their logs. Two variants measured in the same run were measured round by
round in alternation (A B C, C B A, ...), so their round i share the host's
state of that moment; their ratio uses the paired differences, which removes
the shared drift (the paired t interval, e.g. Wilcox, "Introduction to Robust
Estimation and Hypothesis Testing", 2012, §5.9).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from edgeops.models import Interval, Measurement

# A process's median is itself uncertain (~0.1-0.2% here); a spread of round
# medians below this is luck of a handful of rounds, not a device that precise.
MIN_ROUND_CV = 0.002


@dataclass(frozen=True)
class RoundInterval:
    """A point estimate and its two-sided confidence interval, in the same unit."""

    value: float
    low: float
    high: float
    confidence: float
    rounds: int

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


def measurement_rounds(m: Measurement) -> list[list[float]]:
    """The samples split back into their rounds (fresh processes), in the order measured.

    ``round_sizes`` gives the boundaries. Results written before it existed
    fall back to equal contiguous blocks: rounds of one run share min_runs and
    min_duration_s, so they hold similar counts.
    """
    samples = list(m.samples_ms)
    if m.round_sizes and sum(m.round_sizes) == len(samples):
        bounds = np.cumsum((0, *m.round_sizes))
        return [samples[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    k = max(1, min(m.rounds, len(samples)))
    return [list(block) for block in np.array_split(np.asarray(samples), k)]


def log_round_medians(m: Measurement) -> np.ndarray:
    """log(median) of each round, in the order measured; empty without raw samples."""
    rounds = [r for r in measurement_rounds(m) if r]
    if not rounds:
        return np.empty(0)
    medians = np.array([float(np.median(r)) for r in rounds])
    if np.any(medians <= 0):
        raise ValueError("latency samples must be positive")
    return np.log(medians)


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile from the normal one (Cornish-Fisher expansion).

    Abramowitz & Stegun 26.7.5, terms to 1/df^4: within 1% of the exact value
    for df >= 3 at the quantiles used here (0.9 to 0.999); df below 1 is
    treated as 1. Kept in the standard library so the core needs no scipy.
    """
    z = NormalDist().inv_cdf(min(max(p, 1e-12), 1 - 1e-12))
    v = max(1.0, df)
    if math.isinf(v):
        return z
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


def p50_interval(m: Measurement, confidence: float = 0.95) -> RoundInterval | None:
    """The measurement's p50 as the geometric mean of its round medians, with a t interval.

    None without raw samples; with one round the interval is that round's
    value on both ends and ``rounds`` says 1: there is no spread to measure.
    """
    logs = log_round_medians(m)
    if len(logs) == 0:
        return None
    centre = float(logs.mean())
    if len(logs) < 2:
        v = math.exp(centre)
        return RoundInterval(v, v, v, confidence, 1)
    sd = max(float(logs.std(ddof=1)), MIN_ROUND_CV)
    half = t_quantile(0.5 + confidence / 2, len(logs) - 1) * sd / math.sqrt(len(logs))
    return RoundInterval(
        math.exp(centre), math.exp(centre - half), math.exp(centre + half), confidence, len(logs)
    )


def as_interval(interval: RoundInterval) -> Interval | None:
    """The p50's interval over rounds as results.json and the manifest carry it; None
    with one round (no spread to measure)."""
    if interval.rounds < 2:
        return None
    return Interval(
        low_ms=interval.low,
        high_ms=interval.high,
        coverage=interval.confidence,
        method=f"{interval.confidence:.0%} t interval of the geometric mean of "
        f"{interval.rounds} round medians (fresh processes)",
    )


def ratio_interval(
    numerator: Measurement, denominator: Measurement, confidence: float = 0.95
) -> RoundInterval | None:
    """``p50(numerator) / p50(denominator)`` with its interval, at the level of rounds.

    Paired when both have the same number of rounds from the same device (one
    run measures them in alternation, round by round); otherwise Welch's
    unpaired interval. None when either side has fewer than two rounds.
    """
    a, b = log_round_medians(numerator), log_round_medians(denominator)
    if len(a) < 2 or len(b) < 2:
        return None
    if len(a) == len(b) and numerator.device_id == denominator.device_id:
        diff = a - b
        centre = float(diff.mean())
        sd = max(float(diff.std(ddof=1)), MIN_ROUND_CV)
        se, df = sd / math.sqrt(len(diff)), len(diff) - 1.0
    else:
        va = max(float(a.var(ddof=1)), MIN_ROUND_CV**2) / len(a)
        vb = max(float(b.var(ddof=1)), MIN_ROUND_CV**2) / len(b)
        centre = float(a.mean() - b.mean())
        se = math.sqrt(va + vb)
        # Welch-Satterthwaite degrees of freedom.
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = t_quantile(0.5 + confidence / 2, df) * se
    return RoundInterval(
        math.exp(centre),
        math.exp(centre - half),
        math.exp(centre + half),
        confidence,
        min(len(a), len(b)),
    )


def rounds_to_resolve(interval: RoundInterval, margin_ratio: float, *, cap: int) -> int | None:
    """Extra rounds after which ``interval`` would likely sit wholly on one side of ``margin_ratio``.

    The half-width on the log scale shrinks as 1/sqrt(rounds); assumes the
    point estimate stays. None when it is already resolved; ``cap`` when the
    estimate sits (almost) on the margin and no number of rounds would do.
    """
    if not interval.contains(margin_ratio):
        return None
    distance = abs(math.log(interval.value) - math.log(margin_ratio))
    half = max(
        math.log(interval.high) - math.log(interval.value),
        math.log(interval.value) - math.log(interval.low),
    )
    if distance <= 0 or half <= 0:
        return cap
    needed = math.ceil(interval.rounds * (half / distance) ** 2) - interval.rounds
    return max(1, min(cap, needed))


def spread(logs: Sequence[float] | np.ndarray) -> float:
    """Sample standard deviation of log round medians: the process-level CV."""
    values = np.asarray(logs, dtype=np.float64)
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan
