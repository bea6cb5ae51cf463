"""The fallback chain after the primary: choices that need fewer accelerators or less
memory, each one an app gains something from."""

from __future__ import annotations

import math

from edgeops.models import SelectionPolicy
from edgeops.selection.candidates import Candidate
from edgeops.selection.ties import Decision


def fallback_chain(
    decision: Decision, candidates: list[Candidate], policy: SelectionPolicy
) -> list[tuple[Candidate, str]]:
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

    def worth(c: Candidate) -> str | None:
        last = chain[-1][0]
        if c.rarity < last.rarity:
            return f"needs fewer accelerators ({needs_label(c)})"
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


def needs_label(c: Candidate) -> str:
    return ", ".join(sorted(c.requires)) or "CPU only"
