"""Which rounds of a baseline and a candidate were measured side by side, and how they pair.

The gate's paired mode (issue 29) compares the baseline's primary measured
again in this session, on the same device, interleaved round by round with
the candidate (A B B A ...), as Chromium Pinpoint and Netflix Kayenta do: the
device's state of the day is shared by both sides and cancels in each pair.
Across sessions it cannot cancel, so that mode carries a between-session
variance instead (gate/stats.py).

**The contract between ``ship --baseline`` / ``gate --remeasure`` (which
measure) and the gate (which decides)**, all in the current run's
results.json:

1. *The re-measured baseline* is an ordinary :class:`~edgeops.models.Measurement`
   of the baseline's primary variant file, with ``remeasured_from`` set to
   the baseline's ``run_id``.

   - ``variant_id``: the baseline's variant id for that file (the id in the
     baseline's results.json). When the file is byte-identical (same sha256)
     to a variant of the current run, it is measured once, as that current
     variant: its own measurement carries ``remeasured_from`` and serves as
     both. If that variant is the candidate's primary, the comparison is the
     measurement against itself: pass, difference 0.
   - ``profile_id``: the profile whose primary it was in the baseline.
   - ``compute_unit``: the baseline primary choice's compute unit.
   - ``device_id``: the device that measured the candidate's primary for
     that profile; a re-measure on another device is not paired.
   - the file was verified against the baseline's sha256 before use (the
     measuring side's job; the gate trusts the marker).

2. *Round ids.* Every Measurement may carry ``round_ids`` (a tuple in Python,
   a JSON list), one per round in the order of ``round_sizes``: the round's
   global index in this session's interleaving on that device (0, 1, 2, ...
   counted over every variant measured there, so A B B A gives A rounds 0
   and 3, B rounds 1 and 2). ``None`` (results written before, or imported
   logs) means unknown.

3. *Pairs.* Baseline and candidate rounds on the same device and run pair
   by nearest round id, each round used once, closest first
   (:func:`pair_rounds`); without round ids on both, the i-th baseline round
   pairs with the i-th candidate round (they were measured in alternation).
   Unpaired rounds are left out. Pairs are ordered by time (the later id of
   the two), so a gate replays the looks a sequential loop made.

4. *More rounds.* ``compare.undecided_comparisons`` names each undecided
   comparison by the current's measurement; in paired mode its
   ``paired_baseline`` is the re-measured baseline's (variant_id, device_id,
   compute_unit), and ``more_rounds`` is the pairs the next look needs: a
   re-measure loop measures that many rounds of both, in alternation, and
   gives them round ids.

The gate then runs a one-sample sequential t on the per-pair log
differences, log(candidate round median / baseline round median), with the
same group-sequential design as across sessions (stats.paired_sequential_test).
Where a run holds a re-measured baseline on the current's device, the gate
uses it (``compare.gate``, and ``compare.paired_in_run`` for a run alone);
otherwise it compares the stored rounds across sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeops.models import Measurement, Results, Variant
from edgeops.round_stats import log_round_medians


@dataclass(frozen=True)
class PairedRounds:
    """Log round medians of two measurements, pair by pair, in the order measured."""

    baseline_logs: np.ndarray
    current_logs: np.ndarray
    by_round_ids: bool  # paired by round ids (True) or by order (False)

    @property
    def differences(self) -> np.ndarray:
        """log(current round / baseline round), per pair."""
        return self.current_logs - self.baseline_logs

    def __len__(self) -> int:
        return len(self.baseline_logs)


def pair_rounds(base: Measurement, cur: Measurement) -> PairedRounds:
    """The rounds of ``base`` and ``cur`` measured next to each other (rule 3 above)."""
    b, c = log_round_medians(base), log_round_medians(cur)
    if same_rounds(base, cur):
        return PairedRounds(b, c, by_round_ids=base.round_ids is not None)
    b_ids, c_ids = _ids(base, len(b)), _ids(cur, len(c))
    if b_ids is None or c_ids is None:
        n = min(len(b), len(c))
        return PairedRounds(b[:n], c[:n], by_round_ids=False)
    # Closest first: every pair is as near in time as the interleaving allows,
    # and ties go to the earlier rounds (a stable sort on id distance).
    candidates = sorted(
        (
            (abs(bi - ci), max(bi, ci), i, j)
            for i, bi in enumerate(b_ids)
            for j, ci in enumerate(c_ids)
        ),
    )
    used_b: set[int] = set()
    used_c: set[int] = set()
    pairs: list[tuple[int, int, int]] = []
    for _, later, i, j in candidates:
        if i in used_b or j in used_c:
            continue
        used_b.add(i)
        used_c.add(j)
        pairs.append((later, i, j))
    pairs.sort()
    bi = np.array([i for _, i, _ in pairs], dtype=int)
    ci = np.array([j for _, _, j in pairs], dtype=int)
    return PairedRounds(b[bi], c[ci], by_round_ids=True)


def remeasured_baseline(baseline: Results, current: Results, profile_id: str) -> Measurement | None:
    """The current run's measurement of the baseline's primary for ``profile_id`` (rule 1), or None.

    Only an ``ok`` measurement marked ``remeasured_from`` the baseline's run
    whose file has the baseline primary's sha256 (or, without hashes, the
    baseline primary's variant id) and compute unit counts.
    """
    plan = next((p for p in baseline.plans if p.profile_id == profile_id), None)
    if plan is None or plan.status != "supported" or not plan.choices:
        return None
    choice = plan.choices[0]
    base_variant = _variant(baseline, choice.variant_id)
    for m in current.measurements:
        if (
            m.remeasured_from != baseline.run_id
            or m.profile_id != profile_id
            or m.compute_unit != choice.compute_unit
            or m.status != "ok"
        ):
            continue
        if m.variant_id == choice.variant_id:
            return m
        file = _variant(current, m.variant_id)
        if file is not None and base_variant is not None and _same_file(file, base_variant):
            return m
    return None


def _same_file(a: Variant, b: Variant) -> bool:
    return a.sha256 is not None and a.sha256 == b.sha256


def _variant(results: Results, variant_id: str) -> Variant | None:
    return next((v for v in results.variants if v.id == variant_id), None)


def _ids(m: Measurement, rounds: int) -> list[int] | None:
    if m.round_ids is None or len(m.round_ids) != rounds:
        return None  # unknown, or not one per round: pairing by order is the safe reading
    return list(m.round_ids)


def same_rounds(a: Measurement, b: Measurement) -> bool:
    """The same observations: one measurement, or the same rounds on the same device at one time."""
    return a is b or (
        a.device_id == b.device_id
        and a.samples_ms == b.samples_ms
        and a.round_sizes == b.round_sizes
        and a.measured_at == b.measured_at
    )
