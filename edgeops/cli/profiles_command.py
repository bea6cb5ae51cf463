"""``edgeops profiles [ID]``: the device profiles, or one with where each fact came from."""

from __future__ import annotations

import argparse

from edgeops.cli.context import cli_console, print_json
from edgeops.devices.profiles import load_profiles, resolve_profiles
from edgeops.models import DeviceProfile
from edgeops.plugin_manager import make_plugin_manager


def cmd_profiles(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    if args.id:
        profile = resolve_profiles([args.id], pm)[0]
        if args.json:
            print_json({"profile": profile.model_dump(mode="json")})
        else:
            _show_profile(profile)
        return 0
    profiles = load_profiles(pm)
    if args.json:
        print_json({"profiles": [p.model_dump(mode="json") for p in profiles.values()]})
        return 0
    from rich.table import Table

    table = Table(title="device profiles", title_justify="left")
    for column in (
        "id",
        "name",
        "platform",
        "chip",
        "RAM MB",
        "app limit MB",
        "compute units",
        "formats",
    ):
        table.add_column(column)
    for p in profiles.values():
        table.add_row(
            p.id,
            p.name,
            p.platform,
            p.chip or "",
            str(p.ram_mb or ""),
            str(p.app_memory_limit_mb or ""),
            ", ".join(p.compute_units),
            ", ".join(p.formats),
        )
    cli_console().print(table)
    return 0


def _show_profile(profile: DeviceProfile) -> None:
    from rich.table import Table

    table = Table(title=f"profile {profile.id}", title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_column("source", style="dim")
    for field, value in profile.model_dump(mode="json", exclude={"sources"}).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        table.add_row(field, shown, profile.sources.get(field, ""))
    cli_console().print(table)
