"""The Core AI Mac-host flow against a real sshd, up to the macOS boundary.

The "Mac" is a Linux sshd (edgeops_ssh.testing_sshd) whose Python has coreai-core.
What runs for real: SSH login with host-key checking, the .aimodel folder pushed and
unpacked, the probe pushed and run with its arguments, coreai.runtime imported there,
and the probe's verdict read back. What cannot run here: Core AI's specialization
and the OS runtime (macOS 27 only), and ``xcrun coreai-build``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeops.files import sha256_tree
from edgeops.plugin import MeasureSettings
from edgeops.testing import hooks_of
from edgeops_coreai import mac
from edgeops_ssh.session import SshSession
from edgeops_ssh.testing_sshd import make_sshd, ssh_known_hosts, sshd

__all__ = ["make_sshd", "ssh_known_hosts", "sshd"]


@pytest.fixture
def mac_session(sshd, ssh_known_hosts):
    device = sshd.device("mac").model_copy(
        update={"transport": "mac-host", "profile_id": "mac-m5-macos27"}
    )
    session = SshSession(device)
    yield session
    session.close()


def test_the_asset_folder_arrives_on_the_mac_byte_for_byte(mac_session, tiny_artifact):
    asset = Path(tiny_artifact.path)
    remote = mac_session.push(asset)
    assert remote.endswith(f"{sha256_tree(asset)}-model.aimodel")
    assert sha256_tree(Path(remote)) == sha256_tree(asset)


def test_the_core_ai_probe_runs_up_to_the_macos_boundary(mac_session, tiny_artifact):
    import edgeops_coreai

    variant = tiny_artifact.model_copy(update={"id": "v1"})
    m = edgeops_coreai.CoreAIBackend().measure(
        session=mac_session, variant=variant, compute_unit="cpu_and_ne", settings=MeasureSettings()
    )
    assert m is not None and m.status == "unsupported", m
    assert "macOS 27" in (m.error or "") and "macOS boundary" in (m.error or "")
    # coreai-core itself was imported on the "Mac": its version came back.
    assert m.environment["coreai_core"] == "1.0.0b3"
    assert m.device_id == "mac" and m.profile_id == "mac-m5-macos27"


def test_probe_arguments_carry_the_unit_inputs_and_compile_step(
    mac_session, make_variant, tiny_artifact
):
    variant = make_variant("fp16")
    argv = mac.probe_argv(mac_session, "/remote/model.aimodel", variant, "cpu_and_gpu",
                          MeasureSettings(min_runs=7))  # fmt: skip
    assert argv[argv.index("--compute-unit") + 1] == "cpu_and_gpu"
    assert argv[argv.index("--min-runs") + 1] == "7"
    # An fp16 recipe makes its inputs fp16; the probe feeds what the asset takes.
    assert argv[argv.index("--input") + 1] == "image:1x3x16x16:float16"
    assert "--compile" in argv
    fp32 = mac.probe_argv(mac_session, "/r", tiny_artifact, "all", MeasureSettings())
    assert fp32[fp32.index("--input") + 1] == "image:1x3x16x16:float32"


def test_a_tethered_iphone_gets_a_reason_not_silence(sshd, ssh_known_hosts, tiny_artifact):
    import edgeops_coreai

    phone = sshd.device("iphone", iphone="22222222-BBBB-4000-8000-000000000002").model_copy(
        update={"transport": "mac-host", "profile_id": "iphone17pro-ios27"}
    )
    session = SshSession(phone)
    try:
        m = edgeops_coreai.CoreAIBackend().measure(
            session=session, variant=tiny_artifact, compute_unit="all", settings=MeasureSettings()
        )
    finally:
        session.close()
    assert m is not None and m.status == "unsupported"
    assert "no remote-device API" in (m.error or "")


def test_a_mac_probe_result_becomes_a_measurement_with_cold_and_warm_loads():
    # Shaped as mac_probe.py prints it (emit(...) in measure()).
    line = (
        '{"status": "ok", "load_ms": 12.0, "first_ms": 4.0, "samples_ms": [2.0, 3.0, 4.0], '
        '"peak_mb": 180.0, "baseline_mb": 150.0, "environment": {"cold_load_ms": 95.0, '
        '"warm_load_ms": 12.0, "runtime": "Core AI"}}'
    )
    base = {
        "variant_id": "v",
        "device_id": "mac",
        "profile_id": "mac-m5-macos27",
        "compute_unit": "all",
    }
    m = mac.from_probe_output("chatter\n" + line + "\n", "", base)
    assert m.status == "ok" and m.method == "measured"
    assert m.load_ms == 12.0 and m.environment["cold_load_ms"] == 95.0
    assert m.p50_ms == 3.0 and m.peak_mem is not None and m.peak_mem.over_baseline_mb == 30.0
    broken = mac.from_probe_output("Traceback ...\n", "ImportError: x", base)
    assert broken.status == "error" and "ImportError" in (broken.error or "")


def test_other_formats_and_transports_are_left_to_other_plugins(mac_session, tiny_artifact):
    import edgeops_coreai

    onnx = tiny_artifact.model_copy(update={"format": "onnx"})
    assert (
        # As installed: the core routes by format, so an ONNX variant never reaches it.
        hooks_of(edgeops_coreai).edgeops_measure(
            session=mac_session, variant=onnx, compute_unit="all", settings=MeasureSettings()
        )
        is None
    )
