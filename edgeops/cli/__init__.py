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

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a terminated process


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
        epilog="Plugins add commands of their own (the adb backend `import`, the ssh backend "
        "`trust`): `edgeops plugins` lists them, `edgeops COMMAND --help` explains one.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument(
        "--workspace",
        type=Path,
        default=Path(os.environ.get("EDGEOPS_HOME", ".edgeops")),
        help="cache and run history (default .edgeops, or $EDGEOPS_HOME)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
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
            "--task", choices=["classification", "segmentation", "image-to-image", "generic"]
        )
        p.add_argument("--name", help="model name (default: from edgeops.toml or the file name)")
        p.add_argument("--model-version", dest="model_version", help="model version for the bundle")

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
            help="time one variant may take to make and score (default 1800)",
        )

    ship = command("ship", "run the whole pipeline and write a release bundle")
    add_model_args(ship, optional=True)
    add_measure_args(ship)
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
        "--max-extra-rounds", type=int, default=80, help="bound on rounds added per measurement"
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

    convert = command("convert", "stage 1: convert the source to every format the profiles run")
    add_model_args(convert)
    convert.add_argument("--output", "-o", type=Path, default=Path("convert.json"))

    optimize = command("optimize", "stage 2: make and score the variants, from a convert.json")
    optimize.add_argument("stage_file", type=Path)
    add_jobs_arg(optimize)
    optimize.add_argument("--output", "-o", type=Path, default=Path("optimize.json"))

    measure = command("measure", "stage 3: measure the variants on devices, from an optimize.json")
    measure.add_argument("stage_file", type=Path)
    add_measure_args(measure)
    measure.add_argument("--output", "-o", type=Path, default=Path("measure.json"))

    select = command(
        "select", "stage 4: choose per profile and write the bundle, from a measure.json"
    )
    select.add_argument("stage_file", type=Path)
    select.add_argument("--out", type=Path, help="bundle folder (default dist/<model>-<version>/)")
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
        "--objective", choices=("fastest", "smallest", "best-quality"), default="fastest"
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
    profiles = command("profiles", "list device profiles, or show one")
    profiles.add_argument("id", nargs="?")

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

    report = command("report", "show the tables of a results.json or bundle")
    report.add_argument("results", type=Path)

    from edgeops.gate.command import add_gate_parser

    add_gate_parser(sub)

    from edgeops.studio.command import add_studio_parser

    add_studio_parser(sub)

    schema = sub.add_parser("schema", help="print a JSON Schema", description="print a JSON Schema")
    schema.add_argument("which", choices=["manifest", "results", "profile"])
    return parser


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
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        _fail(
            args,
            f"{what}; nothing was half-written and the cache keeps finished work: "
            "re-run, or `edgeops ship --resume`, to go on",
        )
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except Exception as exc:
        from edgeops.errors import EdgeopsError

        if isinstance(exc, EdgeopsError):
            _fail(args, str(exc))
            return exc.exit_code
        _fail(
            args,
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
        )
        return 1


def _fail(args: Any, message: str) -> None:
    if args.debug:
        import traceback

        traceback.print_exc()
    sys.stderr.write(f"edgeops: error: {' '.join(message.split())}\n")


if __name__ == "__main__":
    sys.exit(main())
