"""A real sshd (edgeops_ssh.testing_sshd) and a tiny ONNX model for the SSH tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeops.testing import write_matmul_onnx
from edgeops_ssh.testing_sshd import make_sshd, ssh_device, ssh_known_hosts, sshd

__all__ = ["make_sshd", "ssh_device", "ssh_known_hosts", "sshd"]


@pytest.fixture(scope="session")
def tiny_onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """y = relu(x @ w), 1x16 -> 1x8: small enough that the probe's runs take milliseconds."""
    return write_matmul_onnx(tmp_path_factory.mktemp("models") / "tiny.onnx", 16, 8)
