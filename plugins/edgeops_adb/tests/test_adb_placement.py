"""Where a phone's TFLite graph ran, from the delegate lines of real logs.

The parser is read against real excerpts (tests/data/fixtures/README.md names each
source). The measurement goes through a real adbd and a STAND-IN benchmark_model
(adb_testing.stand_in_benchmark_model) that prints two real excerpts one after the
other: a delegate's own lines, then the timings of a real benchmark APK run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeops.files import sha256_file, size_bytes
from edgeops.models import (
    Artifact,
    DeviceProfile,
    MeasureSettings,
    Quality,
    QualitySpec,
    Recipe,
    SelectionPolicy,
)
from edgeops.plugin_manager import declared_compute_units
from edgeops.selection import edgeops_select
from edgeops_adb.placement_log import parse_placement
from edgeops_adb.session import AdbSession

from adb_testing import LOGCAT_LOG, MODELS, device_for, fixture_text, stand_in_benchmark_model

HEXAGON = "tflite_delegate_lines_hexagon_partial_tensorflow-56747.txt"
XNNPACK_LOGCAT = "tflite_delegate_lines_xnnpack_logcat_tf-lite-unity-sample-214.txt"
GPU_NOTHING = "tflite_delegate_lines_gpu_nothing_go-tflite-7.txt"
GPU_PARTIAL = "tflite_delegate_lines_gpu_partial_tensorflow-35378.txt"
NNAPI_NOTHING = "tflite_delegate_lines_nnapi_not_executed_benchmark_apk_tensorflow-56301.txt"
FAST = MeasureSettings(warmup_runs=1, min_runs=5, min_duration_s=0.0, threads=1, timeout_s=30)


def without_source(name: str) -> str:
    return "\n".join(line for line in fixture_text(name).splitlines() if not line.startswith("# "))


def test_the_hexagon_summary_gives_nodes_graph_size_and_partitions():
    placement = parse_placement(without_source(HEXAGON), "hexagon")
    assert placement is not None and placement.where == "device"
    assert {u.unit: u.nodes for u in placement.units} == {"TfLiteHexagonDelegate": 136, "CPU": 3}
    # The delegate's own summary (2 partitions) wins over the generic line's count (5); the
    # XNNPACK line is inference_diff's reference interpreter, another graph: not counted.
    assert placement.graph_nodes == 139 and placement.partitions == 2
    assert placement.share() == pytest.approx(136 / 139)


def test_a_line_without_the_graph_size_judges_nothing():
    placement = parse_placement(without_source(XNNPACK_LOGCAT), "xnnpack")
    assert placement is not None and placement.units[0].nodes == 269
    assert placement.graph_nodes is None and placement.partitions == 13
    assert placement.share() is None  # 269 of an unknown graph: no verdict either way
    assert parse_placement(without_source(XNNPACK_LOGCAT), "gpu") is None  # not the GPU's line


def test_a_gpu_that_took_2_of_251_operations():
    gpu = parse_placement(without_source(GPU_PARTIAL), "gpu")
    assert gpu is not None and gpu.graph_nodes == 251
    assert {u.unit: u.nodes for u in gpu.units} == {"TfLiteGpuDelegateV2": 2, "CPU": 249}


def test_the_old_gpu_summary_and_nnapi_taking_nothing():
    gpu = parse_placement(without_source(GPU_NOTHING), "gpu")
    assert gpu is not None and gpu.graph_nodes == 65 and gpu.share() == 0.0
    nnapi = parse_placement(without_source(NNAPI_NOTHING), "nnapi")
    assert nnapi is not None and nnapi.share() == 0.0
    assert parse_placement(fixture_text(LOGCAT_LOG), "cpu") is None  # no delegate asked for


def measure_on_stand_in(edgeops_pm, adbd, tmp_path: Path, logs: list[str], compute_unit: str):
    text = "\n".join(without_source(name) for name in logs)
    stand_in = stand_in_benchmark_model(tmp_path / "tool", message=text)
    device = device_for(adbd, tmp_path, python="", benchmark_model=str(stand_in))
    path = MODELS / "coral__mobilenet_v1_0.25_128_quant.tflite"
    variant = Artifact(
        id="mobilenet-quant", format="tflite", recipe=Recipe(name="as-is", format="tflite"),
        path=path, sha256=sha256_file(path), size_bytes=size_bytes(path),
        quality=Quality(metrics={"snr_db": 40.0}, higher_is_better={"snr_db": True}, sample_count=4),
    )  # fmt: skip
    session = edgeops_pm.hook.edgeops_connect(device=device)
    assert isinstance(session, AdbSession)
    try:
        m = edgeops_pm.hook.edgeops_measure(
            session=session, variant=variant, compute_unit=compute_unit, settings=FAST
        )
    finally:
        session.close()
    return variant, m


@pytest.mark.parametrize(
    ("delegate_log", "unit", "reason"),
    [
        (GPU_PARTIAL, "gpu", "fell back: 249 of 251 nodes on CPU"),
        (GPU_NOTHING, "gpu", "fell back: 65 of 65 nodes on CPU"),
        (NNAPI_NOTHING, "nnapi", "fell back: 0 nodes on TfLiteNnapiDelegate, the rest on CPU"),
    ],
)
def test_a_phone_whose_delegate_took_little_or_nothing_fell_back_and_loses_the_requires(
    edgeops_pm, adbd, tmp_path, delegate_log, unit, reason
):
    variant, m = measure_on_stand_in(edgeops_pm, adbd, tmp_path, [delegate_log, LOGCAT_LOG], unit)
    assert m.status == "ok" and m.placement is not None and m.placement.share() < 0.9
    policy = SelectionPolicy(
        quality=QualitySpec(metric="snr_db", floor=0.0),
        compute_units=declared_compute_units(edgeops_pm),
    )
    assert policy.compute_units[unit].requires == (unit,)  # what a unit that held would need
    profile = DeviceProfile(
        id=m.profile_id, name="phone", platform="android", ram_mb=4096,
        compute_units=("cpu", unit), formats=("tflite",),
    )  # fmt: skip
    plan = edgeops_select(profile=profile, variants=[variant], measurements=[m], policy=policy)
    assert plan.status == "supported", plan.rejected
    (choice,) = plan.choices
    assert choice.requires == () and reason in choice.reason
