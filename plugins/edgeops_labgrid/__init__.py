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

from pathlib import Path
from typing import Any

from edgeops.hookspecs import hookimpl
from edgeops.models import Device, MeasureSettings

from .config import TRANSPORT, farm_devices, read_farm

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


# optionalhook: the hook is the core's newest; an older core simply never calls it.
@hookimpl(optionalhook=True)
def edgeops_execute_measurements(
    jobs: list[Any], settings: MeasureSettings, runner: Any
) -> bool | None:
    farm_jobs = [job for job in jobs if job.device.transport == TRANSPORT]
    if not farm_jobs:
        return None
    from .execution import execute_on_farm

    execute_on_farm(farm_jobs, settings, runner)
    return True
