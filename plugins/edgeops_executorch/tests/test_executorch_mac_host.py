"""A Core ML-delegated ExecuTorch program on a Mac host, against a real sshd, up to the
macOS boundary.

The "Mac" is a Linux sshd (edgeops_ssh.testing_sshd) whose Python has executorch 1.5.1.
What runs for real: SSH login with host-key checking, the program lowered here with
ExecuTorch's Core ML partitioner pushed byte for byte, the core probe and this backend's
runner pushed and run, ExecuTorch's runtime imported there and the program's delegate
table read. What cannot run here: CoreMLBackend itself, which ExecuTorch links into its
runtime only in the macOS build (build/packaging/env_var_script_m1.sh in pytorch/
executorch: "When building for macos, link the Core ML and MPS backends into the
pybindings runtime"), so the round stops there and says so: the macOS boundary.
"""

from __future__ import annotations

import pytest

import edgeops_executorch
from edgeops.files import sha256_file
from edgeops.plugin import MeasureSettings
from edgeops_ssh.session import SshSession
from edgeops_ssh.testing_sshd import make_sshd, ssh_known_hosts, sshd

__all__ = ["make_sshd", "ssh_known_hosts", "sshd"]

pytestmark = pytest.mark.slow


@pytest.fixture
def mac_session(sshd, ssh_known_hosts):
    device = sshd.device("mac").model_copy(update={"transport": "mac-host", "profile_id": "mac-m4"})
    session = SshSession(device)
    yield session
    session.close()


def test_a_core_ml_program_reaches_the_mac_and_stops_at_the_macos_boundary(
    mac_session, make_program, edgeops_pm, register_plugin
):
    if not edgeops_pm.has_plugin("executorch"):
        register_plugin(edgeops_executorch.ExecuTorchBackend, name="executorch")
    program = make_program("coreml-fp16")
    assert program.delegates == ("CoreMLBackend",)
    remote = mac_session.push(program.path)
    assert sha256_file(remote) == program.sha256, "the program arrives byte for byte"

    settings = MeasureSettings(warmup_runs=1, min_runs=3, min_duration_s=0.0, paced_fps=())
    measured = edgeops_pm.hook.edgeops_measure(
        session=mac_session, variant=program, compute_unit="all", settings=settings
    )
    assert measured.status == "unsupported", measured
    # The runner on the "Mac" loaded ExecuTorch's runtime and read the program's partitions:
    # everything up to CoreMLBackend, which only the macOS runtime registers.
    assert "this ExecuTorch runtime has no CoreMLBackend" in measured.error
    assert measured.device_id == "mac" and measured.profile_id == "mac-m4"
