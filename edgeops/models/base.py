"""The ground every model stands on: the frozen base, the schema versions and the
literal types the stages share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

RESULTS_SCHEMA_VERSION = "1.0"
# 1.1 added inputs, outputs, profiles' platform and match keys, choices' runtime and min_os,
# variants' delegates. Readers ignore keys they do not know: 1.x only adds, 2.0 would change.
MANIFEST_SCHEMA_VERSION = "1.1"

Task = Literal["classification", "segmentation", "image-to-image", "generic"]
Platform = Literal["ios", "android", "linux", "macos"]
# "labgrid": a profile's places on a labgrid farm; the place is chosen when it is reserved.
Transport = Literal["local", "ssh", "adb", "mac-host", "labgrid"]
# "device_failed": the device or its transport failed (retried, then quarantined), not the
# model; a profile with one is "device_failed", never "unsupported" (issue 10).
MeasurementStatus = Literal[
    "ok", "unsupported", "oom", "load_failed", "timeout", "error", "device_failed"
]
PlanStatus = Literal["supported", "unsupported", "not_measured", "device_failed", "not_converted"]
Method = Literal["measured", "predicted"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
