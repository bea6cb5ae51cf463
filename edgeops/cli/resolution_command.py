"""``edgeops resolutions``: the model at each configured input size, and latency against size."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edgeops.devices.discovery import discover_devices
from edgeops.devices.profiles import resolve_profiles
from edgeops.errors import EdgeopsError, UsageError
from edgeops.models import MeasureSettings, Results
from edgeops.pipeline import one_line
from edgeops.pipeline.config import load_spec
from edgeops.pipeline.resolution import ResolutionSweep, at_resolution, sweep_table


def run_resolutions(args: argparse.Namespace, run: Any, settings: MeasureSettings) -> int:
    if args.model is None:
        raise UsageError(
            "resolutions needs a MODEL: a folder with edgeops.toml, or an edgeops.toml"
        )
    spec, defaults = load_spec(args.model, task=args.task, name=args.name)
    if not spec.resolutions:
        raise UsageError(
            f'{args.model} has no resolutions; add e.g. resolutions = [[720, 1280], "1080p"] '
            "to its [model] table"
        )
    profiles = resolve_profiles(args.profile or list(defaults.profiles) or ["host"], run.pm)
    devices = discover_devices(run.pm, args.devices)
    budget = args.budget_ms if args.budget_ms is not None else spec.latency_budget_ms
    runs: list[tuple[tuple[int, int], Results | None, str | None]] = []
    with run:
        inputs = spec.inputs or _native_inputs(run.pipeline, spec, profiles, settings)
        for size in spec.resolutions:
            try:
                sized = at_resolution(spec, inputs, size)
                results = run.pipeline.convert(sized, profiles, settings)
                results = run.pipeline.optimize(results)
                results = run.pipeline.measure(results, devices, settings)
                runs.append((size, results, None))
            except EdgeopsError as exc:
                # The model cannot take this size (a fixed Reshape, a size the export refuses):
                # the reason is kept, and the other sizes go on.
                runs.append((size, None, one_line(exc)))
    table = sweep_table(runs, budget)
    if args.json:
        sys.stdout.write(json.dumps(table.model_dump(mode="json"), indent=2) + "\n")
    else:
        _print(table)
    return 0


def _native_inputs(pipeline: Any, spec: Any, profiles: Any, settings: MeasureSettings) -> Any:
    """The model's own input signature, from a conversion at its native size (cached)."""
    results = pipeline.convert(spec, profiles, settings)
    first = next((a for a in results.artifacts if a.status == "ok" and a.inputs), None)
    if first is None:
        raise UsageError("the model's inputs are unknown; add [[model.inputs]] to edgeops.toml")
    return first.inputs


def _print(table: ResolutionSweep) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for profile_id in dict.fromkeys(r.profile_id for r in table.rows):
        budget = f", budget p90 ≤ {table.budget_ms:g} ms" if table.budget_ms is not None else ""
        out = Table(title=f"{profile_id}: p50 / p90 ms by resolution{budget}", title_justify="left")
        for name in ("variant", "unit", *table.resolutions):
            out.add_column(name, justify="left" if name in ("variant", "unit") else "right")
        if table.budget_ms is not None:
            out.add_column("largest within budget")
        for row in (r for r in table.rows if r.profile_id == profile_id):
            cells = [
                f"{c.p50_ms:.2f} / {c.p90_ms:.2f}"
                if c.p50_ms is not None and c.p90_ms is not None
                else f"no: {c.error}"
                for c in row.cells
            ]
            extra = [row.largest_within_budget or "none"] if table.budget_ms is not None else []
            out.add_row(row.variant, row.compute_unit, *cells, *extra)
        console.print(out)
    for name, why in table.not_taken.items():
        console.print(f"[yellow]{name}:[/] the model cannot take this size: {why}")
