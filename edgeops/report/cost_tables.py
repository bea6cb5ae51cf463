"""What each measured variant costs and keeps, beyond latency: the figures teams compare.

Per profile, one row per variant and compute unit: work (MACs), the quality
metrics besides the ranking one (SSIM, PSNR, accuracy against labels, further
floors), the CPU share of the timed loop, unpaced throughput, achieved fps at
each camera rate, and the cold and warm load. A figure the measurement lacks
(an imported log without CPU usage, a transport without a cold load) is blank.
"""

from __future__ import annotations

from edgeops.models import Measurement, Results, Variant

# Shown when computed: perceptual and ground-truth metrics a team optimises for.
EXTRA_METRICS = ("ssim", "psnr_db", "top1_accuracy", "miou_labels")


def cost_columns(results: Results) -> list[str]:
    rates = _rates(results)
    return [
        "variant", "unit", "MACs", *_metric_names(results), "CPU % of 1 core",
        "CPU % of all", "fps", *(f"fps @{r:g}" for r in rates), "load ms (cold)", "load ms (warm)",
    ]  # fmt: skip


def cost_rows(results: Results, profile_id: str) -> list[list[str]]:
    names, rates = _metric_names(results), _rates(results)
    rows = []
    for m in results.measurements:
        if m.profile_id != profile_id or m.status != "ok":
            continue
        variant = _variant(results, m.variant_id)
        if variant is None:
            continue
        metrics = variant.quality.metrics if variant.quality else {}
        paced = {p.target_fps: p for p in m.paced}
        rows.append(
            [
                variant.name,
                m.compute_unit,
                _macs(variant.macs),
                *(_num(metrics.get(n), 4) for n in names),
                _num(m.cpu.percent_of_one_core if m.cpu else None, 0),
                _num(m.cpu.percent_of_all_cores if m.cpu else None, 0),
                _num(m.throughput_fps, 1),
                *(_paced_cell(paced.get(r)) for r in rates),
                _num(m.load_ms, 1),
                _num(m.warm_load_ms, 1),
            ]
        )
    return rows


def reference_line(results: Results) -> str | None:
    """The reference model's own accuracy against labels: what a variant's loss is measured from."""
    if results.reference is None or not results.reference.label_metrics:
        return None
    figures = ", ".join(f"{k} {v:.4f}" for k, v in results.reference.label_metrics.items())
    return f"Reference ({results.reference.framework}) against the labels: {figures}"


def _metric_names(results: Results) -> list[str]:
    spec = results.spec.quality
    wanted = [f.metric for f in spec.floors] + [m for m in EXTRA_METRICS if m != spec.metric]
    present = {k for v in results.variants if v.quality for k in v.quality.metrics}
    return [m for m in dict.fromkeys(wanted) if m in present and m != spec.metric]


def _rates(results: Results) -> list[float]:
    return sorted({p.target_fps for m in results.measurements for p in m.paced})


def _paced_cell(run: object) -> str:
    from edgeops.models import PacedRun

    if not isinstance(run, PacedRun):
        return ""
    late = f", {run.dropped_frames} dropped" if run.dropped_frames else ""
    return f"{run.achieved_fps:.1f}{late}"


def _variant(results: Results, variant_id: str) -> Variant | None:
    try:
        return results.variant(variant_id)
    except KeyError:
        return None


def _macs(macs: int | None) -> str:
    if macs is None:
        return ""
    return f"{macs / 1e9:.2f} G" if macs >= 1e8 else f"{macs / 1e6:.2f} M"


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def has_costs(results: Results, profile_id: str) -> bool:
    return any(_has_cost(m) for m in results.measurements if m.profile_id == profile_id)


def _has_cost(m: Measurement) -> bool:
    return m.status == "ok" and (m.cpu is not None or bool(m.paced) or m.warm_load_ms is not None)
