"""The default selection policy (DESIGN §6), a ``trylast`` core plugin.

Per profile:
1. keep measurements with status ok, quality at or above the floor, and peak
   memory within ``app_memory_limit_mb × memory_safety_factor``;
2. drop those whose p90 is over the latency budget, if one is set;
3. choose by the objective (``fastest`` by default). Latency differences
   inside the measurement uncertainty are ties: a variant whose p50 is not
   shown, by the 95% interval of its ratio to the fastest (round_stats, at the
   level of rounds), to be more than ``equivalence_pct`` (5%) slower, and
   whose measured ratio is within that margin, is tied with it. That is a practical-equivalence margin (Kruschke's ROPE,
   "Rejecting or accepting parameter values in Bayesian estimation", AMPPS
   2018): a 3% difference inside the noise must not flip the choice between
   runs. Ties are broken by the baseline's primary, then quality when it
   differs by more than ``quality_margin_pct`` (0.5%) of the better figure,
   then the smaller file.

The fallback chain follows the primary with choices that need less: fewer
accelerators, or on the same accelerators at least
``fallback_memory_margin_pct`` (10%) less memory; anything else is a step an
app gains nothing from. A step that saves only memory must stay usable: with
no latency budget, at most ``fallback_max_slowdown`` (4x) the primary's p50
(the budget bounds it otherwise). It ends with the smallest-memory variant that meets
the floor without accelerators, under the same rule. Each plan also carries
the Pareto frontier of p50 × size × quality with the chosen point marked (the
Pareto selection of Microsoft Olive's engine footprints). With no candidate,
the profile is unsupported and the nearest miss is named.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from edgeops.hookspecs import hookimpl
from edgeops.models import (
    Choice,
    ComputeUnit,
    DeviceProfile,
    FrontierPoint,
    Interval,
    Measurement,
    Plan,
    Rejection,
    SelectionPolicy,
    Variant,
)
from edgeops.placement import fell_back
from edgeops.quality import meets_floors
from edgeops.round_stats import RoundInterval, as_interval, p50_interval, ratio_interval


def carry_load_failures(
    everywhere: Sequence[Measurement], mine: Sequence[Measurement]
) -> list[Measurement]:
    """``mine`` with each prediction for a variant and compute unit that failed to load on
    a measured device (this host, or any device of that format) turned into that failure.

    A predictor sees the graph, not the runtime: it gave pixel6 a p50 for
    MediaPipe's selfie segmenter on the plain ``cpu`` unit, which failed here on
    its unresolved custom op, and the predicted plan chose it. A load failure is
    the runtime's verdict on the file, so it holds on every device of the format.
    """
    failed = {
        (m.variant_id, m.compute_unit.lower()): m
        for m in everywhere
        if m.method == "measured" and m.status == "load_failed"
    }
    out = []
    for m in mine:
        seen = failed.get((m.variant_id, m.compute_unit.lower()))
        if m.method == "predicted" and seen is not None:
            m = m.model_copy(
                update={
                    "status": "load_failed",
                    "error": f"predicted only, and it failed to load on {seen.device_id} "
                    f"({seen.profile_id}) on {seen.compute_unit}: {seen.error or 'load failed'}",
                    "p50_ms": None,
                    "p90_ms": None,
                    "p99_ms": None,
                    "p50_interval": None,
                }
            )
        out.append(m)
    return out


def requirements(compute_unit: str, units: dict[str, ComputeUnit]) -> tuple[str, ...]:
    """What an app must have to use ``compute_unit``, as its backend declares it.

    A unit no backend declares is taken to need an accelerator of its own name: a
    fallback must never be assumed to run anywhere without evidence.
    """
    known = units.get(compute_unit)
    return known.requires if known is not None else (compute_unit,)


def demand(compute_unit: str, units: dict[str, ComputeUnit]) -> int:
    known = units.get(compute_unit)
    return known.rarity if known is not None else 1


@dataclass(frozen=True)
class _Candidate:
    variant: Variant
    measurement: Measurement
    interval: RoundInterval | None
    requires: frozenset[str]
    rarity: int

    @property
    def p50_ms(self) -> float:
        if self.interval is not None and self.interval.rounds > 1:
            return self.interval.value
        return self.measurement.p50_ms if self.measurement.p50_ms is not None else math.inf

    @property
    def memory_mb(self) -> float:
        mem = self.measurement.peak_mem_mb
        return mem if mem is not None else math.inf

    @property
    def size(self) -> int:
        return self.variant.size_bytes or 0

    @property
    def label(self) -> str:
        return f"{self.variant.name} ({self.measurement.compute_unit})"


@dataclass(frozen=True)
class _Decision:
    primary: _Candidate
    kind: str  # clear | tie | undecided
    note: str
    # The comparison more rounds could settle (primary against the fastest), for --until-decided.
    rival: _Candidate | None = None


@hookimpl(trylast=True)
def edgeops_select(
    profile: DeviceProfile,
    variants: list[Variant],
    measurements: list[Measurement],
    policy: SelectionPolicy,
) -> Plan:
    by_id = {v.id: v for v in variants}
    rejected = [
        Rejection(
            variant_id=v.id,
            variant_name=v.name,
            compute_unit=None,
            reasons=(f"failed to build: {v.error}",),
        )
        for v in variants
        if v.status != "ok"
    ]
    rejected += [
        Rejection(
            variant_id=v.id,
            variant_name=v.name,
            compute_unit=None,
            reasons=(f"ruled out before measuring: {reason}",),
        )
        for v in variants
        if v.status == "ok" and (reason := v.pruned_for(profile.id))
    ]
    failed = [m for m in measurements if m.status == "device_failed"]
    if failed:
        # The device, not the model: selecting from what it measured before failing
        # would ship a partial sweep, and "unsupported" would blame the model.
        return Plan(
            profile_id=profile.id,
            status="device_failed",
            method="measured",
            rejected=tuple(rejected),
            note=f"device {failed[0].device_id} failed: {failed[0].error}",
        )
    if (
        not measurements
        and any(v.status == "ok" for v in variants)
        and all(v.pruned_for(profile.id) for v in variants if v.status == "ok")
    ):
        return Plan(
            profile_id=profile.id,
            status="unsupported",
            rejected=tuple(rejected),
            note="every variant was ruled out on the host, before any device time "
            "(quality floor, file size, or dominated): see rejected",
        )
    if not measurements:
        formats = ", ".join(profile.formats)
        return Plan(
            profile_id=profile.id,
            status="not_measured",
            rejected=tuple(rejected),
            note="no device attached and no prediction available"
            if any(v.status == "ok" for v in variants)
            else f"no {formats} variant could be made, so there is nothing to load"
            + (" (see rejected)" if rejected else f"; add a backend or recipe for {formats}"),
        )
    memory_cap_mb = (
        profile.app_memory_limit_mb * policy.memory_safety_factor
        if profile.app_memory_limit_mb
        else None
    )
    candidates: list[_Candidate] = []
    # A delegate that needs nothing of the device (XNNPACK) is still required
    # when the plain CPU failed on the same variant, e.g. on a custom op.
    cpu_failed = {
        m.variant_id for m in measurements if m.compute_unit.lower() == "cpu" and m.status != "ok"
    }
    for m in measurements:
        variant = by_id.get(m.variant_id)
        if variant is None or variant.status != "ok":
            continue
        reasons = _reasons_against(variant, m, policy, memory_cap_mb)
        if reasons:
            rejected.append(
                Rejection(
                    variant_id=variant.id,
                    variant_name=variant.name,
                    compute_unit=m.compute_unit,
                    reasons=tuple(reasons),
                )
            )
        else:
            cu = m.compute_unit
            needs = set(requirements(cu, policy.compute_units))
            if fell_back(m.placement, policy.placement_min_share):
                # Most of its graph ran on the CPU: it is no claim on the accelerator.
                needs -= set(requirements(cu, policy.compute_units))
            if not needs and cu.lower() != "cpu" and m.variant_id in cpu_failed:
                needs.add(cu.lower())
            interval = p50_interval(m) if m.method == "measured" else None
            candidates.append(
                _Candidate(variant, m, interval, frozenset(needs), demand(cu, policy.compute_units))
            )
    timed_out = [m for m in measurements if m.status == "timeout"]
    if not candidates and timed_out and all(m.status != "ok" for m in measurements):
        # Ran out of time is no verdict on the model: "unsupported" would blame it.
        return Plan(
            profile_id=profile.id,
            status="not_measured",
            method=_method(measurements),
            rejected=tuple(rejected),
            note=f"every measurement ended in a timeout ({timed_out[0].error}); "
            "measure again with a lower --min-duration-s or fewer --paced-fps",
        )
    if not candidates:
        return Plan(
            profile_id=profile.id,
            status="unsupported",
            method=_method(measurements),
            rejected=tuple(rejected),
            nearest_miss=_nearest_miss(rejected, measurements),
            note="no variant meets the quality floor, memory and latency limits on this profile",
        )
    decision = decide(candidates, policy)
    chain = _fallback_chain(decision, candidates, policy)
    choices = tuple(_choice(c, reason, policy) for c, reason in chain)
    return Plan(
        profile_id=profile.id,
        status="supported",
        method="predicted" if any(c.method == "predicted" for c in choices) else "measured",
        choices=choices,
        rejected=tuple(rejected),
        decision=decision.kind,
        decision_note=decision.note,
        frontier=_frontier(candidates, decision.primary, policy),
    )


def _reasons_against(
    variant: Variant, m: Measurement, policy: SelectionPolicy, memory_cap_mb: float | None
) -> list[str]:
    if m.status != "ok":
        return [f"{m.status}: {m.error}" if m.error else m.status]
    reasons = []
    reasons.extend(meets_floors(variant.quality, policy.quality)[1])
    mem = m.peak_mem_mb
    if memory_cap_mb is not None and mem is not None and mem > memory_cap_mb:
        reasons.append(
            f"peak memory {mem:.0f} MB > {memory_cap_mb:.0f} MB (app limit × {policy.memory_safety_factor:g})"
        )
    if (
        policy.latency_budget_ms is not None
        and m.p90_ms is not None
        and m.p90_ms > policy.latency_budget_ms
    ):
        reasons.append(f"p90 {m.p90_ms:.2f} ms > budget {policy.latency_budget_ms:g} ms")
    return reasons


def _quality(c: _Candidate, policy: SelectionPolicy) -> float | None:
    if c.variant.quality is None:
        return None
    value = c.variant.quality.metrics.get(policy.quality.metric)
    if value is None:
        return None
    # On one scale where higher is better, so one comparison serves both kinds of metric.
    return value if policy.quality.higher_is_better else -value


def _best_quality(tied: list[_Candidate], policy: SelectionPolicy) -> list[_Candidate]:
    """The tied candidates whose quality is within the margin of the best one."""
    scored = [(c, _quality(c, policy)) for c in tied]
    known = [q for _, q in scored if q is not None]
    if not known:
        return tied
    best = max(known)
    margin = abs(best) * policy.quality_margin_pct / 100.0
    return [c for c, q in scored if q is not None and q >= best - margin]


def _is_incumbent(c: _Candidate, policy: SelectionPolicy, file_known: bool = False) -> bool:
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
    c: _Candidate, leader: _Candidate, policy: SelectionPolicy, file_known: bool = False
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


def _shown_slower(c: _Candidate, leader: _Candidate, policy: SelectionPolicy) -> bool:
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
        _Candidate(v, m, p50_interval(m) if m.method == "measured" else None, frozenset(), 0)
        for v, m in (a, b)
    )
    return _slower_than(ca, cb, policy) != "slower" and len(_best_quality([ca, cb], policy)) == 2


def decide(candidates: list[_Candidate], policy: SelectionPolicy) -> _Decision:
    """The primary under the policy's objective, and whether it was a tie."""
    if policy.objective == "smallest":
        pool = sorted(candidates, key=lambda c: (c.size, c.p50_ms))
        smallest = [c for c in pool if c.size == pool[0].size]
        best = _best_quality(smallest, policy)[0]
        return _Decision(best, "clear", f"smallest file ({best.size} bytes) within the budget")
    if policy.objective == "best-quality":
        pool = _best_quality(candidates, policy)
        fastest = min(pool, key=lambda c: (c.p50_ms, c.size))
        tied = [c for c in pool if _slower_than(c, fastest, policy) != "slower"]
        best = min(tied, key=lambda c: (c.size, c.p50_ms))
        return _Decision(
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
            return _Decision(
                leader,
                "undecided",
                f"fastest p50 ({leader.p50_ms:.3g} ms) of {len(candidates)} candidates, but "
                f"{rival.label} at {rival.p50_ms:.3g} ms is not shown to be over "
                f"{policy.equivalence_pct:g}% slower (their intervals overlap): more rounds "
                "or measuring on the device could change the choice",
                rival=rival,
            )
        return _Decision(
            leader,
            "clear",
            f"fastest p50 ({leader.p50_ms:.3g} ms) of {len(candidates)} candidates, the others over {policy.equivalence_pct:g}% slower",
        )
    by_baseline = [c for c in tied if _is_incumbent(c, policy, file_known)]
    if by_baseline:
        chosen, why = by_baseline[0], "the primary of the baseline (or the previous release)"
    else:
        good = _best_quality(tied, policy)
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
    return _Decision(
        chosen,
        "undecided" if undecided else "tie",
        note,
        rival=leader if chosen is not leader else None,
    )


def _fallback_chain(
    decision: _Decision, candidates: list[_Candidate], policy: SelectionPolicy
) -> list[tuple[_Candidate, str]]:
    primary = decision.primary
    ranked = sorted(candidates, key=lambda c: (c.p50_ms, c.size))
    keep = 1.0 - policy.fallback_memory_margin_pct / 100.0
    chain = [(primary, decision.note)]

    # A step that saves only memory must stay usable: within the latency budget (the
    # candidates already are), or without one within fallback_max_slowdown x the
    # primary's p50. A step that drops an accelerator is exempt: on a device without
    # it, it is the only thing that runs at all.
    slowest_ms = (
        math.inf
        if policy.latency_budget_ms is not None
        else primary.p50_ms * policy.fallback_max_slowdown
    )

    def worth(c: _Candidate) -> str | None:
        last = chain[-1][0]
        if c.rarity < last.rarity:
            return f"needs fewer accelerators ({_needs(c)})"
        if c.p50_ms > slowest_ms:
            return None
        if c.requires <= last.requires and c.memory_mb <= last.memory_mb * keep:
            return (
                f"needs less memory ({c.memory_mb:.0f} MB, at least "
                f"{policy.fallback_memory_margin_pct:g}% less)"
            )
        return None

    on_cpu = [c for c in ranked if not c.requires]
    last_resort = min(on_cpu, key=lambda c: (c.memory_mb, c.p50_ms)) if on_cpu else None
    for c in ranked:
        if c is primary or c is last_resort:
            continue
        why = worth(c)
        if why:
            chain.append((c, why))
    if last_resort is not None and last_resort is not primary:
        why = worth(last_resort)
        if why:
            chain.append(
                (
                    last_resort,
                    f"smallest memory without accelerators meeting the floor ({last_resort.memory_mb:.0f} MB)",
                )
            )
    return chain


def _frontier(
    candidates: list[_Candidate], chosen: _Candidate, policy: SelectionPolicy
) -> tuple[FrontierPoint, ...]:
    """Candidates no other is at least as good as on p50, size and quality, and better on one."""

    def scores(c: _Candidate) -> tuple[float, float, float]:
        q = _quality(c, policy)
        return (c.p50_ms, float(c.size), -(q if q is not None else -math.inf))

    def dominated(c: _Candidate) -> bool:
        sc = scores(c)
        for d in candidates:
            sd = scores(d)
            if d is not c and all(x <= y for x, y in zip(sd, sc, strict=True)) and sd != sc:
                return True
        return False

    points = [c for c in candidates if c is chosen or not dominated(c)]
    points.sort(key=lambda c: (c.p50_ms, c.size))
    return tuple(
        FrontierPoint(
            variant_id=c.variant.id,
            variant_name=c.variant.name,
            compute_unit=c.measurement.compute_unit,
            p50_ms=c.p50_ms if math.isfinite(c.p50_ms) else None,
            p50_low_ms=c.interval.low if c.interval and c.interval.rounds > 1 else None,
            p50_high_ms=c.interval.high if c.interval and c.interval.rounds > 1 else None,
            size_bytes=c.variant.size_bytes,
            quality=c.variant.quality.metrics.get(policy.quality.metric)
            if c.variant.quality
            else None,
            chosen=c is chosen,
        )
        for c in points
    )


def _needs(c: _Candidate) -> str:
    return ", ".join(sorted(c.requires)) or "CPU only"


def _choice(c: _Candidate, reason: str, policy: SelectionPolicy) -> Choice:
    mem = c.measurement.peak_mem_mb
    quality = c.variant.quality.metrics if c.variant.quality else {}
    return Choice(
        variant_id=c.variant.id,
        variant_name=c.variant.name,
        compute_unit=c.measurement.compute_unit,
        method=c.measurement.method,
        expected_p50_ms=c.p50_ms if math.isfinite(c.p50_ms) else None,
        p50_interval=_measured_interval(c) or c.measurement.p50_interval,
        rounds=c.interval.rounds if c.interval else 0,
        peak_mem_mb=mem,
        size_bytes=c.variant.size_bytes,
        quality=quality,
        reason="; ".join(
            r for r in (reason, fell_back(c.measurement.placement, policy.placement_min_share)) if r
        ),
        requires=tuple(sorted(c.requires)),
        # The app should keep the same headroom the selector demanded.
        min_free_memory_mb=math.ceil(mem / policy.memory_safety_factor)
        if mem is not None
        else None,
        # A profile may run several formats (Core AI and Core ML on iOS 27): the app
        # must know which runtime, and from which OS, each choice needs.
        runtime=c.variant.format,
        min_os=c.variant.recipe.deployment_target if c.variant.recipe else None,
    )


def _measured_interval(c: _Candidate) -> Interval | None:
    """The p50's interval over rounds, as the manifest carries it; None with one round."""
    return as_interval(c.interval) if c.interval is not None else None


def _nearest_miss(rejected: list[Rejection], measurements: list[Measurement]) -> Rejection | None:
    measured_ok: dict[tuple[str, str | None], Measurement] = {
        (m.variant_id, m.compute_unit): m for m in measurements if m.status == "ok"
    }
    ranked = [r for r in rejected if (r.variant_id, r.compute_unit) in measured_ok]
    if not ranked:
        return rejected[0] if rejected else None
    return min(
        ranked,
        key=lambda r: (
            len(r.reasons),
            measured_ok[(r.variant_id, r.compute_unit)].p50_ms or math.inf,
        ),
    )


def _method(measurements: list[Measurement]) -> str:
    return "predicted" if all(m.method == "predicted" for m in measurements) else "measured"
