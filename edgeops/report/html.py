"""``report.html``: one self-contained file per bundle, plots and sample gallery inline.

Charts are plotly.js, which the plotly Python package ships whole
(``plotly.offline.get_plotlyjs()``): the report embeds it once in a
``<script>`` and each figure as inline JSON, so the file opens from disk with no
network. Plotly was chosen over Vega-Lite because its Python package carries the
JavaScript itself (Vega-Lite's Python side, altair, needs vl-convert or a CDN
to inline it) and because box plots and asymmetric error bars, which this report
needs, are built in. The cost is about 4.8 MB of JavaScript per report.

Gallery PNGs are embedded as ``data:`` URIs, so the file stands alone too.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from edgeops.cli.tables import sizes_by_format
from edgeops.models import Measurement, Placement, Plan, Results, SelectionPolicy, Variant
from edgeops.placement import fell_back, is_cpu
from edgeops.report.gallery import DIFF_FULL_SCALE, Gallery
from edgeops.report.kept_float import kept_summary

REPORT_FILE = "report.html"


@dataclass
class Row:
    """One measured (variant, compute unit) of a profile, with what the plan did with it."""

    variant: Variant
    m: Measurement
    role: str  # primary, fallback N, rejected, candidate
    reasons: tuple[str, ...] = ()
    interval: tuple[float, float] | None = None
    quality: float | None = None

    @property
    def size_mb(self) -> float:
        return (self.variant.size_bytes or 0) / 1e6

    @property
    def p50_ms(self) -> float:
        return self.m.p50_ms if self.m.p50_ms is not None else float("nan")

    @property
    def label(self) -> str:
        return f"{self.variant.name} [{self.m.compute_unit}]"


@dataclass
class ProfileView:
    plan: Plan
    name: str
    rows: list[Row]
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    compute_units: list[str] = field(default_factory=list)
    memory_limit_mb: float | None = None
    # The primary against the baseline's, re-measured beside it (ship --baseline).
    against_baseline: str | None = None


def profile_rows(results: Results, plan: Plan) -> list[Row]:
    from edgeops.gate.compare import measurement_rounds
    from edgeops.gate.stats import median_interval

    metric = results.spec.quality.metric
    rank = {(c.variant_id, c.compute_unit): i for i, c in enumerate(plan.choices)}
    rejected = {(r.variant_id, r.compute_unit): r.reasons for r in plan.rejected}
    rows = []
    for m in results.measurements:
        if m.profile_id != plan.profile_id:
            continue
        try:
            variant = results.variant(m.variant_id)
        except KeyError:
            continue
        key = (m.variant_id, m.compute_unit)
        if key in rank:
            role = "primary" if rank[key] == 0 else f"fallback {rank[key]}"
        elif key in rejected or (m.variant_id, None) in rejected:
            role = "rejected"
        else:
            role = "candidate"
        interval = None
        if m.status == "ok" and len(m.samples_ms) >= 2 and min(m.samples_ms) > 0:
            interval = median_interval(measurement_rounds(m))
        quality = variant.quality.metrics.get(metric) if variant.quality else None
        rows.append(
            Row(
                variant,
                m,
                role,
                rejected.get(key, rejected.get((m.variant_id, None), ())),
                interval,
                quality,
            )
        )
    rows.sort(key=lambda r: (r.m.p50_ms is None, r.m.p50_ms or 0.0))
    return rows


# --------------------------------------------------------------------------- figures

ROLE_MARKERS = {
    "primary": ("star", 20),
    "fallback": ("diamond", 14),
    "candidate": ("circle", 11),
    "rejected": ("x", 11),
}


def _role_group(role: str) -> str:
    return "fallback" if role.startswith("fallback") else role


def pareto_figure(view: ProfileView, metric: str) -> dict[str, Any]:
    """p50 (with its 95% interval) against size, coloured by quality; plan roles as symbols."""
    rows = [r for r in view.rows if r.m.p50_ms is not None and r.variant.size_bytes]
    qualities = [r.quality for r in rows if r.quality is not None]
    traces: list[dict[str, Any]] = []
    scale = {"cmin": min(qualities), "cmax": max(qualities)} if qualities else {}
    for group, (symbol, size) in ROLE_MARKERS.items():
        members = [r for r in rows if _role_group(r.role) == group]
        if not members:
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": group,
                "x": [r.size_mb for r in members],
                "y": [r.p50_ms for r in members],
                "text": [_hover(r, metric) for r in members],
                "hovertemplate": "%{text}<extra></extra>",
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [r.interval[1] - r.p50_ms if r.interval else 0 for r in members],
                    "arrayminus": [r.p50_ms - r.interval[0] if r.interval else 0 for r in members],
                    "thickness": 1.2,
                    # Else it takes the marker's colour, here quality numbers, not colours.
                    "color": "#444",
                },
                "marker": {
                    "symbol": symbol,
                    "size": size,
                    "color": [r.quality for r in members],
                    "colorscale": "Viridis",
                    **scale,
                    # One colour bar for all the roles' traces.
                    "showscale": not traces,
                    "colorbar": {"title": {"text": metric}},
                    "line": {"width": 1, "color": "#222"},
                },
            }
        )
    front = pareto_front([(r.size_mb, r.p50_ms) for r in rows if r.m.status == "ok"])
    if len(front) > 1:
        traces.insert(
            0,
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Pareto front",
                "x": [p[0] for p in front],
                "y": [p[1] for p in front],
                "line": {"dash": "dot", "color": "#888", "shape": "hv"},
                "hoverinfo": "skip",
            },
        )
    layout = {
        "title": {"text": f"{html.escape(view.name)}: p50 latency against size"},
        "xaxis": {"title": {"text": "file size (MB)"}},
        "yaxis": {"title": {"text": "p50 latency (ms), 95% interval"}},
        "legend": {"orientation": "h", "y": -0.2},
        "margin": {"t": 50},
    }
    return {"data": traces, "layout": layout}


def pareto_front(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both size and latency, by size."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points):
        if not front or y < front[-1][1]:
            front.append((x, y))
    return front


def latency_figure(view: ProfileView) -> dict[str, Any]:
    """Box plots of the raw per-round samples: every timed run of every fresh process."""
    traces = [
        {
            "type": "box",
            "name": r.label,
            "y": list(r.m.samples_ms),
            "boxpoints": "outliers",
            "marker": {"size": 3},
        }
        for r in view.rows
        if r.m.samples_ms
    ]
    layout = {
        "title": {"text": f"{html.escape(view.name)}: latency distribution (raw samples)"},
        "yaxis": {"title": {"text": "latency (ms)"}},
        "showlegend": False,
        "margin": {"t": 50, "b": 120},
    }
    return {"data": traces, "layout": layout}


def memory_figure(view: ProfileView) -> dict[str, Any]:
    rows = [r for r in view.rows if r.m.peak_mem is not None]
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": "peak over baseline (MB)",
            "x": [r.label for r in rows],
            "y": [r.m.peak_mem_mb for r in rows],
        },
        {
            "type": "bar",
            "name": "raw peak (MB)",
            "x": [r.label for r in rows],
            "y": [r.m.peak_mem.raw_mb for r in rows],  # type: ignore[union-attr]
            "visible": "legendonly",
        },
    ]
    shapes = []
    tallest = max((r.m.peak_mem.raw_mb for r in rows), default=0.0)  # type: ignore[union-attr]
    limit_note = ""
    # A desktop's limit (gigabytes) would flatten every bar; it is then stated, not drawn.
    if view.memory_limit_mb is not None and view.memory_limit_mb > 3 * tallest:
        limit_note = f"; limit {view.memory_limit_mb:.0f} MB, off this scale"
    elif view.memory_limit_mb is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": view.memory_limit_mb,
                "y1": view.memory_limit_mb,
                "line": {"color": "#c00", "dash": "dash"},
            }
        )
    definition = rows[0].m.peak_mem.definition if rows else ""  # type: ignore[union-attr]
    layout = {
        "title": {"text": f"{html.escape(view.name)}: peak memory"},
        "yaxis": {"title": {"text": "MB"}},
        "shapes": shapes,
        "barmode": "group",
        "margin": {"t": 50, "b": 120},
        "annotations": [
            {
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": 1.08,
                "showarrow": False,
                "text": _short(definition, 110 - len(limit_note)) + limit_note,
                "font": {"size": 10},
            }
        ],
    }
    return {"data": traces, "layout": layout}


def _hover(row: Row, metric: str) -> str:
    """Hover text; plotly reads a few tags in it, so names from results are escaped."""
    parts = [
        f"<b>{html.escape(row.label)}</b> ({row.role})",
        f"p50 {row.m.p50_ms:.3f} ms" if row.m.p50_ms is not None else "",
        f"95% interval {row.interval[0]:.3f}–{row.interval[1]:.3f} ms" if row.interval else "",
        f"{metric} {row.quality:.4f}" if row.quality is not None else "",
        f"{row.variant.size_bytes / 1e6:.2f} MB" if row.variant.size_bytes else "",
        html.escape(kept_summary(row.variant)) if row.variant.kept_float else "",
        row.m.method,
    ]
    if row.reasons:
        parts.append("rejected: " + html.escape("; ".join(row.reasons)))
    return "<br>".join(p for p in parts if p)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# --------------------------------------------------------------------------- page


def environment_rows(results: Results) -> list[dict[str, Any]]:
    """Per device: what it is, its OS and runtimes as the probe read them, measured vs predicted."""
    rows = []
    by_device: dict[str, list[Measurement]] = {}
    for m in results.measurements:
        by_device.setdefault(m.device_id, []).append(m)
    devices = {d.id: d for d in results.devices}
    for device_id, ms in by_device.items():
        device = devices.get(device_id)
        envs = [m.environment for m in ms if m.environment]
        runtimes = sorted(
            {
                f"{e['runtime']} {e.get('runtime_version', '')}".strip()
                for e in envs
                if e.get("runtime")
            }
        )
        rows.append(
            {
                "device": device.name if device else device_id,
                "transport": device.transport if device else "",
                "profile": ms[0].profile_id,
                "os": ", ".join(sorted({str(e["os"]) for e in envs if e.get("os")})),
                "machine": ", ".join(sorted({str(e["machine"]) for e in envs if e.get("machine")})),
                "python": ", ".join(sorted({str(e["python"]) for e in envs if e.get("python")})),
                "runtimes": ", ".join(runtimes),
                "measured": sum(m.method == "measured" for m in ms),
                "predicted": sum(m.method == "predicted" for m in ms),
            }
        )
    return rows


def build_views(results: Results) -> list[ProfileView]:
    profiles = {p.id: p for p in results.profiles}
    metric = results.spec.quality.metric
    safety = results.policy.memory_safety_factor if results.policy else 0.5
    views = []
    for plan in results.plans:
        profile = profiles.get(plan.profile_id)
        view = ProfileView(
            plan=plan,
            name=profile.name if profile else plan.profile_id,
            rows=profile_rows(results, plan),
            compute_units=list(profile.compute_units) if profile else [],
            memory_limit_mb=profile.app_memory_limit_mb * safety
            if profile and profile.app_memory_limit_mb
            else None,
        )
        view.against_baseline = _against_baseline(results, plan.profile_id)
        view.figures = {
            "pareto": pareto_figure(view, metric),
            "latency": latency_figure(view),
            "memory": memory_figure(view),
        }
        views.append(view)
    return views


def _against_baseline(results: Results, profile_id: str) -> str | None:
    """``+1.2% [-0.4, +2.8] vs run R, paired, same session: PASS (...)``, or None without one."""
    from edgeops.gate.compare import paired_in_run
    from edgeops.gate.output import LABELS

    lat = paired_in_run(results, profile_id)
    if lat is None:
        return None
    run = next(
        m.remeasured_from
        for m in results.measurements
        if m.remeasured_from and m.profile_id == profile_id
    )
    return (
        f"latency {lat.change} against run {run}'s primary ({lat.mode}): "
        f"{LABELS[lat.verdict]}; {lat.detail}"
    )


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def render_report(
    results: Results, gallery: Gallery | None, bundle: Path, *, inline_js: bool = True
) -> str:
    """The whole page. ``bundle`` is where the gallery's PNGs are (they are inlined)."""
    import plotly.offline

    views = build_views(results)
    figures = {
        f"fig-{i}-{kind}": figure for i, v in enumerate(views) for kind, figure in v.figures.items()
    }
    images = {}
    if gallery is not None:
        for name in sorted(gallery.files()):
            images[name] = data_uri(bundle / name)
    sizes = sizes_by_format(results)
    recipes = list(dict.fromkeys(r for per in sizes.values() for r in per))
    env = _template_env()
    return env.get_template("report.html").render(
        results=results,
        spec=results.spec,
        views=views,
        figures_json=script_json(figures),
        plotly_js=plotly.offline.get_plotlyjs() if inline_js else "",
        gallery=gallery,
        images=images,
        sizes=sizes,
        recipes=recipes,
        environment=environment_rows(results),
        variant_names={v.id: v.name for v in results.variants},
        failed_variants=[v for v in results.variants if v.status != "ok"],
        fmt=_fmt,
        diff_full_scale=DIFF_FULL_SCALE,
        placement_bar=placement_bar_html,
        fell_back=lambda m: placement_verdict(results, m),
    )


def placement_bar(placement: Placement) -> list[tuple[str, float, str]]:
    """Segments of a placement bar: (unit, percent of the work, what it holds), by time
    where every unit has one, by nodes otherwise; empty when the graph size is unknown."""
    timed = all(u.time_ms is not None for u in placement.units)
    total = sum(u.time_ms or 0.0 for u in placement.units) if timed else placement.graph_nodes or 0
    if total <= 0:
        return []
    return [
        (
            u.unit,
            100.0 * ((u.time_ms or 0.0) if timed else u.nodes) / total,
            f"{u.unit}: {u.nodes} nodes" + (f", {u.time_ms:g} ms" if u.time_ms is not None else ""),
        )
        for u in placement.units
    ]


def placement_bar_html(placement: Placement) -> Markup:
    """The bar of ``placement_bar`` as HTML, for the report and the studio: a segment per
    unit, grey for the CPU (XNNPACK included) and for work no runtime named."""
    segments = "".join(
        f'<div title="{escape(title)}" style="width:{pct:.1f}%;background:'
        f'{"#bbb" if is_cpu(unit) or unit == "unknown" else "#4a7"}"></div>'
        for unit, pct, title in placement_bar(placement)
    )
    return Markup(
        '<div class="bar" style="display:flex;width:240px;height:12px;background:#eee">'
        f"{segments}</div>"
    )


def placement_verdict(results: Results, m: Measurement) -> str | None:
    """'fell back: ...' for ``m`` under the run's ``placement_min_share``; None when it held."""
    given = results.spec.placement_min_share
    default = SelectionPolicy.model_fields["placement_min_share"].default
    return fell_back(m.placement, given if given is not None else default)


def write_report(results: Results, gallery: Gallery | None, bundle: Path) -> Path:
    from edgeops.report.gallery import put_file

    path = bundle / REPORT_FILE
    put_file(path, render_report(results, gallery, bundle).encode())
    return path


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>`` or ``<!--`` can end it early."""
    text = json.dumps(value, allow_nan=False, default=_nan_free)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _nan_free(value: Any) -> Any:
    raise TypeError(f"not JSON: {type(value).__name__}")


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def _template_env() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("edgeops.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
