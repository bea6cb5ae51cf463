"""The ``edgeops`` command.

Only argparse and the options models (pydantic) are imported at start-up so
``edgeops --help`` stays fast; each command imports what it needs. The parser is
in ``parser.py``, its settings' flags made from edgeops/options. Errors print one
line naming the fix and exit with the code ``edgeops.errors.run_outcome`` gives;
``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgeops.cli.parser import add_command_flags as _add_command_flags
from edgeops.cli.parser import build_parser, subparsers
from edgeops.errors import Terminated, run_outcome


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def _handle_sigterm() -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def _needs_plugin_commands(parser: argparse.ArgumentParser, argv: list[str]) -> bool:
    """Plugins are loaded to parse only for their own commands: a core command, and
    ``edgeops --help``, load no plugin: start-up stays short."""
    sub = subparsers(parser)
    words = [a for a in argv if not a.startswith("-")]
    return bool(words) and words[0] not in sub.choices


def _add_plugin_commands(parser: argparse.ArgumentParser) -> Any:
    from edgeops.plugin_manager import make_plugin_manager

    pm = make_plugin_manager()
    sub = subparsers(parser)
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
        return run_outcome(error=exc).exit_code()
    except Exception as exc:
        from edgeops.errors import EdgeopsError

        if isinstance(exc, EdgeopsError):
            _fail(args, str(exc))
        elif isinstance(exc, ModuleNotFoundError):
            from edgeops.extras import missing_module_message

            _fail(args, missing_module_message(exc))
        else:
            _fail(
                args,
                f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            )
        return run_outcome(error=exc).exit_code()


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
