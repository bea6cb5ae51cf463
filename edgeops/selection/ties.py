"""Which candidate is the primary: the objective, and ties inside the measurement
uncertainty broken by the incumbent, then quality, then the smaller file."""

from __future__ import annotations

from dataclasses import dataclass

from edgeops.models import Measurement, SelectionPolicy, Variant
from edgeops.round_stats import p50_interval, ratio_interval
from edgeops.selection.candidates import Candidate


@dataclass(frozen=True)
class Decision:
    primary: Candidate
    kind: str  # clear | tie | undecided
    note: str
    # The comparison more rounds could settle (primary against the fastest), for --until-decided.
    rival: Candidate | None = None


def quality_score(c: Candidate, policy: SelectionPolicy) -> float | None:
    if c.variant.quality is None:
        return None
    value = c.variant.quality.metrics.get(policy.quality.metric)
    if value is None:
        return None
    # On one scale where higher is better, so one comparison serves both kinds of metric.
    return value if policy.quality.higher_is_better else -value


def best_quality(tied: list[Candidate], policy: SelectionPolicy) -> list[Candidate]:
    """The tied candidates whose quality is within the margin of the best one."""
    scored = [(c, quality_score(c, policy)) for c in tied]
    known = [q for _, q in scored if q is not None]
    if not known:
        return tied
    best = max(known)
    margin = abs(best) * policy.quality_margin_pct / 100.0
    return [c for c, q in scored if q is not None and q >= best - margin]


def _is_incumbent(c: Candidate, policy: SelectionPolicy, file_known: bool = False) -> bool:
    """The primary to keep unless evidence replaces it.

    The baseline's own primary file, measured again in this run beside the
    newcomers (``ship --baseline``: its measurement here is ``remeasured_from``
    that run), is the incumbent whenever it is a candidate; its rounds pair with theirs like any variant's
    of this run. Without that file (``file_known`` False), the candidate of
    the baseline primary's name (format:recipe) stands in for it.
    """
    if c.measurement.remeasured_from is not None:
        return True
    return not file_known and c.variant.name == policy.baseline_primary


def _slower_than(
    c: Candidate, leader: Candidate, policy: SelectionPolicy, file_known: bool = False
) -> str:
    """How c compares with the leader: equivalent, undecided or slower (by the margin).

    Tied means the measured ratio is within the margin: ``equivalent`` when
    its whole interval is, ``undecided`` when only the estimate is (more
    rounds could show it slower). An estimate past the margin is ``slower``
    even when a wide interval from few rounds reaches back into it: treating
    that as a tie let a 2.5x slower fp32 win on quality in one ship of five
    and lose in the next (benchmarks/selection_stability.py). The incumbent
    is the exception: it is slower only when its whole interval is.
    """
    margin = 1.0 + policy.equivalence_pct / 100.0
    if c is leader:
        return "equivalent"
    ratio = ratio_interval(c.measurement, leader.measurement)
    point = ratio.value if ratio is not None else c.p50_ms / leader.p50_ms
    if _is_incumbent(c, policy, file_known) and ratio is not None:
        # The incumbent (the baseline's or the previous release's primary) is
        # the null hypothesis, as in the gate: replacing it takes evidence, its
        # whole interval past the margin; an estimate past it is not enough.
        # Without this, a ratio that drifts across the margin between sessions
        # switched the primary back and forth between identical ships.
        if ratio.low > margin:
            return "slower"
        return "equivalent" if ratio.high <= margin else "undecided"
    if point > margin:
        return "slower"
    # One round, or a prediction: no interval, so the estimate decides alone.
    return "equivalent" if ratio is None or ratio.high <= margin else "undecided"


def _shown_slower(c: Candidate, leader: Candidate, policy: SelectionPolicy) -> bool:
    """Whether the evidence, not only the estimate, puts c over the margin behind the leader.

    Measured rounds: the whole 95% interval of the paired (or Welch) ratio is past
    the margin. Otherwise, where both carry an interval (a prediction's, or a
    measurement's over rounds), c's lies wholly above the leader's times the
    margin: 34.5 ms [22.3, 53.4] against 31.2 ms [16.0, 60.8] is no clear
    decision. With no interval at all, the estimate is all there is.
    """
    margin = 1.0 + policy.equivalence_pct / 100.0
    ratio = ratio_interval(c.measurement, leader.measurement)
    if ratio is not None:
        return ratio.low > margin
    mine, theirs = c.measurement.p50_interval, leader.measurement.p50_interval
    if mine is not None and theirs is not None:
        return mine.low_ms > theirs.high_ms * margin
    return c.p50_ms > leader.p50_ms * margin


def tied(
    a: tuple[Variant, Measurement], b: tuple[Variant, Measurement], policy: SelectionPolicy
) -> bool:
    """Whether the selector would call ``a`` tied with ``b`` as the fastest: not
    over the equivalence margin slower, and of equal quality within its margin."""
    ca, cb = (
        Candidate(v, m, p50_interval(m) if m.method == "measured" else None, frozenset(), 0)
        for v, m in (a, b)
    )
    return _slower_than(ca, cb, policy) != "slower" and len(best_quality([ca, cb], policy)) == 2


def decide(candidates: list[Candidate], policy: SelectionPolicy) -> Decision:
    """The primary under the policy's objective, and whether it was a tie."""
    if policy.objective == "smallest":
        pool = sorted(candidates, key=lambda c: (c.size, c.p50_ms))
        smallest = [c for c in pool if c.size == pool[0].size]
        best = best_quality(smallest, policy)[0]
        return Decision(best, "clear", f"smallest file ({best.size} bytes) within the budget")
    if policy.objective == "best-quality":
        pool = best_quality(candidates, policy)
        fastest = min(pool, key=lambda c: (c.p50_ms, c.size))
        tied = [c for c in pool if _slower_than(c, fastest, policy) != "slower"]
        best = min(tied, key=lambda c: (c.size, c.p50_ms))
        return Decision(
            best,
            "tie" if len(tied) > 1 else "clear",
            f"best {policy.quality.metric} within {policy.quality_margin_pct:g}%"
            + (", then the smaller file among equally fast ones" if len(tied) > 1 else ""),
        )
    leader = min(candidates, key=lambda c: (c.p50_ms, c.size))
    file_known = any(c.measurement.remeasured_from is not None for c in candidates)
    status = {id(c): _slower_than(c, leader, policy, file_known) for c in candidates}
    tied = [c for c in candidates if status[id(c)] != "slower"]
    if len(tied) == 1:
        # The estimate chose (see _slower_than); "clear" needs the evidence too.
        close = [c for c in candidates if c is not leader and not _shown_slower(c, leader, policy)]
        if close:
            rival = min(close, key=lambda c: (c.p50_ms, c.size))
            return Decision(
                leader,
                "undecided",
                f"fastest p50 ({leader.p50_ms:.3g} ms) of {len(candidates)} candidates, but "
                f"{rival.label} at {rival.p50_ms:.3g} ms is not shown to be over "
                f"{policy.equivalence_pct:g}% slower (their intervals overlap): more rounds "
                "or measuring on the device could change the choice",
                rival=rival,
            )
        return Decision(
            leader,
            "clear",
            f"fastest p50 ({leader.p50_ms:.3g} ms) of {len(candidates)} candidates, the others over {policy.equivalence_pct:g}% slower",
        )
    by_baseline = [c for c in tied if _is_incumbent(c, policy, file_known)]
    if by_baseline:
        chosen, why = by_baseline[0], "the primary of the baseline (or the previous release)"
    else:
        good = best_quality(tied, policy)
        chosen = min(good, key=lambda c: (c.size, c.p50_ms))
        why = (
            f"higher {policy.quality.metric}, then the smaller file"
            if len(good) < len(tied)
            else "the smaller file"
        )
    undecided = status[id(chosen)] == "undecided"
    note = (
        f"tie: {len(tied)} candidates not shown to be over {policy.equivalence_pct:g}% slower "
        f"than the fastest, {leader.label} at {leader.p50_ms:.3g} ms; chose {chosen.label}: {why}"
    )
    if undecided:
        note += "; more rounds could show it slower (undecided)"
    return Decision(
        chosen,
        "undecided" if undecided else "tie",
        note,
        rival=leader if chosen is not leader else None,
    )
