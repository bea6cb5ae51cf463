"""The ``[farm]`` table of devices.toml, and the one Device per profile it stands for.

    [farm]
    coordinator = "lab-coordinator:20408"   # or LG_COORDINATOR
    reserve_timeout_s = 900                 # wait this long for a free place
    key = "~/.ssh/id_ed25519"               # SSH key for the boards (labgrid publishes no keys)
    adb_key = "~/.android/adbkey"           # adb key for the phones
    [farm.labels]                           # labels of every farm device (python, cache_dir, ...)
    python = "python3"
    [farm.profiles.rpi5]                    # places for profile rpi5: these tags
    tags = { board = "rpi5", lab = "berlin" }

Without ``[farm.profiles]``, a place serves the profile named by its ``profile``
tag (``labgrid-client -p PLACE set-tags profile=rpi5``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeops.plugin import Device, UsageError

COORDINATOR_ENV = "LG_COORDINATOR"  # labgrid's own variable (labgrid-client -x)
PROFILE_TAG = "profile"
TRANSPORT = "labgrid"
# Labels a farm Device carries to the place workers, so execution needs no config file.
TAG_PREFIX = "farm_tag."
RESERVE_TIMEOUT_LABEL = "farm_reserve_timeout_s"
KEY_LABEL = "farm_key"
ADB_KEY_LABEL = "farm_adb_key"


class ProfilePlaces(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: dict[str, str] = Field(description="labgrid tags a place needs to serve this profile")


class FarmConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    coordinator: str = Field(description="labgrid coordinator HOST[:PORT] (port 20408 by default)")
    reserve_timeout_s: float = Field(
        900.0, gt=0, description="How long a run waits for a free place before it gives up"
    )
    key: Path | None = Field(None, description="SSH private key for the places' NetworkServices")
    adb_key: Path | None = Field(None, description="adb private key for the places' adb devices")
    labels: dict[str, str] = Field({}, description="Labels of every farm device (python, ...)")
    profiles: dict[str, ProfilePlaces] = Field(
        {}, description="Tags per profile; default: a place's own `profile` tag"
    )


def read_farm(inventory: Path | None) -> FarmConfig | None:
    """The farm of ``inventory``'s ``[farm]`` table, else of ``$LG_COORDINATOR``, else None."""
    table: dict[str, object] | None = None
    if inventory is not None and inventory.is_file():
        try:
            found = tomllib.loads(inventory.read_text()).get("farm")
        except tomllib.TOMLDecodeError:
            return None  # the core's inventory reader reports the broken file
        if found is not None:
            if not isinstance(found, dict):
                raise UsageError(f"{inventory}: [farm] must be a table")
            table = dict(found)
    if table is None:
        if not os.environ.get(COORDINATOR_ENV):
            return None
        table = {}
    if "coordinator" not in table and os.environ.get(COORDINATOR_ENV):
        table["coordinator"] = os.environ[COORDINATOR_ENV]
    try:
        return FarmConfig.model_validate(table)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise UsageError(
            f"{inventory or COORDINATOR_ENV}: [farm] {where}: {error['msg']}"
            + ("; set it or LG_COORDINATOR" if where == "coordinator" else "")
        ) from exc


def farm_devices(farm: FarmConfig, place_tags: list[dict[str, str]]) -> list[Device]:
    """One Device per profile the farm serves; the place is chosen when it is reserved."""
    wanted = {pid: p.tags for pid, p in farm.profiles.items()}
    if not wanted:
        for tags in place_tags:
            if PROFILE_TAG in tags:
                wanted.setdefault(tags[PROFILE_TAG], {PROFILE_TAG: tags[PROFILE_TAG]})
    devices = []
    for profile_id, tags in sorted(wanted.items()):
        labels = {
            **farm.labels,
            **{TAG_PREFIX + k: v for k, v in tags.items()},
            RESERVE_TIMEOUT_LABEL: f"{farm.reserve_timeout_s:g}",
        }
        if farm.key is not None:
            labels[KEY_LABEL] = str(farm.key.expanduser())
        if farm.adb_key is not None:
            labels[ADB_KEY_LABEL] = str(farm.adb_key.expanduser())
        devices.append(
            Device(
                id=f"farm-{profile_id}",
                name=f"farm {profile_id} ({' '.join(f'{k}={v}' for k, v in sorted(tags.items()))})",
                transport=TRANSPORT,
                profile_id=profile_id,
                address=farm.coordinator,
                labels=labels,
            )
        )
    return devices


def tags_of(device: Device) -> dict[str, str]:
    return {k[len(TAG_PREFIX) :]: v for k, v in device.labels.items() if k.startswith(TAG_PREFIX)}
