"""``edgeops publish``, ``edgeops studio serve`` and ``edgeops studio token create``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_publish_parser(sub: Any) -> None:
    help_text = "send a bundle's run to a team store (a database URL or a studio's http URL)"
    p = sub.add_parser("publish", help=help_text, description=help_text)
    p.add_argument("bundle", type=Path, help="the bundle folder `edgeops ship` wrote")
    p.add_argument(
        "--to",
        required=True,
        help="postgresql://USER:PASSWORD@HOST/DB, sqlite:///PATH, or http(s)://STUDIO:PORT",
    )
    p.add_argument("--branch", default="main", help="the version's branch (default main)")
    p.add_argument(
        "--with-variants", action="store_true", help="send the variant files too (large)"
    )
    p.add_argument(
        "--files",
        type=Path,
        help="the store's file folder, for a database URL (remembered by the store)",
    )
    p.add_argument(
        "--token", help="a token of role publish, for an http URL (or $EDGEOPS_STUDIO_TOKEN)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def cmd_publish(args: argparse.Namespace) -> int:
    import json

    from edgeops.studio.team.publish import publish

    result = publish(
        args.bundle,
        args.to,
        with_variants=args.with_variants,
        branch=args.branch,
        files_dir=args.files,
        token=args.token,
    )
    if args.json:
        sys.stdout.write(json.dumps(result.__dict__) + "\n")
    else:
        sys.stdout.write(
            f"edgeops publish: run {result.run_id} of {result.model} {result.version} "
            f"[{result.branch}]: {result.state} ({result.files} files)\n"
        )
    return 0
