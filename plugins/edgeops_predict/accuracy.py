"""Held-out accuracy of the fitted predictor: the figures ``benchmarks/predict_accuracy.py`` prints."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from .calibrate import Row, is_held_out, load_rows, predict_row
from .platforms import DATA


@dataclass(frozen=True)
class Scored:
    row: Row
    predicted_ms: float
    q_log: float
    adapted_ms: float | None
    q_log_adapted: float | None

    @property
    def error(self) -> float:
        return self.predicted_ms / self.row.latency_ms - 1

    @property
    def covered(self) -> bool:
        return abs(math.log(self.predicted_ms / self.row.latency_ms)) <= self.q_log

    @property
    def adapted_error(self) -> float | None:
        return None if self.adapted_ms is None else self.adapted_ms / self.row.latency_ms - 1

    @property
    def adapted_covered(self) -> bool | None:
        if self.adapted_ms is None or self.q_log_adapted is None:
            return None
        return abs(math.log(self.adapted_ms / self.row.latency_ms)) <= self.q_log_adapted


def load_fitted() -> dict[str, Any]:
    return json.loads((DATA / "fitted.json").read_text())


def score(fitted: dict[str, Any] | None = None, held_out: bool = True) -> list[Scored]:
    """Every held-out figure (or, with ``held_out=False``, every training one: in-sample)."""
    fitted = fitted or load_fitted()
    rows = [r for r in load_rows() if is_held_out(r.device, r.model, r.compute_unit) == held_out]
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[f"{r.group}:{r.kernels}"].append(r)
    out = []
    for members in groups.values():
        fam = fitted["families"][members[0].engine.family]
        preds = [predict_row(r, fam["params"]) for r in members]
        logr = [math.log(r.latency_ms / p) for r, p in zip(members, preds, strict=True)]
        for i, (r, p) in enumerate(zip(members, preds, strict=True)):
            others = logr[:i] + logr[i + 1 :]
            adapted = p * math.exp(sum(others) / len(others)) if others else None
            out.append(
                Scored(r, p, fam["q_log"], adapted, fam.get("q_log_adapted") if others else None)
            )
    return out


def share(values: list[bool]) -> float:
    return sum(values) / len(values) if values else math.nan


def rank_agreement(scored: list[Scored]) -> tuple[float, int]:
    """Share of concordant pairs among recipes of one network on one device and compute unit.

    Pairs whose published figures are equal carry no order and are skipped; a predicted
    tie against a published order counts as half.
    """
    groups: dict[tuple[str, str, str], list[Scored]] = defaultdict(list)
    for s in scored:
        groups[(s.row.model, s.row.device, s.row.compute_unit)].append(s)
    concordant, pairs = 0.0, 0
    for members in groups.values():
        for a, b in combinations(members, 2):
            dp = a.row.latency_ms - b.row.latency_ms
            if dp == 0:
                continue
            dq = a.predicted_ms - b.predicted_ms
            pairs += 1
            concordant += 1.0 if dp * dq > 0 else (0.5 if dq == 0 else 0.0)
    return (concordant / pairs if pairs else math.nan), pairs


def engine_label(s: Scored) -> str:
    """The engine family, with XNNPACK apart from the built-in CPU kernels it is not fitted on."""
    return "cpu-xnnpack" if s.row.compute_unit == "xnnpack" else s.row.engine.family


def table(scored: list[Scored]) -> list[dict[str, Any]]:
    lines = []
    families = sorted({engine_label(s) for s in scored})
    for fam in [*families, "all", "all but XNNPACK"]:
        if fam == "all":
            mine = scored
        elif fam == "all but XNNPACK":  # the engines whose predictions state a coverage
            mine = [s for s in scored if engine_label(s) != "cpu-xnnpack"]
        else:
            mine = [s for s in scored if engine_label(s) == fam]
        adapted = [s for s in mine if s.adapted_ms is not None]
        ranks, pairs = rank_agreement(mine)
        lines.append(
            {
                "family": fam,
                "n": len(mine),
                "within_10": share([abs(s.error) <= 0.10 for s in mine]),
                "within_25": share([abs(s.error) <= 0.25 for s in mine]),
                "coverage_90": share([s.covered for s in mine]),
                "rank_pairs": pairs,
                "rank_agreement": ranks,
                "adapted_within_10": share([abs(s.adapted_error or 0) <= 0.10 for s in adapted]),
                "adapted_within_25": share([abs(s.adapted_error or 0) <= 0.25 for s in adapted]),
                "adapted_coverage_90": share([bool(s.adapted_covered) for s in adapted]),
                "width_before": _mean_width([s.q_log for s in mine]),
                "width_after": _mean_width([s.q_log_adapted for s in adapted if s.q_log_adapted]),
            }
        )
    return lines


def _mean_width(qs: list[float]) -> float:
    """Mean interval width as a share of p50: exp(q) - exp(-q)."""
    if not qs:
        return math.nan
    return sum(math.exp(q) - math.exp(-q) for q in qs) / len(qs)
