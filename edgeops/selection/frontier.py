"""The Pareto frontier of p50 x size x quality, with the chosen point marked (the
Pareto selection of Microsoft Olive's engine footprints)."""

from __future__ import annotations

import math

from edgeops.models import FrontierPoint, SelectionPolicy
from edgeops.selection.candidates import Candidate
from edgeops.selection.ties import quality_score


def frontier(
    candidates: list[Candidate], chosen: Candidate, policy: SelectionPolicy
) -> tuple[FrontierPoint, ...]:
    """Candidates no other is at least as good as on p50, size and quality, and better on one."""

    def scores(c: Candidate) -> tuple[float, float, float]:
        q = quality_score(c, policy)
        return (c.p50_ms, float(c.size), -(q if q is not None else -math.inf))

    def dominated(c: Candidate) -> bool:
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
