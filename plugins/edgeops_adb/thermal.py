"""A device's temperature before a measurement, and the wait for it to cool.

A phone that is still warm from the previous run throttles its CPU, so its
next variant looks slower than it is. Before each measurement on an adb
device, the temperature is read (the battery's from ``dumpsys battery``, else
the thermal zones in sysfs), and edgeops waits, up to a bound, until it is at
or under a target. What was read and how long it waited go into the
Measurement's ``environment``; past the bound the state is "hot" and the
measurement goes on.

Per device (``labels`` in devices.toml): ``thermal_target_c``,
``thermal_max_wait_s``, ``thermal_poll_s``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from edgeops.plugin import Session

# A phone idle on a desk reads about 25-35 °C on its battery [unverified here];
# above the target it has not shed the previous run's heat.
DEFAULT_TARGET_C = 38.0
DEFAULT_MAX_WAIT_S = 120.0
DEFAULT_POLL_S = 5.0
READ_TIMEOUT_S = 15.0
# Sensors that are absent or disabled read absurd values (-273000, 0); none outside this is real.
_PLAUSIBLE_C = (-30.0, 130.0)

ThermalState = Literal["ok", "hot", "unknown"]

_BATTERY_TEMP = re.compile(r"^\s*temperature:\s*(-?\d+)\s*$", re.MULTILINE)
# Printed after a `dumpsys battery set ...` (BatteryService.dumpInternal): the values are frozen.
_UPDATES_STOPPED = "UPDATES STOPPED"
# One line per zone from the command in read_thermal_zones: "thermal_zone3 battery 31000".
_ZONE_LINE = re.compile(r"^(thermal_zone\d+)\s+(\S*)\s+(-?\d+)\s*$")
_ZONE_SCRIPT = (
    'for z in "$0"/thermal_zone*; do [ -r "$z/temp" ] && '
    'echo "${z##*/} $(cat "$z/type" 2>/dev/null | tr -d " ") $(cat "$z/temp")"; done; true'
)
THERMAL_ROOT = "/sys/class/thermal"


@dataclass(frozen=True)
class TemperatureReading:
    temp_c: float
    source: str  # "dumpsys battery" or "thermal_zone3 (battery)"

    @property
    def from_battery(self) -> bool:
        return self.source == "dumpsys battery"


def parse_dumpsys_battery(text: str) -> float | None:
    """The battery temperature in °C from ``dumpsys battery`` (which prints tenths of °C).

    None when the service prints none, when its values are frozen by a
    ``dumpsys battery set`` ("UPDATES STOPPED"), or when it prints 0, as the
    emulator and boards without a battery sensor do (voltage 0, temperature 0).
    Vendor lines such as Samsung's ``mSavedBatteryMaxTemp`` are not the reading.
    """
    if _UPDATES_STOPPED in text:
        return None
    match = _BATTERY_TEMP.search(text)
    if match is None or int(match.group(1)) == 0:
        return None
    return _plausible(int(match.group(1)) / 10.0)


def parse_thermal_zones(text: str) -> list[TemperatureReading]:
    """``zone type temp`` lines; temp in millidegrees, or whole degrees on some old kernels."""
    readings = []
    for line in text.splitlines():
        if not (match := _ZONE_LINE.match(line.strip())):
            continue
        zone, kind, raw = match.group(1), match.group(2), int(match.group(3))
        # sysfs specifies millidegrees; a few old vendor kernels print degrees.
        temp_c = _plausible(raw / 1000.0 if abs(raw) >= 1000 else float(raw))
        if temp_c is not None:
            readings.append(TemperatureReading(temp_c, f"{zone} ({kind or 'unknown type'})"))
    return readings


def pick_zone(readings: list[TemperatureReading]) -> TemperatureReading | None:
    """The battery or skin zone where there is one, since the CPU zones swing within seconds;
    else the hottest zone, so a warm device never passes for cool."""
    for wanted in ("battery", "skin"):
        for reading in readings:
            if wanted in reading.source.lower():
                return reading
    return max(readings, key=lambda r: r.temp_c, default=None)


def read_temperature(
    session: Session, thermal_root: str = THERMAL_ROOT
) -> TemperatureReading | None:
    """The battery's temperature, else a thermal zone's; None when the device shows neither."""
    battery = session.run(["dumpsys", "battery"], timeout_s=READ_TIMEOUT_S)
    if battery.exit_code == 0 and (temp_c := parse_dumpsys_battery(battery.stdout)) is not None:
        return TemperatureReading(temp_c, "dumpsys battery")
    zones = session.run(["sh", "-c", _ZONE_SCRIPT, thermal_root], timeout_s=READ_TIMEOUT_S)
    return pick_zone(parse_thermal_zones(zones.stdout))


@dataclass(frozen=True)
class CoolDown:
    target_c: float = DEFAULT_TARGET_C
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    poll_s: float = DEFAULT_POLL_S

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> CoolDown:
        return cls(
            target_c=float(labels.get("thermal_target_c", DEFAULT_TARGET_C)),
            max_wait_s=float(labels.get("thermal_max_wait_s", DEFAULT_MAX_WAIT_S)),
            poll_s=float(labels.get("thermal_poll_s", DEFAULT_POLL_S)),
        )


def wait_until_cool(
    session: Session,
    cool_down: CoolDown,
    thermal_root: str = THERMAL_ROOT,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Read, wait while hotter than the target (up to the bound), and return what to record.

    Keys: ``battery_temp_c`` (or ``thermal_zone_temp_c``), ``thermal_source``,
    ``thermal_target_c``, ``thermal_wait_s``, ``thermal_state`` ("ok", "hot",
    or "unknown" when the device shows no temperature).
    """
    started = time.monotonic()
    reading = read_temperature(session, thermal_root)
    while (
        reading is not None
        and reading.temp_c > cool_down.target_c
        and time.monotonic() - started + cool_down.poll_s <= cool_down.max_wait_s
    ):
        sleep(cool_down.poll_s)
        reading = read_temperature(session, thermal_root) or reading
    waited_s = round(time.monotonic() - started, 3)
    if reading is None:
        return {"thermal_state": "unknown", "thermal_wait_s": waited_s}
    state: ThermalState = "ok" if reading.temp_c <= cool_down.target_c else "hot"
    key = "battery_temp_c" if reading.from_battery else "thermal_zone_temp_c"
    return {
        key: reading.temp_c,
        "thermal_source": reading.source,
        "thermal_target_c": cool_down.target_c,
        "thermal_wait_s": waited_s,
        "thermal_state": state,
    }


def _plausible(temp_c: float) -> float | None:
    low, high = _PLAUSIBLE_C
    return round(temp_c, 3) if low < temp_c < high else None
