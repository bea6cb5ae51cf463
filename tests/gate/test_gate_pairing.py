"""Pairing a re-measured baseline's rounds with the candidate's (edgeops/gate/pairing.py)."""

from __future__ import annotations

import math

import numpy as np

from edgeops.gate.pairing import pair_rounds
from edgeops.models import Measurement


def rounds_of(medians_ms: list[float], round_ids: tuple[int, ...] | None = None) -> Measurement:
    """One sample per round: each round's median is the value given."""
    return Measurement(
        variant_id="v",
        device_id="d",
        profile_id="p",
        compute_unit="cpu",
        status="ok",
        samples_ms=tuple(medians_ms),
        rounds=len(medians_ms),
        round_sizes=(1,) * len(medians_ms),
        round_ids=round_ids,
    )


def test_without_round_ids_the_ith_rounds_pair_and_extra_rounds_are_left_out() -> None:
    pairs = pair_rounds(rounds_of([1.0, 2.0, 3.0]), rounds_of([1.1, 2.2, 3.3, 9.9]))
    assert not pairs.by_round_ids
    assert len(pairs) == 3
    assert np.allclose(pairs.differences, math.log(1.1))


def test_round_ids_pair_nearest_neighbours_in_time_order() -> None:
    # A B B A A B: baseline rounds at 0, 3, 4; candidate rounds at 1, 2, 5.
    base = rounds_of([1.0, 2.0, 4.0], round_ids=(0, 3, 4))
    cur = rounds_of([1.0 * 1.05, 2.0 * 1.05, 4.0 * 1.05], round_ids=(1, 2, 5))
    pairs = pair_rounds(base, cur)
    assert pairs.by_round_ids
    # 0-1, 3-2, 4-5: each within one slot, and each the same device moment ×1.05.
    assert np.allclose(pairs.differences, math.log(1.05))
    assert np.allclose(np.exp(pairs.baseline_logs), [1.0, 2.0, 4.0])


def test_round_ids_not_one_per_round_fall_back_to_order() -> None:
    pairs = pair_rounds(
        rounds_of([1.0, 2.0], round_ids=(0,)), rounds_of([1.0, 2.0], round_ids=(1, 2))
    )
    assert not pairs.by_round_ids
    assert np.allclose(pairs.differences, 0.0)
