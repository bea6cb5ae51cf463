"""Transport ``adb``: Android phones and Linux boards running adbd, over TCP or USB.

Devices come from the inventory (``transport = "adb"``), and from a running adb
server: the phones on USB that ``adb`` holds (see ``adb_server``). A board with Python
is measured by the core's stdlib probe through this session; a phone without
Python by TFLite's ``benchmark_model`` (see ``phone_measure``). Before either,
the device cools down (see ``thermal``).
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

from edgeops.hookspecs import hookimpl
from edgeops.plugin import ComputeUnit, Device, Measurement, MeasureSettings, Session, Variant

from .phone_measure import measure_on_phone
from .session import AdbSession, open_adb
from .thermal import CoolDown, wait_until_cool

EDGEOPS_TOOLS = ("adb-shell",)
# The module this backend needs at run time; `edgeops plugins` says whether it imports.
EDGEOPS_RUNTIME = "adb_shell"


@hookimpl
def edgeops_add_commands(subparsers: Any) -> None:
    from .import_command import add_import_command

    add_import_command(subparsers)


@hookimpl
def edgeops_compute_units() -> list[ComputeUnit]:
    """benchmark_model's delegates: the GPU delegate and NNAPI need that hardware and driver."""
    return [
        ComputeUnit(name="cpu"),
        ComputeUnit(name="xnnpack"),
        ComputeUnit(name="gpu", requires=("gpu",), rarity=1),
        ComputeUnit(name="nnapi", requires=("nnapi",), rarity=1),
        # LiteRT's vendor NPU accelerator, running a variant AOT-compiled for the SoC.
        ComputeUnit(name="npu", requires=("npu",), rarity=2),
    ]


@hookimpl
def edgeops_discover_devices(inventory: Path | None) -> list[Device]:
    """The phones of the adb server on this machine, if one runs; none (quietly) if not."""
    from edgeops.plugin import read_inventory

    from .adb_server import discover

    return discover(read_inventory(inventory) if inventory is not None else [])


@hookimpl
def edgeops_device_status(device: Device) -> dict[str, Any] | None:
    """A server's phone that is not ready (unauthorized, offline) says why without connecting."""
    from .adb_server import STATE_LABEL, not_ready_status

    if device.transport != "adb" or device.labels.get(STATE_LABEL, "device") == "device":
        return None
    return not_ready_status(device)


@hookimpl
def edgeops_connect(device: Device) -> AdbSession | None:
    if device.transport != "adb":
        return None
    return AdbSession(device, open_adb(device))


@hookimpl(tryfirst=True)
def edgeops_measure(
    session: Session, variant: Variant, compute_unit: str, settings: MeasureSettings
) -> Measurement | None:
    if not isinstance(session, AdbSession):
        return None
    return measure_on_phone(session, variant, compute_unit, settings)


@hookimpl(wrapper=True, specname="edgeops_measure")
def cool_down_before_measuring(
    session: Session, variant: Variant
) -> Generator[None, Measurement | None, Measurement | None]:
    """Around whichever plugin measures on an adb device: wait for it to cool, record the reading."""
    if not isinstance(session, AdbSession) or variant.path is None:
        return (yield)
    thermal = wait_until_cool(session, CoolDown.from_labels(session.device.labels))
    measured = yield
    if measured is None:
        return None
    return measured.model_copy(update={"environment": {**measured.environment, **thermal}})
