"""``edgeops history``: the runs of a workspace, and the spread between sessions."""

from __future__ import annotations

import argparse

from edgeops.cli.context import cli_console, print_json
from edgeops.pipeline import Workspace
from edgeops.pipeline.history import History


def cmd_history(args: argparse.Namespace) -> int:
    from edgeops.cli.spreads import spread_json, spread_output

    path = Workspace(args.workspace).history_path
    runs = History(path).runs()
    if args.json:
        print_json({"runs": [r.as_json() for r in runs], **spread_json(path, runs)})
        return 0
    from rich.table import Table

    table = Table(title=f"runs in {args.workspace}", title_justify="left")
    for column in ("run", "started", "status", "model", "profiles", "variants", "bundle"):
        table.add_column(column)
    for r in runs:
        table.add_row(
            r.run_id,
            r.started_at[:19],
            r.status,
            f"{r.model} {r.version}",
            r.profiles,
            str(r.variants if r.variants is not None else ""),
            r.bundle or (r.error or ""),
        )
    cli_console().print(table)
    if runs:
        cli_console().print(spread_output(path))
    return 0
