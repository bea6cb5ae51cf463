"""``edgeops plugins``: the installed plugins, their runtimes, commands and hooks."""

from __future__ import annotations

import argparse
from typing import Any

from edgeops.cli.context import cli_console, print_json
from edgeops.plugin_manager import make_plugin_manager, plugin_infos


def _commands_of(pm: Any, plugin_name: str) -> list[str]:
    """The CLI commands one plugin adds (``edgeops_add_commands``)."""
    from edgeops.plugin_manager import hook_of

    sub = argparse.ArgumentParser().add_subparsers()
    hook_of(pm, "edgeops_add_commands", plugin_name)(subparsers=sub)
    return sorted(sub.choices)


def cmd_plugins(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    infos = plugin_infos(pm)
    commands = {i.name: _commands_of(pm, i.name) for i in infos}
    if args.json:
        print_json(
            {"plugins": [{**info.__dict__, "commands": commands[info.name]} for info in infos]}
        )
        return 0
    from rich.table import Table

    table = Table(title="plugins", title_justify="left")
    for column in ("name", "distribution", "version", "runtime", "commands", "hooks"):
        table.add_column(column)
    for info in infos:
        runtime = ""
        if info.runtime:
            runtime = f"{info.runtime}: " + (
                "importable" if info.runtime_importable else f"missing; {info.install_hint}"
            )
        table.add_row(
            info.name,
            info.distribution or "",
            info.version or "",
            runtime,
            ", ".join(commands[info.name]),
            ", ".join(info.hooks),
        )
    cli_console().print(table)
    return 0
