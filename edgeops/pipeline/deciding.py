"""Decisions a run takes more rounds for (``ship --until-decided``), and the baseline's
files measured again beside the candidates (``ship --baseline``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeops.gate.compare import GateSettings
    from edgeops.models import Measurement, Plan, Results, Variant
    from edgeops.pipeline import Pipeline
    from edgeops.pipeline.protocol import Run


def with_incumbents(
    pipeline: Pipeline, results: Results, incumbents: list[Variant], base: Results | None
) -> Results:
    """``results`` with the baseline's primary files among its variants (incumbents.py)."""
    from edgeops.pipeline.incumbents import add_incumbents, score_incumbents

    if base is None or not incumbents:
        return results
    return score_incumbents(pipeline, add_incumbents(results, incumbents, base))


def until_decided(run: Run, results: Results) -> Results:
    """Add rounds where they can change a decision, until decided or ``--max-extra-rounds``.

    Three kinds of decision: a primary tied with the fastest only because the
    interval of their ratio straddles the equivalence margin (both get the
    rounds, measured in alternation, so the comparison stays paired); a gate
    comparison against ``--baseline`` the sequential test has not decided (the
    current gets the rounds its next look needs); and a primary not yet
    precise enough to be a baseline gates can decide against.
    """
    from edgeops.gate.compare import GateSettings, undecided_comparisons
    from edgeops.gate.stats import gate_ready_rounds, next_look
    from edgeops.round_stats import log_round_medians, ratio_interval, rounds_to_resolve

    pipeline, baseline, max_extra_rounds = run.pipeline, run.baseline, run.options.max_extra_rounds
    settings = GateSettings()
    added: dict[tuple[str, str, str], int] = {}
    while True:
        wanted: dict[tuple[str, str, str], int] = {}

        def want(
            key: tuple[str, str, str],
            rounds: int | None,
            wanted: dict[tuple[str, str, str], int] = wanted,
        ) -> None:
            budget = max_extra_rounds - added.get(key, 0)
            if rounds and budget > 0:
                wanted[key] = max(wanted.get(key, 0), min(rounds, budget))

        by_key = {(m.variant_id, m.device_id, m.compute_unit): m for m in results.measurements}
        for plan in results.plans:
            m = primary_measurement(results, plan)
            if m is None:
                continue
            key = (m.variant_id, m.device_id, m.compute_unit)
            threshold = 1.0 + settings.latency_threshold_pct(plan.profile_id) / 100.0
            logs = log_round_medians(m)
            # In steps to the next look, so the spread is re-estimated on the way.
            step = next_look(len(logs)) - len(logs)
            want(key, min(gate_ready_rounds(logs, threshold, settings.design), step))
            rival = rival_measurement(results, plan)
            if plan.decision == "undecided" and rival is not None:
                ratio = ratio_interval(m, rival)
                margin = 1.0 + (results.policy.equivalence_pct if results.policy else 5.0) / 100.0
                more = rounds_to_resolve(ratio, margin, cap=max_extra_rounds) if ratio else None
                want(key, more)
                want((rival.variant_id, rival.device_id, rival.compute_unit), more)
        if baseline is not None:
            for todo in undecided_comparisons(baseline, results, settings):
                want((todo.variant_id, todo.device_id, todo.compute_unit), todo.more_rounds)
                if todo.paired_baseline is not None:
                    # Paired mode: the re-measured baseline gets the same rounds, measured
                    # in alternation with the current's in the one remeasure below.
                    want(todo.paired_baseline, todo.more_rounds)
        wanted = {k: v for k, v in wanted.items() if k in by_key}
        # A baseline measured again in this session gets the rounds its candidates get,
        # in the same sessions, so every added round still has its pair.
        for pair, rounds in paired_rounds(results, baseline, wanted).items():
            wanted[pair] = max(wanted.get(pair, 0), rounds)
        if not wanted:
            return note_unready_baselines(results, settings, added)
        for key, rounds in wanted.items():
            added[key] = added.get(key, 0) + rounds
        results = pipeline.select(
            pipeline.remeasure(results, run.devices, wanted),
            memory_safety_factor=run.options.memory_safety_factor,
            objective=run.options.objective,
            baseline_primaries=run.primaries,
        )


def paired_rounds(
    results: Results, baseline: Results | None, wanted: dict[tuple[str, str, str], int]
) -> dict[tuple[str, str, str], int]:
    """Rounds for each re-measured baseline measurement: the most any variant measured
    beside it (its profile, its device) is given now."""
    if baseline is None:
        return {}
    out: dict[tuple[str, str, str], int] = {}
    for m in results.measurements:
        if m.remeasured_from != baseline.run_id or m.status != "ok":
            continue
        key = (m.variant_id, m.device_id, m.compute_unit)
        beside = [
            rounds
            for (variant_id, device_id, unit), rounds in wanted.items()
            if device_id == m.device_id
            and (variant_id, unit) != (m.variant_id, m.compute_unit)
            and any(
                x.profile_id == m.profile_id
                and (x.variant_id, x.device_id) == (variant_id, device_id)
                for x in results.measurements
            )
        ]
        if beside:
            out[key] = max(beside)
    return out


def note_unready_baselines(
    results: Results, settings: GateSettings, added: dict[tuple[str, str, str], int]
) -> Results:
    """Say in each plan whose primary the bound left too imprecise to gate against.

    Otherwise the run looks like a baseline, and the first gate against it ends
    inconclusive on a noisy device without anyone having been told why.
    """
    from edgeops.gate.stats import gate_ready_rounds
    from edgeops.round_stats import log_round_medians, spread

    plans = []
    for plan in results.plans:
        m = primary_measurement(results, plan)
        note = None
        if m is not None:
            threshold = 1.0 + settings.latency_threshold_pct(plan.profile_id) / 100.0
            logs = log_round_medians(m)
            short = gate_ready_rounds(logs, threshold, settings.design)
            if short > 0:
                key = (m.variant_id, m.device_id, m.compute_unit)
                cv = spread(logs)
                how = f"spread {cv:.1%}" if math.isfinite(cv) else "spread unknown"
                note = (
                    f"{plan.choices[0].variant_name} stopped at {len(logs)} rounds "
                    f"({how}), about {short} short of a baseline gates "
                    f"can decide against; a gate against this run may end inconclusive: "
                    f"re-run with --max-extra-rounds {added.get(key, 0) + short} "
                    "or on a quieter device"
                )
        plans.append(plan.model_copy(update={"baseline_note": note}))
    return results.model_copy(update={"plans": tuple(plans)})


def primary_measurement(results: Results, plan: Plan) -> Measurement | None:
    """The measured, ok measurement of ``plan``'s primary, or None."""
    if not plan.choices:
        return None
    primary = plan.choices[0]
    return next(
        (
            x
            for x in results.measurements
            if x.profile_id == plan.profile_id
            and (x.variant_id, x.compute_unit) == (primary.variant_id, primary.compute_unit)
            and x.status == "ok"
            and x.method == "measured"
        ),
        None,
    )


def rival_measurement(results: Results, plan: Any) -> Any:
    """The fastest candidate's measurement, named in the plan's frontier, when it is not the primary."""
    leader = min(
        (p for p in plan.frontier if p.p50_ms is not None), key=lambda p: p.p50_ms, default=None
    )
    if leader is None or leader.chosen:
        return None
    return next(
        (
            m
            for m in results.measurements
            if m.profile_id == plan.profile_id
            and (m.variant_id, m.compute_unit) == (leader.variant_id, leader.compute_unit)
            and m.status == "ok"
        ),
        None,
    )
