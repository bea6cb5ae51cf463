"""``edgeops devices [trust HOST]``: the devices in the inventory, reached now, and their leases."""

from __future__ import annotations

import argparse
from typing import Any

from edgeops.cli.context import cli_console, print_json
from edgeops.devices.discovery import discover_devices
from edgeops.errors import UsageError
from edgeops.models import Device
from edgeops.pipeline import one_line
from edgeops.plugin_manager import make_plugin_manager


def cmd_devices(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    if args.action == "trust":
        return _trust(pm, args)
    if args.action is not None:
        raise UsageError(
            f"unknown devices action {args.action!r}; use `edgeops devices [trust HOST]`"
        )
    rows = [_device_row(pm, d) for d in discover_devices(pm, args.devices)]
    if args.json:
        print_json({"devices": rows})
        return 0
    from rich.table import Table

    table = Table(title="devices", title_justify="left")
    for column in (
        "name",
        "transport",
        "address",
        "profile",
        "reachable",
        "system",
        "runtimes",
        "lease",
    ):
        table.add_column(column, overflow="fold")
    from rich.markup import escape

    for r in rows:
        cells = (
            r["name"], r["transport"], r["address"] or "", r["profile"],
            "yes" if r["reachable"] else f"no: {r['error']}",
            " / ".join(str(r["facts"].get(k, "")) for k in ("os", "cpu", "ram_mb") if r["facts"].get(k)),
            ", ".join(f"{k} {v}" for k, v in r["facts"].get("runtimes", {}).items()),
            r["lease"],
        )  # fmt: skip
        # Names and errors from the inventory and devices are text, never rich markup.
        table.add_row(*(escape(str(c)) for c in cells))
    cli_console().print(table)
    for r in rows:
        if r.get("places") is not None:
            cli_console().print(_places_table(r))
    return 0


def _places_table(row: dict[str, Any]) -> Any:
    """A farm's places (``edgeops_device_status``): tags, who holds each, health."""
    from rich.table import Table

    table = Table(title=f"places of {row['name']}", title_justify="left")
    for column in ("place", "tags", "held by", "health", "resource"):
        table.add_column(column, overflow="fold")
    for p in row["places"]:
        table.add_row(
            p["place"], " ".join(f"{k}={v}" for k, v in sorted(p["tags"].items())),
            p["held_by"] or "free", p["health"], p["resource"] or "",
        )  # fmt: skip
    return table


def _device_row(pm: Any, device: Device) -> dict[str, Any]:
    from edgeops.devices.leases import LeaseBook, resources_of

    held = {s.resource: s for s in LeaseBook().states()}
    mine = [held[r] for r in resources_of(device) if r in held]
    lease = f"held by {mine[0].holder} ({mine[0].heartbeat_age_s:.0f} s ago)" if mine else "free"
    row: dict[str, Any] = {
        "name": device.name, "transport": device.transport, "address": device.address,
        "profile": device.profile_id, "reachable": False, "error": None, "facts": {}, "lease": lease,
    }  # fmt: skip
    status = pm.hook.edgeops_device_status(device=device)
    if status is not None:
        row.update(status)
        return row
    try:
        session = pm.hook.edgeops_connect(device=device)
        if session is None:
            raise UsageError(f"no installed plugin connects over {device.transport!r}")
        try:
            describe = getattr(session, "describe", None)
            row["facts"] = describe() if describe else {}
        finally:
            session.close()
        row["reachable"] = True
    except Exception as exc:
        row["error"] = one_line(exc)
    return row


def _trust(pm: Any, args: argparse.Namespace) -> int:
    """``devices trust HOST``: the same as the ``trust`` command the SSH backend adds."""
    from edgeops.cli.context import CommandContext

    parser = argparse.ArgumentParser(prog="edgeops")
    sub = parser.add_subparsers(dest="command")
    pm.hook.edgeops_add_commands(subparsers=sub)
    if "trust" not in sub.choices:
        raise UsageError("`devices trust` needs the ssh backend; install edgeops[ssh]")
    argv = ["trust", *([args.target] if args.target else []), *(["--json"] if args.json else [])]
    trust_args = parser.parse_args(argv)
    context = CommandContext(pm=pm, workspace=args.workspace, as_json=args.json)
    return int(trust_args.plugin_command(trust_args, context) or 0)
