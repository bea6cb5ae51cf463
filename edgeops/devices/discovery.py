"""Which devices a run can reach: every plugin's discovery, the inventory's entries first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeops.devices.sessions import Session
from edgeops.errors import DeviceError
from edgeops.models import Device


def connector(pm: Any) -> Callable[[Device], Session]:
    """``edgeops_connect`` as a function: a Session, or a DeviceError naming the transport."""

    def connect(device: Device) -> Session:
        session: Session | None = pm.hook.edgeops_connect(device=device)
        if session is None:
            raise DeviceError(
                f"no installed plugin connects over {device.transport!r} (see `edgeops plugins`)"
            )
        return session

    return connect


def discover_devices(pm: Any, inventory: Path | None = None) -> list[Device]:
    """Every plugin's devices; the inventory's first where two name the same device."""
    devices: dict[str, Device] = {}
    for found in pm.hook.edgeops_discover_devices(inventory=inventory, connect=connector(pm)):
        for device in found:
            devices.setdefault(device.id, device)
    return list(devices.values())
