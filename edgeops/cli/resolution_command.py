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
from edgeops.pipeline.resolution import ResolutionSweep, at_resolution, label, sweep_table
from edgeops.pipeline.size_runs import SizeRun, estimate_mb, memory_bound_mb, run_size


def _finished(name: str, outcome: str) -> None:
    """One line per size as it ends: kept in a log even if a later size is killed."""
    sys.stderr.write(f"resolutions: {name}: {outcome}\n")
    sys.stderr.flush()


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
        last: SizeRun | None = None
        for size in spec.resolutions:
            try:
                sized = at_resolution(spec, inputs, size)
            except EdgeopsError as exc:
                runs.append((size, None, one_line(exc)))
                continue
            bound = args.memory_mb or memory_bound_mb()
            estimate = estimate_mb(size, last)
            if bound is not None and estimate is not None and estimate > bound:
                why = (
                    f"not run: an estimated {estimate:,.0f} MB (the {label(last.size)} peak "  # type: ignore[union-attr]
                    f"scaled by pixels) is over the {bound:,.0f} MB memory bound"
                )
                runs.append((size, None, why))
                _finished(label(size), why)
                continue
            # Its own process, watched: a size past the bound is stopped and recorded,
            # and the sizes before it are kept (each is printed as it finishes).
            done = run_size(
                run.options, run.workspace.root, sized, profiles, devices, settings, size, bound
            )
            runs.append((size, done.results, done.error))
            _finished(label(size), done.error or f"done (peak {done.peak_mb:,.0f} MB)")
            if done.results is not None:
                last = done
    table = sweep_table(runs, budget, profiles)
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

    # In a pipe or a log, rich would fit tables to 80 columns and cut names ("onnx:f…").
    console = Console(width=None if sys.stdout.isatty() else 1000)
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
    for profile_id, why in table.unmeasured.items():
        console.print(f"[yellow]{profile_id}:[/] nothing measured: {why}", soft_wrap=True)
    for name, why in table.not_taken.items():
        console.print(f"[yellow]{name}:[/] not measured: {why}", soft_wrap=True)
