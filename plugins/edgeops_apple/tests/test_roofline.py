"""edgeops_apple.roofline: the prediction arithmetic the Apple backends share."""

from __future__ import annotations

import pytest

from edgeops.models import Artifact, DeviceProfile, Quality, Recipe
from edgeops_apple import roofline


def profile(**kw: object) -> DeviceProfile:
    base: dict[str, object] = {
        "id": "phone",
        "name": "Phone",
        "platform": "ios",
        "formats": ("coreml",),
    }
    return DeviceProfile(**{**base, **kw})  # type: ignore[arg-type]


def variant(name: str) -> Artifact:
    return Artifact(
        id=f"id-{name}",
        format="coreml",
        recipe=Recipe(name=name, format="coreml"),
        size_bytes=1000,
        quality=Quality(metrics={"iou": 0.99}, higher_is_better={"iou": True}, sample_count=4),
    )


def test_the_slower_of_compute_and_memory_bounds_the_latency():
    # 1 G MACs at 1 T ops/s: 2 ms of compute; 30 MB at 30 GB/s: 1 ms of memory.
    assert roofline.roofline_ms(10**9, 1e12, 30 * 10**6, "ios") == (pytest.approx(2.0), "compute")
    # 300 MB at 30 GB/s (iPhone): 10 ms; at 60 GB/s (Mac): 5 ms.
    assert roofline.roofline_ms(10**9, 1e12, 300 * 10**6, "ios") == (pytest.approx(10.0), "memory")
    assert roofline.roofline_ms(10**9, 1e12, 300 * 10**6, "macos")[0] == pytest.approx(5.0)


def test_a_prediction_derives_p90_and_peak_memory_and_says_it_is_predicted():
    fields = roofline.prediction_fields(profile(id="iphone15pro"), variant("v"), "all")
    assert fields["device_id"] == "predicted:iphone15pro" and fields["method"] == "predicted"
    m = roofline.predicted_measurement(fields, 4.0, 2**20, 2**18, 2, {"engine": "ne"})
    assert m.status == "ok" and m.p90_ms == pytest.approx(4.0 * roofline.P90_OVER_P50)
    # 1 MiB of weights x 1.5 + 256 Ki elements x 2 bytes x 2 copies = 2.5 MiB.
    assert m.peak_mem is not None and m.peak_mem.raw_mb == pytest.approx(2.5)
    assert m.peak_mem.definition.startswith("predicted, not measured")
    assert m.environment == {"engine": "ne"}


def test_the_efficiency_is_mobilenetv2_on_an_a16():
    # 0.6 G ops in 0.48 ms against 17 T ops/s (device_facts.md §1, T7b).
    assert pytest.approx(0.6e9 / 0.48e-3 / 17e12) == roofline.ANE_EFFICIENCY
