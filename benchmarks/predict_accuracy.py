"""Held-out accuracy of edgeops' latency predictor against published measurements.

Reads ``plugins/edgeops_predict/data/published.csv`` (every figure with its source),
predicts the held-out rows (other networks, other devices) with the constants fitted on
the training rows (``data/fitted.json``; ``--refit`` fits them again first), and prints
per engine family: the share within ±10% and ±25%, the 90% interval's coverage, the
rank agreement between recipes of one network (share of concordant pairs), and the same
after adaptation (each figure corrected from the other measured figures of its group).

    python3 benchmarks/predict_accuracy.py [--refit] [--rows] [--training]
"""

from __future__ import annotations

import argparse
import math

from edgeops_predict import accuracy, calibrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refit", action="store_true", help="fit data/fitted.json again first")
    parser.add_argument("--rows", action="store_true", help="print every held-out row too")
    parser.add_argument(
        "--training", action="store_true", help="score the training figures instead (in-sample)"
    )
    args = parser.parse_args()
    if args.refit:
        calibrate.write_fitted()
    scored = accuracy.score(held_out=not args.training)
    if args.rows:
        for s in scored:
            r = s.row
            print(
                f"{r.device:12s} {r.compute_unit:6s} {r.model:22s} {r.recipe:16s} "
                f"published {r.latency_ms:7.2f}  predicted {s.predicted_ms:7.2f}  {s.error:+.0%}"
            )
        print()
    print(
        "| engine | figures | within ±10% | within ±25% | 90% interval covers "
        "| recipe pairs | rank agreement | adapted ±10% | adapted ±25% | adapted coverage "
        "| interval width before → after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for line in accuracy.table(scored):
        print(
            f"| {line['family']} | {line['n']} | {_pct(line['within_10'])} "
            f"| {_pct(line['within_25'])} | {_pct(line['coverage_90'])} | {line['rank_pairs']} "
            f"| {_num(line['rank_agreement'])} | {_pct(line['adapted_within_10'])} "
            f"| {_pct(line['adapted_within_25'])} | {_pct(line['adapted_coverage_90'])} "
            f"| ±{_pct(line['width_before'] / 2)} → ±{_pct(line['width_after'] / 2)} |"
        )


def _pct(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.0%}"


def _num(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.2f}"


if __name__ == "__main__":
    main()
