"""One latency comparison: the mode (paired, same session / across sessions), the test, the verdict.

The mode is chosen by the caller (compare.gate): paired when the current
run holds the baseline's primary re-measured beside its own on the same
device (gate/pairing.py), else across sessions with the profile's
between-session spread (gate/sessions.py). Whichever decided is named in
the verdict, and the checks of gate/assumptions.py decide whether a
decision stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from edgeops.gate.assumptions import checked
from edgeops.gate.pairing import pair_rounds, same_rounds
from edgeops.gate.sessions import SessionSpread
from edgeops.gate.settings import GateSettings
from edgeops.gate.stats import (
    FIRST_LOOK_ROUNDS,
    MIN_BASELINE_ROUNDS,
    SequentialResult,
    paired_sequential_test,
    sequential_test,
)
from edgeops.models import Measurement
from edgeops.round_stats import log_round_medians

Verdict = Literal["pass", "fail", "inconclusive", "not_measured"]


# The mode that decided, as the verdict names it (issue 29).
PAIRED_MODE = "paired, same session"


def across_mode(spread: SessionSpread) -> str:
    return f"across sessions ({spread.label})"


@dataclass(frozen=True)
class LatencyComparison:
    # The current run's measurement: what a re-measure loop would measure again.
    variant_id: str
    device_id: str
    profile_id: str
    compute_unit: str
    verdict: Verdict
    detail: str
    baseline_p50_ms: float
    current_p50_ms: float
    change_pct: float
    threshold_pct: float
    ci_low_pct: float | None = None
    ci_high_pct: float | None = None
    baseline_samples: int = 0
    current_samples: int = 0
    baseline_rounds: int = 0
    current_rounds: int = 0
    cv_pct: float | None = None  # process-level spread: sd of log round medians
    decided_at_rounds: int | None = None
    # Inconclusive only: rounds the current needs for the next look, and the
    # rounds the baseline needs when it is too short for the test to end.
    more_rounds: int | None = None
    baseline_rounds_needed: int | None = None
    # How the two were compared: PAIRED_MODE, or across_mode(σ).
    mode: str = ""
    session_sigma_pct: float | None = None  # across sessions: the σ the test carried
    # Paired: the re-measured baseline's (variant, device, compute unit), which
    # a re-measure loop measures again beside the current, in alternation.
    paired_baseline: tuple[str, str, str] | None = None
    pairs: int | None = None

    @property
    def change(self) -> str:
        """The median's change and, once computed, its interval: ``+7.9% [+6.1, +9.8]``."""
        if self.ci_low_pct is None or self.ci_high_pct is None:
            return f"{self.change_pct:+.1f}%"
        return f"{self.change_pct:+.1f}% [{self.ci_low_pct:+.1f}, {self.ci_high_pct:+.1f}]"


def compare_latency(
    base: Measurement,
    cur: Measurement,
    threshold_pct: float,
    settings: GateSettings,
    *,
    paired: bool = False,
) -> LatencyComparison:
    """The latency verdict for two measurements, from their rounds.

    ``paired``: ``base`` is the baseline's primary re-measured in this
    session beside ``cur`` (gate/pairing.py), and the test is on paired
    rounds; otherwise the two are from different sessions and the test
    carries the profile's between-session spread.
    """
    base_logs, cur_logs = log_round_medians(base), log_round_medians(cur)
    base_p50 = float(np.exp(base_logs.mean())) if len(base_logs) else math.nan
    cur_p50 = float(np.exp(cur_logs.mean())) if len(cur_logs) else math.nan
    spread = settings.session_spread(cur.profile_id)
    unknown = LatencyComparison(
        variant_id=cur.variant_id,
        device_id=cur.device_id,
        profile_id=cur.profile_id,
        compute_unit=cur.compute_unit,
        verdict="inconclusive",
        detail="",
        baseline_p50_ms=base_p50,
        current_p50_ms=cur_p50,
        change_pct=(cur_p50 / base_p50 - 1.0) * 100.0,
        threshold_pct=threshold_pct,
        baseline_samples=len(base.samples_ms),
        current_samples=len(cur.samples_ms),
        baseline_rounds=len(base_logs),
        current_rounds=len(cur_logs),
        mode=PAIRED_MODE if paired else across_mode(spread),
        session_sigma_pct=None if paired else 100.0 * spread.sigma,
        paired_baseline=(base.variant_id, base.device_id, base.compute_unit) if paired else None,
    )
    if same_rounds(base, cur):
        # The same rounds on both sides (a run gated against itself, a reused
        # measurement, or a baseline byte-identical to the current measured
        # once): the difference is zero by construction, not by estimate.
        why = (
            "the baseline's primary is byte-identical to the current's and was measured once"
            if paired
            else "the same rounds on both sides"
        )
        return replace(
            unknown,
            verdict="pass",
            detail=f"{why}: no change (SAME)",
            change_pct=0.0,
            ci_low_pct=0.0,
            ci_high_pct=0.0,
        )
    ratio = 1.0 + threshold_pct / 100.0
    if paired:
        pairs = pair_rounds(base, cur)
        unknown = replace(unknown, pairs=len(pairs))
        tested = _paired_test(pairs.differences, ratio, settings, unknown)
    else:
        tested = _across_test(base_logs, cur_logs, ratio, settings, spread.sigma, unknown)
    if isinstance(tested, LatencyComparison):
        return tested
    result, series, first = tested
    verdict, more_rounds, problem = checked(result, ratio, series, current=first)
    return replace(
        unknown,
        verdict=verdict,
        detail=_latency_detail(
            result, threshold_pct, unknown.mode, problem, unknown.session_sigma_pct
        ),
        change_pct=(result.ratio - 1.0) * 100.0 if paired else unknown.change_pct,
        ci_low_pct=(result.low - 1.0) * 100.0,
        ci_high_pct=(result.high - 1.0) * 100.0,
        cv_pct=result.cv * 100.0,
        decided_at_rounds=None if problem else result.decided_at,
        more_rounds=more_rounds,
        baseline_rounds_needed=result.baseline_rounds_needed,
    )


Tested = tuple[SequentialResult, dict[str, np.ndarray], str] | LatencyComparison


def _paired_test(
    differences: np.ndarray, ratio: float, settings: GateSettings, unknown: LatencyComparison
) -> Tested:
    """The paired test, its series for the checks and the one its looks counted; or too few pairs."""
    if len(differences) < FIRST_LOOK_ROUNDS:
        more = FIRST_LOOK_ROUNDS - len(differences)
        return replace(
            unknown,
            detail=(
                f"{len(differences)} paired round(s), fewer than {FIRST_LOOK_ROUNDS}; measure "
                f"{more} more of each, in alternation (UNKNOWN)"
            ),
            more_rounds=more,
        )
    result = paired_sequential_test(differences, ratio, settings.design)
    return result, {"paired": differences}, "paired"


def _across_test(
    base_logs: np.ndarray,
    cur_logs: np.ndarray,
    ratio: float,
    settings: GateSettings,
    sigma: float,
    unknown: LatencyComparison,
) -> Tested:
    """The test across sessions, with σ; or what either side lacks to be tested."""
    if len(base_logs) < FIRST_LOOK_ROUNDS:
        return replace(
            unknown,
            detail=(
                f"baseline has {len(base_logs)} round(s), fewer than {FIRST_LOOK_ROUNDS}; "
                f"re-measure it with `ship --until-decided` (at least {MIN_BASELINE_ROUNDS} "
                "rounds) (UNKNOWN)"
            ),
            baseline_rounds_needed=MIN_BASELINE_ROUNDS,
        )
    if len(cur_logs) < FIRST_LOOK_ROUNDS:
        more = FIRST_LOOK_ROUNDS - len(cur_logs)
        return replace(
            unknown,
            detail=f"current has {len(cur_logs)} round(s), fewer than {FIRST_LOOK_ROUNDS}; measure {more} more (UNKNOWN)",
            more_rounds=more,
        )
    result = sequential_test(base_logs, cur_logs, ratio, settings.design, session_sigma=sigma)
    return result, {"current": cur_logs, "baseline": base_logs}, "current"


def _latency_detail(
    result: SequentialResult,
    threshold_pct: float,
    mode: str,
    problem: str | None,
    sigma_pct: float | None = None,
) -> str:
    # The change and its interval have their own columns; the detail says what they mean.
    if result.baseline_rounds == result.current_rounds and mode == PAIRED_MODE:
        rounds = f"{result.current_rounds} paired rounds"
    else:
        rounds = f"{result.baseline_rounds} baseline and {result.current_rounds} current rounds"
    spread = f"spread {100 * result.cv:.1f}%"
    how = f"{mode}; {rounds}, {spread}"
    if problem is not None:
        return (
            f"the test reached {result.verdict} at look {len(result.looks)} ({how}), but "
            f"{problem} (UNKNOWN)"
        )
    if result.verdict == "fail":
        return (
            f"sequential test decided for a slowdown of {threshold_pct:g}% at look "
            f"{len(result.looks)} ({how}) (DIFFERENT)"
        )
    if result.verdict == "pass":
        return f"sequential test decided for no slowdown at look {len(result.looks)} ({how}) (SAME)"
    if result.session_bound:
        reach = 100 * (result.max_fraction or 0.0)
        return (
            f"not decided after {len(result.looks)} look(s) ({how}): between sessions the "
            f"device's speed moves by {sigma_pct:.1f}% (σ), which "
            f"leaves at most {reach:.0f}% of the information a {threshold_pct:g}% decision "
            "needs, however many rounds; measure the baseline again beside the current "
            "(`ship --baseline B`, or `gate --remeasure`) for a paired decision (UNKNOWN)"
        )
    advice = f"~{result.more_current_rounds} more current round(s) for the next look"
    if result.baseline_rounds_needed is not None:
        advice += (
            f"; the baseline is too short for the test to end: re-measure it with "
            f"{result.baseline_rounds_needed} rounds (`ship --until-decided`)"
        )
    return f"not decided after {len(result.looks)} look(s) ({how}); {advice} (UNKNOWN)"
