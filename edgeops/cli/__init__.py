"""The ``edgeops`` command.

Only argparse is imported at start-up so ``edgeops --help`` stays fast; each
command imports what it needs. Errors print one line naming the fix and exit
non-zero; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

# Exit codes: declared once, with the errors (edgeops/errors.py draws the table).
from edgeops.errors import (
    EXIT_DEVICE_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_SHIPPED,
    EXIT_TERMINATED,
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, the usual CI cancellation: unwound exactly like Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def _handle_sigterm() -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is outside (0, 1], e.g. 0.5")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"{text} is not a number >= 0")
    return value


def _version() -> str:
    from edgeops import __version__

    return __version__


def _add_global_flags(
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
            help="cache and run history (default .edgeops, or $EDGEOPS_HOME)",
        )


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


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of rates, e.g. 30,60") from None
    if any(not r > 0 for r in rates):
        raise argparse.ArgumentTypeError(f"{text!r}: every rate must be above 0, e.g. 30,60")
    return rates


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
    _add_global_flags(parser, default_workspace=Path(os.environ.get("EDGEOPS_HOME", ".edgeops")))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, epilog: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        return p

    def add_model_args(p: argparse.ArgumentParser, optional: bool = False) -> None:
        p.add_argument(
            "model",
            nargs="?" if optional else None,
            help="a model file, a folder with edgeops.toml, or an edgeops.toml",
        )
        p.add_argument(
            "--profile", "-p", action="append", default=[], help="device profile id (repeatable)"
        )
        p.add_argument(
            "--task",
            choices=["classification", "segmentation", "image-to-image", "generic"],
            help="chooses the quality metrics (default: from edgeops.toml, else generic)",
        )
        p.add_argument("--name", help="model name (default: from edgeops.toml or the file name)")
        p.add_argument("--model-version", dest="model_version", help="model version for the bundle")

    def add_cache_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--no-cache",
            action="store_true",
            help="make every conversion, variant and score again, replacing their cache entries",
        )

    def add_measure_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--rounds",
            type=_positive_int,
            help="fresh probe processes per variant, interleaved (default 3)",
        )
        p.add_argument(
            "--min-runs", type=_positive_int, help="timed runs per round, at least (default 20)"
        )
        p.add_argument(
            "--min-duration-s",
            type=_non_negative,
            help="timed seconds per round, at least (default 1)",
        )
        p.add_argument(
            "--threads", type=_positive_int, help="runtime threads (default: the runtime's choice)"
        )
        p.add_argument(
            "--paced-fps",
            type=_rates,
            help="camera rates the paced runs feed inputs at, e.g. 30,60 (default); '' for none",
        )
        p.add_argument(
            "--paced-duration-s",
            type=_non_negative,
            help="seconds per paced rate (default: twice --min-duration-s)",
        )
        p.add_argument(
            "--reuse-measurements",
            action="store_true",
            help="reuse cached measurements of unchanged variants on the same device and settings",
        )

    def add_jobs_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--jobs",
            "-j",
            type=_positive_int,
            default=None,
            help="worker processes making and scoring variants (default: every core, "
            "fewer when memory is short; 1: in this process)",
        )
        p.add_argument(
            "--worker-memory-mb",
            type=_positive_int,
            help="memory a worker may hold before it is stopped and its variant recorded as "
            "an error (default: 80%% of the memory free at the start, shared)",
        )
        p.add_argument(
            "--task-timeout-s",
            type=_non_negative,
            default=1800.0,
            help="time one conversion, or one variant made and scored, may take (default 1800)",
        )

    ship = command("ship", "run the whole pipeline and write a release bundle", SHIP_EPILOG)
    add_model_args(ship, optional=True)
    add_measure_args(ship)
    add_cache_arg(ship)
    add_jobs_arg(ship)
    ship.add_argument(
        "--out", "-o", type=Path, help="bundle folder (default dist/<model>-<version>/)"
    )
    ship.add_argument(
        "--force",
        action="store_true",
        help="replace an --out folder that holds files but is not an edgeops bundle",
    )
    ship.add_argument(
        "--no-prune",
        action="store_true",
        help="measure every variant for every round: no ruling out on the host (below the "
        "quality floor, too large, dominated) and no stopping of clearly beaten variants",
    )
    ship.add_argument(
        "--memory-safety-factor",
        type=_share,
        help="share of the app memory limit a model may use (default 0.5)",
    )
    ship.add_argument(
        "--devices", type=Path, help="inventory of devices (devices.toml) to measure on"
    )
    ship.add_argument(
        "--until-decided",
        action="store_true",
        help="add rounds where the choice of a primary, or the gate against --baseline, is "
        "undecided, and until each primary is precise enough to gate against; up to "
        "--max-extra-rounds",
    )
    ship.add_argument(
        "--baseline",
        type=Path,
        help="results.json or bundle to gate against; its primaries win ties",
    )
    ship.add_argument(
        "--ignore-previous",
        action="store_true",
        help="do not prefer the previous release's primary among tied candidates "
        "(the workspace's last ship of this model; --baseline overrides it anyway)",
    )
    ship.add_argument(
        "--max-extra-rounds",
        type=_positive_int,
        default=80,
        help="bound on rounds added per measurement (default 80)",
    )
    ship.add_argument(
        "--allow-unsupported",
        action="store_true",
        help=f"exit 0 even when a profile ends unsupported or not measured (else {EXIT_NOT_SHIPPED})",
    )
    ship.add_argument(
        "--objective",
        choices=("fastest", "smallest", "best-quality"),
        default="fastest",
        help="fastest (default); smallest file, or best quality, within the latency budget",
    )
    ship.add_argument(
        "--keep-outputs",
        type=int,
        default=16,
        metavar="N",
        help="keep each variant's outputs on the first N samples (and its worst) for the gallery; 0 keeps none",
    )
    ship.add_argument(
        "--gallery-worst",
        type=int,
        default=3,
        metavar="K",
        help="show each variant's K worst samples in report.html (default 3)",
    )
    ship.add_argument(
        "--resume",
        nargs="?",
        const="last",
        metavar="RUN_ID",
        help="continue an interrupted run (default the latest), measuring only what is missing",
    )
    ship.add_argument(
        "--samples-from",
        metavar="URL",
        help="use a team studio's sample set as the samples: "
        "http(s)://STUDIO/sample-sets/NAME/VERSION (token: ?token= or $EDGEOPS_STUDIO_TOKEN)",
    )
    ship.add_argument(
        "--publish",
        metavar="URL",
        help="after the bundle is written, publish it to a team store: a database URL or a "
        "studio's http(s) URL (as `edgeops publish --to`)",
    )

    convert = command("convert", "stage 1: convert the source to every format the profiles run")
    add_model_args(convert)
    add_cache_arg(convert)
    _stage_out(convert, "convert.json")

    optimize = command("optimize", "stage 2: make and score the variants, from a convert.json")
    _stage_in(optimize, "convert.json")
    add_cache_arg(optimize)
    add_jobs_arg(optimize)
    _stage_out(optimize, "optimize.json")

    measure = command("measure", "stage 3: measure the variants on devices, from an optimize.json")
    _stage_in(measure, "optimize.json")
    add_measure_args(measure)
    _stage_out(measure, "measure.json")

    select = command(
        "select", "stage 4: choose per profile and write the bundle, from a measure.json"
    )
    _stage_in(select, "measure.json")
    select.add_argument(
        "--out", "-o", type=Path, help="bundle folder (default dist/<model>-<version>/)"
    )
    select.add_argument(
        "--force",
        action="store_true",
        help="replace an --out folder that holds files but is not an edgeops bundle",
    )
    select.add_argument(
        "--memory-safety-factor",
        type=_share,
        help="share of the app memory limit a model may use (default 0.5)",
    )
    select.add_argument(
        "--objective",
        choices=("fastest", "smallest", "best-quality"),
        default="fastest",
        help="fastest (default); smallest file, or best quality, within the latency budget",
    )

    sweep = command(
        "sweep", "show the variants a config's [[sweep]] tables make, and why any are dropped"
    )
    sweep.add_argument("model", help="a folder with edgeops.toml, or an edgeops.toml")
    sweep.add_argument(
        "--dry-run",
        action="store_true",
        required=True,
        help="expand the tables only (seconds): nothing is converted or measured",
    )
    resolutions = command(
        "resolutions",
        "latency against input size per profile: the model at each of [model] resolutions",
    )
    add_model_args(resolutions)
    add_measure_args(resolutions)
    resolutions.add_argument(
        "--budget-ms",
        type=_non_negative,
        help="p90 latency budget for 'largest resolution within budget' (default "
        "[model] latency_budget_ms)",
    )
    resolutions.add_argument(
        "--devices", type=Path, help="inventory of devices (devices.toml) to measure on"
    )
    resolutions.add_argument(
        "--memory-mb",
        type=_positive_int,
        help="memory one size's process may hold before it is stopped and the size recorded "
        "as not run (default: 80%% of the memory free when it starts)",
    )
    profiles = command("profiles", "list device profiles, or show one")
    profiles.add_argument("id", nargs="?", help="a profile id: show its facts and their sources")

    command("plugins", "list loaded plugins and their versions")
    devices = command(
        "devices", "list devices: reachable or not, facts, profile, lease; or trust one"
    )
    devices.add_argument(
        "action", nargs="?", choices=["trust"], help="trust HOST: record its SSH host key"
    )
    devices.add_argument("target", nargs="?", help="HOST[:PORT] to trust")
    devices.add_argument("--devices", type=Path, help="inventory of devices (devices.toml)")
    command("history", "list past runs")

    cache = command("cache", "manage the cache: `cache prune` frees entries not used lately")
    cache.add_argument("action", choices=["prune"], help="prune: remove old entries")
    cache.add_argument(
        "--older-than-days",
        type=_non_negative,
        default=30.0,
        help="remove entries last used more than this many days ago (default 30)",
    )
    cache.add_argument("--all", action="store_true", help="remove every entry")

    report = command("report", "show the tables of a results.json or bundle")
    report.add_argument("results", type=Path, help="a results.json, or a bundle folder")

    from edgeops.gate.command import add_gate_parser

    add_gate_parser(sub)

    from edgeops.studio.command import add_studio_parser

    add_studio_parser(sub)

    from edgeops.studio.team.command import add_publish_parser

    add_publish_parser(sub)

    schema = sub.add_parser("schema", help="print a JSON Schema", description="print a JSON Schema")
    schema.add_argument(
        "which",
        choices=["manifest", "results", "profile", "config"],
        help="manifest.json, results.json, a device profile, or edgeops.toml",
    )
    _add_command_flags(parser)
    return parser


def _add_command_flags(parser: argparse.ArgumentParser) -> None:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command_parser in sub.choices.values():
        _add_global_flags(command_parser)


def _needs_plugin_commands(parser: argparse.ArgumentParser, argv: list[str]) -> bool:
    """Plugins are loaded to parse only for their own commands: a core command, and
    ``edgeops --help``, keep start-up to argparse alone (plugins import pydantic)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    words = [a for a in argv if not a.startswith("-")]
    return bool(words) and words[0] not in sub.choices


def _add_plugin_commands(parser: argparse.ArgumentParser) -> Any:
    from edgeops.plugin_manager import make_plugin_manager

    pm = make_plugin_manager()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    pm.hook.edgeops_add_commands(subparsers=sub)
    return pm


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    pm = None
    if _needs_plugin_commands(parser, argv):
        try:
            pm = _add_plugin_commands(parser)
        except Exception as exc:
            # A broken plugin must not stop the core commands from parsing and failing clearly.
            sys.stderr.write(f"edgeops: warning: plugin commands not loaded ({exc})\n")
    _add_command_flags(parser)  # again, for the plugins' commands
    args = parser.parse_args(argv)
    _handle_sigterm()
    try:
        plugin_command = getattr(args, "plugin_command", None)
        if plugin_command is not None:
            from edgeops.cli.context import CommandContext

            context = CommandContext(
                pm=pm, workspace=args.workspace, as_json=getattr(args, "json", False)
            )
            return int(plugin_command(args, context) or 0)
        from edgeops.cli import commands

        return int(getattr(commands, f"cmd_{args.command}")(args) or 0)
    except KeyboardInterrupt as exc:
        if getattr(args, "command", None) in SERVERS:
            return 0  # Ctrl-C or SIGTERM is how a server is stopped: its normal end
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        hint = (
            ": re-run, or `edgeops ship --resume`, to go on"
            if getattr(args, "command", None) in RESUMABLE
            else ""
        )
        _fail(args, f"{what}; nothing was half-written and the cache keeps finished work{hint}")
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except Exception as exc:
        from edgeops.errors import EdgeopsError

        if isinstance(exc, EdgeopsError):
            _fail(args, str(exc))
            return exc.exit_code
        if isinstance(exc, ModuleNotFoundError):
            from edgeops.extras import missing_module_message

            _fail(args, missing_module_message(exc))
            return 1
        _fail(
            args,
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
        )
        return 1


# Commands whose interrupted work a re-run or `ship --resume` picks up again.
RESUMABLE = {"ship", "convert", "optimize", "measure", "select", "resolutions"}
# Commands that run until stopped.
SERVERS = {"studio"}


def _fail(args: Any, message: str) -> None:
    if args.debug:
        import traceback

        traceback.print_exc()
    sys.stderr.write(f"edgeops: error: {' '.join(message.split())}\n")


if __name__ == "__main__":
    sys.exit(main())
