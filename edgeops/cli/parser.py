"""The ``edgeops`` command's parser: one function per group of commands.

The settings' flags are made from the options models (edgeops/options), so each
flag's default and help are the ones the Python API documents; what is here is
only what belongs to the command line (stage files, ``--json``, positional words).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from edgeops.errors import EXIT_DEVICE_FAILED, EXIT_INTERRUPTED, EXIT_NOT_SHIPPED
from edgeops.options.flags import add_flags
from edgeops.options.measure import MeasureOptions
from edgeops.options.selection import SelectionOptions
from edgeops.options.ship import ModelOptions, ShipCommandOptions, ShipOptions
from edgeops.options.work import WorkOptions

EXAMPLES = """\
examples:
  edgeops ship examples/segmenter --profile host         the whole pipeline, one bundle
  edgeops ship model.onnx -p pixel6 -p iphone12 --devices devices.toml -o dist/v2
  edgeops gate --baseline dist/v1 --current dist/v2       exit 1 on a regression
  edgeops ship model.onnx --json | jq .plans              machine output (schema_version 1.0)
  edgeops schema config                                   what edgeops.toml may hold
"""

SHIP_EPILOG = f"""\
examples:
  edgeops ship examples/segmenter                   the profiles in its edgeops.toml
  edgeops ship model.onnx -p host -p rpi5 --devices devices.toml --rounds 5
  edgeops ship --resume                             go on with the interrupted run

exit codes: 0 every profile has a variant; 1 a failure; 2 bad input;
  {EXIT_DEVICE_FAILED} a device failed (fix it, then --resume); {EXIT_NOT_SHIPPED} a profile ends
  unsupported or not measured (unless --allow-unsupported); {EXIT_INTERRUPTED} interrupted
"""


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"{text} is not a number >= 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return value


def _version() -> str:
    from edgeops import __version__

    return __version__


def add_global_flags(
    parser: argparse.ArgumentParser, default_workspace: Path | None = None
) -> None:
    """``--debug`` and ``--workspace``, before or after the command (``edgeops ship --debug``).

    On a command's own parser the defaults are SUPPRESS, so a flag given only
    before the command is not reset by the command's parser."""
    seen = {o for a in parser._actions for o in a.option_strings}
    if "--debug" not in seen:
        parser.add_argument(
            "--debug",
            action="store_true",
            default=False if default_workspace else argparse.SUPPRESS,
            help="show tracebacks",
        )
    if "--workspace" not in seen:
        parser.add_argument(
            "--workspace",
            type=Path,
            default=default_workspace or argparse.SUPPRESS,
            help=ShipOptions.model_fields["workspace"].description,
        )


def add_command_flags(parser: argparse.ArgumentParser) -> None:
    """The global flags on every command's parser, the plugins' commands too."""
    for command_parser in subparsers(parser).choices.values():
        add_global_flags(command_parser)


def subparsers(parser: argparse.ArgumentParser) -> Any:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeops",
        description="Convert, compress, measure and select ML model variants for phones and edge boards.",
        epilog=EXAMPLES
        + "\nPlugins add commands of their own (the adb backend `import`, the ssh backend "
        "`trust`): `edgeops plugins` lists them, `edgeops COMMAND --help` explains one.\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"edgeops {_version()}", help="print the version"
    )
    add_global_flags(parser, default_workspace=Path(os.environ.get("EDGEOPS_HOME", ".edgeops")))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_ship(sub)
    _add_stages(sub)
    _add_tools(sub)
    from edgeops.gate.command import add_gate_parser
    from edgeops.studio.command import add_studio_parser
    from edgeops.studio.team.command import add_publish_parser

    add_gate_parser(sub)
    add_studio_parser(sub)
    add_publish_parser(sub)
    schema = sub.add_parser("schema", help="print a JSON Schema", description="print a JSON Schema")
    schema.add_argument(
        "which",
        choices=["manifest", "results", "profile", "config"],
        help="manifest.json, results.json, a device profile, or edgeops.toml",
    )
    add_command_flags(parser)
    return parser


def _command(sub: Any, name: str, help: str, epilog: str | None = None) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=help,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    return p


def _add_ship(sub: Any) -> None:
    ship = _command(sub, "ship", "run the whole pipeline and write a release bundle", SHIP_EPILOG)
    add_flags(ship, ShipOptions)
    add_flags(ship, ShipCommandOptions)


def _stage_in(p: argparse.ArgumentParser, made_by: str) -> None:
    p.add_argument("stage_file", type=Path, help=f"the stage file before this one ({made_by})")


def _stage_out(p: argparse.ArgumentParser, default: str) -> None:
    # --output is the old spelling, kept so scripts written for it go on working.
    p.add_argument(
        "--out",
        "-o",
        "--output",
        dest="output",
        type=Path,
        default=Path(default),
        help=f"stage file to write (default {default})",
    )


def _add_stages(sub: Any) -> None:
    """convert -> optimize -> measure -> select, each from the stage file before it."""
    convert = _command(
        sub, "convert", "stage 1: convert the source to every format the profiles run"
    )
    add_flags(convert, ModelOptions, required=("model",))
    add_flags(convert, WorkOptions, only=("no_cache",))
    _stage_out(convert, "convert.json")

    optimize = _command(
        sub, "optimize", "stage 2: make and score the variants, from a convert.json"
    )
    _stage_in(optimize, "convert.json")
    add_flags(optimize, WorkOptions)
    _stage_out(optimize, "optimize.json")

    measure = _command(
        sub, "measure", "stage 3: measure the variants on devices, from an optimize.json"
    )
    _stage_in(measure, "optimize.json")
    add_flags(measure, MeasureOptions)
    _stage_out(measure, "measure.json")

    select = _command(
        sub, "select", "stage 4: choose per profile and write the bundle, from a measure.json"
    )
    _stage_in(select, "measure.json")
    add_flags(select, ShipOptions, only=("out", "force"))
    add_flags(select, SelectionOptions)


def _add_tools(sub: Any) -> None:
    """The commands around a run: sweeps, resolutions, profiles, devices, history, cache."""
    sweep = _command(
        sub, "sweep", "show the variants a config's [[sweep]] tables make, and why any are dropped"
    )
    sweep.add_argument("model", help="a folder with edgeops.toml, or an edgeops.toml")
    sweep.add_argument(
        "--dry-run",
        action="store_true",
        required=True,
        help="expand the tables only (seconds): nothing is converted or measured",
    )
    _add_resolutions(sub)
    profiles = _command(sub, "profiles", "list device profiles, or show one")
    profiles.add_argument("id", nargs="?", help="a profile id: show its facts and their sources")
    _command(sub, "plugins", "list loaded plugins and their versions")
    devices = _command(
        sub, "devices", "list devices: reachable or not, facts, profile, lease; or trust one"
    )
    devices.add_argument(
        "action", nargs="?", choices=["trust"], help="trust HOST: record its SSH host key"
    )
    devices.add_argument("target", nargs="?", help="HOST[:PORT] to trust")
    devices.add_argument("--devices", type=Path, help="inventory of devices (devices.toml)")
    _command(sub, "history", "list past runs")
    cache = _command(sub, "cache", "manage the cache: `cache prune` frees entries not used lately")
    cache.add_argument("action", choices=["prune"], help="prune: remove old entries")
    cache.add_argument(
        "--older-than-days",
        type=_non_negative,
        default=30.0,
        help="remove entries last used more than this many days ago (default 30)",
    )
    cache.add_argument("--all", action="store_true", help="remove every entry")
    report = _command(sub, "report", "show the tables of a results.json or bundle")
    report.add_argument("results", type=Path, help="a results.json, or a bundle folder")


def _add_resolutions(sub: Any) -> None:
    resolutions = _command(
        sub,
        "resolutions",
        "latency against input size per profile: the model at each of [model] resolutions",
    )
    add_flags(resolutions, ModelOptions, required=("model",))
    add_flags(resolutions, MeasureOptions)
    add_flags(resolutions, ShipOptions, only=("devices",))
    resolutions.add_argument(
        "--budget-ms",
        type=_non_negative,
        help="p90 latency budget for 'largest resolution within budget' (default "
        "[model] latency_budget_ms)",
    )
    resolutions.add_argument(
        "--memory-mb",
        type=_positive_int,
        help="memory one size's process may hold before it is stopped and the size recorded "
        "as not run (default: 80%% of the memory free when it starts)",
    )
