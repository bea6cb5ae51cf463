"""Apple chip facts (``device_profiles/chips/*.toml``) that device profiles name by ``chip``.

The iPhone XS and XR share the A12 facts (DESIGN §3). The Core ML backend reads
them to decide which compute units, recipes and deployment targets a profile can
use; the files say where each fact came from.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from edgeops.plugin import DeviceProfile, UsageError, builtin_profile_dir

# Compute units of Core ML (MLComputeUnits), spelled as the selector expects.
COMPUTE_UNITS = ("cpu_only", "cpu_and_gpu", "cpu_and_ne", "all")
# What an app's device must have for each Core ML compute unit (MLComputeUnits).
# `all` may use the Neural Engine, so it needs one to behave as measured.
UNIT_REQUIRES: dict[str, tuple[str, ...]] = {
    "cpu_only": (),
    "cpu_and_gpu": ("gpu",),
    "cpu_and_ne": ("ane",),
    "all": ("ane",),
}
# A device with a Neural Engine has a GPU; one with a GPU may lack a usable Neural
# Engine (A11, device_facts.md §1): the order fallbacks step down in.
UNIT_RARITY = {"cpu_only": 0, "cpu_and_gpu": 1, "cpu_and_ne": 2, "all": 2}
# The newest deployment target edgeops asks for. iOS 18's opset holds every op the
# recipes need (int4 per-block, grouped-channel LUTs, sparse+LUT joint compression);
# coremltools 9's iOS 26 target adds none of them and would only shut out iOS 18 phones.
NEWEST_IOS_TARGET = 18


class Chip(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    ane_cores: int
    ane_peak_tops: float | None = Field(
        None, description="Vendor figure; int8 on chips with w8a8_accelerated"
    )
    ane_available_to_coreml: bool
    w8a8_accelerated: bool = Field(description="Neural Engine runs int8 activations natively")
    max_ios: int | None = Field(None, description="Newest iOS major version; None for Macs")
    devices: tuple[str, ...] = ()
    sources: dict[str, str]


def chip_dir() -> Path:
    return builtin_profile_dir() / "chips"


@functools.cache
def load_chips(folder: Path | None = None) -> dict[str, Chip]:
    chips: dict[str, Chip] = {}
    for file in sorted((folder or chip_dir()).glob("*.toml")):
        chip = Chip.model_validate(tomllib.loads(file.read_text()))
        if chip.id in chips:
            raise UsageError(f"chip {chip.id!r} is defined twice; fix {file}")
        chips[chip.id] = chip
    return chips


def chip_of(profile: DeviceProfile) -> Chip | None:
    """The chip facts of an Apple profile, or None for a chip edgeops has no file for."""
    return load_chips().get(profile.chip or "")


def neural_engine_usable(profile: DeviceProfile) -> bool:
    chip = chip_of(profile)
    return chip is not None and chip.ane_available_to_coreml


def usable_compute_units(profile: DeviceProfile) -> tuple[str, ...]:
    """The profile's Core ML compute units minus any that need a Neural Engine Core ML cannot use.

    A11's Neural Engine is closed to Core ML (device_facts.md §1), so a unit that
    the selector maps to the "ane" requirement is never offered there, whatever a
    profile file says.
    """
    units = tuple(cu for cu in profile.compute_units if cu in COMPUTE_UNITS)
    if neural_engine_usable(profile):
        return units
    return tuple(cu for cu in units if "ane" not in UNIT_REQUIRES[cu])


def newest_ios(profile: DeviceProfile) -> int | None:
    """The newest iOS the profile's device runs, capped at edgeops' newest target.

    A Mac runs any macOS whose Core ML matches iOS 18's (macOS 15), so it is not a limit.
    """
    if profile.platform == "macos":
        return NEWEST_IOS_TARGET
    chip = chip_of(profile)
    if chip is None or chip.max_ios is None:
        return None
    return min(chip.max_ios, NEWEST_IOS_TARGET)
