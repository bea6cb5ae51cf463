"""``edgeops cache prune``: free the cache entries not used lately."""

from __future__ import annotations

import argparse

from edgeops.cli.context import cli_console, print_json
from edgeops.pipeline import Workspace


def cmd_cache(args: argparse.Namespace) -> int:
    """``edgeops cache prune``: free the entries not used lately."""
    from edgeops.pipeline.cache import prune

    cache = Workspace(args.workspace).cache
    older_than_s = 0.0 if args.all else args.older_than_days * 86400
    report = prune(cache, older_than_s)
    if args.json:
        print_json({"cache": str(cache.root), **report.__dict__})
    else:
        cli_console().print(
            f"removed {report.entries_removed} entr{'y' if report.entries_removed == 1 else 'ies'} "
            f"({report.bytes_freed / 1e6:.1f} MB) from {cache.root}; kept {report.entries_kept}"
        )
    return 0
