"""The device inventory, ``devices.toml``: a core plugin that discovers what it lists.

    [[device]]
    name = "pi5-a"
    transport = "ssh"            # ssh | adb | mac-host
    address = "10.0.0.7:22"
    user = "pi"
    key = "~/.ssh/id_ed25519"
    profile = "rpi5"
    host = "rack-1"              # devices that share one machine's CPU
    cpus = "2"                   # pinned to these cores (taskset), so sharing is safe
    labels = { room = "lab" }

Any transport's devices are listed here; the transport's plugin connects to them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from edgeops.errors import UsageError
from edgeops.files import MAX_CONFIG_BYTES, read_regular
from edgeops.hookspecs import hookimpl
from edgeops.models import Device

SHARED_HOST_LABEL = "host"
PINNED_CPUS_LABEL = "cpus"
# Runtime threads the probe asks for on a device, unless --threads says otherwise.
THREADS_LABEL = "threads"


_DEVICE_FIELDS = {"name", "transport", "profile", "address", "user", "key", "labels"}


def read_inventory(path: Path) -> list[Device]:
    if not path.exists():
        raise UsageError(f"inventory {path} not found; pass --devices with a devices.toml")
    raw = read_regular(path, "inventory", MAX_CONFIG_BYTES, UsageError)
    try:
        entries = tomllib.loads(raw.decode()).get("device", [])
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text; save it as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML ({exc}); fix the file") from exc
    devices: dict[str, Device] = {}
    for index, entry in enumerate(entries):
        where = f"{path} device #{index + 1}"
        missing = [k for k in ("name", "transport", "profile") if k not in entry]
        if missing:
            raise UsageError(f"{where} lacks {', '.join(missing)}")
        labels = {str(k): str(v) for k, v in entry.get("labels", {}).items()}
        # Any other key (host, cpus, python, a transport's own settings) is a label,
        # so transports add settings without changing the inventory format.
        labels.update({k: str(v) for k, v in entry.items() if k not in _DEVICE_FIELDS})
        if PINNED_CPUS_LABEL in labels:
            check_cpus(labels[PINNED_CPUS_LABEL], where)
        if THREADS_LABEL in labels:
            labelled_threads(labels[THREADS_LABEL], where)
        key_path = entry.get("key")
        try:
            device = Device(
                id=entry["name"],
                name=entry["name"],
                transport=entry["transport"],
                profile_id=entry["profile"],
                address=entry.get("address"),
                user=entry.get("user"),
                key_path=Path(key_path).expanduser() if key_path else None,
                labels=labels,
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            raise UsageError(f"{where}: {error['loc'][0]}: {error['msg']}") from exc
        if device.id in devices:
            raise UsageError(f"{where}: the name {device.id!r} is used twice; names must be unique")
        devices[device.id] = device
    return list(devices.values())


# More cores than any board or host here has by far: a larger index is a typo.
MAX_CPU_INDEX = 1023


def check_cpus(spec: str, where: str) -> None:
    """Refuse a ``cpus`` value that is not a list of cores and ranges ("0-1,3"), now: it
    would otherwise fail, or pin to no core, only when the device is measured."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    fix = 'write cores and ranges like "2" or "0-1,3"'
    if not parts:
        raise UsageError(f"{where}: cpus {spec!r} names no core; {fix}")
    for part in parts:
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise UsageError(f"{where}: cpus {spec!r}: {part!r} is not a core or range; {fix}")
        if dash and int(high) < int(low):
            raise UsageError(f"{where}: cpus {spec!r}: the range {part!r} runs backwards; {fix}")
        if int(high or low) > MAX_CPU_INDEX:
            raise UsageError(
                f"{where}: cpus {spec!r}: core {int(high or low)} is past {MAX_CPU_INDEX}"
            )


def labelled_threads(value: str, where: str) -> int:
    """A ``threads`` label as a number; refused now unless a positive whole number."""
    if not value.isdigit() or int(value) < 1:
        raise UsageError(
            f"{where}: threads = {value!r} is not a positive whole number; fix devices.toml"
        )
    return int(value)


def cpu_set(device: Device) -> frozenset[int]:
    """The cores a device's probes are pinned to ("0-1,3"), empty when not pinned."""
    spec = device.labels.get(PINNED_CPUS_LABEL, "")
    cores: set[int] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        low, _, high = part.partition("-")
        cores.update(range(int(low), int(high or low) + 1))
    return frozenset(cores)


@hookimpl
def edgeops_discover_devices(inventory: Path | None) -> list[Device]:
    return read_inventory(inventory) if inventory is not None else []
