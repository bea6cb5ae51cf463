"""A board over adb with Python: the core's stdlib probe measures TFLite through this transport."""

from __future__ import annotations

from pathlib import Path

from edgeops.files import sha256_file, size_bytes
from edgeops.models import Artifact, MeasureSettings, Recipe
from edgeops.testing import test_data_dir
from edgeops_adb.session import AdbSession

MODEL = test_data_dir() / "models" / "tflite" / "coral__mobilenet_v1_0.25_128_quant.tflite"
FAST = MeasureSettings(
    rounds=1, warmup_runs=1, min_runs=5, max_runs=20, min_duration_s=0.0, threads=1
)


def test_a_tflite_variant_is_measured_over_adb_by_the_probe(edgeops_pm, adb_device):
    session = edgeops_pm.hook.edgeops_connect(device=adb_device)
    assert isinstance(session, AdbSession) and session.python is not None
    variant = Artifact(
        id="mobilenet-quant", format="tflite", recipe=Recipe(name="as-is", format="tflite"),
        path=MODEL, sha256=sha256_file(MODEL), size_bytes=size_bytes(MODEL),
    )  # fmt: skip
    try:
        for compute_unit in ("cpu", "xnnpack"):
            m = edgeops_pm.hook.edgeops_measure(
                session=session, variant=variant, compute_unit=compute_unit, settings=FAST
            )
            assert m.status == "ok", m.error
            assert m.device_id == "adb-board" and len(m.samples_ms) >= 5
            assert m.environment["runtime"] == "ai-edge-litert"
            assert m.peak_mem.over_baseline_mb > 0
            # The cool-down ran around the probe too; this Linux host shows no temperature.
            assert m.environment["thermal_state"] == "unknown"
        # The model and the probe were pushed once, into the device's folder, not used in place.
        pushed = sorted(p.name for p in Path(adb_device.labels["remote_dir"]).iterdir())
        assert (
            len(pushed) == 2
            and pushed[0].startswith("coral__mobilenet")
            and pushed[1].startswith("probe-")
        )
    finally:
        session.close()
