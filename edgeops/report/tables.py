"""Results as tables: rich for the terminal, Markdown for the bundle's report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgeops.models import Measurement, Plan, Results, Variant
from edgeops.quality import floors_text
from edgeops.report.cost_tables import cost_columns, cost_rows, has_costs, reference_line
from edgeops.report.kept_float import kept_float_lines
from edgeops.round_stats import p50_interval

if TYPE_CHECKING:
    from rich.table import Table

COLUMNS = (
    "variant",
    "unit",
    "size",
    "quality",
    "p50 ms [95%]",
    "p90 ms",
    "peak MB",
    "status",
    "chosen",
)


@dataclass(frozen=True)
class Row:
    cells: tuple[str, ...]
    chosen: bool


def profile_rows(results: Results, plan: Plan) -> list[Row]:
    metric = results.spec.quality.metric
    rank = {(c.variant_id, c.compute_unit): i for i, c in enumerate(plan.choices)}
    rejected = {(r.variant_id, r.compute_unit): r for r in plan.rejected}
    rows = []
    measured = [m for m in results.measurements if m.profile_id == plan.profile_id]
    seen = set()
    for m in sorted(measured, key=lambda m: (m.p50_ms is None, m.p50_ms or 0.0)):
        variant = _variant(results, m.variant_id)
        if variant is None:
            continue
        seen.add(variant.id)
        key = (m.variant_id, m.compute_unit)
        if key in rank:
            chosen = "primary" if rank[key] == 0 else f"fallback {rank[key]}"
        elif key in rejected:
            chosen = "no: " + "; ".join(rejected[key].reasons)
        else:
            chosen = ""
        if any(
            p.variant_id == m.variant_id and p.compute_unit == m.compute_unit for p in plan.frontier
        ):
            chosen += " (frontier)" if chosen else "frontier"
        rows.append(Row(_cells(variant, m, metric, chosen), key in rank))
    for variant in results.variants:
        if variant.id not in seen and variant.status != "ok":
            rows.append(Row(_cells(variant, None, metric, f"no: {variant.error}"), False))
    return rows


def _cells(variant: Variant, m: Measurement | None, metric: str, chosen: str) -> tuple[str, ...]:
    quality = variant.quality.metrics.get(metric) if variant.quality else None
    status: str = m.status if m else variant.status
    if m is not None and m.method == "predicted":
        status += " (predicted)"
        if m.p50_interval is not None:
            i = m.p50_interval
            cover = f"{i.coverage:.0%}" if i.coverage is not None else "uncalibrated"
            status += f" p50 {i.low_ms:.3g}–{i.high_ms:.3g} ms ({cover})"
    return (
        variant.name,
        m.compute_unit if m else "",
        _size(variant.size_bytes),
        f"{metric} {quality:.4f}" if quality is not None else "",
        _p50(m),
        _num(m.p90_ms if m else None),
        _num(m.peak_mem_mb if m else None, 1),
        status,
        chosen,
    )


def _p50(m: Measurement | None) -> str:
    """The p50 over rounds with its 95% interval, where there are rounds to give one."""
    if m is None or m.status != "ok":
        return ""
    interval = p50_interval(m) if m.method == "measured" else None
    if interval is None or interval.rounds < 2:
        return _num(m.p50_ms)
    return f"{interval.value:.3f} [{interval.low:.3f}, {interval.high:.3f}]"


def _variant(results: Results, variant_id: str) -> Variant | None:
    try:
        return results.variant(variant_id)
    except KeyError:
        return None


def _size(size: int | None) -> str:
    if size is None:
        return ""
    return f"{size / 1e6:.2f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _plan_caption(plan: Plan) -> str:
    if plan.status == "supported":
        decision = f"; {plan.decision_note}" if plan.decision_note else ""
        baseline = f"; {plan.baseline_note}" if plan.baseline_note else ""
        # What the decision cost on the device: every round's probe process, summed.
        cost = f", {plan.device_time_s:.1f} s of device time" if plan.device_time_s else ""
        return f"{plan.profile_id}: supported ({plan.method}){cost}{decision}{baseline}"
    miss = plan.nearest_miss
    near = f"; nearest miss {miss.variant_name}: {'; '.join(miss.reasons)}" if miss else ""
    return f"{plan.profile_id}: {plan.status}{near}"


def sizes_by_format(results: Results) -> dict[str, dict[str, int]]:
    """Size of every built variant, per format then recipe: how the formats compare."""
    table: dict[str, dict[str, int]] = {}
    for v in results.variants:
        if v.status == "ok" and v.size_bytes is not None and v.recipe is not None:
            table.setdefault(v.format, {})[v.recipe.name] = v.size_bytes
    return table


def _size_rows(results: Results) -> tuple[list[str], list[list[str]]]:
    sizes = sizes_by_format(results)
    recipes = list(dict.fromkeys(r for per in sizes.values() for r in per))
    rows = [[recipe, *(_size(sizes[f].get(recipe)) for f in sizes)] for recipe in recipes]
    return list(sizes), rows


def rich_tables(results: Results) -> list[Table]:
    from rich.markup import escape
    from rich.table import Table

    # Names come from configs, plugins and results files: "[/x]" in one must print
    # as written, not be read as rich markup (a closing tag with no opening crashed).
    tables = []
    for plan in results.plans:
        table = Table(title=escape(_plan_caption(plan)), title_justify="left")
        for name in COLUMNS:
            table.add_column(
                name,
                overflow="fold",
                justify="right" if name.endswith(("ms", "MB", "size")) else "left",
            )
        for row in profile_rows(results, plan):
            table.add_row(*map(escape, row.cells), style="bold green" if row.chosen else None)
        tables.append(table)
        if has_costs(results, plan.profile_id):
            costs = Table(title=f"{plan.profile_id}: cost per variant", title_justify="left")
            for name in cost_columns(results):
                costs.add_column(name, justify="left" if name in ("variant", "unit") else "right")
            for cells in cost_rows(results, plan.profile_id):
                costs.add_row(*cells)
            tables.append(costs)
    formats, rows = _size_rows(results)
    if formats:
        sizes = Table(title="size by format", title_justify="left")
        sizes.add_column("recipe")
        for f in formats:
            sizes.add_column(escape(f), justify="right")
        for cells in rows:
            sizes.add_row(*map(escape, cells))
        tables.append(sizes)
    return tables


def _predicted_note(plan: Plan) -> list[str]:
    if plan.method != "predicted":
        return []
    return [
        "**Predicted, not measured**: no device of this profile was attached. Its p50 figures "
        "are model predictions, each with the interval it lies in (and that interval's coverage "
        "where published measurements calibrate it); the gate never passes on them.",
        "",
    ]


def markdown_report(results: Results) -> str:
    spec = results.spec
    lines = [
        f"# {spec.name} {spec.version}",
        "",
        f"Run `{results.run_id}` at {results.created_at:%Y-%m-%d %H:%M:%S} UTC, edgeops {results.edgeops_version}.",
        f"Quality floor: {floors_text(spec.quality)}, on "
        + (
            f"{results.samples.count} {'SYNTHETIC (random) ' if results.samples.synthetic else ''}samples "
            f"from {results.samples.origin}"
            if results.samples
            else "no samples"
        )
        + f", against the {results.reference.framework if results.reference else '?'} reference.",
        "",
    ]
    if (line := reference_line(results)) is not None:
        lines += [line + ".", ""]
    formats, size_rows = _size_rows(results)
    if formats:
        lines += ["## Size by format", "", "| recipe | " + " | ".join(formats) + " |"]
        lines += [
            "|---|" + "---|" * len(formats),
            *("| " + " | ".join(r) + " |" for r in size_rows),
            "",
        ]
    for plan in results.plans:
        lines += [
            f"## {_plan_caption(plan)}",
            "",
            *_predicted_note(plan),
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "---|" * len(COLUMNS),
        ]
        for row in profile_rows(results, plan):
            lines.append("| " + " | ".join(c.replace("|", "/") for c in row.cells) + " |")
        lines.append("")
        if has_costs(results, plan.profile_id):
            columns = cost_columns(results)
            lines += [
                f"### {plan.profile_id}: cost per variant",
                "",
                "| " + " | ".join(columns) + " |",
                "|" + "---|" * len(columns),
                *("| " + " | ".join(cells) + " |" for cells in cost_rows(results, plan.profile_id)),
                "",
            ]
    lines += kept_float_lines(results)
    fates = fate_rows(results)
    if fates:
        lines += [
            "## Every variant's fate",
            "",
            "How far each variant got and why it stopped: built or failed, ruled out on the "
            "host before any device time, stopped early on a device, or measured in full.",
            "",
            "| variant | fate |",
            "|---|---|",
            *(f"| {name} | {fate.replace('|', '/')} |" for name, fate in fates),
            "",
        ]
    return "\n".join(lines)


def fate_rows(results: Results) -> list[tuple[str, str]]:
    """Per variant, in words: failed, ruled out (per profile), stopped early, or measured."""
    rows = []
    for v in results.variants:
        if v.status != "ok":
            rows.append((v.name, f"failed: {v.error}"))
            continue
        parts = [f"ruled out for {pid}: {why}" for pid, why in sorted(v.pruned.items())]
        for m in results.measurements:
            if m.variant_id != v.id or m.method != "measured":
                continue
            stopped = m.environment.get("stopped_early")
            where = f"{m.profile_id} {m.compute_unit}"
            if m.status != "ok":
                parts.append(f"{where}: {m.status} ({m.error})")
            elif stopped:
                parts.append(f"{where}: stopped {stopped}")
            else:
                parts.append(f"{where}: measured, {m.rounds} round(s)")
        rows.append((v.name, "; ".join(parts) or "built; not measured (no device, predicted)"))
    return rows
