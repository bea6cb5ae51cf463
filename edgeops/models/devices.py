"""Devices, their profiles, and the settings a measurement runs with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from edgeops.models.base import Frozen, Platform, Transport


class DeviceProfile(Frozen):
    id: str
    name: str
    platform: Platform
    chip: str | None = None
    soc: str | None = Field(
        None,
        description="System-on-chip id an NPU compiler targets, as LiteRT's AOT names it "
        "(e.g. 'SM8650', 'Tensor_G3'); NPU variants are compiled per SoC",
    )
    cpu_cores: int | None = None
    ram_mb: int | None = None
    app_memory_limit_mb: int | None = Field(
        None, description="Memory an app may use before the OS kills it (jetsam on iOS)"
    )
    compute_units: tuple[str, ...] = ("cpu",)
    formats: tuple[str, ...] = Field(description="Model formats the device can run, best first")
    os_major: int | None = Field(
        None,
        description="Major OS release the profile assumes (iOS/macOS 27); it decides the formats: "
        "Core AI from 27, Core ML before",
    )
    tier: str | None = None
    match: dict[str, tuple[str, ...]] = Field(
        {},
        description="What an app reads from its own device to find this profile: iOS "
        "'hw.machine' (e.g. iPhone13,2), Android 'ro.product.device' or 'ro.product.model'; "
        "a value ending in '*' matches as a prefix (model numbers carry a region suffix)",
    )
    detect: bool = Field(False, description="Facts are read from this machine at run time")
    sources: dict[str, str] = Field({}, description="Where each fact came from")


class Device(Frozen):
    id: str
    name: str
    transport: Transport
    profile_id: str
    address: str | None = None
    user: str | None = None
    key_path: Path | None = None
    labels: dict[str, str] = {}


# What a probe process may take besides its timed phases (start-up, model load,
# warm-up and min_runs of a slow model): the fixed timeout it had before.
PROBE_START_BOUND_S = 300.0
PROBE_TIMEOUT_MARGIN = 1.5


class DeviceOutputSettings(Frozen):
    """How outputs returned by the device are scored (edgeops.devices.device_quality)."""

    samples: int = Field(4, ge=1, description="First samples whose outputs the device returns")
    max_drop_pct: float = Field(
        10.0,
        ge=0.0,
        description="A device score this much worse than the host's (share of the host's, "
        "for the floor's metric) fails the variant, even above the floor",
    )
    timeout_s: float = Field(300.0, gt=0, description="Seconds the device may take for them")


class MeasureSettings(Frozen):
    warmup_runs: int = 5
    min_runs: int = 20
    min_duration_s: float = 1.0
    max_runs: int = 500
    rounds: int = Field(
        3, description="Fresh probe processes per variant, interleaved across variants"
    )
    threads: int | None = None
    timeout_override_s: float | None = Field(
        None, gt=0, description="Seconds a probe process may run; None: derived from the settings"
    )
    paced_fps: tuple[float, ...] = Field(
        (30.0, 60.0), description="Camera rates the paced runs feed inputs at; () for none"
    )
    paced_duration_s: float | None = Field(
        None,
        description="Seconds per paced rate; None: twice min_duration_s, so quick settings stay quick",
    )
    full_rounds: int = Field(
        2, ge=0, description="Rounds per variant and device with paced runs, loads and memory"
    )
    timed_only: bool = Field(False, description="This round times the loop only (scheduling.py)")

    @property
    def paced_seconds(self) -> float:
        if self.paced_duration_s is not None:
            return self.paced_duration_s
        return 2.0 * self.min_duration_s

    @model_validator(mode="before")
    @classmethod
    def _earlier_timeout(cls, data: Any) -> Any:
        # Results written before the timeout was derived hold a fixed ``timeout_s``.
        if isinstance(data, dict) and "timeout_s" in data:
            data = {**data, "timeout_override_s": data["timeout_s"]}
            del data["timeout_s"]
        return data

    @property
    def timeout_s(self) -> float:
        """How long one probe process may run before it is a ``timeout``.

        The fixed 300 s of before still covers start-up, warm-up and ``min_runs`` of
        a slow model; the timed phases the settings ask for (the measuring loop of
        ``min_duration_s`` and each paced rate) come on top with a 1.5x margin, so
        ``--min-duration-s 90`` is not cut at 300 s.
        """
        if self.timeout_override_s is not None:
            return self.timeout_override_s
        timed_s = self.min_duration_s + self.paced_seconds * len(self.paced_fps)
        return PROBE_START_BOUND_S + PROBE_TIMEOUT_MARGIN * timed_s
