"""``edgeops gate``: its flags, and what it does once they are parsed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.errors import ResultsError, UsageError

if TYPE_CHECKING:
    from edgeops.gate.compare import GateSettings
    from edgeops.models import Results


def add_gate_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``gate`` to the CLI's subparsers; its thresholds come from ``GateOptions``."""
    about = "compare a run with a baseline and fail on real regressions (exit 0 pass, 1 fail, 3 inconclusive)"
    p: argparse.ArgumentParser = sub.add_parser("gate", help=about, description=about)
    p.add_argument(
        "--baseline",
        type=Path,
        required=True,
        metavar="RESULTS",
        help="baseline results.json or bundle folder",
    )
    p.add_argument(
        "--current",
        type=Path,
        required=True,
        metavar="RESULTS",
        help="current results.json or bundle folder",
    )
    p.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    p.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="write JUnit XML, one test case per profile and check",
    )
    p.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="append a Markdown summary, e.g. $GITHUB_STEP_SUMMARY",
    )
    from edgeops.options.flags import add_flags
    from edgeops.options.gate import GateOptions

    add_flags(p, GateOptions)  # the thresholds: flags, defaults and help from the model
    return _with_remeasure_flags(p)


def _with_remeasure_flags(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--remeasure`` and what it measures on (edgeops/pipeline/incumbents.py)."""
    p.add_argument(
        "--remeasure",
        action="store_true",
        help="measure both runs' primaries again now, interleaved on the same device, and "
        "gate on the paired rounds (both must be bundle folders with their variants/)",
    )
    p.add_argument(
        "--devices",
        type=Path,
        metavar="TOML",
        help="with --remeasure: the inventory to measure on (default: this machine)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        metavar="N",
        help="with --remeasure: rounds per primary (default: the current run's)",
    )
    return p


def cmd_gate(args: argparse.Namespace) -> int:
    from edgeops.files import write_text
    from edgeops.gate.compare import gate
    from edgeops.gate.inputs import check_gate_input, read_raw
    from edgeops.gate.output import junit_xml, markdown_summary, report_json, rich_tables
    from edgeops.pipeline.bundle import read_results

    raw = (
        read_raw(args.baseline, f"--baseline {args.baseline}"),
        read_raw(args.current, f"--current {args.current}"),
    )
    _same_schema(args.baseline, args.current, raw)
    baseline, current = read_results(args.baseline), read_results(args.current)
    check_gate_input(baseline, f"--baseline {args.baseline}")
    check_gate_input(current, f"--current {args.current}")
    # Bad flags fail before any device time.
    settings = _settings(args, (baseline.run_id, current.run_id), current.spec.name)
    if args.remeasure:
        current = _remeasured(args, baseline, current)
    elif args.devices is not None or args.rounds is not None:
        raise UsageError("--devices and --rounds are for --remeasure; add it, or drop them")
    report = gate(
        baseline,
        current,
        settings,
        names=(f"--baseline {args.baseline}", f"--current {args.current}"),
    )
    if args.junit:
        write_text(args.junit, junit_xml(report))
    if args.summary:
        # Appended, as CI step summaries are: a job's earlier steps wrote there too.
        with open(args.summary, "a") as summary:
            summary.write(markdown_summary(report))
    if args.json:
        from edgeops.cli.context import json_output

        sys.stdout.write(json_output(report_json(report)))
    else:
        from edgeops.cli.output import make_console

        console = make_console()
        for table in rich_tables(report):
            console.print(table)
    return report.exit_code


def _remeasured(args: argparse.Namespace, baseline: Results, current: Results) -> Results:
    """The current run with both primaries measured again in this session (incumbents.py)."""
    import os
    import uuid

    from edgeops.api import default_workspace
    from edgeops.devices.discovery import discover_devices
    from edgeops.pipeline import Pipeline, Workspace
    from edgeops.pipeline.incumbents import bundle_of, remeasured_side_by_side
    from edgeops.plugin_manager import make_plugin_manager

    if args.rounds is not None and not 2 <= args.rounds <= 1000:
        raise UsageError(f"--rounds {args.rounds} is outside [2, 1000]; pairs need two or more")
    bundles = [
        (flag, path, bundle_of(path))
        for flag, path in (("--baseline", args.baseline), ("--current", args.current))
    ]
    for flag, path, bundle in bundles:
        if bundle is None:
            raise UsageError(
                f"{flag} {path} is not a bundle folder with its variants/; --remeasure measures "
                "the files again: pass the bundle folder ship wrote, or gate without --remeasure"
            )
    pm = make_plugin_manager()
    workspace = Path(args.workspace) if getattr(args, "workspace", None) else default_workspace()
    space = Workspace(workspace)
    devices = discover_devices(pm, args.devices)
    pipeline = Pipeline(pm, space, halving=False)
    folder = space.root / "baselines" / f"gate-{uuid.uuid4().hex[:12]}-{os.getpid()}"
    base_bundle, cur_bundle = bundles[0][2], bundles[1][2]
    assert base_bundle is not None and cur_bundle is not None
    return remeasured_side_by_side(
        pipeline, baseline, base_bundle, current, cur_bundle, devices, folder, args.rounds
    )


def _settings(
    args: argparse.Namespace, gated: tuple[str, str] = ("", ""), model: str | None = None
) -> GateSettings:
    """The flags as settings; the session spreads from the workspace's other runs of ``model``."""
    from edgeops.gate.compare import GateSettings
    from edgeops.options.flags import options_from_args
    from edgeops.options.gate import GateOptions

    given = options_from_args(GateOptions, args)
    spreads = {}
    if given.session_sigma is None:
        from edgeops.gate.sessions import history_runs, spreads_by_profile
        from edgeops.pipeline import Workspace

        history = Workspace(args.workspace).history_path
        spreads = spreads_by_profile(history_runs(history, exclude=gated, model=model))
    return GateSettings(**dict(given), session_spread_by_profile=spreads)


def _same_schema(baseline: Path, current: Path, raw: tuple[Any, Any]) -> None:
    """Name both schema versions when they differ, before read_results rejects one alone."""
    versions = [str(data.get("schema_version")) if isinstance(data, dict) else None for data in raw]
    if None not in versions and versions[0] != versions[1]:
        raise ResultsError(
            f"--baseline {baseline} has results schema {versions[0]!r} and --current {current} "
            f"{versions[1]!r}; re-run the baseline with the edgeops that wrote the current one"
        )
