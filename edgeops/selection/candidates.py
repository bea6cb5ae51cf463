"""What selection chooses from: a variant measured on one compute unit, with what
an app must have to use it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgeops.models import ComputeUnit, Measurement, Variant
from edgeops.round_stats import RoundInterval


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
class Candidate:
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
