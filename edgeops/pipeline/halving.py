"""Successive halving on the device: measure everything a little, then only what can win.

Every job first gets one round (one fresh process). After it and after each
further round, a job stops when another job on the same device **dominates** it:

- clearly faster: the other's slowest round, plus a margin, is below this one's
  fastest round, so no tie the selector might break in this one's favour is
  possible (the selector's practical-equivalence margin, 5%, is smaller). The
  margin is ``MARGIN`` (10%) once both have two rounds or more, and
  ``ONE_ROUND_MARGIN`` (25%) while either has one: a single process's median
  carries the process-to-process spread unseen, and at a process-level CV of
  5% (the most the gate is designed for) the log ratio of two one-round
  medians has a standard deviation of about 7%, so a 25% gap is over 3
  standard deviations: a job that could still tie is stopped well under 0.1%
  of the time;
- no more memory (peak over baseline, its largest round);
- no more accelerators required (so this one is no fallback the other cannot be).

Such a job can be neither the primary nor a fallback step: whenever it would
qualify, the other qualifies and wins. The reason is kept on its measurement
(``environment["stopped_early"]``), and its rounds so far stay in the results.

A baseline's primary measured again for the gate (``ship --baseline``) is never
stopped: the gate pairs its rounds with the candidate's. One measured only for
the gate (another model's file, no choice of this run) stops no other job.
"""

from __future__ import annotations

from edgeops.devices.scheduling import MeasureJob
from edgeops.models import ComputeUnit, Measurement
from edgeops.selection import requirements

# Relative latency gap that counts as clearly faster; larger than the selector's
# practical-equivalence margin, so nothing that could tie is stopped.
MARGIN = 0.10
ONE_ROUND_MARGIN = 0.25
FIRST_LOOK_ROUNDS = 1


def first_looks(rounds: int) -> list[int]:
    """The round counts after which dominated jobs are stopped: 1, 2, ..., ``rounds``."""
    return list(range(FIRST_LOOK_ROUNDS, rounds + 1))


def _summary(rounds: list[Measurement]) -> tuple[float, float, float] | None:
    ok = [r for r in rounds if r.status == "ok" and r.p50_ms is not None]
    if not ok or len(ok) != len(rounds):
        return None
    p50s = [r.p50_ms for r in ok if r.p50_ms is not None]
    mems = [r.peak_mem_mb for r in ok if r.peak_mem_mb is not None]
    return min(p50s), max(p50s), max(mems) if mems else float("inf")


def survivors(
    jobs: list[MeasureJob],
    rounds: dict[int, list[Measurement]],
    units: dict[str, ComputeUnit],
) -> tuple[list[MeasureJob], dict[int, str]]:
    """The jobs still worth measuring, and for each stopped one the reason."""
    summaries = {j.index: _summary(rounds[j.index]) for j in jobs}
    needs = {j.index: frozenset(requirements(j.compute_unit, units)) for j in jobs}
    kept, stopped = [], {}
    for job in jobs:
        mine = summaries[job.index]
        if mine is None or job.variant.remeasured_from is not None:
            # failed or unmeasured: nothing to compare (and not repeated); a re-measured
            # baseline: the gate needs all its rounds
            kept.append(job)
            continue
        fastest, _slowest, memory = mine
        for other in jobs:
            theirs = summaries[other.index]
            if (
                other is job
                or theirs is None
                or other.device.id != job.device.id
                or other.variant.remeasured_only
            ):
                continue
            one_round = min(len(rounds[job.index]), len(rounds[other.index])) < 2
            margin = ONE_ROUND_MARGIN if one_round else MARGIN
            if (
                theirs[1] * (1 + margin) < fastest
                and theirs[2] <= memory
                and needs[other.index] <= needs[job.index]
            ):
                stopped[job.index] = (
                    f"after {len(rounds[job.index])} round(s): {other.label} is clearly faster "
                    f"(slowest round {theirs[1]:.3g} ms against this one's fastest {fastest:.3g} ms) "
                    "with no more memory and no more accelerators"
                )
                break
        else:
            kept.append(job)
    return kept, stopped
