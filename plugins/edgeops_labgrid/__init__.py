"""A device farm across hosts, on labgrid: places reserved by tags through a labgrid coordinator.

A ``[farm]`` table in devices.toml (or ``$LG_COORDINATOR``) turns it on; see
``config.py`` for the table and README "Device farm on labgrid" for the lab's
side. Each profile the farm serves becomes one Device of transport
``labgrid``; the measurement-execution hook reserves a matching place for it,
acquires the place around each measurement, connects through the place's
resource (SSH for boards and Mac hosts, network adb for phones) and releases.
Without a farm this plugin does nothing, and the core's SQLite leases and
local threads measure as before.

labgrid is imported only when a farm is used, so other commands start fast.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from edgeops.hookspecs import hookimpl
from edgeops.plugin import Device, MeasureJob, MeasureRunner, MeasureSettings

from .config import TRANSPORT, farm_devices, read_farm, tags_of

EDGEOPS_TOOLS = ("labgrid",)


@hookimpl
def edgeops_discover_devices(inventory: Path | None) -> list[Device]:
    farm = read_farm(inventory)
    if farm is None:
        return []
    from .client import FarmClient

    with FarmClient(farm.coordinator, "discover") as client:
        places = client.places()
    return farm_devices(farm, [p.tags for p in places])


@hookimpl
def edgeops_device_status(device: Device) -> dict[str, Any] | None:
    """The farm's places for this profile: tags, who holds each, health."""
    if device.transport != TRANSPORT:
        return None
    from .client import FarmClient

    try:
        with FarmClient(str(device.address), "status") as client:
            places = [p for p in client.places() if p.matches(tags_of(device))]
            owners = {r["token"]: r["owner"] for r in client.reservations()}
    except Exception as exc:
        return {"reachable": False, "error": str(exc)}
    rows = []
    for p in places:
        usable = p.usable()
        held = p.acquired or (
            f"reserved for {owners.get(p.reservation, p.reservation)}" if p.reservation else None
        )
        rows.append(
            {
                "place": p.name,
                "tags": p.tags,
                "held_by": held,
                "health": p.health,
                "resource": usable.path if usable else None,
            }
        )
    free = sum(r["held_by"] is None and r["health"] == "ok" for r in rows)
    return {
        "reachable": bool(rows),
        "error": None if rows else f"no labgrid place has the tags {tags_of(device)}",
        "lease": f"{free} of {len(rows)} place(s) free",
        "places": rows,
    }


@hookimpl
def edgeops_execute_measurements(
    jobs: list[MeasureJob], settings: MeasureSettings, runner: MeasureRunner
) -> bool | None:
    """The farm's jobs on reserved places; in a mixed run, the others through the
    core's default (SQLite leases, a thread per device) at the same time."""
    farm_jobs = [job for job in jobs if job.device.transport == TRANSPORT]
    if not farm_jobs:
        return None
    from .execution import execute_on_farm, terminate_as_interrupt

    others = [job for job in jobs if job.device.transport != TRANSPORT]
    with terminate_as_interrupt(runner):
        if not others:
            execute_on_farm(farm_jobs, settings, runner)
            return True
        from edgeops.plugin import execute_with_leases

        # The default sets its runner's stop when it ends; its own stop keeps that from
        # ending the farm's workers too.
        local = _OwnStop(runner)
        thread = threading.Thread(
            target=execute_with_leases, args=(others, settings, local), name="edgeops-local"
        )
        thread.start()
        try:
            execute_on_farm(farm_jobs, settings, runner)
        finally:
            if runner.stop.is_set():
                local.stop.set()
            thread.join()
    return True


class _OwnStop:
    """``runner`` with a stop event of its own."""

    def __init__(self, runner: MeasureRunner) -> None:
        self._runner = runner
        self.stop = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)
