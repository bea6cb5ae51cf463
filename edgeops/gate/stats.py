"""The latency gate's sequential test, with numpy and the standard library only.

The question: is the current run slower than the baseline by the threshold
(default 5%), or not slower at all? Two hypotheses on the log ratio of p50s,
H0: theta = 0 and H1: theta = log(1 + threshold). A fail is a decision for H1
(Pinpoint's DIFFERENT), a pass for H0 (SAME); between looks the answer is
UNKNOWN and says how many rounds the next look needs.

**Unit of evidence.** One round, a fresh probe process, is one observation:
its median, on the log scale (see round_stats). The statistic at a look is
Welch's two-sample t of the current's log round medians against the
baseline's.

**Repeated looks.** `ship --until-decided` looks after every batch of rounds;
naive repeated testing inflates false alarms (20 looks at alpha 0.01 gave
~6.8% in simulation). The test is a group-sequential design with error
spending for both errors:

- Lan & DeMets, "Discrete sequential boundaries for clinical trials",
  Biometrika 70 (1983): the false-alarm probability alpha is spent as a
  function of the information fraction t, so looks need not be planned;
- Pampallona, Tsiatis & Kim, "Interim monitoring of group sequential trials
  using spending functions for the type I and type II error probabilities",
  Drug Information Journal 35 (2001): beta (the miss rate at the threshold) is
  spent the same way, which gives the pass boundary;
- Hwang, Shih & DeCani, Statistics in Medicine 9 (1990): the spending
  family, gamma -4 for alpha (O'Brien-Fleming-like: little is spent early,
  when the variance estimate from a few rounds is poorest) and -2 for beta;
- Mehta & Tsiatis, "Flexible sample size considerations using
  information-based interim monitoring", Drug Information Journal 35 (2001):
  information is 1/variance of the estimate, estimated at each look, and the
  test ends (both boundaries meet) once it reaches the maximum information of
  the design; this is why a noisy device needs more rounds rather than
  getting worse error rates;
- boundaries are computed by the recursive numerical integration of
  Armitage, McPherson & Rowe (1969) as in Jennison & Turnbull, "Group
  Sequential Methods with Applications to Clinical Trials" (2000), ch. 19,
  and moved to the t scale with the same tail probability (ibid. §11.4),
  because the variance is estimated from few rounds.

The looks fall at fixed numbers of current rounds (:func:`look_rounds`), so a
single `edgeops gate` on a finished run replays the looks the sequential
procedure would have made and reaches the same verdict. The error rates this
gives on simulated and real rounds are published by benchmarks/gate_power.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from edgeops.gate.boundaries import _boundaries, _inflation
from edgeops.round_stats import MIN_ROUND_CV, t_quantile

SequentialVerdict = Literal["pass", "fail", "inconclusive"]

# Fewer rounds than this on either side give no usable variance estimate.
FIRST_LOOK_ROUNDS = 3
# A baseline is sized (gate_ready_rounds) to at least this many rounds: from
# 3-6 rounds the spread is often a quarter of the truth, and a gate against
# such a baseline ended early on an inflated t (3% false alarms at CV 2% in
# benchmarks/gate_power.py's simulation, against 1% allowed).
MIN_BASELINE_ROUNDS = 10
# The spread the gate assumes at least. Process medians of a phone or board
# spread by 1-5% (2-5% measured on this host); a smaller estimate from a
# dozen rounds is more likely luck than a device that steady, and costs
# nothing to doubt: at 1% the design needs two rounds a side.
GATE_MIN_CV = 0.01
_NORMAL = NormalDist()


@dataclass(frozen=True)
class SequentialDesign:
    """Error rates the gate is built to: a false alarm on a 0% change, a miss at the threshold.

    The nominal rates are stricter than the published targets (1% false
    alarms, 95% power at +5% on devices with process-level CV up to 5%):
    the spread is estimated from the rounds themselves, which costs some of
    both. benchmarks/gate_power.py's simulation at CV 5% measured 1.2% false
    alarms at a nominal 0.5%/95%, and 0.5% with 96.4% power at 0.4%/96.5%.
    """

    alpha: float = 0.004
    power: float = 0.965
    gamma_alpha: float = -4.0
    gamma_beta: float = -2.0
    # The maximum information is sized for this many equally spaced looks.
    planned_looks: int = 5

    def max_information(self, threshold_ratio: float) -> float:
        """1/variance of the log ratio at which both boundaries meet: the test must end there."""
        theta = math.log(threshold_ratio)
        z = _NORMAL.inv_cdf(1 - self.alpha) + _NORMAL.inv_cdf(self.power)
        return _inflation(self) * (z / theta) ** 2

    def rounds_per_side(self, threshold_ratio: float, cv: float) -> int:
        """Rounds each side needs to reach the maximum information at process-level ``cv``."""
        return math.ceil(2 * cv**2 * self.max_information(threshold_ratio))


@dataclass(frozen=True)
class Look:
    current_rounds: int
    fraction: float  # information / maximum information
    t: float  # the statistic: (log ratio) / its standard error
    fail_above: float  # t at or above this fails
    pass_below: float  # t at or below this passes


@dataclass(frozen=True)
class SequentialResult:
    verdict: SequentialVerdict
    ratio: float  # exp(mean log current - mean log baseline) over all rounds
    low: float  # 95% interval of the ratio, for display: the test does not use it
    high: float
    cv: float  # pooled process-level spread (sd of log round medians)
    looks: tuple[Look, ...]
    baseline_rounds: int
    current_rounds: int
    # Set when inconclusive: rounds to the next look on the current side, and,
    # when the baseline is too short to ever end the test, the rounds it needs.
    more_current_rounds: int | None = None
    baseline_rounds_needed: int | None = None
    # Across sessions: the between-session spread leaves less information than
    # the design needs however many rounds are added (more_current_rounds is
    # then None), and the largest information fraction any rounds could reach.
    session_bound: bool = False
    max_fraction: float | None = None
    cv_df: int = 0  # degrees of freedom of ``cv``

    @property
    def cv_low(self) -> float:
        """A one-sided 95% lower confidence bound of ``cv``: how small the spread may be."""
        # The upper bound at confidence 5% is the lower bound at 95%: s·sqrt(df/chi2_{0.95}).
        return self.cv * spread_upper(self.cv_df, confidence=0.05) if self.cv_df > 0 else 0.0

    @property
    def decided_at(self) -> int | None:
        """Current rounds at the deciding look."""
        if self.verdict == "inconclusive" or not self.looks:
            return None
        return self.looks[-1].current_rounds


def look_rounds(up_to: int) -> list[int]:
    """Current-round counts at which the test looks: 3, 5, 7, 10, 14, 20, 28, 40, ...

    Each look adds ~40% more rounds: fewer looks cost less alpha, and the
    information grows by similar factors between them.
    """
    looks, n = [], FIRST_LOOK_ROUNDS
    while n <= up_to:
        looks.append(n)
        n = max(n + 2, math.ceil(1.4 * n))
    return looks


def next_look(after: int) -> int:
    n = FIRST_LOOK_ROUNDS
    while n <= after:
        n = max(n + 2, math.ceil(1.4 * n))
    return n


def sequential_test(
    baseline_logs: Sequence[float] | np.ndarray,
    current_logs: Sequence[float] | np.ndarray,
    threshold_ratio: float,
    design: SequentialDesign | None = None,
    *,
    session_sigma: float = 0.0,
) -> SequentialResult:
    """The gate's verdict from log round medians, in the order the current rounds were measured.

    Looks are replayed at :func:`look_rounds` of the current side, with each
    side's spread from all its rounds so far; the first look that crosses a
    boundary decides. Needs at least FIRST_LOOK_ROUNDS a side.

    ``session_sigma`` is the between-session spread (sd of a session's log
    offset) when the two sides were measured in different sessions: each side
    carries its own offset, so the variance of the log ratio gains 2σ²
    (Welch's s_b²/n_b + s_c²/n_c + 2σ²), which no number of rounds removes.
    The information is then bounded by 1/(2σ²); when that is below the
    design's maximum the test cannot end, only cross a boundary
    (``session_bound`` says so).
    """
    design = design or SequentialDesign()
    base = np.asarray(baseline_logs, dtype=np.float64)
    cur = np.asarray(current_logs, dtype=np.float64)
    nb, nc = len(base), len(cur)
    if nb < FIRST_LOOK_ROUNDS or nc < FIRST_LOOK_ROUNDS:
        raise ValueError(f"the sequential test needs {FIRST_LOOK_ROUNDS} rounds a side")
    if session_sigma < 0:
        raise ValueError("session_sigma is a spread: 0 or more")
    between = 2 * session_sigma**2

    def estimate(n: int) -> _Estimate:
        var_n, df = _welch(base, cur[:n], between=between)
        var_up = _welch(base, cur[:n], upper=True, between=between)[0]
        return _Estimate(float(cur[:n].mean() - base.mean()), var_n, var_up, df)

    # The process-level spread alone, as the design's rounds are sized by it.
    var_rounds, _ = _welch(base, cur)
    cv = math.sqrt(var_rounds / (1 / nb + 1 / nc))
    verdict, looks, whole = _replay_looks(nc, estimate, threshold_ratio, design)
    i_max = design.max_information(threshold_ratio)
    # Undecided: rounds to the next look, or fewer if they already reach the
    # maximum information. A baseline too short for the test ever to end is
    # named: the current side alone can still cross a boundary, not force one.
    # With a session spread, the rounds have less variance to share out:
    # 2cv²/n a side + 2σ² <= 1/I_max, the design's rounds at cv/sqrt(1 - 2σ²I_max).
    more: int | None = next_look(nc) - nc
    needed_base = None
    left = 1.0 - between * i_max
    session_bound = left <= 0
    if verdict == "inconclusive":
        if session_bound:
            more = None
        else:
            room = left / (cv**2 * i_max) - 1.0 / nb
            if room <= 0:
                needed_base = baseline_rounds_for(threshold_ratio, cv / math.sqrt(left), design)
            else:
                assert more is not None
                more = max(1, min(more, math.ceil(1.0 / room) - nc))
    return _result(
        verdict,
        looks,
        whole,
        cv=cv,
        baseline_rounds=nb,
        current_rounds=nc,
        more_current_rounds=more,
        baseline_rounds_needed=needed_base,
        session_bound=session_bound,
        max_fraction=1.0 / (between * i_max) if between > 0 else None,
        cv_df=nb + nc - 2,
    )


def paired_sequential_test(
    differences: Sequence[float] | np.ndarray,
    threshold_ratio: float,
    design: SequentialDesign | None = None,
) -> SequentialResult:
    """The verdict from paired rounds: log(current round / baseline round), in time order.

    Both sides were measured in one session on one device, round by round in
    alternation (gate/pairing.py), so the device's state of the day is in both
    rounds of a pair and cancels; what is left is one-sample Student's t on
    the differences, with the same looks (at :func:`look_rounds` pairs), the
    same spending and the same maximum information as the two-sample test.
    The spread reported (``cv``) is the differences' sd over sqrt(2), the
    per-side spread it equals when the rounds share nothing, so the design's
    figures (CV up to 5%) read the same in both modes.
    """
    design = design or SequentialDesign()
    diff = np.asarray(differences, dtype=np.float64)
    n_all = len(diff)
    if n_all < FIRST_LOOK_ROUNDS:
        raise ValueError(f"the paired sequential test needs {FIRST_LOOK_ROUNDS} pairs")

    def estimate(n: int) -> _Estimate:
        var_n = _paired_variance(diff[:n])
        return _Estimate(
            float(diff[:n].mean()), var_n, var_n * spread_upper(n - 1) ** 2, float(n - 1)
        )

    verdict, looks, whole = _replay_looks(n_all, estimate, threshold_ratio, design)
    sd = math.sqrt(whole.variance * n_all)
    more: int | None = None
    if verdict == "inconclusive":
        i_max = design.max_information(threshold_ratio)
        more = max(1, min(next_look(n_all) - n_all, math.ceil(sd**2 * i_max) - n_all))
    return _result(
        verdict,
        looks,
        whole,
        cv=sd / math.sqrt(2),
        baseline_rounds=n_all,
        current_rounds=n_all,
        more_current_rounds=more,
        cv_df=n_all - 1,
    )


@dataclass(frozen=True)
class _Estimate:
    """The log ratio from the rounds a look has, and the variance of that estimate."""

    difference: float
    variance: float
    variance_upper: float  # each spread at its upper confidence bound
    df: float


def _replay_looks(
    n_total: int,
    estimate: Callable[[int], _Estimate],
    threshold_ratio: float,
    design: SequentialDesign,
) -> tuple[SequentialVerdict, tuple[Look, ...], _Estimate]:
    """The looks at :func:`look_rounds` of ``n_total``, up to the first that decides.

    ``estimate(n)`` uses only the first n current rounds (or pairs) and all
    the baseline's, so replaying the looks later gives the answers they gave
    then. Returns the verdict, the looks made and the estimate from all rounds.
    """
    theta = math.log(threshold_ratio)
    i_max = design.max_information(threshold_ratio)
    schedule: list[tuple[int, _Estimate]] = []
    fractions_list: list[float] = []
    for n in look_rounds(n_total):
        at = estimate(n)
        # The information fraction, which decides how much error a look may
        # spend and when the test must end, uses an upper confidence bound of
        # the spread: a spread underestimated from few rounds would otherwise
        # end the test early exactly when its t statistic is inflated.
        fraction = round(1.0 / at.variance_upper / i_max, 4)
        # Rounded so that gates of the same data reuse the boundaries; a look
        # that adds no information (its rounds were noisier) is skipped.
        if fractions_list and fraction <= fractions_list[-1]:
            continue
        fractions_list.append(fraction)
        schedule.append((n, at))
    bounds = _boundaries(tuple(fractions_list), design)
    looks: list[Look] = []
    for (n, at), fraction, (a, b) in zip(schedule, fractions_list, bounds, strict=False):
        info = 1.0 / at.variance
        fail_above = t_quantile(_NORMAL.cdf(b), at.df)
        # The pass boundary is a z on H1's scale: a - theta*sqrt(I) standard errors below theta.
        # a is on the design's z scale, whose mean under H1 is theta*sqrt(I_max*fraction);
        # its distance below that mean, as a tail probability, moves to the t statistic.
        below_h1 = theta * math.sqrt(i_max * fraction) - a
        pass_below = theta * math.sqrt(info) - t_quantile(_NORMAL.cdf(below_h1), at.df)
        if a >= b:
            pass_below = fail_above  # the last look: both boundaries meet, the test ends
        t = at.difference * math.sqrt(info)
        looks.append(Look(n, fraction, t, fail_above, min(pass_below, fail_above)))
        if t >= fail_above:
            return "fail", tuple(looks), estimate(n_total)
        if t <= looks[-1].pass_below:
            return "pass", tuple(looks), estimate(n_total)
    return "inconclusive", tuple(looks), estimate(n_total)


def _result(
    verdict: SequentialVerdict, looks: tuple[Look, ...], whole: _Estimate, **fields: Any
) -> SequentialResult:
    """The result with the estimate from all rounds and its 95% interval; ``fields`` the rest."""
    half = t_quantile(0.975, whole.df) * math.sqrt(whole.variance)
    if verdict != "inconclusive":
        fields["more_current_rounds"] = None
    return SequentialResult(
        verdict=verdict,
        ratio=math.exp(whole.difference),
        low=math.exp(whole.difference - half),
        high=math.exp(whole.difference + half),
        looks=looks,
        **fields,
    )


def _paired_variance(diff: np.ndarray) -> float:
    """Variance of the mean difference, with the gate's floor on each side's spread.

    A pair's difference carries both rounds' process noise, so the floor is
    GATE_MIN_CV a side: 2·GATE_MIN_CV² for the difference.
    """
    return max(float(diff.var(ddof=1)), 2 * GATE_MIN_CV**2) / len(diff)


def spread_upper(df: int, confidence: float = 0.95) -> float:
    """Factor from the sample sd to its one-sided upper confidence bound.

    sigma <= s * sqrt(df / chi2_{1-confidence, df}), with the chi-square
    quantile by the Wilson-Hilferty approximation (Johnson, Kotz &
    Balakrishnan, "Continuous Univariate Distributions" 1, 1994, §18.5).
    """
    z = _NORMAL.inv_cdf(1 - confidence)
    chi2 = df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3
    return math.sqrt(df / max(chi2, 1e-9))


def median_interval(
    rounds: Sequence[Sequence[float]],
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """One measurement's p50 interval at the level of rounds, for the report's error bars.

    The same t interval over round medians selection decides with
    (round_stats.p50_interval); ``resamples`` and ``seed`` are kept for
    callers written against the earlier bootstrap, and unused.
    """
    medians = [float(np.median(r)) for r in rounds if len(r)]
    if not medians:
        raise ValueError("no samples")
    logs = np.log(np.asarray(medians))
    centre = float(logs.mean())
    if len(logs) < 2:
        return math.exp(centre), math.exp(centre)
    sd = max(float(logs.std(ddof=1)), MIN_ROUND_CV)
    half = t_quantile(0.5 + confidence / 2, len(logs) - 1) * sd / math.sqrt(len(logs))
    return math.exp(centre - half), math.exp(centre + half)


def _welch(
    base: np.ndarray, cur: np.ndarray, upper: bool = False, between: float = 0.0
) -> tuple[float, float]:
    """Variance of the difference of means and its Welch-Satterthwaite degrees of freedom.

    Each side keeps its own spread: the two runs may come from different days
    or device states, and a baseline sized by its own spread (gate_ready_rounds)
    tends to stop when that spread looked small, so pooling it into the
    current's would understate the current's (2% false alarms at CV 2% when pooled).
    ``upper`` takes each side's variance at its upper confidence bound, with
    that side's own degrees of freedom. ``between`` is a variance known from
    outside the rounds (2σ² across sessions): it adds to the variance and
    has no degrees of freedom to lose.
    """
    vb = max(float(base.var(ddof=1)), GATE_MIN_CV**2) / len(base)
    vc = max(float(cur.var(ddof=1)), GATE_MIN_CV**2) / len(cur)
    if upper:
        vb *= spread_upper(len(base) - 1) ** 2
        vc *= spread_upper(len(cur) - 1) ** 2
    df = (vb + vc + between) ** 2 / (vb**2 / (len(base) - 1) + vc**2 / (len(cur) - 1))
    return vb + vc + between, df


# A baseline is measured once and gated against many times, so it carries more
# of the information: at this share of the design's rounds per side, the
# current needs 3/4 of them (1/n_b + 1/n_c = 2/n_side).
BASELINE_SHARE = 1.5


def baseline_rounds_for(
    threshold_ratio: float, cv: float, design: SequentialDesign | None = None
) -> int:
    """Rounds a baseline's primary needs for gates against it to end at process-level ``cv``."""
    design = design or SequentialDesign()
    return math.ceil(BASELINE_SHARE * design.rounds_per_side(threshold_ratio, cv))


def gate_ready_rounds(
    logs: Sequence[float] | np.ndarray,
    threshold_ratio: float,
    design: SequentialDesign | None = None,
) -> int:
    """Extra rounds a measurement needs to serve as a baseline gates can decide against.

    Sized with an upper confidence bound of its spread, like the information
    fraction: a spread that looks small after three rounds is often luck.
    """
    n = len(logs)
    if n < FIRST_LOOK_ROUNDS:
        return FIRST_LOOK_ROUNDS - n
    values = np.asarray(logs, dtype=np.float64)
    cv = max(float(values.std(ddof=1)), GATE_MIN_CV) * spread_upper(n - 1)
    return max(0, baseline_rounds_for(threshold_ratio, cv, design) - n, MIN_BASELINE_ROUNDS - n)
