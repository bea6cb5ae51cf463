"""``edgeops sweep``: the variants a config's [[sweep]] tables make, and the combinations dropped."""

from __future__ import annotations

import argparse

from edgeops.cli.context import cli_console, print_json
from edgeops.errors import UsageError
from edgeops.pipeline import Workspace
from edgeops.pipeline.config import load_spec
from edgeops.plugin_manager import make_plugin_manager


def cmd_sweep(args: argparse.Namespace) -> int:
    from edgeops.pipeline import Pipeline

    spec, _ = load_spec(args.model)
    if not spec.sweep:
        raise UsageError(
            f"{args.model} has no [[sweep]] table; without one, `ship` makes the recipes "
            "the backends propose"
        )
    pipeline = Pipeline(make_plugin_manager(), Workspace(args.workspace))
    expansion = pipeline.sweep(spec)
    if args.json:
        print_json(
            {
                "schema_version": "1.0",
                "variants": [r.model_dump(mode="json") for r in expansion.recipes],
                "dropped": [d.__dict__ for d in expansion.dropped],
                "families": expansion.families,
            }
        )
        return 0
    from rich.table import Table

    console = cli_console()
    made = Table(title=f"{len(expansion.recipes)} variant(s) from {len(spec.sweep)} table(s)")
    for column in ("recipe", "parameters"):
        made.add_column(column, overflow="fold")
    for recipe in expansion.recipes:
        params = "; ".join(
            [f"{s.op}: " + ", ".join(f"{k}={v}" for k, v in s.params.items()) for s in recipe.steps]
            + [
                f"{k}={v}"
                for k, v in (
                    ("deployment_target", recipe.deployment_target),
                    ("compute_precision", recipe.compute_precision),
                )
                if v
            ]
        )
        made.add_row(recipe.id, params)
    console.print(made)
    if expansion.dropped:
        dropped = Table(title=f"{len(expansion.dropped)} combination(s) dropped")
        for column in ("name", "why"):
            dropped.add_column(column, overflow="fold")
        for d in expansion.dropped:
            dropped.add_row(d.name, d.reason)
        console.print(dropped)
    return 0
