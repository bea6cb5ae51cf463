"""Fixtures: a real labgrid farm on 127.0.0.1 (farm_testing.py), and a tiny ONNX model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeops.testing import write_matmul_onnx

from farm_testing import Farm, start_farm, stop_farm


@pytest.fixture
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """A farm of the test's own, to kill parts of: its boards, no phone (the tests that
    kill parts measure on boards; adbd and its place cost a few seconds per start)."""
    started = start_farm(tmp_path_factory.mktemp("farm"), with_adb=False)
    yield started
    stop_farm(started)


@pytest.fixture(scope="session")
def shared_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """One farm for the tests that leave it whole, in both modules: under xdist they
    share one worker (the root conftest groups a plugin's tests), so it starts once."""
    started = start_farm(tmp_path_factory.mktemp("farm"))
    yield started
    stop_farm(started)


@pytest.fixture(scope="session")
def tiny_onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """y = relu(x @ w), 1x64 -> 1x64: small enough that the probe's runs take milliseconds."""
    return write_matmul_onnx(tmp_path_factory.mktemp("models") / "tiny.onnx", 64, 64)
