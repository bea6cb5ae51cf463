"""The verdict on a device's own outputs: the floor, and a drop far below the host's score."""

from __future__ import annotations

import pytest

from edgeops.devices.device_quality import device_verdict
from edgeops.models import DeviceOutputSettings, Quality, QualitySpec

SPEC = QualitySpec(metric="snr_db", floor=20.0)
SETTINGS = DeviceOutputSettings()


def quality(snr_db: float, where: str = "device") -> Quality:
    return Quality(
        metrics={"snr_db": snr_db}, higher_is_better={"snr_db": True}, where=where,  # type: ignore[arg-type]
        sample_count=4,
    )  # fmt: skip


def test_under_the_floor_on_the_device_fails_naming_both_scores():
    reason = device_verdict(quality(45.0, "host"), quality(3.0), SPEC, SETTINGS)
    assert reason is not None and reason.startswith("device outputs differ from host:")
    assert "on the device" in reason and "host 45" in reason


def test_above_the_floor_but_far_below_the_host_fails_and_the_margin_is_a_setting():
    host = quality(45.0, "host")
    reason = device_verdict(host, quality(30.0), SPEC, SETTINGS)  # 33% worse
    assert reason == (
        "device outputs differ from host: snr_db 30 on the device against 45 on the host "
        "(more than 10% worse)"
    )
    assert device_verdict(host, quality(42.0), SPEC, SETTINGS) is None  # 7% worse
    assert device_verdict(host, quality(30.0), SPEC, DeviceOutputSettings(max_drop_pct=50)) is None
    assert device_verdict(None, quality(30.0), SPEC, SETTINGS) is None  # no host score to compare


def test_a_host_score_identical_to_the_reference_leaves_only_the_floor_to_judge():
    identical = quality(200.0, "host")  # MAX_SNR_DB: the variant is the reference's own file
    assert device_verdict(identical, quality(26.7), SPEC, SETTINGS) is None
    reason = device_verdict(identical, quality(3.0), SPEC, SETTINGS)
    assert reason is not None and "host 200" in reason


@pytest.mark.slow
def test_a_host_ship_scores_the_local_devices_outputs_where_device(tmp_path, monkeypatch):
    # The local device runs the same probe as a board: its outputs are scored there too.
    import json

    from edgeops import api
    from edgeops.testing import write_matmul_onnx

    monkeypatch.setenv("EDGEOPS_DISABLE_PLUGINS", "tflite,coreml,executorch")
    model = write_matmul_onnx(tmp_path / "tiny.onnx", 16, 8)
    api.ship(
        model, ["host"], out=tmp_path / "bundle", workspace=tmp_path / "ws", rounds=1,
        min_runs=5, min_duration_s=0.1, jobs=1, progress=False,
    )  # fmt: skip
    results = json.loads((tmp_path / "bundle" / "results.json").read_text())
    measured = [m for m in results["measurements"] if m["method"] == "measured"]
    assert measured
    for m in measured:
        assert m["status"] == "ok", m["error"]
        assert m["device_quality"]["where"] == "device"
        assert m["device_quality"]["sample_count"] == 4  # the first k samples only
