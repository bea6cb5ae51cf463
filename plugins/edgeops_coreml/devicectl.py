"""iPhones tethered to a Mac, from ``xcrun devicectl list devices --json-output FILE``.

The document's shape is the one coremltools reads in
``coremltools.models.ml_program.experimental.remote_device._DeviceCtl.get_devices``
(coremltools 9.0): ``result.devices[]`` with ``identifier``, ``deviceProperties``
(``name``, ``osVersionNumber``, ``osBuildUpdate``, ``developerModeStatus``),
``hardwareProperties`` (``deviceType``, ``udid``) and ``connectionProperties``
(``tunnelState``). coremltools does not read the model identifier; devicectl
writes it as ``hardwareProperties.productType`` (model_identifiers.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edgeops.plugin import DeviceError

from .model_identifiers import profile_for

# Runs on the Mac: devicectl writes JSON only to a file (coremltools passes `-j FILE`
# too), so a temporary file is read back and printed. argv[1] is the xcrun to run.
LIST_SCRIPT = """\
import json, os, subprocess, sys, tempfile
fd, path = tempfile.mkstemp(suffix=".json")
os.close(fd)
try:
    done = subprocess.run([sys.argv[1], "devicectl", "list", "devices", "--json-output", path],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        sys.exit(done.returncode)
    with open(path) as f:
        sys.stdout.write(json.dumps(json.load(f)) + "\\n")
finally:
    os.remove(path)
"""


@dataclass(frozen=True)
class TetheredIPhone:
    identifier: str  # devicectl's device identifier, what coremltools' Device uses
    udid: str
    name: str
    product_type: str | None
    os_version: str
    state: str  # tunnelState: "connected" is usable for benchmarking
    profile_id: str | None

    @property
    def connected(self) -> bool:
        # coremltools' Device.get_connected_devices keeps tunnelState "connected" only.
        return self.state == "connected"


def parse_devices(document: dict[str, Any]) -> list[TetheredIPhone]:
    """The iPhones in a devicectl ``list devices`` JSON document; other device types are skipped."""
    result = document.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("devices"), list):
        raise DeviceError("devicectl's JSON has no result.devices; update Xcode on the Mac")
    phones = []
    for entry in result["devices"]:
        device = entry.get("deviceProperties") or {}
        hardware = entry.get("hardwareProperties") or {}
        connection = entry.get("connectionProperties") or {}
        if str(hardware.get("deviceType", "")).lower() != "iphone":
            continue
        identifier, udid = entry.get("identifier", ""), hardware.get("udid", "")
        if not identifier or not device.get("name"):
            continue  # coremltools skips such entries too
        product = hardware.get("productType")
        phones.append(
            TetheredIPhone(
                identifier=identifier,
                udid=udid,
                name=device["name"],
                product_type=product,
                os_version=str(device.get("osVersionNumber", "")),
                state=str(connection.get("tunnelState", "unknown")).lower(),
                profile_id=profile_for(product),
            )
        )
    return phones


def parse_list_output(stdout: str) -> list[TetheredIPhone]:
    lines = stdout.strip().splitlines()
    try:
        document = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise DeviceError(f"devicectl printed no JSON ({stdout[-200:]!r})") from None
    return parse_devices(document)
